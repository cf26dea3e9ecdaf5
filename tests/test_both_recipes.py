"""Both recipes claim by claim (atrous.experiments.both_recipes): the scaled claims' p-values,
the Benjamini-Hochberg decision over the design's family, dropped and untestable claims named,
and the small recipe's verdict beside each."""

from __future__ import annotations

import dataclasses

import pytest

from atrous.experiments.both_recipes import decide, figure_of_both, plot_both, section
from atrous.experiments.decisions import benjamini_hochberg, paired_p_value
from atrous.experiments.design_file import Design
from atrous.experiments.judge import UNTESTABLE, Sorted, judge
from atrous.experiments.recipes import experiments_of

SCALED = {k: v for k, v in experiments_of("scaled").items() if k in ("tab5", "tab8")}
SMALL = experiments_of("small")


def _rows(miou: dict[str, list[float]]) -> Sorted:
    s = Sorted()
    for variant, values in miou.items():
        for seed, value in enumerate(values):
            s.current[(variant, seed)] = {"miou": value}
    return s


def test_the_family_is_decided_by_benjamini_hochberg_and_the_rest_is_named():
    rows = {
        "tab5": _rows({"mg111": [50, 51, 49, 50, 52], "mg124": [53, 54, 52.5, 53.2, 55],
                       "mg124-pooling": [53.1, 54.2, 52.4, 53.0, 55.3]}),
        "tab8": _rows({"base": [60, 61, 59, 60, 62], "bn-frozen": [55, 57, 53, 56, 58]}),
    }  # fmt: skip
    claims = [{"claim": f"{n}: {c.describe()}", "seeds": 5} for n, e in SCALED.items()
              for c in e.claims]  # fmt: skip
    dropped = "tab8: base better than labels-down"
    for c in claims:
        c.update({"dropped": True} if c["claim"] == dropped else {})
    design = Design(True, "scaled", "r", "d", {}, {"statistics": {"false_discovery_rate": 0.1}},
                    claims)  # fmt: skip
    scaled = {n: judge(e, rows[n]) for n, e in SCALED.items()}
    small = {n: judge(SMALL[n], Sorted()) for n in SCALED}
    out = {d.name: d for d in decide(SCALED, small, scaled, rows, design)}
    assert out[dropped].state == "dropped" and not out[dropped].rejected
    rate24 = "tab5: mg124-rate24 no better than mg124 by more than 1 point(s)"
    assert out[rate24].state == "untestable" and out[rate24].scaled.verdict == UNTESTABLE
    family = [d for d in out.values() if d.state == "in the family"]
    expected_p = paired_p_value([3, 3, 3.5, 3.2, 3], "better")
    assert out["tab5: mg124 better than mg111"].p == pytest.approx(expected_p)
    ps = [1.0 if d.p != d.p else d.p for d in family]
    assert [d.rejected for d in family] == benjamini_hochberg(ps, 0.1)
    assert out["tab5: mg124 better than mg111"].rejected
    assert not out["tab5: mg124-pooling better than mg124"].rejected
    text = "\n".join(section(list(out.values()), design))
    assert "dropped (budget)" in text and "provisional" in text
    assert f"Decided at q = 0.1: {sum(d.rejected for d in family)} of the {len(family)}" in text
    assert "Figure: `both.png`." in "\n".join(section(list(out.values()), design, "both.png"))
    draft = dataclasses.replace(design, frozen=False)
    assert {d.state for d in decide(SCALED, small, scaled, rows, draft)} <= {
        "not designed yet", "untestable"}  # fmt: skip


def test_the_figure_draws_each_claim_on_both_recipes(tmp_path):
    """A diamond for every claim's paper difference, a circle per small interval, a square per
    scaled one (none for a dropped claim or one without runs), coloured by verdict."""
    rows = {"tab5": _rows({"mg111": [50, 51, 49], "mg124": [53, 54, 52.5]}),
            "tab8": _rows({"base": [60, 61, 59], "bn-frozen": [55, 57, 53]})}  # fmt: skip
    claims = [{"claim": f"{n}: {c.describe()}", "seeds": 3} for n, e in SCALED.items()
              for c in e.claims]  # fmt: skip
    claims[-1]["dropped"] = True  # a dropped claim keeps its small interval only
    design = Design(True, "scaled", "r", "d", {}, {}, claims)
    small_rows = {"tab5": _rows({"mg111": [40, 41], "mg124": [39, 40.5]})}
    small = {n: judge(SMALL[n], small_rows.get(n, Sorted())) for n in SCALED}
    scaled = {n: judge(e, rows[n]) for n, e in SCALED.items()}
    decisions = decide(SCALED, small, scaled, rows, design)
    ax = figure_of_both(decisions).axes[0]
    markers = [line.get_marker() for line in ax.lines]
    assert markers.count("D") == len(decisions)
    assert markers.count("o") == 1  # tab5's mg124 against mg111: the only small pairs
    drawn = [d for d in decisions if d.state != "dropped" and d.scaled.interval.n >= 1]
    assert markers.count("s") == len(drawn) == 2  # tab5: mg124 v mg111; tab8: base v bn-frozen
    squares = [line for line in ax.lines if line.get_marker() == "s"]
    assert squares[0].get_color() == "tab:green"  # mg124 beats mg111 on every seed
    assert [t.get_text() for t in ax.get_yticklabels()] == [d.name for d in decisions]
    path = plot_both(decisions, tmp_path / "both.png")
    assert path.read_bytes().startswith(b"\x89PNG")
