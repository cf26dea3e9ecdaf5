"""The scaled recipe's stand-in for ImageNet: ``atrous pretrain --recipe scaled``.

Each backbone a recipe's experiments use (the deeper network of the base config, and the
shallower one, ``model.depths = [1, 1, 1, 3]``, that stands in for ResNet-50) is pre-trained
once (:mod:`atrous.training.pretrain`) on the recipe's scenes and crops, and written as
``OUT/<recipe>-<deep|shallow>.safetensors`` with the command, configs, machine, commit and
held-out accuracy in its metadata. Committed into ``atrous/pretrained``, the backbones are
loaded by name (``train.pretrained = "scaled-deep"``), and every row records their hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

from atrous.base.errors import AtrousError, AtrousFileExistsError
from atrous.experiments.design import RECIPES
from atrous.experiments.provenance import cpu_model, git_commit
from atrous.recipe.config import load_config
from atrous.recipe.configs import recipe_path
from atrous.training.pretrain import PretrainConfig, pretrain, save_pretrained

#: The backbones a recipe's experiments use: name -> the depths of block1..block4.
BACKBONES = {"deep": None, "shallow": (1, 1, 1, 3)}


def pretrain_configs(recipe: str, iterations: int | None = None) -> dict[str, PretrainConfig]:
    """The pre-training of each backbone of ``recipe``, on the recipe's scenes and crops."""
    if recipe not in RECIPES or recipe == "small":
        raise AtrousError(f"--recipe must be one whose runs start from pre-trained backbones: "
                          f"{sorted(set(RECIPES) - {'small'})}, got {recipe!r}")  # fmt: skip
    config = load_config(recipe_path(RECIPES[recipe]))
    data = config.data
    out = {}
    for name, depths in BACKBONES.items():
        network = config.network if depths is None else dataclasses.replace(
            config.network, depths=depths)  # fmt: skip
        out[f"{recipe}-{name}"] = PretrainConfig(
            network=dataclasses.replace(network, bn_momentum=0.1),
            size=data.synthetic_size, scale=data.synthetic_scale, tint=data.synthetic_tint,
            jitter=data.synthetic_jitter, clearance=data.synthetic_clearance,
            crop_size=data.crop_size,
            scale_range=data.scale_range,
            **({"iterations": iterations} if iterations else {}),
        )  # fmt: skip
    return out


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (what rows record of the backbone they started from)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pretrain_recipe(
    recipe: str, out: str | Path, only: Sequence[str] = (), iterations: int | None = None,
    progress: bool = True,
) -> list[Path]:  # fmt: skip
    """Pre-train the backbones of ``recipe`` into ``out`` (never over an existing file)."""
    configs = pretrain_configs(recipe, iterations)
    unknown = [n for n in only if n not in BACKBONES]
    if unknown:
        raise AtrousError(f"--only must name backbones among {list(BACKBONES)}, got {unknown}")
    out, written = Path(out), []
    for name, config in configs.items():
        if only and name.split("-", 1)[1] not in only:
            continue
        path = out / f"{name}.safetensors"
        if path.exists():
            raise AtrousFileExistsError(f"{path} exists: a committed backbone is never "
                                        f"replaced; give another --out")  # fmt: skip
        model, record = pretrain(config, progress)
        meta = {"command": " ".join(["python -m atrous", *sys.argv[1:]]),
                "config": dataclasses.asdict(config), "record": record,
                "cpu": cpu_model(), "commit": git_commit()}  # fmt: skip
        written.append(save_pretrained(model, path, meta))
        print(f"wrote {path} (sha256 {file_sha256(path)[:16]}): {record}", file=sys.stderr)
    return written
