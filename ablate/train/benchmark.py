"""`python -m ablate bench`: ablate's training loop against a raw PyTorch loop, measured in one run.

Both loops train the same network (CIFAR ResNet, width 16, batch 128) on the same in-memory batches
(ablate's TrainBatches: the data path is shared, the harness is what differs). They alternate in
rounds, so both see the same machine load, and the result is the median over rounds of
ablate/raw per-step time. The raw loop: forward, cross-entropy, zero_grad, backward, SGD step.
ablate's loop: the real Classifier + Lightning Trainer + MetricsRecorder + StepCheckpoint.

Also measured: the fixed cost of a cell (a `python -m ablate run --cell` subprocess minus its
steps), the speed knobs (bf16 autocast, channels_last, torch.compile) through ablate's loop, and,
with --packing (default on a GPU), images/s of 1 and K concurrent runs of ResNet-20/56/110 and the
GPU-hours of the degradation paper grid projected from them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
import yaml

from ablate import config as C
from ablate.data.datamodule import TrainBatches
from ablate.train.builders import build_callbacks, build_data_and_network, build_module, build_trainer, quiet_lightning
from ablate.train.module import error_rate
from ablate.train.optim import build_optimizer

REPO = Path(__file__).resolve().parents[2]  # the checkout: workers run `python -m ablate...` from it

# The degradation paper grid (He et al. 2015 §4.2): plain and residual nets of these depths,
# 3 seeds, 64,000 steps of 128 images.
PAPER_DEPTHS = (20, 32, 44, 56, 110)
PAPER_NETS_PER_DEPTH = 2
PAPER_SEEDS = 3
PAPER_STEPS = 64_000
PAPER_BATCH = 128


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_config(spec: dict, max_steps: int, knobs: dict | None = None) -> dict:
    """The resolved config of a benchmark cell: the defaults, a CIFAR ResNet of the spec's depth and
    width, constant lr 0.1, no evaluation or checkpoint inside the timed steps."""
    cfg = C.default_config()
    overrides = {
        "model": {"name": "cifar_resnet", "depth": spec["depth"], "width": spec["width"]},
        "data": {
            "name": spec["data"],
            "batch_size": spec["batch"],
            "augment": "crop_flip",
            "pad": 4 if spec["data"] != "digits" else 1,
        },
        "train": {"max_steps": max_steps, "log_every": 10, "eval_every": 0, "checkpoint_every": 100, **(knobs or {})},
    }
    return C.apply_overrides(cfg, overrides)


def build(spec: dict, device, seed: int = 0, knobs: dict | None = None, max_steps: int = 1):
    """(config, datamodule, network) for one measurement, seeded so both loops start from the same weights."""
    cfg = bench_config(spec, max_steps, knobs)
    torch.manual_seed(seed)
    dm, net = build_data_and_network(cfg, seed, spec["data_dir"])
    return cfg, dm, net.to(device)


def _batches(dm, device, batch: int, seed: int):
    """Endless training batches through ablate's own data path (device-resident, batched augment)."""

    t = dm.tensors(device)
    step = [0]
    loader = TrainBatches(
        t["train_x"], t["train_y"], t["mean"], t["std"], batch, "crop_flip", dm.pad, seed, lambda: step[0]
    )
    while True:
        for xy in loader:
            step[0] += 1
            yield xy


def raw_step_time(spec: dict, warmup: int, steps: int) -> float:
    """Seconds per step of a plain PyTorch loop (median-free: total over `steps` after `warmup`)."""
    device = torch.device(spec["device"])
    cfg, dm, net = build(spec, device)
    opt = build_optimizer(net.parameters(), cfg["optim"])
    it = _batches(dm, device, spec["batch"], 0)
    net.train()
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        x, y = next(it)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def ablate_step_time(
    spec: dict, warmup: int, steps: int, knobs: dict | None = None, barrier: tuple[Path, int] | None = None
) -> tuple[float, float]:
    """(seconds per step, wall start of the timed steps) of ablate's real training loop."""
    quiet_lightning()
    device = torch.device(spec["device"])
    cfg, dm, net = build(spec, "cpu", knobs=knobs, max_steps=warmup + steps)
    module = build_module(cfg, net, dm.num_classes, seed=0)
    marks: dict[str, float] = {}

    class Timer(pl.Callback):
        def on_train_batch_end(self, trainer, *a):
            if trainer.global_step == warmup:
                _sync(device)
                if barrier is not None:
                    _wait_at_barrier(*barrier)
                marks["t0"], marks["wall0"] = time.perf_counter(), time.time()
            if trainer.global_step == warmup + steps:
                _sync(device)
                marks["t1"] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        _, _, callbacks = build_callbacks(cfg["train"], Path(tmp))
        accelerator = "gpu" if device.type == "cuda" else "cpu"
        trainer = build_trainer(
            cfg["train"], Path(tmp), [*callbacks, Timer()], accelerator=accelerator, limit_val_batches=0
        )
        trainer.fit(module, datamodule=dm)
    return (marks["t1"] - marks["t0"]) / steps, marks["wall0"]


