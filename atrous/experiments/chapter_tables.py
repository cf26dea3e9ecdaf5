"""The committed results as text, for the chapters to print beside their live runs.

:func:`describe_results` says how many of an experiment's planned runs a results folder
holds, with :func:`experiment_table` (each variant, the paper's mIOU, ours) and
:func:`claims_table` (each claim, the paper's difference, ours, the verdict);
:func:`likely_reasons` prints a person's reading of each claim that does not agree.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from atrous.experiments.budget import judged_claims, judged_rows
from atrous.experiments.claims import mean_std
from atrous.experiments.judge import paper_of
from atrous.experiments.notes import notes_for, read_notes
from atrous.experiments.paths import default_results
from atrous.experiments.recipes import experiments_of


def fmt(x: float) -> str:
    """A number of points with two decimals, ``n/a`` for NaN."""
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def experiment_table(
    name: str, results: str | Path | None = None, budget: str = "full", recipe: str = "small"
) -> str:
    """A text table of one experiment: each variant, the paper's mIOU, ours (mean, sd, seeds).
    A variant with no rows that nothing plans (a design ran only some, or its budget dropped
    them) is named below the table instead."""
    experiment = experiments_of(recipe)[name]
    results = Path(results or default_results(budget, recipe))
    s = judged_rows(results, recipe, name, budget)
    planned = {v for v, _ in [*s.current, *s.missing]}
    unplanned = [v.name for v in experiment.variants if v.name not in planned]
    lines = [f"{'variant':<16} {'paper':>7}  {'ours: mean':>10} {'sd':>5}  seeds"]
    for v in (v for v in experiment.variants if v.name in planned):
        runs = s.miou(v.name)
        mean, sd = mean_std(runs.values())
        lines.append(f"{v.name:<16} {fmt(paper_of(experiment, v.name)):>7}  {fmt(mean):>10} "
                     f"{fmt(sd):>5}  {len(runs)}")  # fmt: skip
    if s.stale:
        lines.append(f"({len(s.stale)} stale row(s) not counted)")
    if unplanned:
        by = " by the design" if recipe != "small" else ""
        lines.append(f"(not planned at the {budget} budget{by}: {', '.join(unplanned)})")
    return "\n".join(lines)


def claims_table(
    name: str, results: str | Path | None = None, budget: str = "full", recipe: str = "small"
) -> str:
    """A text table of one experiment's claims: the paper's difference, ours, the verdict."""
    results = Path(results or default_results(budget, recipe))
    lines = []
    for c in judged_claims(results, recipe, name, budget)[1]:
        lines.append(f"{c.claim.describe()}: paper {c.paper_a - c.paper_b:+.2f}, ours "
                     f"{c.interval.describe()} -> {c.verdict}")  # fmt: skip
    return "\n".join(lines)


def describe_results(
    name: str, results: str | Path | None = None, budget: str = "full", recipe: str = "small"
) -> str:
    """What ``results`` holds for ``name``: how many of the planned runs, the table of
    variants and the claims (what the chapters print beside their live runs)."""
    results = Path(results or default_results(budget, recipe))
    s = judged_rows(results, recipe, name, budget)
    done, planned = len(s.current), len(s.current) + len(s.missing)
    if not done:
        if not planned and recipe != "small":  # the design (or its spent budget) dropped them
            return (f"{name}: no {budget}-budget runs planned in {results}: the design dropped "
                    f"its claims\n\n{claims_table(name, results, budget, recipe)}")  # fmt: skip
        command = f"python -m atrous reproduce {name}" + (f" --recipe {recipe}"
                                                          if recipe != "small" else "")  # fmt: skip
        return (f"{name}: no {budget}-budget results in {results} yet (0 of {planned} runs); "
                f"`{command}` makes them.")  # fmt: skip
    state = "complete" if not s.missing else "INCOMPLETE, so far"
    return (
        f"{name}: {budget}-budget results, {state}: {done} of {planned} runs\n\n"
        f"{experiment_table(name, results, budget, recipe)}\n\n"
        f"{claims_table(name, results, budget, recipe)}"
    )


def likely_reasons(
    name: str, results: str | Path | None = None, budget: str = "full", recipe: str = "small",
    width: int = 88,
) -> str:  # fmt: skip
    """The notes of ``results/notes.toml`` on ``name``'s claims that do not agree (as the
    report prints them), wrapped to ``width``; says so when there is none."""
    results = Path(results or default_results(budget, recipe))
    written = notes_for(name, judged_claims(results, recipe, name, budget)[1], read_notes(results))
    if not written:
        return f"{name}: no note in notes.toml on a claim that does not agree"
    wrap = textwrap.TextWrapper(width=width, subsequent_indent="  ")
    return "\n\n".join(wrap.fill(f"- {c.claim.describe()}: {note}") for c, note in written)
