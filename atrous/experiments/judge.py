"""Which rows count, and the claims judged on them.

A row is *current* when its config hash is the one the code defines today for its
(variant, seed); rows of a variant that no longer exists or of another config are *stale*:
left out of every mean and verdict, and counted as missing (:func:`sort_rows`). Nothing is
deleted. :func:`judge` gives every claim of an experiment its interval and verdict
(:mod:`atrous.experiments.claims`) beside the paper's two numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from atrous.experiments.claims import Interval, paired_interval, verdict
from atrous.experiments.design import FULL_SEEDS, Claim, Experiment
from atrous.experiments.paper import value as paper_value
from atrous.experiments.plan import planned_runs, variant_config
from atrous.experiments.rows import config_hash
from atrous.experiments.testability import Testability, claim_testability

#: The verdict of a claim whose variants cannot differ at this scale.
UNTESTABLE = "untestable at this scale"
#: The verdict of a claim a design dropped: its pairs did not fit the CPU budget
#: (:mod:`atrous.experiments.budget`).
DROPPED = "dropped (budget)"


@dataclass
class Sorted:
    """An experiment's rows: current ones by (variant, seed), stale ones, missing runs."""

    current: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    stale: list[dict[str, Any]] = field(default_factory=list)
    missing: list[tuple[str, int]] = field(default_factory=list)

    def miou(self, variant: str) -> dict[int, float]:
        """seed -> mIOU of the current rows of ``variant``."""
        return {s: r["miou"] for (v, s), r in self.current.items() if v == variant}


def sort_rows(
    experiment: Experiment, rows: Sequence[dict[str, Any]], budget: str = "full",
    chosen: Mapping[str, Sequence[int]] | None = None,
) -> Sorted:  # fmt: skip
    """Split ``rows`` into current and stale, and list the planned runs with no row (the
    default seeds of ``budget``, or the ``{variant: seeds}`` a design ``chosen``)."""
    seeds = FULL_SEEDS if budget == "full" else 1
    expected = {}
    for variant, seed in planned_runs(experiment, seeds, budget, chosen=chosen):
        config = variant_config(variant, seed, budget)
        expected[(variant.name, seed)] = config_hash(config, variant.replicas)
    names = {v.name for v in experiment.variants}
    out = Sorted()
    for row in rows:
        key = (row["variant"], row["seed"])
        ok = row["variant"] in names and row["budget"] == budget
        if ok and key not in expected:  # an extra seed: current if its config is today's
            variant = experiment.variant(row["variant"])
            ok = row["config_hash"] == config_hash(variant_config(variant, row["seed"], budget),
                                                   variant.replicas)  # fmt: skip
        elif ok:
            ok = row["config_hash"] == expected[key]
        if ok:
            out.current[key] = row  # the last current row of a key wins (they are equal)
        else:
            out.stale.append(row)
    out.missing = [key for key in expected if key not in out.current]
    return out


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    interval: Interval
    verdict: str
    paper_a: float
    paper_b: float


def paper_of(experiment: Experiment, variant: str) -> float:
    """The paper's mIOU of a variant (its first table), NaN if it has none."""
    refs = experiment.variant(variant).paper
    return paper_value(*refs[0]) if refs else math.nan


def testability(experiment: Experiment, claim: Claim, budget: str = "full") -> Testability:
    """Whether the claim's two variants can differ on the recipe's maps (before any run)."""
    a, b = (variant_config(experiment.variant(v), 0, budget) for v in (claim.a, claim.b))
    return claim_testability(a, b)


def judge(experiment: Experiment, rows: Sorted, budget: str = "full") -> list[ClaimResult]:
    """Every claim of ``experiment`` on the current rows: *untestable at this scale* when its
    variants cannot differ on the recipe's maps (:mod:`atrous.experiments.testability`)."""
    out = []
    for claim in experiment.claims:
        interval = paired_interval(rows.miou(claim.a), rows.miou(claim.b))
        paper_a, paper_b = paper_of(experiment, claim.a), paper_of(experiment, claim.b)
        said = verdict(claim, interval)
        if not testability(experiment, claim, budget).testable:
            said = UNTESTABLE
        out.append(ClaimResult(claim, interval, said, paper_a, paper_b))
    return out
