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
looked at). Validation error is reported to Optuna at every evaluation and a MedianPruner stops
trials that are worse than the median of earlier trials at the same step. A diverged trial scores
1.0 (100% error).

An experiment uses the result by setting `optim.lr: tuned` (and/or `optim.weight_decay: tuned`):
ablate.experiment replaces it with the study's best value before hashing the config.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Sequence

from ablate import config as C
from ablate.errors import UserError

TUNE_DIR = "_tune"
STORAGE_FILES = {"sqlite": "study.db", "journal": "journal.log"}
OBJECTIVE = "final validation error (fraction of the per-seed validation split; never the test set)"
# Log-uniform search ranges; an experiment's `tune:` section overrides them per key.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "optim.lr": (1e-4, 1.0),
    "optim.weight_decay": (1e-6, 1e-2),
}
# File systems on which SQLite's locks are not to be trusted: use the journal file instead.
SHARED_FS = {"nfs", "nfs4", "lustre", "gpfs", "beegfs", "cifs", "smb3", "smbfs", "ceph",
             "fuse.sshfs", "glusterfs", "fuse.glusterfs", "panfs", "wekafs", "fuse.juicefs"}  # fmt: skip


# Bookkeeping keys that do not change what a trial learns.
NOT_IN_FINGERPRINT = ("train.log_every", "train.checkpoint_every")


class TuningError(UserError):
    """Bad tuning input or a missing study: one line naming what to do."""


def study_name(experiment: str, profile: str, arm: str) -> str:
    return f"{experiment}/{profile}/{arm}"


def tune_dir(root: str | Path, experiment: str) -> Path:
    return Path(root) / experiment / TUNE_DIR


