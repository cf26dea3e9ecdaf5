"""Draw a data set once into memory-mapped files, shared by every run and process.

Drawing a 128-pixel synthetic scene takes a few milliseconds, about a third of a training
iteration of the small recipe; a 256-pixel one four times that. :class:`RenderedSplit`
draws every ``(image, label)`` of a data set once into two ``.npy`` files (uint8 images
``N x H x W x 3``, uint8 labels ``N x H x W``: classes below 255 and 255, ignore, fit) and
reads them back memory-mapped: the operating system's page cache holds them once for all
the processes that read them (loader workers, ``torchrun`` ranks, runs side by side).

The files lie in ``folder/<key>/``. The key is a hash of what decides the samples: the data
set's class, its parameters (split, size, scale, length, seed, ignore width, its repr) and
the source of the modules that draw it (:func:`drawing_modules`), so that changing the
painter renders anew instead of reading stale scenes. Rendering happens under a lock
(:func:`atrous.base.locks.held_or_wait`: a second process waits, then reads), into a
temporary folder whose completion marker is written last and which is then renamed into
place; a folder without the marker (a killed run's) is never read: it is rendered again.
The samples read back are the source's, bit for bit (labels int64, as the source's).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from tqdm import tqdm

from atrous.base.errors import AtrousError
from atrous.base.locks import held_or_wait

#: The parameters of a data set that enter the key, where it has them.
PARAMETERS = ("split", "size", "scale", "length", "seed", "ignore_width")
#: The file written last: a folder without it is half-written.
MARKER = "complete"
#: Bumped when the files' layout changes (older caches are then rendered anew).
FORMAT = 1


def drawing_modules(cls: type) -> list[str]:
    """``cls``'s module and the modules of its own package that module takes names from,
    transitively: the code that draws its samples."""
    top = cls.__module__.split(".")[0]
    todo, seen = [cls.__module__], set()
    while todo:
        name = todo.pop()
        module = sys.modules.get(name)
        if name in seen or module is None:
            continue
        seen.add(name)
        for value in vars(module).values():
            home = value.__name__ if isinstance(value, types.ModuleType) else None
            home = home or getattr(value, "__module__", None)
            if isinstance(home, str) and home.split(".")[0] == top and home not in seen:
                todo.append(home)
    return sorted(seen)


def code_digest(cls: type) -> str:
    """A hash of the source of :func:`drawing_modules`."""
    digest = hashlib.sha256()
    for name in drawing_modules(cls):
        file = getattr(sys.modules[name], "__file__", None)
        if file and Path(file).is_file():
            digest.update(name.encode() + b"\0" + Path(file).read_bytes())
    return digest.hexdigest()[:16]


def render_key(dataset: Any) -> str:
    """The name of ``dataset``'s folder in a render cache: class, split and a hash of every
    parameter that decides its samples (see the module docstring)."""
    text = repr(dataset)
    if " object at 0x" in text:
        raise AtrousError(f"{type(dataset).__name__} has no repr of its parameters: it "
                          "cannot be keyed in a render cache")  # fmt: skip
    params = {name: getattr(dataset, name) for name in PARAMETERS if hasattr(dataset, name)}
    params.update(
        format=FORMAT,
        cls=f"{type(dataset).__module__}.{type(dataset).__qualname__}",
        repr=text,
        len=len(dataset),
        code=code_digest(type(dataset)),
    )
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=repr).encode())
    split = f"-{params['split']}" if "split" in params else ""
    return f"{type(dataset).__name__}{split}-{digest.hexdigest()[:20]}"


def _checked(index: int, image: Any, label: Any) -> tuple[np.ndarray, np.ndarray]:
    image, label = np.asarray(image), np.asarray(label)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise AtrousError(f"sample {index}: a render cache holds uint8 (H, W, 3) images, got "
                          f"{image.dtype} {image.shape} (is a transform set?)")  # fmt: skip
    if label.shape != image.shape[:2] or not np.issubdtype(label.dtype, np.integer):
        raise AtrousError(f"sample {index}: the label must be integers of shape "
                          f"{image.shape[:2]}, got {label.dtype} {label.shape}")  # fmt: skip
    if label.size and (label.min() < 0 or label.max() > 255):
        raise AtrousError(f"sample {index}: labels outside [0, 255] do not fit a render cache")
    return image, label


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def render(dataset: Any, path: Path, progress: bool = True) -> None:
    """Draw every sample of ``dataset`` into ``path`` (a folder), all or nothing: into a
    temporary folder, completed by :data:`MARKER`, then renamed to ``path``. The caller
    holds the lock of ``path``."""
    for stale in path.parent.glob(f"{path.name}.tmp-*"):  # a killed render's leftovers
        shutil.rmtree(stale, ignore_errors=True)
    tmp = path.parent / f"{path.name}.tmp-{os.getpid()}"
    tmp.mkdir(parents=True)
    n = len(dataset)
    first = _checked(0, *dataset[0])
    h, w = first[1].shape
    images = open_memmap(tmp / "images.npy", "w+", np.uint8, (n, h, w, 3))
    labels = open_memmap(tmp / "labels.npy", "w+", np.uint8, (n, h, w))
    for index in tqdm(range(n), disable=not progress, desc=f"rendering {path.name}"):
        image, label = first if index == 0 else _checked(index, *dataset[index])
        if label.shape != (h, w):
            raise AtrousError(f"sample {index}: shape {label.shape}, sample 0's is {(h, w)}: "
                              "a render cache holds images of one size")  # fmt: skip
        images[index], labels[index] = image, label
    images.flush()
    labels.flush()
    del images, labels
    meta = {"source": repr(dataset), "length": n, "shape": [h, w], "format": FORMAT}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    for name in ("images.npy", "labels.npy", "meta.json"):
        _sync(tmp / name)
    (tmp / MARKER).write_text("")
    _sync(tmp / MARKER)
    if path.exists():  # half-written: no marker
        shutil.rmtree(path)
    os.replace(tmp, path)


def is_complete(path: Path) -> bool:
    """Whether ``path`` holds a whole render (its marker, written last, is there)."""
    return (path / MARKER).is_file()


class RenderedSplit:
    """``dataset`` drawn once into ``folder/<key>/`` and read back memory-mapped.

    Args:
        dataset: a data set of raw ``(uint8 (H, W, 3), int (H, W))`` pairs (no transform),
            every image of one size, with a repr that names its parameters.
        folder: the render cache, shared by every data set and process.
        progress: a progress bar while rendering.

    ``ds[i]`` is ``dataset[i]``: the same image (uint8) and label (int64). ``class_names``,
    ``palette``, ``num_classes`` and ``scene_names`` are the source's.
    """

    def __init__(self, dataset: Any, folder: str | Path, progress: bool = True) -> None:
        if getattr(dataset, "transform", None) is not None:
            raise AtrousError(f"{dataset!r} has a transform: a render cache holds the raw "
                              "(image, label) pairs; transform them after reading")  # fmt: skip
        self.path = Path(folder) / render_key(dataset)
        self.source = repr(dataset)
        self.length = len(dataset)
        for name in ("class_names", "palette", "num_classes", "scene_names"):
            if hasattr(dataset, name):
                setattr(self, name, getattr(dataset, name))
        if not is_complete(self.path):
            with held_or_wait(self.path, f"rendering {self.source} into {self.path}"):
                if not is_complete(self.path):  # another process may have rendered it
                    render(dataset, self.path, progress)
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The memory-mapped images ``(N, H, W, 3)`` and labels ``(N, H, W)``, read-only."""
        if self._arrays is None:
            images = np.load(self.path / "images.npy", mmap_mode="r")
            labels = np.load(self.path / "labels.npy", mmap_mode="r")
            if len(images) != self.length or len(labels) != self.length:
                raise AtrousError(f"{self.path} holds {len(images)} images, not "
                                  f"{self.length}: delete the folder")  # fmt: skip
            self._arrays = (images, labels)
        return self._arrays

    def __getstate__(self) -> dict[str, Any]:  # loader workers map the files themselves
        return {**self.__dict__, "_arrays": None}

    def __len__(self) -> int:
        return self.length

    def _index(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for length {self.length}")
        return index

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        images, labels = self.arrays()
        index = self._index(index)
        return np.array(images[index]), labels[index].astype(np.int64)

    def load_label(self, index: int) -> np.ndarray:
        """The label of image ``index`` (int64), as the source's ``load_label``."""
        return self.arrays()[1][self._index(index)].astype(np.int64)

    def __repr__(self) -> str:
        return f"RenderedSplit({self.source}, folder={str(self.path.parent)!r})"
