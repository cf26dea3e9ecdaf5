r"""Valid weights of a "same"-padded atrous filter: the analysis behind Fig. 4 (Sec. 3.3).

A :math:`k \times k` filter at rate :math:`r` on an :math:`H \times W` feature map, padded
so that the output keeps the input size (``padding = r (k - 1) / 2``), reads at output
position :math:`(i, j)` the taps

.. math::

    x[i - r c + r t_h, \; j - r c + r t_w], \qquad t_h, t_w \in \{0, \dots, k - 1\},
    \quad c = (k - 1) / 2.

A tap is *valid* when it lands on the feature map, not on the zero padding. As the rate
grows towards the feature-map size, more and more taps fall on padding, until only the
centre tap is left: the 3x3 filter has degenerated to a 1x1 filter. Fig. 4 of the paper
plots, for a 65x65 map and a 3x3 filter, the fraction of output positions with 1, 4 and 9
valid weights against the rate; that is :func:`valid_weight_histogram` here.

The count is separable: a tap ``(t_h, t_w)`` is valid exactly when ``t_h`` is valid along
the rows and ``t_w`` along the columns, so the 2-D count is the product of two 1-D counts,
each a closed form (:func:`_valid_taps_1d`).
"""

from __future__ import annotations

import numpy as np

from reference.conv import _is_int, _pair, _rate


def _kernel_size(kernel_size: int) -> int:
    if not _is_int(kernel_size) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size must be an odd int >= 1 ('same' padding needs an odd filter), "
            f"got {kernel_size!r}"
        )
    return int(kernel_size)


def _valid_taps_1d(size: int, kernel_size: int, rate: int) -> np.ndarray:
    """For each of ``size`` output positions along one axis, how many taps are valid.

    Output position ``i`` reads input ``i - p + rate * t`` for taps ``t = 0 .. k - 1``,
    with ``p = rate * (k - 1) // 2``. The input index lies in ``[0, size)`` exactly for
    ``ceil((p - i) / rate) <= t <= floor((size - 1 - i + p) / rate)``; clip that range to
    the taps that exist and count it.
    """
    p = rate * (kernel_size - 1) // 2  # "same" padding
    i = np.arange(size)
    first = np.maximum(0, -((i - p) // rate))  # ceil((p - i) / rate), at least tap 0
    last = np.minimum(kernel_size - 1, (size - 1 - i + p) // rate)
    return np.maximum(0, last - first + 1)  # (size,)


def valid_weight_counts(
    feature_size: int | tuple[int, int], kernel_size: int = 3, rate: int = 1
) -> np.ndarray:
    """How many taps of a "same"-padded ``kernel_size`` filter land on the feature map.

    Args:
        feature_size: the feature map's size, an int (square) or (H, W), each >= 1.
        kernel_size: the filter's size k (square), an odd int >= 1.
        rate: the atrous rate r of Eq. 1, an int >= 1.

    Returns:
        (H, W) int array: for every output position, the number of valid taps, between 1
        (only the centre tap, which always lands on the map) and ``k * k``.
    """
    H, W = _pair(feature_size, "feature_size", 1)
    k = _kernel_size(kernel_size)
    r = _rate(rate)
    # Separable: a tap is valid iff it is valid along the rows and along the columns.
    return np.outer(_valid_taps_1d(H, k, r), _valid_taps_1d(W, k, r))  # (H, W)


def valid_weight_histogram(
    feature_size: int | tuple[int, int], kernel_size: int = 3, rate: int = 1
) -> dict[int, float]:
    """The fraction of output positions with each number of valid taps (Fig. 4).

    Same arguments as :func:`valid_weight_counts`. Returns ``{n_valid: fraction}``,
    sorted by ``n_valid``, with only the counts that occur (a missing key means a
    fraction of 0); the fractions sum to 1.
    """
    counts = valid_weight_counts(feature_size, kernel_size, rate)
    values, occurrences = np.unique(counts, return_counts=True)
    return {int(v): float(c) / counts.size for v, c in zip(values, occurrences, strict=True)}
