"""Optuna studies on disk, and the tuned values an experiment reads from them.

One study per (experiment, profile, arm), named `<experiment>/<profile>/<arm>`, stored under
`<results_root>/<experiment>/_tune/`: `study.db` (SQLite, the default) or `journal.log` (Optuna's
journal file storage, for a results directory on a shared file system, where SQLite's locking is
unreliable and many SLURM tasks may add trials to one study). This module imports nothing of
ablate above it (the search itself is ablate.tuning), so expanding a grid can look up `tuned`
values without importing the training code; optuna is imported only when a study is opened.
"""

from __future__ import annotations

from pathlib import Path

from ablate import results
from ablate.errors import ExperimentError, UserError

TUNE_DIR = "_tune"
STORAGE_FILES = {"sqlite": "study.db", "journal": "journal.log"}
OBJECTIVE = "final validation error (fraction of the per-seed validation split; never the test set)"
# File systems on which SQLite's locks are not to be trusted: use the journal file instead.
SHARED_FS = {
    "nfs",
    "nfs4",
    "lustre",
    "gpfs",
    "beegfs",
    "cifs",
    "smb3",
    "smbfs",
    "ceph",
    "fuse.sshfs",
    "glusterfs",
    "fuse.glusterfs",
    "panfs",
    "wekafs",
    "fuse.juicefs",
}


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
        # Creating the schema is not safe against a second process doing the same (two arms tuned
        # at once on a fresh results folder failed with "UNIQUE constraint failed:
        # alembic_version"): create it under an exclusive lock; opening an existing one is safe.
        with results.waiting_lock(path.with_name(path.name + ".lock")):
            return optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
    # The open(O_CREAT | O_EXCL) lock works on NFS, where the default symlink lock may not.
    return optuna.storages.JournalStorage(JournalFileBackend(str(path), JournalFileOpenLock(str(path))))


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


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
            study = optuna.load_study(
                study_name=study_name(experiment, profile, arm), storage=open_storage(root, experiment, kind)
            )
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
        )
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
            f"batch {b.get('batch_size')} on {b.get('dataset')} {_seeds_text(b)}, scored on the "
            f"{rec['split']} split (best {100 * rec['best_val_error']:.2f}% validation error); the test "
            "set was not used for tuning."
        )
    return notes


def _seeds_text(budget: dict) -> str:
    seeds = budget.get("seeds") or [budget.get("seed")]
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"seeds {', '.join(map(str, seeds))} (the mean of their validation errors)"
