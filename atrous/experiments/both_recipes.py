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

The claims pair up by position: the scaled experiments are the small ones, translated, with
one claim added at the end of Tab. 10 (:mod:`atrous.experiments.scaled`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from atrous.experiments.allocation import claim_effect
from atrous.experiments.decisions import benjamini_hochberg, paired_p_value
from atrous.experiments.design import Claim, Experiment
from atrous.experiments.design_file import Design
from atrous.experiments.judge import UNTESTABLE, ClaimResult, Sorted


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
            diffs = [a[k] - b[k] for k in sorted(set(a) & set(b))]
            p = paired_p_value(diffs, claim.kind, claim.margin)
            out.append(Decision(text, claim, twin, ours, _state(design, text, ours),
                                claim_effect(experiment, claim), p))  # fmt: skip
    family = [d for d in out if d.state == "in the family"]
    q = float(design.values.get("statistics", {}).get("false_discovery_rate", 0.10))
    rejected = benjamini_hochberg([1.0 if math.isnan(d.p) else d.p for d in family], q)
    decided = {d.name for d, r in zip(family, rejected, strict=True) if r}
    return [Decision(**{**d.__dict__, "rejected": d.name in decided}) for d in out]


def _interval(result: ClaimResult | None) -> str:
    if result is None:
        return "not a claim of this recipe"
    i = result.interval
    if i.n == 0:
        return "no runs yet" if result.verdict != UNTESTABLE else UNTESTABLE
    if i.n < 2:
        return f"{result.verdict} ({i.n} pair{'s' * (i.n != 1)})"
    return f"{result.verdict}: {i.mean:+.2f} [{i.low:+.2f}, {i.high:+.2f}]"


def section(decisions: list[Decision], design: Design) -> list[str]:
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
              f"(a count, not a target).", ""]  # fmt: skip
    return lines
