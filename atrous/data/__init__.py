"""Data: the built-in synthetic scenes, the paper's data sets, and its augmentation.

Every data set returns ``(image, label)``: without a transform, image uint8 (H, W, 3) RGB
and label int64 (H, W) of class indices and 255 (ignore); with one, what it returns
(:class:`TrainTransform` and :class:`EvalTransform` give tensors).

May import: :mod:`atrous.base` (building a dataset from a run config is
:mod:`atrous.recipe.datasets`).
"""

from atrous.data.bootstrap import HARD_VOC_CLASSES, Bootstrapped, images_with_classes
from atrous.data.cityscapes import CITYSCAPES_CLASSES, Cityscapes
from atrous.data.coco import COCOSegmentation
from atrous.data.palette import IGNORE_INDEX, VOC_CLASSES, colorize, voc_palette
from atrous.data.sbd import SBDSegmentation
from atrous.data.synthetic import SyntheticScenes
from atrous.data.transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform, TrainTransform
from atrous.data.voc import VOCSegmentation

__all__ = [
    "CITYSCAPES_CLASSES",
    "HARD_VOC_CLASSES",
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VOC_CLASSES",
    "Bootstrapped",
    "COCOSegmentation",
    "Cityscapes",
    "EvalTransform",
    "SBDSegmentation",
    "SyntheticScenes",
    "TrainTransform",
    "VOCSegmentation",
    "colorize",
    "images_with_classes",
    "voc_palette",
]
