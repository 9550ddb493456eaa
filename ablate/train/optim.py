"""Optimisers and learning-rate schedules by name. Schedules are per optimiser step."""

from __future__ import annotations

import math

import torch


def build_optimizer(params, cfg: dict) -> torch.optim.Optimizer:
    if cfg["name"] == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg["lr"],
            momentum=cfg["momentum"],
            nesterov=cfg["nesterov"],
            weight_decay=cfg["weight_decay"],
        )
    if cfg["name"] == "adamw":
        return torch.optim.AdamW(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), weight_decay=cfg["weight_decay"])
    raise ValueError(f"unknown optimiser {cfg['name']!r}; valid: sgd, adamw")


def lr_factor(step: int, sched: dict, base_lr: float, max_steps: int) -> float:
    """Multiplier of the base learning rate at optimiser step `step` (0-based)."""
    warm = sched["warmup_steps"]
    if step < warm:
        if sched["warmup"] == "constant":  # He et al. 2015 §4.2, ResNet-110: 0.01 until ~400 iters
            return (sched["warmup_lr"] if sched["warmup_lr"] is not None else 0.1 * base_lr) / base_lr
        return (step + 1) / warm
    name = sched["name"]
    if name == "constant":
        return 1.0
    if name == "multistep":  # milestones count steps from the start of training
        return sched["gamma"] ** sum(step >= m for m in sched["milestones"])
    if name == "cosine":
        span = max(1, max_steps - warm)
        progress = min(1.0, (step - warm) / span)
        floor = sched["min_lr"] / base_lr
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {name!r}; valid: constant, multistep, cosine")


def build_scheduler(optimizer, sched: dict, base_lr: float, max_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, sched, base_lr, max_steps))
