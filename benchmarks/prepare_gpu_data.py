"""Copy the data the GPU check needs into the checkout: the CIFAR-10 subset and nothing else.

    python -m benchmarks.prepare_gpu_data [SOURCE] [--dest DIR]

SOURCE: a data folder holding cifar-10-batches-py/ (default ../shared/data, beside the checkout).
DIR: default gpu-check-data/ in the checkout (git-ignored), which benchmarks/gpu_check.py reads. A
GPU machine gets a copy of the checkout only, so the data must travel inside it. Each file is
checked against SOURCE/MD5SUMS when that lists it, and the copy against the source.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "data"
DEFAULT_DEST = REPO / "gpu-check-data"
SUBSET = "cifar-10-batches-py"
FILES = ("batches.meta", "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def listed_md5s(source: Path) -> dict[str, str]:
    """{file name: md5} of the subset's files in SOURCE/MD5SUMS ('<md5>  ./cifar-10-batches-py/<name>')."""
    sums = source / "MD5SUMS"
    if not sums.is_file():
        return {}
    out = {}
    for line in sums.read_text().splitlines():
        value, _, name = line.partition("  ")
        parts = Path(name.strip()).parts
        if len(parts) >= 2 and parts[-2] == SUBSET:
            out[parts[-1]] = value.strip()
    return out


def prepare(source: Path, dest: Path) -> Path:
    """Copy SOURCE/cifar-10-batches-py to DEST/cifar-10-batches-py, checked; returns the copy."""
    src = source / SUBSET
    missing = [f for f in FILES if not (src / f).is_file()]
    if missing:
        raise SystemExit(f"prepare_gpu_data: {src}: missing {', '.join(missing)}")
    expected = listed_md5s(source)
    out = dest / SUBSET
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        got = md5(src / name)
        if name in expected and got != expected[name]:
            raise SystemExit(f"prepare_gpu_data: {src / name}: md5 {got}, MD5SUMS says {expected[name]}")
        shutil.copyfile(src / name, out / name)
        if md5(out / name) != got:
            raise SystemExit(f"prepare_gpu_data: the copy {out / name} differs from its source")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source", nargs="?", default=str(DEFAULT_SOURCE), help="data folder (default ../shared/data)")
    p.add_argument("--dest", default=str(DEFAULT_DEST), help="where the copy goes (default gpu-check-data/)")
    args = p.parse_args(argv)
    out = prepare(Path(args.source), Path(args.dest))
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    print(f"prepare_gpu_data: {len(FILES)} files, {size:.1f} MiB in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
