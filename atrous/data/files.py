"""Reading images, label maps and split lists from disk, and checking what was read.

Shared by the real data sets (VOC, SBD, Cityscapes, COCO). Every failure names the file:
a missing file or split list, an image that Pillow cannot read, a label of another size
than its image, a label value that is neither a class nor 255. Nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from atrous.data.palette import IGNORE_INDEX


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a directory, else FileNotFoundError naming it and ``what`` it is."""
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path} is not a directory")
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else FileNotFoundError naming it and ``what`` it is."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def read_split(path: Path) -> list[str]:
    """The ids listed one per line in a split file (blank lines skipped)."""
    require_file(path, "split list")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"split list {path} is empty")
    return ids


def _open(path: Path) -> Image.Image:
    require_file(path, "file")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from error
    return image


def read_image(path: Path) -> np.ndarray:
    """An RGB image as uint8 (H, W, 3)."""
    return np.asarray(_open(path).convert("RGB"))


def read_index_png(path: Path) -> np.ndarray:
    """A label PNG's indices (palette "P" or grey "L" mode) as int64 (H, W).

    A palette PNG stores class indices and a colour table: the indices are the labels,
    never the colours. An RGB label image cannot be read this way, so it is an error.
    """
    image = _open(path)
    if image.mode not in ("P", "L"):
        raise ValueError(
            f"label {path} has mode {image.mode!r}; expected a palette ('P') or grey ('L') "
            "PNG of class indices"
        )
    return np.asarray(image).astype(np.int64)


def check_sample(
    image: np.ndarray, label: np.ndarray, num_classes: int, image_path: Any, label_path: Any
) -> None:
    """Raise ValueError naming the files if sizes differ or a label value is not allowed."""
    if image.shape[:2] != label.shape:
        raise ValueError(
            f"image {image_path} is {image.shape[1]}x{image.shape[0]} but its label "
            f"{label_path} is {label.shape[1]}x{label.shape[0]} (width x height)"
        )
    check_label(label, num_classes, label_path)


def check_label(label: np.ndarray, num_classes: int, label_path: Any) -> None:
    """Raise ValueError naming the file if a value is neither a class nor 255."""
    bad = (label < 0) | ((label >= num_classes) & (label != IGNORE_INDEX))
    if bad.any():
        values = sorted(set(np.unique(label[bad]).tolist()))[:10]
        raise ValueError(
            f"label {label_path} holds values {values} outside the classes "
            f"0..{num_classes - 1} and {IGNORE_INDEX}"
        )


def finish(
    image: np.ndarray, label: np.ndarray, transform: Callable[..., Any] | None
) -> tuple[Any, Any]:
    """Apply ``transform`` if there is one."""
    if transform is None:
        return image, label
    return transform(image, label)
