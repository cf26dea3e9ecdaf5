"""VOCSegmentation on a tiny VOC2012 tree written in the real on-disk format."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures_data import random_image, write_jpeg, write_palette_png, write_voc
from PIL import Image

from atrous.data import EvalTransform, VOCSegmentation
from atrous.data.palette import voc_palette


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / "VOC2012"
    labels = write_voc(root, {"train": ["2007_000032", "2007_000039"], "val": ["2007_000033"]})
    return root, labels


def test_loads_images_and_palette_indices(voc):
    root, labels = voc
    ds = VOCSegmentation(root, "train")
    assert len(ds) == 2 and ds.num_classes == 21 and ds.class_names[15] == "person"
    for i, name in enumerate(["2007_000032", "2007_000039"]):
        image, label = ds[i]
        assert image.dtype == np.uint8 and image.shape == (20, 24, 3)
        assert label.dtype == np.int64
        np.testing.assert_array_equal(label, labels[name])  # indices, 255 kept
        assert 255 in label
        np.testing.assert_array_equal(ds.load_label(i), labels[name])
    assert len(VOCSegmentation(root, "val")) == 1


def test_labels_are_the_palette_indices_not_the_colours(tmp_path):
    label = np.array([[0, 1, 15], [255, 20, 2]], dtype=np.uint8)
    path = tmp_path / "x.png"
    write_palette_png(path, label)
    with Image.open(path) as image:  # the file really is a palette PNG in VOC colours
        assert image.mode == "P"
        rgb = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(rgb, voc_palette()[label])
    assert tuple(voc_palette()[15]) == (192, 128, 128)  # VOC's person colour


def test_transform_is_applied(voc):
    image, label = VOCSegmentation(voc[0], "train", transform=EvalTransform())[0]
    assert isinstance(image, torch.Tensor) and image.shape == (3, 20, 24)
    assert label.dtype == torch.int64


def test_missing_root_split_and_files_name_the_path(voc, tmp_path):
    root, _ = voc
    with pytest.raises(FileNotFoundError, match="nowhere"):
        VOCSegmentation(tmp_path / "nowhere", "train")
    with pytest.raises(ValueError, match="split"):
        VOCSegmentation(root, "test")
    (root / "ImageSets" / "Segmentation" / "trainval.txt").unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match="trainval.txt"):
        VOCSegmentation(root, "trainval")
    (root / "JPEGImages" / "2007_000039.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="2007_000039.jpg"):
        VOCSegmentation(root, "train")[1]
    (root / "SegmentationClass" / "2007_000032.png").unlink()
    with pytest.raises(FileNotFoundError, match="2007_000032.png"):
        VOCSegmentation(root, "train")[0]


def test_size_mismatch_names_both_files(voc):
    root, _ = voc
    write_jpeg(root / "JPEGImages" / "2007_000032.jpg", random_image(21, 24, seed=0))
    with pytest.raises(ValueError, match=r"2007_000032\.jpg.*2007_000032\.png"):
        VOCSegmentation(root, "train")[0]


def test_label_values_outside_the_classes_name_the_file(voc):
    root, _ = voc
    bad = np.zeros((20, 24), np.uint8)
    bad[3, 3] = 21
    write_palette_png(root / "SegmentationClass" / "2007_000039.png", bad)
    ds = VOCSegmentation(root, "train")
    with pytest.raises(ValueError, match=r"2007_000039\.png.*\[21\]"):
        ds[1]
    with pytest.raises(ValueError, match=r"2007_000039\.png"):
        ds.load_label(1)


def test_unreadable_image_and_colour_label_name_the_file(voc):
    root, _ = voc
    (root / "JPEGImages" / "2007_000032.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"cannot read image .*2007_000032\.jpg"):
        VOCSegmentation(root, "train")[0]
    Image.fromarray(random_image(20, 24, seed=1)).save(
        root / "SegmentationClass" / "2007_000039.png"
    )
    with pytest.raises(ValueError, match=r"2007_000039\.png has mode 'RGB'"):
        VOCSegmentation(root, "train")[1]


def test_empty_split_is_an_error(voc):
    root, _ = voc
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("\n")
    with pytest.raises(ValueError, match=r"train\.txt is empty"):
        VOCSegmentation(root, "train")
