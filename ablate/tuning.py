"""Per-arm hyperparameter search with Optuna, so that every arm of an ablation gets its own good
learning rate (AlexNet's Fig. 1 picked each activation's rate separately; a net without BatchNorm
needs a smaller one).

One study per (experiment, profile, arm), named `<experiment>/<profile>/<arm>`, stored under
`<results_root>/<experiment>/_tune/`: `study.db` (SQLite, the default) or `journal.log` (Optuna's
journal file storage, for a results directory on a shared file system, where SQLite's locking is
unreliable and many SLURM tasks may add trials to one study). Running `tune` again loads the same
study and adds trials.

A trial trains the arm's cell (the profile's own budget: same data, steps, schedule; the first seed
of the profile unless --seed) with the trial's values into `_tune/<profile>/<arm>/`, a results root
of its own, so trial runs never mix with the grid's cells. The objective is the final error on the
cell's **validation** split (a per-seed hold-out of the training set; the test set is never
looked at). Validation error is reported to Optuna at every evaluation and, from half the run on,
a MedianPruner stops trials that are worse than the median of earlier trials at the same step.
A diverged run scores 1.0 (100% error).

With `--seeds N` a trial trains N seeds (the profile's first N, or --seed S, S+1, ...) and scores
the mean of their validation errors. One seed picks the rate its own initialisation tolerates; a
net that fails to train from some initialisations at that rate (an unnormalised stack of convs at
the edge of stability) then fails in the grid's other seeds. The mean over seeds charges such a
rate for its failures. Pruning watches the first seed's curve only (the later seeds of a trial
run after it, unpruned), so every trial is judged at the same steps.

An experiment uses the result by setting `optim.lr: tuned` (and/or `optim.weight_decay: tuned`):
ablate.experiment replaces it with the study's best value before hashing the config.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ablate import config as C
from ablate.experiment import Experiment, config_hash, expand, load_experiment
from ablate.results import results_root as default_root
from ablate.spec import parse_overrides
from ablate.studies import (  # noqa: F401 (re-exported for the tune command and tests)
    OBJECTIVE,
    STORAGE_FILES,
    TuningError,
    _quiet_optuna,
    best_params,
    choose_storage,
    describe_tuned,
    load_study,
    open_storage,
    study_name,
    tune_dir,
    tuned_values,
)
from ablate.train.run import RunOptions, run_cell

# Bookkeeping keys that do not change what a trial learns.
NOT_IN_FINGERPRINT = ("train.log_every", "train.checkpoint_every")
# Log-uniform search ranges; an experiment's `tune:` section overrides them per key.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "optim.lr": (1e-4, 1.0),
    "optim.weight_decay": (1e-6, 1e-2),
}


# ----------------------------------------------------------------------------- the study's cell
def _arm_grid(
    experiment: str, profile: str | None, arm: str, overrides: Sequence[str], seed: int | None, n_seeds: int = 1
):
    """(path, spec, profile, cli, tuned keys) for one arm, loaded and checked by the same loader as
    `run` (models, claims, analysis module), with the tuned keys probed at a placeholder value;
    cli["seeds"] holds the trial's n_seeds seeds."""
    found: list[str] = []

    def probe(_arm, keys):  # records which keys the arm leaves to tuning
        found.extend(keys)
        return {k: DEFAULT_RANGES[k][0] for k in keys}

    exp = load_experiment(experiment, profile, overrides, arms=[arm], tuned=probe)
    cli = parse_overrides(overrides)
    if seed is not None:
        cli["seeds"] = [seed + i for i in range(n_seeds)]
    elif n_seeds > len(exp.seeds):
        raise TuningError(
            f"{exp.path}: --seeds {n_seeds}: profile {exp.profile!r} has {len(exp.seeds)} seeds "
            f"({', '.join(map(str, exp.seeds))}); pass --seed S to train seeds S to S+{n_seeds - 1}"
        )
    else:
        cli["seeds"] = exp.seeds[:n_seeds]
    return exp.path, exp.spec, exp.profile, cli, found or ["optim.lr"]


def search_ranges(spec: dict, keys: list[str], path: Path) -> dict[str, tuple[float, float]]:
    """Log-uniform range per key: the experiment's `tune:` section (dotted key or its last part)
    or DEFAULT_RANGES."""
    section = spec.get("tune") or {}
    out = {}
    for key in keys:
        rng = section.get(key, section.get(key.split(".")[-1], DEFAULT_RANGES[key]))
        if (
            not isinstance(rng, (list, tuple))
            or len(rng) != 2
            or not all(isinstance(v, (int, float)) for v in rng)
            or not 0 < rng[0] < rng[1]
        ):
            raise TuningError(f"{path}: tune.{key}: expected [low, high] with 0 < low < high, got {rng!r}")
        out[key] = (float(rng[0]), float(rng[1]))
    return out


