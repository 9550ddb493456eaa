"""Counting the host syncs of ablate's training steps: what tests/test_throughput.py asserts and
benchmarks/gpu_check.py reports.

A host sync is the CPU waiting for the device: reading a tensor's value (.item(), float(t), `if
t:`, tolist), a copy to or from page-able host memory, an explicit synchronize. On a GPU,
torch.cuda.set_sync_debug_mode('warn') makes every one of them a warning, which is counted. On the
CPU there is no device to wait for; the ops that would sync on a GPU are counted instead (those
that read a value: a TorchDispatchMode sees item/_local_scalar_dense/is_nonzero, and tolist/numpy
are patched because they read memory without dispatching). Counted from the start of the second
training step to the end of the last, evaluations excluded.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
import yaml
from torch.utils._python_dispatch import TorchDispatchMode

SYNC_OPS = {"_local_scalar_dense", "is_nonzero", "item"}  # what .item(), float(t), `if t:` reach
CUDA_SYNC_WARNING = "called a synchronizing CUDA operation"
# The digits' training split at batch 32 is 40 batches (1,797 images: 20% test, 10% of the rest
# validation): 50 steps cross the first epoch boundary, where the next epoch's order is drawn.
DIGITS_STEPS_PER_EPOCH_AT_32 = 40


class SyncCounter(TorchDispatchMode):
    """Counts the dispatched ops that copy a tensor's value to the host."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in SYNC_OPS:
            self.count += 1
        return func(*args, **(kwargs or {}))


def grid(tmp_path: Path, max_steps: int, log_every: int, batch: int = 32, **train):
    """A one-cell experiment: a width-4 CIFAR ResNet-8 on the digits; by default no evaluation
    before the end and no checkpoint (`train` overrides any train key)."""
    from ablate.experiment import load_experiment

    spec = {
        "base": {
            "model.name": "cifar_resnet",
            "model.width": 4,
            "model.depth": 8,
            "data": {"name": "digits", "batch_size": batch, "augment": "crop", "pad": 1},
            "train": {"max_steps": max_steps, "log_every": log_every, "eval_every": 0, "checkpoint_every": 0, **train},
        },
        "arms": {"a": {}},
        "seeds": [0],
        "profiles": {"tiny": {}},
    }
    path = tmp_path / "syncgrid.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_experiment(str(path), "tiny")


class _Window(pl.Callback):
    """Turns counting on at the start of the second training step, off at an evaluation and at the end."""

    def __init__(self, on, off):
        self.on, self.off, self.counting = on, off, False

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step >= 1 and not self.counting:
            self.counting = True
            self.on()

    def on_validation_start(self, *args):
        self._stop()

    def on_train_end(self, *args):
        self._stop()

    def _stop(self):
        if self.counting:
            self.counting = False
            self.off()


def count_step_syncs(tmp_path: Path, accelerator: str, max_steps: int, log_every: int, **train) -> dict:
    """Train one cell in this process on `accelerator` ('gpu' or 'cpu'); return {'syncs', 'steps'
    (counted), 'summary'}: host syncs in training steps 2..max_steps."""
    from ablate.train.run import RunOptions, run_cell

    exp = grid(tmp_path, max_steps, log_every, **train)
    opts = RunOptions(tmp_path / "results", wandb="off", accelerator=accelerator, progress=False, threads=1)
    counter = {"n": 0}
    with _counting(accelerator, counter) as window:
        summary = run_cell(exp, exp.cells[0], opts, callbacks=[window])
    return {"syncs": counter["n"], "steps": max_steps - 1, "summary": summary}


@contextlib.contextmanager
def _counting(accelerator: str, counter: dict):
    if accelerator == "gpu":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield _Window(lambda: torch.cuda.set_sync_debug_mode("warn"), lambda: torch.cuda.set_sync_debug_mode(0))
            finally:
                torch.cuda.set_sync_debug_mode(0)
        counter["n"] = sum(CUDA_SYNC_WARNING in str(w.message) for w in caught)
        return
    mode, state = SyncCounter(), {"on": False}
    originals = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy")}

    def patched(name):
        def read(self, *a, **k):
            counter["n"] += state["on"]
            return originals[name](self, *a, **k)

        return read

    def on():
        state["on"] = True
        mode.__enter__()

    def off():
        state["on"] = False
        mode.__exit__(None, None, None)
        counter["n"] += mode.count
        mode.count = 0

    for name in originals:
        setattr(torch.Tensor, name, patched(name))
    try:
        yield _Window(on, off)
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
