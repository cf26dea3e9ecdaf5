"""The safetensors form of a network: its trainable weights without pickle, configs in the metadata.

:func:`write_safetensors` stores ``model.state_dict()`` (optionally in bf16) with the
network config, the run config and the checkpoint's ``meta`` as JSON strings in the file's
metadata (``"format": "atrous"``); :func:`read_safetensors` reads such a file back as a
checkpoint state, so that a ``.safetensors`` file loads wherever a checkpoint does
(:func:`atrous.model.checkpoint.read_checkpoint`) and can be fine-tuned.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from atrous.base.atomic import write_atomic
from atrous.base.errors import AtrousError


def metadata(state: dict[str, Any], model: torch.nn.Module) -> dict[str, str]:
    """What an export records of a checkpoint ``state`` and its ``model``, as JSON strings."""
    return {
        "format": "atrous",
        "network": json.dumps(dataclasses.asdict(model.config)),
        "config": json.dumps(state.get("config", {})),
        "meta": json.dumps(state.get("meta", {})),
    }


def save_tensors(tensors: Mapping[str, torch.Tensor], out: Path, meta: dict[str, str]) -> Path:
    """Write ``tensors`` with ``meta`` as a safetensors file, atomically and with the umask's
    permissions, as checkpoints are (:func:`atrous.base.atomic.write_atomic`)."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous() for k, v in tensors.items()}
    return write_atomic(out, lambda f: f.write(save(tensors, metadata=meta)))


def write_safetensors(
    model: torch.nn.Module, out: Path, meta: dict[str, str], bf16: bool = False
) -> Path:
    """Write ``model``'s state dict to ``out`` with ``meta`` (:func:`save_tensors`)."""
    tensors = model.state_dict()
    if bf16:
        tensors = {k: v.to(torch.bfloat16) if v.is_floating_point() else v
                   for k, v in tensors.items()}  # fmt: skip
    return save_tensors(tensors, out, meta)


def read_safetensors(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A safetensors file written by :func:`write_safetensors` as a checkpoint state (``"model"``,
    ``"network"``, ``"config"``, ``"meta"``); AtrousError naming the file if it is truncated,
    corrupt or not atrous's."""
    try:
        from safetensors import safe_open
    except ImportError:  # pragma: no cover
        raise AtrousError(f"{path}: reading .safetensors needs pip install safetensors") from None
    try:
        with safe_open(str(path), framework="pt", device=str(map_location)) as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    except Exception as error:  # a truncated or foreign file
        raise AtrousError(f"safetensors file {str(path)!r} could not be read: {error}") from None
    if metadata.get("format") != "atrous" or "network" not in metadata:
        raise AtrousError(f"{str(path)!r} is not an atrous safetensors export (no 'network' "
                          f"in its metadata)")  # fmt: skip
    try:
        return {
            "model": tensors,
            "network": json.loads(metadata["network"]),
            "config": json.loads(metadata.get("config", "{}")),
            "meta": json.loads(metadata.get("meta", "{}")),
        }
    except json.JSONDecodeError as error:
        raise AtrousError(f"{str(path)!r}: its metadata is not valid JSON: {error}") from None
