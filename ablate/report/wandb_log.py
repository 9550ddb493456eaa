"""The analysis of a grid as one W&B run of the experiment's group: the per-arm table and the
verdicts as `wandb.Table`s, the figures as images, each verdict's outcome in the run summary.
Offline (into the report folder) when there is no server, like the training runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ablate import tracking


def verdict_row(v) -> dict:
    """One verdict as a flat row of the W&B table: every number of its verdicts.json object (lists
    as text: the boundary, the flags), each side's label, n, mean, sd and run counts."""
    d = v.to_dict()
    row = {k: x for k, x in d.items() if k not in ("a", "b") and not isinstance(x, (list, dict))}
    row["boundary"] = ", ".join(f"{b:g}" for b in d["boundary"])
    row["flags"] = "; ".join(d["flags"])
    for name, side in (("a", v.a), ("b", v.b)):
        present = side is not None
        row |= {
            f"{name}_label": side.label if present else "",
            f"{name}_n": side.n if present else 0,
            f"{name}_mean": side.mean if present else None,
            f"{name}_sd": side.sd if present else None,
            f"{name}_diverged": side.diverged if present else 0,
            f"{name}_excluded": side.excluded if present else 0,
            f"{name}_censored": sum(side.censored) if present else 0,
            f"{name}_no_value": len(side.no_value) if present else 0,
        }
    return row


def verdict_frame(verdicts) -> pd.DataFrame:
    rows = [verdict_row(v) for v in verdicts]
    # Integer columns with nulls stay objects (W&B would print 12 as 12.0).
    return pd.DataFrame(rows).astype(dict.fromkeys(("seeds_needed", "ask_seeds", "look", "looks", "seeds"), "object"))


def log_analysis(exp, analysis, paths: dict[str, Path], mode: str) -> str | None:
    """Log into the analysis run of (experiment, profile); returns where it went, None if W&B is off."""
    mode = tracking.resolve_mode(mode)
    if mode == "off":
        return None
    import wandb

    out = paths["report"].parent
    run = wandb.init(
        project=tracking.PROJECT,
        group=exp.name,
        job_type="analysis",
        name=f"analysis-{exp.profile}",
        id=tracking.wandb_run_id(exp.name, f"analysis-{exp.profile}"),
        resume="allow",
        dir=str(out),
        tags=["analysis", f"profile={exp.profile}"],
        mode="offline" if mode == "offline" else "online",
        config={"experiment": exp.name, "profile": exp.profile, "cells": len(exp.cells)},
        settings=wandb.Settings(silent=True, console="off"),
    )
    try:
        frame = analysis.table_csv.copy()
        frame.columns = [str(c) for c in frame.columns]
        record = {
            "table": wandb.Table(dataframe=frame),
            "verdicts": wandb.Table(dataframe=verdict_frame(analysis.verdicts)),
        }
        for key, path in paths.items():
            if key.startswith("figure:"):
                record[f"figures/{key.split(':', 1)[1]}"] = wandb.Image(str(path))
        run.log(record)
        for v in analysis.verdicts:
            run.summary[f"verdict/{v.id}"] = v.outcome
            if v.look is not None:  # a sequential design: where each claim was settled
                run.summary[f"look/{v.id}"] = {"stage": v.stage, "look": v.look, "seeds": v.seeds}
        where = run.dir if mode == "offline" else run.url
    finally:
        run.finish()
    return where
