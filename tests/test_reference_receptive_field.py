"""Receptive field and the gridding of cascaded atrous convolutions (Sec. 3.2.1)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import ReceptiveField, coverage, receptive_field

cascades = st.lists(st.integers(1, 6), min_size=0, max_size=4)
kernel_sizes = st.integers(1, 4)
layers_strategy = st.lists(
    st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 4)), min_size=0, max_size=4
)


def _brute_force_offsets(rates, kernel_size: int) -> set[tuple[int, int]]:
    """Compose the layers' tap sets literally: every path of taps through the cascade."""
    reached = {(0, 0)}
    for rate in rates:
        taps = [(rate * a, rate * b) for a in range(kernel_size) for b in range(kernel_size)]
        reached = {(y + dy, x + dx) for y, x in reached for dy, dx in taps}
    return reached


@given(rates=cascades, kernel_size=kernel_sizes)
def test_coverage_matches_brute_force_composition(rates, kernel_size) -> None:
    mask = coverage(rates, kernel_size)
    assert mask.dtype == bool
    assert set(zip(*np.nonzero(mask), strict=True)) == _brute_force_offsets(rates, kernel_size)


@given(rates=cascades, kernel_size=kernel_sizes)
def test_receptive_field_is_the_coverage_extent(rates, kernel_size) -> None:
    rf = receptive_field([(kernel_size, 1, r) for r in rates])
    mask = coverage(rates, kernel_size)
    rows, cols = np.nonzero(mask)
    assert mask.shape == (rf.size, rf.size)
    assert rows.max() - rows.min() + 1 == rf.size
    assert cols.max() - cols.min() + 1 == rf.size
    assert rf.jump == 1


@given(layers=layers_strategy)
def test_receptive_field_matches_brute_force_with_strides(layers) -> None:
    """Follow the offsets of one output through strided, dilated layers, one axis."""
    reached, jump = {0}, 1
    for kernel, stride, rate in layers:
        reached = {o + jump * rate * t for o in reached for t in range(kernel)}
        jump *= stride
    assert receptive_field(layers) == ReceptiveField(max(reached) - min(reached) + 1, jump)


@given(
    g=st.integers(2, 4),
    multiples=st.lists(st.integers(1, 3), min_size=1, max_size=4),
    kernel_size=st.integers(2, 4),
)
def test_common_factor_in_the_rates_leaves_holes(g, multiples, kernel_size) -> None:
    """Gridding: when all rates share a factor g > 1, only multiples of g are reached."""
    mask = coverage([g * m for m in multiples], kernel_size)
    off_grid = np.arange(len(mask)) % g != 0
    assert off_grid.any()
    assert not mask[off_grid].any()
    assert not mask[:, off_grid].any()


def test_gridding_paper_example() -> None:
    """Multi-grid (2, 2, 2) leaves holes, (1, 2, 4) covers every pixel (Sec. 3.2.1)."""
    same = coverage((2, 2, 2))
    assert same.shape == (13, 13)
    assert same.mean() == pytest.approx(49 / 169)  # only even offsets: 7 of 13 per axis
    multi = coverage((1, 2, 4))
    assert multi.shape == (15, 15)
    assert multi.all()


def test_receptive_field_of_resnet_stem() -> None:
    """7x7 stride 2 conv, 3x3 stride 2 max pool: 11 pixels, jump 4."""
    assert receptive_field([(7, 2, 1), (3, 2, 1)]) == ReceptiveField(size=11, jump=4)
    assert receptive_field([]) == ReceptiveField(size=1, jump=1)


@pytest.mark.parametrize(
    ("layers", "name"),
    [
        ([(3, 1)], "layers\\[0\\]"),
        ([3], "layers\\[0\\]"),
        ([(3, 1, 1), (0, 1, 1)], "kernel"),
        ([(3, 0, 1)], "stride"),
        ([(3, 1, 0)], "rate"),
        ([(3, 1, 1.5)], "rate"),
    ],
)
def test_receptive_field_bad_input(layers, name) -> None:
    with pytest.raises(ValueError, match=name):
        receptive_field(layers)


@pytest.mark.parametrize(
    ("args", "name"), [(((2, 0),), "rates"), (((2, 2.0),), "rates"), (((2,), 0), "kernel_size")]
)
def test_coverage_bad_input(args, name) -> None:
    with pytest.raises(ValueError, match=name):
        coverage(*args)
