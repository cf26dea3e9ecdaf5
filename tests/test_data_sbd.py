"""SBDSegmentation (real .mat files with struct GTcls) and the trainaug split."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from fixtures_data import random_image, write_jpeg, write_sbd, write_sbd_mat, write_voc

from atrous.data import SBDSegmentation
from atrous.data.sbd import read_sbd_mat

SBD_SPLITS = {"train": ["a", "b", "c"], "val": ["d", "e"]}
VOC_SPLITS = {"train": ["c", "f"], "val": ["b", "g"]}


@pytest.fixture
def trees(tmp_path):
    sbd_root, voc_root = tmp_path / "benchmark_RELEASE" / "dataset", tmp_path / "VOC2012"
    sbd_labels = write_sbd(sbd_root, SBD_SPLITS)
    voc_labels = write_voc(voc_root, VOC_SPLITS)
    return sbd_root, voc_root, sbd_labels, voc_labels


def test_the_mat_file_holds_the_struct_the_loader_reads(tmp_path):
    label = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_sbd_mat(tmp_path / "x.mat", label)
    raw = scipy.io.loadmat(str(tmp_path / "x.mat"))["GTcls"]  # MATLAB struct array
    assert "Segmentation" in raw.dtype.names
    np.testing.assert_array_equal(read_sbd_mat(tmp_path / "x.mat"), label)


def test_sbd_splits_load_the_mat_labels(trees):
    sbd_root, _, sbd_labels, _ = trees
    ds = SBDSegmentation(sbd_root, "train")
    assert ds.ids == ["a", "b", "c"] and ds.num_classes == 21
    for i, name in enumerate(ds.ids):
        image, label = ds[i]
        assert image.shape == (20, 24, 3) and label.dtype == np.int64
        np.testing.assert_array_equal(label, sbd_labels[name])
    assert len(SBDSegmentation(sbd_root, "val")) == 2


def test_trainaug_is_sbd_train_val_and_voc_train_minus_voc_val(trees):
    sbd_root, voc_root, sbd_labels, voc_labels = trees
    ds = SBDSegmentation(sbd_root, "trainaug", voc_root=voc_root)
    # {a, b, c} | {d, e} | {c, f} minus {b, g}
    assert ds.ids == ["a", "c", "d", "e", "f"]
    by_id = {name: ds[i] for i, name in enumerate(ds.ids)}
    np.testing.assert_array_equal(by_id["a"][1], sbd_labels["a"])  # SBD only: its .mat
    np.testing.assert_array_equal(by_id["c"][1], voc_labels["c"])  # in VOC: VOC's label
    np.testing.assert_array_equal(by_id["f"][1], voc_labels["f"])  # VOC only
    assert 255 in by_id["c"][1] and 255 not in by_id["a"][1]
    assert ds.image_path(ds.ids.index("f")).parent.name == "JPEGImages"
    assert ds.image_path(ds.ids.index("a")).parent.name == "img"


def test_bad_input_names_the_path(trees, tmp_path):
    sbd_root, voc_root, _, _ = trees
    with pytest.raises(ValueError, match="voc_root"):
        SBDSegmentation(sbd_root, "trainaug")
    with pytest.raises(ValueError, match="split"):
        SBDSegmentation(sbd_root, "test")
    with pytest.raises(FileNotFoundError, match="missing"):
        SBDSegmentation(tmp_path / "missing", "train")
    with pytest.raises(FileNotFoundError, match="missing_voc"):
        SBDSegmentation(sbd_root, "trainaug", voc_root=tmp_path / "missing_voc")
    (sbd_root / "cls" / "b.mat").unlink()
    with pytest.raises(FileNotFoundError, match=r"b\.mat"):
        SBDSegmentation(sbd_root, "train")[1]
    (sbd_root / "cls" / "a.mat").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"cannot read SBD label .*a\.mat"):
        SBDSegmentation(sbd_root, "train")[0]
    scipy.io.savemat(str(sbd_root / "cls" / "c.mat"), {"other": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"c\.mat has no struct GTcls"):
        SBDSegmentation(sbd_root, "train")[2]


def test_mismatch_bad_values_and_unreadable_image_name_the_file(trees):
    sbd_root, _, _, _ = trees
    write_sbd_mat(sbd_root / "cls" / "d.mat", np.zeros((19, 24), np.uint8))
    ds = SBDSegmentation(sbd_root, "val")
    with pytest.raises(ValueError, match=r"d\.jpg.*d\.mat"):
        ds[0]
    bad = np.zeros((20, 24), np.uint8)
    bad[0, 0] = 40
    write_sbd_mat(sbd_root / "cls" / "e.mat", bad)
    with pytest.raises(ValueError, match=r"e\.mat holds values \[40\]"):
        ds[1]
    write_jpeg(sbd_root / "img" / "d.jpg", random_image(20, 24, 0))
    (sbd_root / "img" / "d.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(ValueError, match=r"cannot read image .*d\.jpg"):
        ds[0]
