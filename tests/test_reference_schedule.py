"""The poly learning-rate policy (Sec. 4.1)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import poly_lr

base_lrs = st.floats(0.0, 1.0)
powers = st.floats(0.0, 3.0)


@given(base_lr=base_lrs, max_steps=st.integers(1, 10**6), power=powers)
def test_endpoints(base_lr, max_steps, power) -> None:
    assert poly_lr(base_lr, 0, max_steps, power) == base_lr
    assert poly_lr(base_lr, max_steps, max_steps, power) == (base_lr if power == 0 else 0.0)


@given(base_lr=base_lrs, max_steps=st.integers(1, 200), power=powers)
def test_monotonically_non_increasing_and_bounded(base_lr, max_steps, power) -> None:
    lrs = [poly_lr(base_lr, step, max_steps, power) for step in range(max_steps + 1)]
    assert all(later <= earlier for earlier, later in zip(lrs, lrs[1:], strict=False))
    assert all(0.0 <= lr <= base_lr for lr in lrs)


@given(base_lr=base_lrs, max_steps=st.integers(1, 10**6), data=st.data())
def test_formula(base_lr, max_steps, data) -> None:
    step = data.draw(st.integers(0, max_steps))
    expected = base_lr * (1 - step / max_steps) ** 0.9
    assert math.isclose(poly_lr(base_lr, step, max_steps), expected, rel_tol=1e-12)


def test_paper_halfway() -> None:
    """Base lr 0.007, 30K iterations: halfway the rate is 0.007 * 0.5 ** 0.9."""
    assert poly_lr(0.007, 15_000, 30_000) == pytest.approx(0.007 * 0.5**0.9)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((-0.1, 0, 10), "base_lr"),
        ((float("nan"), 0, 10), "base_lr"),
        (("0.1", 0, 10), "base_lr"),
        ((0.1, -1, 10), "step"),
        ((0.1, 11, 10), "step"),
        ((0.1, 1.5, 10), "step"),
        ((0.1, 0, 0), "max_steps"),
        ((0.1, 0, 10.0), "max_steps"),
        ((0.1, 0, 10, -0.9), "power"),
        ((0.1, 0, 10, float("inf")), "power"),
    ],
)
def test_bad_input(args, name) -> None:
    with pytest.raises(ValueError, match=name):
        poly_lr(*args)
