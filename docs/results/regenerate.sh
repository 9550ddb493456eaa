#!/usr/bin/env bash
# Regenerate the reference results under docs/results/<experiment>-<profile>/ by training for real.
#
#   bash docs/results/regenerate.sh DATA_DIR [experiment:profile ...]
#
# DATA_DIR holds MNIST/raw/ and cifar-10-batches-py/. Without pairs: every folder of docs/results/ (hours on 2 cores).
# SEEDS_MAX=N caps a profile's seed schedule (`run --seeds-max N`: its looks up to N seeds per arm),
# e.g. when the time at hand is less than the schedule's max needs; PROVENANCE.md records the command.
# One cell at a time, one thread each (OMP_NUM_THREADS=1: on a shared 2-core machine two threads
# per step ran ~10x slower than one). Finished cells under results/ are reused, so an interrupted
# regeneration resumes. Each folder gets the report files and a PROVENANCE.md.
set -euo pipefail
data_dir=${1:?usage: bash docs/results/regenerate.sh DATA_DIR [experiment:profile ...]}
shift
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || pairs=(degradation:quick activation:quick kernels:quick batchnorm:quick convnext:quick degradation:cpu convnext:cpu kernels:cpu
                              activation:cpu batchnorm:mnist mnist:converged mnist:cpu)
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
python=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

for pair in "${pairs[@]}"; do
  exp=${pair%%:*} profile=${pair#*:}
  out=docs/results/$exp-$profile
  cmd=(env OMP_NUM_THREADS="$OMP_NUM_THREADS" "$python" -m ablate run "$exp" --profile "$profile"
       --data-dir "$data_dir" --jobs "${JOBS:-1}" --wandb off --no-progress)
  [ -z "${SEEDS_MAX:-}" ] || cmd+=(--seeds-max "$SEEDS_MAX")
  start=$(date -u +%FT%TZ); t0=$(date +%s)
  "${cmd[@]}" | tee "/tmp/ablate-$exp-$profile.log"
  t1=$(date +%s)
  mkdir -p "$out"
  report=results/$exp/_report-$profile
  cp "$report"/report.md "$report"/table.md "$report"/table.csv "$report"/verdicts.json "$report"/*.png "$out"/
  "$python" docs/results/provenance.py "$exp" "$profile" "$start" "$((t1 - t0))" "$(printf '%q ' "${cmd[@]}")" > "$out/PROVENANCE.md"
  echo "wrote $out"
done
