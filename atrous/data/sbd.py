"""SBD (Hariharan et al. 2011) and the "trainaug" set of Sec. 4.1.

The paper trains on VOC 2012 "augmented by the extra annotations provided by [SBD],
resulting in 10,582 (trainaug) training images": SBD train + SBD val + VOC train, minus
VOC val (so that no validation image is trained on).

The layout of ``benchmark_RELEASE/dataset`` (pass that folder as ``root``)::

    img/<id>.jpg
    cls/<id>.mat      a struct GTcls whose field Segmentation is the (H, W) class map
    train.txt, val.txt

SBD has no ignore band. For ``split="trainaug"`` pass ``voc_root`` (``VOCdevkit/VOC2012``):
an image that has a VOC annotation uses it (finer, with VOC's 255 boundary band), the rest
use SBD's; images come from SBD's ``img/`` or, for VOC-only ids, from VOC's ``JPEGImages/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from atrous.base.errors import AtrousError
from atrous.data.files import (
    check_label,
    check_sample,
    finish,
    read_image,
    read_index_png,
    read_split,
    require_dir,
    require_file,
)
from atrous.data.palette import VOC_CLASSES, voc_palette

SBD_SPLITS = ("train", "val", "trainaug")


def read_sbd_mat(path: Path) -> np.ndarray:
    """``GTcls.Segmentation`` of an SBD ``cls/*.mat`` file, as int64 (H, W)."""
    require_file(path, "SBD label")
    try:
        mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=True)
    except Exception as error:  # scipy raises several types for a damaged file
        raise AtrousError(f"cannot read SBD label {path}: {error}") from error
    if "GTcls" not in mat or not hasattr(mat["GTcls"], "Segmentation"):
        raise AtrousError(f"SBD label {path} has no struct GTcls with a field Segmentation")
    label = np.asarray(mat["GTcls"].Segmentation)
    if label.ndim != 2:
        raise AtrousError(f"SBD label {path}: GTcls.Segmentation has shape {label.shape}")
    return label.astype(np.int64)


def trainaug_ids(sbd_root: Path, voc_root: Path) -> list[str]:
    """SBD train + SBD val + VOC train, minus VOC val, sorted (10,582 ids at full size)."""
    sbd = set(read_split(sbd_root / "train.txt")) | set(read_split(sbd_root / "val.txt"))
    voc_sets = voc_root / "ImageSets" / "Segmentation"
    voc_train, voc_val = read_split(voc_sets / "train.txt"), read_split(voc_sets / "val.txt")
    return sorted((sbd | set(voc_train)) - set(voc_val))


class SBDSegmentation:
    """SBD ``split`` ("train", "val" or "trainaug") as ``(image, label)`` pairs.

    Without a transform: image uint8 (H, W, 3) RGB, label int64 (H, W) in 0..20 (and 255
    where the label came from VOC).
    """

    num_classes = len(VOC_CLASSES)
    class_names = VOC_CLASSES
    palette = voc_palette()

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Callable[..., Any] | None = None,
        voc_root: str | Path | None = None,
    ) -> None:
        if split not in SBD_SPLITS:
            raise AtrousError(f"split must be one of {SBD_SPLITS}, got {split!r}")
        self.root = require_dir(Path(root), "SBD root (benchmark_RELEASE/dataset)")
        self.split, self.transform = split, transform
        self.voc_root: Path | None = None
        if split == "trainaug":
            if voc_root is None:
                raise AtrousError("split='trainaug' needs voc_root (the VOCdevkit/VOC2012 folder)")
            self.voc_root = require_dir(Path(voc_root), "VOC root (VOCdevkit/VOC2012)")
            self.ids = trainaug_ids(self.root, self.voc_root)
            voc_labels = self.voc_root / "SegmentationClass"
            self._voc_ids = {p.stem for p in voc_labels.glob("*.png")}
        else:
            self.ids = read_split(self.root / f"{split}.txt")
            self._voc_ids = set()

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"SBDSegmentation(root={str(self.root)!r}, split={self.split!r}) [{len(self)}]"

    def _uses_voc_label(self, index: int) -> bool:
        return self.ids[index] in self._voc_ids

    def image_path(self, index: int) -> Path:
        name = f"{self.ids[index]}.jpg"
        sbd = self.root / "img" / name
        if sbd.is_file() or self.voc_root is None:
            return sbd
        return self.voc_root / "JPEGImages" / name

    def label_path(self, index: int) -> Path:
        if self._uses_voc_label(index):
            assert self.voc_root is not None
            return self.voc_root / "SegmentationClass" / f"{self.ids[index]}.png"
        return self.root / "cls" / f"{self.ids[index]}.mat"

    def _read_label(self, index: int) -> np.ndarray:
        if self._uses_voc_label(index):
            return read_index_png(self.label_path(index))
        return read_sbd_mat(self.label_path(index))

    def load_label(self, index: int) -> np.ndarray:
        """The label of image ``index`` alone (values checked), int64 (H, W)."""
        label = self._read_label(index)
        check_label(label, self.num_classes, self.label_path(index))
        return label

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image = read_image(self.image_path(index))
        label = self._read_label(index)
        check_sample(image, label, self.num_classes, self.image_path(index), self.label_path(index))
        return finish(image, label, self.transform)
