"""Fig. 4 of the paper, exactly (Sec. 3.3): valid weights of a 3x3 atrous filter against the rate.

On a feature map of side ``n`` with "same" padding, a 3x3 filter at rate ``r`` has 1, 4 or 9
of its weights on the map (not on the padding) at each output position; the fractions come
from the NumPy oracle (:func:`reference.valid_weight_histogram`). :func:`write_fig4` writes
them as ``fig4.csv`` with the figure, :func:`fig4_checks` checks the figure's two statements.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atrous.base.errors import AtrousError
from reference import valid_weight_histogram

FIG4_FEATURE_SIZES = (65, 33, 9, 7)  # the paper's 65 and 33; ours at evaluation and training


def draw_valid_weights(
    ax: Axes,
    feature_size: int = 65,
    rates: Iterable[int] = range(1, 71),
    kernel_size: int = 3,
    n_valid: Sequence[int] = (1, 4, 9),
) -> dict[int, np.ndarray]:
    """Draw Fig. 4 on ``ax``; return ``{n: fraction of positions with n valid weights}``,
    one value per rate."""
    rates = list(rates)
    if not rates:
        raise AtrousError("rates must hold at least one rate")
    histograms = [valid_weight_histogram(feature_size, kernel_size, r) for r in rates]
    curves = {n: np.array([h.get(n, 0.0) for h in histograms]) for n in n_valid}
    for n, fractions in curves.items():
        ax.plot(rates, fractions, marker=".", label=f"{n} valid weight{'s' if n > 1 else ''}")
    ax.set_xlabel("atrous rate")
    ax.set_ylabel("normalized count (fraction of output positions)")
    ax.set_title(
        f"Valid weights of a {kernel_size}x{kernel_size} filter, 'same' padding,\n"
        f"{feature_size}x{feature_size} feature map (Fig. 4)"
    )
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(curves))
    return curves


def write_fig4(results: str | Path, rates: Sequence[int] = tuple(range(1, 71))) -> Path:
    """``fig4.csv`` (the fraction of positions with 1, 4 and 9 valid weights of a 3x3 filter,
    per feature size and rate, from :mod:`reference`) and ``fig4.png``."""
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    path = results / "fig4.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["feature_size", "rate", "valid_1", "valid_4", "valid_9"])
        for size in FIG4_FEATURE_SIZES:
            for r in rates:
                h = valid_weight_histogram(size, 3, r)
                writer.writerow([size, r, *(round(h.get(n, 0.0), 6) for n in (1, 4, 9))])
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    for ax, size in zip(fig.subplots(1, 2), (65, 9), strict=True):
        draw_valid_weights(ax, size, rates if size == 65 else range(1, 13))
    fig.axes[1].set_title("The same on our 9 x 9 map at evaluation\n(rates 2, 4, 6, 8 for "
                          "the paper's 6, 12, 18, 24)")  # fmt: skip
    FigureCanvasAgg(fig).print_png(results / "fig4.png")
    return path


def fig4_checks(size: int = 65) -> list[tuple[str, bool]]:
    """The figure's two statements, checked exactly."""
    small = valid_weight_histogram(size, 3, 1).get(9, 0.0)
    large = valid_weight_histogram(size, 3, size).get(1, 0.0)
    return [
        (f"at rate 1 most positions ({small:.3f}) have all 9 weights valid", small > 0.9),
        (f"at rate {size} = feature size every position has only the centre weight "
         f"({large:.3f}): the filter is 1x1", large == 1.0),
    ]  # fmt: skip
