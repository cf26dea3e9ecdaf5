"""The boxes and arrows of the diagrams (:mod:`atrous.diagrams`), in data coordinates."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

#: Fill colours: a plain layer, an atrous one (rate > 1), a pooling or data step, the output.
PLAIN, ATROUS, POOLING, OUTPUT = "#e8eaf6", "#ffcc80", "#c8e6c9", "#d1c4e9"


def box(
    ax: Axes,
    x: float,
    y: float,
    width: float,
    height: float,
    text: str,
    colour: str = PLAIN,
    fontsize: float = 8,
) -> FancyBboxPatch:
    """A rounded box centred at ``(x, y)`` with ``text`` in its middle."""
    patch = FancyBboxPatch(
        (x - width / 2, y - height / 2),
        width,
        height,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        facecolor=colour,
        edgecolor="0.3",
        linewidth=0.8,
    )
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return patch


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    """An arrow from ``start`` to ``end``."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9,
                                 color="0.35", linewidth=0.9, shrinkA=0, shrinkB=0))  # fmt: skip


def canvas(ax: Axes, width: float, height: float) -> None:
    """Make ``ax`` a blank ``width`` x ``height`` drawing area (no ticks, equal scales)."""
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
