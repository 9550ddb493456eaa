"""Hand-made analysis frames for a real experiment grid: one run per cell, with the numbers a test
chooses, in the form ablate.report.frames produces."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ablate.config import flatten
from ablate.verdicts.metrics import with_accuracies


def frames(
    exp,
    final: dict[str, list[float]],
    hits: dict[str, list[int | None]] | None = None,
    curve: str = "test/error",
    train_size: int = 640,
    diverged: set[str] = frozenset(),
):
    """final: arm -> final test (and training) error per seed; hits: arm -> the step per seed at which
    `curve` drops from 0.9 to 0.02 (None: never). Cells of arms not named are left out."""
    rows, curves = [], []
    for cell in exp.cells:
        if cell.arm not in final or cell.seed >= len(final[cell.arm]):
            continue
        flat = flatten(cell.config)
        err = final[cell.arm][cell.seed]
        steps = cell.config["train"]["max_steps"]
        rows.append(
            {
                **{f"cfg.{k}": v for k, v in flat.items() if not isinstance(v, list)},
                "_flat_config": flat,
                "arm": cell.arm,
                "seed": cell.seed,
                "run_id": cell.run_id,
                "status": "diverged" if cell.run_id in diverged else "completed",
                "steps": steps,
                "final_train_error": err,
                "final_val_error": err,
                "final_test_error": err,
                "final_train_error_running": err,
                "params": 1000,
                "wall_time_s": 1.0,
                "data_sizes": {"train": train_size, "val": 64, "test": 64},
            }
        )
        hit = (hits or {}).get(cell.arm, [None] * 10)[cell.seed] if hits else None
        every = cell.config["train"]["log_every"] if curve.startswith("train/") else cell.config["train"]["eval_every"]
        grid = np.arange(every, steps + 1, every)
        value = np.where(grid >= (hit if hit is not None else 10**12), 0.02, 0.9)
        curves.append(
            pd.DataFrame(
                {
                    "step": grid,
                    "epoch": 0,
                    "metric": curve,
                    "value": value,
                    "arm": cell.arm,
                    "seed": cell.seed,
                    "run_id": cell.run_id,
                }
            )
        )
    return with_accuracies(pd.DataFrame(rows)), pd.concat(curves, ignore_index=True)


def by_id(analysis) -> dict:
    return {v.id: v for v in analysis.verdicts}
