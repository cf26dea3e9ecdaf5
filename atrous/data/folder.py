"""Your own data: a folder of images and label masks (``data.dataset = "folder"``).

The layout (``root`` is ``data.root``)::

    images/<stem>.jpg|.jpeg|.png|.bmp|.tif|.tiff
    labels/<stem>.png         class indices (palette "P" or grey "L" PNG), 255 = ignore;
                              or an RGB colour mask, read through the colours of the classes
    classes.toml              the class names, in label order, with optional colours
    splits/train.txt, val.txt optional: stems one per line; without them a seeded split
                              puts ``val_fraction`` of the images into val

Suffixes are matched in any case (``x.PNG`` is ``x.png``); each stem has one image and one
label (``x.png`` beside ``x.jpg`` is refused). Hidden files, those whose name starts with
``.`` (macOS's ``._x.png`` and ``.DS_Store`` among them), are skipped in ``images/`` and
``labels/``. Split files and class files are UTF-8, a byte order mark allowed.

``classes.toml``::

    [[class]]
    name = "background"
    color = [0, 0, 0]        # optional; VOC's palette otherwise
    [[class]]
    name = "wire"

Only ``[[class]]`` tables with the keys ``name`` and ``color`` (any other key is refused, so
that a misspelt ``colour`` is not silently ignored). Or ``classes.txt``: one class a line, its
name one word (no spaces: write names with spaces in ``classes.toml``), optionally followed by
its colour ``R G B``, three integers in 0..255. Names and colours (given or VOC's) must differ
from class to class. In an RGB mask the colour :data:`~atrous.data.palette.IGNORE_COLOUR`
(224, 224, 192), VOC's cream, is the ignore label 255, so no class may take it. Every problem
is an :class:`~atrous.base.errors.AtrousError` naming the file: a missing label, an image and
label of different sizes, a value outside the classes and 255, a colour that is no class's
colour, a corrupt file. :func:`write_example_folder` writes a small such folder from the
synthetic scenes with merged classes, for the example of docs/src/own-data.md.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from atrous.base.errors import AtrousError, AtrousFileNotFoundError
from atrous.data.files import (
    check_sample,
    finish,
    read_image,
    read_index_png,
    read_split,
    require_dir,
)
from atrous.data.palette import IGNORE_COLOUR, IGNORE_INDEX, full_palette, voc_palette

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


#: The keys of a ``[[class]]`` table in ``classes.toml``.
CLASS_KEYS = ("name", "color")


def class_file(root: Path) -> Path:
    """``root``'s ``classes.toml``, else its ``classes.txt``; FileNotFoundError if neither."""
    for name in ("classes.toml", "classes.txt"):
        if (root / name).is_file():
            return root / name
    raise AtrousFileNotFoundError(
        f"class file not found: {root / 'classes.toml'} (or classes.txt) must list the class names"
    )


