"""The reproductions' report: claims judged, figures drawn, ``results/README.md`` written.

``python -m atrous report`` reads every ``results/NAME.csv`` that :mod:`atrous.reproduce`
appended to and writes, from them alone:

- ``results/NAME.png``: one panel per paper table, the paper's mIOU (grey bars, left axis)
  beside ours (mean and every seed, right axis);
- ``results/summary.png``: every claim, our paired difference and its 90% interval next to
  the paper's difference, coloured by verdict;
- ``results/README.md``: one line per claim, the paper's numbers, ours, the verdict, and
  the likely reason where it does not agree (from ``results/notes.toml``, written by a
  person who looked at the runs, and shown as such).

**Stale rows.** A row is *current* when its config hash is the one the code defines today
for its (variant, seed); rows of a variant that no longer exists or of another config are
*stale*: listed by name in the README, left out of every mean and verdict, and counted as
missing. Nothing is deleted.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tomllib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atrous.claims import Interval, paired_interval, verdict
from atrous.experiments import EXPERIMENTS, FULL_SEEDS, Claim, Experiment
from atrous.paper import value as paper_value
from atrous.reproduce import (
    RESULTS,
    config_hash,
    mean_std,
    planned_runs,
    read_rows,
    train_hash,
    variant_config,
)

FIG4_FEATURE_SIZES = (65, 33, 9, 7)  # the paper's 65 and 33; ours at evaluation and training
VERDICT_COLOURS = {"agrees": "tab:green", "disagrees": "tab:red", "inconclusive": "tab:gray"}


# --- which rows count -------------------------------------------------------------------------


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
    experiment: Experiment, rows: Sequence[dict[str, Any]], budget: str = "full"
) -> Sorted:
    """Split ``rows`` into current and stale, and list the planned runs with no row (the
    default seeds of ``budget``)."""
    seeds = FULL_SEEDS if budget == "full" else 1
    expected = {}
    for variant, seed in planned_runs(experiment, seeds, budget):
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


# --- claims -----------------------------------------------------------------------------------


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


def judge(experiment: Experiment, rows: Sorted) -> list[ClaimResult]:
    """Every claim of ``experiment`` on the current rows."""
    out = []
    for claim in experiment.claims:
        interval = paired_interval(rows.miou(claim.a), rows.miou(claim.b))
        paper_a, paper_b = paper_of(experiment, claim.a), paper_of(experiment, claim.b)
        out.append(ClaimResult(claim, interval, verdict(claim, interval), paper_a, paper_b))
    return out


# --- Fig. 4, exactly --------------------------------------------------------------------------


def write_fig4(results: str | Path, rates: Sequence[int] = tuple(range(1, 71))) -> Path:
    """``fig4.csv`` (the fraction of positions with 1, 4 and 9 valid weights of a 3x3 filter,
    per feature size and rate, from :mod:`reference`) and ``fig4.png``."""
    from atrous.figures import draw_valid_weights
    from reference import valid_weight_histogram

    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    path = results / "fig4.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["feature_size", "rate", "valid_1", "valid_4", "valid_9"])
        for size in FIG4_FEATURE_SIZES:
            for r in rates:
                h = valid_weight_histogram(size, 3, r)
                writer.writerow([size, r, *(round(h.get(n, 0.0), 6) for n in (1, 4, 9))])
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    for ax, size in zip(fig.subplots(1, 2), (65, 9), strict=True):
        draw_valid_weights(ax, size, rates if size == 65 else range(1, 13))
    fig.axes[1].set_title("The same on our 9 x 9 map at evaluation\n(rates 2, 4, 6, 8 for "
                          "the paper's 6, 12, 18, 24)")  # fmt: skip
    FigureCanvasAgg(fig).print_png(results / "fig4.png")
    return path


def fig4_checks(size: int = 65) -> list[tuple[str, bool]]:
    """The figure's two statements, checked exactly."""
    from reference import valid_weight_histogram

    small = valid_weight_histogram(size, 3, 1).get(9, 0.0)
    large = valid_weight_histogram(size, 3, size).get(1, 0.0)
    return [
        (f"at rate 1 most positions ({small:.3f}) have all 9 weights valid", small > 0.9),
        (f"at rate {size} = feature size every position has only the centre weight "
         f"({large:.3f}): the filter is 1x1", large == 1.0),
    ]  # fmt: skip


# --- figures ----------------------------------------------------------------------------------


