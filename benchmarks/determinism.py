"""Are two runs of the same cell bit-identical? Trains one small cell twice with train.deterministic
on and twice with it off, on the device given, and compares the two runs of each pair: the final
weights (max |dw|), the metric history and the final errors. On the CPU both pairs agree (one
thread); on a GPU only the deterministic pair is expected to (docs/slurm.md, "What is exact where").

    .venv/bin/python -m benchmarks.determinism [--device cuda] [--steps 200] [--json F]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd
import torch
import yaml

from ablate import results

GRID = {
    "base": {
        "model": {"name": "cifar_resnet", "depth": 20, "width": 16},
        "data": {"name": "digits", "batch_size": 128, "augment": "crop", "pad": 1},
        "train": {"log_every": 10},
    },
    "arms": {"a": {}},
    "seeds": [0],
    "profiles": {"check": {}},
}


def run_pair(tmp: Path, accelerator: str, steps: int, deterministic: bool) -> dict:
    """Two runs of one cell in this process; how far apart they ended."""
    from ablate.experiment import load_experiment
    from ablate.train.run import RunOptions, run_cell

    path = tmp / "determinism.yaml"
    path.write_text(yaml.safe_dump(GRID, sort_keys=False))
    sets = [
        f"train.max_steps={steps}",
        f"train.eval_every={steps}",
        f"train.checkpoint_every={steps}",  # the final weights, compared below
        f"train.deterministic={str(deterministic).lower()}",
    ]
    exp = load_experiment(str(path), "check", sets)
    cell, runs = exp.cells[0], []
    for k in range(2):
        root = tmp / f"{'det' if deterministic else 'default'}-{k}"
        summary = run_cell(exp, cell, RunOptions(root, wandb="off", accelerator=accelerator, progress=False, threads=1))
        run = results.run_dir(root, exp.name, cell.run_id)
        ckpt = torch.load(run / results.CHECKPOINTS / f"step{steps}.ckpt", map_location="cpu", weights_only=True)
        runs.append((summary, pd.read_csv(run / results.METRICS), ckpt["state_dict"]))
    (s0, m0, w0), (s1, m1, w1) = runs
    dw = max((w0[k].double() - w1[k].double()).abs().max().item() for k in w0 if w0[k].is_floating_point())
    finals = [k for k in s0 if k.startswith("final_")]
    return {
        "max_abs_weight_diff": dw,
        "identical_weights": dw == 0.0,
        "identical_metrics": m0.equals(m1),
        "identical_final_errors": all(s0[k] == s1[k] for k in finals),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--json", help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    accelerator = "gpu" if args.device.startswith("cuda") else "cpu"
    out = {"device": args.device, "steps": args.steps}
    with tempfile.TemporaryDirectory(prefix="ablate-determinism-") as tmp:
        for deterministic in (True, False):
            got = out["deterministic" if deterministic else "default"] = run_pair(
                Path(tmp), accelerator, args.steps, deterministic
            )
            print(
                f"[determinism] train.deterministic={deterministic} on {args.device}, {args.steps} steps: two runs "
                f"{'bit-identical' if got['identical_weights'] else 'differ'} (max |dw| {got['max_abs_weight_diff']:.2e}, "
                f"metrics {'equal' if got['identical_metrics'] else 'differ'})"
            )
            if args.json:
                Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
