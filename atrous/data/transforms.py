"""Joint image/label transforms: the paper's augmentation (Sec. 4.1).

Training: "random scale in [0.5, 2.0]" (bilinear for the image, nearest for the label, so
labels stay class indices), pad to the crop size (image with the mean pixel, which
normalisation turns into 0, label with 255 so padding is never learned), random crop
("crop size 513"), random left-right flip, normalisation. Evaluation keeps the whole image.

Each step is a small function on NumPy arrays (``image`` (H, W, 3), ``label`` (H, W));
:class:`TrainTransform` and :class:`EvalTransform` chain them and return tensors:
``image`` float32 (3, H, W) and ``label`` int64 (H, W). Randomness comes from a
``numpy.random.Generator``: pass ``rng=`` to make a step exactly reproducible (a training
loop that resumes), or let the transform use its own. Inside DataLoader workers the
transform's own generator is re-seeded from the worker's seed, so workers never repeat each
other's crops.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from atrous.base.errors import AtrousError
from atrous.data.palette import IGNORE_INDEX

#: ImageNet channel mean and standard deviation (RGB, on the 0-255 scale).
IMAGENET_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
IMAGENET_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)


def _check_pair(image: np.ndarray, label: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3:
        raise AtrousError(f"image must have shape (H, W, 3), got {image.shape}")
    if label.shape != image.shape[:2]:
        raise AtrousError(f"label shape {label.shape} differs from image shape {image.shape[:2]}")


def _size_pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise AtrousError(f"{name} must be a positive int or a pair of them, got {size!r}")
    return int(pair[0]), int(pair[1])


def rescale(image: np.ndarray, label: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Resize by ``scale``: bilinear for the image, nearest for the label (Sec. 4.1).

    Output side ``round(side * scale)``, at least 1. Both resizes use pixel centres
    (Pillow's convention), so the image and the label stay aligned.
    """
    _check_pair(image, label)
    if not scale > 0:
        raise AtrousError(f"scale must be > 0, got {scale}")
    h, w = label.shape
    new_h, new_w = max(int(round(h * scale)), 1), max(int(round(w * scale)), 1)
    if (new_h, new_w) == (h, w):
        return image, label
    if label.min() < 0 or label.max() > 255:
        raise AtrousError("label values must be in [0, 255] to be resized")
    image_out = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).resize(
        (new_w, new_h), Image.Resampling.BILINEAR
    )
    label_out = Image.fromarray(label.astype(np.uint8)).resize(
        (new_w, new_h), Image.Resampling.NEAREST
    )
    return np.asarray(image_out), np.asarray(label_out).astype(label.dtype)


