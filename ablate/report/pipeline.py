"""Analysis of one experiment grid: runs -> derived columns -> verdicts, table, figures -> report.

The claims and the analysis module's hooks come with the loaded experiment (ablate.experiment),
parsed and checked once, before anything trained.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ablate import results
from ablate.report import figures as F
from ablate.report.frames import load_runs, with_derived
from ablate.report.judging import judge
from ablate.report.tables import arm_table
from ablate.verdicts.evaluate import HOLDS, REFUTED, UNRESOLVED, Verdict
from ablate.verdicts.metrics import LATE_FRACTION, RUN_METRICS, first_step

TABLE_METRICS = ("final_train_error", "final_test_error", "late_train_error_change", "params", "wall_time_s")
# What a report folder keeps from the analyses before (the rest is rewritten whole): the W&B
# analysis run's offline folders, one per analysis, until `ablate sync` uploads them.
KEPT_ACROSS_ANALYSES = ("wandb",)
CONVERGED = 0.01  # an arm whose running training error still moves more than 1 point over the last fifth


@dataclass
class Analysis:
    title: str
    claim: str
    table_csv: pd.DataFrame
    table_md: str
    verdicts: list[Verdict]
    figures: dict  # file stem -> matplotlib Figure
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    extra_table: tuple[pd.DataFrame, str] | None = None
    runs: int = 0


def analyze(exp, root: Path) -> Analysis | None:
    """None when no run of the grid has finished."""
    runs, curves, skipped = load_runs(exp, root)
    if runs.empty:
        return None
    analysis = analyze_frames(exp, runs, curves, skipped)
    analysis.notes.extend(code_notes(exp, root, list(runs.run_id)))
    return analysis


def code_notes(exp, root: Path, run_ids: list[str]) -> list[str]:
    """What the report must say when the finished runs come from more than one git commit (a grid
    extended, or a run resumed, under new code) or from a tree with uncommitted changes."""
    commits: dict[str, int] = {}
    dirty = []
    for run_id in run_ids:
        found, is_dirty = results.code_of(results.run_dir(root, exp.name, run_id))
        for commit in found:
            commits[commit] = commits.get(commit, 0) + 1
        if is_dirty:
            dirty.append(run_id)
    notes = []
    if len(commits) > 1:
        notes.append(
            f"Code: the {len(run_ids)} runs come from {len(commits)} git commits ("
            + ", ".join(f"`{c[:10]}` {n} runs" for c, n in commits.items())
            + "; a run resumed under other code counts under each). A difference between arms may be one "
            "between versions: see each run's provenance.json."
        )
    if dirty:
        shown = ", ".join(f"`{r}`" for r in dirty[:5]) + (", …" if len(dirty) > 5 else "")
        notes.append(
            f"Code: {len(dirty)} of {len(run_ids)} runs trained from a tree with uncommitted changes ({shown}); "
            "their provenance.json has the diff's SHA-256 and the changed files, not the code itself."
        )
    return notes


def analyze_frames(exp, runs: pd.DataFrame, curves: pd.DataFrame, skipped=()) -> Analysis:
    """The analysis of frames in the form of ablate.report.frames (pure: no files)."""
    spec, hooks = exp.spec, exp.hooks
    runs = with_derived(exp, runs, curves)
    judged = judge(exp, runs, curves)
    verdicts = judged.verdicts + list(hooks.call("checks", runs, spec, default=[]))
    elsewhere = judged.elsewhere
    claims = [c for c in exp.claims if c.id not in {e.id for e in elsewhere}]
    arms = [a for a in exp.arms if a in set(runs.arm)]
    diverged = (runs.status == "diverged").groupby(runs.arm).sum().to_dict() if "status" in runs else {}
    table_csv, table_md = arm_table(_table_columns(runs, curves, claims, hooks.metrics), arms, diverged)
    figs = {"curves": F.learning_curves(runs, curves, arms), **hooks.call("figures", runs, curves, spec, default={})}
    notes = (
        _generic_notes(verdicts, exp.schedule)
        + _convergence_notes(runs, arms)
        + list(hooks.call("notes", runs, spec, default=[]))
    )
    if elsewhere:
        notes.append(
            f"Claims about arms or profiles not in this grid (profile `{exp.profile}`): "
            + ", ".join(c.id for c in elsewhere)
            + "."
        )
    if judged.progress is not None:  # cells a sequential design has not run are not missing
        skipped = [(r, why) for r, why in skipped if why != "not run yet"]
        notes.append(_seeds_note(exp, runs, judged.progress))
    extra = hooks.call("table", runs, spec, default=None)
    return Analysis(
        hooks.title or f"Experiment {exp.name}",
        " ".join(str(spec.get("claim", "")).split()),
        table_csv,
        table_md,
        verdicts,
        figs,
        notes,
        list(skipped),
        extra,
        len(runs),
    )


def _seeds_note(exp, runs: pd.DataFrame, state) -> str:
    """Seeds per arm that a sequential design used, and whether it is done."""
    per_arm = runs.groupby("arm")["seed"].nunique().to_dict()
    used = ", ".join(f"{a} {per_arm.get(a, 0)}" for a in exp.arms)
    where = (
        f"its next look needs {state.next_seeds} seeds per arm of the open claims"
        if state.next_seeds is not None
        else "no claim needs more seeds"
    )
    return (
        f"Seeds: a sequential design ({exp.schedule.describe()}), {state.looks_taken} looks taken; seeds per "
        f"arm: {used} (of at most {exp.schedule.max}); {where}."
    )


def _table_columns(runs, curves, claims, extra_metrics: dict) -> dict:
    """Metric name -> (metric, per-run frame of arm, value, censored): the standard columns plus
    every metric a claim measures."""
    metrics = {**RUN_METRICS, **extra_metrics}
    names = list(
        dict.fromkeys(
            [m for m in TABLE_METRICS if m in runs]
            + [c.metric.name for c in claims if c.curve is None and c.metric.name in runs]
        )
    )
    columns = {
        name: (metrics[name], pd.DataFrame({"arm": runs.arm, "value": runs[name].astype(float), "censored": False}))
        for name in names
    }
    for c in claims:
        if c.curve is not None and c.metric.name not in columns:
            columns[c.metric.name] = (c.metric, first_step(runs, curves, c.curve).assign(arm=runs.arm.to_numpy()))
    # Parameters and wall time last: the measured outcomes first.
    return dict(sorted(columns.items(), key=lambda kv: kv[0] in ("params", "wall_time_s")))


def _convergence_notes(runs: pd.DataFrame, arms: list[str]) -> list[str]:
    """Which arms had stopped improving: the mean change of their running training error (over
    the trailing epoch) across the last fifth of the run, against one point."""
    finished = runs[runs.status == "completed"] if "status" in runs else runs  # a diverged run has no trend
    change = finished.groupby("arm")["late_train_error_change"].mean().dropna()
    change = change[[a for a in arms if a in change.index]]
    if change.empty:
        return []
    moving = [f"{a} ({100 * d:+.1f} points)" for a, d in change.items() if abs(d) > CONVERGED]
    head = (
        f"Convergence: the running training error (mean over the trailing epoch) changed by at most "
        f"{100 * change.abs().max():.1f} points over the last {LATE_FRACTION:.0%} of the steps in every arm."
    )
    if moving:
        head = (
            f"Convergence: still moving by more than {100 * CONVERGED:g} point over the last "
            f"{LATE_FRACTION:.0%} of the steps (mean change of the running training error): "
            + ", ".join(moving)
            + "; those arms had not stopped improving when the runs ended."
        )
    return [head]


def _generic_notes(verdicts: list[Verdict], schedule=None) -> list[str]:
    tested = sum(v.p == v.p for v in verdicts if v.scale != "exact")
    design = (
        "Welch's t on the difference of means over seeds (on log values for ratio claims), Holm's correction "
        f"across the {tested} tested claims of this experiment at α = 0.05"
    )
    if schedule is not None:
        design = (
            f"a sequential design ({schedule.describe()}): seeds were added only to the arms of claims "
            "still unresolved that more seeds could settle; Welch's t on the difference of means over seeds "
            "(on log values for ratio claims) at each look, at that look's share of α = 0.05 (fixed by the "
            "schedule before any data; they sum to 0.05), Holm's correction across the claims not settled "
            "before it; each claim keeps the numbers of the look that settled or stopped it"
        )
    return [
        f"Verdicts: {design}. HOLDS: the decision interval (the confidence interval at the level the correction "
        "sets, printed beside the 95% one) lies entirely on the claimed side, beyond the claimed margin; "
        "REFUTED: entirely on the other side; otherwise UNRESOLVED, with what would settle it (seeds per arm "
        "for 80% power at the observed effect, or a longer run where censoring blocked it). A side without "
        "seed-to-seed variation must also pass an exact permutation test. Fragile verdicts (diverged, excluded "
        "or valueless runs, a side without variation or strongly skewed) say so and ask for more seeds. "
        "Architecture metrics (parameters, compute) are exact and compared directly.",
        "Table: mean ± the half-width of the 95% confidence interval over seeds (t distribution); "
        "'≥ … (k never)' marks a target that k runs never reached (their run length counts, a lower bound); "
        "'diverged': the arm's runs whose loss became NaN/inf.",
    ]


def write_outputs(exp, root: Path, analysis: Analysis) -> dict[str, Path]:
    """Write the report folder whole under a temporary name beside it, then swap it into place
    under a lock (results.replace_folder): two `analyze` of one grid at once leave one complete
    report, and no reader sees a half-written one. Returns the paths in the final folder."""
    out = results.report_dir(root, exp.name, exp.profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f"{out.name}.tmp-"))
    try:
        os.chmod(tmp, 0o777 & ~results.current_umask())  # mkdtemp makes 0700; reports are shared
        paths = _write_report_files(exp, analysis, tmp)
        with results.waiting_lock(out.parent / f"{out.name}.lock"):
            for name in KEPT_ACROSS_ANALYSES:
                if (out / name).exists():
                    os.rename(out / name, tmp / name)
            results.replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {key: out / p.name for key, p in paths.items()}


def _write_report_files(exp, analysis: Analysis, out: Path) -> dict[str, Path]:
    paths = {
        "table_csv": out / "table.csv",
        "table_md": out / "table.md",
        "verdicts": out / "verdicts.json",
        "report": out / "report.md",
    }
    for name, fig in analysis.figures.items():
        paths[f"figure:{name}"] = out / f"{name}.png"
        fig.savefig(paths[f"figure:{name}"], dpi=130, bbox_inches="tight")
    results.atomic_write_text(paths["table_csv"], analysis.table_csv.to_csv(index=False))
    results.atomic_write_text(paths["table_md"], analysis.table_md + "\n")
    results.atomic_write_text(paths["verdicts"], json.dumps([v.to_dict() for v in analysis.verdicts], indent=2) + "\n")
    results.atomic_write_text(paths["report"], report(exp, analysis, paths))
    return paths


def report(exp, a: Analysis, paths: dict[str, Path]) -> str:
    counts = {o: sum(v.outcome == o for v in a.verdicts) for o in (HOLDS, REFUTED, UNRESOLVED)}
    lines = [
        f"# {a.title}",
        "",
        f"Experiment `{exp.name}`, profile `{exp.profile}` ({exp.path.name}); {a.runs} of {len(exp.cells)} runs "
        + ("finished" if exp.schedule is None else "of a sequential design run (see Seeds below)")
        + f". Verdicts are computed from these runs: {counts[HOLDS]} hold, {counts[REFUTED]} refuted, "
        f"{counts[UNRESOLVED]} unresolved"
        + (f", {len(a.verdicts) - sum(counts.values())} not measured" if len(a.verdicts) > sum(counts.values()) else "")
        + ".",
        "",
    ]
    if a.claim:
        lines += [f"**Claim.** {a.claim}", ""]
    lines += ["## Results", "", a.table_md, ""]
    if a.extra_table is not None:
        lines += [a.extra_table[1], ""]
    lines += ["## Verdicts", ""]
    lines += [f"- **[{v.outcome.upper()}] {v.id}**: {v.text}  \n  {v.statistic()}" for v in a.verdicts]
    lines += [""] + [f"![{k.split(':', 1)[1]}]({p.name})" for k, p in paths.items() if k.startswith("figure:")] + [""]
    notes = list(a.notes)
    refuted = [v.id for v in a.verdicts if v.outcome == REFUTED]
    if refuted:
        notes.insert(
            0,
            f"Refuted at this scale: {', '.join(refuted)}. This is what was measured in profile "
            f"`{exp.profile}`; it speaks to the paper's setting only as far as the profile reproduces it.",
        )
    if a.skipped:
        notes.append("Not in this analysis: " + "; ".join(f"`{r}` ({why})" for r, why in a.skipped) + ".")
    lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


def analyze_and_print(exp, root: Path, wandb_mode: str = "off") -> dict[str, Path] | None:
    a = analyze(exp, root)
    if a is None:
        print(f"[ablate] no finished runs of {exp.name}/{exp.profile} under {root}: nothing to analyse")
        return None
    paths = write_outputs(exp, root, a)
    print()
    print(a.table_md)
    if a.extra_table is not None:
        print()
        print(a.extra_table[1])
    print()
    for v in a.verdicts:
        print(v.line())
    for run_id, why in a.skipped:
        print(f"[ablate] skipped {run_id}: {why}")
    if a.skipped:
        print(f"[ablate] {len(a.skipped)} of {len(exp.cells)} cells are not in the analysis (see above)")
    print()
    for key, p in paths.items():
        if key.startswith("figure:"):
            print(f"plot:     {p}")
    print(f"report:   {paths['report']}\ntable:    {paths['table_csv']}\nverdicts: {paths['verdicts']}")
    if wandb_mode != "off":
        from ablate.report.wandb_log import log_analysis

        where = log_analysis(exp, a, paths, wandb_mode)
        if where:
            print(f"W&B:      {where}")
    return paths
