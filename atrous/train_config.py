"""The configuration of a training run: plain frozen dataclasses read from a TOML file.

A run is described by one :class:`TrainConfig` with four tables, one per concern:

- ``[model]``: a preset name from :mod:`atrous.presets` plus any
  :class:`~atrous.config.DeepLabV3Config` field to override (``output_stride = 8``);
- ``[data]``: which dataset, its root, and the augmentation of Sec. 4.1 (crop, random
  scale 0.5 to 2.0, left-right flip);
- ``[train]``: the optimisation of Sec. 4.1 (SGD with momentum, weight decay, the poly
  learning rate, batch size, iterations, BN frozen or not, the checkpoint to start from);
- ``[eval]``: the inference strategy of Sec. 4.3 (output stride, scales, flips).

The file is read with the standard library's :mod:`tomllib`; single fields are overridden
from the command line with ``--set table.field=value`` where ``value`` is written as in
TOML (``--set train.base_lr=0.01``, ``--set model.multi_grid=[1,2,1]``; a bare word is a
string: ``--set data.dataset=voc``). Unknown keys and values of the wrong type fail here,
before any training starts, with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from atrous.config import DeepLabV3Config
from atrous.presets import PRESETS, get_preset

#: Dataset names understood by :func:`atrous.train.build_dataset`.
DATASETS = ("synthetic", "voc", "sbd", "cityscapes", "coco")
#: The multi-scale inputs of Sec. 4.3 / Tab. 4 and 6.
PAPER_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a preset and the fields of it to override."""

    # str, "tiny": a name from atrous.presets (tiny, resnet50, resnet101, ...-block7).
    preset: str = "tiny"
    # dict, {}: DeepLabV3Config fields replacing the preset's (e.g. output_stride = 8).
    overrides: dict[str, Any] = field(default_factory=dict)

    def build(self) -> DeepLabV3Config:
        """The :class:`DeepLabV3Config` this table describes (validated)."""
        return get_preset(self.preset, **self.overrides)


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are augmented (Sec. 4.1)."""

    # str, "synthetic": one of DATASETS.
    dataset: str = "synthetic"
    # str, "": folder of the dataset on disk (unused by "synthetic"); for VOC the
    # VOCdevkit/VOC2012 folder.
    root: str = ""
    # str, "": SBD's benchmark_RELEASE/dataset folder, for VOC's "trainaug" split.
    sbd_root: str = ""
    # str, "train": split to train on, as the dataset names it; VOC: train, val, trainval
    # or trainaug (VOC train + SBD, 10,582 images, Sec. 4.1).
    train_split: str = "train"
    # str, "val": split to evaluate on.
    val_split: str = "val"
    # int, 513: side of the square training crop; 16k + 1 suits align_corners (Sec. 4.1).
    crop_size: int = 513
    # tuple[float, float], (0.5, 2.0): range of the random rescaling of Sec. 4.1.
    scale_range: tuple[float, float] = (0.5, 2.0)
    # bool, True: random left-right flips (Sec. 4.1).
    flip: bool = True
    # int, 0: side of the generated images of the synthetic dataset (0: its default).
    synthetic_size: int = 0
    # int, 0: number of generated training images of the synthetic dataset (0: its default).
    synthetic_length: int = 0
    # int, 0: number of generated images of its val split (0: its default).
    synthetic_val_length: int = 0
    # tuple[int, ...], (): bootstrapping (Sec. 4.3, VOC test): images that contain any of
    # these classes appear ``bootstrap_copies`` times per epoch.
    bootstrap_classes: tuple[int, ...] = ()
    # int, 2: how often an image with a bootstrapped class appears per epoch.
    bootstrap_copies: int = 2
    # int, 0: DataLoader worker processes (0 loads in the training process).
    num_workers: int = 0


@dataclass(frozen=True)
class OptimConfig:
    """The training protocol of Sec. 4.1."""

    # int, 30000: training iterations (the poly schedule's max_iter).
    iterations: int = 30000
    # int, 16: images per iteration over all processes and accumulation steps (Tab. 9).
    batch_size: int = 16
    # float, 0.007: the poly schedule's base learning rate (stage 2: 0.001).
    base_lr: float = 0.007
    # float, 0.9: the poly schedule's power.
    lr_power: float = 0.9
    # float, 0.9: SGD momentum.
    momentum: float = 0.9
    # float, 0.0001: L2 weight decay on the conv weights (not on biases nor BN).
    weight_decay: float = 0.0001
    # bool, True: upsample the logits to the labels (Sec. 4.1); False downsamples the
    # labels to the logits instead, as older DeepLabs did (Tab. 8).
    upsample_logits: bool = True
    # bool, False: freeze batch norm (stage 2 of Sec. 4.1; Tab. 8 "fine-tune BN" = not this).
    freeze_bn: bool = False
    # str, "": torchvision ImageNet ResNet weights (e.g. resnet101-63fe2227.pth) for the
    # backbone, as the paper starts from (Sec. 4.1); "" starts from random weights.
    pretrained: str = ""
    # str, "": checkpoint whose weights start this run (stage 2 starts from stage 1's);
    # replaces ``pretrained``.
    init: str = ""
    # int, 1: split each batch into this many micro-batches whose gradients add up; BN
    # then sees only batch_size / accumulate images at a time (see atrous.train).
    accumulate: int = 1
    # bool, True: mixed precision (float16 autocast + gradient scaling) when on CUDA.
    amp: bool = True
    # int, 1000: write the checkpoint every this many iterations (and always at the end).
    checkpoint_every: int = 1000
    # int, 20: write a line of the metrics log every this many iterations.
    log_every: int = 20
    # int, 0: seed of the weights, the data order and the augmentation.
    seed: int = 0
    # str, "auto": "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
    device: str = "auto"


@dataclass(frozen=True)
class EvalConfig:
    """The inference strategy of Sec. 4.3 (Tab. 4 and 6)."""

    # int, 0: output stride at evaluation; 0 keeps the training one (Tab. 10: train 16,
    # evaluate 8 is best).
    output_stride: int = 0
    # tuple[float, ...], (1.0,): input scales whose class probabilities are averaged;
    # the paper's multi-scale inference uses PAPER_SCALES.
    scales: tuple[float, ...] = (1.0,)
    # bool, False: also average over left-right flipped inputs.
    flip: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """A whole run: the network, the data, the optimisation and the evaluation."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def network(self) -> DeepLabV3Config:
        """The validated :class:`DeepLabV3Config` of ``[model]``."""
        return self.model.build()

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, no tuples) that :func:`from_dict` reads back."""
        return _plain(dataclasses.asdict(self))


_TABLES = {"data": DataConfig, "train": OptimConfig, "eval": EvalConfig}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fail(key: str, message: str) -> typing.NoReturn:
    raise ValueError(f"config key {key!r}: {message}")


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a field's type; ints become floats, lists tuples."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or str(origin) == "types.UnionType":
        options = typing.get_args(annotation)
        for option in options:
            try:
                return _coerce(key, value, option)
            except ValueError:
                continue
        _fail(key, f"expected one of {options}, got {value!r}")
    if annotation is type(None):
        if value is not None:
            _fail(key, f"expected None, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            _fail(key, f"expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(key, f"expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            _fail(key, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            _fail(key, f"expected a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            _fail(key, f"expected a string, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            _fail(key, f"expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(key, v, args[0]) for v in value)
        if len(value) != len(args):
            _fail(key, f"expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(key, v, a) for v, a in zip(value, args, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            _fail(key, f"expected a table, got {value!r}")
        return dict(value)
    raise TypeError(f"unsupported field type {annotation!r} for {key!r}")  # pragma: no cover


def _build_table(name: str, cls: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            allowed = ", ".join(sorted(hints))
            raise ValueError(f"unknown config key {name}.{key!r}; [{name}] has: {allowed}")
        kwargs[key] = _coerce(f"{name}.{key}", value, hints[key])
    return cls(**kwargs)


def _build_model(values: dict[str, Any]) -> ModelConfig:
    values = dict(values)
    preset = values.pop("preset", ModelConfig.preset)
    if preset not in PRESETS:
        _fail("model.preset", f"unknown preset {preset!r}; the presets are: {', '.join(PRESETS)}")
    hints = typing.get_type_hints(DeepLabV3Config)
    overrides = {}
    for key, value in values.items():
        if key not in hints:
            allowed = ", ".join(["preset", *sorted(hints)])
            raise ValueError(f"unknown config key 'model.{key}'; [model] has: {allowed}")
        overrides[key] = _coerce(f"model.{key}", value, hints[key])
    model = ModelConfig(preset=preset, overrides=overrides)
    try:
        model.build()
    except ValueError as error:
        raise ValueError(f"config table [model]: {error}") from None
    return model


def _check_values(config: TrainConfig) -> None:
    """Range checks that the types cannot express; ValueError naming the key."""
    d, t, e = config.data, config.train, config.eval
    if d.dataset not in DATASETS:
        _fail("data.dataset", f"must be one of {DATASETS}, got {d.dataset!r}")
    if d.crop_size < 1:
        _fail("data.crop_size", f"must be >= 1, got {d.crop_size}")
    lo, hi = d.scale_range
    if not 0 < lo <= hi:
        _fail("data.scale_range", f"must be [low, high] with 0 < low <= high, got {[lo, hi]}")
    for key in ("synthetic_size", "synthetic_length", "synthetic_val_length", "num_workers"):
        if getattr(d, key) < 0:
            _fail(f"data.{key}", f"must be >= 0, got {getattr(d, key)}")
    if d.bootstrap_copies < 1:
        _fail("data.bootstrap_copies", f"must be >= 1, got {d.bootstrap_copies}")
    if t.iterations < 1:
        _fail("train.iterations", f"must be >= 1, got {t.iterations}")
    if t.batch_size < 1:
        _fail("train.batch_size", f"must be >= 1, got {t.batch_size}")
    if t.accumulate < 1 or t.batch_size % t.accumulate:
        _fail("train.accumulate", f"must be >= 1 and divide batch_size={t.batch_size}")
    for key in ("base_lr", "lr_power", "momentum", "weight_decay"):
        if getattr(t, key) < 0:
            _fail(f"train.{key}", f"must be >= 0, got {getattr(t, key)}")
    for key in ("checkpoint_every", "log_every"):
        if getattr(t, key) < 1:
            _fail(f"train.{key}", f"must be >= 1, got {getattr(t, key)}")
    if not (t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:")):
        _fail("train.device", f"must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {t.device!r}")
    if e.output_stride and e.output_stride not in config.network.output_strides:
        _fail(
            "eval.output_stride",
            f"must be 0 (the training one) or one of {config.network.output_strides}, "
            f"got {e.output_stride}",
        )
    if not e.scales or any(s <= 0 for s in e.scales):
        _fail("eval.scales", f"must be a non-empty list of positive scales, got {list(e.scales)}")


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from nested tables (as TOML gives them)."""
    tables = {"model", *_TABLES}
    for name, table in values.items():
        if name not in tables:
            raise ValueError(f"unknown config table [{name}]; the tables are: {sorted(tables)}")
        if not isinstance(table, dict):
            raise ValueError(f"config key {name!r} must be a table [{name}], got {table!r}")
    model_values = dict(values.get("model", {}))
    model_values.update(model_values.pop("overrides", {}))  # as written by to_dict
    config = TrainConfig(
        model=_build_model(model_values),
        **{name: _build_table(name, cls, values.get(name, {})) for name, cls in _TABLES.items()},
    )
    _check_values(config)
    return config


