r"""Training DeepLabv3: the protocol of Sec. 4.1.

One iteration takes a batch of ``batch_size`` random crops (random scale 0.5 to 2.0 and
left-right flip, :class:`atrous.data.transforms.TrainTransform`), computes the logits,
**upsamples them to the labels** (or, for the ablation of Tab. 8, downsamples the labels
to the logits: :mod:`atrous.loss`), and takes one step of SGD with momentum and weight
decay on the pixel-wise cross-entropy, ignoring the label 255. The learning rate follows
the "poly" policy, set before every iteration :math:`i` of :math:`I`:

.. math::

    \mathrm{lr}_i = \mathrm{base\_lr} \cdot (1 - i / I)^{0.9}.

The two stages of the paper are two runs of :func:`train`: stage 1 at output stride 16
with batch norm trained (BN decay 0.9997 = ``bn_momentum`` 0.0003, batch 16, lr 0.007);
stage 2 starts from stage 1's weights (``train.init``), freezes batch norm, switches to
output stride 8 and uses lr 0.001 (``configs/voc_stage2.toml``).

Reproducibility: the data order and every augmentation are a pure function of
``(seed, sample number)`` (:mod:`atrous.sample_stream`), and the checkpoint holds the
optimizer and random state (:mod:`atrous.checkpoint`), so a run resumed from a checkpoint
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
  (:class:`atrous.aspp.ASPPPooling`); the run warns about it at its start.
- With several processes (``torchrun``), batch norm normalises over the global batch of all
  processes (:mod:`atrous.distributed`), the image-pooling branch's included, so one image
  per process is ordinary batch norm over ``world`` images, as in the paper.
- Weight decay applies to the conv weights only, not to biases and BN parameters (as the
  paper's TensorFlow code regularises only the weights).
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from atrous.checkpoint import (
    load_weights,
    read_checkpoint,
    resume_run,
    rng_state,
)
from atrous.data.files import check_class_count
from atrous.distributed import all_reduce, data_parallel, process_info, setup_process
from atrous.errors import AtrousFileNotFoundError
from atrous.loss import labelled_pixels, segmentation_loss_sum
from atrous.model import DeepLabV3
from atrous.precision import autocast, memory_format, resolve_precision
from atrous.run_log import RunLog, save_run
from atrous.sample_stream import IterationSampler, SampleStream, Transform
from atrous.tables import plain
from atrous.train_checks import (
    check_finite,
    check_labels,
    check_run,
    warn_about_micro_batches,
)
from atrous.train_config import OptimConfig, TrainConfig


def poly_lr(base_lr: float, iteration: int, iterations: int, power: float = 0.9) -> float:
    """The poly learning rate of Sec. 4.1: ``base_lr * (1 - iteration / iterations) ** power``."""
    return base_lr * (1.0 - iteration / iterations) ** power


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """SGD parameter groups: weight decay on conv weights (ndim > 1), none elsewhere."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained network (eval mode) and the log."""

    model: DeepLabV3
    iteration: int
    run_dir: Path
    history: list[dict[str, float]] = field(default_factory=list)


def arithmetic(config: TrainConfig, device: torch.device) -> tuple[str, torch.memory_format]:
    """The precision and memory format a run uses on ``device`` (``auto`` decided here)."""
    t = config.train
    precision = t.precision
    if precision == "auto" and device.type == "cuda" and not t.amp:
        precision = "fp32"
    precision = resolve_precision(precision, device, "train.precision")
    return precision, memory_format(t.memory_format, "train.memory_format")


def initial_model(config: TrainConfig) -> DeepLabV3:
    """The network a run starts from: seeded, then ImageNet weights (``train.pretrained``)
    or another run's (``train.init``: stage 2 starts from stage 1), BN frozen if asked."""
    t = config.train
    torch.manual_seed(t.seed)
    model = DeepLabV3(config.network)
    if t.pretrained and not t.init:
        from atrous.interop import load_backbone_checkpoint, load_checkpoint_file

        if not Path(t.pretrained).is_file():
            raise AtrousFileNotFoundError(
                f"train.pretrained {t.pretrained!r} is not a file: download torchvision's "
                f'ImageNet ResNet weights there, or set train.pretrained = "" to start from '
                f"random weights"
            )
        load_backbone_checkpoint(model, load_checkpoint_file(t.pretrained))
    if t.init:
        if not Path(t.init).exists():
            raise AtrousFileNotFoundError(f"train.init {t.init!r}: no such checkpoint or folder")
        fresh = load_weights(model, read_checkpoint(t.init), f"train.init {t.init!r}",
                             skip=t.init_skip)  # fmt: skip
        if fresh:
            print(f"train.init: {len(fresh)} tensors not loaded (train.init_skip), freshly "
                  f"initialised: {', '.join(fresh)}", file=sys.stderr)  # fmt: skip
    return model.freeze_bn(t.freeze_bn)


