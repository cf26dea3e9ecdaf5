"""PASCAL VOC 2012 segmentation (Sec. 4.1): 21 classes, 255 along object boundaries.

The layout of ``VOCdevkit/VOC2012`` (pass that folder as ``root``)::

    JPEGImages/<id>.jpg
    SegmentationClass/<id>.png            palette PNGs: pixel = class index, 255 = ignore
    ImageSets/Segmentation/<split>.txt    train (1,464), val (1,449), trainval

The labels are the PNGs' palette indices, never their colours.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from atrous.base.errors import AtrousError
from atrous.data.files import (
    check_label,
    check_sample,
    finish,
    read_image,
    read_index_png,
    read_split,
    require_dir,
)
from atrous.data.palette import VOC_CLASSES, voc_palette

VOC_SPLITS = ("train", "val", "trainval")


class VOCSegmentation:
    """PASCAL VOC 2012 ``split`` under ``root``; ``ds[i]`` is ``(image, label)``.

    Without a transform: image uint8 (H, W, 3) RGB, label int64 (H, W) in 0..20 and 255.
    """

    num_classes = len(VOC_CLASSES)
    class_names = VOC_CLASSES
    palette = voc_palette()

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[..., Any] | None = None,
    ) -> None:
        if split not in VOC_SPLITS:
            raise AtrousError(f"split must be one of {VOC_SPLITS}, got {split!r}")
        self.root = require_dir(Path(root), "VOC root (VOCdevkit/VOC2012)")
        self.split, self.transform = split, transform
        self.ids = read_split(self.root / "ImageSets" / "Segmentation" / f"{split}.txt")

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"VOCSegmentation(root={str(self.root)!r}, split={self.split!r}) [{len(self)}]"

    def image_path(self, index: int) -> Path:
        return self.root / "JPEGImages" / f"{self.ids[index]}.jpg"

    def label_path(self, index: int) -> Path:
        return self.root / "SegmentationClass" / f"{self.ids[index]}.png"

    def load_label(self, index: int) -> np.ndarray:
        """The label of image ``index`` alone (values checked), int64 (H, W)."""
        label = read_index_png(self.label_path(index))
        check_label(label, self.num_classes, self.label_path(index))
        return label

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image = read_image(self.image_path(index))
        label = read_index_png(self.label_path(index))
        check_sample(image, label, self.num_classes, self.image_path(index), self.label_path(index))
        return finish(image, label, self.transform)
