"""The one rule for input scales (Sec. 4.3): which multi-scale inputs atrous accepts.

An image is resized by each scale before the network sees it, so a scale must be finite and
within :data:`SCALE_RANGE` (0.05 to 8: below, a 513-pixel image is under 26 pixels; above,
it would take 64 times the memory). The config's ``eval.scales``, the ``--scales`` option
and :func:`atrous.inference.strategy.predict_probabilities` all check with
:func:`check_scales`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from atrous.base.errors import AtrousError

#: The smallest and largest scale accepted.
SCALE_RANGE = (0.05, 8.0)
#: The multi-scale inputs of Sec. 4.3 / Tab. 4 and 6.
PAPER_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


def check_scales(scales: Sequence[float], option: str = "scales") -> tuple[float, ...]:
    """``scales`` as a tuple of floats; AtrousError naming ``option`` unless it is a non-empty
    list of finite numbers within :data:`SCALE_RANGE`."""
    try:
        values = tuple(float(s) for s in scales)
    except (TypeError, ValueError):
        values = ()
    low, high = SCALE_RANGE
    if not values or not all(math.isfinite(s) and low <= s <= high for s in values):
        raise AtrousError(
            f"{option} must be a non-empty list of scales from {low:g} to {high:g} (the "
            f"paper's: {list(PAPER_SCALES)}), got {list(scales)!r}"
        )
    return values
