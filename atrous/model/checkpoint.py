"""Checkpoints: the state of a run, written atomically and read back safely.

A checkpoint is one ``torch.save`` file holding plain data only (tensors, dicts, lists,
numbers, strings), so it is read with ``torch.load(weights_only=True)``, which cannot run
code hidden in a file from elsewhere (:func:`safe_load`, also used for torchvision's files
by :mod:`atrous.model.interop`):

- ``"model"``: the network's ``state_dict``; ``"network"``: its
  :class:`~atrous.model.config.DeepLabV3Config` as a dict;
- ``"config"``: the whole run config (:class:`~atrous.recipe.config.TrainConfig`) as a dict;
- ``"iteration"``: iterations done; ``"optimizer"``, ``"scaler"``, ``"rng"``: what
  ``--resume`` needs to continue exactly (:mod:`atrous.training.resume`);
- ``"meta"``: anything else worth keeping (class names, palette).

Writing goes to a temporary file in the same folder, then :func:`os.replace` renames it over
the old checkpoint: a run killed while writing leaves the previous checkpoint intact.

**A folder means its checkpoint.** Wherever a checkpoint is read, a run folder stands for
``FOLDER/checkpoint.pt`` (:func:`checkpoint_file`, the one place that says so).
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from atrous.base.atomic import write_atomic
from atrous.base.errors import AtrousError, AtrousFileNotFoundError
from atrous.model.config import DeepLabV3Config
from atrous.model.deeplabv3 import DeepLabV3
from atrous.model.safetensors import read_safetensors

#: The checkpoint's name inside a run folder.
CHECKPOINT_NAME = "checkpoint.pt"

#: Config fields that do not change the parameters: a checkpoint loads across them.
_FREE_FIELDS = ("output_stride", "bn_momentum")
#: At most this many names per list in an error message.
_SHOW = 12


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + :func:`os.replace`), with the
    permissions of any file the process creates (the umask), not the temporary file's 0600.
    Temporary files left by an earlier write that was killed are removed first."""
    return write_atomic(path, lambda f: torch.save(state, f))


def _export_kind(path: Path, head: bytes) -> str | None:
    """What ``atrous export`` file ``path`` is (by suffix or bytes) and what reads it, or None."""
    source = "read the checkpoint.pt (or .safetensors) it was exported from"
    # ONNX: a protobuf ModelProto, ir_version (field 1) then producer_name (field 2)
    if path.suffix == ".onnx" or (len(head) > 2 and head[0] == 0x08 and head[2] == 0x12):
        return (f"{str(path)!r} is an ONNX model (atrous export --format onnx), not a "
                f"checkpoint: ONNX Runtime runs it, `python -m atrous predict {path} IMAGES "
                f"--backend onnxruntime`; eval, export and train.init {source}")  # fmt: skip
    if path.suffix == ".pt2" or (head.startswith(b"PK") and _is_pt2_archive(path)):
        return (f"{str(path)!r} is a torch.export program (atrous export --format torch-export), "
                f"not a checkpoint: load it in Python with torch.export.load(path).module(); "
                f"predict, eval, export and train.init {source}")  # fmt: skip
    return None


def _is_pt2_archive(path: Path) -> bool:
    """A zip archive holding ``archive_format`` (torch.export.save's) and no ``data.pkl``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.rsplit("/", 1)[-1] for n in archive.namelist()]
    except (zipfile.BadZipFile, OSError):
        return False
    return "archive_format" in names and "data.pkl" not in names


def _describe_unreadable(path: Path, error: Exception) -> str:
    """Why ``path`` is not a checkpoint, in words (not torch's internals)."""
    with path.open("rb") as f:
        head = f.read(8)
    if not head:
        return f"checkpoint {str(path)!r} is empty (0 bytes): not a checkpoint"
    export = _export_kind(path, head)
    if export is not None:
        return export
    if not head.startswith((b"PK", b"\x80")):  # torch.save: a zip archive (or a legacy pickle)
        return (
            f"checkpoint {str(path)!r} is not a PyTorch file (torch.save writes a zip archive; "
            f"this file starts with {head!r})"
        )
    if isinstance(error, pickle.UnpicklingError):
        found = re.search(r"GLOBAL (\S+)", str(error))
        what = f" ({found[1]})" if found else ""
        return (
            f"checkpoint {str(path)!r} holds a Python object{what} that atrous refuses to "
            f"unpickle: unpickling can run any code, so atrous reads only tensors and plain "
            f"containers (torch.load weights_only=True). Save the weights as a state dict "
            f"(torch.save(model.state_dict(), path)) and load that instead"
        )
    return f"checkpoint {str(path)!r} could not be read (truncated or damaged?): {error}"


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, with errors that name the file.

    AtrousFileNotFoundError if there is no such file; AtrousError if it holds objects other
    than tensors and plain containers (a pickle that could run code: refused), is empty,
    truncated, not a PyTorch file at all, or an export (ONNX, torch.export) that says which
    command or library reads it.
    """
    path = Path(path)
    if not path.is_file():
        raise AtrousFileNotFoundError(f"checkpoint file not found: {str(path)!r}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a pickle of objects, a truncated or foreign file
        raise AtrousError(_describe_unreadable(path, error)) from None


def checkpoint_file(path: str | Path) -> Path:
    """``path`` itself, or ``path/checkpoint.pt`` if ``path`` is a run folder."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an atrous checkpoint (or a run folder's, :func:`checkpoint_file`) with
    :func:`safe_load`, or a ``.safetensors`` export of one
    (:func:`atrous.model.safetensors.read_safetensors`)."""
    path = checkpoint_file(path)
    if path.suffix == ".safetensors" and path.is_file():  # atrous export: no pickle at all
        return read_safetensors(path, map_location)
    state = safe_load(path, map_location)
    if not isinstance(state, dict) or "model" not in state or "network" not in state:
        raise AtrousError(f"{str(path)!r} is not an atrous checkpoint (no 'model'/'network')")
    return state


def network_config(state: dict[str, Any]) -> DeepLabV3Config:
    """The :class:`DeepLabV3Config` stored in a checkpoint."""
    return DeepLabV3Config(**state["network"])


def mismatched_fields(
    saved: DeepLabV3Config, wanted: DeepLabV3Config, free: tuple[str, ...] = _FREE_FIELDS
) -> list[str]:
    """Names of the config fields, other than ``free``, where two configs differ
    (by default the fields that shape the weights: all but output_stride and bn_momentum)."""
    return [
        f.name
        for f in dataclasses.fields(DeepLabV3Config)
        if f.name not in free and getattr(saved, f.name) != getattr(wanted, f.name)
    ]


def config_mismatch(
    saved: DeepLabV3Config, wanted: DeepLabV3Config, free: tuple[str, ...] = _FREE_FIELDS
) -> list[str]:
    """:func:`mismatched_fields`, each as ``"field: checkpoint X, wanted Y"``."""
    return [
        f"{name}: checkpoint {getattr(saved, name)!r}, wanted {getattr(wanted, name)!r}"
        for name in mismatched_fields(saved, wanted, free)
    ]


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOW])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _SHOW else "")


def state_dict_problems(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]
) -> list[str]:
    """What keeps ``given`` from loading exactly where ``expected`` is: names missing from
    it, names it has in excess, and tensors of the wrong shape (empty if none)."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    misshapen = [
        f"{k} {tuple(given[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in given and tuple(given[k].shape) != tuple(v.shape)
    ]
    problems = []
    for what, names in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("wrong shape", misshapen),
    ):
        if names:
            problems.append(f"{what}: {_listing(names)}")
    return problems


