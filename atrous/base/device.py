"""The device a command runs on, chosen by name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

One rule for every option that names a device (``train.device``, ``eval.device``,
``--device``): :func:`select_device`.
"""

from __future__ import annotations

import torch

from atrous.base.errors import AtrousError


def check_device_name(name: str, option: str = "train.device") -> str:
    """``name`` if it is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; AtrousError naming
    ``option`` otherwise (whether the device exists is :func:`select_device`'s question)."""
    if not (name in ("auto", "cpu", "cuda") or name.startswith("cuda:") and name[5:].isdigit()):
        raise AtrousError(f"{option} must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}")
    return name


def select_device(name: str, local_rank: int = 0, option: str = "train.device") -> torch.device:
    """A device by name (``option`` names where it came from, for the error): ``auto`` is
    CUDA when available; ``cuda`` is this process's GPU (``cuda:LOCAL_RANK``)."""
    check_device_name(name, option)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AtrousError(f"{option} is {name!r} but CUDA is not available here; use 'cpu'")
    if name.startswith("cuda") and int(name[5:]) >= torch.cuda.device_count():
        raise AtrousError(f"{option} is {name!r} but this machine has "
                          f"{torch.cuda.device_count()} GPU(s)")  # fmt: skip
    return torch.device(name)