def _fs_type(path: Path) -> str | None:
    """The file-system type of the mount holding `path` (Linux /proc/mounts), or None."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return None
    path = path.resolve()
    best = None
    for mount, fstype in mounts:
        mount = mount.replace("\\040", " ")
        if (path == Path(mount) or Path(mount) in path.parents) and (best is None or len(mount) > len(best[0])):
            best = (mount, fstype)
    return best[1] if best else None


def choose_storage(root: str | Path, experiment: str, kind: str = "auto") -> str:
    """auto: the storage that already exists for this experiment, else journal on a shared file
    system, else sqlite."""
    if kind != "auto":
        if kind not in STORAGE_FILES:
            raise TuningError(f"--storage {kind!r}: valid: auto, {', '.join(STORAGE_FILES)}")
        return kind
    folder = tune_dir(root, experiment)
    for name, filename in STORAGE_FILES.items():
        if (folder / filename).exists():
            return name
    probe = Path(root)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return "journal" if _fs_type(probe) in SHARED_FS else "sqlite"


def open_storage(root: str | Path, experiment: str, kind: str):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = tune_dir(root, experiment) / STORAGE_FILES[kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        return optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
    # The open(O_CREAT | O_EXCL) lock works on NFS, where the default symlink lock may not.
    return optuna.storages.JournalStorage(JournalFileBackend(str(path), JournalFileOpenLock(str(path))))


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


# ----------------------------------------------------------------------------- the study's cell
def _arm_grid(experiment: str, profile: str | None, arm: str, overrides: Sequence[str], seed: int | None):
    """(path, spec, profile, cli, tuned keys) for one arm, without looking up any tuned value."""
    from ablate.experiment import expand, find_experiment, parse_overrides, read_spec

    path = find_experiment(experiment)
    spec = read_spec(path)
    profile = profile or spec.get("default_profile") or next(iter(spec["profiles"]))
    if profile not in spec["profiles"]:
        raise TuningError(f"{path}: unknown profile {profile!r}; valid: {', '.join(spec['profiles'])}")
    prof = spec["profiles"][profile]
    arms = prof.get("only_arms") or list(spec["arms"])
    if arm not in arms:
        raise TuningError(f"{path}: profile {profile!r} has no arm {arm!r}; valid: {', '.join(arms)}")
    cli = parse_overrides(overrides)
    seeds = cli.pop("seeds", None) or prof.get("seeds") or spec.get("seeds") or [0]
    cli["seeds"] = [seeds[0] if seed is None else seed]
    one = copy.deepcopy(spec)
    one["profiles"][profile]["only_arms"] = [arm]
    found: list[str] = []

    def probe(_arm, keys):  # records which keys the arm leaves to tuning
        found.extend(keys)
        return {k: DEFAULT_RANGES[k][0] for k in keys}

    expand(one, profile, dict(cli), path, probe)
    return path, one, profile, cli, found or ["optim.lr"]


def search_ranges(spec: dict, keys: list[str], path: Path) -> dict[str, tuple[float, float]]:
    """Log-uniform range per key: the experiment's `tune:` section (dotted key or its last part)
    or DEFAULT_RANGES."""
    section = spec.get("tune") or {}
    out = {}
    for key in keys:
        rng = section.get(key, section.get(key.split(".")[-1], DEFAULT_RANGES[key]))
        if (not isinstance(rng, (list, tuple)) or len(rng) != 2 or not all(isinstance(v, (int, float)) for v in rng)
                or not 0 < rng[0] < rng[1]):  # fmt: skip
            raise TuningError(f"{path}: tune.{key}: expected [low, high] with 0 < low < high, got {rng!r}")
        out[key] = (float(rng[0]), float(rng[1]))
    return out


def _budget(cfg: dict) -> dict[str, Any]:
    return {"max_steps": cfg["train"]["max_steps"], "eval_every": cfg["train"]["eval_every"],
            "dataset": cfg["data"]["name"], "batch_size": cfg["data"]["batch_size"],
            "seed": cfg["seed"]}  # fmt: skip


def _fingerprint(cfg: dict, keys: list[str]) -> str:
    """Hash of the trial config without the tuned keys: every trial of a study must share it."""
    from ablate.experiment import config_hash

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


# ----------------------------------------------------------------------------- tune
def tune(experiment: str, arm: str, trials: int, *, profile: str | None = None, overrides: Sequence[str] = (),
         results_root: str | Path | None = None, storage: str = "auto", seed: int | None = None,
         data_dir: str | None = None, accelerator: str = "auto", echo=print):  # fmt: skip
    """Add `trials` trials to the arm's study (created on first use); return the study."""
    import optuna

    from ablate.experiment import Experiment, expand
    from ablate.results import results_root as default_root
    from ablate.run import RunOptions, run_cell

    _quiet_optuna()
    root = Path(results_root) if results_root is not None else default_root(None)
    path, spec, profile, cli, keys = _arm_grid(experiment, profile, arm, overrides, seed)
    name = path.stem
    ranges = search_ranges(spec, keys, path)
    kind = choose_storage(root, name, storage)
    study = optuna.create_study(
        study_name=study_name(name, profile, arm), storage=open_storage(root, name, kind),
        direction="minimize", load_if_exists=True,
        # Median pruning after 3 finished trials, from the first evaluation on.
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )  # fmt: skip
    # A resumed study must not replay the first session's random draws: seed by trials so far.
    study.sampler = optuna.samplers.TPESampler(seed=len(study.trials), n_startup_trials=4)
    first = expand(spec, profile, {**cli, **{k: ranges[k][0] for k in keys}}, path)[0].config
    fingerprint = _fingerprint(first, keys)
    attrs = study.user_attrs
    if attrs.get("fingerprint", fingerprint) != fingerprint:
        raise TuningError(
            f"study {study.study_name!r} in {tune_dir(root, name)} was run with other settings "
            f"(budget {attrs.get('budget')}); delete it or tune with the same --set options"
        )  # fmt: skip
    if "fingerprint" not in attrs:
        for key, value in {"fingerprint": fingerprint, "keys": keys, "ranges": {k: list(v) for k, v in ranges.items()},
                           "budget": _budget(first), "objective": OBJECTIVE, "split": "val"}.items():  # fmt: skip
            study.set_user_attr(key, value)
    trial_root = tune_dir(root, name) / profile / arm
    opts = RunOptions(trial_root, data_dir, wandb="off", accelerator=accelerator, progress=False)

    def objective(trial) -> float:
        values = {k: trial.suggest_float(k, *ranges[k], log=True) for k in keys}
        cells = expand(spec, profile, {**cli, **values}, path)
        exp = Experiment(name=name, profile=profile, path=path, spec=spec, cells=cells)
        trial.set_user_attr("run_id", cells[0].run_id)
        summary = run_cell(exp, cells[0], opts, callbacks=[pruning_callback(trial)])
        diverged = summary["status"] == "diverged"
        trial.set_user_attr("diverged", diverged)
        error = summary["final_val_error"]
        return 1.0 if diverged or not math.isfinite(error) else float(error)

    def report(study, trial) -> None:
        values = ", ".join(f"{k}={v:.3g}" for k, v in trial.params.items())
        if trial.state == optuna.trial.TrialState.COMPLETE:
            outcome = f"val error {100 * trial.value:.2f}%" + (" (diverged)" if trial.user_attrs.get("diverged") else "")
        else:
            outcome = trial.state.name.lower() + (f" at step {trial.user_attrs['pruned_at_step']}"
                                                  if "pruned_at_step" in trial.user_attrs else "")  # fmt: skip
        best = study.best_trial if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) else None
        echo(f"[tune] trial {trial.number}: {values} -> {outcome}"
             + (f"; best so far {100 * best.value:.2f}% (trial {best.number})" if best else ""))  # fmt: skip

    echo(f"[tune] study {study.study_name!r} ({kind}: {tune_dir(root, name) / STORAGE_FILES[kind]}), "
         f"{len(study.trials)} trials so far; searching {', '.join(f'{k} in [{lo:g}, {hi:g}] (log)' for k, (lo, hi) in ranges.items())}; "  # noqa: E501
         f"budget {_budget(first)}; objective: {OBJECTIVE}")  # fmt: skip
    study.optimize(objective, n_trials=trials, callbacks=[report], catch=(RuntimeError,))
    return study


