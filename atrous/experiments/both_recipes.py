"""Both recipes, claim by claim: the table that opens ``results/README.md``.

Each claim of the paper is judged on the small recipe (128-pixel scenes from random weights,
``results/``) and on the scaled one (the paper's ratios from a pre-trained backbone,
``results/scaled/``, run as its frozen design says: :mod:`atrous.experiments.designed_runs`).
For the scaled recipe the table also gives what the design asks of a decision:

- the half-width of the claim's 90% interval beside the effect the design powered it for
  (the paper's difference or margin, at least 1 point: :func:`atrous.experiments.
  allocation.claim_effect`): an interval much wider than the effect cannot decide it;
- the claim's p-value (:func:`atrous.experiments.decisions.paired_p_value`) and the
  Benjamini-Hochberg decision at the design's false-discovery rate over the family, every
  testable claim the design keeps (provisional while runs are missing);
- the claims the budget dropped and those untestable at this scale, named as such.

:func:`plot_both` draws the same: every claim's interval on both recipes beside the paper's
difference (``results/both-recipes.png``).

The claims pair up by position: the scaled experiments are the small ones, translated, with
one claim added at the end of Tab. 10 (:mod:`atrous.experiments.scaled`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from atrous.experiments.allocation import claim_effect
from atrous.experiments.budget import as_run, judged_claims
from atrous.experiments.claims import paired_differences
from atrous.experiments.decisions import benjamini_hochberg, paired_p_value
from atrous.experiments.design import Claim, Experiment
from atrous.experiments.design_file import Design, load_design
from atrous.experiments.designed_runs import design_path
from atrous.experiments.judge import UNTESTABLE, ClaimResult, Sorted
from atrous.experiments.paths import default_results
from atrous.experiments.plots import VERDICT_COLOURS, draw_interval
from atrous.experiments.recipes import experiments_of


@dataclass(frozen=True)
class Decision:
    """One claim on both recipes; ``state``: how the scaled design treats it."""

    name: str
    claim: Claim
    small: ClaimResult | None
    scaled: ClaimResult | None
    state: str
    effect: float
    p: float
    rejected: bool = False


def _state(design: Design, name: str, scaled: ClaimResult | None) -> str:
    entry = next((c for c in design.claims if c["claim"] == name), None)
    if scaled is not None and scaled.verdict == UNTESTABLE:
        return "untestable"
    if entry is None or not design.frozen or "seeds" not in entry:
        return "not designed yet"
    return "dropped" if entry.get("dropped") else "in the family"


def decide(
    experiments: dict[str, Experiment], small: dict[str, list[ClaimResult]],
    scaled: dict[str, list[ClaimResult]], scaled_rows: dict[str, Sorted], design: Design,
) -> list[Decision]:  # fmt: skip
    """Every scaled claim with its small twin, p-value and the family's BH decision."""
    out = []
    for name, experiment in experiments.items():
        for i, claim in enumerate(experiment.claims):
            text = f"{name}: {claim.describe()}"
            ours = scaled.get(name, [])[i] if i < len(scaled.get(name, [])) else None
            twin = small.get(name, [])[i] if i < len(small.get(name, [])) else None
            s = scaled_rows.get(name)
            a, b = (s.miou(claim.a), s.miou(claim.b)) if s else ({}, {})
            diffs = list(paired_differences(a, b).values())
            p = paired_p_value(diffs, claim.kind, claim.margin)
            out.append(Decision(text, claim, twin, ours, _state(design, text, ours),
                                claim_effect(experiment, claim), p))  # fmt: skip
    family = [d for d in out if d.state == "in the family"]
    q = float(design.values.get("statistics", {}).get("false_discovery_rate", 0.10))
    rejected = benjamini_hochberg([1.0 if math.isnan(d.p) else d.p for d in family], q)
    decided = {d.name for d, r in zip(family, rejected, strict=True) if r}
    return [Decision(**{**d.__dict__, "rejected": d.name in decided}) for d in out]


def decisions_of(small: dict[str, list[ClaimResult]]) -> tuple[list[Decision], Design]:
    """:func:`decide` for the committed scaled rows (judged as the design ran: :mod:`atrous.
    experiments.budget`) beside the small recipe's judged claims; and the scaled design."""
    folder, scaled, rows = default_results("full", "scaled"), {}, {}
    design = as_run(load_design(design_path("scaled")), folder)
    for name in experiments_of("scaled"):
        if name != "fig4":
            rows[name], scaled[name] = judged_claims(folder, "scaled", name, "full", design)
    return decide(experiments_of("scaled"), small, scaled, rows, design), design


def _interval(result: ClaimResult | None) -> str:
    if result is None:
        return "not a claim of this recipe"
    i = result.interval
    if i.n == 0:
        return "no runs yet" if result.verdict != UNTESTABLE else UNTESTABLE
    if i.n < 2:
        return f"{result.verdict} ({i.n} pair{'s' * (i.n != 1)})"
    return f"{result.verdict}: {i.mean:+.2f} [{i.low:+.2f}, {i.high:+.2f}]"


