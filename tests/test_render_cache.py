"""RenderedSplit: a data set drawn once into memory-mapped files, read back bit for bit."""

from __future__ import annotations

import multiprocessing
import pickle
import time

import numpy as np
import pytest

from atrous.base.errors import AtrousError
from atrous.data import EvalTransform
from atrous.data.render_cache import MARKER, RenderedSplit, code_digest, drawing_modules, render_key
from atrous.data.synthetic import SyntheticScenes
from atrous.recipe.config import DataConfig, TrainConfig
from atrous.recipe.datasets import build_dataset


def _scenes(**kwargs) -> SyntheticScenes:
    return SyntheticScenes(**{"split": "val", "size": 48, "length": 6, **kwargs})


def _assert_same(a, b) -> None:
    assert len(a) == len(b)
    for i in range(len(a)):
        (image_a, label_a), (image_b, label_b) = a[i], b[i]
        assert image_a.dtype == image_b.dtype == np.uint8
        assert label_a.dtype == label_b.dtype == np.int64
        np.testing.assert_array_equal(image_a, image_b)
        np.testing.assert_array_equal(label_a, label_b)


def _forbid_drawing(monkeypatch) -> None:
    def refuse(self, index):
        raise AssertionError(f"drew scene {index}: the render cache was not used")

    monkeypatch.setattr(SyntheticScenes, "__getitem__", refuse)
    monkeypatch.setattr(SyntheticScenes, "sample", refuse)


@pytest.mark.parametrize("kwargs", [{}, {"split": "train", "size": 64, "scale": 1.5}])
def test_the_samples_are_the_sources(tmp_path, kwargs):
    source = _scenes(**kwargs)
    rendered = RenderedSplit(source, tmp_path, progress=False)
    _assert_same(rendered, source)
    for name in ("class_names", "num_classes", "scene_names"):
        assert getattr(rendered, name) == getattr(source, name)
    np.testing.assert_array_equal(rendered.palette, source.palette)
    np.testing.assert_array_equal(rendered.load_label(2), source.load_label(2))
    image, _ = rendered[0]
    image[:] = 0  # a copy: a transform may work in place
    np.testing.assert_array_equal(rendered[0][0], source[0][0])
    with pytest.raises(IndexError, match="out of range"):
        rendered[len(source)]
    assert repr(source) in repr(rendered)


def test_a_second_split_on_the_same_folder_reads_without_drawing(tmp_path, monkeypatch):
    expected = [_scenes()[i] for i in range(6)]
    RenderedSplit(_scenes(), tmp_path, progress=False)
    _forbid_drawing(monkeypatch)
    again = RenderedSplit(_scenes(), tmp_path, progress=False)
    _assert_same(again, expected)
    clone = pickle.loads(pickle.dumps(again))  # as a loader worker receives it
    assert len(pickle.dumps(again)) < 10_000  # the maps stay behind; the worker opens them
    _assert_same(clone, expected)


def test_different_parameters_get_different_folders():
    base = render_key(_scenes())
    assert render_key(_scenes()) == base
    others = [
        _scenes(split="test"),
        _scenes(size=64),
        _scenes(length=7),
        _scenes(seed=1),
        _scenes(ignore_width=2),
        _scenes(scale=2.0),
    ]
    keys = [render_key(d) for d in others]
    assert base not in keys and len(set(keys)) == len(keys)
    assert base.startswith("SyntheticScenes-val-")


def test_the_key_follows_the_drawing_code():
    modules = drawing_modules(SyntheticScenes)
    # The painter is in it (synthetic.py takes ScenePainter from it), so that a change of
    # the painter renders anew rather than reading scenes the code no longer draws.
    assert {"atrous.data.synthetic", "atrous.data.scene_painter"} <= set(modules)
    assert "atrous.data.palette" in modules and "numpy" not in modules
    assert len(code_digest(SyntheticScenes)) == 16


def test_a_folder_without_its_marker_is_rendered_again(tmp_path, monkeypatch):
    source = _scenes()
    first = RenderedSplit(source, tmp_path, progress=False)
    (first.path / MARKER).unlink()  # as a render killed before its end leaves it
    images = np.load(first.path / "images.npy", mmap_mode="r+")
    images[:] = 0
    images.flush()
    del images, first
    drawn = []
    original = SyntheticScenes.__getitem__

    def counting(self, index):
        drawn.append(index)
        return original(self, index)

    monkeypatch.setattr(SyntheticScenes, "__getitem__", counting)
    again = RenderedSplit(_scenes(), tmp_path, progress=False)
    assert sorted(drawn) == list(range(6))
    assert (again.path / MARKER).is_file()
    monkeypatch.undo()
    _assert_same(again, source)


def _slow_render(folder: str, start, drawn) -> None:
    """In a child process: open the cache when ``start`` is set, counting the scenes drawn."""
    original = SyntheticScenes.__getitem__

    def slow(self, index):
        drawn.put(index)
        time.sleep(0.05)  # long enough for the other process to arrive meanwhile
        return original(self, index)

    SyntheticScenes.__getitem__ = slow
    start.wait()
    RenderedSplit(_scenes(), folder, progress=False)


def test_two_processes_at_once_render_once(tmp_path):
    context = multiprocessing.get_context("fork")
    start, drawn = context.Event(), context.Queue()
    children = [context.Process(target=_slow_render, args=(str(tmp_path), start, drawn))
                for _ in range(2)]  # fmt: skip
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    indices = []
    while not drawn.empty():
        indices.append(drawn.get(timeout=5))
    assert sorted(indices) == list(range(6))  # one drew them all; the other waited and read
    _assert_same(RenderedSplit(_scenes(), tmp_path, progress=False), _scenes())


def test_a_killed_renders_leftovers_are_cleared(tmp_path):
    key = render_key(_scenes())
    stale = tmp_path / f"{key}.tmp-99999999"
    stale.mkdir()
    (stale / "images.npy").write_bytes(b"half")
    rendered = RenderedSplit(_scenes(), tmp_path, progress=False)
    assert not stale.exists()
    _assert_same(rendered, _scenes())
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [key]


def test_a_transformed_dataset_is_refused(tmp_path):
    with pytest.raises(AtrousError, match="transform"):
        RenderedSplit(_scenes(transform=EvalTransform()), tmp_path)


def test_the_config_renders_each_synthetic_split_once(tmp_path, monkeypatch):
    assert "cache_dir" not in TrainConfig().hashed_dict()["data"]
    data = DataConfig(cache_dir=str(tmp_path), synthetic_size=48, synthetic_length=5,
                      synthetic_val_length=3)  # fmt: skip
    # where the rendered scenes live changes nothing a run computes: never hashed
    assert "cache_dir" not in TrainConfig(data=data).hashed_dict()["data"]
    train, val = build_dataset(data, "train"), build_dataset(data, "val")
    assert isinstance(train, RenderedSplit) and (len(train), len(val)) == (5, 3)
    _assert_same(train, SyntheticScenes("train", size=48, length=5))
    _forbid_drawing(monkeypatch)
    _assert_same(build_dataset(data, "val"), val)
    assert not isinstance(build_dataset(DataConfig(), "val"), RenderedSplit)
