"""COCOSegmentation: real COCO JSON (polygons, RLE, crowds) rendered to VOC's classes."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from fixtures_data import random_image, write_jpeg

from atrous.data import COCOSegmentation
from atrous.data.coco import COCO_TO_VOC

mask_utils = pytest.importorskip("pycocotools.mask")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools vs NumPy 2

H, W = 48, 64
POLYGON = [4.0, 8.0, 24.0, 8.0, 24.0, 40.0, 4.0, 40.0]  # a 20 x 32 box
CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 38, "name": "kite", "supercategory": "sports"},  # not a VOC class
    {"id": 63, "name": "couch", "supercategory": "furniture"},  # VOC's sofa
    {"id": 67, "name": "dining table", "supercategory": "furniture"},
]


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's crowd format: run lengths (column-major), starting with a run of zeros."""
    flat = mask.astype(np.uint8).ravel(order="F")
    changes = np.flatnonzero(np.diff(np.r_[0, flat, 1 - flat[-1]])) if flat.size else []
    counts = np.diff(np.r_[0, changes]).tolist()
    return {"size": [H, W], "counts": counts}


@pytest.fixture
def coco(tmp_path):
    couch = np.zeros((H, W), bool)
    couch[20:45, 30:62] = True  # 800 pixels, RLE
    table = np.zeros((H, W), bool)
    table[30:40, 10:40] = True  # 300 pixels, overlaps the couch at [30:40, 30:40]
    crowd = np.zeros((H, W), bool)
    crowd[0:6, 0:20] = True
    images = [
        {"id": 1, "file_name": "000000000001.jpg", "height": H, "width": W},
        {"id": 2, "file_name": "000000000002.jpg", "height": H, "width": W},
        {"id": 3, "file_name": "000000000003.jpg", "height": H, "width": W},
    ]
    annotations = [
        # image 1: a person polygon (640 px) + couch RLE + table RLE + a crowd + a kite
        {"id": 10, "image_id": 1, "category_id": 1, "segmentation": [POLYGON], "area": 640.0,
         "bbox": [4, 8, 20, 32], "iscrowd": 0},
        {"id": 11, "image_id": 1, "category_id": 63, "segmentation": _rle(couch),
         "area": 800.0, "bbox": [30, 20, 32, 25], "iscrowd": 0},
        {"id": 12, "image_id": 1, "category_id": 67, "segmentation": _rle(table),
         "area": 300.0, "bbox": [10, 30, 30, 10], "iscrowd": 0},
        {"id": 13, "image_id": 1, "category_id": 1, "segmentation": _uncompressed_rle(crowd),
         "area": 120.0, "bbox": [0, 0, 20, 6], "iscrowd": 1},
        {"id": 14, "image_id": 1, "category_id": 38, "segmentation": [[40, 2, 60, 2, 60, 12]],
         "area": 100.0, "bbox": [40, 2, 20, 10], "iscrowd": 0},
        # image 2: only 640 VOC pixels (and a big kite): filtered out, 640 <= 1000
        {"id": 20, "image_id": 2, "category_id": 1, "segmentation": [POLYGON], "area": 640.0,
         "bbox": [4, 8, 20, 32], "iscrowd": 0},
        {"id": 21, "image_id": 2, "category_id": 38, "segmentation": _rle(couch),
         "area": 800.0, "bbox": [30, 20, 32, 25], "iscrowd": 0},
        # image 3: a single large couch
        {"id": 30, "image_id": 3, "category_id": 63, "segmentation": _rle(couch | table),
         "area": 1010.0, "bbox": [10, 20, 52, 25], "iscrowd": 0},
    ]  # fmt: skip
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": CATEGORIES})
    )
    for k, info in enumerate(images):
        write_jpeg(tmp_path / "val2017" / info["file_name"], random_image(H, W, seed=k))
    return tmp_path, couch, table, crowd


def test_the_voc_names_map_to_voc_indices():
    assert len(COCO_TO_VOC) == 20 and sorted(COCO_TO_VOC.values()) == list(range(1, 21))
    assert COCO_TO_VOC["couch"] == 18 and COCO_TO_VOC["airplane"] == 1 and COCO_TO_VOC["tv"] == 20


def test_renders_polygons_rle_crowds_and_keeps_only_large_voc_images(coco):
    root, couch, table, crowd = coco
    ds = COCOSegmentation(root, "val2017")
    assert ds.ids == [1, 3]  # image 2 has only 640 VOC pixels
    image, label = ds[0]
    assert image.shape == (H, W, 3) and label.dtype == np.int64
    assert label.shape == (H, W)
    person = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([POLYGON], H, W)))
    person = person.astype(bool)
    assert person.sum() > 500
    classes = [(person, 15), (couch, 18), (table, 11)]  # couch -> sofa
    claims = sum(mask.astype(int) for mask, _ in classes)
    expected = np.zeros((H, W), np.int64)
    for mask, voc_class in classes:
        expected[mask] = voc_class
    expected[(claims > 1) | crowd] = 255  # two VOC classes claim it, or a crowd
    np.testing.assert_array_equal(label, expected)  # the kite stays background
    assert set(np.unique(label)) == {0, 11, 15, 18, 255}
    _, label3 = ds[1]
    np.testing.assert_array_equal(label3, np.where(couch | table, 18, 0))
    assert len(COCOSegmentation(root, "val2017", min_area=0)) == 3


def test_explicit_files_and_missing_paths(coco, tmp_path):
    root, *_ = coco
    ds = COCOSegmentation(
        root, "x", annotation_file=root / "annotations" / "instances_val2017.json",
        image_dir=root / "val2017",
    )  # fmt: skip
    assert len(ds) == 2
    with pytest.raises(FileNotFoundError, match="instances_train2017.json"):
        COCOSegmentation(root, "train2017")
    (root / "val2017" / "000000000003.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="000000000003.jpg"):
        COCOSegmentation(root, "val2017")[1]
    (root / "val2017" / "000000000001.jpg").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"cannot read image .*000000000001\.jpg"):
        COCOSegmentation(root, "val2017")[0]


def test_broken_annotation_file_or_missing_image_folder_names_the_path(coco):
    root, *_ = coco
    with pytest.raises(FileNotFoundError, match="val2014"):
        COCOSegmentation(root, "val2017", image_dir=root / "val2014")
    (root / "annotations" / "instances_val2017.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"cannot read COCO annotation file .*val2017\.json"):
        COCOSegmentation(root, "val2017")
    (root / "annotations" / "instances_val2017.json").write_text('{"images": 3}')
    with pytest.raises(ValueError, match=r"cannot read COCO annotation file"):
        COCOSegmentation(root, "val2017")


def test_image_of_another_size_than_its_annotation_names_the_file(coco):
    root, *_ = coco
    write_jpeg(root / "val2017" / "000000000003.jpg", random_image(H + 1, W, seed=0))
    with pytest.raises(ValueError, match=r"000000000003\.jpg is 64x49"):
        COCOSegmentation(root, "val2017")[1]


def test_missing_pycocotools_says_how_to_install(coco, monkeypatch):
    root, *_ = coco
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)
    with pytest.raises(ImportError, match=r"pip install atrous\[coco\]"):
        COCOSegmentation(root, "val2017")
