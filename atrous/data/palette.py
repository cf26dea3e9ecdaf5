"""The PASCAL VOC colour palette, and label maps drawn in it.

VOC stores its labels as palette ("P" mode) PNGs: each pixel holds a class index, and the
file's palette says how to draw it. The palette is the same for every file: colour ``i``
takes the bits of ``i`` three at a time and spreads them from the top bit of red, green and
blue down, so ``0`` is black, ``1`` is dark red, ``255`` (the "ignore" label along object
boundaries) is cream. :func:`voc_palette` rebuilds it; :func:`colorize` draws a label map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from atrous.base.errors import AtrousError

#: The 21 PASCAL VOC 2012 classes, in label order (0 is background).
VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

#: The label that every loss and metric in atrous skips (VOC's boundary band).
IGNORE_INDEX = 255

#: The colour of the ignore label 255 in every figure and label PNG: VOC's cream.
IGNORE_COLOUR = np.array([224, 224, 192], dtype=np.uint8)


def outside_classes(label: Any, num_classes: int) -> Any:
    """The one rule for label values: a mask of the pixels of ``label`` (a NumPy array or a
    torch tensor) that are neither a class ``0..num_classes - 1`` nor :data:`IGNORE_INDEX`.
    Data files, training batches and the evaluation's confusion matrix all check with it."""
    return (label != IGNORE_INDEX) & ((label < 0) | (label >= num_classes))


def voc_palette(n: int = 256) -> np.ndarray:
    """The VOC colour palette: ``(n, 3)`` uint8 RGB, row ``i`` the colour of label ``i``."""
    if not 1 <= n <= 256:
        raise AtrousError(f"n must be in [1, 256], got {n}")
    index = np.arange(n)
    palette = np.zeros((n, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((index >> (3 * bit + channel)) & 1) << (7 - bit)
    return palette.astype(np.uint8)


def full_palette(palette: np.ndarray | None = None) -> np.ndarray:
    """``palette`` (n, 3) completed to all 256 labels with VOC's colours beyond it, so that the
    ignore label 255 is always :data:`IGNORE_COLOUR`: what a palette PNG stores and every
    figure draws."""
    full = voc_palette()
    if palette is not None:
        palette = np.asarray(palette, dtype=np.uint8)
        if palette.ndim != 2 or palette.shape[1] != 3:
            raise AtrousError(f"palette must have shape (n, 3), got {palette.shape}")
        full[: min(len(palette), IGNORE_INDEX)] = palette[:IGNORE_INDEX]
    return full


def colorize(label: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Draw a label map ``(H, W)`` as an RGB image ``(H, W, 3)``: class ``c`` in
    ``palette[c]`` (VOC's palette by default), 255 in :data:`IGNORE_COLOUR`; AtrousError for
    any other value outside the palette."""
    label = np.asarray(label).astype(np.int64)
    if label.ndim != 2:
        raise AtrousError(f"label must be 2-D (H, W), got shape {label.shape}")
    n = 256 if palette is None else len(palette)
    bad = (label < 0) | ((label >= n) & (label != IGNORE_INDEX))
    if bad.any():
        raise AtrousError(
            f"label values must be classes 0..{n - 1} or {IGNORE_INDEX}, found {label[bad][0]}"
        )
    return full_palette(palette)[label]
