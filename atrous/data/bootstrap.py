"""Hard-image bootstrapping (Sec. 4.3): show the hard classes' images more often.

"we duplicate the images that contain hard classes (namely bicycle, chair, table,
pottedplant, and sofa) in the training set." :class:`Bootstrapped` wraps a data set and
lists every image that holds a pixel of a hard class ``copies`` times (the paper: twice),
the others once. Finding them reads every label once (``load_label``), with progress.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from atrous.base.errors import AtrousError
from atrous.data.palette import VOC_CLASSES

#: VOC's hard classes in the paper: bicycle, chair, dining table, potted plant, sofa.
HARD_VOC_CLASSES: tuple[int, ...] = tuple(
    VOC_CLASSES.index(name) for name in ("bicycle", "chair", "diningtable", "pottedplant", "sofa")
)


def images_with_classes(dataset: Any, classes: Sequence[int], progress: bool = False) -> list[int]:
    """Indices of the images whose label holds at least one pixel of any of ``classes``.

    Uses ``dataset.load_label(i)`` (the label alone, no transform).
    """
    if not hasattr(dataset, "load_label"):
        raise AtrousError(f"{type(dataset).__name__} has no load_label(index) to scan labels")
    wanted = np.asarray(sorted(set(int(c) for c in classes)), dtype=np.int64)
    found = []
    for index in tqdm(range(len(dataset)), disable=not progress, desc="hard images"):
        if np.isin(dataset.load_label(index), wanted).any():
            found.append(index)
    return found


class Bootstrapped:
    """``dataset`` with each image holding a ``hard_classes`` pixel repeated ``copies`` times.

    Args:
        dataset: any data set with ``__getitem__``, ``__len__`` and ``load_label``.
        hard_classes: class indices (default: VOC's bicycle, chair, dining table, potted
            plant, sofa); each must be in ``[0, dataset.num_classes)`` when that is known.
        copies: how often a hard image is listed (the paper duplicates: 2).
        progress: show a progress bar while scanning the labels.

    ``ds[i]`` is the wrapped data set's sample ``ds.indices[i]``: every image once in its
    original order, then the extra copies of the hard ones; shuffle when loading.
    ``num_classes``, ``class_names`` and ``palette`` are the wrapped data set's.
    """

    def __init__(
        self,
        dataset: Any,
        hard_classes: Sequence[int] = HARD_VOC_CLASSES,
        copies: int = 2,
        progress: bool = False,
    ) -> None:
        if not isinstance(copies, int) or copies < 1:
            raise AtrousError(f"copies must be an int >= 1, got {copies!r}")
        if not hard_classes:
            raise AtrousError("hard_classes must name at least one class")
        num_classes = getattr(dataset, "num_classes", None)
        for c in hard_classes:
            if num_classes is not None and not 0 <= int(c) < num_classes:
                raise AtrousError(f"hard class {c} is outside [0, {num_classes})")
        self.dataset, self.hard_classes, self.copies = dataset, tuple(hard_classes), copies
        self.hard_indices = images_with_classes(dataset, hard_classes, progress=progress)
        self.indices = list(range(len(dataset))) + self.hard_indices * (copies - 1)
        for name in ("num_classes", "class_names", "palette"):
            if hasattr(dataset, name):
                setattr(self, name, getattr(dataset, name))

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return (
            f"Bootstrapped({self.dataset!r}, hard_classes={self.hard_classes}, "
            f"copies={self.copies}) [{len(self.hard_indices)} hard of {len(self.dataset)}]"
        )

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def load_label(self, index: int) -> np.ndarray:
        return self.dataset.load_label(self.indices[index])