def parse_point(text: str, keys: list[str], ranges: dict, path: Path) -> dict[str, float]:
    """'optim.lr=0.03[,optim.weight_decay=5e-4]' -> the trial's values; every tuned key, inside its range."""
    point = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise TuningError(f"--enqueue {text!r}: expected KEY=VALUE with KEY one of {', '.join(keys)}")
        try:
            point[key] = float(value)
        except ValueError:
            raise TuningError(f"--enqueue {text!r}: {key}={value!r} is not a number") from None
        lo, hi = ranges[key]
        if not lo <= point[key] <= hi:
            raise TuningError(f"--enqueue {text!r}: {key}={value} is outside {path}'s range [{lo:g}, {hi:g}]")
    missing = [k for k in keys if k not in point]
    if missing:
        raise TuningError(f"--enqueue {text!r}: give a value for {', '.join(missing)} too (every tuned key)")
    return point


def _finished_at(study, point: dict[str, float]) -> bool:
    """A complete or pruned trial has these values already (one left RUNNING by a killed session does not count)."""
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return any(t.state in done and t.params == point for t in study.trials)


def _budget(cfg: dict, seeds: list[int]) -> dict[str, Any]:
    return {
        "max_steps": cfg["train"]["max_steps"],
        "eval_every": cfg["train"]["eval_every"],
        "dataset": cfg["data"]["name"],
        "batch_size": cfg["data"]["batch_size"],
        "seed": cfg["seed"],
        "seeds": seeds,
    }


def _fingerprint(cfg: dict, keys: list[str]) -> str:
    """Hash of the trial config without the tuned keys: every trial of a study must share it."""
    cfg = copy.deepcopy(cfg)
    for key in [*keys, *NOT_IN_FINGERPRINT]:
        C.set_dotted(cfg, key, None)
    return config_hash(cfg)


# ----------------------------------------------------------------------------- pruning callback
def pruning_callback(trial, monitor: str = "val/error"):
    """A Lightning callback (lightning.pytorch namespace) reporting `monitor` to the trial after
    each validation and raising optuna.TrialPruned when the pruner says so."""
    import lightning.pytorch as pl
    import optuna

    class OptunaPruning(pl.Callback):
        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.sanity_checking or monitor not in trainer.callback_metrics:
                return
            value = float(trainer.callback_metrics[monitor])
            step = int(trainer.global_step)
            trial.report(value if math.isfinite(value) else 1.0, step)
            if trial.should_prune():
                trial.set_user_attr("pruned_at_step", step)
                raise optuna.TrialPruned(f"{monitor}={value:.4f} at step {step}")

    return OptunaPruning()


def median_pruner(max_steps: int):
    """Optuna's MedianPruner, judging from half the run on (and after 3 finished trials).

    Early validation error ranks learning rates poorly: a higher rate starts noisier and ends
    better. Judged from the first evaluation on, kernels' 600-step trials (evaluated every 100
    steps) lost lr 0.0296 at step 100 while 0.0303 turned out best."""
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=max_steps // 2)


