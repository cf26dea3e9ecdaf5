"""The oracle as a tool for other people's tests: hypothesis strategies and a checker of Eq. 1.

For anyone who writes an atrous convolution (a student's, a framework's dilated-conv kernel,
a port of DeepLabv3 to another library) and wants to hold it to the paper's Eq. 1:

.. code-block:: python

    from reference.testing import assert_atrous_conv_matches

    def my_conv(x, w, rate, stride, padding):  # NumPy arrays in and out
        ...

    assert_atrous_conv_matches(my_conv)  # AssertionError with the smallest failing case

:func:`assert_atrous_conv_matches` draws convolution problems with :func:`conv_problems`
(batch, channels, sizes, kernel sizes, rates, strides, paddings: bounded, so a check takes
seconds), runs ``fn(x, w, rate, stride, padding)`` and :func:`reference.atrous_conv2d` on
each, and on a mismatch lets hypothesis shrink it to the smallest example it can find; the
AssertionError then names the shapes and parameters of that example, the first index where
the outputs differ, and both values there. Rates, strides and paddings are passed as
``(h, w)`` pairs of ints (``"same"`` resolved), the arguments every conv API accepts.
Needs only NumPy and hypothesis (``pip install 'atrous[testing]'``); torch adapters and a
whole-network check are in :mod:`atrous.testing`. Another framework needs a few lines of
adapter, for example JAX (checked by hand with JAX 0.10.2, where it passes; JAX is not in
this project's test environment, so the tests do not run it):

.. code-block:: python

    import jax
    import numpy as np

    def jax_atrous_conv(x, w, rate, stride, padding):
        pad = [(padding[0], padding[0]), (padding[1], padding[1])]
        y = jax.lax.conv_general_dilated(x, w, window_strides=stride, padding=pad,
                                         rhs_dilation=rate)  # NCHW / OIHW by default
        return np.asarray(y)

    assert_atrous_conv_matches(jax_atrous_conv, rtol=1e-4, atol=1e-5)  # float32 on JAX
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.conv import atrous_conv2d

MAX_SEED = 2**32 - 1


def seeds() -> st.SearchStrategy[int]:
    """A seed for NumPy's and torch's generators: the one seed strategy of the suite."""
    return st.integers(0, MAX_SEED)


def _uniform(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape)  # float64


@st.composite
def images(draw, *, max_batch: int = 2, max_channels: int = 3, max_side: int = 12) -> np.ndarray:
    """A float64 (N, C, H, W) array with values in [-1, 1]."""
    shape = (
        draw(st.integers(1, max_batch)),
        draw(st.integers(1, max_channels)),
        draw(st.integers(1, max_side)),
        draw(st.integers(1, max_side)),
    )
    return _uniform(draw(seeds()), shape)


def rates(*, max_rate: int = 4) -> st.SearchStrategy[int]:
    """An atrous rate: an int in [1, max_rate]."""
    return st.integers(1, max_rate)


def odd_kernel_sizes(*, max_size: int = 7) -> st.SearchStrategy[int]:
    """An odd kernel size in [1, max_size]."""
    return st.integers(0, (max_size - 1) // 2).map(lambda half: 2 * half + 1)


def feature_sizes(*, max_side: int = 24) -> st.SearchStrategy[int | tuple[int, int]]:
    """A feature-map size: an int (square) or an (H, W) pair, each in [1, max_side]."""
    side = st.integers(1, max_side)
    return st.one_of(side, st.tuples(side, side))


def _int_or_pair(values: st.SearchStrategy[int]) -> st.SearchStrategy[int | tuple[int, int]]:
    return st.one_of(values, st.tuples(values, values))


def _axis(value: int | tuple[int, int], axis: int) -> int:
    return value if isinstance(value, int) else value[axis]


@dataclass(frozen=True)
class ConvProblem:
    """Arguments of one call of Eq. 1 (``reference.atrous_conv2d``) with a non-empty output."""

    x: np.ndarray  # (N, C_in, H, W)
    w: np.ndarray  # (C_out, C_in, kH, kW)
    bias: np.ndarray | None  # (C_out,)
    rate: int | tuple[int, int]
    stride: int | tuple[int, int]
    padding: int | tuple[int, int] | str

    def padding_pair(self) -> tuple[int, int]:
        """The padding as an (h, w) pair of ints ("same" resolved)."""
        if self.padding == "same":
            return tuple(  # type: ignore[return-value]
                _axis(self.rate, a) * (self.w.shape[2 + a] - 1) // 2 for a in range(2)
            )
        return (_axis(self.padding, 0), _axis(self.padding, 1))


@st.composite
def conv_problems(
    draw,
    *,
    max_batch: int = 2,
    max_channels: int = 3,
    max_side: int = 8,
    max_kernel: int = 4,
    max_rate: int = 3,
    max_stride: int = 3,
    max_padding: int = 3,
    odd_kernel: bool = False,
    same: bool | None = None,
    unit_stride: bool = False,
    with_bias: bool = True,
) -> ConvProblem:
    """x, w, bias, rate, stride and padding of an atrous conv whose output is non-empty.

    Kernels are odd or even (``odd_kernel=True``: odd only); rate, stride and padding are
    each an int or an (h, w) pair. ``same``: True forces ``padding="same"`` (and odd
    kernels), False forbids it, None draws either. ``unit_stride``: stride 1. ``with_bias``:
    sometimes a bias too.
    """
    if odd_kernel or same:
        kernel_sizes = odd_kernel_sizes(max_size=max_kernel)
    else:
        kernel_sizes = st.integers(1, max_kernel)
    kH, kW = draw(kernel_sizes), draw(kernel_sizes)
    rate = draw(_int_or_pair(rates(max_rate=max_rate)))
    stride = 1 if unit_stride else draw(_int_or_pair(st.integers(1, max_stride)))
    can_be_same = kH % 2 == 1 and kW % 2 == 1 and same is not False
    if same or (can_be_same and draw(st.booleans())):
        padding: int | tuple[int, int] | str = "same"
        pad = tuple(_axis(rate, a) * ((kH, kW)[a] - 1) // 2 for a in range(2))
    else:
        padding = draw(_int_or_pair(st.integers(0, max_padding)))
        pad = (_axis(padding, 0), _axis(padding, 1))
    # The input must be at least as large as the effective filter, minus the padding.
    sides = []
    for a, k in enumerate((kH, kW)):
        smallest = max(1, _axis(rate, a) * (k - 1) + 1 - 2 * pad[a])
        sides.append(draw(st.integers(smallest, smallest + max_side)))
    N = draw(st.integers(1, max_batch))
    C_in, C_out = draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    seed = draw(seeds())
    x = _uniform(seed, (N, C_in, *sides))
    w = _uniform(seed + 1, (C_out, C_in, kH, kW))
    bias = _uniform(seed + 2, (C_out,)) if with_bias and draw(st.booleans()) else None
    return ConvProblem(x=x, w=w, bias=bias, rate=rate, stride=stride, padding=padding)


#: ``fn(x, w, rate, stride, padding) -> y``: x (N, C_in, H, W), w (C_out, C_in, kH, kW),
#: rate, stride and padding as (h, w) pairs of ints; y (N, C_out, H_out, W_out).
ConvFn = Callable[[np.ndarray, np.ndarray, tuple, tuple, tuple], np.ndarray]


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def describe(p: ConvProblem) -> str:
    """One line with the shapes and parameters of a problem."""
    return (
        f"x {p.x.shape}, w {p.w.shape}, rate {_pair(p.rate)}, stride {_pair(p.stride)}, "
        f"padding {p.padding_pair()}"
    )


def compare(expected: np.ndarray, actual: np.ndarray, what: str, rtol: float, atol: float) -> None:
    """AssertionError naming ``what``, the shapes or the first differing index and values."""
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        raise AssertionError(
            f"{what}: output shape {actual.shape}, expected {expected.shape} (Eq. 1)"
        )
    close = np.isclose(actual, expected, rtol=rtol, atol=atol)
    if not close.all():
        index = tuple(int(i) for i in np.argwhere(~close)[0])
        raise AssertionError(
            f"{what}: {int((~close).sum())} of {close.size} values differ; first at index "
            f"{index}: expected {expected[index]!r}, got {actual[index]!r} "
            f"(rtol {rtol}, atol {atol})"
        )


def assert_atrous_conv_matches(
    fn: ConvFn,
    *,
    max_examples: int = 100,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    **problem: object,
) -> None:
    """Property-check ``fn(x, w, rate, stride, padding) -> y`` against Eq. 1.

    Args:
        fn: the convolution to check; float64 NumPy arrays in, an array-like out. Biases are
            not passed (draws have none).
        max_examples: how many problems hypothesis draws (derandomized: the same ones every
            run).
        rtol: relative tolerance of :func:`numpy.isclose` (loosen it for float32 code).
        atol: absolute tolerance of :func:`numpy.isclose`.
        problem: bounds for :func:`conv_problems` (``max_rate=4``, ``unit_stride=True``, ...).

    Raises:
        AssertionError: for the smallest failing problem hypothesis finds, naming its shapes
            and parameters, the first index where the outputs differ, and both values.
    """

    @settings(max_examples=max_examples, derandomize=True, database=None, deadline=None,
              report_multiple_bugs=False,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(p=conv_problems(**{"with_bias": False, **problem}))
    def check(p: ConvProblem) -> None:
        pad = p.padding_pair()
        expected = atrous_conv2d(p.x, p.w, rate=p.rate, stride=p.stride, padding=pad)
        actual = fn(p.x, p.w, _pair(p.rate), _pair(p.stride), pad)
        compare(expected, actual, describe(p), rtol, atol)

    check()