def plot_experiment(
    experiment: Experiment, rows: Sequence[dict[str, Any]], path: Path, budget: str = "full"
) -> Path:
    """One panel per paper table: the paper's mIOU beside ours (mean, seeds)."""
    current = sort_rows(experiment, rows, budget).current
    fig = Figure(figsize=(6.5 * len(experiment.tables), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(experiment.tables)))
    for ax, table in zip(axes, experiment.tables, strict=True):
        variants = [
            v for v in experiment.variants if v.paper and any(t == table for t, _, _ in v.paper)
        ]
        x = np.arange(len(variants))
        ours_ax = ax.twinx()
        paper = [next(paper_value(*ref) for ref in v.paper if ref[0] == table) for v in variants]
        ax.bar(x, paper, color="0.82", width=0.6, label="paper (left axis)")
        for i, v in enumerate(variants):
            runs = [r["miou"] for (name, _), r in current.items() if name == v.name]
            if runs:
                mean, sd = mean_std(runs)
                ours_ax.errorbar(i, mean, yerr=sd, fmt="o", color="tab:blue", capsize=4,
                                 label="ours: mean, sd over seeds" if i == 0 else None)  # fmt: skip
                ours_ax.plot([i] * len(runs), runs, ".", color="tab:blue", alpha=0.45)
        ax.set_xticks(x, [v.name for v in variants], rotation=45, ha="right", fontsize=8)
        finite = [p for p in paper if not math.isnan(p)]
        if finite:
            ax.set_ylim(max(0, min(finite) - 8), min(100, max(finite) + 4))
        ax.set_ylabel("paper mIOU (%), VOC 2012 val")
        ours_ax.set_ylabel("our mIOU (%), synthetic val", color="tab:blue")
        ax.set_title(f"{table}: {experiment.title}", fontsize=10)
        handles = [h for a in (ax, ours_ax) for h in a.get_legend_handles_labels()[0]]
    if handles:  # above the panels, where it covers no point
        fig.legend(handles=handles, fontsize=8, loc="outside upper center", ncol=2)
    FigureCanvasAgg(fig).print_png(path)
    return path


def plot_summary(judged: dict[str, list[ClaimResult]], path: Path) -> Path:
    """Every claim: our paired difference with its 90% interval, the paper's difference."""
    items = [(name, c) for name, results in judged.items() for c in results]
    fig = Figure(figsize=(9, 0.34 * len(items) + 1.6), layout="constrained")
    ax = fig.subplots()
    for i, (_, c) in enumerate(items):
        y, iv = len(items) - 1 - i, c.interval
        colour = VERDICT_COLOURS[c.verdict]
        if iv.n >= 2:
            error = [[iv.mean - iv.low], [iv.high - iv.mean]]
            ax.errorbar(iv.mean, y, xerr=error, fmt="o", color=colour, capsize=3)
        elif c.interval.n == 1:
            ax.plot(c.interval.mean, y, "o", mfc="none", color=colour)
        ax.plot(c.paper_a - c.paper_b, y, "D", color="black", ms=4)
    ax.axvline(0, color="0.5", lw=0.8)
    labels = [f"{name}: {c.claim.describe()}" for name, c in items]
    ax.set_yticks(range(len(items))[::-1], labels, fontsize=7)
    ax.set_xlabel("mIOU difference A - B (points)\nblack diamond: the paper; dot and bar: "
                  "ours, 90% paired t-interval", fontsize=8)  # fmt: skip
    ax.set_title("The paper's claims at small scale\ngreen agrees, red disagrees, grey "
                 "inconclusive, hollow: one pair", fontsize=9)  # fmt: skip
    FigureCanvasAgg(fig).print_png(path)
    return path


def plot_loss_curves(
    experiment: Experiment, rows: Sequence[dict[str, Any]], store: Path, path: Path,
    budget: str = "full",
) -> Path | None:  # fmt: skip
    """The training loss of seed 0 of every trained variant, from the runs' ``metrics.jsonl``
    in ``store`` (None if the store holds none of them)."""
    from atrous.run_log import read_metrics

    current = sort_rows(experiment, rows, budget).current
    curves = {}
    for (variant, seed), row in current.items():
        metrics = store / row["train_hash"] / "metrics.jsonl"
        if seed == 0 and metrics.is_file() and row["train_hash"] not in curves.values():
            curves[variant] = row["train_hash"]
    if not curves:
        return None
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.subplots()
    for variant, train in curves.items():
        history = read_metrics(store / train / "metrics.jsonl")
        ax.plot([r["iteration"] for r in history], [r["loss"] for r in history], label=variant)
    ax.set(xlabel="iteration", ylabel="training cross-entropy", yscale="log",
           title=f"{experiment.name}: training loss, seed 0 of each trained variant")  # fmt: skip
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    FigureCanvasAgg(fig).print_png(path)
    return path


# --- tables for the chapters -------------------------------------------------------------------


