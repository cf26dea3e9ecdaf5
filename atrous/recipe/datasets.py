"""Datasets and transforms from the ``[data]`` table of a config (:class:`DataConfig`).

The one place that maps ``data.dataset`` to a loader, used by training, evaluation and the
demo alike. Every dataset returns raw ``(uint8 (H, W, 3), int64 (H, W))`` pairs; the
transforms of Sec. 4.1 turn them into tensors: :func:`train_transform` (random scale,
crop, flip, normalisation) and :func:`eval_transform` (normalisation of the whole image).
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from atrous.base.errors import AtrousError, AtrousFileNotFoundError
from atrous.data.cityscapes import Cityscapes
from atrous.data.coco import COCOSegmentation
from atrous.data.folder import FolderDataset
from atrous.data.render_cache import RenderedSplit
from atrous.data.sbd import SBDSegmentation
from atrous.data.synthetic import DEFAULT_SIZE, SyntheticScenes
from atrous.data.transforms import EvalTransform, TrainTransform
from atrous.data.voc import VOCSegmentation
from atrous.recipe.config import DataConfig

_LOADERS = {
    "voc": VOCSegmentation,
    "sbd": SBDSegmentation,
    "cityscapes": Cityscapes,
    "coco": COCOSegmentation,
}


def _check_roots(data: DataConfig, split: str) -> None:
    roots = {"root": data.root}
    if data.dataset == "voc" and split == "trainaug":
        roots["sbd_root"] = data.sbd_root
    for key, root in roots.items():
        if not root:
            raise AtrousError(
                f"data.{key} is empty: set it to the folder of the {data.dataset!r} dataset "
                f"(--set data.{key}=/path/to/it)"
            )
        if not Path(root).is_dir():
            raise AtrousFileNotFoundError(
                f"data.{key} {root!r} is not a folder: the {data.dataset!r} dataset must "
                f"be downloaded first (docs/src/data.md lists where) and data.{key} set to it"
            )


def synthetic_scenes(data: DataConfig, split: str, length: int | None = None) -> SyntheticScenes:
    """The synthetic scenes ``data`` describes (side, scale, cue strength), drawn live:
    ``length`` of them (default: the config's length of that split, else the split's own)."""
    if length is None:
        lengths = {
            data.train_split: data.synthetic_length,
            data.val_split: data.synthetic_val_length,
        }
        length = lengths.get(split) or None
    return SyntheticScenes(split=split, size=data.synthetic_size or DEFAULT_SIZE, length=length,
                           scale=data.synthetic_scale, tint=data.synthetic_tint,
                           jitter=data.synthetic_jitter,
                           clearance=data.synthetic_clearance)  # fmt: skip


def _synthetic(data: DataConfig, split: str) -> SyntheticScenes | RenderedSplit:
    """The synthetic scenes of ``split``; read from ``data.cache_dir`` (drawn there once)
    when it is set."""
    scenes = synthetic_scenes(data, split)
    return RenderedSplit(scenes, data.cache_dir) if data.cache_dir else scenes


def build_dataset(data: DataConfig, split: str) -> Dataset:
    """The dataset ``data.dataset`` of ``split``, returning raw (image, label) pairs.

    ``voc`` with the split ``trainaug`` is the paper's 10,582 images (VOC train + SBD, minus
    VOC val): it needs ``data.sbd_root`` as well as ``data.root``.
    """
    if data.dataset == "synthetic":
        return _synthetic(data, split)
    _check_roots(data, split)
    if data.dataset == "voc" and split == "trainaug":
        return SBDSegmentation(data.sbd_root, "trainaug", voc_root=data.root)
    if data.dataset == "folder":
        return FolderDataset(data.root, split, data.val_fraction, data.split_seed)
    return _LOADERS[data.dataset](data.root, split)


def train_transform(data: DataConfig) -> TrainTransform:
    """The augmentation of Sec. 4.1 with ``data``'s crop, scale range and flip."""
    return TrainTransform(crop_size=data.crop_size, scale_range=data.scale_range, flip=data.flip)


def eval_transform() -> EvalTransform:
    """Normalisation only (whole images, no crop), as evaluation and inference use."""
    return EvalTransform()
