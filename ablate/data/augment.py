"""Batched augmentation on whatever device the batch lives on: no per-image Python.

He et al. 2015 §4.2 (CIFAR): pad 4 pixels on each side, take a random 32x32 crop, flip
horizontally with probability 1/2. Padding is applied after normalisation, so the border is the
dataset mean rather than black (as in fast GPU CIFAR trainers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by `pad` pixels and crop each image back to its size at a random offset."""
    if pad <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (n, 1, h, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (n, 1, 1, w)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    flip = torch.rand(x.shape[0], generator=gen, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def augment(x: torch.Tensor, kind: str, pad: int, gen: torch.Generator) -> torch.Tensor:
    if kind == "none":
        return x
    x = random_crop(x, pad, gen)
    return random_flip(x, gen) if kind == "crop_flip" else x
