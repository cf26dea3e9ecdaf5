r"""Receptive field of stacked (atrous) convolutions, and the gridding problem (Sec. 3.2.1).

A layer with kernel :math:`k`, stride :math:`s` and rate :math:`r` has the effective
kernel size :math:`k_e = k + (k - 1)(r - 1)` (Sec. 3.1). Stacking layers, the receptive
field size :math:`R` and the jump :math:`J` (the distance in input pixels between two
neighbouring outputs) grow as

.. math::

    R_l = R_{l-1} + (k_{e,l} - 1) \, J_{l-1}, \qquad J_l = J_{l-1} \, s_l,
    \qquad R_0 = J_0 = 1.

The size alone hides *which* input pixels an output sees. Cascading 3x3 atrous
convolutions with the same rate, e.g. (2, 2, 2), only ever reaches offsets that are
multiples of 2: the receptive field is a grid with holes. Multi-grid rates such as
(1, 2, 4) (Sec. 3.2.1) fill it. :func:`coverage` computes that set of offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from reference.conv import _is_int


class ReceptiveField(NamedTuple):
    """Receptive field of a stack of layers, along one axis, in input pixels."""

    size: int  # R: how many input pixels (end to end) one output depends on
    jump: int  # J: input pixels between neighbouring outputs (the product of the strides)


def receptive_field(layers: Sequence[tuple[int, int, int]]) -> ReceptiveField:
    """Receptive field size and jump of a stack of ``(kernel, stride, rate)`` layers.

    Args:
        layers: one ``(kernel, stride, rate)`` triple of ints per layer, first layer first;
            kernel, stride and rate each >= 1. An empty stack sees one pixel.

    Returns:
        ``ReceptiveField(size, jump)``.
    """
    size, jump = 1, 1
    for index, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) != 3:
            raise ValueError(
                f"layers[{index}] must be a (kernel, stride, rate) triple, got {layer!r}"
            )
        for name, value in zip(("kernel", "stride", "rate"), layer, strict=True):
            if not _is_int(value) or value < 1:
                raise ValueError(f"layers[{index}]: {name} must be an int >= 1, got {value!r}")
        kernel, stride, rate = (int(v) for v in layer)
        effective = kernel + (kernel - 1) * (rate - 1)  # k_e, Sec. 3.1
        size += (effective - 1) * jump  # R_l = R_{l-1} + (k_e - 1) J_{l-1}
        jump *= stride  # J_l = J_{l-1} s_l
    return ReceptiveField(size, jump)


def coverage(rates: Sequence[int], kernel_size: int = 3) -> np.ndarray:
    """Which input offsets reach one output through cascaded stride-1 atrous convolutions.

    Args:
        rates: the rate of each ``kernel_size`` x ``kernel_size`` convolution in the
            cascade, first layer first, each an int >= 1 (e.g. the multi-grid rates).
        kernel_size: the filters' size k, an int >= 1.

    Returns:
        (R, R) boolean mask, R the receptive field size ``1 + sum(r * (k - 1))``;
        ``mask[a, b]`` is True when input pixel ``(a, b)``, counted from the receptive
        field's top-left corner, reaches the output through some path of taps. For odd k
        the output sits at the centre ``(R // 2, R // 2)``.
    """
    if not _is_int(kernel_size) or kernel_size < 1:
        raise ValueError(f"kernel_size must be an int >= 1, got {kernel_size!r}")
    rates = tuple(rates)
    for rate in rates:
        if not _is_int(rate) or rate < 1:
            raise ValueError(f"rates must be ints >= 1, got {rates!r}")
    # Along one axis: the offsets reachable through the cascade are the sums
    # r_1 t_1 + r_2 t_2 + ... with taps t_l in {0 .. k-1}; composing one layer is a
    # convolution of the reachable set with the layer's zero-inserted (upsampled) filter.
    reach = np.ones(1, dtype=np.int64)  # (1,): the output itself
    for rate in rates:
        taps = np.zeros(rate * (kernel_size - 1) + 1, dtype=np.int64)  # effective size
        taps[::rate] = 1  # k taps, rate - 1 zeros between them
        reach = (np.convolve(reach, taps) > 0).astype(np.int64)  # (R_l,)
    # Separable filters: (a, b) is reachable iff a is reachable along rows and b along cols.
    return np.outer(reach, reach).astype(bool)  # (R, R)
