#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for developing and testing ablate's SLURM support.
#
#   eval "$(bash slurm/dev-cluster.sh up)"   # start munged, slurmctld, slurmd; prints the two exports
#   bash slurm/dev-cluster.sh status   # daemons, node state, queue
#   bash slurm/dev-cluster.sh env      # prints `export ABLATE_SLURM_DIR=... SLURM_CONF=...` of a running cluster
#   bash slurm/dev-cluster.sh down     # stop the daemons, remove the state directory
#
# The state directory: $ABLATE_SLURM_DIR if set (it must be empty or one this script made), else a
# new private one from `mktemp -d` (never a predictable /tmp path: everything here runs as root).
# `up` marks it with a file (.ablate-dev-cluster); `status`, `env` and `down` act only on a marked
# directory (found from $ABLATE_SLURM_DIR, else from $SLURM_CONF), and `down` removes nothing else.
#
# Debian's slurm-wlm 22.05 packages (`bash slurm/ci-install.sh` installs them), no systemd: every
# daemon runs as root from here, with its config, sockets, logs and state under one directory.
# Facts this relies on (checked with slurm-wlm 22.05.8 on Debian 12):
#   - proctrack/linuxproc + task/none run without cgroups or systemd;
#   - munged runs with its own --socket, and AuthInfo=socket=... points every client at it;
#   - AuthInfo=cred_expire=N also sets how long a requeued job waits before it may start again
#     (its BeginTime is pushed N+1 s ahead; default 120 s): 10 s here, so requeue tests are quick;
#   - CPUs and memory come from `slurmd -C`, so the node config always matches the machine.
#
# Settings (environment):
#   ABLATE_SLURM_DIR             state directory          (default: a new `mktemp -d` at `up`)
#   ABLATE_SLURM_PORT            slurmctld port; slurmd uses PORT+1 (default 6817)
#   ABLATE_SLURM_MAX_ARRAY_SIZE  MaxArraySize             (default 1001, SLURM's own default)
#   ABLATE_SLURM_CRED_EXPIRE     cred_expire, seconds     (default 10)
#   ABLATE_SLURM_CPUS            CPUs the node advertises (default: the real count; more
#                                oversubscribes, useful for many tiny CPU jobs)
set -euo pipefail

PORT="${ABLATE_SLURM_PORT:-6817}"
MAX_ARRAY_SIZE="${ABLATE_SLURM_MAX_ARRAY_SIZE:-1001}"
CRED_EXPIRE="${ABLATE_SLURM_CRED_EXPIRE:-10}"
MARKER=.ablate-dev-cluster  # written by `up`: this directory is ours to remove

die() { echo "dev-cluster: $*" >&2; exit 1; }

set_dir() {
    DIR="$1"
    CONF="$DIR/slurm.conf"
    SOCKET="$DIR/munge/munge.socket.2"
}

