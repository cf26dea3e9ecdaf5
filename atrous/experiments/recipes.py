"""The experiments of each reproduction recipe, by name: ``small`` and ``scaled``."""

from __future__ import annotations

from atrous.base.errors import AtrousError
from atrous.experiments.design import RECIPES, Experiment
from atrous.experiments.registry import EXPERIMENTS
from atrous.experiments.scaled import SCALED_EXPERIMENTS

_BY_RECIPE = {"small": EXPERIMENTS, "scaled": SCALED_EXPERIMENTS}


def experiments_of(recipe: str) -> dict[str, Experiment]:
    """The experiments of ``recipe`` (one of :data:`atrous.experiments.design.RECIPES`)."""
    if recipe not in RECIPES:
        raise AtrousError(f"--recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
    return _BY_RECIPE[recipe]
