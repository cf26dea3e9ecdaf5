"""MS-COCO rendered to PASCAL VOC's 21 classes, for pretraining (Sec. 4.3).

"we first pretrain on MS-COCO ... we only select the images whose annotation regions are
larger than 1000 pixels and contain the classes defined in PASCAL VOC 2012 ... the other
classes as background." The instance annotations (polygons, and RLE for crowds) are
rendered with ``pycocotools``; COCO categories that VOC also has (matched by name:
airplane is VOC's aeroplane, couch its sofa, ...) take the VOC index, the rest are
background. Choices the paper leaves open, stated here: crowd regions and pixels claimed
by instances of two different VOC classes are 255 (ignored), and "annotation regions larger
than 1000 pixels" is the summed ``area`` of an image's non-crowd VOC instances.

The layout (COCO 2017 names; pass the split, or the files)::

    <root>/annotations/instances_<split>.json
    <root>/<split>/<file_name>

``pycocotools`` is optional: ``pip install atrous[coco]``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from atrous.base.errors import AtrousError
from atrous.data.files import check_sample, finish, read_image, require_dir, require_file
from atrous.data.palette import IGNORE_INDEX, VOC_CLASSES, voc_palette

#: COCO category name -> VOC class index (the 20 VOC classes that COCO has).
COCO_TO_VOC: dict[str, int] = {
    "airplane": 1, "bicycle": 2, "bird": 3, "boat": 4, "bottle": 5, "bus": 6, "car": 7,
    "cat": 8, "chair": 9, "cow": 10, "dining table": 11, "dog": 12, "horse": 13,
    "motorcycle": 14, "person": 15, "potted plant": 16, "sheep": 17, "couch": 18,
    "train": 19, "tv": 20,
}  # fmt: skip
MIN_AREA = 1000


def _import_coco() -> Any:
    try:
        from pycocotools.coco import COCO
    except ImportError as error:
        raise ImportError("COCOSegmentation needs pycocotools: pip install atrous[coco]") from error
    return COCO


class COCOSegmentation:
    """COCO images with VOC-class annotation area > ``min_area``, labels in VOC's classes.

    Args:
        root: the COCO folder (holding ``annotations/`` and the image folders).
        split: e.g. ``"train2017"``; picks ``annotations/instances_<split>.json`` and the
            image folder ``<split>/`` unless ``annotation_file`` / ``image_dir`` are given.
        transform: optional ``transform(image, label)``.
        min_area: keep images whose VOC-class instances cover more than this many pixels.

    Without a transform: image uint8 (H, W, 3) RGB, label int64 (H, W) in 0..20 and 255.
    """

    num_classes = len(VOC_CLASSES)
    class_names = VOC_CLASSES
    palette = voc_palette()

    def __init__(
        self,
        root: str | Path,
        split: str = "train2017",
        transform: Callable[..., Any] | None = None,
        annotation_file: str | Path | None = None,
        image_dir: str | Path | None = None,
        min_area: float = MIN_AREA,
    ) -> None:
        coco_class = _import_coco()
        self.root = require_dir(Path(root), "COCO root")
        self.split, self.transform, self.min_area = split, transform, min_area
        annotation_file = (
            self.root / "annotations" / f"instances_{split}.json"
            if annotation_file is None
            else Path(annotation_file)
        )
        self.annotation_file = require_file(annotation_file, "COCO annotation file")
        self.image_dir = require_dir(
            self.root / split if image_dir is None else Path(image_dir), "COCO image folder"
        )
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
                self.coco = coco_class(str(self.annotation_file))
        except (ValueError, KeyError, TypeError, AssertionError) as error:  # bad JSON
            raise AtrousError(
                f"cannot read COCO annotation file {self.annotation_file}: {error!r}"
            ) from error
        self._voc_of_category = {
            cat["id"]: COCO_TO_VOC[cat["name"]]
            for cat in self.coco.loadCats(self.coco.getCatIds())
            if cat["name"] in COCO_TO_VOC
        }
        self.ids = [i for i in sorted(self.coco.getImgIds()) if self._area(i) > min_area]

    def _voc_annotations(self, image_id: int) -> list[dict[str, Any]]:
        annotations = self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id))
        return [a for a in annotations if a["category_id"] in self._voc_of_category]

    def _area(self, image_id: int) -> float:
        return sum(a["area"] for a in self._voc_annotations(image_id) if not a.get("iscrowd"))

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"COCOSegmentation(root={str(self.root)!r}, split={self.split!r}) [{len(self)}]"

    def image_path(self, index: int) -> Path:
        return self.image_dir / self.coco.loadImgs(self.ids[index])[0]["file_name"]

    def load_label(self, index: int) -> np.ndarray:
        """Render the VOC-class label of image ``index``: int64 (H, W), 0..20 and 255."""
        info = self.coco.loadImgs(self.ids[index])[0]
        height, width = int(info["height"]), int(info["width"])
        label = np.zeros((height, width), dtype=np.int64)
        ignore = np.zeros((height, width), dtype=bool)
        for annotation in self._voc_annotations(self.ids[index]):
            mask = self.coco.annToMask(annotation).astype(bool)  # polygons or RLE -> (H, W)
            if mask.shape != label.shape:
                raise AtrousError(
                    f"annotation {annotation.get('id')} in {self.annotation_file} has a "
                    f"{mask.shape} mask for image {info['file_name']} of {(height, width)}"
                )
            if annotation.get("iscrowd"):
                ignore |= mask
                continue
            voc_class = self._voc_of_category[annotation["category_id"]]
            ignore |= mask & (label != 0) & (label != voc_class)  # two classes claim it
            label[mask] = voc_class
        label[ignore] = IGNORE_INDEX
        return label

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path = self.image_path(index)
        image = read_image(path)
        label = self.load_label(index)
        check_sample(image, label, self.num_classes, path, f"{self.annotation_file} ({path.name})")
        return finish(image, label, self.transform)
