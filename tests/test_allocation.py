"""Seeds per claim from the pilot, and the claims the budget keeps
(atrous.experiments.allocation): the paper's effect or 1 point, pairs from the power
calculation, claims dropped in the design's order, the seeds written into the design once."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from atrous.base.errors import AtrousError
from atrous.experiments import allocation, designed_runs
from atrous.experiments.allocation import (
    Allocation,
    Pilot,
    allocate,
    claim_effect,
    eval_seconds,
    step_seconds,
    write_seeds,
)
from atrous.experiments.decisions import pairs_needed
from atrous.experiments.design_file import load_design
from atrous.experiments.judge import paper_of
from atrous.experiments.plan import variant_config
from atrous.experiments.recipes import experiments_of

SCALED = experiments_of("scaled")
DESIGN = load_design(designed_runs.design_path("scaled"))


def _claims() -> list:
    out = []
    for entry in DESIGN.claims:
        name = entry["claim"].split(":")[0]
        claim = next(c for c in SCALED[name].claims
                     if f"{name}: {c.describe()}" == entry["claim"])  # fmt: skip
        out.append((entry["claim"], SCALED[name], claim))
    return out


def test_the_effect_is_the_paper_s_difference_or_the_margin_at_least_one_point():
    tab1 = SCALED["tab1"]
    os16_32 = next(c for c in tab1.claims if (c.a, c.b) == ("os16", "os32"))
    gap = paper_of(tab1, "os16") - paper_of(tab1, "os32")
    assert gap > 1 and claim_effect(tab1, os16_32) == pytest.approx(gap)
    tab5 = SCALED["tab5"]
    pooling = next(c for c in tab5.claims if c.a == "mg124-pooling")
    assert abs(paper_of(tab5, "mg124-pooling") - paper_of(tab5, "mg124")) < 1
    assert claim_effect(tab5, pooling) == 1.0
    margin = next(c for c in tab5.claims if c.kind == "no_better")
    assert claim_effect(tab5, margin) == max(margin.margin, 1.0)


def test_pairs_follow_the_pilot_s_spread_and_the_budget_drops_claims_in_order():
    claims = _claims()
    config = variant_config(SCALED["tab5"].variant("mg124-pooling"), 0, "full")
    pilot = Pilot([60.0, 62.0, 61.0, 63.0, 59.5], 0.1, 0.01, config)
    calls: list[str] = []

    def cost(c, what):
        calls.append(what)
        return 1.0

    everything, total = allocate(claims, pilot, 1e6, 1.0, cost)
    assert total > 1.0
    sd = math.sqrt(2) * float(np.std(pilot.miou, ddof=1))  # of a difference, no pairing
    for a in everything:
        assert a.pairs == pairs_needed(a.effect, sd) >= 5
        assert a.kept == a.testable
    assert any(not a.testable for a in everything)  # the small maps' untestable claims
    assert set(calls) == {"train", "eval"}
    wider, _ = allocate(claims, Pilot([55.0, 65.0, 60.0, 70.0, 50.0], 0.1, 0.01, config), 1e6, 1.0,
                     cost)  # fmt: skip
    assert all(w.pairs >= a.pairs for w, a in zip(wider, everything, strict=True))
    some, within = allocate(claims, pilot, 40.0, 1.0, cost)
    assert within <= 40.0
    kept = [a.kept for a in some]
    assert 0 < sum(kept) < sum(a.kept for a in everything)
    first_kept = kept.index(True)
    assert all(kept[i] or not some[i].testable for i in range(first_kept, len(kept)))
    assert not any(a.kept for a in allocate(claims, pilot, 0.5, 1.0, cost)[0])


def test_the_seeds_are_written_into_the_design_once(tmp_path, monkeypatch):
    path = tmp_path / "design.toml"
    committed = designed_runs.design_path("scaled").read_text().splitlines(keepends=True)
    set_later = ("seeds =", "dropped =", "untestable =")  # the design before its seeds were set
    path.write_text("".join(line for line in committed if not line.startswith(set_later)))
    monkeypatch.setattr(allocation, "design_path", lambda recipe: path)
    monkeypatch.setattr(designed_runs, "design_path", lambda recipe: path)
    first, second, third = (c["claim"] for c in DESIGN.claims[:3])
    allocations = [Allocation(first, True, 1.0, 7, False), Allocation(second, True, 2.0, 5, True),
                   Allocation(third, False, 1.0, 5, False)]  # fmt: skip
    write_seeds("scaled", allocations)
    claims = load_design(path).claims
    assert claims[0] == {"claim": first, "seeds": 7, "dropped": True}
    assert claims[1] == {"claim": second, "seeds": 5}
    assert claims[2] == {"claim": third, "seeds": 5, "dropped": True, "untestable": True}
    with pytest.raises(AtrousError, match="seeds are set already"):
        write_seeds("scaled", allocations)


def test_the_cost_of_a_config_is_measured_on_its_network():
    quick = variant_config(SCALED["tab5"].variant("mg124-pooling"), 0, "quick")
    for seconds in (step_seconds(quick, repeats=1), eval_seconds(quick, side=64, repeats=1)):
        assert 0 < seconds < 60


def test_a_timing_is_a_statistic_of_the_repeats_after_one_warm_up():
    """The fastest by default (for comparing configs); another statistic (the bench's mean)
    sees every repeat and not the warm-up."""
    calls = []
    assert allocation._timed(lambda: calls.append(1), 4, statistic=len) == 4
    assert len(calls) == 5
    walls = iter([0.05, 0.05, 0.0, 0.05])  # warm-up, then two slow repeats and a fast one

    def call() -> None:
        time.sleep(next(walls))

    assert allocation._timed(call, 3) < 0.03  # the fast one: the mean would be 0.033 or more