def _training_set(
    config: TrainConfig, dataset: Dataset | None, progress: bool
) -> tuple[Dataset, dict[str, Any]]:
    """The training images (bootstrapped if asked, Sec. 4.3) and what to keep of them."""
    if dataset is None:
        from atrous.data.build import build_dataset

        dataset = build_dataset(config.data, config.data.train_split)
    check_class_count(dataset, config.network.num_classes, config.data.dataset)
    meta = {
        name: plain(np.asarray(getattr(dataset, name)).tolist())
        for name in ("class_names", "palette")
        if hasattr(dataset, name)
    }
    if config.data.cache:  # each image drawn or decoded once
        from atrous.data.cache import Cached

        dataset = Cached(dataset)
    if config.data.bootstrap_classes:  # Sec. 4.3: hard images twice per epoch
        from atrous.data import Bootstrapped

        d = config.data
        dataset = Bootstrapped(dataset, d.bootstrap_classes, d.bootstrap_copies, progress)
    return dataset, meta


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
        config: the run (:class:`~atrous.train_config.TrainConfig`).
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
    ckpt_path = run_dir / "checkpoint.pt"
    rank, world, local_rank = process_info()
    check_run(config, ckpt_path, resume, world)
    device = setup_process(t.device, local_rank, world)
    warn_about_micro_batches(config)

    precision, layout = arithmetic(config, device)
    model = initial_model(config).to(device, memory_format=layout)
    module, model = data_parallel(model, device, world, t.batch_norm == "global")
    model.train()
    optimizer = torch.optim.SGD(parameter_groups(model, t.weight_decay), lr=t.base_lr,
                                momentum=t.momentum)  # fmt: skip
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    start, history = 0, []
    if resume:
        start, history = resume_run(run_dir, config, model, optimizer, scaler, device, precision)
    stop = t.iterations if stop_at is None else min(stop_at, t.iterations)
    dataset, meta = _training_set(config, dataset, progress)
    meta["precision"] = precision
    loader = _loader(config, dataset, transform, IterationSampler(start, stop, t.batch_size,
                                                                  rank, world), device)  # fmt: skip
    if rank == 0:
        _open_run_dir(run_dir, config, precision if progress else None)
    log = RunLog(history, t.log_every, t.batch_size)
    bar = tqdm(total=stop, initial=start, desc="train", disable=not progress or rank != 0,
               unit="it")  # fmt: skip
    iteration, num_classes = start, model.config.num_classes
    for iteration, (images, labels) in enumerate(loader, start=start):
        lr = poly_lr(t.base_lr, iteration, t.iterations, t.lr_power)
        for group in optimizer.param_groups:
            group["lr"] = lr
        check_labels(labels, num_classes, iteration, t.batch_size)
        images = images.to(device).contiguous(memory_format=layout)
        loss = _step(module, images, labels.to(device), optimizer, scaler, t, world, precision)
        check_finite(loss, iteration, config)
        done = iteration + 1
        record = log.add(done, loss, lr, stop)
        if record is not None:
            bar.set_postfix(loss=f"{record['loss']:.3f}", img_s=f"{record['images_per_s']:.1f}")
        bar.update(1)
        if rank == 0 and (done % t.checkpoint_every == 0 or done == stop):
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rng_state(device),
                "meta": meta,
            }
            save_run(run_dir, config, model.config, done, state, history)
        iteration = done
    bar.close()
    if world > 1:
        torch.distributed.barrier()
    return TrainResult(model.eval(), iteration, run_dir, history)


def _open_run_dir(run_dir: Path, config: TrainConfig, announce: str | None) -> None:
    """Make the run folder, write ``config.json``; say what ``train.precision = "auto"``
    picked (``announce``). (What a killed save left, :func:`save_checkpoint` removes.)"""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    if announce and config.train.precision == "auto":
        print(f"train.precision auto: {announce}", file=sys.stderr)


def _loader(
    config: TrainConfig,
    dataset: Dataset,
    transform: Transform | None,
    sampler: IterationSampler,
    device: torch.device,
) -> DataLoader:
    """The batches of this process, as a pure function of (seed, sample number)."""
    if transform is None:
        from atrous.data.build import train_transform

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
