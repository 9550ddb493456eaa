#!/usr/bin/env bash
# Installs what the SLURM tests need (Debian packages; about 15 s): munge and slurm-wlm 22.05's
# controller, node daemon and client commands. Idempotent and quiet: does nothing when all are there.
# Called by .ci/run; by hand: `bash slurm/ci-install.sh`, then `bash slurm/dev-cluster.sh up`.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge)

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
((${#missing[@]})) || exit 0

if [[ $(id -u) != 0 ]]; then
    echo "slurm/ci-install.sh: need root to apt-get install ${missing[*]}; the SLURM tests will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# No systemd here: the packages' services do not start; slurm/dev-cluster.sh runs the daemons itself.
echo "slurm/ci-install.sh: installed ${missing[*]}" >&2
