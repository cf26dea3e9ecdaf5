"""TrainConfig: TOML and --set overrides into frozen dataclasses; bad keys fail early."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atrous.base.errors import AtrousError, AtrousFileNotFoundError
from atrous.base.tables import parse_override
from atrous.recipe.config import (
    DataConfig,
    OptimConfig,
    TrainConfig,
    apply_overrides,
    from_dict,
    load_config,
)

CONFIGS = sorted((Path(__file__).parent.parent / "atrous" / "configs").glob("*.toml"))


def test_defaults_are_the_paper_protocol():
    config = from_dict({})
    assert config == TrainConfig()
    t = config.train
    assert (t.batch_size, t.base_lr, t.lr_power, t.iterations) == (16, 0.007, 0.9, 30000)
    assert config.data.crop_size == 513 and config.data.scale_range == (0.5, 2.0)


def test_round_trip_through_a_dict():
    config = apply_overrides({}, ["model.preset=resnet50", "model.multi_grid=[1,2,1]"])
    assert from_dict(config.to_dict()) == config
    assert config.network.multi_grid == (1, 2, 1) and config.network.depths == (3, 4, 6, 3)


def test_toml_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        '[model]\npreset = "tiny"\noutput_stride = 8\n[train]\nbase_lr = 1\nbatch_size = 4\n'
    )
    config = load_config(path, ["train.iterations=10"])
    assert config.network.output_stride == 8
    assert config.train.base_lr == 1.0 and isinstance(config.train.base_lr, float)
    assert (config.train.batch_size, config.train.iterations) == (4, 10)


@pytest.mark.parametrize(
    "assignment, table, key, value",
    [
        ("train.base_lr=0.01", "train", "base_lr", 0.01),
        ("model.multi_grid=[1, 2, 1]", "model", "multi_grid", [1, 2, 1]),
        ("data.dataset=voc", "data", "dataset", "voc"),
        ('data.root="/a b/c"', "data", "root", "/a b/c"),
        ("train.freeze_bn=true", "train", "freeze_bn", True),
    ],
)
def test_parse_override(assignment, table, key, value):
    assert parse_override(assignment) == (table, key, value)


@given(
    iterations=st.integers(1, 10**6),
    batch=st.sampled_from([1, 2, 4, 8, 16]),
    lr=st.floats(0, 1, allow_nan=False),
    flip=st.booleans(),
    crop=st.integers(17, 1025),
)
def test_overrides_set_exactly_one_field(iterations, batch, lr, flip, crop):
    config = apply_overrides(
        {},
        [
            f"train.iterations={iterations}",
            f"train.batch_size={batch}",
            f"train.base_lr={lr!r}",
            f"data.flip={str(flip).lower()}",
            f"data.crop_size={crop}",
        ],
    )
    assert config.train == OptimConfig(iterations=iterations, batch_size=batch, base_lr=lr)
    assert config.data == DataConfig(flip=flip, crop_size=crop)


@pytest.mark.parametrize(
    "assignment, named",
    [
        ("train.iteratons=5", "iteratons"),
        ("trian.iterations=5", "trian"),
        ("model.outputstride=8", "outputstride"),
        ("train.iterations=ten", "train.iterations"),
        ("train.iterations=1.5", "train.iterations"),
        ("train.iterations=0", "train.iterations"),
        ("train.flip=true", "flip"),
        ("data.flip=1", "data.flip"),
        ("data.scale_range=[2.0, 1.0]", "data.scale_range"),
        ("data.scale_range=[1.0]", "data.scale_range"),
        ("data.dataset=imagenet", "data.dataset"),
        ("train.accumulate=3", "train.accumulate"),
        ("train.base_lr=-1", "train.base_lr"),
        ("train.base_lr=nan", "train.base_lr"),
        ("train.device=gpu", "train.device"),
        ("model.preset=resnet18", "resnet18"),
        ("model.output_stride=12", "output_stride"),
        ("model.multi_grid=[1, 2]", "multi_grid"),
        ("eval.output_stride=3", "eval.output_stride"),
        ("eval.scales=[]", "eval.scales"),
        ("data.crop_size=1", r"data.crop_size': must be in [17, 4097]"),
        ("train.momentum=5", r"train.momentum': must be in [0, 0.999]"),
        ("train.base_lr=7", r"train.base_lr': must be in [0, 1]"),
        ("train.seed=-1", r"train.seed': must be >= 0"),
        ("data.scale_range=[0.5, 20.0]", "data.scale_range"),
        ("noequals", "table.key=value"),
        ("iterations=5", "table.key=value"),
    ],
)
def test_bad_key_or_value_names_it(assignment, named):
    with pytest.raises(AtrousError, match=re.escape(named)):
        apply_overrides({}, [assignment])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(AtrousFileNotFoundError, match="nope.toml"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(AtrousError, match="bad.toml"):
        load_config(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[data]\nroot = "/d\u00e9j\u00e0"\n'.encode("latin-1"))
    with pytest.raises(AtrousError, match="latin.toml' is not UTF-8 text"):
        load_config(latin)
    with pytest.raises(AtrousError, match="is a folder; give a .toml file"):
        load_config(tmp_path)


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        TrainConfig().train.iterations = 3  # type: ignore[misc]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load(path):
    config = load_config(path)
    assert config.network.num_classes >= 2
