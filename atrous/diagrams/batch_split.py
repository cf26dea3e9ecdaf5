"""The global batch of one iteration, dealt out to data-parallel processes (``torchrun``).

Iteration ``i`` trains on samples ``i * batch .. i * batch + batch - 1`` of the data stream
whatever the number of processes, and process ``rank`` of ``world`` takes every
``world``-th of them (:class:`atrous.training.sample_stream.IterationSampler`).
:func:`draw_batch_split` asks the sampler itself, for each number of processes, and draws
one row of the batch's samples each, coloured by the process that takes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from atrous.base.errors import AtrousError
from atrous.training.sample_stream import IterationSampler


def batch_split(iteration: int, batch_size: int, world: int) -> list[list[int]]:
    """The sample numbers each of ``world`` processes takes at ``iteration``, by rank."""
    if batch_size % world:
        raise AtrousError(f"{world} processes cannot share a batch of {batch_size} evenly")
    return [next(iter(IterationSampler(iteration, iteration + 1, batch_size, rank, world)))
            for rank in range(world)]  # fmt: skip


def draw_batch_split(
    ax: Axes, iteration: int = 3, batch_size: int = 16, worlds: Sequence[int] = (1, 2, 4)
) -> dict[int, list[list[int]]]:
    """One row per number of processes: the batch's samples, coloured by the process that
    takes each; return the split by number of processes."""
    splits = {world: batch_split(iteration, batch_size, world) for world in worlds}
    first = iteration * batch_size
    owner = np.zeros((len(worlds), batch_size), dtype=int)  # (rows, samples): the rank
    for row, world in enumerate(worlds):
        for rank, samples in enumerate(splits[world]):
            owner[row, np.asarray(samples) - first] = rank
    colours = np.array([[0.70, 0.80, 0.95], [1.0, 0.80, 0.55], [0.75, 0.90, 0.70],
                        [0.95, 0.70, 0.75], [0.85, 0.75, 0.95], [0.95, 0.90, 0.60]])  # fmt: skip
    ax.imshow(colours[owner % len(colours)], aspect="auto", interpolation="nearest")
    for row in range(len(worlds)):
        for column in range(batch_size):
            ax.text(column, row, str(first + column), ha="center", va="center", fontsize=8)
    ax.set_xticks(np.arange(-0.5, batch_size), minor=True)
    ax.set_yticks(np.arange(-0.5, len(worlds)), minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="both", length=0)
    ax.set_xticks([])
    ax.set_yticks(range(len(worlds)), [f"{w} process{'es' if w > 1 else ''}" for w in worlds])
    ax.set_title(f"iteration {iteration}: samples {first} to {first + batch_size - 1} of the "
                 f"data stream, by the process that takes each", fontsize=10)  # fmt: skip
    ranks = max(worlds)
    ax.legend(handles=[Patch(facecolor=colours[r % len(colours)], label=f"rank {r}")
                       for r in range(ranks)], loc="upper center", bbox_to_anchor=(0.5, -0.02),
              ncol=ranks, fontsize=8, frameon=False)  # fmt: skip
    return splits
