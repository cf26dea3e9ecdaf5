"""Figures computed from the NumPy oracle (:mod:`reference`).

- :func:`plot_valid_weights`: Fig. 4 of the paper (Sec. 3.3): on a 65x65 feature map, the
  fraction of output positions where a "same"-padded 3x3 atrous filter has 1, 4 or 9
  valid weights (taps on the map, not on the padding), against the rate.
- :func:`plot_gridding`: the receptive field of three cascaded 3x3 atrous convolutions
  with multi-grid rates (2, 2, 2), full of holes, next to (1, 2, 4), which covers every
  pixel (Sec. 3.2.1).

Each ``plot_*`` function writes a PNG and returns its path; the matching ``draw_*``
function draws on axes you pass (what the chapters use, to show the figure inline).
Figures are rendered with matplotlib's Agg canvas, never a window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reference import coverage, valid_weight_histogram


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
        raise ValueError("rates must hold at least one rate")
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


def _save(fig: Figure, out_dir: str | Path, name: str) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    FigureCanvasAgg(fig)  # render with Agg, whatever the session's backend
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def plot_valid_weights(
    out_dir: str | Path, feature_size: int = 65, rates: Iterable[int] = range(1, 71)
) -> Path:
    """Write Fig. 4 (1, 4 and 9 valid weights of a 3x3 filter against the rate) as a PNG.

    Args:
        out_dir: folder for the figure; created if missing.
        feature_size: side of the square feature map (65 in the paper).
        rates: the atrous rates on the x axis (1 to 70 in the paper).

    Returns:
        The path of ``fig4_valid_weights.png``.
    """
    fig = Figure(figsize=(7, 4.5))
    draw_valid_weights(fig.add_subplot(), feature_size, rates)
    return _save(fig, out_dir, "fig4_valid_weights.png")


def draw_gridding(
    axes: Sequence[Axes], cascades: Sequence[Sequence[int]], kernel_size: int = 3
) -> list[np.ndarray]:
    """Draw, one cascade per axes, which input pixels reach the centre output."""
    if len(axes) != len(cascades):
        raise ValueError(f"need one axes per cascade, got {len(axes)} axes, {len(cascades)}")
    masks = []
    for ax, rates in zip(axes, cascades, strict=True):
        mask = coverage(rates, kernel_size)
        masks.append(mask)
        ax.imshow(mask, cmap="Greys", vmin=0, vmax=1.4, interpolation="nearest")
        centre = mask.shape[0] // 2
        ax.plot(centre, centre, marker="x", color="tab:red", markersize=10, mew=2)
        ax.set_title(
            f"rates {tuple(rates)}: {mask.sum()} of {mask.size} pixels\n"
            f"in the {mask.shape[0]}x{mask.shape[1]} receptive field"
        )
        ax.set_xticks([])
        ax.set_yticks([])
    return masks


def plot_gridding(
    out_dir: str | Path,
    cascades: Sequence[Sequence[int]] = ((2, 2, 2), (1, 2, 4)),
    kernel_size: int = 3,
) -> Path:
    """Write the coverage of cascaded atrous convolutions (the gridding problem) as a PNG.

    Args:
        out_dir: folder for the figure; created if missing.
        cascades: the rates of each cascade to show, side by side.
        kernel_size: the filters' size.

    Returns:
        The path of ``gridding.png``.
    """
    fig = Figure(figsize=(4 * len(cascades), 4.4))
    axes = fig.subplots(1, len(cascades), squeeze=False)[0]
    draw_gridding(list(axes), cascades, kernel_size)
    fig.suptitle(
        "Input pixels (dark) that reach the output (x) through cascaded "
        f"{kernel_size}x{kernel_size} atrous convs"
    )
    return _save(fig, out_dir, "gridding.png")
