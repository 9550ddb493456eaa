"""The SLURM pre-emption checkpoint at a step boundary.

Under SLURM, Lightning installs a USR1 handler that writes hpc_ckpt_<n>.ckpt and runs `scontrol
requeue` inside the signal handler, that is wherever the main thread happens to be: between the
forward pass (whose loss is already in the TrainWindow) and the optimiser step, say. A run resumed
from such a file counts that step's loss twice and repeats a half-done step. Here the handler only
notes the signal; Lightning's save-and-requeue runs at the next step boundary: after the step's
optimiser update, its metric record and its periodic checkpoint, or after the evaluation when one
follows the step (the same rule as ablate.train.checkpointing.StepCheckpoint). The checkpoint then
holds exactly the state an uninterrupted run has between two steps, and the resumed run repeats
nothing.

Under DDP every rank gets the signal (srun forwards it), not necessarily in the same step, and
saving is collective: the ranks agree on it at the next log-window boundary (train.log_every),
where they synchronise anyway, so no step has an extra host sync.
"""

from __future__ import annotations

import signal
import threading

import lightning.pytorch as pl

REQUEUE_SIGNAL = signal.SIGUSR1  # `#SBATCH --signal=USR1@S` in ablate's scripts


class StepBoundaryRequeue(pl.Callback):
    def __init__(self, log_every: int, eval_every: int):
        self.log_every, self.eval_every = log_every, eval_every
        self._requeue = None  # Lightning's save-and-requeue handler, while it is deferred
        self._signalled = False

    def on_train_start(self, trainer, pl_module):
        handler = signal.getsignal(REQUEUE_SIGNAL)
        # Only where Lightning (auto-requeue under SLURM) or a user installed a handler; never in a thread.
        if callable(handler) and threading.current_thread() is threading.main_thread():
            self._requeue = handler
            signal.signal(REQUEUE_SIGNAL, self._note)

    def _note(self, signum, frame) -> None:
        self._signalled = True  # all a signal handler does here: the next step boundary acts

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if (self.eval_every and step % self.eval_every == 0) or step >= trainer.max_steps:
            return  # Lightning evaluates right after this hook: act after the evaluation
        self._act(trainer)

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking and trainer.global_step < trainer.max_steps:
            self._act(trainer)  # at max_steps the run is about to write its result: nothing to requeue

    def on_train_end(self, trainer, pl_module):
        if self._requeue is not None and threading.current_thread() is threading.main_thread():
            signal.signal(REQUEUE_SIGNAL, self._requeue)
        self._requeue = None

    def _act(self, trainer) -> None:
        if self._requeue is None:
            return
        requested = self._signalled
        if trainer.world_size > 1:
            if trainer.global_step % self.log_every:
                return  # the ranks agree only where they synchronise anyway
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        if requested:
            self._signalled = False
            self._requeue(REQUEUE_SIGNAL, None)  # Lightning: hpc checkpoint, then `scontrol requeue`
