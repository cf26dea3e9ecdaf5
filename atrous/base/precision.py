"""Numerical precision and memory format: how the network's arithmetic runs, not what it is.

``precision`` is one of:

- ``fp32``: everything in float32;
- ``bf16``: convolutions and matrix products in bfloat16 under :func:`torch.autocast`
  (CPUs with AVX-512-BF16 or AMX, and CUDA GPUs run them several times faster); the weights,
  batch norm's running statistics, the loss and the optimizer state stay float32, so a
  checkpoint is float32 whatever the precision and resumes exactly;
- ``fp16``: CUDA only, float16 autocast with gradient scaling (``torch.amp.GradScaler``);
- ``auto``: bf16 on a CPU whose oneDNN runs bf16 natively (``torch.ops.mkldnn.
  _is_mkldnn_bf16_supported()``: AVX-512-BF16 or AMX), fp32 on other CPUs; fp16 on CUDA
  (bf16 where the GPU supports it and fp16 is not wanted is a setting away).

A run records the precision it resolved to (its checkpoint, its metrics, every evaluation's
JSON). ``memory_format`` ``channels_last`` (NHWC) is what oneDNN's and cuDNN's fastest
convolutions use; ``auto`` picks it everywhere (it won every case measured in
``bench/results/``).
"""

from __future__ import annotations

import contextlib

import torch

from atrous.base.errors import AtrousError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_runs_bf16_fast() -> bool:
    """Whether this CPU has native bf16 arithmetic for oneDNN (AVX-512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without mkldnn
        return False


def resolve_precision(precision: str, device: torch.device, option: str = "precision") -> str:
    """``precision`` with ``auto`` decided for ``device``; AtrousError for what it cannot run."""
    if precision not in PRECISIONS:
        raise AtrousError(f"{option} must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if cpu_runs_bf16_fast() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise AtrousError(
            f"{option}='fp16' runs on CUDA only (float16 on a CPU is slow and needs gradient "
            f"scaling); use 'bf16' or 'fp32' on {device.type}"
        )
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])


def memory_format(name: str, option: str = "memory_format") -> torch.memory_format:
    """The torch memory format of ``auto``, ``channels_last`` or ``contiguous``."""
    if name not in MEMORY_FORMATS:
        raise AtrousError(f"{option} must be one of {MEMORY_FORMATS}, got {name!r}")
    return torch.contiguous_format if name == "contiguous" else torch.channels_last
