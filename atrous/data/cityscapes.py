"""Cityscapes (Cordts et al. 2016), fine annotations, mapped to the 19 training classes.

The layout of the Cityscapes root (pass it as ``root``)::

    leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png
    gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png

``*_labelIds.png`` holds the 34 label ids (0..33); the benchmark trains and evaluates on 19
of them (the "trainIds"). Every other id (void, ego vehicle, parking, rail track, guard
rail, bridge, tunnel, pole group, caravan, trailer) becomes 255 and is ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from atrous.base.errors import AtrousError, AtrousFileNotFoundError
from atrous.data.files import check_sample, finish, read_image, read_index_png, require_dir
from atrous.data.palette import IGNORE_INDEX

CITYSCAPES_SPLITS = ("train", "val", "test")

#: The 19 training classes, in trainId order.
CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip

#: labelId -> trainId for the 34 label ids (cityscapesScripts' ``labels.py``).
_TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
             24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
NUM_LABEL_IDS = 34
LABEL_ID_TO_TRAIN_ID = np.full(NUM_LABEL_IDS, IGNORE_INDEX, dtype=np.int64)
for _label_id, _train_id in _TRAIN_ID.items():
    LABEL_ID_TO_TRAIN_ID[_label_id] = _train_id

_COLOURS = [
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
]  # fmt: skip


def cityscapes_palette() -> np.ndarray:
    """(256, 3) uint8: the official colours of the 19 trainIds, 255 in white, rest black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(_COLOURS)] = _COLOURS
    palette[IGNORE_INDEX] = (255, 255, 255)
    return palette


def to_train_ids(label_ids: np.ndarray, path: Any = "label") -> np.ndarray:
    """Map a labelIds map (values 0..33) to trainIds (0..18, 255 elsewhere)."""
    bad = (label_ids < 0) | (label_ids >= NUM_LABEL_IDS)
    if bad.any():
        values = sorted(set(np.unique(label_ids[bad]).tolist()))[:10]
        raise AtrousError(f"label {path} holds values {values} outside the label ids 0..33")
    return LABEL_ID_TO_TRAIN_ID[label_ids]


class Cityscapes:
    """Cityscapes ``split`` ("train", "val", "test") with fine labels as trainIds.

    Without a transform: image uint8 (H, W, 3) RGB, label int64 (H, W) in 0..18 and 255.
    """

    num_classes = len(CITYSCAPES_CLASSES)
    class_names = CITYSCAPES_CLASSES
    palette = cityscapes_palette()

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[..., Any] | None = None,
    ) -> None:
        if split not in CITYSCAPES_SPLITS:
            raise AtrousError(f"split must be one of {CITYSCAPES_SPLITS}, got {split!r}")
        self.root = require_dir(Path(root), "Cityscapes root")
        self.split, self.transform = split, transform
        image_dir = require_dir(self.root / "leftImg8bit" / split, f"Cityscapes {split} images")
        label_dir = require_dir(self.root / "gtFine" / split, f"Cityscapes {split} labels")
        self.images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
        if not self.images:
            raise AtrousFileNotFoundError(f"no */*_leftImg8bit.png under {image_dir}")
        self.labels = []
        for image in self.images:
            stem = image.name[: -len("_leftImg8bit.png")]
            label = label_dir / image.parent.name / f"{stem}_gtFine_labelIds.png"
            if not label.is_file():
                raise AtrousFileNotFoundError(f"label of {image} not found: {label}")
            self.labels.append(label)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return f"Cityscapes(root={str(self.root)!r}, split={self.split!r}) [{len(self)}]"

    def load_label(self, index: int) -> np.ndarray:
        """The trainId label of image ``index`` alone, int64 (H, W)."""
        return to_train_ids(read_index_png(self.labels[index]), self.labels[index])

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image = read_image(self.images[index])
        label = self.load_label(index)
        check_sample(image, label, self.num_classes, self.images[index], self.labels[index])
        return finish(image, label, self.transform)
