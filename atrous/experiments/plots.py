"""The reproductions drawn: each experiment beside the paper, every claim, training losses.

- :func:`plot_experiment`: one panel per paper table, the paper's mIOU (grey bars, left
  axis) beside ours (mean and every seed, right axis);
- :func:`plot_summary`: every claim, our paired difference and its 90% interval next to the
  paper's difference, coloured by verdict;
- :func:`plot_loss_curves`: the training loss of seed 0 of every trained variant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atrous.experiments.claims import Interval, mean_std
from atrous.experiments.design import Experiment
from atrous.experiments.judge import DROPPED, ClaimResult, sort_rows
from atrous.experiments.paper import value as paper_value
from atrous.training.run_folder import metrics_path, read_metrics

VERDICT_COLOURS = {"agrees": "tab:green", "disagrees": "tab:red", "inconclusive": "tab:gray",
                   "untestable at this scale": "tab:purple"}  # fmt: skip


def plot_experiment(
    experiment: Experiment, rows: Sequence[dict[str, Any]], path: Path, budget: str = "full"
) -> Path:
    """One panel per paper table: the paper's mIOU beside ours (mean, seeds)."""
    current = sort_rows(experiment, rows, budget).current
    fig = Figure(figsize=(6.5 * len(experiment.tables), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(experiment.tables)))
    handles = []
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
        if not handles:  # one legend for all panels, from the first
            handles = [h for a in (ax, ours_ax) for h in a.get_legend_handles_labels()[0]]
    if handles:  # above the panels, where it covers no point
        fig.legend(handles=handles, fontsize=8, loc="outside upper center", ncol=2)
    FigureCanvasAgg(fig).print_png(path)
    return path


def draw_interval(
    ax: Any, iv: Interval, y: float, colour: str, marker: str = "o", capsize: float = 3,
    ms: float | None = None,
) -> None:  # fmt: skip
    """A paired interval at height ``y``: its mean and 90% bar; a hollow marker for one pair,
    nothing without pairs."""
    if iv.n >= 2:
        error = [[iv.mean - iv.low], [iv.high - iv.mean]]
        ax.errorbar(iv.mean, y, xerr=error, fmt=marker, color=colour, capsize=capsize, ms=ms)
    elif iv.n == 1:
        ax.plot(iv.mean, y, marker, mfc="none", color=colour, ms=ms)


def plot_summary(judged: dict[str, list[ClaimResult]], path: Path, recipe: str = "small") -> Path:
    """Every claim: our paired difference with its 90% interval, the paper's difference."""
    items = [(name, c) for name, results in judged.items() for c in results]
    fig = Figure(figsize=(9, 0.34 * len(items) + 1.6), layout="constrained")
    ax = fig.subplots()
    for i, (_, c) in enumerate(items):
        y = len(items) - 1 - i
        if c.verdict != DROPPED:
            draw_interval(ax, c.interval, y, VERDICT_COLOURS[c.verdict], capsize=3)
        ax.plot(c.paper_a - c.paper_b, y, "D", color="black", ms=4)
    ax.axvline(0, color="0.5", lw=0.8)
    labels = [f"{name}: {c.claim.describe()}" + (f" ({c.verdict})" if c.verdict == DROPPED
              else "") for name, c in items]  # fmt: skip
    ax.set_yticks(range(len(items))[::-1], labels, fontsize=7)
    ax.set_xlabel("mIOU difference A - B (points)\nblack diamond: the paper; dot and bar: "
                  "ours, 90% paired t-interval", fontsize=8)  # fmt: skip
    ax.set_title(f"The paper's claims on the {recipe} recipe\ngreen agrees, red disagrees, "
                 "grey inconclusive,\npurple untestable at this scale, hollow: one pair",
                 fontsize=9)  # fmt: skip
    FigureCanvasAgg(fig).print_png(path)
    return path


def plot_loss_curves(
    experiment: Experiment, rows: Sequence[dict[str, Any]], store: Path, path: Path,
    budget: str = "full",
) -> Path | None:  # fmt: skip
    """The training loss of seed 0 of every trained variant, from the runs' ``metrics.jsonl``
    in ``store`` (None if the store holds none of them)."""
    current = sort_rows(experiment, rows, budget).current
    curves = {}
    for (variant, seed), row in current.items():
        metrics = metrics_path(store / row["train_hash"])
        if seed == 0 and metrics.is_file() and row["train_hash"] not in curves.values():
            curves[variant] = row["train_hash"]
    if not curves:
        return None
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.subplots()
    for variant, train in curves.items():
        history = read_metrics(metrics_path(store / train))
        ax.plot([r["iteration"] for r in history], [r["loss"] for r in history], label=variant)
    ax.set(xlabel="iteration", ylabel="training cross-entropy", yscale="log",
           title=f"{experiment.name}: training loss, seed 0 of each trained variant")  # fmt: skip
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    FigureCanvasAgg(fig).print_png(path)
    return path
