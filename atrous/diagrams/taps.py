"""Fig. 1 of the paper: the taps of a 3x3 atrous filter on the pixel grid, at several rates.

A k x k filter at rate r reads k x k input pixels ``r`` apart (Eq. 1, Sec. 3.1): the same
number of weights at every rate, spread over ``k + (k - 1)(r - 1)`` pixels. The taps are not
typed here but found by the oracle's own convolution: convolve an image that is zero but for
its centre pixel with a k x k filter of ones ("same" padding), and the outputs that are not
zero are those that read the centre pixel. For an odd filter they are exactly the pixels that
the centre output reads (the taps are symmetric about the centre).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from atrous.base.errors import AtrousError
from reference import atrous_conv2d


def atrous_taps(size: int, rate: int, kernel_size: int = 3) -> np.ndarray:
    """(size, size) bool: the input pixels that the centre output of a ``kernel_size`` x
    ``kernel_size`` filter at ``rate`` reads, by Eq. 1 (:func:`reference.atrous_conv2d`).

    ``size`` must be odd and at least the filter's effective size, so that every tap lands on
    the grid; ``kernel_size`` must be odd.
    """
    effective = kernel_size + (kernel_size - 1) * (rate - 1)
    if kernel_size % 2 == 0 or size % 2 == 0 or size < effective:
        raise AtrousError(
            f"need an odd kernel_size and an odd size >= the effective size {effective}, "
            f"got kernel_size {kernel_size}, size {size}"
        )
    delta = np.zeros((1, 1, size, size))  # (N, C, H, W): one pixel at the centre
    delta[0, 0, size // 2, size // 2] = 1.0
    ones = np.ones((1, 1, kernel_size, kernel_size))
    return atrous_conv2d(delta, ones, rate=rate, padding="same")[0, 0] > 0  # (size, size)


def draw_atrous_taps(
    axes: Sequence[Axes], rates: Sequence[int] = (1, 2, 3), kernel_size: int = 3,
    size: int | None = None,
) -> list[np.ndarray]:  # fmt: skip
    """Draw, one rate per axes, the taps of the filter on a ``size`` x ``size`` grid (default:
    the largest rate's effective size plus a border of two pixels); return the tap masks."""
    if len(axes) != len(rates):
        raise AtrousError(f"need one axes per rate, got {len(axes)} axes, {len(rates)} rates")
    largest = kernel_size + (kernel_size - 1) * (max(rates) - 1)
    size = size or largest + 4
    masks = []
    for ax, rate in zip(axes, rates, strict=True):
        taps = atrous_taps(size, rate, kernel_size)
        masks.append(taps)
        effective = kernel_size + (kernel_size - 1) * (rate - 1)
        ax.imshow(np.where(taps, 1.0, 0.0), cmap="Reds", vmin=0.0, vmax=1.3,
                  interpolation="nearest")  # fmt: skip
        ax.set_xticks(np.arange(-0.5, size), minor=True)
        ax.set_yticks(np.arange(-0.5, size), minor=True)
        ax.grid(which="minor", color="0.75", linewidth=0.6)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
        start = size // 2 - effective // 2 - 0.5
        ax.add_patch(Rectangle((start, start), effective, effective, fill=False,
                               edgecolor="tab:blue", linewidth=1.6, linestyle="--"))  # fmt: skip
        ax.set_title(f"rate {rate}: {int(taps.sum())} taps,\nfield of view "
                     f"{effective} x {effective}", fontsize=10)  # fmt: skip
    return masks