# ----------------------------------------------------------------------------- tune
def tune(
    experiment: str,
    arm: str,
    trials: int,
    *,
    profile: str | None = None,
    overrides: Sequence[str] = (),
    results_root: str | Path | None = None,
    storage: str = "auto",
    seed: int | None = None,
    n_seeds: int = 1,
    data_dir: str | None = None,
    accelerator: str = "auto",
    enqueue: Sequence[str] = (),
    echo=print,
):
    """Add `trials` trials to the arm's study (created on first use); return the study. Each trial
    trains n_seeds seeds and scores their mean validation error. `enqueue` ("optim.lr=0.03", ...):
    points the first trials evaluate, before the sampler proposes any."""

    _quiet_optuna()
    root = Path(results_root) if results_root is not None else default_root(None)
    path, spec, profile, cli, keys = _arm_grid(experiment, profile, arm, overrides, seed, n_seeds)
    ranges = search_ranges(spec, keys, path)
    kind = choose_storage(root, path.stem, storage)
    first = expand(spec, profile, {**cli, **{k: ranges[k][0] for k in keys}}, path)[0].config
    points = [parse_point(text, keys, ranges, path) for text in enqueue]
    study = _open_study(root, path.stem, profile, arm, kind, first, keys, ranges, cli["seeds"])
    for point in points:
        if not _finished_at(study, point):
            study.enqueue_trial(point)
    opts = RunOptions(
        tune_dir(root, path.stem) / profile / arm, data_dir, wandb="off", accelerator=accelerator, progress=False
    )
    objective = _objective(Experiment(path.stem, profile, path, spec, []), cli, keys, ranges, opts)
    searching = ", ".join(f"{k} in [{lo:g}, {hi:g}] (log)" for k, (lo, hi) in ranges.items())
    seeds = cli["seeds"]
    echo(
        f"[tune] study {study.study_name!r} ({kind}: {tune_dir(root, path.stem) / STORAGE_FILES[kind]}), "
        f"{len(study.trials)} trials so far; searching {searching}; budget {_budget(first, seeds)}; objective: "
        f"{OBJECTIVE}" + (f", mean over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else "")
    )
    study.optimize(objective, n_trials=trials, callbacks=[_reporter(echo)], catch=(RuntimeError,))
    return study


def _open_study(root: Path, name: str, profile: str, arm: str, kind: str, first: dict, keys, ranges, seeds):
    """The arm's study, created on first use with what it was run with; one with other settings
    (budget, seeds, fixed keys) is refused."""
    import optuna

    study = optuna.create_study(
        study_name=study_name(name, profile, arm),
        storage=open_storage(root, name, kind),
        direction="minimize",
        load_if_exists=True,
        pruner=median_pruner(first["train"]["max_steps"]),
    )
    # A resumed study must not replay the first session's random draws: seed by trials so far.
    study.sampler = optuna.samplers.TPESampler(seed=len(study.trials), n_startup_trials=4)
    fingerprint = _fingerprint(first, keys)
    attrs = study.user_attrs
    # A study from before --seeds trained its budget's one seed.
    studied_seeds = attrs.get("budget", {}).get("seeds", [first["seed"]]) if "fingerprint" in attrs else seeds
    if attrs.get("fingerprint", fingerprint) != fingerprint or studied_seeds != seeds:
        raise TuningError(
            f"study {study.study_name!r} in {tune_dir(root, name)} was run with other settings "
            f"(budget {attrs.get('budget')}); delete it or tune with the same --set, --seed and --seeds options"
        )
    if "fingerprint" not in attrs:
        record = {
            "fingerprint": fingerprint,
            "keys": keys,
            "ranges": {k: list(v) for k, v in ranges.items()},
            "budget": _budget(first, seeds),
            "objective": OBJECTIVE,
            "split": "val",
        }
        for key, value in record.items():
            study.set_user_attr(key, value)
    return study


def _objective(base: Experiment, cli: dict, keys: list[str], ranges: dict, opts):
    """trial -> mean final validation error over the trial's seeds (a diverged run: 1.0); the
    first seed's curve is reported to the pruner."""

    def objective(trial) -> float:
        values = {k: trial.suggest_float(k, *ranges[k], log=True) for k in keys}
        cells = expand(base.spec, base.profile, {**cli, **values}, base.path)
        exp = replace(base, cells=cells)
        trial.set_user_attr("run_id", cells[0].run_id)
        errors, diverged = [], []
        for i, cell in enumerate(cells):
            summary = run_cell(exp, cell, opts, callbacks=[pruning_callback(trial)] if i == 0 else [])
            diverged.append(summary["status"] == "diverged")
            error = summary["final_val_error"]
            errors.append(1.0 if diverged[-1] or not math.isfinite(error) else float(error))
        trial.set_user_attr("diverged", any(diverged))
        if len(cells) > 1:
            trial.set_user_attr("run_ids", [c.run_id for c in cells])
            trial.set_user_attr("seed_val_errors", errors)
        return sum(errors) / len(errors)

    return objective


def _reporter(echo):
    """An Optuna callback that prints one line per finished trial."""
    import optuna

    def report(study, trial) -> None:
        values = ", ".join(f"{k}={v:.3g}" for k, v in trial.params.items())
        if trial.state == optuna.trial.TrialState.COMPLETE:
            per_seed = trial.user_attrs.get("seed_val_errors")
            outcome = (
                f"val error {100 * trial.value:.2f}%"
                + (f" (mean of seeds: {', '.join(f'{100 * e:.2f}' for e in per_seed)})" if per_seed else "")
                + (" (diverged)" if trial.user_attrs.get("diverged") else "")
            )
        else:
            pruned = trial.user_attrs.get("pruned_at_step")
            outcome = trial.state.name.lower() + (f" at step {pruned}" if pruned is not None else "")
        best = study.best_trial if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) else None
        echo(
            f"[tune] trial {trial.number}: {values} -> {outcome}"
            + (f"; best so far {100 * best.value:.2f}% (trial {best.number})" if best else "")
        )

    return report
