"""Are the scenes' cues learnable? Checked on the data alone, before any claim is tested.

Image pooling (Sec. 3.3, Tab. 5) can only help where the whole image tells something a
local view cannot: in the synthetic scenes, the scene type (land or sea) decides whether a
triangle is a tent or a sail (:mod:`atrous.data.synthetic`). Two linear probes (logistic
regression on standardised features, trained on half the scenes and scored on the other
half) measure it:

- **global**: image-level statistics of the whole image, as image pooling would see them:
  the mean and standard deviation of each colour channel, a coarse colour histogram
  (4 x 4 x 4 cells), and the mean and the maximum over all positions of 64 fixed random
  5 x 5 filters followed by ReLU (a bank of simple local features, the same for every
  image) -> the scene type;
- **local**: the same statistics of the patch around one triangle (its bounding box grown
  by half its size on every side) -> the scene type.

The global probe should be well above chance and the local one near it (0.5). Neither looks
at a segmentation network, so the check cannot be tuned on a claim's outcome. With a
pre-trained backbone (``atrous pretrain``; :func:`backbone_features`), the same two probes
run on its globally pooled features instead: what a learned network can read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from atrous.data.synthetic import SAIL, TENT
from atrous.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from atrous.model.config import DeepLabV3Config
from atrous.model.interop import load_backbone_checkpoint, load_checkpoint_file
from atrous.recipe.config import TrainConfig
from atrous.recipe.datasets import synthetic_scenes
from atrous.training.pretrain import ImageLevel

#: The fixed bank of random local features: 64 zero-mean 5 x 5 filters and their biases.
_BANK_SEED, _BANK_FILTERS = 0, 64


def _filter_bank() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(_BANK_SEED)
    weights = torch.randn(_BANK_FILTERS, 3, 5, 5, generator=g)
    weights -= weights.mean(dim=(1, 2, 3), keepdim=True)
    return weights, 0.5 * torch.randn(_BANK_FILTERS, generator=g)


def _pooled_features(pixels: np.ndarray) -> np.ndarray:
    """Mean and maximum over positions of the random filter bank's ReLU responses."""
    weights, bias = _filter_bank()
    x = torch.from_numpy(np.ascontiguousarray(pixels)).float().permute(2, 0, 1)[None] / 255
    with torch.no_grad():
        y = torch.relu(F.conv2d(x - 0.5, weights, bias))[0]  # (64, h - 4, w - 4)
    return torch.cat([y.mean(dim=(1, 2)), y.amax(dim=(1, 2))]).numpy().astype(np.float64)


def _stats(pixels: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of each channel of (..., 3) pixels, scaled to 0-1, and
    the share of the pixels in each cell of a 4 x 4 x 4 colour histogram."""
    flat = pixels.reshape(-1, 3).astype(np.float64) / 255
    cells = np.minimum((flat * 4).astype(int), 3) @ np.array([16, 4, 1])
    histogram = np.bincount(cells, minlength=64) / len(flat)
    return np.concatenate([flat.mean(0), flat.std(0), histogram, _pooled_features(pixels)])


def backbone_features(path: str | Path):
    """A function from pixels to the globally pooled features of the pre-trained backbone in
    ``path`` (its network config is in the file's metadata)."""
    from safetensors import safe_open  # an optional dependency (atrous[export])

    with safe_open(str(path), "pt") as f:
        network = json.loads(f.metadata()["config"])["network"]
    model = ImageLevel(DeepLabV3Config(**network)).eval()
    load_backbone_checkpoint(model.backbone, load_checkpoint_file(path))  # fc.* dropped

    def features(pixels: np.ndarray) -> np.ndarray:
        x = normalize(pixels, IMAGENET_MEAN, IMAGENET_STD)  # (3, h, w)
        h, w = x.shape[1:]
        x = F.pad(x, (0, max(0, 33 - w), 0, max(0, 33 - h)))  # at least one output position
        with torch.no_grad():
            return model.backbone(x[None]).mean(dim=(2, 3))[0].numpy().astype(np.float64)

    return features


def global_features(image: np.ndarray) -> np.ndarray:
    """The whole image's statistics."""
    return _stats(image)


def triangle_patch(image: np.ndarray, label: np.ndarray) -> np.ndarray | None:
    """The patch around the scene's largest triangle (tent or sail), or None if it has none."""
    mask = (label == SAIL) | (label == TENT)
    if mask.sum() < 4:
        return None

    ys, xs = np.nonzero(mask)
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    y0, y1 = max(ys.min() - h // 2, 0), min(ys.max() + h // 2 + 1, image.shape[0])
    x0, x1 = max(xs.min() - w // 2, 0), min(xs.max() + w // 2 + 1, image.shape[1])
    patch = image[y0:y1, x0:x1]
    return patch if min(patch.shape[:2]) >= 5 else None  # the filters need 5 x 5


def probe_accuracy(features: np.ndarray, targets: np.ndarray, steps: int = 2000) -> float:
    """Held-out accuracy of a logistic regression: fit on the first half, scored on the
    second (features standardised on the first half; full-batch gradient descent)."""
    half = len(targets) // 2
    mean, std = features[:half].mean(0), features[:half].std(0) + 1e-9
    x = np.hstack([(features - mean) / std, np.ones((len(features), 1))])
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-x[:half] @ w))
        w -= 0.5 * (x[:half].T @ (p - targets[:half]) / half + 1e-3 * w)
    return float(((x[half:] @ w > 0) == targets[half:].astype(bool)).mean())


@dataclass(frozen=True)
class Cues:
    """The probes' held-out accuracies and how many scenes each used."""

    global_accuracy: float
    local_accuracy: float
    scenes: int
    triangles: int


def check_cues(config: TrainConfig, scenes: int = 400, backbone: str | Path | None = None) -> Cues:
    """Both probes on the first ``scenes`` training scenes of ``config``'s synthetic data (on
    the features of a pre-trained ``backbone`` if one is given)."""
    features = backbone_features(backbone) if backbone else _stats
    data = synthetic_scenes(config.data, "train", scenes)
    glob, local, local_scene, scene = [], [], [], []
    for i in range(scenes):
        sample = data.sample(i)
        glob.append(features(sample.image))
        scene.append(sample.scene)
        patch = triangle_patch(sample.image, sample.label)
        if patch is not None:
            local.append(features(patch))
            local_scene.append(sample.scene)
    return Cues(
        probe_accuracy(np.array(glob), np.array(scene, dtype=float)),
        probe_accuracy(np.array(local), np.array(local_scene, dtype=float)),
        scenes, len(local),
    )  # fmt: skip
