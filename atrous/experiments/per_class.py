"""Which classes move a claim: the paired difference of each class's IoU.

A claim is judged on mIOU (:mod:`atrous.experiments.claims`); a person asking why it came out
as it did (``notes.toml``) looks at the classes. Image pooling should help the classes that
only the scene tells apart (a sail on the sea, a tent on land), a denser output stride the
thin wires, a larger crop the large objects. For each claim of an experiment that has at
least two paired seeds and can be tested, :func:`plot_per_class` draws, class by class, the
mean paired difference of IoU, A - B over the seeds both variants have, with its 90%
t-interval (:func:`atrous.experiments.claims.paired_interval`): ``NAME-classes.png``.

These intervals describe; they decide nothing (seven classes per claim, no correction for
multiple comparisons): the claims are the mIOU ones.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atrous.experiments.claims import Interval, paired_interval
from atrous.experiments.design import Claim
from atrous.experiments.judge import DROPPED, UNTESTABLE, ClaimResult, Sorted
from atrous.experiments.plots import VERDICT_COLOURS, draw_interval


def _iou(rows: Sorted, variant: str) -> dict[int, dict[str, float]]:
    """seed -> {class: IoU in points} of the current rows of ``variant`` (absent: NaN)."""
    return {
        seed: {c: math.nan if v is None else float(v) for c, v in row["iou"].items()}
        for (name, seed), row in rows.current.items()
        if name == variant
    }


def class_intervals(rows: Sorted, claim: Claim) -> dict[str, Interval]:
    """class -> the interval of IoU(A) - IoU(B) over the seeds both variants have (a class
    absent from a seed's evaluation, NaN, leaves that pair out), in the rows' class order."""
    a, b = _iou(rows, claim.a), _iou(rows, claim.b)
    classes = list(dict.fromkeys(c for per_seed in (*a.values(), *b.values()) for c in per_seed))
    return {
        c: paired_interval(
            {s: v.get(c, math.nan) for s, v in a.items()},
            {s: v.get(c, math.nan) for s, v in b.items()},
        )
        for c in classes
    }


def _panel(ax, result: ClaimResult, intervals: dict[str, Interval]) -> None:
    """One claim: a row per class, its interval coloured by the claim's verdict (hollow: a
    class with one pair) and its mean printed at the right edge, so a note's number can be
    read off exactly."""
    colour, names = VERDICT_COLOURS[result.verdict], list(intervals)
    for y, name in enumerate(names[::-1]):
        draw_interval(ax, intervals[name], y, colour, ms=4)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(range(len(names)), names[::-1], fontsize=8)
    means = ax.secondary_yaxis("right")
    means.set_yticks(range(len(names)), [f"{intervals[n].mean:+.2f}" for n in names[::-1]])
    means.tick_params(length=0, labelsize=7)
    iv = result.interval
    ax.set_title(f"{result.claim.describe()}\nmIOU {iv.mean:+.2f} [{iv.low:+.2f}, "
                 f"{iv.high:+.2f}], {iv.n} pairs: {result.verdict}", fontsize=8)  # fmt: skip
    ax.tick_params(axis="x", labelsize=8)


def plot_per_class(name: str, rows: Sorted, judged: list[ClaimResult], path: Path) -> Path | None:
    """The figure of the module docstring for experiment ``name``; None (and no file) when
    no claim has two pairs yet."""
    shown = [r for r in judged if r.interval.n >= 2 and r.verdict not in (UNTESTABLE, DROPPED)]
    if not shown:
        return None
    columns = min(3, len(shown))
    lines = math.ceil(len(shown) / columns)
    fig = Figure(figsize=(max(4.2 * columns, 7.0), 3.0 * lines + 0.8), layout="constrained")
    fig.get_layout_engine().set(wspace=0.06)  # room for the means beside the next panel's classes
    axes = fig.subplots(lines, columns, squeeze=False).ravel()
    for ax, result in zip(axes, shown, strict=False):
        _panel(ax, result, class_intervals(rows, result.claim))
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    fig.supxlabel("IoU difference A - B per class (points): mean and 90% paired t-interval",
                  fontsize=9)  # fmt: skip
    fig.suptitle(f"{name}: which classes move each claim (descriptive; the claims are on mIOU)",
                 fontsize=10)  # fmt: skip
    FigureCanvasAgg(fig).print_png(path)
    return path
