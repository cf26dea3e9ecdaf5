"""The data of one training iteration: live synthetic scenes against the render cache.

One iteration of the reproductions' recipe (``atrous/configs/reproduce.toml``) loads a
batch of 16 training crops: 16 scenes drawn (``SyntheticScenes[i]``) or read from the
memory-mapped render cache (:class:`atrous.data.render_cache.RenderedSplit`), each through
the recipe's train transform (random scale, crop, flip, normalise), then stacked as the
DataLoader's collate does. Measured at the recipe's 128-pixel scenes (crop 97) and at
256-pixel scenes at scale 2 (crop 193, the same share of the scene), in the main process
with one torch thread. The cache is rendered into a temporary folder (its time is printed
too) and read hot, from the page cache, as it is after the first epoch of a run.

Run: ``taskset -c 1 python bench/render_cache.py`` (about a minute). Writes no files.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from atrous.data.render_cache import RenderedSplit
from atrous.data.synthetic import SyntheticScenes
from atrous.experiments.provenance import cpu_model
from atrous.recipe.config import load_config
from atrous.recipe.datasets import train_transform

RECIPE = Path(__file__).resolve().parent.parent / "atrous" / "configs" / "reproduce.toml"


def batch_times(dataset, transform, batches: int, batch: int, seed: int = 0) -> list[float]:
    """Seconds per batch of ``batch`` random samples through ``transform`` and the collate."""
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(batches):
        indices = rng.choice(len(dataset), batch, replace=False)
        start = time.perf_counter()
        pairs = [transform(*dataset[int(i)]) for i in indices]
        torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
        times.append(time.perf_counter() - start)
    return times


def sample_ms(dataset, count: int = 20) -> float:
    """Median milliseconds of one raw ``dataset[i]`` (no transform)."""
    times = []
    for index in range(count):
        start = time.perf_counter()
        dataset[index]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def compare(size: int, scale: float, crop: int, args: argparse.Namespace) -> None:
    data = dataclasses.replace(load_config(RECIPE).data, crop_size=crop)
    transform = train_transform(data)
    live = SyntheticScenes("train", size=size, scale=scale, length=args.scenes)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        cached = RenderedSplit(live, folder, progress=False)
        render = time.perf_counter() - start
        batch_times(cached, transform, 2, args.batch)  # warm up both
        batch_times(live, transform, 2, args.batch)
        t_live = statistics.median(batch_times(live, transform, args.batches, args.batch))
        t_cached = statistics.median(batch_times(cached, transform, args.batches, args.batch))
        scene, read = sample_ms(live), sample_ms(cached)
    print(f"size {size:3d} scale {scale:g} crop {crop}: batch of {args.batch}: "
          f"live {t_live * 1e3:7.1f} ms, cached {t_cached * 1e3:6.1f} ms, "
          f"ratio live/cached {t_live / t_cached:5.1f}x | one scene: drawn {scene:6.2f} ms, "
          f"read {read:5.3f} ms | rendering {args.scenes} scenes: {render:5.1f} s "
          f"({render / args.scenes * 1e3:.1f} ms each)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=20, help="timed batches per case")
    parser.add_argument("--batch", type=int, default=16, help="the recipe's batch size")
    parser.add_argument("--scenes", type=int, default=400, help="scenes rendered per case")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"CPU: {cpu_model()}; torch threads: {torch.get_num_threads()}; recipe: "
          f"{RECIPE.name} (batch {args.batch}, median of {args.batches} batches)")  # fmt: skip
    for size, scale, crop in ((128, 1.0, 97), (256, 2.0, 193)):
        compare(size, scale, crop, args)


if __name__ == "__main__":
    main()
