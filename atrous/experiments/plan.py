"""Which runs an experiment plans: each variant's config at a seed and budget.

A run's config is the base recipe, the budget's changes, the variant's ``train`` and
``eval`` changes and ``train.seed`` (:func:`variant_config`); :func:`planned_runs` lists the
(variant, seed) pairs of an experiment, :func:`runs_to_do` those whose current row is not yet
in its results file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from atrous.base.errors import AtrousError
from atrous.experiments.design import BUDGETS, FULL_SEEDS, Experiment, Variant
from atrous.experiments.rows import config_hash, read_rows
from atrous.recipe.config import TrainConfig, load_config
from atrous.recipe.configs import recipe_path

#: The most seeds a variant may get (each is a training run).
MAX_SEEDS = 100


def variant_overrides(variant: Variant, seed: int, budget: str) -> list[str]:
    """The ``--set`` changes of the base recipe for ``variant`` at ``seed`` and ``budget``."""
    if budget not in BUDGETS:
        raise AtrousError(f"--budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    return [*BUDGETS[budget], *variant.train, *variant.eval, f"train.seed={seed}"]


def variant_config(variant: Variant, seed: int, budget: str) -> TrainConfig:
    """The validated config of one run."""
    return load_config(recipe_path(variant.base), variant_overrides(variant, seed, budget))


def planned_runs(
    experiment: Experiment, seeds: int | None, budget: str, only: Sequence[str] = (),
    chosen: Mapping[str, Sequence[int]] | None = None,
) -> list[tuple[Variant, int]]:  # fmt: skip
    """(variant, seed) pairs to run: ``seeds`` (default :data:`FULL_SEEDS` at the full
    budget, 1 at quick) for every variant a claim compares, 1 for the others; or, where a
    design ``chosen`` them (:mod:`atrous.experiments.designed_runs`), those variants at
    those seeds."""
    for name in only:
        experiment.variant(name)  # names a missing one
    if chosen is not None:
        return [(v, seed) for v in experiment.variants
                if v.name in chosen and (not only or v.name in only)
                for seed in chosen[v.name]]  # fmt: skip
    claimed = seeds if seeds is not None else (FULL_SEEDS if budget == "full" else 1)
    if not 1 <= claimed <= MAX_SEEDS:
        raise AtrousError(f"--seeds must be from 1 to {MAX_SEEDS}, got {claimed}")
    return [
        (v, seed)
        for v in experiment.variants
        if not only or v.name in only
        for seed in range(experiment.seeds(v.name, claimed))
    ]


def runs_to_do(
    experiment: Experiment, path: Path, seeds: int | None, budget: str, only: Sequence[str] = (),
    chosen: Mapping[str, Sequence[int]] | None = None,
) -> list[tuple[Variant, int]]:  # fmt: skip
    """The planned runs of ``experiment`` that have no current row in the CSV at ``path``."""
    have = {(r["variant"], r["seed"], r["config_hash"]) for r in read_rows(path)}
    todo = []
    for variant, seed in planned_runs(experiment, seeds, budget, only, chosen):
        config = variant_config(variant, seed, budget)
        if (variant.name, seed, config_hash(config, variant.replicas)) not in have:
            todo.append((variant, seed))
    return todo
