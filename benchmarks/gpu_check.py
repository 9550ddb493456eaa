"""Every GPU number ablate claims, measured in one call of at most 8 minutes on one GPU.

    python -m benchmarks.prepare_gpu_data     # once, beside ../shared/data: the CIFAR-10 subset -> gpu-check-data/
    python -m benchmarks.gpu_check            # on the GPU machine; results in $OUT (else ./gpu-check-out)
    python -m benchmarks.gpu_check --dry      # every step on the CPU at tiny sizes (tests/test_gpu_check.py)

Needs only the checkout and its git-ignored gpu-check-data/ folder: no network, no wandb, no optuna
(--wandb off everywhere). Before anything runs it checks CUDA, the data folder and the packages
and fails with one line per missing piece. Then it runs each step below as a subprocess in its own
process group under a time limit (printed before the step; the step is killed with every worker it
started when the limit passes, and skipped when the time left is short), and rewrites
results.json after every step, so a call cut short still returns what was measured:

  env          torch, CUDA, the GPU, the driver
  syncs        host syncs per training step for 32-true, bf16-mixed, bf16-true and 16-mixed, from
               step 2 to 50 across an epoch boundary (tests/test_throughput.py; the no-sync claim is
               the first three)
  bench        ablate/raw per-step time (median of 3 alternating rounds), the fixed cost of a cell,
               bf16-mixed / channels_last / compile (`python -m ablate bench`)
  packing      images/s of 1 and K packed runs of ResNet-20/56/110, the projected GPU-hours of the
               degradation paper grid (`python -m ablate bench --packing-only`)
  erasing      Random Erasing at batch 4,096: timm's per-image loop against the batched draw
  determinism  two runs with train.deterministic on, two with it off: bit-identical or not
  layout       the ConvNeXt roadmap net's step in NCHW and channels-last on the GPU
  slice        plain and residual 20/56/110 of the degradation paper profile, 300 steps, packed
               6 to the GPU through `ablate run --runs-per-gpu` (the executor's real path)

CUDA MPS: started once, before the first packed step, when nvidia-cuda-mps-control exists (a
private pipe directory), stopped at the end; time-slicing otherwise. The steps after packing run
under it too.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
REQUIRED = ("torch", "lightning", "pandas", "scipy", "timm", "seaborn", "matplotlib", "sklearn", "pytest", "yaml")
DATA_FILES = ("batches.meta", "data_batch_1", "test_batch")  # the subset's loader needs at least these
BUDGET_S = 450  # the whole call: under the 8-minute limit, with room to start Python and copy back
RESERVE_S = 10  # kept back for the last results.json and the MPS shutdown
PACK_K = 8


@dataclass
class Step:
    name: str
    budget_s: int  # time limit on the GPU (DRY: x DRY_SLOWDOWN)
    argv: list[str]
    numbers: str | None = None  # the JSON file (in the output folder) the step writes its numbers to
    env: dict = field(default_factory=dict)
    mps: bool = False  # the step packs processes on the GPU: start MPS first (once)
    optional: bool = False  # skipped, not failed, when too little time is left


DRY_SLOWDOWN = 4  # DRY mode's limits: a shared 2-core CPU, not a 16-core GPU host


def plan(dry: bool, data: Path, out: Path, pack_k: int) -> list[Step]:
    """The steps in order of importance: what the issue asks for first, the extras last."""
    dev = ["--device", "cpu"] if dry else ["--device", "cuda"]
    tiny = ["--batch", "16", "--width", "4", "--depth", "8"]
    bench = ["--rounds", "1", "--steps", "3", "--warmup", "1", *tiny] if dry else ["--rounds", "3", "--steps", "50"]
    pack = ["--steps", "2", "--warmup", "1", *tiny, "--pack-k", "2", "--pack-depths", "8"]
    if not dry:
        pack = ["--steps", "40", "--warmup", "10", "--pack-k", str(pack_k), "--pack-depths", "20,56,110"]
    return [
        Step("env", 40, [PY, "-m", "benchmarks.gpu_check", "--probe", str(out / "env.json")], "env.json"),
        Step(
            "syncs",
            90,
            [PY, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/test_throughput.py"]
            + ["-k", "never_wait_for_the_device"],
            "syncs.json",
            env={"ABLATE_SYNC_REPORT": str(out / "syncs.json")},
        ),
        Step(
            "bench",
            140,
            [PY, "-m", "ablate", "bench", *dev, "--data-dir", str(data), *bench, "--packing", "off"]
            + ["--json", str(out / "bench.json")],
            "bench.json",
        ),
        Step(
            "packing",
            120,
            [PY, "-m", "ablate", "bench", "--packing-only", *dev, "--data-dir", str(data), *pack]
            + ["--json", str(out / "packing.json")],
            "packing.json",
            mps=True,
        ),
        Step(
            "erasing",
            30,
            [PY, "-m", "benchmarks.random_erasing", *dev, *(["--batch", "256", "--side", "16"] if dry else [])]
            + ["--json", str(out / "erasing.json")],
            "erasing.json",
            optional=True,
        ),
        Step(
            "determinism",
            60,
            [PY, "-m", "benchmarks.determinism", *dev, "--steps", "4" if dry else "200"]
            + ["--json", str(out / "determinism.json")],
            "determinism.json",
            optional=True,
        ),
        Step(
            "layout",
            45,
            [PY, "-m", "benchmarks.convnext_cpu_step", *dev, *(["--timed", "1"] if dry else [])]
            + ["--json", str(out / "layout.json")],
            "layout.json",
            optional=True,
        ),
        _slice(dry, data, out),
    ]


def _slice(dry: bool, data: Path, out: Path) -> Step:
    """Six arms of the degradation paper profile, packed through the executor (a copy of the
    experiment with one more profile, beside the others: claims name the profiles they are about)."""
    import yaml

    spec = yaml.safe_load((REPO / "experiments" / "degradation.yaml").read_text())
    prof = dict(spec["profiles"]["paper"])
    prof["only_arms"] = [f"{kind}-{d}" for kind in ("plain", "residual") for d in (20, 56, 110)]
    prof["seeds"] = [0]
    spec["profiles"]["gpu-slice"], spec["default_profile"] = prof, "gpu-slice"
    path = out / "slice" / "degradation.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    # The 8,068-image subset: the profile's 5,000 validation images would leave ~3,000 to train.
    sets = ["train.max_steps=300", "train.eval_every=300", "train.checkpoint_every=300", "data.val_size=0.1"]
    place = ["--accelerator", "gpu", "--runs-per-gpu", "6", "--data-dir", str(data)]
    env = {}
    if dry:
        sets = ["train.max_steps=4", "train.log_every=2", "train.eval_every=4", "train.checkpoint_every=4"]
        sets += ["data.name=digits", "data.batch_size=16", "model.width=4", "data.val_size=0.1"]
        place = ["--accelerator", "cpu", "--runs-per-gpu", "2"]
        env = {"CUDA_VISIBLE_DEVICES": "0"}  # a fake GPU id: the packing machinery runs, the CPU trains
    argv = [PY, "-m", "ablate", "run", str(path), "--profile", "gpu-slice", *(a for s in sets for a in ("--set", s))]
    argv += [*place, "--results-dir", str(out / "slice" / "results"), "--wandb", "off", "--no-progress"]
    return Step("slice", 120, argv + ["--no-analysis"], None, env=env, mps=True, optional=True)


# ----------------------------------------------------------------------------- before anything runs
def missing_pieces(dry: bool, data: Path) -> list[str]:
    """One line per thing the check needs and does not have; empty when it can run."""
    lines = [f"package {name} is not installed" for name in REQUIRED if importlib.util.find_spec(name) is None]
    subset = data / "cifar-10-batches-py"
    absent = [f for f in DATA_FILES if not (subset / f).is_file()]
    if absent:
        lines.append(
            f"data folder {subset} lacks {', '.join(absent)}: run `python -m benchmarks.prepare_gpu_data` "
            f"where ../shared/data is, and bring gpu-check-data/ with the checkout"
        )
    if not dry and not lines:  # torch imports: ask it about CUDA (a few seconds)
        probe = subprocess.run(
            [PY, "-c", "import torch; print(torch.cuda.is_available())"], capture_output=True, text=True
        )
        if probe.stdout.strip() != "True":
            lines.append(f"no CUDA device: torch.cuda.is_available() is {probe.stdout.strip() or probe.stderr[-200:]}")
    return lines


def probe(path: Path) -> None:
    """The env step: what this machine is, as JSON."""
    import torch

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    info["cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {
            "gpu": props.name,
            "gpu_memory_gib": props.total_memory / 2**30,
            "capability": [props.major, props.minor],
        }
    smi = shutil.which("nvidia-smi")
    if smi:
        query = [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        info["nvidia_smi"] = subprocess.run(query, capture_output=True, text=True, timeout=20).stdout.strip()
    path.write_text(json.dumps(info, indent=2))
    print(json.dumps(info))


# ----------------------------------------------------------------------------- running the steps
class Mps:
    """The CUDA MPS control daemon: started at most once, only where its binary exists and a CUDA
    context then opens under it, stopped at exit."""

    def __init__(self):
        self.exe, self.env, self.state = shutil.which("nvidia-cuda-mps-control"), None, None

    def ensure(self) -> str:
        if self.state is None:
            self.state = self._start()
        return self.state

    def _start(self) -> str:
        if self.exe is None:
            return "time-slicing (no nvidia-cuda-mps-control)"
        root = Path(tempfile.mkdtemp(prefix="mps-"))  # short: the daemon's socket path is limited
        env = {"CUDA_MPS_PIPE_DIRECTORY": str(root / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(root / "log")}
        for d in env.values():
            Path(d).mkdir()
        try:
            started = subprocess.run([self.exe, "-d"], env={**os.environ, **env}, timeout=20, capture_output=True)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"time-slicing (MPS did not start: {e})"
        if started.returncode != 0:
            return f"time-slicing (MPS did not start: exit {started.returncode})"
        self.env = env
        if not self._serves():  # a daemon whose server cannot start would fail every packed step
            self.stop()
            return "time-slicing (MPS started but a CUDA context under it failed)"
        return "CUDA MPS"

    def _serves(self) -> bool:
        """Whether a CUDA context opens under the daemon (on a machine without CUDA: trivially)."""
        check = "import torch; torch.zeros(1, device='cuda').sum().item() if torch.cuda.is_available() else None"
        try:
            done = subprocess.run([PY, "-c", check], env={**os.environ, **self.env}, timeout=120, capture_output=True)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def stop(self) -> None:
        if self.env is None:
            return
        env, self.env = self.env, None
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):  # bounded: an exit never hangs on it
            subprocess.run([self.exe], input="quit\n", text=True, env={**os.environ, **env}, timeout=10)


LIVE: set[int] = set()  # process groups of the running steps


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, signal.SIGKILL)
    LIVE.discard(pgid)


def run_step(argv: list[str], limit_s: float, log: Path, env: dict) -> tuple[str, float, int | None]:
    """(ok | failed | timeout, seconds, exit code): argv in its own process group, output to log;
    the whole group is killed when it ends, fails or runs out of time (no worker outlives it)."""
    t0 = time.monotonic()
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        LIVE.add(proc.pid)
        try:
            code = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait(timeout=10)
            return "timeout", time.monotonic() - t0, None
        finally:
            kill_group(proc.pid)
    return ("ok" if code == 0 else "failed"), time.monotonic() - t0, code


def step_env(step: Step, dry: bool, mps: Mps) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    if dry:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU, even on a machine with a GPU
    if step.mps:
        mps.ensure()
    if mps.env is not None:  # once started, every later step runs under it
        env.update(mps.env)
    return {**env, **step.env}


def numbers_of(step: Step, out: Path) -> dict | None:
    """What a step measured: its JSON file (written as it went), or for the slice its summaries."""
    if step.numbers is not None:
        path = out / step.numbers
        return json.loads(path.read_text()) if path.is_file() else None
    runs = sorted((out / "slice" / "results").glob("degradation/*/summary.json"))
    keys = ("arm", "status", "steps", "wall_time_s", "final_test_error", "device")
    return {s["arm"]: {k: s.get(k) for k in keys} for s in (json.loads(p.read_text()) for p in runs)} or None


class Record:
    """results.json, rewritten (atomically) after every change."""

    def __init__(self, path: Path, args: argparse.Namespace):
        self.path = path
        self.data = {
            "command": " ".join([Path(PY).name, "-m", "benchmarks.gpu_check", *sys.argv[1:]]),
            "dry": args.dry,
            "budget_s": args.budget,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "steps": {},
        }

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        os.replace(tmp, self.path)


def run_all(args: argparse.Namespace, out: Path, record: Record, mps: Mps) -> bool:
    """Each step within its limit and the time left; results.json after each. True: every
    required step succeeded."""
    deadline = time.monotonic() + args.budget
    ok = True
    for step in plan(args.dry, Path(args.data_dir), out, args.pack_k):
        budget = step.budget_s * (DRY_SLOWDOWN if args.dry else 1)
        limit = min(budget, deadline - time.monotonic() - RESERVE_S)
        entry = record.data["steps"][step.name] = {"budget_s": budget, "limit_s": round(limit, 1)}
        if limit < min(30, budget / 2):
            entry["status"] = "skipped: not enough time left"
            ok &= step.optional
            say(f"{step.name}: skipped, {limit:.0f} s left of the call's {args.budget} s")
            record.save()
            continue
        env = step_env(step, args.dry, mps)
        if step.mps:
            entry["sharing"] = record.data["sharing"] = mps.ensure()
        say(f"{step.name}: time limit {limit:.0f} s (budget {budget} s): {' '.join(step.argv[1:])}")
        status, seconds, code = run_step(step.argv, limit, out / f"{step.name}.log", env)
        entry |= {"status": status, "seconds": round(seconds, 1), "exit": code, "log": f"{step.name}.log"}
        entry["numbers"] = numbers_of(step, out)
        ok &= status == "ok" or step.optional
        say(f"{step.name}: {status} in {seconds:.0f} s")
        record.save()
    return ok


def say(message: str) -> None:
    print(f"[gpu_check] {time.strftime('%H:%M:%S')} {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.environ.get("OUT") or str(REPO / "gpu-check-out"), help="results folder")
    p.add_argument("--data-dir", default=str(REPO / "gpu-check-data"), help="holds cifar-10-batches-py/")
    p.add_argument("--dry", action="store_true", help="every step on the CPU at tiny sizes")
    p.add_argument("--budget", type=int, default=BUDGET_S, help=f"seconds for the whole call (default {BUDGET_S})")
    p.add_argument("--pack-k", type=int, default=PACK_K, help=f"packed runs per GPU (default {PACK_K})")
    p.add_argument("--probe", help=argparse.SUPPRESS)  # the env step
    args = p.parse_args(argv)
    if args.probe:
        probe(Path(args.probe))
        return 0
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    record = Record(out / "results.json", args)
    missing = missing_pieces(args.dry, Path(args.data_dir))
    if missing:
        for line in missing:
            print(f"[gpu_check] missing: {line}", file=sys.stderr)
        record.data["missing"] = missing
        record.save()
        return 2
    mps = Mps()
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # run the cleanup below on a kill
    try:
        ok = run_all(args, out, record, mps)
    finally:
        for pgid in list(LIVE):
            kill_group(pgid)
        mps.stop()
        record.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        record.save()
    say(f"done: {'every required step ok' if ok else 'a required step failed'}; {out / 'results.json'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