def parse_override(assignment: str) -> tuple[str, str, Any]:
    """``"table.key=value"`` -> (table, key, value), the value parsed as TOML (bare: a str)."""
    if "=" not in assignment:
        raise ValueError(f"--set expects table.key=value, got {assignment!r}")
    dotted, text = assignment.split("=", 1)
    if dotted.count(".") != 1:
        raise ValueError(f"--set expects table.key=value (e.g. train.base_lr=0.01), got {dotted!r}")
    table, key = (part.strip() for part in dotted.split("."))
    text = text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text  # a bare word: a string
    return table, key, value


def load_config(
    path: str | Path | None = None, overrides: typing.Sequence[str] = ()
) -> TrainConfig:
    """Read a TOML file (None: all defaults) and apply ``--set`` style overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {str(path)!r} does not exist")
        with path.open("rb") as f:
            try:
                values = tomllib.load(f)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    return apply_overrides(values, overrides)


def apply_overrides(values: dict[str, Any], overrides: typing.Sequence[str]) -> TrainConfig:
    """Apply ``table.key=value`` assignments to nested tables and build the config."""
    values = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items()}
    for assignment in overrides:
        table, key, value = parse_override(assignment)
        values.setdefault(table, {})
        if not isinstance(values[table], dict):
            raise ValueError(f"config key {table!r} must be a table")
        values[table][key] = value
    return from_dict(values)