BARRIER_TIMEOUT_S = 600  # a packed worker gives up on a start signal that never comes


def _wait_at_barrier(folder: Path, index: int) -> None:
    """Wait for the common start; exit if it never comes or the parent is gone (a sibling failed
    and the parent died: no worker is left spinning)."""
    (folder / f"ready-{index}").touch()
    parent, deadline = os.getppid(), time.monotonic() + BARRIER_TIMEOUT_S
    while not (folder / "go").exists():
        if os.getppid() != parent or time.monotonic() > deadline:
            raise SystemExit(f"packed bench worker {index}: no start signal")
        time.sleep(0.01)


def compare(spec: dict, rounds: int, warmup: int, steps: int, log=print) -> dict:
    """Alternate raw and ablate blocks; the order flips each round so neither always goes first."""
    ratios, raws, ours = [], [], []
    for r in range(rounds):
        order = ("raw", "ablate") if r % 2 == 0 else ("ablate", "raw")
        got = {}
        for which in order:
            got[which] = (
                raw_step_time(spec, warmup, steps) if which == "raw" else ablate_step_time(spec, warmup, steps)[0]
            )
        raws.append(got["raw"])
        ours.append(got["ablate"])
        ratios.append(got["ablate"] / got["raw"])
        log(
            f"  round {r + 1}: raw {got['raw'] * 1e3:.1f} ms/step, ablate {got['ablate'] * 1e3:.1f} ms/step, "
            f"ratio {ratios[-1]:.3f}"
        )
    return {
        "raw_s": statistics.median(raws),
        "ablate_s": statistics.median(ours),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


def fixed_cost(spec: dict, per_step_s: float, steps: int, workdir: Path) -> dict:
    """A whole `python -m ablate run --cell 0` of `steps` steps as a user runs it, minus those steps;
    also the bare import time and the final evaluation, measured on their own. One CPU (affinity)."""
    repo = REPO
    one_cpu = _one_cpu_preexec()
    imports = "import torch, lightning.pytorch, ablate.train.run, ablate.data.datamodule, ablate.models"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", imports], cwd=repo, check=True, preexec_fn=one_cpu)
    imports_s = time.perf_counter() - t
    accelerator = "gpu" if spec["device"].startswith("cuda") else "cpu"
    cmd = [
        sys.executable,
        "-m",
        "ablate",
        "run",
        str(_bench_grid(spec, steps, workdir)),
        "--cell",
        "0",
        "--results-dir",
        str(workdir / "results"),
        "--wandb",
        "off",
        "--no-progress",
        "--accelerator",
        accelerator,
        "--devices",
        "1",
    ]
    if spec["data_dir"]:
        cmd += ["--data-dir", spec["data_dir"]]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=repo, check=True, preexec_fn=one_cpu, capture_output=True)
    cell_s = time.perf_counter() - t
    return {
        "cell_s": cell_s,
        "steps": steps,
        "fixed_s": cell_s - steps * per_step_s,
        "imports_s": imports_s,
        "final_eval_s": final_eval_time(spec),
    }


def _bench_grid(spec: dict, steps: int, workdir: Path) -> Path:
    """An experiment file of one cell: the benchmark's config, no evaluation or checkpoint inside."""
    cfg = bench_config(spec, steps)
    train = {**cfg["train"], "checkpoint_every": 0}
    base = {"model": cfg["model"], "data": cfg["data"], "train": train}
    path = workdir / "benchgrid.yaml"
    path.write_text(yaml.safe_dump({"base": base, "arms": {"bench": {}}, "seeds": [0], "profiles": {"bench": {}}}))
    return path