def random_scale(
    image: np.ndarray,
    label: np.ndarray,
    scale_range: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`rescale` by a factor drawn uniformly from ``scale_range`` (paper: 0.5 to 2)."""
    low, high = scale_range
    if not 0 < low <= high:
        raise AtrousError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
    return rescale(image, label, float(rng.uniform(low, high)))


def pad(
    image: np.ndarray,
    label: np.ndarray,
    size: int | Sequence[int],
    fill: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """Pad at the bottom and right up to at least ``size``: image with ``fill``, label 255.

    The image comes back as float32 (the mean pixel is not an integer); a side that is
    already long enough is left alone.
    """
    _check_pair(image, label)
    crop_h, crop_w = _size_pair(size, "size")
    fill = np.asarray(fill, dtype=np.float32)
    if fill.shape != (3,):
        raise AtrousError(f"fill must hold 3 values (R, G, B), got {fill.shape}")
    h, w = label.shape
    out_h, out_w = max(h, crop_h), max(w, crop_w)
    image_out = np.empty((out_h, out_w, 3), dtype=np.float32)
    image_out[...] = fill
    image_out[:h, :w] = image
    label_out = np.full((out_h, out_w), IGNORE_INDEX, dtype=label.dtype)
    label_out[:h, :w] = label
    return image_out, label_out


def crop_window(
    shape: tuple[int, int], size: tuple[int, int], rng: np.random.Generator
) -> tuple[int, int]:
    """Top-left corner of a uniformly random ``size`` window in an image of ``shape``,
    padded first (at the bottom and right) to at least ``size``."""
    h, w = max(shape[0], size[0]), max(shape[1], size[1])
    return int(rng.integers(0, h - size[0] + 1)), int(rng.integers(0, w - size[1] + 1))


def random_crop(
    image: np.ndarray,
    label: np.ndarray,
    size: int | Sequence[int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A window of ``size`` at a uniformly random position (the image must be large enough)."""
    _check_pair(image, label)
    crop_h, crop_w = _size_pair(size, "size")
    h, w = label.shape
    if h < crop_h or w < crop_w:
        raise AtrousError(f"image {h}x{w} is smaller than the crop {crop_h}x{crop_w}: pad first")
    top, left = crop_window((h, w), (crop_h, crop_w), rng)
    return (
        image[top : top + crop_h, left : left + crop_w],
        label[top : top + crop_h, left : left + crop_w],
    )


def hflip(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left to right."""
    _check_pair(image, label)
    return image[:, ::-1], label[:, ::-1]


def normalize(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(image - mean) / std`` per channel, as a float32 tensor (3, H, W)."""
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    if mean.shape != (3,) or std.shape != (3,):
        raise AtrousError(f"mean and std must hold 3 values, got {mean.shape} and {std.shape}")
    if np.any(std <= 0):
        raise AtrousError(f"std must be > 0, got {std.tolist()}")
    out = (np.asarray(image, dtype=np.float32) - mean) / std  # (H, W, 3)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))  # (3, H, W)


def label_tensor(label: np.ndarray) -> torch.Tensor:
    """The label as an int64 tensor (H, W)."""
    return torch.from_numpy(np.array(label, dtype=np.int64))  # a copy: flips have stride -1


class _OwnGenerator:
    """A generator per process: DataLoader workers each get one seeded from their seed."""

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self._rng: np.random.Generator | None = None
        self._owner: tuple[int, int] | None = None

    def get(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        owner = (-1, 0) if info is None else (info.id, info.seed)
        if self._rng is None or owner != self._owner:
            if info is None:
                self._rng = np.random.default_rng(self.seed)
            else:  # torch draws a fresh base seed each epoch: workers and epochs differ
                self._rng = np.random.default_rng([info.seed, self.seed or 0])
            self._owner = owner
        return self._rng


class TrainTransform:
    """The paper's training augmentation (Sec. 4.1): scale, pad, crop, flip, normalise.

    Args:
        crop_size: side of the square crop (or ``(height, width)``); paper: 513.
        scale_range: the random scale factor's range; paper: (0.5, 2.0).
        flip: random left-right flip with probability 1/2.
        mean: per-channel mean subtracted, on the 0-255 scale (ImageNet's by default).
        std: per-channel standard deviation divided by, on the 0-255 scale (ImageNet's).
        seed: seed of the transform's own generator (used when ``rng`` is not given).

    ``transform(image, label, rng=None)`` takes NumPy arrays (uint8 (H, W, 3), integer
    (H, W)) and returns ``(float32 tensor (3, crop, crop), int64 tensor (crop, crop))``.
    """

    def __init__(
        self,
        crop_size: int | Sequence[int] = 513,
        scale_range: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        seed: int | None = None,
    ) -> None:
        self.crop_size = _size_pair(crop_size, "crop_size")
        low, high = scale_range
        if not 0 < low <= high:
            raise AtrousError(f"scale_range must satisfy 0 < low <= high, got {scale_range}")
        if len(mean) != 3 or len(std) != 3:
            raise AtrousError("mean and std must hold 3 values (R, G, B)")
        self.scale_range = (float(low), float(high))
        self.flip, self.mean, self.std = bool(flip), tuple(mean), tuple(std)
        self._mean, self._std = (torch.tensor(v).view(3, 1, 1) for v in (self.mean, self.std))
        self._generator = _OwnGenerator(seed)

    def __repr__(self) -> str:
        return (
            f"TrainTransform(crop_size={self.crop_size}, scale_range={self.scale_range}, "
            f"flip={self.flip})"
        )

    def __call__(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self._generator.get() if rng is None else rng
        image, label = np.asarray(image), np.asarray(label)
        image, label = random_scale(image, label, self.scale_range, rng)
        # pad then random_crop, done as crop then pad: the same pixels, without converting
        # the whole (up to 4x larger) scaled image to float.
        top, left = crop_window(label.shape, self.crop_size, rng)
        crop_h, crop_w = self.crop_size
        image = image[top : top + crop_h, left : left + crop_w]
        label = label[top : top + crop_h, left : left + crop_w]
        flip = self.flip and rng.random() < 0.5
        return self._pad_flip_normalize(image, label, flip)

    def _pad_flip_normalize(
        self, image: np.ndarray, label: np.ndarray, flip: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`pad` (with the mean pixel), :func:`hflip` when ``flip``, :func:`normalize`
        and :func:`label_tensor` in one pass, bit for bit: the padding normalises to exactly 0,
        so only the image's own pixels are computed, straight into their (flipped) place in
        the (3, H, W) output."""
        h, w = label.shape
        out_h, out_w = max(h, self.crop_size[0]), max(w, self.crop_size[1])
        out = torch.zeros(3, out_h, out_w)
        out_label = torch.full((out_h, out_w), IGNORE_INDEX, dtype=torch.int64)
        pixels = torch.from_numpy(np.require(image, requirements=("C", "W")))  # memmaps: read-only
        pixels, classes = pixels.permute(2, 0, 1), label_tensor(label)
        cols = slice(out_w - w, out_w) if flip else slice(0, w)
        if flip:
            pixels, classes = pixels.flip(2), classes.flip(1)
        region = out[:, :h, cols]
        region.copy_(pixels)
        region.sub_(self._mean).div_(self._std)
        out_label[:h, cols] = classes
        return out, out_label


class EvalTransform:
    """Evaluation: the whole image, normalised; no scale, crop or flip."""

    def __init__(
        self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
    ) -> None:
        if len(mean) != 3 or len(std) != 3:
            raise AtrousError("mean and std must hold 3 values (R, G, B)")
        self.mean, self.std = tuple(mean), tuple(std)

    def __repr__(self) -> str:
        return "EvalTransform()"

    def __call__(
        self, image: np.ndarray, label: np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = np.asarray(image), np.asarray(label)
        _check_pair(image, label)
        return normalize(image, self.mean, self.std), label_tensor(label)