def section(decisions: list[Decision], design: Design, figure: str = "") -> list[str]:
    """The Markdown section (see the module docstring)."""
    family = [d for d in decisions if d.state == "in the family"]
    complete = all(d.scaled is not None and d.scaled.interval.n >= 2 for d in family)
    q = design.values.get("statistics", {}).get("false_discovery_rate", 0.10)
    lines = [
        "## Both recipes, claim by claim", "",
        "The small recipe (`results/`, 128-pixel scenes from random weights) beside the "
        "scaled one (`results/scaled/`, the paper's ratios from a pre-trained backbone, run "
        "as `results/scaled/design.toml` says). Verdicts and 90% intervals of the paired "
        "difference A - B in points; for the scaled recipe, the interval's half-width beside "
        "the effect the design was powered for (the paper's difference or margin, at least 1 "
        f"point), the p-value and the Benjamini-Hochberg decision at q = {q} over the "
        f"family of {len(family)} claims (every testable claim the design keeps)"
        + ("." if complete else "; provisional: some of the family's runs are missing."),
        "",
        "| claim | small | scaled | half-width / effect | p | BH |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for d in decisions:
        half = "-"
        if d.scaled is not None and d.scaled.interval.n >= 2:
            half = f"{(d.scaled.interval.high - d.scaled.interval.low) / 2:.2f} / {d.effect:.2f}"
        p = "-" if math.isnan(d.p) else f"{d.p:.3g}"
        bh = {"in the family": "decided" if d.rejected else "not decided"}.get(d.state, d.state)
        scaled = _interval(d.scaled) if d.state != "dropped" else "dropped (budget)"
        lines.append(f"| {d.name} | {_interval(d.small)} | {scaled} | {half} | {p} | {bh} |")
    decided = sum(d.rejected for d in decisions)
    lines += ["", f"Decided at q = {q}: {decided} of the {len(family)} claims in the family "
              f"(a count, not a target)."]  # fmt: skip
    return [*lines, *(["", f"Figure: `{figure}`."] if figure else []), ""]


def _draw(ax, result: ClaimResult | None, y: float, marker: str) -> None:
    """One recipe's interval of a claim at height ``y`` (a hollow marker: one pair)."""
    if result is not None:
        colour = VERDICT_COLOURS[result.verdict]
        draw_interval(ax, result.interval, y, colour, marker, capsize=2.5, ms=5)


def plot_both(decisions: list[Decision], path: Path) -> Path:
    """Every claim: the paper's difference, our 90% interval on the small recipe (circle,
    above) and on the scaled one (square, below), coloured by verdict; a symmetric-log axis
    (linear within 2 points) so that one-point claims and twenty-point ones both show."""
    FigureCanvasAgg(figure_of_both(decisions)).print_png(path)
    return path


def figure_of_both(decisions: list[Decision]) -> Figure:
    """The figure of :func:`plot_both`."""
    fig = Figure(figsize=(9.5, 0.36 * len(decisions) + 2.0), layout="constrained")
    ax = fig.subplots()
    for i, d in enumerate(decisions):
        y = len(decisions) - 1 - i
        _draw(ax, d.small, y + 0.17, "o")
        _draw(ax, d.scaled if d.state != "dropped" else None, y - 0.17, "s")
        paper = next((r.paper_a - r.paper_b for r in (d.scaled, d.small) if r), math.nan)
        ax.plot(paper, y, "D", color="black", ms=4)
        if i % 2:
            ax.axhspan(y - 0.5, y + 0.5, color="0.95", zorder=0)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_xscale("symlog", linthresh=2)
    low, high = ax.get_xlim()
    ticks = [t for t in (-20, -10, -5, -2, -1, 0, 1, 2, 5, 10, 20) if low <= t <= high]
    ax.set_xticks(ticks, [f"{t:+d}" if t else "0" for t in ticks])
    ax.set_xlim(low * 1.15 if low < 0 else low, high * 1.15)
    ax.set_ylim(-0.6, len(decisions) - 0.4)
    ax.set_yticks(range(len(decisions))[::-1], [d.name for d in decisions], fontsize=7)
    ax.set_xlabel("mIOU difference A - B (points; linear within 2, logarithmic beyond)\n"
                  "black diamond: the paper; circle: small recipe; square: scaled recipe; "
                  "bars: 90% paired t-intervals", fontsize=8)  # fmt: skip
    ax.set_title("The paper's claims on both recipes\ngreen agrees, red disagrees, grey "
                 "inconclusive,\npurple untestable at that scale, hollow: one pair so far",
                 fontsize=9)  # fmt: skip
    return fig
