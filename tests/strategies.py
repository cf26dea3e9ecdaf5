"""Shared hypothesis strategies: keyword-only, bounded, so every test stays small and fast.

Array values are drawn from a seeded NumPy generator (uniform in [-1, 1]); hypothesis
draws the shapes and hyper-parameters and shrinks them, which is where the bugs live.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

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
) -> ConvProblem:
    """x, w, bias, rate, stride and padding of an atrous conv whose output is non-empty.

    Kernels are odd or even (``odd_kernel=True``: odd only); rate, stride and padding are
    each an int or an (h, w) pair. ``same``: True forces ``padding="same"`` (and odd
    kernels), False forbids it, None draws either. ``unit_stride``: stride 1.
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
    bias = _uniform(seed + 2, (C_out,)) if draw(st.booleans()) else None
    return ConvProblem(x=x, w=w, bias=bias, rate=rate, stride=stride, padding=padding)


@dataclass(frozen=True)
class Segmentation:
    """A predicted and a ground-truth label map over ``num_classes`` classes."""

    pred: np.ndarray  # int64 (H, W), values in [0, num_classes)
    target: np.ndarray  # int64 (H, W), values in [0, num_classes) or ignore_index
    num_classes: int
    ignore_index: int


@st.composite
def segmentations(
    draw, *, max_classes: int = 6, max_side: int = 12, ignore_index: int = 255
) -> Segmentation:
    """Random label maps; some ground-truth pixels carry ``ignore_index``, some classes
    may be absent from both maps (empty union)."""
    K = draw(st.integers(1, max_classes))
    shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    rng = np.random.default_rng(draw(seeds()))
    # Draw from a random subset of the classes so that some unions are empty.
    used = rng.choice(K, size=draw(st.integers(1, K)), replace=False)
    pred = rng.choice(used, size=shape).astype(np.int64)
    target = rng.choice(used, size=shape).astype(np.int64)
    # A prediction that is partly right, so that intersections are not all empty.
    right = rng.random(shape) < draw(st.floats(0.0, 1.0))
    pred[right] = target[right]
    target[rng.random(shape) < draw(st.floats(0.0, 0.5))] = ignore_index
    return Segmentation(pred=pred, target=target, num_classes=K, ignore_index=ignore_index)
