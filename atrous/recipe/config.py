"""The configuration of a training run: plain frozen dataclasses read from a TOML file.

A run is described by one :class:`TrainConfig` with four tables, one per concern,
``[model]``, ``[data]``, ``[train]`` and ``[eval]`` (:mod:`atrous.recipe.tables` says what
each holds).

Every table checks itself when it is built (``__post_init__``), from a file or in Python:
unknown keys, values of the wrong type and values out of range fail before any training
starts, with a message naming the key. The file is read with the standard library's
:mod:`tomllib`; single fields are overridden from the command line with
``--set table.field=value``, the value written as in TOML (``--set train.base_lr=0.01``,
``--set model.multi_grid=[1,2,1]``; a bare word is a string: ``--set data.dataset=voc``).
The generic TOML-to-dataclass code is :mod:`atrous.base.tables`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atrous.base.errors import AtrousError
from atrous.base.scales import PAPER_SCALES
from atrous.base.tables import build_table, plain, read_toml, with_overrides
from atrous.model.config import DeepLabV3Config
from atrous.recipe.tables import (
    ADDED,
    BATCH_NORMS,
    DATASETS,
    UNHASHED,
    DataConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
)

__all__ = [
    "BATCH_NORMS",
    "DATASETS",
    "PAPER_SCALES",
    "DataConfig",
    "EvalConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "from_dict",
    "load_config",
]


@dataclass(frozen=True)
class TrainConfig:
    """A whole run: the network, the data, the optimisation and the evaluation."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: OptimConfig = field(default_factory=OptimConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        if self.eval.output_stride:
            self.network.check_output_stride(self.eval.output_stride, "eval.output_stride")

    @property
    def network(self) -> DeepLabV3Config:
        """The validated :class:`DeepLabV3Config` of ``[model]``."""
        return self.model.build()

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, no tuples) that :func:`from_dict` reads back."""
        return plain(dataclasses.asdict(self))

    def hashed_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the fields declared with :func:`atrous.recipe.tables.added`
        that hold their default: what a config's hash is taken of, so that a field added
        later leaves the hashes of every earlier config as they were."""
        values = self.to_dict()
        for name in ("data", "train", "eval"):
            table = getattr(self, name)
            for f in dataclasses.fields(table):
                unchanged = getattr(table, f.name) == f.default
                if f.metadata.get(ADDED) and (unchanged or f.metadata.get(UNHASHED)):
                    del values[name][f.name]
        return values


_TABLES = {"data": DataConfig, "train": OptimConfig, "eval": EvalConfig}


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from nested tables (as TOML gives them)."""
    tables = {"model", *_TABLES}
    for name, table in values.items():
        if name not in tables:
            raise AtrousError(f"unknown config table [{name}]; the tables are: {sorted(tables)}")
        if not isinstance(table, dict):
            raise AtrousError(f"config key {name!r} must be a table [{name}], got {table!r}")
    model = dict(values.get("model", {}))
    model = {**model.pop("overrides", {}), **model}  # as to_dict writes it; --set keys win
    preset = model.pop("preset", ModelConfig.preset)
    return TrainConfig(
        model=ModelConfig(preset=preset, overrides=model),
        **{name: build_table(cls, name, values.get(name, {})) for name, cls in _TABLES.items()},
    )


def load_config(
    path: str | Path | None = None, overrides: typing.Sequence[str] = ()
) -> TrainConfig:
    """Read a TOML file (None: all defaults) and apply ``--set`` style overrides."""
    return apply_overrides({} if path is None else read_toml(path), overrides)


def apply_overrides(values: dict[str, Any], overrides: typing.Sequence[str]) -> TrainConfig:
    """Apply ``table.key=value`` assignments to nested tables and build the config."""
    return from_dict(with_overrides(values, overrides))
