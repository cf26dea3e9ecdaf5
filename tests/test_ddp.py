"""Data-parallel training (torch.distributed, gloo on the CPU) equals one process.

Two processes each take half of every global batch (:class:`atrous.train.IterationSampler`)
and DistributedDataParallel averages their gradients; the loss is normalised by the
labelled pixels of the global batch, and batch norm normalises by the statistics of the
global batch (:mod:`atrous.global_bn` on the CPU), so after a few iterations the weights and
the BN running statistics equal those of one process trained on the same global batch; with
BN trained (stage 1 of Sec. 4.1) and frozen (stage 2).
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from atrous import DeepLabV3
from atrous.checkpoint import read_checkpoint
from atrous.train import train
from tests.helpers_train import FlipCrop, Rectangles, tiny_config


def _tables(freeze_bn: bool) -> dict:
    return {
        "train": {"iterations": 3, "batch_size": 4, "freeze_bn": freeze_bn, "checkpoint_every": 3}
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, run_dir: str, freeze_bn: bool) -> None:
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
            tiny_config(**_tables(freeze_bn)),
            run_dir,
            dataset=Rectangles(),
            transform=FlipCrop(17),
            progress=False,
        )
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("freeze_bn", [False, True], ids=["bn-global-batch", "bn-frozen"])
def test_two_gloo_processes_equal_one(tmp_path, freeze_bn):
    torch.set_num_threads(1)
    single = train(
        tiny_config(**_tables(freeze_bn)),
        tmp_path / "single",
        dataset=Rectangles(),
        transform=FlipCrop(17),
        progress=False,
    )
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp"), freeze_bn), nprocs=2, join=True)
    state = read_checkpoint(tmp_path / "ddp")
    assert state["iteration"] == 3
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(state["model"][key], value, rtol=1e-4, atol=1e-5)
    torch.manual_seed(0)  # the weights training started from
    start = DeepLabV3(tiny_config(**_tables(freeze_bn)).network).state_dict()["classifier.1.weight"]
    assert not torch.allclose(state["model"]["classifier.1.weight"], start)
