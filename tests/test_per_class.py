"""Per-class paired differences of a claim (atrous.experiments.per_class): identities with
the mIOU claim, absent classes left out, the figure only when a claim has pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atrous.experiments.claims import paired_interval
from atrous.experiments.design import Claim
from atrous.experiments.judge import Sorted, judge
from atrous.experiments.per_class import class_intervals, plot_per_class
from atrous.experiments.recipes import experiments_of

CLAIM = Claim("a", "b", "better")
CLASSES = ["background", "wire", "sail"]


def _rows(iou: dict[str, np.ndarray]) -> Sorted:
    """Rows of variants with IoU (seeds, classes) in points; the mIOU is their mean."""
    s = Sorted()
    for variant, values in iou.items():
        for seed, per_class in enumerate(values):
            s.current[(variant, seed)] = {
                "miou": float(np.mean(per_class)),
                "iou": {c: float(v) for c, v in zip(CLASSES, per_class, strict=True)},
            }
    return s


@given(seeds=st.integers(2, 6), data=st.randoms(use_true_random=False))
def test_the_class_differences_average_to_the_miou_difference(seeds, data):
    """mIOU is the mean of the classes' IoU, so the mean over classes of each class's mean
    paired difference is the mIOU's mean paired difference; a class that moves by the same
    amount on every seed has a zero-width interval at that amount."""
    rng = np.random.default_rng(data.randint(0, 2**32 - 1))
    b = rng.uniform(0, 100, (seeds, len(CLASSES)))
    a = b + rng.normal(0, 3, b.shape)
    a[:, 0] = b[:, 0] + 2.5  # background: +2.5 on every seed
    rows = _rows({"a": a, "b": b})
    intervals = class_intervals(rows, CLAIM)
    assert list(intervals) == CLASSES
    miou = paired_interval(rows.miou("a"), rows.miou("b"))
    assert np.mean([iv.mean for iv in intervals.values()]) == pytest.approx(miou.mean)
    assert intervals["background"].mean == pytest.approx(2.5)
    assert intervals["background"].high - intervals["background"].low == pytest.approx(0, abs=1e-9)
    assert all(iv.n == seeds for iv in intervals.values())


def test_a_class_absent_from_a_seed_leaves_that_pair_out():
    rows = _rows({"a": np.array([[50, 10, 30], [52, 12, 31], [51, 11, 29]]),
                  "b": np.array([[49, 9, 20], [50, 10, 21], [50, 10, 22]])})  # fmt: skip
    rows.current[("a", 1)]["iou"]["sail"] = None  # not in seed 1's evaluation
    sail = class_intervals(rows, CLAIM)["sail"]
    assert sail.n == 2 and sail.mean == pytest.approx(((30 - 20) + (29 - 22)) / 2)
    assert not math.isnan(class_intervals(rows, CLAIM)["wire"].mean)


def test_the_figure_is_drawn_only_once_a_claim_has_two_pairs(tmp_path):
    tab9 = experiments_of("small")["tab9"]
    one = _rows({"batch16": np.array([[50, 10, 30]]), "batch4": np.array([[40, 9, 20]])})
    assert plot_per_class("tab9", one, judge(tab9, one), tmp_path / "one.png") is None
    assert not (tmp_path / "one.png").exists()
    two = _rows({"batch16": np.array([[50, 10, 30], [51, 12, 33]]),
                 "batch4": np.array([[40, 9, 20], [42, 9, 25]])})  # fmt: skip
    path = plot_per_class("tab9", two, judge(tab9, two), tmp_path / "two.png")
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")


def test_each_class_row_prints_its_mean_difference():
    """The numbers a note quotes can be read off the figure: one label per class, its mean."""
    from matplotlib.figure import Figure

    from atrous.experiments.per_class import _panel

    tab9 = experiments_of("small")["tab9"]
    rows = _rows({"batch16": np.array([[50, 10, 30], [51, 12, 33]]),
                  "batch4": np.array([[40, 9, 20], [42, 9, 25]])})  # fmt: skip
    result = next(r for r in judge(tab9, rows) if r.interval.n == 2)
    ax = Figure().subplots()
    _panel(ax, result, class_intervals(rows, result.claim))
    (means,) = ax.child_axes
    labels = [t.get_text() for t in means.get_yticklabels()]
    assert labels == ["+9.00", "+2.00", "+9.50"]  # sail, wire, background from the bottom
