"""The scaled reproductions' design, written down before any full run: ``design.toml``.

``results/scaled/design.toml`` says what the runs will be and how they will be judged,
before the pilot and before any full run, and is not changed after seeing an outcome:

- ``recipe_hash`` and ``data_hash``: the base recipe (:func:`recipe_hash`) and the scenes it
  draws (:func:`data_hash`: the scene parameters and the first 20 train and val scenes
  themselves), so that a changed recipe or a changed scene painter cannot pass unnoticed;
- ``pretrained``: the SHA-256 of each pre-trained backbone;
- the statistics: the interval's level, the family's false-discovery rate (Benjamini-
  Hochberg), the p-value rule, the power and the least number of pairs;
- the pilot's seeds (disjoint from the final ones) and the CPU budget;
- ``[[claims]]``, in the order in which they are dropped if the budget is short, each with
  its seeds once the pilot has set them.

While ``frozen = false`` the file is a draft and no scaled row is a result; once it is
``true``, :func:`check_design` requires today's recipe, scenes and backbones to be the ones
it records (a test runs it on the committed file).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atrous.base.errors import AtrousError
from atrous.base.tables import read_toml
from atrous.experiments.design import RECIPES
from atrous.recipe.config import TrainConfig, load_config
from atrous.recipe.configs import pretrained_path, recipe_path
from atrous.recipe.datasets import synthetic_scenes

#: The data fields that decide the scenes (the rest decide augmentation and loading).
SCENE_FIELDS = ("dataset", "synthetic_size", "synthetic_scale", "synthetic_tint",
                "synthetic_jitter", "synthetic_clearance", "synthetic_length",
                "synthetic_val_length")  # fmt: skip


def recipe_hash(config: TrainConfig) -> str:
    """SHA-256 (16 hex digits) of a recipe's config, as the results' hashes see it."""
    text = json.dumps(config.hashed_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def data_hash(config: TrainConfig, scenes: int = 20) -> str:
    """SHA-256 (16 hex digits) of the scene parameters and the first ``scenes`` train and val
    scenes drawn with them (images, then labels as int64)."""
    d = config.data
    h = hashlib.sha256(json.dumps({k: getattr(d, k) for k in SCENE_FIELDS}).encode())
    for split in (d.train_split, d.val_split):
        drawn = synthetic_scenes(d, split, scenes)
        for i in range(scenes):
            image, label = drawn[i]
            h.update(image.tobytes())
            h.update(label.astype("int64").tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Design:
    """What ``design.toml`` holds (see the module docstring)."""

    frozen: bool
    recipe: str
    recipe_hash: str = ""
    data_hash: str = ""
    pretrained: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)


def load_design(path: str | Path) -> Design:
    """Read a ``design.toml``; AtrousError naming the file if a required key is missing."""
    values = read_toml(path)
    for key in ("frozen", "recipe"):
        if key not in values:
            raise AtrousError(f"{path}: missing key {key!r}")
    if values["recipe"] not in RECIPES:
        raise AtrousError(f"{path}: recipe must be one of {sorted(RECIPES)}")
    return Design(
        bool(values["frozen"]), values["recipe"], values.get("recipe_hash", ""),
        values.get("data_hash", ""), dict(values.get("pretrained", {})), values,
        list(values.get("claims", [])),
    )  # fmt: skip


def current_hashes(recipe: str) -> dict[str, Any]:
    """Today's recipe hash, data hash and pre-trained backbones' SHA-256 of ``recipe``."""
    config = load_config(recipe_path(RECIPES[recipe]))
    backbones = {}
    for name in ("deep", "shallow"):
        path = pretrained_path(f"{recipe}-{name}")
        if path.is_file():
            backbones[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"recipe_hash": recipe_hash(config), "data_hash": data_hash(config),
            "pretrained": backbones}  # fmt: skip


def check_design(design: Design) -> list[str]:
    """What differs between a frozen design and today's recipe, scenes and backbones
    (nothing is checked for a draft)."""
    if not design.frozen:
        return []
    now, problems = current_hashes(design.recipe), []
    for key in ("recipe_hash", "data_hash"):
        if getattr(design, key) != now[key]:
            problems.append(f"{key}: the design froze {getattr(design, key)!r}, today "
                            f"{now[key]!r}")  # fmt: skip
    if design.pretrained != now["pretrained"]:
        problems.append(f"pretrained: the design froze {design.pretrained}, today "
                        f"{now['pretrained']}")  # fmt: skip
    return problems
