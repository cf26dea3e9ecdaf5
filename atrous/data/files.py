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
from PIL import Image, ImageOps, UnidentifiedImageError

from atrous.base.errors import AtrousError, AtrousFileNotFoundError
from atrous.data.palette import IGNORE_COLOUR, IGNORE_INDEX, outside_classes


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a directory, else FileNotFoundError naming it and ``what`` it is."""
    if not path.is_dir():
        raise AtrousFileNotFoundError(f"{what} not found: {path} is not a directory")
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else FileNotFoundError naming it and ``what`` it is."""
    if not path.is_file():
        raise AtrousFileNotFoundError(f"{what} not found: {path}")
    return path


def read_split(path: Path) -> list[str]:
    """The ids listed one per line in a split file (blank lines skipped; UTF-8, a byte order
    mark allowed)."""
    require_file(path, "split list")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise AtrousError(f"split list {path} is not UTF-8 text: {error}") from None
    ids = [line.split()[0] for line in text.splitlines() if line.strip()]
    if not ids:
        raise AtrousError(f"split list {path} is empty")
    return ids


def _open(path: Path) -> Image.Image:
    require_file(path, "file")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
            Image.DecompressionBombError) as error:  # fmt: skip
        raise AtrousError(f"cannot read image {path}: {error}") from None
    return image


#: 16-bit modes: PIL's names for one 16-bit channel (PNG, TIFF).
_MODES_16 = ("I;16", "I;16B", "I;16L", "I;16N")


def to_rgb(image: Image.Image, path: Any = "image") -> np.ndarray:
    """An image of any PIL mode as uint8 (H, W, 3) RGB, or AtrousError naming ``path``.

    - 8-bit modes (``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ...): PIL's conversion;
      alpha (``LA``, ``RGBA``, ``PA``) is dropped, not blended.
    - 16-bit grey (``I;16*``) and 32-bit integer ``I`` (how PIL opens 16-bit PNGs): the full
      16-bit range 0..65535 scaled to 0..255, ``round(v * 255 / 65535)``; an ``I`` image with
      values outside 0..65535 is refused.
    - 32-bit float ``F``: values in 0..1 are scaled by 255; any other range is refused (a
      float image has no standard range).
    """
    mode = image.mode
    if mode in _MODES_16 or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode == "F":
            if not (np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
                raise AtrousError(
                    f"image {path} is 32-bit float (mode 'F') with values outside 0..1 "
                    f"(range {values.min():g}..{values.max():g}): convert it to 8 bits first"
                )
            grey = values * 255.0
        else:
            if values.min() < 0 or values.max() > 65535:
                raise AtrousError(
                    f"image {path} is 32-bit integer (mode {mode!r}) with values outside the "
                    f"16-bit range 0..65535: convert it to 8 bits first"
                )
            grey = values * (255.0 / 65535.0)
        grey = np.rint(grey).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    try:
        return np.asarray(image.convert("RGB"))
    except (ValueError, OSError) as error:
        raise AtrousError(f"image {path} has mode {mode!r}, which cannot be converted to RGB: "
                          f"{error}") from None  # fmt: skip


def read_image(path: Path) -> np.ndarray:
    """An image file as uint8 (H, W, 3) RGB, in the pixel order stored in the file
    (:func:`to_rgb`; a dataset's labels are aligned with that order, not with EXIF's)."""
    return to_rgb(_open(path), path)


def read_photo(path: Path) -> np.ndarray:
    """A photo as uint8 (H, W, 3) RGB, turned as viewers show it (EXIF orientation)."""
    image = _open(path)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception as error:  # a corrupt EXIF block
        raise AtrousError(f"image {path}: cannot apply its EXIF orientation: {error}") from None
    return to_rgb(image, path)


def read_index_png(path: Path, colours: np.ndarray | None = None) -> np.ndarray:
    """A label PNG's class indices as int64 (H, W).

    A palette ("P") or grey ("L") PNG stores class indices: the indices are the labels,
    never the palette's colours. An RGB(A) colour mask is read through ``colours`` (K, 3),
    colour ``colours[k]`` being class ``k`` and :data:`~atrous.data.palette.IGNORE_COLOUR`
    the ignore label 255 (unless a class has that colour); without ``colours``, or with a
    colour that is neither, it is an error naming the file (and the colour).
    """
    image = _open(path)
    if image.mode in ("P", "L"):
        return np.asarray(image).astype(np.int64)
    if colours is None or image.mode not in ("RGB", "RGBA"):
        expected = "a palette ('P') or grey ('L') PNG of class indices" + (
            "" if colours is None else ", or an RGB colour mask"
        )
        raise AtrousError(f"label {path} has mode {image.mode!r}; expected {expected}")
    rgb = np.asarray(image.convert("RGB")).astype(np.int64)
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # (H, W)
    label = np.full(codes.shape, -1, dtype=np.int64)
    r, g, b = IGNORE_COLOUR.astype(np.int64)
    label[codes == (r << 16 | g << 8 | b)] = IGNORE_INDEX
    for k, (r, g, b) in enumerate(np.asarray(colours, dtype=np.int64)):
        label[codes == (r << 16 | g << 8 | b)] = k
    if (label < 0).any():
        y, x = np.argwhere(label < 0)[0]
        raise AtrousError(
            f"label {path}: colour {tuple(int(v) for v in rgb[y, x])} at (row {y}, col {x}) is "
            f"no class's colour in the class file, nor the ignore colour "
            f"{tuple(IGNORE_COLOUR.tolist())} (label {IGNORE_INDEX})"
        )
    return label


def check_sample(
    image: np.ndarray, label: np.ndarray, num_classes: int, image_path: Any, label_path: Any
) -> None:
    """Raise ValueError naming the files if sizes differ or a label value is not allowed."""
    if image.shape[:2] != label.shape:
        raise AtrousError(
            f"image {image_path} is {image.shape[1]}x{image.shape[0]} but its label "
            f"{label_path} is {label.shape[1]}x{label.shape[0]} (width x height)"
        )
    check_label(label, num_classes, label_path)


def check_class_count(dataset: Any, num_classes: int, name: str) -> None:
    """Refused before any work, AtrousError naming ``data.dataset`` ``name``: a dataset that
    declares more classes (``num_classes``) than the network predicts; and one whose classes
    come from a class file (``class_file``, the folder dataset) listing fewer (evaluation
    scores each class of the file, so the numbers must agree)."""
    declared = getattr(dataset, "num_classes", None)
    if declared is not None and declared > num_classes:
        raise AtrousError(
            f"data.dataset {name!r} has {declared} classes but model.num_classes is "
            f"{num_classes}: set model.num_classes = {declared} (labels are 0..{declared - 1} "
            f"and 255)"
        )
    listed_in = getattr(dataset, "class_file", None)
    if declared is not None and listed_in is not None and declared < num_classes:
        raise AtrousError(
            f"model.num_classes is {num_classes} but the class file {listed_in} of "
            f"data.dataset {name!r} lists {declared} classes: set model.num_classes = "
            f"{declared}, or list all {num_classes} classes in the class file"
        )


def check_label(label: np.ndarray, num_classes: int, label_path: Any) -> None:
    """Raise ValueError naming the file if a value is neither a class nor 255."""
    bad = outside_classes(label, num_classes)
    if bad.any():
        values = sorted(set(np.unique(label[bad]).tolist()))[:10]
        raise AtrousError(
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
