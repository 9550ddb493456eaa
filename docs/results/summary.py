"""The two tables of docs/results/README.md: one row per claim of the sources (the published figure,
ours, the verdict, the scale it was judged at, what only a GPU can still settle) and one row per
reference folder (its setting, seeds per arm, verdict counts, wall time).

The rows and their wording live in docs/results/sources.yaml; every number and verdict is read from
the committed verdicts.json and PROVENANCE.md of the folders, so the tables cannot drift from the
results. A row that names a folder not committed yet says so ("not run").

    python docs/results/summary.py           # rewrite the table in docs/results/README.md
    python docs/results/summary.py --check   # exit 1 if the committed table is not what the results say
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
SUMMARY = ("<!-- summary:start (docs/results/summary.py writes this table) -->", "<!-- summary:end -->")
INDEX = ("<!-- index:start (docs/results/summary.py writes this table) -->", "<!-- index:end -->")


def verdicts(folder: str) -> list[dict] | None:
    """A folder's committed verdicts.json, or None while the folder is not committed."""
    path = HERE / folder / "verdicts.json"
    return json.loads(path.read_text()) if path.exists() else None


def verdict(ref: str) -> dict | None:
    """`folder/claim-id` -> that claim's entry of the folder's verdicts.json (None: folder not run)."""
    folder, claim = ref.split("/", 1)
    found = verdicts(folder)
    if found is None:
        return None
    for v in found:
        if v["id"] == claim:
            return v
    raise KeyError(f"docs/results/sources.yaml: {ref}: no claim {claim!r} in {folder}/verdicts.json")


def ours(v: dict) -> str:
    """The measured effect as the verdict line gives it: the estimate and its 95% interval."""
    scale, unit = v.get("value_scale") or 1.0, v.get("unit") or ""
    if v["scale"] == "exact":
        a, b = v["a"], v["b"]
        if a is None or b is None:  # a claim over many models (convnext's compute) says its finding in words
            return (v.get("reason") or "—").split(" (exact")[0]
        return f"{_num(_mean(a) * scale)}{unit} vs {_num(_mean(b) * scale)}{unit} (exact)"
    if v.get("estimate") is None:
        return "—"
    if v["scale"] == "log ratio":
        est, lo, hi = (math.exp(v[k]) for k in ("estimate", "ci_low", "ci_high"))
        return f"{est:.2f}x [{lo:.2f}, {hi:.2f}]"
    unit = " pp" if unit == "%" else unit
    est, lo, hi = (v[k] * scale if v.get(k) is not None else math.nan for k in ("estimate", "ci_low", "ci_high"))
    return f"{est:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}]"


def _mean(side: dict) -> float:
    return sum(side["values"]) / len(side["values"]) if side and side.get("values") else math.nan


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def row(r: dict, scales: dict) -> str:
    judged = []
    for ref in r["verdicts"]:
        v = verdict(ref)
        folder, claim = ref.split("/", 1)
        if v is None:
            judged.append((folder, f"**NOT RUN** {claim}", "—", scales[folder]))
        else:
            judged.append((f"[{folder}]({folder}/)", f"**{v['outcome'].upper()}** {claim}", ours(v), scales[folder]))
    cells = [
        f"{r['claim']} ({r['source']})",
        r["published"],
        "<br>".join(o for _, _, o, _ in judged),
        "<br>".join(x for _, x, _, _ in judged),
        "<br>".join(f"{f}: {s}" for f, _, _, s in judged),
        r["gpu"],
    ]
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def summary(spec: dict) -> str:
    head = "| claim (source) | published | ours: estimate [95% CI] | verdict (claim id) | scale | what only a GPU can settle |"
    lines = [head, "|---|---|---|---|---|---|"]
    lines += [row(r, spec["scales"]) for r in spec["rows"]]
    return "\n".join(lines)


def seeds_per_arm(found: list[dict]) -> str:
    """The seeds behind the folder's verdicts (a seed schedule can stop claims at different looks)."""
    ns = sorted({side["n"] for v in found for side in (v["a"], v["b"]) if side and side.get("n")})
    return "—" if not ns else str(ns[0]) if len(ns) == 1 else f"{ns[0]}–{ns[-1]}"


def wall_time(folder: str) -> str:
    """The folder's PROVENANCE.md times: the grid's span (first run's start to last run's end; it spans
    every session the grid was trained in) and the runs' wall times summed."""
    text = (HERE / folder / "PROVENANCE.md").read_text()
    span = re.search(r"grid wall time, first run's start to last run's end: (\d+) s", text)
    summed = re.search(r"training wall time, sum over the (\d+) runs: (\d+) s", text)
    parts = [f"{summed.group(1)} runs {_minutes(summed.group(2))} summed"] if summed else []
    if span:  # a grid trained over two sessions spans the time between them too
        parts.append(f"first start to last end {_minutes(span.group(1))}")
    return "; ".join(parts) or "—"


def _minutes(seconds: str) -> str:
    return f"{int(seconds) / 60:.1f} min"


def index(spec: dict) -> str:
    lines = ["| folder | setting | seeds per arm | verdicts | wall time (2 CPU cores) |", "|---|---|---|---|---|"]
    for folder, scale in spec["scales"].items():
        found = verdicts(folder)
        if found is None:
            lines.append(f"| {folder} (not run) | {scale} | — | — | — |")
            continue
        counts = Counter(v["outcome"] for v in found)
        said = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        lines.append(f"| [{folder}/]({folder}/) | {scale} | {seeds_per_arm(found)} | {said} | {wall_time(folder)} |")
    return "\n".join(lines)


def with_table(text: str, markers: tuple[str, str], new: str) -> str:
    start, end = markers
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n{new}\n{end}{after}"


def main(argv: list[str]) -> int:
    text = README.read_text()
    spec = yaml.safe_load((HERE / "sources.yaml").read_text())
    updated = with_table(with_table(text, SUMMARY, summary(spec)), INDEX, index(spec))
    if "--check" in argv:
        if updated != text:
            print(
                "docs/results/README.md: the summary table is not what the committed results say; "
                "run python docs/results/summary.py",
                file=sys.stderr,
            )
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