def read_text(path: Path) -> str:
    """A UTF-8 text file (a byte order mark allowed), or AtrousError naming it."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise AtrousError(f"{path} is not UTF-8 text: {error}") from None


def _toml_entries(path: Path) -> list[tuple[Any, Any]]:
    try:
        table = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as error:
        raise AtrousError(f"{path} is not valid TOML: {error}") from None
    allowed = " and ".join(repr(k) for k in sorted(CLASS_KEYS))
    extra = sorted(set(table) - {"class"})
    if extra:
        raise AtrousError(f"{path}: unknown key {extra[0]!r}: the file holds only [[class]] "
                          f"tables (keys {allowed})")  # fmt: skip
    classes = table.get("class")
    if not isinstance(classes, list) or not all(isinstance(c, dict) for c in classes):
        raise AtrousError(f'{path} must hold [[class]] tables with name = "..."')
    for k, c in enumerate(classes):
        extra = sorted(set(c) - set(CLASS_KEYS))
        if extra:
            raise AtrousError(f"{path}: class {k} ({c.get('name')!r}) has the unknown key "
                              f"{extra[0]!r}: the allowed keys are {allowed}")  # fmt: skip
    return [(c.get("name"), c.get("color")) for c in classes]


def _txt_entries(path: Path) -> list[tuple[Any, Any]]:
    entries: list[tuple[Any, Any]] = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        words = line.split()
        if not words:
            continue
        colour = [int(w) if w.isascii() and w.isdigit() else -1 for w in words[1:]]
        if len(words) not in (1, 4) or not all(0 <= v <= 255 for v in colour):
            raise AtrousError(
                f"{path} line {number}: {line!r}: a line is a class name of one word (no "
                f"spaces; write names with spaces in classes.toml), optionally followed by its "
                f"colour R G B, three integers in 0..255"
            )
        entries.append((words[0], colour or None))
    return entries


def _check_colours(where: Path, names: list[str], colours: np.ndarray, given: list[bool]) -> None:
    """No two classes of one colour (an RGB mask could not tell them apart), none of 255's."""
    seen: dict[tuple[int, ...], int] = {}
    for k, colour in enumerate(map(tuple, colours.tolist())):
        if colour == tuple(IGNORE_COLOUR.tolist()):
            raise AtrousError(f"{where}: class {names[k]!r} has the colour {colour}, which is the "
                              f"ignore label {IGNORE_INDEX}'s in RGB masks: choose another "
                              f"color")  # fmt: skip
        if colour in seen:
            j = seen[colour]
            how = " ".join("given" if given[i] else "VOC's default" for i in (j, k))
            raise AtrousError(f"{where}: classes {names[j]!r} and {names[k]!r} have the same "
                              f"colour {colour} ({how}), so an RGB mask could not tell them "
                              f"apart: give each class its own color")  # fmt: skip
        seen[colour] = k


def read_classes(root: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """(names, colours (K, 3) uint8) from ``classes.toml`` or ``classes.txt`` in ``root``."""
    where = class_file(root)
    entries = _toml_entries(where) if where.suffix == ".toml" else _txt_entries(where)
    if not 1 <= len(entries) <= 255:
        raise AtrousError(f"{where} must list 1 to 255 classes, found {len(entries)}")
    names, colours = [], voc_palette(len(entries)).astype(np.int64)
    for k, (name, colour) in enumerate(entries):
        if not isinstance(name, str) or not name:
            raise AtrousError(f"{where}: class {k} has no name")
        if colour is not None:
            if not (isinstance(colour, list) and len(colour) == 3
                    and all(type(v) is int and 0 <= v <= 255 for v in colour)):  # fmt: skip
                raise AtrousError(f"{where}: class {name!r} color must be [R, G, B] in 0..255")
            colours[k] = colour
        names.append(name)
    if len(set(names)) != len(names):
        raise AtrousError(f"{where}: class names repeat: {names}")
    _check_colours(where, names, colours, [colour is not None for _, colour in entries])
    return tuple(names), colours.astype(np.uint8)


def _by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """The files of ``folder`` with one of ``suffixes`` (any case) by stem, hidden ones
    skipped; AtrousError naming both files of a stem that has two."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in suffixes:
            continue
        if path.stem in found:
            raise AtrousError(f"{found[path.stem]} and {path} share the stem {path.stem!r}: "
                              f"keep one (a stem names one image and one label)")  # fmt: skip
        found[path.stem] = path
    return found


def _stems(root: Path) -> dict[str, Path]:
    images = require_dir(root / "images", "images folder")
    found = _by_stem(images, IMAGE_SUFFIXES)
    if not found:
        raise AtrousError(f"{images} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def split_stems(stems: list[str], split: str, val_fraction: float, seed: int) -> list[str]:
    """The seeded split: a permutation of the sorted stems, the first ``val_fraction`` val."""
    order = np.random.default_rng(seed).permutation(len(stems))
    n_val = max(1, round(val_fraction * len(stems))) if len(stems) > 1 else 0
    chosen = order[:n_val] if split == "val" else order[n_val:]
    return [sorted(stems)[i] for i in sorted(chosen)]


class FolderDataset:
    """``split`` (``train`` or ``val``) of a folder dataset; ``ds[i]`` is ``(image, label)``."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        val_fraction: float = 0.1,
        seed: int = 0,
        transform: Callable[..., Any] | None = None,
    ) -> None:
        self.root = Path(root)
        require_dir(self.root, "data.root")
        self.class_file = class_file(self.root)
        self.class_names, self.palette = read_classes(self.root)
        self.num_classes = len(self.class_names)
        images = _stems(self.root)
        split_file = self.root / "splits" / f"{split}.txt"
        if split_file.is_file():
            stems = read_split(split_file)
        elif split in ("train", "val"):
            stems = split_stems(list(images), split, val_fraction, seed)
        else:
            raise AtrousFileNotFoundError(f"split {split!r}: {split_file} does not exist")
        missing = [s for s in stems if s not in images]
        if missing:
            raise AtrousFileNotFoundError(f"{split_file}: no image for {missing[:5]}")
        self.images = [images[s] for s in stems]
        labels = _by_stem(require_dir(self.root / "labels", "labels folder"), (".png",))
        absent = [str(self.root / "labels" / f"{s}.png") for s in stems if s not in labels]
        if absent:
            raise AtrousFileNotFoundError(f"label(s) not found: {', '.join(absent[:5])}")
        self.labels = [labels[s] for s in stems]
        self.split, self.transform = split, transform

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return f"FolderDataset({str(self.root)!r}, {self.split!r}, {len(self)} images)"

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image = read_image(self.images[index])
        label = read_index_png(self.labels[index], self.palette)
        check_sample(image, label, self.num_classes, self.images[index], self.labels[index])
        return finish(image, label, self.transform)


