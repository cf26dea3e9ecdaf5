"""Batch norm's statistics against the batch size (Sec. 4.1, Tab. 9).

In training, batch norm normalises a feature by the mean and variance of the batch at hand,
not of the data. :func:`batch_statistics` draws many batches of each size from the values a
feature takes on single images (with replacement) and records each batch's mean and its
variance (the biased one, which batch norm divides by); :func:`draw_batch_statistics` shows
how far they stray from the values' own mean and variance. The spread of the batch mean
falls as ``1 / sqrt(batch)``: a batch of 4 strays twice as far as one of 16.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes

from atrous.base.errors import AtrousError


@dataclass(frozen=True)
class BatchStatistics:
    """The statistics of ``draws`` batches of ``batch_size`` values."""

    batch_size: int
    means: np.ndarray  # (draws,): each batch's mean
    variances: np.ndarray  # (draws,): each batch's variance, biased (what BN divides by)


def batch_statistics(
    values: np.ndarray, batch_sizes: Sequence[int], draws: int = 2000, seed: int = 0
) -> list[BatchStatistics]:
    """For each batch size, the mean and variance of ``draws`` batches drawn from ``values``
    (one value a feature takes per image; drawn with replacement, seeded by ``seed``)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < 2 or min(batch_sizes, default=0) < 1:
        raise AtrousError(f"need at least two values and batch sizes >= 1, got {values.size} "
                          f"values, batch sizes {tuple(batch_sizes)}")  # fmt: skip
    rng = np.random.default_rng(seed)
    out = []
    for batch in batch_sizes:
        batches = values[rng.integers(0, values.size, size=(draws, batch))]  # (draws, batch)
        out.append(BatchStatistics(batch, batches.mean(1), batches.var(1)))
    return out


def draw_batch_statistics(
    axes: Sequence[Axes], stats: Sequence[BatchStatistics], values: np.ndarray
) -> None:
    """Two panels: the batch means by batch size, around the values' mean; and the spread
    (standard deviation over batches) of the batch mean and variance, with ``1 / sqrt(b)``."""
    if len(axes) != 2:
        raise AtrousError(f"need two axes, got {len(axes)}")
    values = np.asarray(values, dtype=np.float64).ravel()
    sizes = [s.batch_size for s in stats]
    left, right = axes
    left.boxplot([s.means for s in stats], whis=(5, 95), showfliers=False)
    left.set_xticks(range(1, len(sizes) + 1), [str(b) for b in sizes])
    left.axhline(values.mean(), color="tab:red", linewidth=1, label="mean over all images")
    left.set(xlabel="batch size", ylabel="batch mean (5th to 95th percentile)",
             title="the mean batch norm subtracts")  # fmt: skip
    left.legend(fontsize=8)
    mean_sd = np.array([s.means.std() for s in stats]) / values.std()
    var_sd = np.array([s.variances.std() for s in stats]) / values.var()
    right.plot(sizes, mean_sd, "o-", label="batch mean (/ sd of the values)")
    right.plot(sizes, var_sd, "s-", label="batch variance (/ variance of the values)")
    right.plot(sizes, 1 / np.sqrt(sizes), "k--", linewidth=1, label="1 / sqrt(batch)")
    right.set(xlabel="batch size", ylabel="spread over batches (sd)",
              title="how much it changes from batch to batch")  # fmt: skip
    right.set_xticks(sizes)
    right.set_ylim(bottom=0)
    right.legend(fontsize=8)
