"""Exact resume: what a run needs besides its weights to continue as if never stopped.

A checkpoint (:mod:`atrous.model.checkpoint`) holds the optimizer, the gradient scaler and
torch's random state beside the weights; :func:`resume_run` loads them all and refuses a
config that differs in anything but where the run runs and where its files live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from atrous.base.errors import AtrousError
from atrous.model.checkpoint import load_weights, read_checkpoint
from atrous.recipe.config import TrainConfig, from_dict
from atrous.training.run_folder import checkpoint_path, metrics_path, read_metrics

#: Run settings that may change when a run resumes: where it runs and where the files are.
_MOVABLE = {
    ("train", "device"),
    ("data", "root"),
    ("data", "sbd_root"),
    ("data", "num_workers"),
    ("data", "cache"),
    ("data", "cache_dir"),
    ("train", "precision"),  # checked as what it resolved to, by resume_run
}


def rng_state(device: torch.device) -> dict[str, Any]:
    """torch's random state on the CPU (and on ``device`` if it is a GPU)."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def check_resumable(saved: dict[str, Any], now: dict[str, Any]) -> None:
    """A run resumes with its own config (``TrainConfig.to_dict()`` of the checkpoint and of
    now); only where it runs and where the files live may change. ValueError listing the rest.
    """
    differ = [
        f"{table}.{key}: checkpoint {saved.get(table, {}).get(key)!r}, now {value!r}"
        for table, values in now.items()
        for key, value in values.items()
        if (table, key) not in _MOVABLE and saved.get(table, {}).get(key) != value
    ]
    if differ:
        raise AtrousError(
            "cannot resume with a different config (start a new --run-dir instead):\n  "
            + "\n  ".join(differ)
        )


def resume_run(
    run_dir: Path,
    config: TrainConfig,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    precision: str = "fp32",
) -> tuple[int, list[dict[str, float]]]:
    """Load the run's checkpoint into model, optimizer, scaler and the random state; the
    iterations done and the log up to them (what came after is done again). The run must
    resume in the precision it ran in (``auto`` may decide otherwise on another machine)."""
    ckpt_path = checkpoint_path(run_dir)
    state = read_checkpoint(ckpt_path, map_location=device)
    # Through from_dict, so that a config written before a field existed gets its default.
    check_resumable(from_dict(state["config"]).to_dict(), config.to_dict())
    saved = state.get("meta", {}).get("precision", "fp32")
    if saved != precision:
        raise AtrousError(
            f"{str(ckpt_path)!r} was trained in {saved} but would resume in {precision}: set "
            f"--set train.precision={saved} to continue it exactly"
        )
    load_weights(model, state, source=str(ckpt_path))
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"], device)
    start = int(state["iteration"])
    history = [r for r in read_metrics(metrics_path(run_dir)) if r["iteration"] <= start]
    return start, history