def check_example_args(train: Any, val: Any, size: Any, prefix: str = "") -> None:
    """AtrousError naming ``prefix`` + the argument unless ``train`` (training images) and
    ``val`` (val images) are >= 1 and ``size`` (the side) is in :data:`EXAMPLE_SIZES`."""
    for name, value, (low, high) in (("train", train, (1, None)), ("val", val, (1, None)),
                                     ("size", size, EXAMPLE_SIZES)):  # fmt: skip
        if type(value) is not int or value < low or (high is not None and value > high):
            allowed = f">= {low}" if high is None else f"in {low}..{high} (pixels)"
            raise AtrousError(f"{prefix}{name} must be an integer {allowed}, got {value!r}")


#: The example's image sides: the synthetic scenes' smallest, and one that stays quick.
EXAMPLE_SIZES = (32, 1024)
#: The example's classes: the synthetic scenes' 7 merged into 3.
EXAMPLE_CLASSES = (("background", [0, 0, 0]), ("wire", [230, 60, 40]), ("object", [60, 120, 230]))
_MERGE = np.array([0, 1, 2, 2, 2, 2, 2])  # background, wire, ball/box/star/sail/tent


def write_example_folder(
    root: str | Path, train: int = 200, val: int = 50, size: int = 128
) -> Path:
    """A folder dataset from the synthetic scenes with 3 merged classes (background, wire,
    object): ``train`` + ``val`` images, labels as palette PNGs, ``splits/``, classes.toml.
    Checks its arguments (:func:`check_example_args`) and refuses a folder that holds files
    already, before it writes anything."""
    from atrous.data.synthetic import SyntheticScenes

    check_example_args(train, val, size)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise AtrousError(f"{root} is a file: give a new folder for the example")
    if root.exists() and any(root.iterdir()):
        raise AtrousError(f"{root} is not empty: give a new folder for the example")
    for sub in ("images", "labels", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    lines = []
    for name, colour in EXAMPLE_CLASSES:
        lines += ["[[class]]", f'name = "{name}"', f"color = {colour}", ""]
    (root / "classes.toml").write_text("\n".join(lines))
    full = full_palette(np.array([c for _, c in EXAMPLE_CLASSES]))
    for split, count in (("train", train), ("val", val)):
        scenes = SyntheticScenes(split, size=size, length=count)
        stems = []
        for i in range(count):
            image, label = scenes[i]
            merged = np.where(label == IGNORE_INDEX, IGNORE_INDEX, _MERGE[np.minimum(label, 6)])
            stem = f"{split}_{i:04d}"
            Image.fromarray(image).save(root / "images" / f"{stem}.png")
            png = Image.fromarray(merged.astype(np.uint8), mode="P")
            png.putpalette(full.flatten().tolist())
            png.save(root / "labels" / f"{stem}.png")
            stems.append(stem)
        (root / "splits" / f"{split}.txt").write_text("\n".join(stems) + "\n")
    return root
