"""Break the verdict engine on purpose, one way at a time, and check that its tests notice.

    .venv/bin/python tools/mutate_engine.py            # from the repository root, ~4 minutes on 2 shared cores
    .venv/bin/python tools/mutate_engine.py --list     # the mutations only

Each mutation is a one-line change to a copy of the repository (the working tree is never
touched); the engine's tests (tests/test_verdict_engine.py, tests/test_sequential.py) then run on
the copy, and the script prints which tests fail. A mutation no test kills is a hole in the tests:
the script exits 1. The first five are the broken engines of issue 19, which the tests of the day
all let pass. Not part of CI (it runs the engine tests once per mutation).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = ["tests/test_verdict_engine.py", "tests/test_sequential.py"]

# (name, file, the text, what it becomes)
MUTATIONS = [
    (
        "no censoring block",
        "ablate/verdicts/evaluate.py",
        "blocked = v._blocked.get(v.outcome)",
        "blocked = None",
    ),
    (
        "the `greater` margin's sign flipped",
        "ablate/verdicts/evaluate.py",
        'if claim.expect in ("less", "at_least") else claim.by]',
        'if claim.expect in ("less", "at_least") else (-claim.by if claim.expect == "greater" else claim.by)]',
    ),
    (
        "`ratio_at_most` tested as `greater`",
        "ablate/verdicts/evaluate.py",
        '"ratio_at_most": "less"',
        '"ratio_at_most": "greater"',
    ),
    ("`differ` as a zero-width `equal`", "ablate/verdicts/evaluate.py", '"differ": "outside"', '"differ": "inside"'),
    ("the raw p decides, not Holm's", "ablate/verdicts/evaluate.py", "if v.p_adjusted < alpha:", "if v.p < alpha:"),
    (
        "no exact test for a side without variation",
        "ablate/verdicts/stats.py",
        "p_exact = permutation_p(a, b, claimed, low, high) if flat_a or flat_b else None",
        "p_exact = None",
    ),
    (
        "no variation only when exactly zero",
        "ablate/verdicts/stats.py",
        "return len(x) > 0 and float(np.std(x)) <= CONSTANT * max(float(np.max(np.abs(x))), 1.0)",
        "return len(x) > 0 and float(np.var(x)) == 0",
    ),
    (
        "non-finite values kept",
        "ablate/verdicts/evaluate.py",
        "finite = np.isfinite(values.to_numpy(dtype=float))",
        "finite = np.ones(len(values), bool)",
    ),
    (
        "every look tested at the full α",
        "ablate/verdicts/sequential.py",
        "measured, alpha_k, others=",
        "measured, alpha, others=",
    ),
    (
        "stopped claims dropped from Holm's family",
        "ablate/verdicts/sequential.py",
        "others=stopped + sum(",
        "others=0 * stopped + sum(",
    ),
    (
        "seeds needed planned on one edge of a band",
        "ablate/verdicts/stats.py",
        "right = (lo_end > low) & (hi_end < high)",
        "right = lo_end > low",
    ),
]


def copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True)
    for rel in files.stdout.splitlines():
        src = REPO / rel
        if src.is_file() and (rel.startswith(("ablate/", "tests/", "analysis/", "experiments/")) or "/" not in rel):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def run_tests(root: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", "-m", "not slow", *TESTS],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    return sorted(set(re.findall(r"^FAILED (\S+)", proc.stdout, re.M)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--list", action="store_true", help="print the mutations and exit")
    args = p.parse_args(argv)
    if args.list:
        for name, file, old, new in MUTATIONS:
            print(f"{name}: {file}: {old!r} -> {new!r}")
        return 0
    survivors = []
    with tempfile.TemporaryDirectory(prefix="ablate-mutants-") as tmp:
        root = Path(tmp)
        copy_repo(root)
        baseline = run_tests(root)
        if baseline:
            print(f"the engine tests fail before any mutation: {baseline}", file=sys.stderr)
            return 2
        for name, file, old, new in MUTATIONS:
            path = root / file
            text = path.read_text()
            if text.count(old) != 1:
                print(f"{name}: {old!r} is not (once) in {file}: update this script", file=sys.stderr)
                return 2
            path.write_text(text.replace(old, new))
            killed = run_tests(root)
            path.write_text(text)
            print(f"{'killed' if killed else 'SURVIVED'}: {name}" + "".join(f"\n    {t}" for t in killed))
            if not killed:
                survivors.append(name)
    print(f"\n{len(MUTATIONS) - len(survivors)} of {len(MUTATIONS)} mutations killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
