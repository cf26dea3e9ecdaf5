"""SyntheticScenes: determinism, splits, and the properties the design promises."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage

from atrous.data import EvalTransform, SyntheticScenes
from atrous.data.scene_painter import ignore_band
from atrous.data.synthetic import BACKGROUND, LAND, SAIL, SEA, TENT, WIRE
from atrous.figures import plot_samples

N = 120  # images drawn for the statistical properties


@pytest.fixture(scope="module")
def samples():
    ds = SyntheticScenes("train", length=N, seed=0)
    return [ds.sample(i) for i in range(N)]


def _digest(image: np.ndarray) -> str:
    return hashlib.sha1(image.tobytes()).hexdigest()


def test_samples_have_the_contract_types_and_values():
    ds = SyntheticScenes("val", size=96, length=5)
    assert len(ds) == 5 and ds.num_classes == len(ds.class_names) == 7
    assert ds.palette.shape == (256, 3) and ds.palette.dtype == np.uint8
    for i in range(len(ds)):
        image, label = ds[i]
        assert image.dtype == np.uint8 and image.shape == (96, 96, 3)
        assert label.dtype == np.int64 and label.shape == (96, 96)
        assert set(np.unique(label)) <= set(range(7)) | {255}
    assert "image pooling" in ds.describe().lower()


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31), index=st.integers(0, 9999), size=st.integers(32, 80))
def test_a_sample_depends_only_on_seed_split_index_and_size(seed, index, size):
    a = SyntheticScenes("train", size=size, length=10_000, seed=seed)[index]
    b = SyntheticScenes("train", size=size, length=20_000, seed=seed)[index]  # length: no
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = SyntheticScenes("train", size=size, length=10_000, seed=seed + 1)[index]
    assert not np.array_equal(a[0], c[0])


def test_splits_are_disjoint():
    digests = {
        split: {_digest(SyntheticScenes(split, length=150, size=48)[i][0]) for i in range(150)}
        for split in ("train", "val", "test")
    }
    assert all(len(d) == 150 for d in digests.values())  # no repeats inside a split either
    assert not digests["train"] & digests["val"]
    assert not digests["train"] & digests["test"]
    assert not digests["val"] & digests["test"]


def test_context_classes_occur_in_both_scene_types_and_only_the_scene_decides(samples):
    """The triangle is a sail at sea and a tent on land, drawn from one distribution."""
    scenes = np.array([s.scene for s in samples])
    assert 0.3 < scenes.mean() < 0.7  # both scene types are common
    sails = [s for s in samples if (s.label == SAIL).any()]
    tents = [s for s in samples if (s.label == TENT).any()]
    assert len(sails) > 15 and len(tents) > 15
    assert all(s.scene == SEA and not (s.label == TENT).any() for s in sails)
    assert all(s.scene == LAND and not (s.label == SAIL).any() for s in tents)
    # Same appearance: mean colour and pixel count per image of the two classes agree.
    sail_rgb = np.concatenate([s.image[s.label == SAIL] for s in sails]).mean(0)
    tent_rgb = np.concatenate([s.image[s.label == TENT] for s in tents]).mean(0)
    assert np.abs(sail_rgb - tent_rgb).max() < 20
    sail_area = np.mean([(s.label == SAIL).sum() for s in sails])
    tent_area = np.mean([(s.label == TENT).sum() for s in tents])
    assert 0.5 < sail_area / tent_area < 2.0


def _linear_accuracy(features: np.ndarray, target: np.ndarray) -> float:
    """Training accuracy of a least-squares linear classifier (an optimistic probe)."""
    design = np.c_[features, np.ones(len(features))]
    weights = np.linalg.lstsq(design, 2.0 * target - 1, rcond=None)[0]
    return float(((design @ weights > 0) == target).mean())


def test_the_scene_type_shows_globally_but_not_locally(samples):
    """The background tint decides the scene from the whole image, not from a patch."""
    scenes = np.array([s.scene for s in samples])
    global_mean, local_mean = [], []
    for s in samples:
        image, background = s.image.astype(np.float64), s.label == BACKGROUND
        global_mean.append(image[background].mean(0))
        patch = image[:16, :16].reshape(-1, 3)  # a 16x16 corner: about one object's view
        local_mean.append(patch.mean(0))
    global_accuracy = _linear_accuracy(np.array(global_mean), scenes)
    local_accuracy = _linear_accuracy(np.array(local_mean), scenes)
    assert global_accuracy > 0.85
    assert local_accuracy < 0.8
    assert global_accuracy > local_accuracy + 0.1


def test_thin_structures_exist(samples):
    """Wires are 1-5 pixels wide: a 7x7 erosion removes them all, a 3x3 one most."""
    wire = np.stack([s.label == WIRE for s in samples])
    assert wire.any(axis=(1, 2)).mean() > 0.8  # most images have a visible wire
    eroded3 = ndimage.binary_erosion(wire, structure=np.ones((1, 3, 3), bool))
    eroded5 = ndimage.binary_erosion(wire, structure=np.ones((1, 5, 5), bool))
    assert eroded3.sum() < 0.3 * wire.sum()
    assert eroded5.sum() < 0.01 * wire.sum()
    assert not ndimage.binary_erosion(wire, structure=np.ones((1, 7, 7), bool)).any()


def test_objects_span_very_different_scales(samples):
    areas = []
    for s in samples:
        for cls in range(2, 7):  # ball, box, star, sail, tent
            components, count = ndimage.label(s.label == cls)
            areas += np.bincount(components.ravel())[1:].tolist() if count else []
    areas = np.array(areas)
    side = samples[0].label.shape[0]
    assert (areas < 30).sum() > 20  # a few pixels across
    assert (areas > 0.15 * side * side).sum() > 5  # most of the image


def test_ignore_band_lies_along_boundaries_and_spares_the_objects():
    banded = SyntheticScenes("train", length=N)
    plain = SyntheticScenes("train", length=N, ignore_width=0)
    square = np.ones((3, 3), bool)
    for i in range(30):
        a, b = banded.sample(i).label, plain.sample(i).label
        ignore = a == 255
        assert ignore.any() and not (b == 255).any()
        np.testing.assert_array_equal(a[~ignore], b[~ignore])  # the band only removes
        # Each ignored pixel sees another class within one pixel (a boundary) ...
        lowest = ndimage.grey_erosion(b, footprint=square)
        highest = ndimage.grey_dilation(b, footprint=square)
        assert np.all((lowest != highest)[ignore])
        # ... and every boundary between two classes has ignore on at least one side.
        boundary = lowest != highest
        assert np.all(ndimage.binary_dilation(ignore, square)[boundary])
    wide = SyntheticScenes("train", length=N, ignore_width=2)
    assert (wide.sample(0).label == 255).sum() > (banded.sample(0).label == 255).sum()


@pytest.mark.parametrize("width", [1, 2])
def test_the_band_falls_on_the_side_behind_so_a_one_pixel_wire_keeps_its_label(width):
    label = np.zeros((9, 9), np.int64)
    depth = np.zeros((9, 9), np.int32)
    label[2:7, 2:7], depth[2:7, 2:7] = 3, 1  # a box ...
    label[:, 4], depth[:, 4] = WIRE, 2  # ... crossed by a wire in front of it
    band = ignore_band(label, depth, width)
    cols = np.broadcast_to(np.arange(9), (9, 9))
    wire, box, background = label == WIRE, label == 3, label == 0
    assert not band[wire].any()  # the wire keeps every pixel
    np.testing.assert_array_equal(band[box], (np.abs(cols - 4) <= width)[box])
    near = ndimage.binary_dilation(~background, np.ones((3, 3), bool), iterations=width)
    np.testing.assert_array_equal(band[background], near[background])


def test_images_are_noisy_and_textured_not_flat(samples):
    for s in samples[:20]:
        background = s.image[s.label == BACKGROUND].astype(np.float64)
        assert background.std(axis=0).min() > 4  # a smooth field plus noise
        assert len(np.unique(s.image.reshape(-1, 3), axis=0)) > 1000


def test_transform_is_applied():
    ds = SyntheticScenes("val", size=64, length=3, transform=EvalTransform())
    image, label = ds[1]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert label.shape == (64, 64) and label.dtype == torch.int64


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(split="dev"), "split"),
        (dict(size=16), "size"),
        (dict(length=0), "length"),
        (dict(seed=-1), "seed"),
        (dict(ignore_width=9), "ignore_width"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticScenes(**kwargs)


def test_index_out_of_range():
    with pytest.raises(IndexError, match="out of range"):
        SyntheticScenes("val", length=3)[3]


def test_plot_samples_writes_a_figure(tmp_path):
    ds = SyntheticScenes("val", size=48, length=4, transform=EvalTransform())
    path = plot_samples(ds, tmp_path / "fig" / "samples.png", n=3)
    with Image.open(path) as image:
        assert image.size[0] > 200 and image.size[1] > 200
    assert ds.transform is not None  # restored after drawing
    with pytest.raises(ValueError, match="n must be"):
        plot_samples(ds, tmp_path / "x.png", n=0)
