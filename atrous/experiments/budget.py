"""The designed runs against the design's CPU budget, and the claims judged as they ran.

``results/scaled/design.toml`` sized its runs to fit ``[statistics] cpu_hours`` (single-thread
CPU hours, pre-training and pilot included) and says what happens if they cost more than
its projection: once the budget is spent no new run starts (:func:`check_budget`, which
``reproduce`` calls before each designed run; a run under way finishes, so each process may
end one run past it), and every claim still short of its pairs is reported as dropped
(:func:`as_run`), like a claim the allocation dropped. The loop of
``results/scaled/README.md`` runs the experiments of the last-dropped claims first, so the
claims a short budget loses are the first-listed ones.

The hours (:func:`spent`) are what the records hold, for single-thread runs pinned to one
core: the pre-trained backbones' own record, each training of the pilot and of the designed
rows once (experiments that share a network train it once), and every evaluation. They are
wall-clock seconds: a run that shared its core with other work records more than its CPU
time. A run resumed from its checkpoint counts the part before (its ``metrics.jsonl``:
:func:`atrous.training.run_folder.logged_seconds`); rows written before the runner did so
record only the resumed part.

:func:`judged_rows` and :func:`judged_claims` sort and judge an experiment's rows against
this plan (the design's seeds, less what the budget dropped), for the report and the
chapters alike.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atrous.base.errors import AtrousError
from atrous.experiments.allocation import pretraining_hours
from atrous.experiments.claims import mean_std
from atrous.experiments.design_file import Design, load_design
from atrous.experiments.designed_runs import claim_seeds, design_path
from atrous.experiments.judge import DROPPED, UNTESTABLE, ClaimResult, Sorted, judge, sort_rows
from atrous.experiments.paths import default_results
from atrous.experiments.plan import variant_config
from atrous.experiments.recipes import claim_named, experiments_of
from atrous.experiments.rows import read_rows, train_hash


@dataclass(frozen=True)
class Spent:
    """Hours spent so far against the design's ``budget``."""

    budget: float
    pretraining: float
    pilot: float
    runs: float

    @property
    def total(self) -> float:
        return self.pretraining + self.pilot + self.runs

    @property
    def exhausted(self) -> bool:
        return self.total >= self.budget

    def describe(self) -> str:
        return (f"{self.total:.2f} of the design's {self.budget:g} CPU hours spent "
                f"(pre-training {self.pretraining:.2f}, pilot {self.pilot:.2f}, designed "
                f"runs {self.runs:.2f}; {max(self.budget - self.total, 0):.2f} left)")  # fmt: skip


def row_hours(rows: Iterable[dict[str, Any]]) -> float:
    """Hours of ``rows``: each training (train hash) once, plus every evaluation."""
    trainings, evaluations = {}, 0.0
    for r in rows:
        trainings[r["train_hash"]] = r["train_seconds"]
        evaluations += r["eval_seconds"]
    return (sum(trainings.values()) + evaluations) / 3600


def spent(recipe: str, results: str | Path | None = None, design: Design | None = None) -> Spent:
    """What ``recipe``'s designed runs in ``results`` (default: the committed folder), its
    pilot and its pre-trained backbones have cost, against its design's budget."""
    folder = Path(results or default_results("full", recipe))
    design = design or load_design(design_path(recipe))
    rows = [r for name in experiments_of(recipe) if name != "fig4"
            for r in read_rows(folder / f"{name}.csv") if r["budget"] == "full"]  # fmt: skip
    pilot = design.values.get("pilot", {}).get("variant", "").partition("/")[0]
    pilot_rows = read_rows(folder / "pilot" / f"{pilot}.csv") if pilot else []
    return Spent(float(design.values["statistics"]["cpu_hours"]), pretraining_hours(recipe),
                 row_hours(pilot_rows), row_hours(rows))  # fmt: skip


def check_budget(recipe: str, results: str | Path | None = None) -> None:
    """AtrousError once ``recipe``'s budget is spent: no new designed run starts."""
    s = spent(recipe, results)
    if s.exhausted:
        raise AtrousError(f"the CPU budget of {design_path(recipe)} is spent: {s.describe()}. "
                          f"No new designed run starts; the claims still short of their "
                          f"pairs are reported as dropped (`python -m atrous report "
                          f"--recipe {recipe}`)")  # fmt: skip


def pairs(
    design: Design, entry: dict[str, Any], results: Path, cache: dict[str, Sorted] | None = None
) -> int:
    """How many of the claim ``entry``'s designed seeds have a current row of both variants
    (``cache``: the experiments' sorted rows, kept across calls)."""
    name, experiment, claim = claim_named(design.recipe, entry["claim"])
    cache = {} if cache is None else cache
    if name not in cache:
        cache[name] = sort_rows(experiment, read_rows(results / f"{name}.csv"), "full",
                                claim_seeds(design, experiment))  # fmt: skip
    a, b = cache[name].miou(claim.a), cache[name].miou(claim.b)
    return sum(1 for k in range(int(entry["seeds"])) if k in a and k in b)