def _one_cpu_preexec():
    cpu = min(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None


@torch.no_grad()
def final_eval_time(spec: dict) -> float:
    """Seconds of the end-of-cell evaluation (train, val and test splits in eval mode)."""
    device = torch.device(spec["device"])
    _, dm, net = build(spec, device)
    t = time.perf_counter()
    for split in ("train", "val", "test"):
        error_rate(net, dm.eval_batches(split, device))
    _sync(device)
    return time.perf_counter() - t


KNOBS = {
    "default": {},
    "bf16-mixed": {"precision": "bf16-mixed"},
    "channels_last": {"channels_last": True},
    "compile": {"compile": True},
}


def knob_times(spec: dict, warmup: int, steps: int, log=print, each=None) -> dict:
    """ablate's loop per-step time with each speed knob on its own, against the default in the same
    run. each(out): called after every knob (the caller saves: a run cut short keeps the others)."""
    out = {}
    for name, k in KNOBS.items():
        try:
            out[name] = ablate_step_time(spec, warmup + (3 if name == "compile" else 0), steps, k)[0]
        except Exception as e:  # a knob this machine cannot run (no bf16 kernels, no compiler)
            out[name] = None
            log(f"  {name}: failed ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
        else:
            base = out.get("default") or out[name]
            log(f"  {name}: {out[name] * 1e3:.1f} ms/step ({out[name] / base:.3f} x default)")
        if each is not None:
            each(out)
    return out


def packed_rate(spec: dict, depth: int, k: int, warmup: int, steps: int, workdir: Path) -> float:
    """Images/s summed over k concurrent worker processes (one device), timed from a common start.
    A worker that fails ends the measurement: the others are killed, none is left waiting."""
    folder = Path(tempfile.mkdtemp(prefix=f"pack{depth}x{k}-", dir=workdir))
    procs = []
    try:
        for i in range(k):
            # One torch thread per worker, whatever k: on a shared 2-core machine a lone worker with 2
            # threads measured 15-40x slower than with 1 (spinning threads fight the other load).
            args = {**spec, "depth": depth, "warmup": warmup, "steps": steps, "folder": str(folder), "index": i}
            cmd = [sys.executable, "-m", "ablate.train.benchmark", json.dumps({**args, "threads": 1})]
            procs.append(subprocess.Popen(cmd, cwd=REPO))
        _start_together(procs, folder, f"depth {depth}, K={k}")
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError(f"a packed bench worker failed (depth {depth}, K={k}, exit {p.returncode})")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    res = [json.loads((folder / f"result-{i}.json").read_text()) for i in range(k)]
    start, end = min(r["wall0"] for r in res), max(r["wall0"] + r["step_s"] * steps for r in res)
    return k * steps * spec["batch"] / (end - start)


def _start_together(procs: list, folder: Path, what: str) -> None:
    """Wait until every worker is at the barrier (built, warmed up), then let them all go."""
    while len(list(folder.glob("ready-*"))) < len(procs):
        if any(p.poll() not in (None, 0) for p in procs):
            raise RuntimeError(f"a packed bench worker failed before the start ({what})")
        time.sleep(0.02)
    (folder / "go").touch()


def project_paper_hours(rates: dict[int, float]) -> float:
    """GPU-hours of the degradation paper grid from measured images/s per depth (per-image time
    interpolated linearly in depth between measured depths; evaluations not counted, ~2%)."""
    depths = sorted(rates)
    per_image = {d: 1.0 / rates[d] for d in depths}

    def at(d: int) -> float:
        if d in per_image:
            return per_image[d]
        lo = max([x for x in depths if x < d], default=depths[0])
        hi = min([x for x in depths if x > d], default=depths[-1])
        if lo == hi:
            return per_image[lo] * d / lo
        return per_image[lo] + (per_image[hi] - per_image[lo]) * (d - lo) / (hi - lo)

    images_per_run = PAPER_STEPS * PAPER_BATCH
    seconds = sum(at(d) * images_per_run * PAPER_SEEDS * PAPER_NETS_PER_DEPTH for d in PAPER_DEPTHS)
    return seconds / 3600


def _worker(args: dict) -> None:
    torch.set_num_threads(args["threads"])
    step_s, wall0 = ablate_step_time(args, args["warmup"], args["steps"], barrier=(Path(args["folder"]), args["index"]))
    (Path(args["folder"]) / f"result-{args['index']}.json").write_text(json.dumps({"step_s": step_s, "wall0": wall0}))


if __name__ == "__main__":  # a packed-throughput worker: python -m ablate.train.benchmark JSON
    _worker(json.loads(sys.argv[1]))
