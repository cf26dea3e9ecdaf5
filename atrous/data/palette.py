"""The PASCAL VOC colour palette, and label maps drawn in it.

VOC stores its labels as palette ("P" mode) PNGs: each pixel holds a class index, and the
file's palette says how to draw it. The palette is the same for every file: colour ``i``
takes the bits of ``i`` three at a time and spreads them from the top bit of red, green and
blue down, so ``0`` is black, ``1`` is dark red, ``255`` (the "ignore" label along object
boundaries) is cream. :func:`voc_palette` rebuilds it; :func:`colorize` draws a label map.
"""

from __future__ import annotations

import numpy as np

from atrous.errors import AtrousError

#: The 21 PASCAL VOC 2012 classes, in label order (0 is background).
VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

#: The label that every loss and metric in atrous skips (VOC's boundary band).
IGNORE_INDEX = 255


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


def colorize(label: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
    """Draw a label map ``(H, W)`` of indices in ``[0, 255]`` as an RGB image ``(H, W, 3)``."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise AtrousError(f"label must be 2-D (H, W), got shape {label.shape}")
    palette = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise AtrousError(f"palette must have shape (n, 3), got {palette.shape}")
    if label.size and (label.min() < 0 or label.max() >= len(palette)):
        raise AtrousError(
            f"label values must be in [0, {len(palette) - 1}], got [{label.min()}, {label.max()}]"
        )
    return palette[label.astype(np.int64)]
