r"""Deciding a family of claims: p-values, Benjamini-Hochberg, and how many pairs to run.

The scaled recipe's design (``results/scaled/design.toml``) fixes, before any full run, the
family of claims that are tested together and the rule of each claim's p-value; this module
computes them from the paired differences ``d_k = mIOU(A, seed k) - mIOU(B, seed k)``:

- ``better``: two-sided paired t-test of :math:`\bar d = 0`;
- ``no_worse`` by margin ``m``: one-sided test of :math:`\bar d \le -m` (small p: A is no
  worse than B by more than m); ``no_better``: one-sided test of :math:`\bar d \ge m`.

:func:`benjamini_hochberg` decides the family at false-discovery rate ``q`` (the design:
0.10), reported beside each claim's 90% interval (:mod:`atrous.experiments.claims`).
:func:`pairs_needed` is the power calculation that turns a pilot's spread into seeds: the
fewest pairs (never fewer than :data:`MIN_PAIRS`) at which a paired t-test at two-sided
level 0.10 finds an effect of the given size with probability 0.8.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from atrous.base.errors import AtrousError

#: No claim is designed with fewer pairs than this.
MIN_PAIRS = 5


def paired_p_value(diffs: Sequence[float], kind: str = "better", margin: float = 0.0) -> float:
    """The p-value of a claim from its paired differences (see the module docstring);
    NaN with fewer than two pairs or no spread to estimate."""
    d = np.asarray([x for x in diffs if not math.isnan(x)], dtype=float)
    if d.size < 2:
        return math.nan
    se = d.std(ddof=1) / math.sqrt(d.size)
    if se == 0:
        return math.nan
    dof = d.size - 1
    if kind == "better":
        return float(2 * stats.t.sf(abs(d.mean()) / se, dof))
    if kind == "no_worse":
        return float(stats.t.sf((d.mean() + margin) / se, dof))
    if kind == "no_better":
        return float(stats.t.cdf((d.mean() - margin) / se, dof))
    raise AtrousError(f"kind must be better, no_worse or no_better, got {kind!r}")


def benjamini_hochberg(p_values: Sequence[float], q: float = 0.10) -> list[bool]:
    """Which hypotheses of the family are rejected at false-discovery rate ``q`` (a NaN
    p-value is never rejected but counts in the family)."""
    m = len(p_values)
    order = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    cut = 0
    for rank, (p, _) in enumerate(order, start=1):
        if p <= rank * q / m:
            cut = rank
    rejected = [False] * m
    for _, i in order[:cut]:
        rejected[i] = True
    return rejected


def power(pairs: int, effect: float, sd: float, alpha: float = 0.10) -> float:
    """Probability that a two-sided paired t-test at ``alpha`` finds a mean difference of
    ``effect`` points, with ``pairs`` pairs whose differences have standard deviation
    ``sd``."""
    dof = pairs - 1
    critical = stats.t.ppf(1 - alpha / 2, dof)
    shift = effect / (sd / math.sqrt(pairs))
    exact = float(stats.nct.sf(critical, dof, shift) + stats.nct.cdf(-critical, dof, shift))
    if math.isfinite(exact):
        return exact
    # SciPy's noncentral t returns NaN far in its tail (a shift of ten or more); there the
    # normal approximation is exact to many digits.
    return float(stats.norm.sf(critical - shift) + stats.norm.cdf(-critical - shift))


def pairs_needed(
    effect: float, sd: float, target: float = 0.8, alpha: float = 0.10, most: int = 100
) -> int:
    """The fewest pairs (at least :data:`MIN_PAIRS`) with :func:`power` >= ``target``;
    ``most`` if even that many do not reach it."""
    if effect <= 0 or sd <= 0:
        raise AtrousError(f"effect and sd must be positive, got {effect} and {sd}")
    for n in range(MIN_PAIRS, most + 1):
        if power(n, effect, sd, alpha) >= target:
            return n
    return most
