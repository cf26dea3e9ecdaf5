r"""Judging the paper's claims on our runs: paired differences and their 90% t-intervals.

A claim (:class:`atrous.experiments.design.Claim`) compares two variants, "A better than B". Seed k
of every variant shares its initialisation and data order, so the runs pair up: the k-th
difference ``d_k = mIOU(A, seed k) - mIOU(B, seed k)`` removes what the seed does to both.
With n pairs, mean ``d`` and standard deviation ``s``, the two-sided 90% interval is

.. math::

    \bar d \pm t_{0.95,\, n-1} \, s / \sqrt{n}

(Student's t with n - 1 degrees of freedom). The verdict, in points of mIOU:

- ``better``: *agrees* if the interval lies above 0, *disagrees* if below, else
  *inconclusive*;
- ``no_worse`` by ``margin``: *agrees* if the interval lies above ``-margin``, *disagrees*
  if below it;
- ``no_better`` by ``margin``: *agrees* if the interval lies below ``+margin``, *disagrees*
  if above it.

Fewer than two pairs give no interval: *inconclusive*. A pair where either run diverged
(mIOU NaN) is left out and counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from atrous.experiments.design import Claim

#: The confidence of the intervals.
LEVEL = 0.90
VERDICTS = ("agrees", "disagrees", "inconclusive")


@dataclass(frozen=True)
class Interval:
    """Mean paired difference (points) and its two-sided interval; ``dof = n - 1``."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def dof(self) -> int:
        return self.n - 1

    def describe(self) -> str:
        if self.n == 0:
            return "no pairs"
        if self.n == 1:
            return f"{self.mean:+.2f} (1 pair, no interval)"
        return (f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}] "
                f"(90% t-interval, {self.dof} dof)")  # fmt: skip


def paired_differences(a: Mapping[int, float], b: Mapping[int, float]) -> dict[int, float]:
    """seed -> ``a[k] - b[k]`` over the seeds k that both have, a diverged run (NaN) left out."""
    return {k: a[k] - b[k] for k in sorted(set(a) & set(b))
            if not (math.isnan(a[k]) or math.isnan(b[k]))}  # fmt: skip


def paired_interval(
    a: Mapping[int, float], b: Mapping[int, float], level: float = LEVEL
) -> Interval:
    """The interval of ``a[k] - b[k]`` over the seeds k that both have (values in points)."""
    diffs = list(paired_differences(a, b).values())
    n = len(diffs)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = sum(diffs) / n
    if n == 1:
        return Interval(mean, -math.inf, math.inf, 1)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def verdict(claim: Claim, interval: Interval) -> str:
    """*agrees*, *disagrees* or *inconclusive* (see the module docstring)."""
    if interval.n < 2:
        return "inconclusive"
    if claim.kind == "no_better":
        threshold, agree_above = claim.margin, False
    else:
        threshold, agree_above = (-claim.margin if claim.kind == "no_worse" else 0.0), True
    if interval.low > threshold:
        return "agrees" if agree_above else "disagrees"
    if interval.high < threshold:
        return "disagrees" if agree_above else "agrees"
    return "inconclusive"


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of the finite values."""
    v = np.array([x for x in values if not math.isnan(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
