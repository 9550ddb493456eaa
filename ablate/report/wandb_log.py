"""The analysis of a grid as one W&B run of the experiment's group: the per-arm table and the
verdicts as `wandb.Table`s, the figures as images, each verdict's outcome in the run summary.
Offline (into the report folder) when there is no server, like the training runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ablate import tracking

VERDICT_COLUMNS = (
    "id",
    "outcome",
    "text",
    "metric",
    "estimate",
    "ci_low",
    "ci_high",
    "p",
    "p_adjusted",
    "effect_size",
    "seeds_needed",
    "scale",
    "reason",
)


def verdict_frame(verdicts) -> pd.DataFrame:
    rows = []
    for v in verdicts:
        d = v.to_dict()
        rows.append({k: d.get(k) for k in VERDICT_COLUMNS} | {"n_a": v.a.n if v.a else 0, "n_b": v.b.n if v.b else 0})
    return pd.DataFrame(rows).astype({"seeds_needed": "object"})


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
        where = run.dir if mode == "offline" else run.url
    finally:
        run.finish()
    return where
