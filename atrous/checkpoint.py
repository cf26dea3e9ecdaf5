"""Checkpoints: the state of a run, written atomically and read back safely.

A checkpoint is one ``torch.save`` file holding plain data only (tensors, dicts, lists,
numbers, strings), so it is read with ``torch.load(weights_only=True)``, which cannot run
code hidden in a file from elsewhere:

- ``"model"``: the network's ``state_dict``; ``"network"``: its
  :class:`~atrous.config.DeepLabV3Config` as a dict;
- ``"config"``: the whole :class:`~atrous.train_config.TrainConfig` as a dict;
- ``"iteration"``: iterations done; ``"optimizer"``, ``"scaler"``, ``"rng"``: what
  ``--resume`` needs to continue exactly;
- ``"meta"``: anything else worth keeping (class names, palette).

Writing goes to a temporary file in the same folder, then :func:`os.replace` renames it over
the old checkpoint: a run killed while writing leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from atrous.config import DeepLabV3Config
from atrous.model import DeepLabV3

#: Config fields that do not change the parameters: a checkpoint loads across them.
_FREE_FIELDS = ("output_stride", "bn_momentum")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + :func:`os.replace`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; FileNotFoundError / ValueError if bad."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a truncated or foreign file
        raise ValueError(f"checkpoint {str(path)!r} could not be read: {error}") from None
    if not isinstance(state, dict) or "model" not in state or "network" not in state:
        raise ValueError(f"{str(path)!r} is not an atrous checkpoint (no 'model'/'network')")
    return state


def network_config(state: dict[str, Any]) -> DeepLabV3Config:
    """The :class:`DeepLabV3Config` stored in a checkpoint."""
    return DeepLabV3Config(**state["network"])


def config_mismatch(saved: DeepLabV3Config, wanted: DeepLabV3Config) -> list[str]:
    """Fields (other than those that leave the weights alone) where two configs differ."""
    return [
        f"{f.name}: checkpoint {getattr(saved, f.name)!r}, wanted {getattr(wanted, f.name)!r}"
        for f in dataclasses.fields(DeepLabV3Config)
        if f.name not in _FREE_FIELDS and getattr(saved, f.name) != getattr(wanted, f.name)
    ]


def load_weights(model: nn.Module, state: dict[str, Any], source: str = "checkpoint") -> None:
    """Load ``state["model"]`` into ``model``; ValueError naming every mismatch.

    The configs must agree on every field that shapes the weights (all but output_stride
    and bn_momentum, so stage 2 at output stride 8 starts from stage 1 at 16), and every
    parameter and buffer must exist on both sides with the same shape.
    """
    config = getattr(model, "config", None)
    problems = []
    if isinstance(config, DeepLabV3Config):
        problems += config_mismatch(network_config(state), config)
    own = model.state_dict()
    saved = state["model"]
    problems += [f"missing from {source}: {k}" for k in own if k not in saved]
    problems += [f"unexpected in {source}: {k}" for k in saved if k not in own]
    problems += [
        f"shape of {k}: {source} {tuple(saved[k].shape)}, model {tuple(v.shape)}"
        for k, v in own.items()
        if k in saved and tuple(saved[k].shape) != tuple(v.shape)
    ]
    if problems:
        raise ValueError(
            f"{source} was written for another network config:\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(saved)


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[DeepLabV3, dict[str, Any]]:
    """The network stored in a checkpoint (or a run folder), in eval mode, and the state."""
    state = read_checkpoint(path, map_location)
    model = DeepLabV3(network_config(state))
    load_weights(model, state, source=str(path))
    return model.to(map_location).eval(), state
