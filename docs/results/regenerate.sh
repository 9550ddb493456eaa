#!/usr/bin/env bash
# Regenerate the reference results under docs/results/<experiment>-<profile>/ by training for real.
#
#   bash docs/results/regenerate.sh DATA_DIR [experiment:profile ...]
#
# DATA_DIR holds MNIST/raw/ (the official idx files). Without pairs: batchnorm:mnist and mnist:cpu.
# One cell at a time, one thread each (OMP_NUM_THREADS=1: on a shared 2-core machine two threads
# per step ran ~10x slower than one). Finished cells under results/ are reused, so an interrupted
# regeneration resumes. Each folder gets the report files and a PROVENANCE.md.
set -euo pipefail
data_dir=${1:?usage: bash docs/results/regenerate.sh DATA_DIR [experiment:profile ...]}
shift
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || pairs=(batchnorm:mnist mnist:cpu)
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
python=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

for pair in "${pairs[@]}"; do
  exp=${pair%%:*} profile=${pair#*:}
  out=docs/results/$exp-$profile
  cmd=(env OMP_NUM_THREADS="$OMP_NUM_THREADS" "$python" -m ablate run "$exp" --profile "$profile"
       --data-dir "$data_dir" --jobs "${JOBS:-1}" --wandb off --no-progress)
  start=$(date -u +%FT%TZ); t0=$(date +%s)
  "${cmd[@]}" | tee "/tmp/ablate-$exp-$profile.log"
  t1=$(date +%s)
  mkdir -p "$out"
  report=results/$exp/_report-$profile
  cp "$report"/report.md "$report"/table.md "$report"/table.csv "$report"/verdicts.json "$report"/*.png "$out"/
  "$python" - "$exp" "$profile" "$start" "$((t1 - t0))" "$(printf '%q ' "${cmd[@]}")" > "$out/PROVENANCE.md" <<'EOF'
import json, platform, sys
from ablate.experiment import load_experiment
exp_name, profile, start, wall, cmd = sys.argv[1:]
exp = load_experiment(exp_name, profile)
summaries, prov = [], None
for cell in exp.cells:
    run = f"results/{exp_name}/{cell.run_id}"
    summaries.append(json.load(open(f"{run}/summary.json")))
    prov = prov or json.load(open(f"{run}/provenance.json"))
git = prov["git"]
print(f"# Provenance: {exp_name}, profile {profile}\n")
print(f"- command: `{cmd.strip()}`")
desc = " ".join((exp.spec["profiles"][profile].get("description") or "").split())
print(f"- profile `{profile}` (experiments/{exp_name}.yaml): {desc}")
print(f"- started {start}; this command's wall time {int(wall)} s (cells already finished are reused, not rerun)")
print(f"- training wall time, sum over the {len(summaries)} runs: {sum(s['wall_time_s'] for s in summaries):.0f} s "
      f"(per run {min(s['wall_time_s'] for s in summaries):.0f}-{max(s['wall_time_s'] for s in summaries):.0f} s)")
print(f"- git commit of the runs: {git['commit']}" + (" (dirty: uncommitted changes, diff in each run's provenance.json)" if git.get("dirty") else ""))
print(f"- host: {prov.get('host')}, {platform.platform()}, device: {json.dumps(prov.get('device'))}")
print("- packages: " + ", ".join(f"{k} {v}" for k, v in sorted(prov.get("packages", {}).items())))
print("\n| run | status | steps | wall time s | final test error % |\n|---|---|---|---|---|")
for s in summaries:
    print(f"| {s['run_id']} | {s['status']} | {s['steps']} | {s['wall_time_s']:.0f} | {100 * s['final_test_error']:.2f} |")
EOF
  echo "wrote $out"
done
