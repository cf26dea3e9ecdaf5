"""Evaluating a stored network (``atrous eval``): its checkpoint, its run config, a strategy.

:func:`evaluate_checkpoint` loads a checkpoint (or a run folder's), applies ``--set``
changes to the run config it was trained with (only those its weights allow:
:func:`atrous.model.checkpoint.adapt_to_config`), resolves the strategy's precision once so
that the result file's name says what ran, checks the output file before the evaluation
(which can take long) and writes the result as JSON beside the checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from atrous.base.device import select_device
from atrous.base.outputs import check_output_file
from atrous.base.precision import resolve_precision
from atrous.inference.evaluate import EvalResult, eval_filename, evaluate_split
from atrous.model.checkpoint import adapt_to_config, checkpoint_file, load_model
from atrous.recipe.config import apply_overrides
from atrous.recipe.tables import EvalConfig


def evaluate_checkpoint(
    checkpoint: str | Path,
    overrides: Sequence[str] = (),
    strategy: Callable[[EvalConfig], EvalConfig] = lambda e: e,
    *,
    split: str | None = None,
    limit: int | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[EvalResult, Path]:
    """Evaluate ``checkpoint`` with its run config changed by ``overrides`` and its
    ``[eval]`` table by ``strategy``; the result and the JSON file written (default:
    ``eval_SETTINGS.json`` in the checkpoint's folder)."""
    where = select_device(device, option="--device")
    model, state = load_model(checkpoint, map_location=where)
    config = apply_overrides(state["config"], overrides)
    adapt_to_config(model, config.network)
    chosen = strategy(config.eval)
    if chosen.output_stride:
        model.config.check_output_stride(chosen.output_stride, "--output-stride")
    precision = resolve_precision(chosen.precision, where, "--precision")
    chosen = dataclasses.replace(chosen, precision=precision)
    split = split or config.data.val_split
    name = eval_filename(split, chosen.output_stride or model.config.output_stride,
                         chosen.scales, chosen.flip, chosen.pad_to, limit, precision)  # fmt: skip
    path = check_output_file(out or checkpoint_file(checkpoint).parent / name, "--out", overwrite)
    result = evaluate_split(model, config, split, strategy=chosen, limit=limit, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result, path
