r"""Training DeepLabv3: the protocol of Sec. 4.1.

One iteration takes a batch of ``batch_size`` random crops (random scale 0.5 to 2.0 and
left-right flip, :class:`atrous.data.transforms.TrainTransform`), computes the logits,
**upsamples them to the labels** (or, for the ablation of Tab. 8, downsamples the labels
to the logits: :mod:`atrous.training.loss`), and takes one step of SGD with momentum and weight
decay on the pixel-wise cross-entropy, ignoring the label 255. The learning rate follows
the "poly" policy, set before every iteration :math:`i` of :math:`I`:

.. math::

    \mathrm{lr}_i = \mathrm{base\_lr} \cdot (1 - i / I)^{0.9}.

The two stages of the paper are two runs of :func:`train`: stage 1 at output stride 16
with batch norm trained (BN decay 0.9997 = ``bn_momentum`` 0.0003, batch 16, lr 0.007);
stage 2 starts from stage 1's weights (``train.init``), freezes batch norm, switches to
output stride 8 and uses lr 0.001 (``atrous/configs/voc_stage2.toml``).

Reproducibility: the data order and every augmentation are a pure function of
``(seed, sample number)`` (:mod:`atrous.training.sample_stream`), and the checkpoint holds the
optimizer and random state (:mod:`atrous.model.checkpoint`), so a run resumed from a checkpoint
(``resume=True``) ends with the weights of the uninterrupted run.

Departures and caveats, stated here once:

- ``accumulate > 1`` splits every batch into micro-batches whose gradients add up; the
  loss is normalised by the labelled pixels of the whole batch, so the gradient equals the
  full batch's, **except for batch norm**, which normalises each micro-batch by its own
  statistics and updates its running averages once per micro-batch. Tab. 9 shows how much
  small BN batches cost (batch 4: 64.43 against 77.21 at 16); prefer freezing BN
  (``freeze_bn``) when the micro-batch is small. With micro-batches of **one image**
  (``accumulate == batch_size``) the image-pooling branch's BN has one value per channel:
  it normalises with its running statistics, which then never change
  (:class:`atrous.model.aspp.ASPPPooling`); the run warns about it at its start.
- With several processes (``torchrun``), batch norm normalises over the global batch of all
  processes (:mod:`atrous.training.processes`), the image-pooling branch's included, so one image
  per process is ordinary batch norm over ``world`` images, as in the paper.
- Weight decay applies to the conv weights only (:mod:`atrous.training.start`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from atrous.base.precision import autocast
from atrous.model.deeplabv3 import DeepLabV3
from atrous.recipe.config import OptimConfig, TrainConfig
from atrous.recipe.datasets import train_transform
from atrous.training.checks import (
    check_finite,
    check_labels,
    check_run,
    warn_about_micro_batches,
)
from atrous.training.loss import labelled_pixels, segmentation_loss_sum
from atrous.training.processes import all_reduce, data_parallel, process_info, setup_process
from atrous.training.resume import resume_run, rng_state
from atrous.training.run_folder import RunLog, checkpoint_path, save_run
from atrous.training.sample_stream import IterationSampler, SampleStream, Transform
from atrous.training.start import arithmetic, initial_model, parameter_groups, training_set


def poly_lr(base_lr: float, iteration: int, iterations: int, power: float = 0.9) -> float:
    """The poly learning rate of Sec. 4.1: ``base_lr * (1 - iteration / iterations) ** power``."""
    return base_lr * (1.0 - iteration / iterations) ** power


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained network (eval mode) and the log."""

    model: DeepLabV3
    iteration: int
    run_dir: Path
    history: list[dict[str, float]] = field(default_factory=list)


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    stop_at: int | None = None,
    dataset: Dataset | None = None,
    transform: Transform | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the network of ``config`` and write checkpoint, metrics and plots to ``run_dir``.

    Args:
        config: the run (:class:`~atrous.recipe.config.TrainConfig`).
        run_dir: folder for ``checkpoint.pt``, ``metrics.jsonl``, ``curves.png``,
            ``config.json``.
        resume: continue from ``run_dir/checkpoint.pt`` exactly where it stopped.
        stop_at: stop after this many iterations (as an interrupted run would, but with a
            checkpoint); the poly schedule still runs to ``config.train.iterations``.
        dataset: replaces the training set built from ``config.data`` (raw (image, label)
            pairs; see :class:`SampleStream`).
        transform: replaces the augmentation built from ``config.data``.
        progress: show a progress bar (rank 0 only).
    """
    t, run_dir = config.train, Path(run_dir)
    run = _start(config, run_dir, resume, stop_at, dataset, transform, progress)
    model, optimizer, history = run.model, run.optimizer, run.history
    log = RunLog(history, t.log_every, t.batch_size)
    bar = tqdm(total=run.stop, initial=run.start, desc="train", unit="it",
               disable=not progress or run.rank != 0)  # fmt: skip
    iteration, num_classes = run.start, model.config.num_classes
    for iteration, (images, labels) in enumerate(run.loader, start=run.start):
        lr = poly_lr(t.base_lr, iteration, t.iterations, t.lr_power)
        for group in optimizer.param_groups:
            group["lr"] = lr
        check_labels(labels, num_classes, iteration, t.batch_size)
        images = images.to(run.device).contiguous(memory_format=run.layout)
        loss = _step(run.module, images, labels.to(run.device), optimizer, run.scaler, t,
                     run.world, run.precision)  # fmt: skip
        check_finite(loss, iteration, config)
        done = iteration + 1
        record = log.add(done, loss, lr, run.stop)
        if record is not None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", img_s=f"{record['images_per_s']:.1f}")
        bar.update(1)
        if run.rank == 0 and (done % t.checkpoint_every == 0 or done == run.stop):
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scaler": run.scaler.state_dict(), "rng": rng_state(run.device),
                     "meta": run.meta}  # fmt: skip
            save_run(run_dir, config, model.config, done, state, history)
        iteration = done
    bar.close()
    if run.world > 1:
        torch.distributed.barrier()
    return TrainResult(model.eval(), iteration, run_dir, history)


@dataclass
class _Run:
    """Everything a run holds while it trains (see :func:`_start`)."""

    module: nn.Module  # what the forward pass runs: the model, or DDP around it
    model: DeepLabV3
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loader: DataLoader
    device: torch.device
    layout: torch.memory_format
    precision: str
    rank: int
    world: int
    start: int
    stop: int
    history: list[dict[str, float]]
    meta: dict[str, Any]


def _start(
    config: TrainConfig, run_dir: Path, resume: bool, stop_at: int | None,
    dataset: Dataset | None, transform: Transform | None, progress: bool,
) -> _Run:  # fmt: skip
    """Check the run, set up the process, the network, the optimizer and the data; resume."""
    t = config.train
    rank, world, local_rank = process_info()
    check_run(config, checkpoint_path(run_dir), resume, world)
    device = setup_process(t.device, local_rank, world)
    warn_about_micro_batches(config)
    precision, layout = arithmetic(config, device)
    module, model = data_parallel(initial_model(config).to(device, memory_format=layout),
                                  device, world, t.batch_norm == "global")  # fmt: skip
    optimizer = torch.optim.SGD(parameter_groups(model.train(), t.weight_decay), lr=t.base_lr,
                                momentum=t.momentum)  # fmt: skip
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    start, history = 0, []
    if resume:
        start, history = resume_run(run_dir, config, model, optimizer, scaler, device, precision)
    stop = t.iterations if stop_at is None else min(stop_at, t.iterations)
    dataset, meta = training_set(config, dataset, progress)
    meta["precision"] = precision
    sampler = IterationSampler(start, stop, t.batch_size, rank, world)
    loader = training_loader(config, dataset, transform, sampler, device)
    if rank == 0:
        _open_run_dir(run_dir, config, precision if progress else None)
    return _Run(module, model, optimizer, scaler, loader, device, layout, precision, rank,
                world, start, stop, history, meta)  # fmt: skip


def _open_run_dir(run_dir: Path, config: TrainConfig, announce: str | None) -> None:
    """Make the run folder, write ``config.json``; say what ``train.precision = "auto"``
    picked (``announce``). (What a killed save left, :func:`save_checkpoint` removes.)"""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    if announce and config.train.precision == "auto":
        print(f"train.precision auto: {announce}", file=sys.stderr)


def training_loader(
    config: TrainConfig,
    dataset: Dataset,
    transform: Transform | None,
    sampler: IterationSampler,
    device: torch.device,
) -> DataLoader:
    """The batches of this process, as a pure function of (seed, sample number)."""
    if transform is None:
        transform = train_transform(config.data)
    return DataLoader(
        SampleStream(dataset, transform, config.train.seed, range(len(dataset))),
        batch_sampler=sampler,
        num_workers=config.data.num_workers,
        pin_memory=device.type == "cuda",
    )


def _step(
    module: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    t: OptimConfig,
    world: int,
    precision: str = "fp32",
) -> float:
    """One SGD step on a batch split into ``t.accumulate`` micro-batches; the batch's loss."""
    align_corners = (module.module if world > 1 else module).config.align_corners
    optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=images.device)
    labelled = None
    micro = list(zip(images.chunk(t.accumulate), labels.chunk(t.accumulate), strict=True))
    for m, (x, y) in enumerate(micro):
        last = m == len(micro) - 1
        sync = module.no_sync() if world > 1 and not last else contextlib.nullcontext()
        with sync:
            with autocast(precision, images.device):
                logits = module(x, upsample=False)  # (n, K, H/os, W/os)
            if labelled is None:  # of the global batch, all micro-batches and processes
                size = logits.shape[-2:]
                labelled = labelled_pixels(labels, size, t.upsample_logits, align_corners)
                labelled = all_reduce(labelled, world).clamp(min=1.0)
            loss = segmentation_loss_sum(logits, y, t.upsample_logits, align_corners)
            # Normalised by the labelled pixels of the global batch, so the gradient is that
            # of one big batch whatever the number of processes and micro-batches (DDP
            # averages the gradients over the processes, hence the factor world).
            scaler.scale(loss * world / labelled).backward()
        total += loss.detach()
    scaler.step(optimizer)
    scaler.update()
    return float(all_reduce(total, world) / labelled)
