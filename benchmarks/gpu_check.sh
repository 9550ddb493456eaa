#!/bin/bash
# Every GPU number of issue 12 in one command, on one GPU, in under 8 minutes:
#   bash benchmarks/gpu_check.sh [LOGDIR]        (LOGDIR default: $OUT, else ./gpu-check-logs)
# 1. the GPU tests (no host sync in a training step: torch.cuda.set_sync_debug_mode("error")),
# 2. `python -m ablate bench`: ablate/raw per-step time, fixed cost per cell, bf16 / channels_last /
#    compile, images/s of 1 and K packed runs of ResNet-20/56/110, projected paper-grid GPU-hours,
# 3. a real slice of the degradation paper profile: plain and residual 20/56/110, packed on the GPU
#    (`run --runs-per-gpu 6`), SLICE_STEPS steps on the CIFAR-10 copy in $DATA_DIR.
# Self-contained: no downloads, no wandb or optuna (--wandb off). CUDA MPS is used when
# nvidia-cuda-mps-control exists (a private daemon, stopped at the end), time-slicing otherwise.
# DRY_RUN=1: the same steps on the CPU with tiny sizes (the test suite runs this).
# Env: PYTHON (default python), DATA_DIR (default ../shared/data), SLICE_STEPS (default 2000),
#      PACK_K (default 8).
set -uo pipefail
cd "$(dirname "$0")/.."
LOGDIR=${1:-${OUT:-./gpu-check-logs}}
mkdir -p "$LOGDIR"
LOGDIR=$(cd "$LOGDIR" && pwd)
PY=${PYTHON:-python}
DRY=${DRY_RUN:-0}
DATA_DIR=${DATA_DIR:-../shared/data}
PACK_K=${PACK_K:-8}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" WANDB_MODE=disabled PYTHONUNBUFFERED=1
STATUS=0
step() {  # step NAME TIMEOUT_S COMMAND...: run with a time limit, log to LOGDIR/NAME.log
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    echo "[gpu_check] $(date -u +%H:%M:%S) $name: $*" | tee -a "$LOGDIR/summary.txt"
    timeout "$limit" "$@" >"$LOGDIR/$name.log" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || STATUS=1
    echo "[gpu_check] $name: exit $rc in $((SECONDS - t0)) s" | tee -a "$LOGDIR/summary.txt"
}

: >"$LOGDIR/summary.txt"
{ date -u; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
    torch.cuda.get_device_name() if torch.cuda.is_available() else '')"; nvidia-smi 2>/dev/null || echo "no nvidia-smi"
} >"$LOGDIR/env.txt" 2>&1

if [ "$DRY" = 1 ]; then
    BENCH=(--device cpu --rounds 1 --steps 2 --warmup 1 --batch 16 --width 4 --no-fixed-cost --no-knobs
           --packing off)
    PACK=(--device cpu --steps 2 --warmup 1 --batch 16 --width 4 --pack-k 2 --pack-depths 8)
    SLICE=(--accelerator cpu --devices 1 --runs-per-gpu 2)
    SLICE_SET=(--set train.max_steps=4 --set train.log_every=2 --set train.eval_every=4
               --set train.checkpoint_every=4 --set data.name=digits --set data.batch_size=16 --set model.width=4 --set data.val_size=0.1)
    export CUDA_VISIBLE_DEVICES=0  # a fake GPU id: the packing machinery runs, the CPU trains
    TESTS=(-k "gpu_training_steps_never_sync")
else
    BENCH=(--device cuda --data-dir "$DATA_DIR" --rounds 3 --steps 50 --warmup 10 --packing off)
    PACK=(--device cuda --data-dir "$DATA_DIR" --steps 40 --warmup 10 --pack-k "$PACK_K" --pack-depths 20,56,110)
    SLICE=(--accelerator gpu --devices 1 --runs-per-gpu 6 --data-dir "$DATA_DIR")
    SLICE_SET=(--set "train.max_steps=${SLICE_STEPS:-2000}" --set train.eval_every=1000
               --set train.checkpoint_every=1000 --set data.val_size=0.1)  # the 8,068-image subset: 5,000 val would leave ~2,000 to train
    TESTS=(-k "gpu_training_steps_never_sync or sync_once")
    if command -v nvidia-cuda-mps-control >/dev/null; then
        export CUDA_MPS_PIPE_DIRECTORY="$LOGDIR/mps-pipe" CUDA_MPS_LOG_DIRECTORY="$LOGDIR/mps-log"
        mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
        nvidia-cuda-mps-control -d && echo "[gpu_check] CUDA MPS daemon started" | tee -a "$LOGDIR/summary.txt"
        trap 'echo quit | nvidia-cuda-mps-control' EXIT
    else
        echo "[gpu_check] no nvidia-cuda-mps-control: packed runs share the GPU by time-slicing" | tee -a "$LOGDIR/summary.txt"
    fi
fi

# Time limits (s) add up to under 8 minutes: 60 + 120 + 140 + 150 = 470.
step gpu_tests 60 "$PY" -m pytest -q -s -p no:cacheprovider tests/test_throughput.py "${TESTS[@]}"
step bench 120 "$PY" -m ablate bench "${BENCH[@]}" --json "$LOGDIR/bench.json"
step packing 140 "$PY" -m ablate bench --packing-only "${PACK[@]}" --json "$LOGDIR/packing.json"

# The slice: the paper profile restricted to six arms (a copy of the experiment with one more profile).
"$PY" - "$LOGDIR/slice" <<'PYEOF'
import sys
from pathlib import Path

import yaml

spec = yaml.safe_load(Path("experiments/degradation.yaml").read_text())
prof = dict(spec["profiles"]["paper"])
prof["only_arms"] = ["plain-20", "plain-56", "plain-110", "residual-20", "residual-56", "residual-110"]
prof["seeds"] = [0]
spec["profiles"]["gpu-slice"] = prof  # next to the others: claims name the profiles they are about
spec["default_profile"] = "gpu-slice"
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
(out / "degradation.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
PYEOF
step slice 150 "$PY" -m ablate run "$LOGDIR/slice/degradation.yaml" --profile gpu-slice "${SLICE_SET[@]}" \
    "${SLICE[@]}" --results-dir "$LOGDIR/results" --wandb off --no-progress
grep -h "^\[bench\]\|images/s\|ratio\|x default" "$LOGDIR/bench.log" "$LOGDIR/packing.log" >>"$LOGDIR/summary.txt" 2>/dev/null
grep -h "^\[gpu\]\|passed\|failed\|skipped" "$LOGDIR/gpu_tests.log" >>"$LOGDIR/summary.txt" 2>/dev/null
"$PY" - "$LOGDIR/results" >>"$LOGDIR/summary.txt" 2>&1 <<'PYEOF'
import json, sys
from pathlib import Path

for s in sorted(Path(sys.argv[1]).glob("degradation/*/summary.json")):
    d = json.loads(s.read_text())
    print(f"[slice] {d['arm']}: {d['status']}, {d['steps']} steps in {d['wall_time_s']:.0f} s of training, "
          f"final test error {d['final_test_error']:.3f}, device {d['device']}")
PYEOF
echo "[gpu_check] done, exit $STATUS; logs in $LOGDIR" | tee -a "$LOGDIR/summary.txt"
exit $STATUS
