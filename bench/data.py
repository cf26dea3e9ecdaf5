"""Throughput of the data pipeline: is the data what limits training on 2 cores?

Samples per second, side by side:

- the synthetic generator alone (``SyntheticScenes[i]``, NumPy drawing);
- the training transform of Sec. 4.1 (scale 0.5-2, pad, crop, flip, normalise) at the
  paper's crop 513 on a VOC-sized image (500 x 375) and at the tiny preset's crop 129 on a
  synthetic scene;
- the whole pipeline (generator + transform) through a DataLoader, in the main process
  and with worker processes;
- for comparison, when the model is importable, one training step of the tiny preset
  (forward + backward) per sample at the same crop.

Run: ``python bench/data.py`` (about a minute). ``--quick`` shortens every measurement.

Seen on the shared 2-core machine: with 2 torch threads, the main process's collate
(``torch.stack`` of float images) can take 100+ ms per batch when the other core is busy
(OpenMP waits for it); with 1 thread, or in DataLoader workers (1 thread each), it takes
well under a millisecond. The "0 workers, 1 thread" row shows the difference.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from atrous.data import SyntheticScenes, TrainTransform


def rate(work: Callable[[], int], seconds: float) -> float:
    """Samples per second of ``work`` (which returns how many samples it made)."""
    work()  # warm up (worker start, caches)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += work()
    return done / (time.perf_counter() - start)


def generator_rate(size: int, seconds: float) -> float:
    ds = SyntheticScenes("train", size=size, length=10**6)
    counter = iter(range(10**6))
    return rate(lambda: (ds[next(counter)], 1)[1], seconds)


def transform_rate(image: np.ndarray, label: np.ndarray, crop: int, seconds: float) -> float:
    transform = TrainTransform(crop_size=crop, seed=0)
    return rate(lambda: (transform(image, label), 1)[1], seconds)


def loader_rate(
    size: int, crop: int, workers: int, batch: int, seconds: float, threads: int = 0
) -> float:
    """Samples/s through a DataLoader; ``threads`` > 0 sets torch's threads meanwhile."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _loader_rate(size, crop, workers, batch, seconds)
    finally:
        torch.set_num_threads(previous)


def _loader_rate(size: int, crop: int, workers: int, batch: int, seconds: float) -> float:
    ds = SyntheticScenes("train", size=size, length=10**6, transform=TrainTransform(crop, seed=0))
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch, num_workers=workers, persistent_workers=workers > 0
    )
    batches = iter(loader)
    return rate(lambda: len(next(batches)[0]), seconds)


def model_rate(crop: int, batch: int, seconds: float) -> float | None:
    try:
        from atrous.model.deeplabv3 import DeepLabV3
        from atrous.model.presets import get_preset
    except ImportError:
        return None
    model = DeepLabV3(get_preset("tiny", num_classes=SyntheticScenes.num_classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 3, crop, crop)
    y = torch.randint(0, SyntheticScenes.num_classes, (batch, crop, crop))

    def step() -> int:
        loss = torch.nn.functional.cross_entropy(model(x), y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return batch

    return rate(step, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurements")
    parser.add_argument("--size", type=int, default=128, help="synthetic image side")
    parser.add_argument("--crop", type=int, default=129, help="the tiny crop")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else 4.0
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    voc_like = SyntheticScenes("train", size=500, length=1).sample(0)
    voc_image, voc_label = voc_like.image[:375], voc_like.label[:375]  # (375, 500)
    scene = SyntheticScenes("train", size=args.size, length=1).sample(0)

    rows = [
        (f"synthetic generator, {args.size}x{args.size}", generator_rate(args.size, seconds)),
        ("TrainTransform crop 513 on 500x375", transform_rate(voc_image, voc_label, 513, seconds)),
        (
            f"TrainTransform crop {args.crop} on {args.size}x{args.size}",
            transform_rate(scene.image, scene.label, args.crop, seconds),
        ),
        (
            f"generator + transform {args.crop}, DataLoader 0 workers",
            loader_rate(args.size, args.crop, 0, 16, seconds),
        ),
        (
            f"generator + transform {args.crop}, DataLoader 0 workers, 1 thread",
            loader_rate(args.size, args.crop, 0, 16, seconds, threads=1),
        ),
        (
            f"generator + transform {args.crop}, DataLoader {args.workers} workers",
            loader_rate(args.size, args.crop, args.workers, 16, seconds),
        ),
        (
            f"generator + transform 513, DataLoader {args.workers} workers",
            loader_rate(args.size, 513, args.workers, 4, seconds),
        ),
    ]
    model = model_rate(args.crop, 16, seconds)
    if model is not None:
        rows.append((f"tiny model train step, crop {args.crop} (for comparison)", model))
    base = rows[0][1]
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'what':<58} {'samples/s':>10} {'vs generator':>13}")
    for name, value in rows:
        print(f"{name:<58} {value:>10.1f} {value / base:>12.2f}x")


if __name__ == "__main__":
    main()