def load_exact(module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load ``state_dict`` into ``module``; ValueError listing every name or shape mismatch."""
    problems = state_dict_problems(module.state_dict(), state_dict)
    if problems:
        raise AtrousError(f"{source} does not fit the model; " + "; ".join(problems))
    module.load_state_dict(state_dict, strict=True)


def _skipped(name: str, skip: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in skip)


def _check_skip(skip: tuple[str, ...], names: list[str], option: str) -> None:
    """AtrousError naming ``option`` and each prefix of ``skip`` that matches none of
    ``names`` (a typo would otherwise load everything, or fail on the classifier's shape)."""
    unmatched = [p for p in skip if not any(_skipped(n, (p,)) for n in names)]
    if unmatched:
        modules = sorted({".".join(n.split(".")[:2]) for n in names})
        raise AtrousError(
            f"{option}: {', '.join(map(repr, unmatched))} "
            f"{'matches' if len(unmatched) == 1 else 'match'} no tensor of the network or "
            f"the checkpoint; a prefix names a module, e.g. one of: {_listing(modules)}"
        )


def load_weights(
    model: nn.Module,
    state: dict[str, Any],
    source: str = "checkpoint",
    skip: tuple[str, ...] = (),
    skip_option: str = "skip",
) -> list[str]:
    """Load ``state["model"]`` into ``model``; AtrousError naming every mismatch.

    The configs must agree on every field that shapes the weights (all but output_stride
    and bn_momentum, so stage 2 at output stride 8 starts from stage 1 at 16), and every
    parameter and buffer must exist on both sides with the same shape. ``skip`` lists
    module-name prefixes left out on both sides (they keep the model's initialisation;
    ``num_classes`` may then differ): fine-tuning to other classes; a prefix that matches
    nothing is refused, naming ``skip_option``. Returns the names not loaded.
    """
    _check_skip(skip, [*model.state_dict(), *state["model"]], skip_option)
    config = getattr(model, "config", None)
    own = {k: v for k, v in model.state_dict().items() if not _skipped(k, skip)}
    saved = {k: v for k, v in state["model"].items() if not _skipped(k, skip)}
    problems = []
    if isinstance(config, DeepLabV3Config):
        free = (*_FREE_FIELDS, "num_classes") if skip else _FREE_FIELDS
        problems += config_mismatch(network_config(state), config, free)
    problems += state_dict_problems(own, saved)
    if problems:
        raise AtrousError(
            f"{source} was written for another network config:\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(saved, strict=not skip)
    return sorted(k for k in model.state_dict() if _skipped(k, skip))


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[DeepLabV3, dict[str, Any]]:
    """The network stored in a checkpoint (or a run folder), in eval mode, and the state."""
    state = read_checkpoint(path, map_location)
    model = DeepLabV3(network_config(state))
    load_weights(model, state, source=str(path))
    return model.to(map_location).eval(), state


def adapt_to_config(model: DeepLabV3, wanted: DeepLabV3Config, option: str = "--set") -> None:
    """Give a loaded network the changes of ``wanted`` that its weights allow (the output
    stride, Sec. 3.1; BN momentum, unused at inference); AtrousError naming ``option`` and
    every other field that differs, since the weights were trained for its value."""
    trained = model.config
    refused = mismatched_fields(trained, wanted)
    if refused:
        details = ", ".join(
            f"model.{n} (checkpoint {getattr(trained, n)!r}, asked {getattr(wanted, n)!r})"
            for n in refused
        )
        raise AtrousError(
            f"{option} cannot change {details} of a trained network: its weights were "
            f"trained for its value; only model.output_stride can change with the same weights"
        )
    if wanted.output_stride != trained.output_stride:
        model.set_output_stride(wanted.output_stride)