# ----------------------------------------------------------------------------- reading results
def load_study(root: str | Path, experiment: str, profile: str, arm: str):
    """The arm's study from whichever storage holds it (the one with more finished trials if both
    do), or None."""
    import optuna

    _quiet_optuna()
    found = []
    for kind, filename in STORAGE_FILES.items():
        if not (tune_dir(root, experiment) / filename).exists():
            continue
        try:
            study = optuna.load_study(study_name=study_name(experiment, profile, arm),
                                      storage=open_storage(root, experiment, kind))  # fmt: skip
        except KeyError:  # no such study in this storage
            continue
        done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
        found.append((done, kind, study))
    return max(found, key=lambda f: f[0])[2] if found else None


def best_params(root: str | Path, experiment: str, profile: str, arm: str) -> dict[str, float] | None:
    """{dotted key: best value} of the arm's study, or None if it has no finished trial."""
    study = load_study(root, experiment, profile, arm)
    if study is None or not _completed(study):
        return None
    return dict(study.best_trial.params)


def _completed(study) -> list:
    import optuna

    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def tuned_values(root: Path, path: Path, experiment: str, profile: str, arm: str, keys: list[str]) -> dict:
    """The record ablate.experiment uses for an arm whose `keys` are 'tuned': values and provenance.
    Raises ExperimentError naming the command to run when there is no usable study."""
    from ablate.experiment import ExperimentError

    command = f"python -m ablate tune {experiment} --arm {arm} --profile {profile} --trials 20"
    if root != Path("results"):
        command += f" --results-dir {root}"
    study = load_study(root, experiment, profile, arm)
    if study is None or not _completed(study):
        where = "no study" if study is None else "a study with no finished trial"
        raise ExperimentError(
            f"{path}: arm {arm!r}: {', '.join(keys)} is 'tuned' but there is {where} "
            f"{study_name(experiment, profile, arm)!r} under {tune_dir(root, experiment)}; run `{command}`"
        )
    best = study.best_trial
    missing = [k for k in keys if k not in best.params]
    if missing:
        raise ExperimentError(
            f"{path}: arm {arm!r}: {', '.join(missing)} is 'tuned' but study "
            f"{study.study_name!r} searched only {', '.join(best.params)}; tune it again in a fresh results dir"
        )  # fmt: skip
    states = [t.state.name.lower() for t in study.trials]
    return {
        "values": {k: best.params[k] for k in keys},
        "study": study.study_name,
        "storage": str(tune_dir(root, experiment)),
        "best_trial": best.number,
        "best_val_error": best.value,
        "trials": {s: states.count(s) for s in sorted(set(states))},
        "budget": study.user_attrs.get("budget"),
        "ranges": study.user_attrs.get("ranges"),
        "split": study.user_attrs.get("split", "val"),
    }


def describe_tuned(spec: dict) -> list[str]:
    """Report notes for the tuned values an experiment used (spec['_tuned'], set by load_experiment)."""
    notes = []
    for arm, rec in (spec.get("_tuned") or {}).items():
        values = ", ".join(f"{k} = {v:.4g}" for k, v in rec["values"].items())
        trials = ", ".join(f"{n} {s}" for s, n in rec["trials"].items())
        b = rec.get("budget") or {}
        notes.append(
            f"Tuned, arm `{arm}`: {values} — best of Optuna study `{rec['study']}` ({trials} trials; "
            f"search ranges {rec.get('ranges')}, log-uniform), each trial {b.get('max_steps')} steps of "
            f"batch {b.get('batch_size')} on {b.get('dataset')} seed {b.get('seed')}, scored on the "
            f"{rec['split']} split (best {100 * rec['best_val_error']:.2f}% validation error); the test "
            "set was not used for tuning."
        )
    return notes
