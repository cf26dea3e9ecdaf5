"""The experiments of each reproduction recipe, by name: ``small`` and ``scaled``."""

from __future__ import annotations

from atrous.base.errors import AtrousError
from atrous.experiments.design import RECIPES, Claim, Experiment
from atrous.experiments.registry import EXPERIMENTS
from atrous.experiments.scaled import SCALED_EXPERIMENTS

_BY_RECIPE = {"small": EXPERIMENTS, "scaled": SCALED_EXPERIMENTS}


def claim_named(recipe: str, text: str) -> tuple[str, Experiment, Claim]:
    """The experiment name, experiment and claim that ``text`` ("NAME: claim", as designs,
    notes and follow-ups write it) names; AtrousError if none."""
    name = text.split(":")[0]
    experiment = experiments_of(recipe).get(name)
    for claim in experiment.claims if experiment else ():
        if f"{name}: {claim.describe()}" == text:
            return name, experiment, claim
    raise AtrousError(f"no claim of the {recipe} recipe is {text!r}")


def experiments_of(recipe: str) -> dict[str, Experiment]:
    """The experiments of ``recipe`` (one of :data:`atrous.experiments.design.RECIPES`)."""
    if recipe not in RECIPES:
        raise AtrousError(f"--recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
    return _BY_RECIPE[recipe]
