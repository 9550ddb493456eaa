"""The global random generators' state in every checkpoint, restored on resume.

Dropout and stochastic depth draw from torch's global generator; the batch order and the
augmentation have their own seeds per (seed, step), but these layers do not. Lightning does not
checkpoint the global generators, so without this a resumed run with drop path continues on a
different random stream than the uninterrupted run. Restored when the checkpoint is loaded,
just before training continues; nothing in between draws from them (our loaders use their own
generators). CUDA generators are saved per visible device and restored for the devices that exist
at resume: a checkpoint of a task that saw 8 GPUs resumes in a task that sees 1 (the first saved
state goes to device 0, which is the device a one-GPU run draws from), with a note saying so.
"""

from __future__ import annotations

import random
import sys

import lightning.pytorch as pl
import numpy as np
import torch


class GlobalRngState(pl.Callback):
    def state_dict(self) -> dict:
        # Plain tensors, ints and tuples only: checkpoints are loaded with weights_only=True.
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        if not state_dict:
            return
        torch.set_rng_state(state_dict["torch"])
        kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            restore_cuda_states(list(state_dict["cuda"]), torch.cuda.device_count())


def restore_cuda_states(states: list, visible: int) -> None:
    """Set the CUDA generator of each visible device that has a saved state (set_rng_state_all
    would fail on a saved device that no longer exists); say when the counts differ."""
    n = min(len(states), visible)
    for index in range(n):
        torch.cuda.set_rng_state(states[index], index)
    if len(states) != visible:
        print(
            f"[ablate] note: the checkpoint holds the CUDA generator states of {len(states)} device(s), "
            f"{visible} visible now: restored devices 0..{n - 1}"
            + (f"; devices {n}..{visible - 1} keep their seeded state" if visible > n else ""),
            file=sys.stderr,
        )
