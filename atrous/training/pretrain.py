"""A stand-in for ImageNet: pre-training a backbone on an image-level task of the scenes.

The paper fine-tunes ResNets pre-trained on ImageNet (Sec. 4.1), and that matters for what
it measures: frozen batch norm means ImageNet's statistics, and the batch size acts on
features that already exist. No ImageNet can be downloaded here, so ``atrous pretrain``
trains each backbone of the scaled recipe once on a stream of scenes that no segmentation
run sees (split ``pretrain``), with an image-level task, as ImageNet's is:

- the scene type (land or sea: a 2-way cross-entropy), which only the whole image tells
  (:mod:`atrous.data.synthetic`);
- which object classes appear in the crop (wire, ball, box, star, sail, tent: six binary
  cross-entropies).

The network is the recipe's backbone at its natural stride (no atrous convolution, as an
ImageNet classifier), global average pooling, and one linear layer (``fc``, dropped when
the backbone is loaded, as ImageNet's classifier is: :func:`atrous.model.interop.
load_backbone_checkpoint`). Crops, random scales and flips are the segmentation recipe's
augmentation. The weights are written as safetensors with their config, command and
held-out accuracy in the metadata, and committed, so that no reader trains them again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from atrous.base.precision import autocast, resolve_precision
from atrous.data.synthetic import SyntheticScenes
from atrous.data.transforms import TrainTransform
from atrous.model.backbone import ResNetBackbone
from atrous.model.config import DeepLabV3Config
from atrous.model.safetensors import save_tensors
from atrous.training.loop import poly_lr
from atrous.training.sample_stream import sample_rng
from atrous.training.start import parameter_groups

#: The object classes whose presence the task asks for (the labels 1 to 6 of the scenes).
OBJECTS = ("wire", "ball", "box", "star", "sail", "tent")


@dataclass(frozen=True)
class PretrainConfig:
    """The pre-training of one backbone: its network, its scenes, its optimisation."""

    network: DeepLabV3Config
    size: int = 256
    scale: float = 2.0
    tint: float = 1.0
    jitter: float = 1.0
    clearance: float = 0.0
    crop_size: int = 193
    scale_range: tuple[float, float] = (0.5, 2.0)
    iterations: int = 2000
    batch_size: int = 16
    base_lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0
    val_images: int = 200
    precision: str = "auto"


class ImageLevel(nn.Module):
    """A backbone at its natural stride, global average pooling, one linear layer."""

    def __init__(self, network: DeepLabV3Config) -> None:
        super().__init__()
        natural = dataclasses.replace(network, output_stride=network.natural_stride)
        self.backbone = ResNetBackbone(natural)
        self.fc = nn.Linear(self.backbone.out_channels, 2 + len(OBJECTS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x).mean(dim=(2, 3)))  # (N, 2 + 6)


def pretrain_scenes(config: PretrainConfig, length: int | None, seed: int) -> SyntheticScenes:
    """The ``pretrain`` split's scenes, drawn as the recipe's (side, scale, cues)."""
    return SyntheticScenes("pretrain", config.size, length, seed=seed, scale=config.scale,
                           tint=config.tint, jitter=config.jitter,
                           clearance=config.clearance)  # fmt: skip


def targets(scenes: SyntheticScenes, index: int, transform: TrainTransform, rng: Any):
    """One augmented crop of pre-training scene ``index``, its scene type and the objects
    present in the crop."""
    sample = scenes.sample(index)
    image, label = transform(sample.image, sample.label, rng=rng)
    present = torch.stack([(label == c).any() for c in range(1, len(OBJECTS) + 1)]).float()
    return image, sample.scene, present


def batch(config: PretrainConfig, scenes: SyntheticScenes, transform: TrainTransform, k: int):
    """Batch ``k`` of the stream: samples ``k * batch_size`` onwards, each its own rng."""
    items = [targets(scenes, i, transform, sample_rng(config.seed, i))
             for i in range(k * config.batch_size, (k + 1) * config.batch_size)]  # fmt: skip
    images, scene, present = zip(*items, strict=True)
    return torch.stack(images), torch.tensor(scene), torch.stack(present)


def loss_of(logits: torch.Tensor, scene: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Scene type cross-entropy plus the objects' binary cross-entropies (float32)."""
    logits = logits.float()
    return F.cross_entropy(logits[:, :2], scene) + F.binary_cross_entropy_with_logits(
        logits[:, 2:], present
    )


@torch.no_grad()
def accuracy(model: ImageLevel, config: PretrainConfig, precision: str) -> dict[str, float]:
    """Scene-type accuracy and per-object presence accuracy on held-out scenes (seed 1 of
    the pre-training split: a stream no run trains on), whole scenes."""
    scenes = pretrain_scenes(config, config.val_images, seed=1)
    transform = TrainTransform(config.size, (1.0, 1.0), flip=False)
    model.eval()
    right_scene, right_objects = 0, np.zeros(len(OBJECTS))
    for i in range(len(scenes)):
        image, scene, present = targets(scenes, i, transform, sample_rng(1, i))
        with autocast(precision, torch.device("cpu")):
            logits = model(image[None]).float()[0]
        right_scene += int(logits[:2].argmax()) == scene
        right_objects += ((logits[2:] > 0).float() == present).numpy()
    model.train()
    n = len(scenes)
    objects = {o: float(r / n) for o, r in zip(OBJECTS, right_objects, strict=True)}
    return {"scene": right_scene / n, **objects}


def pretrain(config: PretrainConfig, progress: bool = True) -> tuple[ImageLevel, dict[str, Any]]:
    """Pre-train one backbone; the network and a record (losses, accuracy, seconds)."""
    torch.manual_seed(config.seed)
    precision = resolve_precision(config.precision, torch.device("cpu"), "precision")
    model = ImageLevel(config.network).train()
    optimizer = torch.optim.SGD(parameter_groups(model, config.weight_decay),
                                lr=config.base_lr, momentum=config.momentum)  # fmt: skip
    scenes = pretrain_scenes(config, None, seed=0)
    transform = TrainTransform(config.crop_size, config.scale_range, flip=True)
    losses, tic = [], time.perf_counter()
    for k in tqdm(range(config.iterations), desc="pretrain", disable=not progress):
        for group in optimizer.param_groups:
            group["lr"] = poly_lr(config.base_lr, k, config.iterations)
        images, scene, present = batch(config, scenes, transform, k)
        with autocast(precision, torch.device("cpu")):
            logits = model(images)
        loss = loss_of(logits, scene, present)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    record = {"iterations": config.iterations, "precision": precision,
              "train_seconds": round(time.perf_counter() - tic, 1),
              "final_loss": float(np.mean(losses[-20:])),
              "val_accuracy": accuracy(model, config, precision)}  # fmt: skip
    return model, record


def save_pretrained(model: ImageLevel, path: Path, metadata: dict[str, Any]) -> Path:
    """The backbone and ``fc`` as safetensors (the backbone's names, as torchvision's ImageNet
    ResNets have them), with ``metadata`` as JSON strings."""
    tensors = {**model.backbone.state_dict(),
               **{f"fc.{k}": v for k, v in model.fc.state_dict().items()}}  # fmt: skip
    return save_tensors(tensors, path, {k: json.dumps(v) for k, v in metadata.items()})
