"""Writers of tiny data set trees in the exact on-disk formats (for the loader tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from atrous.data.palette import voc_palette


def random_image(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth uint8 (h, w, 3) image (smooth, so JPEG changes it little)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:h, 0:w]
    base = rng.uniform(40, 200, 3)
    return np.clip(base + 0.5 * rows[..., None] + 0.3 * cols[..., None], 0, 255).astype(np.uint8)


def random_label(h: int, w: int, seed: int, classes: int = 21, ignore: bool = True) -> np.ndarray:
    """A uint8 (h, w) label of a few rectangles of classes in [0, classes), 255 around them."""
    rng = np.random.default_rng(seed)
    label = np.zeros((h, w), dtype=np.uint8)
    for _ in range(3):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        label[y : y + 4, x : x + 5] = rng.integers(1, classes)
        if ignore:
            label[y, x : x + 5] = 255
    return label


def write_palette_png(path: Path, label: np.ndarray) -> None:
    """A VOC label file: a "P" mode PNG with the VOC palette, pixels = class indices."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(label.astype(np.uint8), mode="P")
    image.putpalette(voc_palette().ravel().tolist())
    image.save(path)


def write_jpeg(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=95)


def write_voc(root: Path, splits: dict[str, list[str]], size=(20, 24)) -> dict[str, np.ndarray]:
    """A VOC2012 tree with every id in ``splits``; returns the labels written, by id."""
    labels = {}
    ids = sorted({i for names in splits.values() for i in names})
    for k, name in enumerate(ids):
        write_jpeg(root / "JPEGImages" / f"{name}.jpg", random_image(*size, seed=k))
        labels[name] = random_label(*size, seed=100 + k)
        write_palette_png(root / "SegmentationClass" / f"{name}.png", labels[name])
    sets = root / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        (sets / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    return labels


def write_sbd_mat(path: Path, label: np.ndarray) -> None:
    """An SBD ``cls/<id>.mat``: struct GTcls with Segmentation, Boundaries, CategoriesPresent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    present = np.unique(label[(label > 0) & (label < 255)]).astype(np.uint8)
    boundaries = np.empty((20, 1), dtype=object)
    for c in range(20):
        boundaries[c, 0] = np.zeros((1, 1), dtype=np.uint8)
    gtcls = {"Segmentation": label.astype(np.uint8), "Boundaries": boundaries,
             "CategoriesPresent": present}  # fmt: skip
    scipy.io.savemat(str(path), {"GTcls": gtcls})


def write_sbd(root: Path, splits: dict[str, list[str]], size=(20, 24)) -> dict[str, np.ndarray]:
    """An SBD ``dataset/`` tree (img/, cls/, train.txt, val.txt); labels without 255."""
    labels = {}
    ids = sorted({i for names in splits.values() for i in names})
    for k, name in enumerate(ids):
        write_jpeg(root / "img" / f"{name}.jpg", random_image(*size, seed=50 + k))
        labels[name] = random_label(*size, seed=200 + k, ignore=False)
        write_sbd_mat(root / "cls" / f"{name}.mat", labels[name])
    for split, names in splits.items():
        (root / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    return labels


def write_cityscapes(
    root: Path, split: str, label_ids: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """A Cityscapes tree: leftImg8bit PNGs and gtFine ``*_labelIds.png`` (mode "L")."""
    for k, (stem, ids) in enumerate(sorted(label_ids.items())):
        city = stem.split("_")[0]
        image_path = root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(random_image(*ids.shape, seed=k)).save(image_path)
        label_path = root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png"
        label_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ids.astype(np.uint8), mode="L").save(label_path)
    return label_ids
