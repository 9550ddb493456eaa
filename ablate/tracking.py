"""Weights & Biases through Lightning's WandbLogger, never a prompt and never a failure.

mode 'auto' (the default) logs online only when an API key is configured and the W&B host answers
within a couple of seconds; otherwise offline, into the run's folder (`wandb/offline-run-*`), to be
uploaded later with `wandb sync`. 'off' disables W&B; the results store never depends on it.
"""

from __future__ import annotations

import netrc
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

MODES = ("auto", "online", "offline", "off")
PROJECT = "ablate"


def _api_key_configured(host: str) -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def _reachable(host: str, port: int = 443, timeout_s: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_mode(mode: str) -> str:
    """'auto' -> 'online' or 'offline'; an explicit WANDB_MODE=offline/disabled is respected."""
    if mode not in MODES:
        raise ValueError(f"unknown W&B mode {mode!r}; valid: {', '.join(MODES)}")
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("offline", "dryrun"):
        return "offline"
    if env == "disabled":
        return "off"
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    return "online" if _api_key_configured(host) and _reachable(host) else "offline"


def wandb_run_id(experiment: str, run_id: str) -> str:
    """Stable across restarts, so a resumed or requeued run logs into the same W&B run."""
    return f"{experiment}-{run_id}"[:128]


def make_logger(
    mode: str, *, experiment: str, arm: str, seed: int, profile: str, run_id: str, save_dir: Path, config: dict
):
    """A WandbLogger, or None when mode is 'off'. Group = experiment, job type = arm."""
    mode = resolve_mode(mode)
    if mode == "off":
        return None
    import wandb
    from lightning.pytorch.loggers import WandbLogger

    save_dir.mkdir(parents=True, exist_ok=True)
    # The mode goes to wandb.init (through the logger's kwargs), not into os.environ, so it does not
    # stick for the cells after this one. `offline=True` is not used: Lightning's WandbLogger then
    # sets os.environ["WANDB_MODE"] itself (lightning/pytorch/loggers/wandb.py, `experiment`).
    logger = WandbLogger(
        project=PROJECT,
        group=experiment,
        job_type=arm,
        name=run_id,
        id=wandb_run_id(experiment, run_id),
        resume="allow",
        tags=[arm, f"seed={seed}", f"profile={profile}"],
        save_dir=str(save_dir),
        mode=mode,
        settings=wandb.Settings(silent=True),
        config=config,
    )
    # Lightning (2.6) always passes `anonymous` to wandb.init (None unless asked for), and wandb (0.31)
    # warns "The anonymous setting has no effect" for any value: pass only what W&B still reads.
    logger._wandb_init.pop("anonymous", None)
    return logger


def finish(logger) -> None:
    """Always close the W&B run, so a failed run does not swallow the next one."""
    if logger is None:
        return
    import wandb

    if wandb.run is not None:
        wandb.finish()
