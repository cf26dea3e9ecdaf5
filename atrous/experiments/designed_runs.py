"""The runs a frozen design asks for: its pilot, and each claim's seeds.

A recipe with a design (``results/<recipe>/design.toml``, :mod:`atrous.experiments.
design_file`) runs at the full budget only what the design says, and only once it is frozen
and today's recipe, scenes and pre-trained backbones are the ones it recorded:

- **the pilot**: the design's pilot variant at its pilot seeds (disjoint from the final
  ones), into ``results/<recipe>/pilot/``: the paired spread and the time per run from which
  the claims' seeds are computed, never a claim's outcome;
- **the claims**: each claim kept (not ``dropped``) gives its two variants seeds
  ``0 .. seeds - 1``; a variant that several claims compare gets the most of them, and a
  variant no kept claim compares is not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atrous.base.errors import AtrousError
from atrous.experiments.design import Experiment
from atrous.experiments.design_file import Design, check_design, load_design
from atrous.experiments.paths import committed_results


def design_path(recipe: str) -> Path:
    """Where ``recipe``'s design lies (``results/<recipe>/design.toml``)."""
    return committed_results() / recipe / "design.toml"


def frozen_design(recipe: str) -> Design:
    """``recipe``'s design, frozen and holding today's recipe, scenes and backbones; else an
    AtrousError saying what to do."""
    path = design_path(recipe)
    if not path.is_file():
        raise AtrousError(f"the {recipe} recipe has no design ({path}): its full runs follow "
                          f"a design frozen before them")  # fmt: skip
    design = load_design(path)
    if not design.frozen:
        raise AtrousError(f"{path} is a draft (frozen = false): no full run of the {recipe} "
                          f"recipe before its design is frozen (`python -m atrous design "
                          f"--recipe {recipe}` prints the hashes to record)")  # fmt: skip
    problems = check_design(design)
    if problems:
        raise AtrousError(f"{path} froze another recipe than today's: {'; '.join(problems)}. "
                          f"A frozen design is never changed: restore the recipe")  # fmt: skip
    return design


def design_columns(design: Design) -> dict[str, Any]:
    """What each row of a designed run records of its design."""
    return {"recipe_hash": design.recipe_hash, "data_hash": design.data_hash}


def pilot_seeds(design: Design, experiment: Experiment) -> dict[str, list[int]]:
    """The pilot's ``{variant: seeds}``: AtrousError if the pilot is not in ``experiment``."""
    pilot = design.values.get("pilot", {})
    name, _, variant = str(pilot.get("variant", "")).partition("/")
    if name != experiment.name:
        raise AtrousError(f"--pilot: the design's pilot is {pilot.get('variant')!r}; run "
                          f"`python -m atrous reproduce {name} --recipe {design.recipe} "
                          f"--pilot`")  # fmt: skip
    experiment.variant(variant)  # names a missing one
    return {variant: [int(s) for s in pilot["seeds"]]}


def claim_seeds(design: Design, experiment: Experiment) -> dict[str, list[int]]:
    """``{variant: seeds}`` of the claims of ``experiment`` that the design keeps."""
    described = {f"{experiment.name}: {c.describe()}": c for c in experiment.claims}
    out: dict[str, list[int]] = {}
    for entry in design.claims:
        claim = described.get(entry["claim"])
        if claim is None or entry.get("dropped", False):
            continue
        if "seeds" not in entry:
            raise AtrousError(f"{design_path(design.recipe)}: the claim {entry['claim']!r} has "
                              f"no seeds yet (the pilot sets them)")  # fmt: skip
        for variant in (claim.a, claim.b):
            if len(out.get(variant, [])) < entry["seeds"]:
                out[variant] = list(range(int(entry["seeds"])))
    return out


def designed(
    recipe: str, experiment: Experiment, budget: str, seeds: int | None, pilot: bool
) -> tuple[dict[str, list[int]] | None, dict[str, Any]]:
    """The ``{variant: seeds}`` a run of ``experiment`` makes (None: the usual ``seeds``) and
    the columns its rows record of the design. The small recipe has no design; a designed
    recipe's full runs need its frozen design (:func:`frozen_design`), quick ones do not."""
    if recipe == "small":
        if pilot:
            raise AtrousError("--pilot: the small recipe has no design; use --recipe scaled")
        return None, {}
    if budget != "full":
        return (pilot_seeds(load_design(design_path(recipe)), experiment) if pilot else None), {}
    design = frozen_design(recipe)
    if seeds is not None:
        raise AtrousError(f"--seeds: the {recipe} recipe's seeds come from its design "
                          f"({design_path(recipe)}), never from the command line")  # fmt: skip
    chosen = pilot_seeds(design, experiment) if pilot else claim_seeds(design, experiment)
    return chosen, design_columns(design)


def off_design(design: Design, rows: list[dict[str, Any]], where: str) -> list[str]:
    """The rows (of the file ``where``) whose recipe or data hash is not the design's."""
    frozen = (design.recipe_hash, design.data_hash)
    return [f"{where}: {r['variant']} seed {r['seed']} ran with recipe {r['recipe_hash']!r}, "
            f"data {r['data_hash']!r}; the design froze {frozen[0]!r}, {frozen[1]!r}"
            for r in rows if (r["recipe_hash"], r["data_hash"]) != frozen]  # fmt: skip
