"""The runs a design asks for (atrous.experiments.designed_runs): nothing of a designed recipe
runs at the full budget before its design is frozen and holds today's recipe; the pilot and
the claims' seeds come from the design; every row records the design it ran under."""

from __future__ import annotations

import dataclasses

import pytest

from atrous.base.errors import AtrousError
from atrous.experiments import designed_runs
from atrous.experiments.design_file import Design, current_hashes, load_design
from atrous.experiments.designed_runs import (
    claim_seeds,
    designed,
    off_design,
    pilot_seeds,
)
from atrous.experiments.paths import committed_results
from atrous.experiments.plan import planned_runs
from atrous.experiments.recipes import experiments_of
from atrous.experiments.rows import read_rows
from atrous.experiments.runner import reproduce

SCALED = experiments_of("scaled")
TAB5 = SCALED["tab5"]


def _design(tmp_path, frozen: bool, hashes: dict | None = None, claims: str = "") -> None:
    hashes = hashes or {"recipe_hash": "", "data_hash": "", "pretrained": {}}
    pretrained = "".join(f'{k} = "{v}"\n' for k, v in hashes["pretrained"].items())
    (tmp_path / "design.toml").write_text(
        f'frozen = {str(frozen).lower()}\nrecipe = "scaled"\n'
        f'recipe_hash = "{hashes["recipe_hash"]}"\ndata_hash = "{hashes["data_hash"]}"\n'
        f'[pretrained]\n{pretrained}[pilot]\nvariant = "tab5/mg124-pooling"\n'
        f"seeds = [100, 101]\n{claims}"
    )


@pytest.fixture
def design_at(tmp_path, monkeypatch):
    monkeypatch.setattr(designed_runs, "design_path", lambda recipe: tmp_path / "design.toml")
    return tmp_path


def test_no_full_run_before_the_design_is_frozen_and_holds_todays_recipe(design_at):
    _design(design_at, frozen=False)
    with pytest.raises(AtrousError, match="is a draft"):
        reproduce("tab5", recipe="scaled", budget="full", results=design_at, progress=False)
    now = current_hashes("scaled")
    _design(design_at, frozen=True, hashes={**now, "data_hash": "0" * 16})
    with pytest.raises(AtrousError, match="data_hash: the design froze '0000"):
        designed("scaled", TAB5, "full", None, pilot=False)
    _design(design_at, frozen=True, hashes=now)
    with pytest.raises(AtrousError, match="--seeds: the scaled recipe's seeds come from"):
        designed("scaled", TAB5, "full", 3, pilot=False)
    chosen, columns = designed("scaled", TAB5, "full", None, pilot=True)
    assert chosen == {"mg124-pooling": [100, 101]}
    assert columns == {"recipe_hash": now["recipe_hash"], "data_hash": now["data_hash"]}
    with pytest.raises(AtrousError, match="pilot is 'tab5/mg124-pooling'"):
        designed("scaled", SCALED["tab8"], "full", None, pilot=True)
    with pytest.raises(AtrousError, match="the small recipe has no design"):
        designed("small", TAB5, "full", None, pilot=True)
    assert designed("small", TAB5, "full", 3, pilot=False) == (None, {})


def test_the_claims_kept_give_their_variants_seeds(design_at):
    claims = (
        '[[claims]]\nclaim = "tab5: mg124 better than mg111"\nseeds = 6\n'
        '[[claims]]\nclaim = "tab5: mg124-pooling better than mg124"\nseeds = 8\n'
        '[[claims]]\nclaim = "tab5: mg124-rate24 no better than mg124 by more than 1 point(s)"\n'
        "seeds = 20\ndropped = true\n"
        '[[claims]]\nclaim = "tab8: base better than crop129"\nseeds = 9\n'
    )
    _design(design_at, frozen=False, claims=claims)
    design = load_design(design_at / "design.toml")
    chosen = claim_seeds(design, TAB5)
    assert chosen == {"mg124": list(range(8)), "mg111": list(range(6)),
                      "mg124-pooling": list(range(8))}  # fmt: skip
    runs = planned_runs(TAB5, None, "full", chosen=chosen)
    assert sorted((v.name, s) for v, s in runs) == sorted(
        (name, s) for name, seeds in chosen.items() for s in seeds)  # fmt: skip
    assert planned_runs(TAB5, None, "full", ["mg111"], chosen) == [
        (TAB5.variant("mg111"), s) for s in range(6)]  # fmt: skip
    assert claim_seeds(design, SCALED["tab8"]) == {"base": list(range(9)),
                                                    "crop129": list(range(9))}  # fmt: skip
    unset = dataclasses.replace(design, claims=[{"claim": "tab5: mg124 better than mg111"}])
    with pytest.raises(AtrousError, match="has no seeds yet"):
        claim_seeds(unset, TAB5)
    with pytest.raises(AtrousError, match="has no variant 'nope'"):
        pilot_seeds(dataclasses.replace(design, values={"pilot": {"variant": "tab5/nope"}}),
                    TAB5)  # fmt: skip


def test_a_quick_pilot_runs_the_design_s_pilot_seeds_into_pilot(design_at, tmp_path):
    _design(design_at, frozen=False)
    rows = reproduce("tab5", recipe="scaled", budget="quick", pilot=True, progress=False,
                     results=tmp_path / "results", store=tmp_path / "store")  # fmt: skip
    assert [(r["variant"], r["seed"]) for r in rows] == [("mg124-pooling", 100),
                                                        ("mg124-pooling", 101)]  # fmt: skip
    written = read_rows(tmp_path / "results" / "pilot" / "tab5.csv")
    assert [r["seed"] for r in written] == [100, 101]
    assert {r["recipe_hash"] for r in written} == {""}  # a quick run follows no frozen design
    design = Design(True, "scaled", "r", "d")
    assert len(off_design(design, written, "pilot/tab5.csv")) == 2
    matching = [{**r, "recipe_hash": "r", "data_hash": "d"} for r in written]
    assert off_design(design, matching, "x") == []


def test_every_committed_scaled_row_ran_under_the_frozen_design():
    folder = committed_results() / "scaled"
    design = load_design(folder / "design.toml")
    problems = []
    for path in [
        *folder.glob("*.csv"),
        *folder.glob("pilot/*.csv"),
        *folder.glob("exploratory/*.csv"),
    ]:
        if path.name == "fig4.csv":  # the oracle's table, not runs
            continue
        rows = read_rows(path)
        assert not rows or design.frozen, f"{path}: rows before the design was frozen"
        problems += off_design(design, rows, str(path))
    assert problems == []
