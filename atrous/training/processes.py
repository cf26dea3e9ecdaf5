"""Processes and devices: data parallel with batch norm over the global batch (Sec. 4.1).

Under ``torchrun`` every process trains on its share of each global batch
(:class:`atrous.training.sample_stream.IterationSampler`); DistributedDataParallel averages the
gradients, and batch norm layers become :class:`torch.nn.SyncBatchNorm` on CUDA and
:class:`atrous.model.global_bn.GlobalBatchNorm2d` on the CPU (PyTorch's runs only on GPUs), so BN
sees the global batch as in the paper (``train.batch_norm = "per_replica"`` keeps each
process's BN to its own share instead, as Tab. 11's asynchronous replicas had). Without
``torchrun`` there is one process.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from atrous.base.device import select_device
from atrous.model.global_bn import convert_to_global_batchnorm


def process_info() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


def setup_process(device_name: str, local_rank: int, world: int) -> torch.device:
    """This process's device; the process group (NCCL on CUDA, gloo elsewhere) if ``world > 1``."""
    device = select_device(device_name, local_rank)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def data_parallel(
    model: nn.Module, device: torch.device, world: int, global_bn: bool = True
) -> tuple[nn.Module, nn.Module]:
    """(what to call, what holds the weights): with ``world > 1``, the model inside
    DistributedDataParallel, its BN over the global batch (``global_bn``) or over each
    process's share (the per-replica BN of Tab. 11's asynchronous replicas); else the model
    twice."""
    if world == 1:
        return model, model
    if global_bn and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    elif global_bn:
        model = convert_to_global_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids), model


def all_reduce(value: torch.Tensor, world: int) -> torch.Tensor:
    """``value`` summed over the processes (in place), or as it is with one process."""
    if world > 1:
        torch.distributed.all_reduce(value)
    return value
