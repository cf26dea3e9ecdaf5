"""The scaled reproductions' design (results/scaled/design.toml, atrous.experiments.design_file):
it lists every scaled claim once, and a frozen design holds today's recipe, scenes and
backbones to the hashes it recorded."""

from __future__ import annotations

import dataclasses

import pytest

from atrous.base.errors import AtrousError
from atrous.experiments.design_file import (
    check_design,
    current_hashes,
    data_hash,
    load_design,
    recipe_hash,
)
from atrous.experiments.paths import committed_results
from atrous.experiments.plan import MAX_SEEDS
from atrous.experiments.recipes import experiments_of
from atrous.recipe.config import load_config
from atrous.recipe.configs import recipe_path

DESIGN = committed_results() / "scaled" / "design.toml"


def test_the_design_lists_every_scaled_claim_once():
    design = load_design(DESIGN)
    listed = [c["claim"] for c in design.claims]
    every = [f"{name}: {c.describe()}" for name, e in experiments_of("scaled").items()
             for c in e.claims]  # fmt: skip
    assert sorted(listed) == sorted(every) and len(set(listed)) == len(listed)
    assert design.values["statistics"]["min_pairs"] >= 5
    assert min(design.values["pilot"]["seeds"]) >= MAX_SEEDS  # disjoint from the final seeds


def test_the_committed_design_holds_todays_recipe_once_frozen():
    design = load_design(DESIGN)
    assert check_design(design) == [], "the frozen design does not hold today's recipe"


def test_a_frozen_design_notices_a_changed_recipe_or_scene(tmp_path):
    now = current_hashes("scaled")
    frozen = dataclasses.replace(
        load_design(DESIGN), frozen=True, recipe_hash=now["recipe_hash"],
        data_hash=now["data_hash"], pretrained=now["pretrained"],
    )  # fmt: skip
    assert check_design(frozen) == []
    config = load_config(recipe_path("scaled"))
    changed = load_config(recipe_path("scaled"), ["data.synthetic_tint=0.3"])
    assert data_hash(changed) != data_hash(config) and recipe_hash(changed) != recipe_hash(config)
    stale = dataclasses.replace(frozen, data_hash=data_hash(changed))
    assert check_design(stale)[0].startswith("data_hash: the design froze")
    (tmp_path / "bad.toml").write_text('frozen = true\nrecipe = "large"\n')
    with pytest.raises(AtrousError, match="recipe must be one of"):
        load_design(tmp_path / "bad.toml")