ours() { [[ -n "$DIR" && "$DIR" == /* && "$DIR" != / && -d "$DIR" && ! -L "$DIR" && -f "$DIR/$MARKER" ]]; }

# The marked state directory of an existing cluster, for status/env/down.
find_dir() {
    if [[ -n "${ABLATE_SLURM_DIR:-}" ]]; then
        set_dir "$ABLATE_SLURM_DIR"
    elif [[ -n "${SLURM_CONF:-}" ]]; then
        set_dir "$(dirname "$SLURM_CONF")"
    else
        die "which cluster? set ABLATE_SLURM_DIR (printed by 'up')"
    fi
    ours || die "refusing to act on $DIR: it has no $MARKER, so dev-cluster.sh up did not make it"
}

# The state directory for `up`: the given one if empty or already ours (checked before anything
# starts), else a new private one; marked as ours.
check_dir_arg() {
    [[ -z "${ABLATE_SLURM_DIR:-}" ]] && return 0
    set_dir "$ABLATE_SLURM_DIR"
    [[ "$DIR" == /* && "$DIR" != / && ! -L "$DIR" ]] || die "ABLATE_SLURM_DIR=$DIR: must be an absolute path to a directory, not / or a link"
    if [[ -e "$DIR" ]] && ! ours && [[ ! -d "$DIR" || -n "$(ls -A "$DIR" 2>/dev/null)" ]]; then
        die "refusing to use $DIR: it is not empty and dev-cluster.sh up did not make it (no $MARKER)"
    fi
}

make_dir() {
    if [[ -z "${ABLATE_SLURM_DIR:-}" ]]; then
        set_dir "$(mktemp -d /tmp/ablate-slurm.XXXXXXXX)"  # /tmp: munge's socket path must stay < 108 chars
    else
        mkdir -p "$DIR"
    fi
    chmod 700 "$DIR"  # the munge key lives here
    echo "made by slurm/dev-cluster.sh up; 'down' removes this directory" >"$DIR/$MARKER"
}

need_packages() {
    local missing=()
    for bin in munged slurmctld slurmd sbatch; do
        command -v "$bin" >/dev/null 2>&1 || [[ -x "/usr/sbin/$bin" ]] || missing+=("$bin")
    done
    if ((${#missing[@]})); then
        die "missing ${missing[*]}: run 'bash slurm/ci-install.sh' (apt: slurmctld slurmd slurm-client munge)"
    fi
    [[ $(id -u) == 0 ]] || die "must run as root (the daemons and jobs run as root here)"
}

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_config() {
    local node cpus mem
    node="$(hostname -s)"
    # `slurmd -C` prints e.g. "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105".
    local hw
    hw="$(/usr/sbin/slurmd -C | head -1)"
    cpus="${ABLATE_SLURM_CPUS:-$(sed -E 's/.* CPUs=([0-9]+).*/\1/' <<<"$hw")}"
    mem="$(sed -E 's/.* RealMemory=([0-9]+).*/\1/' <<<"$hw")"
    mem=$((mem * 9 / 10))  # leave the OS some room, so --mem requests are honest
    cat >"$CONF" <<EOF
# Written by slurm/dev-cluster.sh; a one-node development cluster.
ClusterName=ablatedev
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET,cred_expire=$CRED_EXPIRE
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
MaxArraySize=$MAX_ARRAY_SIZE
ReturnToService=2
JobRequeue=1
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmdParameters=config_overrides
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
DefMemPerCPU=512
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

print_env() {
    echo "export ABLATE_SLURM_DIR=$DIR"
    echo "export SLURM_CONF=$CONF"  # last: tests/slurm_helpers.py reads it from the last line
}

cmd_up() {
    check_dir_arg
    need_packages
    make_dir
    if pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid"; then
        echo "dev-cluster: already up in $DIR" >&2
        print_env
        return 0
    fi
    stop_daemons
    mkdir -p "$DIR"/{munge,ctld,log} "$DIR/spool/$(hostname -s)"
    chmod 700 "$DIR/munge"
    dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
    chmod 600 "$DIR/munge/munge.key"
    /usr/sbin/munged --force --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/munge/munge.seed"
    write_config
    export SLURM_CONF="$CONF"
    /usr/sbin/slurmctld -f "$CONF" -i   # -i: ignore any stale state from an earlier run
    /usr/sbin/slurmd -f "$CONF"
    # Wait until the node is schedulable (usually well under a second).
    local state=""
    for _ in $(seq 1 100); do
        state="$(sinfo -h -o '%t' 2>/dev/null | head -1 || true)"
        [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]] && break
        sleep 0.1
    done
    [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]] ||
        die "node not ready (state '$state'); see $DIR/log/"
    echo "dev-cluster: up in $DIR (MaxArraySize=$MAX_ARRAY_SIZE, requeue wait ${CRED_EXPIRE}s)" >&2
    print_env
}

stop_pidfile() {
    local pidfile="$1" pid
    pid_alive "$pidfile" || return 0
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

stop_daemons() {
    if [[ -f "$CONF" ]] && command -v scancel >/dev/null; then
        SLURM_CONF="$CONF" timeout 5 scancel --full --quiet --user=root 2>/dev/null || true
    fi
    stop_pidfile "$DIR/slurmd.pid"
    stop_pidfile "$DIR/slurmctld.pid"
    stop_pidfile "$DIR/munge/munged.pid"
    # Job steps of a killed slurmd are orphaned slurmstepd processes: end those of this cluster only.
    local pid
    for pid in $(pgrep -x slurmstepd 2>/dev/null || true); do
        if grep -qs "$DIR" "/proc/$pid/environ" "/proc/$pid/cmdline" ||
            tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "SLURM_CONF=$CONF"; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}

cmd_down() {
    find_dir
    stop_daemons
    ours && rm -rf -- "$DIR"  # checked again: only a directory `up` marked
    echo "dev-cluster: down (removed $DIR)" >&2
}

cmd_status() {
    local name pidfile
    for name in munged:munge/munged.pid slurmctld:slurmctld.pid slurmd:slurmd.pid; do
        pidfile="$DIR/${name#*:}"
        if pid_alive "$pidfile"; then echo "${name%%:*}: running (pid $(cat "$pidfile"))"
        else echo "${name%%:*}: stopped"; fi
    done
    if pid_alive "$DIR/slurmctld.pid"; then
        export SLURM_CONF="$CONF"
        sinfo
        squeue
        echo "export SLURM_CONF=$CONF"
    else
        return 1
    fi
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) find_dir; cmd_status ;;
    env) find_dir; pid_alive "$DIR/slurmctld.pid" || die "not up"; print_env ;;
    *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