def as_run(design: Design, results: str | Path | None = None) -> Design:
    """``design`` as its runs went: once the budget is spent, every kept claim still short of
    its seeds is marked ``dropped = "budget"``."""
    if not design.frozen or not any("seeds" in c for c in design.claims):
        return design
    folder = Path(results or default_results("full", design.recipe))
    if not spent(design.recipe, folder, design).exhausted:
        return design
    cache: dict[str, Sorted] = {}
    claims = [{**c, "dropped": "budget"}
              if not c.get("dropped") and pairs(design, c, folder, cache) < int(c["seeds"])
              else c for c in design.claims]  # fmt: skip
    return dataclasses.replace(design, claims=claims)


def design_as_run(recipe: str, results: str | Path | None, budget: str) -> Design | None:
    """:func:`as_run` of ``recipe``'s design for rows of ``budget`` in ``results``; None where
    no design decides (the small recipe, a quick budget)."""
    if recipe == "small" or budget != "full":
        return None
    return as_run(load_design(design_path(recipe)), results)


def judged_rows(
    results: Path, recipe: str, name: str, budget: str, design: Design | None = None
) -> Sorted:
    """The rows of ``results/NAME.csv`` sorted against what is planned: for a designed recipe
    at the full budget the seeds of ``design`` as run (:func:`as_run`), else the defaults."""
    experiment = experiments_of(recipe)[name]
    design = design or design_as_run(recipe, results, budget)
    if design is None:
        return sort_rows(experiment, read_rows(results / f"{name}.csv"), budget)
    chosen = {}
    if design.frozen and any("seeds" in c for c in design.claims):
        chosen = claim_seeds(design, experiment)
    return sort_rows(experiment, read_rows(results / f"{name}.csv"), budget, chosen)


def judged_claims(
    results: Path, recipe: str, name: str, budget: str, design: Design | None = None
) -> tuple[Sorted, list[ClaimResult]]:
    """:func:`judged_rows` and every claim of experiment ``name`` judged on them; a claim the
    design (or its spent budget) dropped says so (:data:`DROPPED`) unless it is untestable."""
    design = design or design_as_run(recipe, results, budget)
    s = judged_rows(results, recipe, name, budget, design)
    judged = judge(experiments_of(recipe)[name], s, budget)
    if design is None:
        return s, judged
    dropped = {c["claim"] for c in design.claims if c.get("dropped")}
    return s, [dataclasses.replace(c, verdict=DROPPED)
               if f"{name}: {c.claim.describe()}" in dropped and c.verdict != UNTESTABLE else c
               for c in judged]  # fmt: skip


def progress_section(
    sorted_rows: dict[str, Sorted], budget: str, recipe: str, results: Path
) -> list[str]:
    """The report's section on how many runs are done, what is left to train at ``budget``
    and, for a designed recipe, the budget spent so far."""
    trainings, eval_seconds, to_train = {}, 0.0, set()
    for name, s in sorted_rows.items():
        for r in s.current.values():
            trainings[r["train_hash"]] = r["train_seconds"]
            eval_seconds += r["eval_seconds"]
        for v, k in s.missing:
            variant = experiments_of(recipe)[name].variant(v)
            to_train.add(train_hash(variant_config(variant, k, budget), variant.replicas))
    to_train -= set(trainings)
    done = sum(len(s.current) for s in sorted_rows.values())
    planned = done + sum(len(s.missing) for s in sorted_rows.values())
    hours = (eval_seconds + sum(trainings.values())) / 3600
    mean = mean_std(trainings.values())[0] if trainings else math.nan
    left = (f"Still to train: {len(to_train)} networks, about {len(to_train) * mean / 3600:.1f} "
            f"hours at the mean training time so far ({mean:.0f} s; the cascade at output "
            f"stride 8 takes longer), plus their evaluations." if to_train
            else "Every planned network is trained.")  # fmt: skip
    lines = ["## Progress", "",
             f"Runs done: {done} of {planned} planned at the {budget} budget ({planned - done} "
             f"missing). Compute of the current rows: {hours:.2f} hours ({len(trainings)} "
             f"trainings, each counted once, plus the evaluations). " + left, ""]  # fmt: skip
    if recipe != "small" and budget == "full" and design_path(recipe).is_file():
        s = spent(recipe, results)
        then = "Once it is spent no new run starts"
        if s.exhausted:
            then = "It is spent: no new run starts, and claims short of their pairs are dropped"
        lines += [f"Budget: {s.describe()}. {then} (`atrous/experiments/budget.py`).", ""]
    return lines
