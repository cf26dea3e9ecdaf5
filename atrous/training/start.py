"""What a training run starts from (Sec. 4.1): the network, its arithmetic, the optimizer's
parameter groups and the training images.

The network is seeded, then takes ImageNet weights (``train.pretrained``) or another run's
(``train.init``: stage 2 starts from stage 1), with batch norm frozen if asked. Weight decay
applies to the conv weights only, not to biases and BN parameters (as the paper's
TensorFlow code regularises only the weights).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from atrous.base.errors import AtrousFileNotFoundError
from atrous.base.precision import memory_format, resolve_precision
from atrous.base.tables import plain
from atrous.data import Bootstrapped
from atrous.data.cache import Cached
from atrous.data.files import check_class_count
from atrous.model.checkpoint import load_weights, read_checkpoint
from atrous.model.deeplabv3 import DeepLabV3
from atrous.model.interop import load_backbone_checkpoint, load_checkpoint_file
from atrous.recipe.config import TrainConfig
from atrous.recipe.configs import pretrained_path
from atrous.recipe.datasets import build_dataset


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """SGD parameter groups: weight decay on conv weights (ndim > 1), none elsewhere."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


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
        pretrained = pretrained_path(t.pretrained)
        if not pretrained.is_file():
            raise AtrousFileNotFoundError(
                f"train.pretrained {t.pretrained!r} is not a file: download torchvision's "
                f'ImageNet ResNet weights there, or set train.pretrained = "" to start from '
                f"random weights"
            )
        load_backbone_checkpoint(model, load_checkpoint_file(pretrained))
    if t.init:
        if not Path(t.init).exists():
            raise AtrousFileNotFoundError(f"train.init {t.init!r}: no such checkpoint or folder")
        fresh = load_weights(model, read_checkpoint(t.init), f"train.init {t.init!r}",
                             skip=t.init_skip, skip_option="train.init_skip")  # fmt: skip
        if fresh:
            print(f"train.init: {len(fresh)} tensors not loaded (train.init_skip), freshly "
                  f"initialised: {', '.join(fresh)}", file=sys.stderr)  # fmt: skip
    return model.freeze_bn(t.freeze_bn)


def training_set(
    config: TrainConfig, dataset: Dataset | None, progress: bool
) -> tuple[Dataset, dict[str, Any]]:
    """The training images (bootstrapped if asked, Sec. 4.3) and what to keep of them."""
    if dataset is None:
        dataset = build_dataset(config.data, config.data.train_split)
    check_class_count(dataset, config.network.num_classes, config.data.dataset)
    meta = {
        name: plain(np.asarray(getattr(dataset, name)).tolist())
        for name in ("class_names", "palette")
        if hasattr(dataset, name)
    }
    if config.data.cache:  # each image drawn or decoded once
        dataset = Cached(dataset)
    if config.data.bootstrap_classes:  # Sec. 4.3: hard images twice per epoch
        d = config.data
        dataset = Bootstrapped(dataset, d.bootstrap_classes, d.bootstrap_copies, progress)
    return dataset, meta
