"""atrous.experiments.claims: the paired 90% t-interval against scipy's paired t-test, and the
verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from atrous.experiments.claims import paired_interval, verdict
from atrous.experiments.design import Claim

scores = st.floats(0, 100, allow_nan=False, width=32)


@given(st.lists(st.tuples(scores, scores), min_size=2, max_size=8))
def test_interval_is_scipys_paired_t_interval(pairs):
    a = {k: p[0] for k, p in enumerate(pairs)}
    b = {k: p[1] for k, p in enumerate(pairs)}
    got = paired_interval(a, b)
    diffs = np.array([x - y for x, y in pairs], dtype=float)
    assert got.n == len(pairs) and got.dof == len(pairs) - 1
    assert got.mean == pytest.approx(diffs.mean(), abs=1e-9)
    if diffs.std() < 1e-9:  # scipy returns NaN for zero spread; ours is the point itself
        assert got.low == pytest.approx(got.mean, abs=1e-6)
        assert got.high == pytest.approx(got.mean, abs=1e-6)
        return
    ci = stats.ttest_rel([p[0] for p in pairs], [p[1] for p in pairs]).confidence_interval(0.90)
    assert got.low == pytest.approx(ci.low, abs=1e-6)
    assert got.high == pytest.approx(ci.high, abs=1e-6)


@given(st.lists(st.tuples(scores, scores), min_size=2, max_size=6), st.floats(-20, 20))
def test_interval_shifts_with_a(pairs, shift):
    a = {k: p[0] for k, p in enumerate(pairs)}
    b = {k: p[1] for k, p in enumerate(pairs)}
    moved = paired_interval({k: v + shift for k, v in a.items()}, b)
    base = paired_interval(a, b)
    assert moved.low == pytest.approx(base.low + shift, abs=1e-6)
    assert moved.high == pytest.approx(base.high + shift, abs=1e-6)


def test_pairs_are_matched_by_seed_and_nan_runs_left_out():
    got = paired_interval({0: 50.0, 1: 52.0, 2: math.nan, 5: 1.0}, {0: 48.0, 1: 49.0, 2: 40.0})
    assert got.n == 2 and got.mean == pytest.approx(2.5)


def test_verdicts():
    better = Claim("a", "b")
    above = paired_interval({0: 60, 1: 62, 2: 61}, {0: 50, 1: 51, 2: 50})
    below = paired_interval({0: 50, 1: 51, 2: 50}, {0: 60, 1: 62, 2: 61})
    wide = paired_interval({0: 60, 1: 40, 2: 55}, {0: 50, 1: 50, 2: 50})
    assert verdict(better, above) == "agrees"
    assert verdict(better, below) == "disagrees"
    assert verdict(better, wide) == "inconclusive"
    assert verdict(better, paired_interval({0: 60}, {0: 50})) == "inconclusive"  # one pair
    no_worse = Claim("a", "b", "no_worse", 1.0)
    near = paired_interval({0: 50.0, 1: 50.2, 2: 49.9}, {0: 50.1, 1: 50.0, 2: 50.0})
    assert verdict(no_worse, near) == "agrees"
    assert verdict(no_worse, below) == "disagrees"
    no_better = Claim("a", "b", "no_better", 1.0)
    assert verdict(no_better, near) == "agrees"
    assert verdict(no_better, above) == "disagrees"
    assert verdict(no_better, wide) == "inconclusive"


def test_claim_kind_is_checked():
    with pytest.raises(ValueError, match="kind"):
        Claim("a", "b", "worse")
