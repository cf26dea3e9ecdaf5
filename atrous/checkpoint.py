"""Checkpoints: the state of a run, written atomically and read back safely.

A checkpoint is one ``torch.save`` file holding plain data only (tensors, dicts, lists,
numbers, strings), so it is read with ``torch.load(weights_only=True)``, which cannot run
code hidden in a file from elsewhere (:func:`safe_load`, also used for torchvision's files
by :mod:`atrous.interop`):

- ``"model"``: the network's ``state_dict``; ``"network"``: its
  :class:`~atrous.config.DeepLabV3Config` as a dict;
- ``"config"``: the whole :class:`~atrous.train_config.TrainConfig` as a dict;
- ``"iteration"``: iterations done; ``"optimizer"``, ``"scaler"``, ``"rng"``: what
  ``--resume`` needs to continue exactly (:func:`resume_run`);
- ``"meta"``: anything else worth keeping (class names, palette).

Writing goes to a temporary file in the same folder, then :func:`os.replace` renames it over
the old checkpoint: a run killed while writing leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from atrous.config import DeepLabV3Config
from atrous.errors import AtrousError, AtrousFileNotFoundError
from atrous.model import DeepLabV3
from atrous.run_log import read_metrics
from atrous.train_config import TrainConfig, from_dict

#: Config fields that do not change the parameters: a checkpoint loads across them.
_FREE_FIELDS = ("output_stride", "bn_momentum")
#: Run settings that may change when a run resumes: where it runs and where the files are.
_MOVABLE = {
    ("train", "device"),
    ("data", "root"),
    ("data", "sbd_root"),
    ("data", "num_workers"),
    ("data", "cache"),
    ("train", "precision"),  # checked as what it resolved to, by resume_run
}
#: At most this many names per list in an error message.
_SHOW = 12


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_partial_writes(path: str | Path) -> list[Path]:
    """Delete the temporary files that a run killed while writing ``path`` left behind."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + :func:`os.replace`), with the
    permissions of any file the process creates (the umask), not the temporary file's 0600.
    Temporary files left by an earlier write that was killed are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_partial_writes(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _describe_unreadable(path: Path, error: Exception) -> str:
    """Why ``path`` is not a checkpoint, in words (not torch's internals)."""
    with path.open("rb") as f:
        head = f.read(8)
    if not head:
        return f"checkpoint {str(path)!r} is empty (0 bytes): not a checkpoint"
    if not head.startswith((b"PK", b"\x80")):  # torch.save: a zip archive (or a legacy pickle)
        return (
            f"checkpoint {str(path)!r} is not a PyTorch file (torch.save writes a zip archive; "
            f"this file starts with {head!r})"
        )
    return f"checkpoint {str(path)!r} could not be read (truncated or damaged?): {error}"


def safe_load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``, with errors that name the file.

    AtrousFileNotFoundError if there is no such file; AtrousError if it holds objects other
    than tensors and plain containers (a pickle that could run code: refused), or is empty,
    truncated or not a PyTorch file at all.
    """
    path = Path(path)
    if not path.is_file():
        raise AtrousFileNotFoundError(f"checkpoint file not found: {str(path)!r}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL (\S+)", str(error))
        what = f" ({found[1]})" if found else ""
        raise AtrousError(
            f"checkpoint {str(path)!r} holds a Python object{what} that atrous refuses to "
            f"unpickle: unpickling can run any code, so atrous reads only tensors and plain "
            f"containers (torch.load weights_only=True). Save the weights as a state dict "
            f"(torch.save(model.state_dict(), path)) and load that instead"
        ) from None
    except Exception as error:  # a truncated or foreign file
        raise AtrousError(_describe_unreadable(path, error)) from None


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an atrous checkpoint (or ``checkpoint.pt`` in a run folder) with :func:`safe_load`,
    or a ``.safetensors`` export of one (:func:`atrous.export.read_safetensors`)."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if path.suffix == ".safetensors" and path.is_file():  # atrous export: no pickle at all
        from atrous.export import read_safetensors

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


def load_weights(
    model: nn.Module,
    state: dict[str, Any],
    source: str = "checkpoint",
    skip: tuple[str, ...] = (),
) -> list[str]:
    """Load ``state["model"]`` into ``model``; AtrousError naming every mismatch.

    The configs must agree on every field that shapes the weights (all but output_stride
    and bn_momentum, so stage 2 at output stride 8 starts from stage 1 at 16), and every
    parameter and buffer must exist on both sides with the same shape. ``skip`` lists
    module-name prefixes left out on both sides (they keep the model's initialisation;
    ``num_classes`` may then differ): fine-tuning to other classes. Returns the names not
    loaded.
    """
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


# --- what an exact resume needs besides the weights -----------------------------------------


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
    ckpt_path = run_dir / "checkpoint.pt"
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
    history = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["iteration"] <= start]
    return start, history
