"""Throughput of the image-folder training loader: decoded, augmented images per second.

Times `batches` training batches after 2 warm-up batches (worker start-up and the first file
reads are excluded) and divides by the number of worker processes, since each worker decodes on
one core: the figure to size data.workers per GPU (images/s needed / images/s per worker).
"""

from __future__ import annotations

import time

from ablate.data import build_datamodule


def bench_loader(data_cfg: dict, data_dir=None, batches: int = 20, seed: int = 0) -> dict:

    dm = build_datamodule(data_cfg, seed=seed, data_dir=data_dir)
    loader = dm.train_dataloader()
    it = iter(loader)
    warmup = 2
    n_images, start = 0, None
    for i in range(warmup + batches):
        if i == warmup:
            start = time.perf_counter()
        try:
            x, _ = next(it)
        except StopIteration:  # a small tree: start the next epoch
            it = iter(loader)
            x, _ = next(it)
        if i >= warmup:
            n_images += len(x)
    seconds = time.perf_counter() - start
    workers = data_cfg["workers"]
    rate = n_images / seconds
    return {
        "images_per_s": rate,
        "workers": workers,
        "images_per_s_per_worker": rate / max(1, workers),
        "images": n_images,
        "seconds": seconds,
        "image_size": data_cfg["image_size"],
        "batch_size": data_cfg["batch_size"],
        "rand_augment": data_cfg.get("rand_augment"),
    }
