"""Your own data: a folder of images and label masks (``data.dataset = "folder"``).

The layout (``root`` is ``data.root``)::

    images/<stem>.jpg|.jpeg|.png|.bmp|.tif|.tiff
    labels/<stem>.png         class indices (palette "P" or grey "L" PNG), 255 = ignore;
                              or an RGB colour mask, read through the colours of the classes
    classes.toml              the class names, in label order, with optional colours
    splits/train.txt, val.txt optional: stems one per line; without them a seeded split
                              puts ``val_fraction`` of the images into val

``classes.toml``::

    [[class]]
    name = "background"
    color = [0, 0, 0]        # optional; VOC's palette otherwise
    [[class]]
    name = "wire"

(or ``classes.txt``: one name a line, optionally followed by ``R G B``). Every problem is an
:class:`~atrous.base.errors.AtrousError` naming the file: a missing label, an image and label of
different sizes, a value outside the classes and 255, a colour that is no class's colour, a
corrupt file. :func:`write_example_folder` writes a small such folder from the synthetic
scenes with merged classes, for the README's example.
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
from atrous.data.palette import IGNORE_INDEX, full_palette, voc_palette

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def read_classes(root: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """(names, colours (K, 3) uint8) from ``classes.toml`` or ``classes.txt`` in ``root``."""
    toml_path, txt_path = root / "classes.toml", root / "classes.txt"
    entries: list[tuple[str, Any]] = []
    if toml_path.is_file():
        try:
            table = tomllib.loads(toml_path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise AtrousError(f"{toml_path} is not valid TOML: {error}") from None
        classes = table.get("class")
        if not isinstance(classes, list) or not all(isinstance(c, dict) for c in classes):
            raise AtrousError(f'{toml_path} must hold [[class]] tables with name = "..."')
        entries = [(c.get("name"), c.get("color")) for c in classes]
        where = toml_path
    elif txt_path.is_file():
        for line in txt_path.read_text().splitlines():
            parts = line.split()
            if parts:
                entries.append(
                    (parts[0], [int(v) for v in parts[1:4]] if len(parts) >= 4 else None)
                )
        where = txt_path
    else:
        raise AtrousFileNotFoundError(
            f"class file not found: {toml_path} (or classes.txt) must list the class names"
        )
    if not entries or not 1 <= len(entries) <= 255:
        raise AtrousError(f"{where} must list 1 to 255 classes, found {len(entries)}")
    names, colours = [], voc_palette(len(entries)).astype(np.int64)
    for k, (name, colour) in enumerate(entries):
        if not isinstance(name, str) or not name:
            raise AtrousError(f"{where}: class {k} has no name")
        if colour is not None:
            if not (isinstance(colour, list) and len(colour) == 3
                    and all(isinstance(v, int) and 0 <= v <= 255 for v in colour)):  # fmt: skip
                raise AtrousError(f"{where}: class {name!r} color must be [R, G, B] in 0..255")
            colours[k] = colour
        names.append(name)
    if len(set(names)) != len(names):
        raise AtrousError(f"{where}: class names repeat: {names}")
    return tuple(names), colours.astype(np.uint8)


def _stems(root: Path) -> dict[str, Path]:
    images = require_dir(root / "images", "images folder")
    found = {p.stem: p for p in sorted(images.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
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
        self.labels = [self.root / "labels" / f"{s}.png" for s in stems]
        absent = [str(p) for p in self.labels if not p.is_file()]
        if absent:
            raise AtrousFileNotFoundError(f"label(s) not found: {', '.join(absent[:5])}")
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


#: The example's classes: the synthetic scenes' 7 merged into 3.
EXAMPLE_CLASSES = (("background", [0, 0, 0]), ("wire", [230, 60, 40]), ("object", [60, 120, 230]))
_MERGE = np.array([0, 1, 2, 2, 2, 2, 2])  # background, wire, ball/box/star/sail/tent


def write_example_folder(
    root: str | Path, train: int = 200, val: int = 50, size: int = 128
) -> Path:
    """A folder dataset from the synthetic scenes with 3 merged classes (background, wire,
    object): ``train`` + ``val`` images, labels as palette PNGs, ``splits/``, classes.toml.
    Refuses to write into a folder that holds files already."""
    from atrous.data.synthetic import SyntheticScenes

    root = Path(root)
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
