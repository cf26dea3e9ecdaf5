"""Exploratory follow-ups: one experiment per scaled claim that disagrees, testing its reason.

The design (``results/scaled/design.toml``) allows a claim that still disagrees one
follow-up experiment that tests the reason a person gave for it (``notes.toml``), labelled
exploratory and kept outside the family: it is not in the Benjamini-Hochberg family, not in
the design's budget, and its verdict changes no designed claim's. Each :class:`FollowUp`
says which claim it follows, the reason it tests and what that reason predicts, and is
committed before its runs; ``python -m atrous reproduce NAME --recipe scaled`` runs it into
``results/scaled/exploratory/NAME.csv`` (rows carry the design's hashes), and the scaled
report shows it in a section of its own.

- ``tab2-3-long`` follows *deep-block7 better than deep-block4* (Tab. 2), which our scaled
  runs reverse (-2.8 points with 4 pairs). The cascade's rates keep the paper's ratios here
  (unlike the small recipe's), but block5 to block7 start from random weights on a
  pre-trained block1 to block4, and their training loss stays above block4's at every one
  of the 600 iterations (``results/scaled/tab2-3-curves.png``; the shallow block7 network's
  too). If that is the reason, three times the schedule (1800 iterations, BN momentum
  scaled to keep its time constant the same fraction of the schedule) narrows the gap.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atrous.base.errors import AtrousError
from atrous.experiments.design import Claim, Experiment, Variant
from atrous.experiments.judge import Sorted, sort_rows
from atrous.experiments.rows import read_rows
from atrous.experiments.scaled import SCALED_EXPERIMENTS

#: Three times the scaled schedule, with BN's time constant the same fraction of it.
LONG = ("train.iterations=1800", "model.bn_momentum=0.005")


@dataclass(frozen=True)
class FollowUp:
    """One exploratory experiment: the claim it ``follows``, the ``reason`` it tests, what
    that reason ``predicts``, the ``seeds`` (0 .. seeds - 1) of each variant, the changes
    only its full runs make (``full_only``) and the commit that added it, before its runs
    (``designed_at``; a test holds every row's commit to descend from it)."""

    follows: str
    reason: str
    predicts: str
    experiment: Experiment
    seeds: int
    full_only: tuple[str, ...] = ()
    designed_at: str = ""

    def chosen(self, budget: str) -> dict[str, list[int]] | None:
        """``{variant: seeds}`` at ``budget``: its own seeds at full, None (one seed) at quick."""
        if budget != "full":
            return None
        return {v.name: list(range(self.seeds)) for v in self.experiment.variants}

    def csv(self, results: Path) -> Path:
        """Where its rows go: ``exploratory/NAME.csv`` in the recipe's ``results`` folder."""
        return results / "exploratory" / f"{self.experiment.name}.csv"

    def rows(self, results: Path, budget: str) -> Sorted:
        """Its rows of ``budget``, sorted with its own seeds (:meth:`chosen`)."""
        experiment = self.at(budget)
        return sort_rows(experiment, read_rows(self.csv(results)), budget, self.chosen(budget))

    def at(self, budget: str) -> Experiment:
        """The experiment at ``budget``: a quick (smoke) run keeps quick's own schedule."""
        if budget == "full":
            return self.experiment
        variants = tuple(dataclasses.replace(v, train=tuple(c for c in v.train
                                                            if c not in self.full_only))
                         for v in self.experiment.variants)  # fmt: skip
        return dataclasses.replace(self.experiment, variants=variants)


def _longer(name: str) -> Variant:
    v = SCALED_EXPERIMENTS["tab2-3"].variant(name)
    return dataclasses.replace(v, name=f"{name}-long", train=(*v.train, *LONG))


_TAB2_3_LONG = Experiment(
    "tab2-3-long", "The cascade with three times the schedule", ("Tab. 2",),
    (_longer("deep-block4"), _longer("deep-block7")),
    (Claim("deep-block7-long", "deep-block4-long",
           text="a deeper cascade helps, given 1800 iterations"),),
    notes="deep-block4 and deep-block7 of tab2-3 with train.iterations=1800 and "
          "model.bn_momentum=0.005 (3x the schedule, the same BN time constant as a "
          "fraction of it). Exploratory: outside the family and the budget.",
)  # fmt: skip

TAB2_3_LONG = FollowUp(
    follows="tab2-3: deep-block7 better than deep-block4",
    reason="block5 to block7 start from random weights on a pre-trained block1 to block4, and "
    "600 iterations do not train them as far: their training loss stays above block4's",
    predicts="with three times the schedule the paired difference deep-block7 - deep-block4 "
    "is higher than at 600 iterations (-2.8 points with 4 pairs when this was written), if "
    "not positive",
    experiment=_TAB2_3_LONG,
    seeds=3,
    full_only=LONG,
    designed_at="43ee3c7",
)

#: The follow-ups of each recipe, by experiment name.
FOLLOWUPS: dict[str, dict[str, FollowUp]] = {"small": {}, "scaled": {"tab2-3-long": TAB2_3_LONG}}


def followup_runs(
    followup: FollowUp, recipe: str, budget: str, seeds: int | None, pilot: bool
) -> tuple[dict[str, list[int]] | None, dict[str, Any]]:
    """The ``{variant: seeds}`` a run of ``followup`` makes at ``budget`` (None at quick: one
    seed) and what its rows record of the frozen design (nothing at quick)."""
    from atrous.experiments.designed_runs import design_columns, frozen_design  # torch: late

    name = followup.experiment.name
    if pilot:
        raise AtrousError(f"--pilot: {name} is an exploratory follow-up; the pilot is the "
                          f"design's")  # fmt: skip
    if seeds is not None:
        raise AtrousError(f"--seeds: the seeds of {name} are its own ({followup.seeds}), "
                          f"committed before its runs")  # fmt: skip
    if budget != "full":
        return None, {}
    return followup.chosen(budget), design_columns(frozen_design(recipe))
