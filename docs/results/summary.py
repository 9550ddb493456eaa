"""The table that opens docs/results/README.md: one row per claim of the sources, with the published
figure, ours, the verdict, the scale it was judged at and what only a GPU can still settle.

The rows and their wording live in docs/results/sources.yaml; every number and verdict is read from
the committed verdicts.json of the folder a row names, so the table cannot drift from the results.

    python docs/results/summary.py           # rewrite the table in docs/results/README.md
    python docs/results/summary.py --check   # exit 1 if the committed table is not what the results say
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
START, END = "<!-- summary:start (docs/results/summary.py writes this table) -->", "<!-- summary:end -->"


def verdict(ref: str) -> dict:
    """`folder/claim-id` -> that claim's entry of the folder's verdicts.json."""
    folder, claim = ref.split("/", 1)
    for v in json.loads((HERE / folder / "verdicts.json").read_text()):
        if v["id"] == claim:
            return v
    raise KeyError(f"{ref}: no claim {claim!r} in {folder}/verdicts.json")


def ours(v: dict) -> str:
    """The measured effect as the verdict line gives it: the estimate and its 95% interval."""
    scale, unit = v.get("value_scale") or 1.0, v.get("unit") or ""
    if v["scale"] == "exact":
        a, b = v["a"], v["b"]
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
        folder = ref.split("/", 1)[0]
        judged.append((f"[{folder}]({folder}/)", v["outcome"].upper(), ours(v), scales[folder]))
    cells = [
        f"{r['claim']} ({r['source']})",
        r["published"],
        "<br>".join(o for _, _, o, _ in judged),
        "<br>".join(f"**{x}**" for _, x, _, _ in judged),
        "<br>".join(f"{f}: {s}" for f, _, _, s in judged),
        r["gpu"],
    ]
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def table() -> str:
    spec = yaml.safe_load((HERE / "sources.yaml").read_text())
    head = "| claim (source) | published | ours: estimate [95% CI] | verdict | scale | what only a GPU can settle |"
    lines = [head, "|---|---|---|---|---|---|"]
    lines += [row(r, spec["scales"]) for r in spec["rows"]]
    return "\n".join(lines)


def with_table(text: str, new: str) -> str:
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{new}\n{END}{after}"


def main(argv: list[str]) -> int:
    text = README.read_text()
    updated = with_table(text, table())
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
