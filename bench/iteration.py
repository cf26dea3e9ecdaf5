"""A whole training iteration of the scaled recipe against the model's step alone.

Issue 24's goal for runs per CPU-hour: with the render cache (``data.cache_dir``), loading a
batch (reading 16 scenes, random scale, crop, flip, normalise, collate), the learning-rate
schedule and the loop's bookkeeping should add at most 15% to the model's step (forward,
loss, backward, SGD on the same batch shape). Measured here in one process with one torch
thread, on the scaled recipe's base config (``atrous/configs/scaled.toml``):

- **whole iteration**: :func:`atrous.training.loop.train` run twice, for ``--short`` and
  ``--long`` iterations from the same start (the render cache filled and hot beforehand);
  the difference of the wall times over the difference of the iterations is one iteration
  with everything the loop does, and the setup (model, pre-trained backbone, first
  checkpoint) cancels out;
- **loading**: drawing the same number of batches as the whole iteration's difference
  covers from the loop's own loader (:func:`atrous.training.loop.training_loader`: the
  cache, the recipe's transform, one process), as a fraction of the model step. It
  is the largest part of the overhead and, unlike the ratio of two wall times taken minutes
  apart, it does not move with the machine's speed between them;
- **model step**: :func:`atrous.experiments.allocation.step_seconds`, the same network's
  step on random crops of the recipe's batch and crop size, twice: the fastest of 5 (the
  headline ratio, as measured since the goal was set) and the mean of as many steps as the
  whole iteration's difference covers (``--long`` - ``--short``). The whole iteration is a
  mean, so the second ratio compares like with like; the first also charges the loop
  with the machine's slow spells.

The same model step took 0.35 to 0.44 s on this idle 2-core machine within minutes, so both are
measured ``--repeats`` times in turn and the median of the ratios is the result. Run:
``taskset -c 1 python bench/iteration.py`` (about a minute a repeat, more the first time, when the
cache is rendered). Writes nothing but its temporary run folders.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

import torch

from atrous.experiments.allocation import step_seconds
from atrous.experiments.provenance import cpu_model, git_commit
from atrous.recipe.config import load_config
from atrous.recipe.configs import recipe_path
from atrous.recipe.datasets import build_dataset
from atrous.training.loop import train, training_loader
from atrous.training.sample_stream import IterationSampler
from atrous.training.start import training_set


def whole_iteration(config, short: int, long: int) -> float:
    """Seconds of one iteration of the training loop (see the module docstring)."""
    walls = []
    for iterations in (short, long):
        changed = dataclasses.replace(config, train=dataclasses.replace(
            config.train, iterations=iterations, checkpoint_every=10_000))  # fmt: skip
        with tempfile.TemporaryDirectory() as run_dir:
            tic = time.perf_counter()
            train(changed, run_dir, progress=False)
            walls.append(time.perf_counter() - tic)
    return (walls[1] - walls[0]) / (long - short)


def load_seconds(config, batches: int) -> float:
    """Seconds to draw one batch with the training loop's own loader (mean over ``batches``)."""
    dataset, _ = training_set(config, None, False)
    sampler = IterationSampler(0, batches, config.train.batch_size, 0, 1)
    loader = training_loader(config, dataset, None, sampler, torch.device("cpu"))
    tic = time.perf_counter()
    for _ in loader:
        pass
    return (time.perf_counter() - tic) / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", type=int, default=5, help="iterations of the short run")
    parser.add_argument("--long", type=int, default=45, help="iterations of the long run")
    parser.add_argument("--repeats", type=int, default=3, help="measurements of both, in turn")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(recipe_path("scaled"))
    build_dataset(config.data, config.data.train_split)  # render the cache once, if needed
    print(f"CPU: {cpu_model()}; torch threads 1; commit {git_commit()[:12]}; scaled recipe "
          f"(batch {config.train.batch_size}, crop {config.data.crop_size}, cache "
          f"{config.data.cache_dir or 'off'})")  # fmt: skip
    ratios, mean_ratios, loads = [], [], []
    for _ in range(args.repeats):  # in turn, so that a slow spell of the machine hits both
        whole = whole_iteration(config, args.short, args.long)
        model = step_seconds(config, repeats=5)
        mean = step_seconds(config, repeats=args.long - args.short, statistic=statistics.mean)
        load = load_seconds(config, args.long - args.short)
        ratios.append(whole / model)
        mean_ratios.append(whole / mean)
        loads.append(load / mean)
        print(f"whole iteration {whole:.3f} s, model step {model:.3f} s (fastest of 5): ratio "
              f"{whole / model:.2f}x; model step {mean:.3f} s (mean of "
              f"{args.long - args.short}): ratio {whole / mean:.2f}x; loading a batch "
              f"{load:.3f} s, {100 * load / mean:.1f}% of the mean step", flush=True)  # fmt: skip
    print(f"median ratio {statistics.median(ratios):.2f}x against the fastest step, "
          f"{statistics.median(mean_ratios):.2f}x against the mean step, over {len(ratios)} "
          f"(goal <= 1.15x); loading a batch: median {100 * statistics.median(loads):.1f}% "
          f"of the mean step")  # fmt: skip


if __name__ == "__main__":
    main()