def experiment_table(name: str, results: str | Path = RESULTS, budget: str = "full") -> str:
    """A text table of one experiment: each variant, the paper's mIOU, ours (mean, sd, seeds)."""
    experiment = EXPERIMENTS[name]
    s = sort_rows(experiment, read_rows(Path(results) / f"{name}.csv"), budget)
    lines = [f"{'variant':<16} {'paper':>7}  {'ours: mean':>10} {'sd':>5}  seeds"]
    for v in experiment.variants:
        runs = s.miou(v.name)
        mean, sd = mean_std(runs.values())
        lines.append(f"{v.name:<16} {_fmt(paper_of(experiment, v.name)):>7}  {_fmt(mean):>10} "
                     f"{_fmt(sd):>5}  {len(runs)}")  # fmt: skip
    if s.stale:
        lines.append(f"({len(s.stale)} stale row(s) not counted)")
    return "\n".join(lines)


def claims_table(name: str, results: str | Path = RESULTS, budget: str = "full") -> str:
    """A text table of one experiment's claims: the paper's difference, ours, the verdict."""
    experiment = EXPERIMENTS[name]
    s = sort_rows(experiment, read_rows(Path(results) / f"{name}.csv"), budget)
    lines = []
    for c in judge(experiment, s):
        lines.append(f"{c.claim.describe()}: paper {c.paper_a - c.paper_b:+.2f}, ours "
                     f"{c.interval.describe()} -> {c.verdict}")  # fmt: skip
    return "\n".join(lines)


def describe_results(name: str, results: str | Path = RESULTS, budget: str = "full") -> str:
    """What ``results`` holds for ``name``: how many of the planned runs, the table of
    variants and the claims (what the chapters print beside their live runs)."""
    experiment = EXPERIMENTS[name]
    s = sort_rows(experiment, read_rows(Path(results) / f"{name}.csv"), budget)
    done, planned = len(s.current), len(s.current) + len(s.missing)
    if not done:
        return (f"{name}: no {budget}-budget results in {results} yet (0 of {planned} runs); "
                f"`python -m atrous reproduce {name}` makes them.")  # fmt: skip
    state = "complete" if not s.missing else "INCOMPLETE, so far"
    return (
        f"{name}: {budget}-budget results, {state}: {done} of {planned} runs\n\n"
        f"{experiment_table(name, results, budget)}\n\n{claims_table(name, results, budget)}"
    )


# --- results/README.md ------------------------------------------------------------------------


