"""Data-parallel training (torch.distributed, gloo on the CPU) equals one process.

Two processes each take half of every global batch (:class:`atrous.training.loop.IterationSampler`)
and DistributedDataParallel averages their gradients; the loss is normalised by the
labelled pixels of the global batch, and batch norm normalises by the statistics of the
global batch (:mod:`atrous.model.global_bn` on the CPU), so after a few iterations the weights and
the BN running statistics equal those of one process trained on the same global batch; with
BN trained (stage 1 of Sec. 4.1) and frozen (stage 2). With one image per process (the
paper's batch 16 on 16 devices) the image-pooling branch's BN, which sees one value per
channel on each process, normalises over the global batch too.
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from atrous import DeepLabV3
from atrous.model.checkpoint import read_checkpoint
from atrous.training.loop import train
from tests.helpers_train import FlipCrop, Rectangles, tiny_config


def _tables(freeze_bn: bool, batch_size: int) -> dict:
    return {
        "train": {
            "iterations": 3,
            "batch_size": batch_size,
            "freeze_bn": freeze_bn,
            "checkpoint_every": 3,
        }
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, run_dir: str, freeze_bn: bool, batch: int) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    try:
        train(
            tiny_config(**_tables(freeze_bn, batch)),
            run_dir,
            dataset=Rectangles(),
            transform=FlipCrop(17),
            progress=False,
        )
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("freeze_bn", "batch"),
    [(False, 4), (True, 4), (False, 2)],
    ids=["bn-global-batch", "bn-frozen", "one-image-per-process"],
)
def test_two_gloo_processes_equal_one(tmp_path, freeze_bn, batch):
    torch.set_num_threads(1)
    single = train(
        tiny_config(**_tables(freeze_bn, batch)),
        tmp_path / "single",
        dataset=Rectangles(),
        transform=FlipCrop(17),
        progress=False,
    )
    ddp = str(tmp_path / "ddp")
    mp.spawn(_worker, args=(2, _free_port(), ddp, freeze_bn, batch), nprocs=2, join=True)
    state = read_checkpoint(tmp_path / "ddp")
    assert state["iteration"] == 3
    # With one image per process BN sees 2 to 8 values a channel, which amplifies float32
    # rounding to about 2e-4 after 3 iterations; a pooling BN on the local image alone
    # (running statistics) differs by 3e-2.
    tolerance = 1e-4 if batch > 2 else 1e-3
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(state["model"][key], value, rtol=tolerance, atol=tolerance,
                                   msg=key)  # fmt: skip
    torch.manual_seed(0)  # the weights training started from
    start = DeepLabV3(tiny_config(**_tables(freeze_bn, batch)).network).state_dict()
    assert not torch.allclose(state["model"]["classifier.1.weight"], start["classifier.1.weight"])
    pooling_mean = "classifier.0.convs.4.2.running_mean"  # the image-pooling branch's BN
    assert torch.equal(state["model"][pooling_mean], start[pooling_mean]) == freeze_bn
