"""Valid weights of a "same"-padded atrous filter (Fig. 4, Sec. 3.3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import atrous_conv2d, valid_weight_counts, valid_weight_histogram
from tests.strategies import feature_sizes, odd_kernel_sizes, rates


def _hw(feature_size: int | tuple[int, int]) -> tuple[int, int]:
    return (feature_size, feature_size) if isinstance(feature_size, int) else feature_size


def _brute_force(feature_size, kernel_size: int, rate: int) -> np.ndarray:
    """Convolve the indicator of the map (1 on it, 0 on the padding) with a filter of ones."""
    H, W = _hw(feature_size)
    on_map = np.ones((1, 1, H, W))
    ones = np.ones((1, 1, kernel_size, kernel_size))
    return atrous_conv2d(on_map, ones, rate=rate, padding="same")[0, 0]  # (H, W)


def _closed_form_1d(size: int, kernel_size: int, rate: int) -> np.ndarray:
    """Along one axis: the centre tap, plus the c = (k-1)/2 taps on each side that stay on
    the map; the j-th tap to the left of position i lands at i - r j, valid iff r j <= i."""
    c = (kernel_size - 1) // 2
    i = np.arange(size)
    return 1 + np.minimum(c, i // rate) + np.minimum(c, (size - 1 - i) // rate)


@given(feature_size=feature_sizes(), kernel_size=odd_kernel_sizes(), rate=rates(max_rate=30))
def test_counts_match_brute_force_and_closed_form(feature_size, kernel_size, rate) -> None:
    counts = valid_weight_counts(feature_size, kernel_size, rate)
    H, W = _hw(feature_size)
    assert counts.shape == (H, W)
    assert np.issubdtype(counts.dtype, np.integer)
    np.testing.assert_array_equal(counts, _brute_force(feature_size, kernel_size, rate))
    closed = np.outer(_closed_form_1d(H, kernel_size, rate), _closed_form_1d(W, kernel_size, rate))
    np.testing.assert_array_equal(counts, closed)


@given(feature_size=feature_sizes(), kernel_size=odd_kernel_sizes(), rate=rates(max_rate=30))
def test_centre_weight_always_valid(feature_size, kernel_size, rate) -> None:
    counts = valid_weight_counts(feature_size, kernel_size, rate)
    assert counts.min() >= 1
    assert counts.max() <= kernel_size**2


@given(feature_size=feature_sizes(), kernel_size=odd_kernel_sizes(), rate=rates(max_rate=30))
def test_histogram_sums_to_one_and_matches_counts(feature_size, kernel_size, rate) -> None:
    hist = valid_weight_histogram(feature_size, kernel_size, rate)
    counts = valid_weight_counts(feature_size, kernel_size, rate)
    assert sum(hist.values()) == pytest.approx(1.0)
    assert list(hist) == sorted(hist)
    for n_valid, fraction in hist.items():
        assert fraction == pytest.approx(np.mean(counts == n_valid))
        assert fraction > 0


@given(
    feature_size=feature_sizes(),
    kernel_size=odd_kernel_sizes(),
    extra=st.integers(0, 10),
)
def test_rate_at_least_feature_size_leaves_only_the_centre(feature_size, kernel_size, extra):
    """The filter degenerates to 1x1 when the rate reaches the feature-map size."""
    rate = max(_hw(feature_size)) + extra
    np.testing.assert_array_equal(valid_weight_counts(feature_size, kernel_size, rate), 1)
    assert valid_weight_histogram(feature_size, kernel_size, rate) == {1: 1.0}


@given(feature_size=feature_sizes(max_side=40), kernel_size=odd_kernel_sizes())
def test_more_rate_never_adds_valid_weights(feature_size, kernel_size) -> None:
    counts = [valid_weight_counts(feature_size, kernel_size, r) for r in range(1, 42)]
    for smaller, larger in zip(counts, counts[1:], strict=False):
        assert (larger <= smaller).all()


def test_fig4_endpoints() -> None:
    """65x65 map, 3x3 filter: at rate 1 every position off the border sees all 9 taps;
    from rate 65 on, only the centre tap is left."""
    hist = valid_weight_histogram(65, 3, 1)
    assert hist[9] == pytest.approx(63**2 / 65**2)
    assert hist[4] == pytest.approx(4 / 65**2)  # the four corners
    assert valid_weight_histogram(65, 3, 64) != {1: 1.0}
    assert valid_weight_histogram(65, 3, 65) == {1: 1.0}


def test_rectangular_map() -> None:
    assert valid_weight_counts((3, 5), 3, 1).shape == (3, 5)
    assert valid_weight_counts((1, 5), 3, 1)[0].tolist() == [2, 3, 3, 3, 2]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"feature_size": 0}, "feature_size"),
        ({"feature_size": (4, 0)}, "feature_size"),
        ({"feature_size": 4.0}, "feature_size"),
        ({"feature_size": 8, "kernel_size": 2}, "kernel_size"),
        ({"feature_size": 8, "kernel_size": 0}, "kernel_size"),
        ({"feature_size": 8, "kernel_size": 3.0}, "kernel_size"),
        ({"feature_size": 8, "rate": 0}, "rate"),
        ({"feature_size": 8, "rate": 1.5}, "rate"),
    ],
)
@pytest.mark.parametrize("fn", [valid_weight_counts, valid_weight_histogram])
def test_bad_input_is_a_value_error_naming_the_parameter(fn, kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        fn(**kwargs)
