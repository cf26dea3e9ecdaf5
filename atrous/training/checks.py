"""What training checks before and during a run: refusals and warnings, in one place.

Before any work (and before the run folder is made): the batch must split over the
processes and micro-batches, and a run folder is resumed only with ``--resume`` (the
dataset's declared classes are checked by :func:`atrous.data.files.check_class_count`: no
more than ``model.num_classes``, and for a class file, the folder dataset's, exactly as
many); the image-pooling branch's batch norm, which a batch of one image cannot train
(:class:`atrous.model.aspp.ASPPPooling`), is warned about. During the run: every label must
be a class or 255, and the loss must stay finite. Each refusal is an
:class:`~atrous.base.errors.AtrousError` (or FloatingPointError) naming the setting to change.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch

from atrous.base.errors import AtrousError, AtrousFileExistsError, AtrousFileNotFoundError
from atrous.data.palette import IGNORE_INDEX, outside_classes
from atrous.recipe.config import TrainConfig


class ImagePoolingBNWarning(UserWarning):
    """The image-pooling branch's BN sees batches of one image and will not learn."""


def warn_about_micro_batches(config: TrainConfig) -> None:
    """Warn when the image-pooling BN would see one image at a time (see ASPPPooling)."""
    t, network = config.train, config.network
    micro = t.batch_size // t.accumulate  # images per BN batch, over all processes
    if micro > 1 or t.freeze_bn or network.head != "aspp" or not network.image_pooling:
        return
    warnings.warn(
        f"train.batch_size={t.batch_size} with train.accumulate={t.accumulate}: batch norm "
        f"sees one image at a time, and the image-pooling branch's BN has one value per "
        f"channel; it normalises with its running statistics, which never change during "
        f"this run (they stay at their initial values or train.init's). Use train.accumulate "
        f"<= batch_size / 2, or freeze BN (train.freeze_bn = true).",
        ImagePoolingBNWarning,
        stacklevel=3,
    )


def check_run(config: TrainConfig, ckpt_path: Path, resume: bool, world: int) -> None:
    t = config.train
    if t.batch_size % (world * t.accumulate):
        raise AtrousError(
            f"train.batch_size={t.batch_size} must be divisible by the number of processes "
            f"({world}) times train.accumulate ({t.accumulate})"
        )
    if resume and not ckpt_path.is_file():
        raise AtrousFileNotFoundError(f"--resume: no checkpoint {str(ckpt_path)!r} to resume from")
    if not resume and ckpt_path.is_file():
        raise AtrousFileExistsError(
            f"{str(ckpt_path)!r} exists: pass --resume to continue that run or choose another "
            f"--run-dir"
        )


def check_labels(labels: torch.Tensor, num_classes: int, iteration: int, batch: int) -> None:
    bad = outside_classes(labels, num_classes)
    if bad.any():
        first = iteration * batch
        raise AtrousError(
            f"a label of the batch of iteration {iteration} (samples {first}..{first + batch - 1}) "
            f"is {int(labels[bad][0])}: outside the model's classes 0..{num_classes - 1} "
            f"(model.num_classes) and not {IGNORE_INDEX}"
        )


def check_finite(loss: float, iteration: int, config: TrainConfig) -> None:
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the loss is {loss} at iteration {iteration}: training diverged; lower "
            f"train.base_lr (now {config.train.base_lr}) or check the labels (classes must be "
            f"< num_classes={config.network.num_classes} or 255)"
        )