def _notes(results: Path) -> dict[str, str]:
    path = results / "notes.toml"
    return tomllib.loads(path.read_text()) if path.is_file() else {}


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def render_readme(
    results: str | Path = RESULTS, budget: str = "full"
) -> tuple[str, dict[str, list[ClaimResult]]]:
    """The text of ``results/README.md`` and the judged claims, from the CSVs alone (rows of
    ``budget``; the others are stale)."""
    results = Path(results)
    notes = _notes(results)
    lines = [
        "# Reproductions: the paper's comparisons at small scale",
        "",
        "Generated by `python -m atrous report` from the CSVs in this folder (do not edit by",
        "hand); each row of a CSV names the commit, machine, threads, torch version and",
        "precision it was made with. Run an experiment with `python -m atrous reproduce NAME`",
        "(resumable; `--budget quick` for a seconds-long smoke run). What each experiment",
        "changes, and how the paper's settings are scaled to our 128-pixel synthetic scenes,",
        "is in `atrous/experiments.py` and `configs/reproduce.toml`.",
        "",
        "Verdicts: seed k of every variant shares initialisation and data order, so runs pair",
        "up; *agrees* means the 90% t-interval of the paired difference lies on the paper's",
        "side (for *no worse* / *no better*, beyond the stated margin), *disagrees* the other",
        "side, *inconclusive* that it covers both (or has fewer than two pairs).",
        "Our mIOU is on synthetic scenes after minutes of CPU training, the paper's on PASCAL",
        "VOC 2012 val after 30K iterations from ImageNet weights: compare directions, not levels.",
        "",
        "The full set, one experiment after another, pinned to one core with one thread (so",
        "that other work can use the other core; the rows record the threads):",
        "",
        "```bash",
        "for name in fig4 tab5 tab4-6 tab8 tab9 tab10 tab11 tab1 tab2-3; do",
        "  OMP_NUM_THREADS=1 taskset -c 1 python -m atrous reproduce $name",
        "done",
        "```",
        "",
        "`python -m atrous reproduce NAME --recheck VARIANT:SEED` re-trains one row from",
        "scratch and compares its weights hash and mIOU with the committed one.",
        "",
    ]
    judged: dict[str, list[ClaimResult]] = {}
    total_seconds, trainings = 0.0, {}
    done_runs = planned_runs_all = 0
    to_train: set[str] = set()
    for name, experiment in EXPERIMENTS.items():
        lines += [f"## {name}: {experiment.title} ({', '.join(experiment.tables)})", ""]
        if name == "fig4":
            have = (results / "fig4.csv").is_file()
            for text, ok in fig4_checks():
                lines.append(f"- {text}: {'agrees' if ok else 'disagrees'} (exact)")
            lines += ["", f"Figure: `fig4.png`{'' if have else ' (not yet written)'}.", ""]
            continue
        rows = read_rows(results / f"{name}.csv")
        s = sort_rows(experiment, rows, budget)
        for r in s.current.values():
            trainings[r["train_hash"]] = r["train_seconds"]
            total_seconds += r["eval_seconds"]
        planned = len(s.current) + len(s.missing)
        done_runs, planned_runs_all = done_runs + len(s.current), planned_runs_all + planned
        for v, k in s.missing:
            variant = experiment.variant(v)
            to_train.add(train_hash(variant_config(variant, k, budget), variant.replicas))
        lines.append(f"Runs: {len(s.current)} of {planned} planned done"
                     + (f", {len(s.stale)} stale" if s.stale else "") + ".")  # fmt: skip
        lines += [f"{experiment.notes}", ""]
        judged[name] = judge(experiment, s)
        if experiment.claims:
            lines += ["| claim | paper (A, B) | ours: mean A, B (seeds) | A - B, 90% interval "
                      "| verdict |", "|---|---|---|---|---|"]  # fmt: skip
        for c in judged[name]:
            a, b = mean_std(s.miou(c.claim.a).values())[0], mean_std(s.miou(c.claim.b).values())[0]
            na, nb = len(s.miou(c.claim.a)), len(s.miou(c.claim.b))
            lines.append(
                f"| {c.claim.describe()}: {c.claim.text} | {_fmt(c.paper_a)}, {_fmt(c.paper_b)} "
                f"| {_fmt(a)} ({na}), {_fmt(b)} ({nb}) | {c.interval.describe()} "
                f"| **{c.verdict}** |"
            )
        key_notes = [(c, notes.get(f"{name}: {c.claim.describe()}")) for c in judged[name]]
        written = [(c, n) for c, n in key_notes if n and c.verdict != "agrees"]
        if written:
            lines += ["", "Likely reasons (a person's reading of the runs, `notes.toml`):"]
            lines += [f"- {c.claim.describe()}: {n}" for c, n in written]
        if s.missing:
            left = ", ".join(f"{v}/seed{k}" for v, k in s.missing)
            lines += ["", f"Missing: {left}."]
        if s.stale:
            stale = ", ".join(f"{r['variant']}/seed{r['seed']}" for r in s.stale)
            lines += ["", f"Stale rows (config changed since; not counted): {stale}."]
        if rows:
            curves = f", `{name}-curves.png`" if (results / f"{name}-curves.png").is_file() else ""
            lines += ["", f"Figures: `{name}.png`{curves}. Data: `{name}.csv`."]
        lines.append("")
    total_seconds += sum(trainings.values())
    to_train -= set(trainings)
    mean_training = mean_std(trainings.values())[0] if trainings else math.nan
    lines += ["## Progress", "",
              f"Runs done: {done_runs} of {planned_runs_all} planned at the full budget "
              f"({planned_runs_all - done_runs} missing). Compute of the current rows: "
              f"{total_seconds / 3600:.2f} hours ({len(trainings)} trainings, each counted "
              f"once, plus the evaluations). " + (
                  f"Still to train: {len(to_train)} networks, about "
                  f"{len(to_train) * mean_training / 3600:.1f} hours at the mean training time "
                  f"so far ({mean_training:.0f} s; the cascade at output stride 8 takes "
                  f"longer), plus their evaluations." if to_train
                  else "Every planned network is trained."), ""]  # fmt: skip
    return "\n".join(lines), judged


def write_report(
    results: str | Path = RESULTS, budget: str = "full", store: str | Path | None = None
) -> Path:
    """Write ``README.md``, ``summary.png`` and every ``NAME.png`` into ``results``, and
    ``NAME-curves.png`` where ``store`` (default ``runs/reproduce/<budget>``) holds the runs."""
    results = Path(results)
    store = Path(store or Path("runs/reproduce") / budget)
    results.mkdir(parents=True, exist_ok=True)
    for name, experiment in EXPERIMENTS.items():
        rows = read_rows(results / f"{name}.csv") if name != "fig4" else []
        if rows:
            plot_experiment(experiment, rows, results / f"{name}.png", budget)
            plot_loss_curves(experiment, rows, store, results / f"{name}-curves.png", budget)
    text, judged = render_readme(results, budget)
    if any(judged.values()):
        plot_summary(judged, results / "summary.png")
    path = results / "README.md"
    path.write_text(text)
    return path
