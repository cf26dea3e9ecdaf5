"""The recipes shipped with atrous: the TOML files in ``atrous/configs``.

They travel inside the package (read with :mod:`importlib.resources`, so an installed wheel
has them as a checkout does): ``demo`` (``atrous demo``), ``reproduce`` (the base of every
reproduction), the paper's VOC, COCO and Cityscapes recipes, and ``own_data``.
:func:`recipe_path` turns a name into its file; :func:`config_argument` lets a command take
either a file or a recipe's name.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from atrous.base.errors import AtrousError


def recipe_names() -> list[str]:
    """The names of the shipped recipes (``demo``, ``reproduce``, ...), sorted."""
    folder = resources.files("atrous") / "configs"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def recipe_path(name: str) -> Path:
    """The file of the shipped recipe ``name``; AtrousError naming the recipes otherwise."""
    if name not in recipe_names():
        raise AtrousError(f"no shipped recipe {name!r}; the recipes are: "
                          f"{', '.join(recipe_names())}")  # fmt: skip
    return Path(str(resources.files("atrous") / "configs" / f"{name}.toml"))


def pretrained_names() -> list[str]:
    """The pre-trained backbones shipped in ``atrous/pretrained`` (``atrous pretrain``)."""
    folder = resources.files("atrous") / "pretrained"
    if not folder.is_dir():
        return []
    suffix = ".safetensors"
    return sorted(p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix))


def pretrained_path(value: str) -> Path:
    """``train.pretrained``: a file, or the name of a shipped pre-trained backbone
    (``scaled-deep``: ``atrous/pretrained/scaled-deep.safetensors``)."""
    if "/" in value or "." in value or value not in pretrained_names():
        return Path(value)
    return Path(str(resources.files("atrous") / "pretrained" / f"{value}.safetensors"))


def config_argument(text: str) -> Path:
    """A command's config argument: a TOML file if one exists at ``text``, else the shipped
    recipe of that name (``atrous train demo``); the file's path otherwise, so that reading
    it names the missing file."""
    path = Path(text)
    if path.exists() or text.endswith(".toml") or text not in recipe_names():
        return path
    return recipe_path(text)
