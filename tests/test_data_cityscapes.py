"""Cityscapes: leftImg8bit + gtFine labelIds PNGs, mapped to the 19 trainIds."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_data import write_cityscapes
from PIL import Image

from atrous.data import CITYSCAPES_CLASSES, Cityscapes, EvalTransform
from atrous.data.cityscapes import LABEL_ID_TO_TRAIN_ID, to_train_ids

STEMS = ["aachen_000000_000019", "bochum_000000_000313", "aachen_000001_000019"]


@pytest.fixture
def tree(tmp_path):
    every_id = np.arange(34, dtype=np.uint8).reshape(2, 17)  # all 34 label ids
    label_ids = {stem: np.roll(every_id, k, axis=1) for k, stem in enumerate(STEMS)}
    return tmp_path, write_cityscapes(tmp_path, "train", label_ids)


def test_the_mapping_is_the_official_one():
    assert len(CITYSCAPES_CLASSES) == 19
    trained = {i: int(t) for i, t in enumerate(LABEL_ID_TO_TRAIN_ID) if t != 255}
    assert trained == {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
                       23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17,
                       33: 18}  # fmt: skip
    # The named ones, as a reader checks them: road, sky, car, bicycle; void, caravan.
    assert [CITYSCAPES_CLASSES[LABEL_ID_TO_TRAIN_ID[i]] for i in (7, 23, 26, 33)] == [
        "road", "sky", "car", "bicycle"]  # fmt: skip
    assert LABEL_ID_TO_TRAIN_ID[0] == LABEL_ID_TO_TRAIN_ID[29] == 255


def test_loads_and_maps_every_label_id(tree):
    root, label_ids = tree
    ds = Cityscapes(root, "train")
    assert len(ds) == 3 and ds.num_classes == 19
    assert [p.name for p in ds.images][0] == "aachen_000000_000019_leftImg8bit.png"
    for i, path in enumerate(ds.images):
        stem = path.name[: -len("_leftImg8bit.png")]
        image, label = ds[i]
        assert image.dtype == np.uint8 and image.shape == (2, 17, 3)
        np.testing.assert_array_equal(label, LABEL_ID_TO_TRAIN_ID[label_ids[stem]])
        assert set(np.unique(label)) == set(range(19)) | {255}
    image, label = Cityscapes(root, "train", transform=EvalTransform())[0]
    assert tuple(image.shape) == (3, 2, 17)


def test_missing_split_or_label_names_the_path(tree):
    root, _ = tree
    with pytest.raises(FileNotFoundError, match=r"leftImg8bit/val"):
        Cityscapes(root, "val")
    with pytest.raises(ValueError, match="split"):
        Cityscapes(root, "trainextra")
    label = root / "gtFine" / "train" / "bochum" / "bochum_000000_000313_gtFine_labelIds.png"
    label.unlink()
    with pytest.raises(FileNotFoundError, match="bochum_000000_000313_gtFine_labelIds.png"):
        Cityscapes(root, "train")


def test_bad_label_values_mismatch_and_unreadable_image_name_the_file(tree, tmp_path):
    root, _ = tree
    write_cityscapes(root, "train", {STEMS[0]: np.full((2, 17), 34, np.uint8)})
    with pytest.raises(ValueError, match=r"aachen_000000_000019_gtFine_labelIds\.png.*\[34\]"):
        Cityscapes(root, "train")[0]
    label = root / "gtFine" / "train" / "aachen" / f"{STEMS[0]}_gtFine_labelIds.png"
    Image.fromarray(np.zeros((3, 17), np.uint8), mode="L").save(label)  # image is 2 x 17
    ds = Cityscapes(root, "train")
    with pytest.raises(ValueError, match=r"000019_leftImg8bit\.png is 17x2 .* is 17x3"):
        ds[0]
    ds.images[1].write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=f"cannot read image .*{ds.images[1].name}"):
        ds[1]
    with pytest.raises(ValueError, match="label ids"):
        to_train_ids(np.array([[-1]]))
