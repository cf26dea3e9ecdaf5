"""Small stand-ins for the training tests: a dataset of coloured rectangles and a transform.

Both follow the data contract (raw ``uint8 (H, W, 3)`` / ``int64 (H, W)`` pairs; a transform
called ``transform(image, label, rng=None)`` returning tensors), so the tests of training,
evaluation and checkpoints run in seconds without the data package.
"""

from __future__ import annotations

import numpy as np
import torch

from atrous.recipe.config import from_dict

#: Colour of each class; images add noise so the task is not a lookup.
COLOURS = np.array([[40, 40, 40], [200, 60, 60], [60, 200, 60], [60, 60, 200]], dtype=np.float64)


class Rectangles:
    """``length`` images of side ``size``: background (class 0) and up to 3 rectangles."""

    num_classes = 4
    class_names = ("background", "red", "green", "blue")
    palette = COLOURS.astype(np.uint8)

    def __init__(self, length: int = 8, size: int = 24, seed: int = 0, ignore: bool = True):
        self.length, self.size, self.seed, self.ignore = length, size, seed, ignore

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= i < self.length:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, i])
        s = self.size
        label = np.zeros((s, s), dtype=np.int64)
        for c in rng.permutation(3)[: rng.integers(1, 4)] + 1:
            y0, x0 = rng.integers(0, s - 4, size=2)
            h, w = rng.integers(4, s // 2 + 2, size=2)
            label[y0 : y0 + h, x0 : x0 + w] = c
        image = COLOURS[label] + rng.normal(0, 20, size=(s, s, 3))
        if self.ignore:
            label[0, :] = 255  # a strip of "void", as VOC has at boundaries
        return np.clip(image, 0, 255).astype(np.uint8), label


class FlipCrop:
    """Normalise, random left-right flip, random crop of ``crop`` (padding with 255)."""

    def __init__(self, crop: int | None = None, flip: bool = True):
        self.crop, self.flip = crop, flip

    def __call__(self, image, label, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        image = (image.astype(np.float32) - 127.5) / 64.0
        if self.flip and rng.random() < 0.5:
            image, label = image[:, ::-1], label[:, ::-1]
        if self.crop is not None:
            c = self.crop
            h, w = label.shape
            pad_h, pad_w = max(c - h, 0), max(c - w, 0)
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)))
            label = np.pad(label, ((0, pad_h), (0, pad_w)), constant_values=255)
            y = rng.integers(0, label.shape[0] - c + 1)
            x = rng.integers(0, label.shape[1] - c + 1)
            image, label = image[y : y + c, x : x + c], label[y : y + c, x : x + c]
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        return image, torch.from_numpy(np.ascontiguousarray(label))


def tiny_config(**tables):
    """A TrainConfig of the tiny preset with 4 classes, tables updated from ``tables``."""
    values = {
        "model": {"preset": "tiny", "num_classes": 4, "aspp_channels": 16},
        "data": {"crop_size": 17},
        "train": {
            "iterations": 4,
            "batch_size": 2,
            "base_lr": 0.01,
            "log_every": 1,
            "checkpoint_every": 2,
            "device": "cpu",
            "precision": "fp32",  # exact comparisons; the bf16 path has its own tests
        },
    }
    for name, table in tables.items():
        values.setdefault(name, {}).update(table)
    return from_dict(values)
