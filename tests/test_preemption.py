"""Resume after pre-emption: the USR1 checkpoint is taken at a step boundary (the handler only notes
the signal), and a checkpoint's CUDA generator states restore on a machine with fewer devices."""

from __future__ import annotations

import os
import signal

import lightning.pytorch as pl
import pytest
import torch

from tests.host_syncs import grid


class SignalMidStep(pl.Callback):
    """Sends USR1 to this process between the backward pass and the optimiser update of the steps
    in `signal_steps` (global_step before the update), where Lightning's own handler would have
    saved a half-done step."""

    def __init__(self, signal_steps: tuple[int, ...]):
        self.signal_steps, self.module = signal_steps, None

    def on_train_start(self, trainer, pl_module):
        self.module = pl_module

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if trainer.global_step in self.signal_steps:
            os.kill(os.getpid(), signal.SIGUSR1)  # Python runs the handler before the next bytecode


@pytest.mark.slow
def test_usr1_saves_and_requeues_at_the_next_step_boundary(tmp_path):
    """Signals in step 2 (a plain step) and in step 5 (evaluated at 6): the deferred handler runs
    once the step's update is done (global_step 3; the open log window holds steps 0..2 whole),
    and at step 6 after its evaluation was recorded; never inside a step, where the window would
    hold a loss whose update is not applied (Lightning's handler: global_step 2, 3 losses)."""
    from ablate.train.recorder import MetricsRecorder
    from ablate.train.run import RunOptions, run_cell

    exp = grid(tmp_path, 12, 4, eval_every=6)
    probe = SignalMidStep(signal_steps=(2, 5))
    calls = []

    def lightning_requeue(signum, frame):  # stands in for Lightning's save-and-requeue handler
        trainer = probe.module.trainer
        (recorder,) = [c for c in trainer.callbacks if isinstance(c, MetricsRecorder)]
        evaluated = any(r["step"] == trainer.global_step and "val/error" in r for r in recorder.records)
        calls.append((trainer.global_step, probe.module.train_window.steps, evaluated))

    previous = signal.signal(signal.SIGUSR1, lightning_requeue)
    try:
        opts = RunOptions(tmp_path / "r", wandb="off", accelerator="cpu", progress=False)
        summary = run_cell(exp, exp.cells[0], opts, callbacks=[probe])
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert summary["status"] == "completed"
    # (steps done, losses in the open window since the read at step 0 or 4, evaluation recorded)
    assert calls == [(3, 3, False), (6, 2, True)], calls
    assert signal.getsignal(signal.SIGUSR1) is previous


def test_cuda_generator_states_restore_on_fewer_devices(monkeypatch, capsys):
    """A checkpoint from a task that saw 8 GPUs, resumed where 1 is visible: device 0 gets the first
    saved state (set_rng_state_all would index devices 1..7 and fail), with a note."""
    from ablate.train.rng_state import GlobalRngState

    saved = [torch.full((8,), i, dtype=torch.uint8) for i in range(8)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: saved)
    state = GlobalRngState().state_dict()
    assert len(state["cuda"]) == 8
    restored = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.append((int(s[0]), device)))
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: pytest.fail("would index missing devices"))
    GlobalRngState().load_state_dict(state)
    assert restored == [(0, 0)]
    assert "CUDA generator states of 8 device(s), 1 visible now: restored devices 0..0" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # more visible than saved: those that exist
    restored.clear()
    GlobalRngState().load_state_dict({**state, "cuda": saved[:1]})
    assert restored == [(0, 0)] and "devices 1..1 keep their seeded state" in capsys.readouterr().err
