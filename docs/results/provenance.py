"""PROVENANCE.md of one reference result (used by regenerate.sh): the exact command, wall times,
each run's git commit, host and package versions, from the runs' own provenance.json/summary.json.

    python docs/results/provenance.py EXPERIMENT PROFILE START_ISO WALL_S COMMAND > PROVENANCE.md
"""

import json
import os
import platform
import sys
from datetime import datetime

from ablate.experiment import load_experiment

exp_name, profile, start, wall, cmd = sys.argv[1:]
exp = load_experiment(exp_name, profile)
runs = []
for cell in exp.cells:
    folder = f"results/{exp_name}/{cell.run_id}"
    with open(f"{folder}/summary.json") as s, open(f"{folder}/provenance.json") as p:
        runs.append((json.load(s), json.load(p)))
walls = [s["wall_time_s"] for s, _ in runs]
# The grid's own span, however many regenerations reused its cells: the first run's start (its last
# attempt's, from provenance.json) to the last summary.json written.
first = min(datetime.fromisoformat(p["time"]).timestamp() for _, p in runs)
last = max(os.path.getmtime(f"results/{exp_name}/{c.run_id}/summary.json") for c in exp.cells)
prov = runs[0][1]
desc = " ".join((exp.spec["profiles"][profile].get("description") or "").split())
print(f"# Provenance: {exp_name}, profile {profile}\n")
print(f"- command: `{cmd.strip()}`")
print(f"- profile `{profile}` (experiments/{exp_name}.yaml): {desc}")
print(f"- started {start}; this command's wall time {int(wall)} s (cells already finished are reused, not rerun)")
print(f"- grid wall time, first run's start to last run's end: {last - first:.0f} s")
print(f"- training wall time, sum over the {len(runs)} runs: {sum(walls):.0f} s (per run {min(walls):.0f}-{max(walls):.0f} s)")
print(f"- git commits of the runs: {', '.join(sorted({p['git']['commit'][:10] for _, p in runs}))} (per run below; "
      "'dirty': uncommitted changes, whose diff is in the run's provenance.json)")
print(f"- host: {prov.get('host')}, {platform.platform()}, device: {json.dumps(prov.get('device'))}, "
      f"python {prov.get('python', '?')}")
print("- packages: " + ", ".join(f"{k} {v}" for k, v in sorted(prov.get("packages", {}).items())))
print("\n| run | status | steps | wall time s | final test error % | commit |\n|---|---|---|---|---|---|")
for s, p in runs:
    commit = p["git"]["commit"][:10] + (" (dirty)" if p["git"].get("dirty") else "")
    print(f"| {s['run_id']} | {s['status']} | {s['steps']} | {s['wall_time_s']:.0f} | {100 * s['final_test_error']:.2f} | {commit} |")
