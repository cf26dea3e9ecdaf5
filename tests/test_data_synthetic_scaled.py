"""SyntheticScenes' ``scale``: scale 1 is the committed scenes bit for bit, and a larger
scale draws every absolute size larger, as if the small scene were drawn at a finer grid."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from atrous.base.errors import AtrousError
from atrous.data.scene_painter import WIRE, ScenePainter
from atrous.data.synthetic import SyntheticScenes
from atrous.recipe.config import DataConfig, TrainConfig
from atrous.recipe.datasets import build_dataset

#: SHA-256 of the first 20 train and 20 val scenes at size 128 (image bytes, then the label
#: as int64 bytes), computed from the painter before ``scale`` existed: the scenes of every
#: committed result. Any change to the drawing at scale 1 changes it.
PINNED = "0d5591e5b619f4f967d4ce2f8b109852b35443ff8d4bb39b7b3132a6a55b35e2"


def _scenes_digest(**kwargs) -> str:
    digest = hashlib.sha256()
    for split in ("train", "val"):
        ds = SyntheticScenes(split, size=128, **kwargs)
        for i in range(20):
            image, label = ds[i]
            digest.update(image.tobytes())
            digest.update(label.astype(np.int64).tobytes())
    return digest.hexdigest()


def test_scale_one_draws_the_committed_scenes_bit_for_bit():
    assert _scenes_digest() == PINNED
    assert _scenes_digest(scale=1.0) == PINNED
    assert _scenes_digest(scale=1) == PINNED


def test_the_repr_names_the_scale_only_when_it_is_not_one():
    assert "scale" not in repr(SyntheticScenes("val", scale=1.0))
    assert "scale=2.0" in repr(SyntheticScenes("val", size=256, scale=2))


@pytest.mark.parametrize("scale", [0.2, 8.5, -1, "2", True, None, float("nan")])
def test_a_bad_scale_is_rejected_by_name(scale):
    with pytest.raises(AtrousError, match="scale"):
        SyntheticScenes("val", scale=scale)


class _WireRecorder(ScenePainter):
    """The painter, keeping the whole mask of each wire as painted (before occlusion)."""

    def _put(self, ys, xs, mask, pixels, kind):
        if kind == WIRE and mask.any():
            whole = np.zeros((self.size, self.size), bool)
            whole[ys, xs] = mask
            self.wires.append(whole)
        super()._put(ys, xs, mask, pixels, kind)


def _wire_depths(size: int, scale: float, index: int) -> list[float]:
    """Per wire of scene ``index``: the largest distance of a wire pixel to the outside of
    the wire (1 for a 1- or 2-pixel line, 2 once it is 3 pixels across)."""
    ds = SyntheticScenes("train", size=size, scale=scale)
    painter = _WireRecorder(np.random.default_rng([0, 0, index]), ds._yy, ds._xx, scale)
    painter.wires = []
    sample = painter.paint(ds.ignore_width)
    np.testing.assert_array_equal(sample.label, ds[index][1])  # the recorder draws the same
    # Edge padding: a wire cut by the border is not thinner for being cut.
    return [
        float(ndimage.distance_transform_edt(np.pad(w, 8, mode="edge")).max())
        for w in painter.wires
    ]


@settings(max_examples=12)
@given(index=st.integers(0, 4999))
def test_at_scale_two_every_wire_is_at_least_three_pixels_across(index):
    assert all(depth >= 2 for depth in _wire_depths(256, 2.0, index))


def test_at_scale_one_wires_can_be_thinner_than_three_pixels():
    """The check above fails where scale is ignored: 1.5-pixel wires are 1 deep."""
    depths = [d for i in range(12) for d in _wire_depths(128, 1.0, i)]
    assert min(depths) < 2
    ignored = [d for i in range(12) for d in _wire_depths(256, 1.0, i)]
    assert min(ignored) < 2


def _class_shares(size: int, scale: float, split: str, n: int = 30) -> np.ndarray:
    """Share of the pixels of each class (0..6) and of ignore (255) over ``n`` scenes."""
    ds = SyntheticScenes(split, size=size, scale=scale)
    counts = sum(np.bincount(ds[i][1].ravel(), minlength=256) for i in range(n))
    shares = counts / counts.sum()
    return np.r_[shares[:7], shares[255]]


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_scene_at_twice_the_side_and_scale_two_has_the_same_class_shares(split):
    small = _class_shares(128, 1.0, split)
    large = _class_shares(256, 2.0, split)
    assert np.abs(large - small).max() < 0.045  # within a few points
    # The thin and absolute parts (wires, index 1; the ignore band, index 7) keep their
    # share: were scale ignored, both would halve at twice the side.
    for part in (1, 7):
        assert 0.75 < large[part] / small[part] < 1.33, (part, small[part], large[part])


def test_the_ignore_band_is_at_least_one_pixel_at_a_small_scale():
    label = SyntheticScenes("val", size=64, scale=0.25)[0][1]
    assert (label == 255).any()
    assert not (SyntheticScenes("val", size=64, scale=0.25, ignore_width=0)[0][1] == 255).any()


def test_the_config_passes_its_scale_and_hashes_it_only_when_set():
    assert "synthetic_scale" not in TrainConfig().hashed_dict()["data"]
    data = DataConfig(synthetic_size=256, synthetic_scale=2, synthetic_val_length=2)
    assert data.synthetic_scale == 2.0
    assert TrainConfig(data=data).hashed_dict()["data"]["synthetic_scale"] == 2.0
    val = build_dataset(data, "val")
    assert (val.size, val.scale, len(val)) == (256, 2.0, 2)
    assert build_dataset(DataConfig(), "val").scale == 1.0
    for bad in (0.2, 9):
        with pytest.raises(AtrousError, match="synthetic_scale"):
            DataConfig(synthetic_scale=bad)


def test_tint_and_jitter_change_only_the_background_colour():
    from atrous.data.synthetic import SyntheticScenes

    plain, weak = SyntheticScenes("val", 64, 4), SyntheticScenes("val", 64, 4, tint=0, jitter=0)
    for i in range(4):
        a, b = plain.sample(i), weak.sample(i)
        assert (a.label == b.label).all() and a.scene == b.scene  # the same scene drawn
        assert not (a.image == b.image).all()
    same = SyntheticScenes("val", 64, 4, tint=1.0, jitter=1.0)
    assert (same[0][0] == plain[0][0]).all() and repr(same) == repr(plain)
    assert "tint=0.0" in repr(weak)
    with pytest.raises(AtrousError, match="tint"):
        SyntheticScenes("val", 64, 4, tint=-1)


def test_clearance_keeps_the_marks_away_from_the_triangles():
    """With ``clearance`` no mark lies near a triangle's centre; 0 draws the scenes as before."""
    plain = SyntheticScenes("val", 96, 3)
    assert repr(SyntheticScenes("val", 96, 3, clearance=0)) == repr(plain)
    assert (SyntheticScenes("val", 96, 3, clearance=0.0)[1][0] == plain[1][0]).all()
    painted: list[tuple[float, float, float, list]] = []
    original = ScenePainter._paint_mark

    def spy(self, scene, cy, cx, length, behind):
        painted.append((cy, cx, length, list(self.triangles)))
        return original(self, scene, cy, cx, length, behind)

    ScenePainter._paint_mark = spy
    try:
        cleared = SyntheticScenes("train", 96, 40, clearance=2.5)
        for i in range(40):
            cleared.sample(i)
    finally:
        ScenePainter._paint_mark = original
    assert painted and any(triangles for *_, triangles in painted)
    for cy, cx, length, triangles in painted:
        for ty, tx, r in triangles:
            assert np.hypot(cy - ty, cx - tx) >= 2.5 * r + length
    assert "clearance=2.5" in repr(cleared)
    with pytest.raises(AtrousError, match="clearance"):
        SyntheticScenes("val", 64, 4, clearance=9)
    with pytest.raises(AtrousError, match="synthetic_clearance"):
        DataConfig(synthetic_clearance=-1)
