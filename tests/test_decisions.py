"""atrous.experiments.decisions: p-values that agree with the 90% intervals, Benjamini-Hochberg
against a brute-force statement of its rule, and a power calculation checked by simulation."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous.experiments.claims import paired_interval
from atrous.experiments.decisions import (
    MIN_PAIRS,
    benjamini_hochberg,
    paired_p_value,
    pairs_needed,
    power,
)

diffs = st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=12).filter(
    lambda d: np.std(d) > 1e-3
)


@given(diffs)
def test_a_better_claim_is_significant_at_010_exactly_when_its_interval_excludes_0(d):
    interval = paired_interval(dict(enumerate(d)), dict.fromkeys(range(len(d)), 0.0))
    p = paired_p_value(d, "better")
    if abs(p - 0.10) > 1e-9:
        assert (p < 0.10) == (interval.low > 0 or interval.high < 0)


@given(diffs, st.floats(0.1, 3))
def test_margins_shift_the_one_sided_tests(d, margin):
    interval = paired_interval(dict(enumerate(d)), dict.fromkeys(range(len(d)), 0.0))
    worse, better = paired_p_value(d, "no_worse", margin), paired_p_value(d, "no_better", margin)
    if abs(worse - 0.05) > 1e-9:  # a one-sided 0.05 test is the 90% interval's lower end
        assert (worse < 0.05) == (interval.low > -margin)
    if abs(better - 0.05) > 1e-9:
        assert (better < 0.05) == (interval.high < margin)
    assert math.isnan(paired_p_value([1.0], "better"))


@settings(max_examples=200)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=15), st.sampled_from([0.05, 0.1, 0.2]))
def test_benjamini_hochberg_rejects_the_largest_passing_rank_and_all_below(ps, q):
    rejected = benjamini_hochberg(ps, q)
    m, ranked = len(ps), sorted(ps)
    k = max((r for r in range(1, m + 1) if ranked[r - 1] <= r * q / m), default=0)
    assert rejected == [k > 0 and p <= ranked[k - 1] for p in ps]
    assert benjamini_hochberg([*ps, math.nan], q).count(True) <= sum(rejected)  # NaN counts


def test_power_matches_a_simulation_and_pairs_needed_is_the_first_that_reaches_it():
    rng = np.random.default_rng(0)
    n, effect, sd = 6, 1.0, 1.2
    hits = 0
    for _ in range(4000):
        d = rng.normal(effect, sd, n)
        hits += paired_p_value(d, "better") < 0.10
    assert abs(hits / 4000 - power(n, effect, sd)) < 0.03
    need = pairs_needed(effect, sd)
    assert need >= MIN_PAIRS and power(need, effect, sd) >= 0.8
    assert need == MIN_PAIRS or power(need - 1, effect, sd) < 0.8
    assert pairs_needed(10.0, 0.1) == MIN_PAIRS  # never fewer than five pairs


def test_power_is_a_probability_that_grows_with_the_effect_even_far_in_the_tail():
    """SciPy's noncentral t gives NaN for large shifts; power must not."""
    from atrous.experiments.decisions import power

    for pairs in (5, 7, 10, 30):
        values = [power(pairs, effect, 2.0) for effect in (0.5, 1, 2, 4, 8, 12.78, 20, 50)]
        assert all(0 <= v <= 1 for v in values), values
        assert values == sorted(values) and values[-1] > 0.999
