"""train.precision end to end on the CPU: bf16-true and 16-mixed train, evaluate in the dtype they
trained in, and resume from a checkpoint to the same curve as an uninterrupted run; 16-mixed is
really fp16 with a GradScaler (Lightning would otherwise swap in bf16-mixed on the CPU)."""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pandas as pd
import pytest
import torch

from ablate import results
from tests.host_syncs import grid

# Differ between an uninterrupted and a resumed run by design.
BOOKKEEPING = ("wall_time_s", "attempts", "resumed_from_step")


class Crash(pl.Callback):
    """Stops the first attempt after its step-8 checkpoint, before step 12."""

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == 10:
            raise RuntimeError("crash after the step-8 checkpoint")


def _cell(tmp_path, precision: str):
    exp = grid(tmp_path, 12, 2, eval_every=6, checkpoint_every=4, precision=precision)
    return exp, exp.cells[0]


def _opts(root):
    from ablate.train.run import RunOptions

    return RunOptions(root, wandb="off", accelerator="cpu", progress=False, threads=1)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16-true", "16-mixed"])
def test_precision_trains_evaluates_and_resumes_exactly(tmp_path, precision):
    from ablate.train.run import run_cell

    exp, cell = _cell(tmp_path, precision)
    clean = run_cell(exp, cell, _opts(tmp_path / "clean"))
    assert clean["status"] == "completed" and clean["steps"] == 12
    assert all(0 <= clean[f"final_{s}_error"] < 1 for s in ("train", "val", "test")), clean
    with pytest.raises(RuntimeError, match="crash after"):
        run_cell(exp, cell, _opts(tmp_path / "resumed"), callbacks=[Crash()])
    resumed = run_cell(exp, cell, _opts(tmp_path / "resumed"))
    assert resumed["resumed_from_step"] == 8 and resumed["attempts"] == 2
    assert {k: v for k, v in resumed.items() if k not in BOOKKEEPING} == {
        k: v for k, v in clean.items() if k not in BOOKKEEPING
    }
    dirs = [results.run_dir(tmp_path / r, exp.name, cell.run_id) for r in ("clean", "resumed")]
    pd.testing.assert_frame_equal(*(pd.read_csv(d / results.METRICS) for d in dirs))

    ckpt = torch.load(dirs[0] / "checkpoints" / "step12.ckpt", map_location="cpu", weights_only=True)
    dtypes = {v.dtype for v in ckpt["state_dict"].values() if v.is_floating_point()}
    if precision == "bf16-true":
        assert dtypes == {torch.bfloat16}  # the weights themselves are bfloat16
    else:  # fp16 autocast with a loss scale, the weights float32
        assert dtypes == {torch.float32} and math.isfinite(ckpt["MixedPrecision"]["scale"])
