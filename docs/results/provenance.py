"""PROVENANCE.md of one reference result (used by regenerate.sh): the exact command, wall times,
each run's git commits, host and package versions, from the runs' own provenance.json/summary.json.
It says so when the runs come from more than one commit (a run resumed under new code counts under
each of its attempts' commits) or from a tree with uncommitted changes.

    python docs/results/provenance.py EXPERIMENT PROFILE START_ISO WALL_S COMMAND > PROVENANCE.md
"""

import json
import os
import platform
import sys
from datetime import datetime

from ablate import results
from ablate.experiment import load_experiment

exp_name, profile, start, wall, cmd = sys.argv[1:]
exp = load_experiment(exp_name, profile)
# A seed schedule stops adding seeds once every claim is decided: only the cells it ran exist.
ran = [c for c in exp.cells if os.path.exists(f"results/{exp_name}/{c.run_id}/summary.json")]
runs, code = [], []
for cell in ran:
    folder = f"results/{exp_name}/{cell.run_id}"
    with open(f"{folder}/summary.json") as s, open(f"{folder}/provenance.json") as p:
        runs.append((json.load(s), json.load(p)))
    code.append(results.code_of(folder))  # (commits of the attempts the result holds, dirty)
walls = [s["wall_time_s"] for s, _ in runs]
# The grid's own span, however many regenerations reused its cells: the first run's start (its
# first attempt's, from provenance.json) to the last summary.json written.
first = min(datetime.fromisoformat(a["time"]).timestamp() for c in ran for a in results.attempts(f"results/{exp_name}/{c.run_id}"))
last = max(os.path.getmtime(f"results/{exp_name}/{c.run_id}/summary.json") for c in ran)
prov = runs[0][1]
desc = " ".join((exp.spec["profiles"][profile].get("description") or "").split())
print(f"# Provenance: {exp_name}, profile {profile}\n")
print(f"- command: `{cmd.strip()}`")
print(f"- profile `{profile}` (experiments/{exp_name}.yaml): {desc}")
if exp.schedule is not None:
    sch = exp.schedule
    print(
        f"- seeds: the schedule {{start: {sch.start}, step: {sch.step}, max: {sch.max}}} (looks at {sch.looks} "
        f"seeds per arm) ran {len(ran)} of its {len(exp.cells)} cells; a claim's seeds are its verdict's n"
    )
print(f"- started {start}; this command's wall time {int(wall)} s (cells already finished are reused, not rerun)")
print(f"- grid wall time, first run's start to last run's end: {last - first:.0f} s")
print(f"- training wall time, sum over the {len(runs)} runs: {sum(walls):.0f} s (per run {min(walls):.0f}-{max(walls):.0f} s)")
commits = sorted({c[:10] for found, _ in code for c in found})
dirty = sum(d for _, d in code)
print(f"- git commits of the runs: {', '.join(commits)} (per run below; 'dirty': uncommitted changes, of which "
      "provenance.json keeps the diff's SHA-256 and the changed files)")
if len(commits) > 1:
    print(f"- **the runs come from {len(commits)} commits**: a difference between arms may be one between versions")
if dirty:
    print(f"- **{dirty} of {len(runs)} runs trained from a tree with uncommitted changes** (dirty)")
print(f"- host: {prov.get('host')}, {platform.platform()}, device: {json.dumps(prov.get('device'))}, "
      f"python {prov.get('python', '?')}")
print("- packages: " + ", ".join(f"{k} {v}" for k, v in sorted(prov.get("packages", {}).items())))
print("\n| run | status | steps | wall time s | final test error % | commit |\n|---|---|---|---|---|---|")
for (s, p), (found, is_dirty) in zip(runs, code):
    commit = ", ".join(c[:10] for c in found) + (" (dirty)" if is_dirty else "")
    print(f"| {s['run_id']} | {s['status']} | {s['steps']} | {s['wall_time_s']:.0f} | {100 * s['final_test_error']:.2f} | {commit} |")
