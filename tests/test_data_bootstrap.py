"""Hard-image bootstrapping (Sec. 4.3): images with hard classes are listed more often."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_data import write_palette_png, write_voc

from atrous.data import HARD_VOC_CLASSES, Bootstrapped, SyntheticScenes, VOCSegmentation
from atrous.data.synthetic import SAIL, WIRE


def test_the_default_hard_classes_are_the_papers():
    names = [VOCSegmentation.class_names[c] for c in HARD_VOC_CLASSES]
    assert names == ["bicycle", "chair", "diningtable", "pottedplant", "sofa"]


@pytest.mark.parametrize("copies", [1, 2, 3])
def test_images_with_hard_classes_are_repeated(copies):
    ds = SyntheticScenes("val", size=48, length=30)
    boot = Bootstrapped(ds, hard_classes=(SAIL,), copies=copies)
    hard = [i for i in range(len(ds)) if (ds.load_label(i) == SAIL).any()]
    assert boot.hard_indices == hard and 0 < len(hard) < len(ds)
    assert len(boot) == len(ds) + (copies - 1) * len(hard)
    counts = np.bincount(boot.indices, minlength=len(ds))
    np.testing.assert_array_equal(counts, [copies if i in hard else 1 for i in range(len(ds))])
    for k in (0, len(boot) - 1):  # samples are the wrapped data set's
        np.testing.assert_array_equal(boot[k][0], ds[boot.indices[k]][0])
        np.testing.assert_array_equal(boot.load_label(k), ds.load_label(boot.indices[k]))
    assert boot.num_classes == ds.num_classes and boot.class_names == ds.class_names


def test_on_voc_with_the_default_classes(tmp_path):
    labels = write_voc(tmp_path, {"train": ["a", "b", "c"]})
    chair = np.zeros((20, 24), np.uint8)
    chair[5:9, 5:9] = 9  # chair

    write_palette_png(tmp_path / "SegmentationClass" / "b.png", chair)
    for name in ("a", "c"):  # no hard class anywhere else
        clean = np.where(np.isin(labels[name], HARD_VOC_CLASSES), 0, labels[name])
        write_palette_png(tmp_path / "SegmentationClass" / f"{name}.png", clean)
    boot = Bootstrapped(VOCSegmentation(tmp_path, "train"))
    assert boot.hard_indices == [1] and boot.indices == [0, 1, 2, 1]


def test_bad_arguments():
    ds = SyntheticScenes("val", size=32, length=3)
    with pytest.raises(ValueError, match="copies"):
        Bootstrapped(ds, hard_classes=(WIRE,), copies=0)
    with pytest.raises(ValueError, match="outside"):
        Bootstrapped(ds, hard_classes=(7,))
    with pytest.raises(ValueError, match="at least one"):
        Bootstrapped(ds, hard_classes=())
    with pytest.raises(ValueError, match="load_label"):
        Bootstrapped([(np.zeros((2, 2, 3)), np.zeros((2, 2)))], hard_classes=(1,))
