r"""The segmentation metric: confusion matrix and mean intersection-over-union (Sec. 4).

PASCAL VOC scores a segmentation by the pixel intersection-over-union of each class,
averaged over the classes ("mIOU"). With the confusion matrix :math:`C`, whose entry
:math:`C_{gp}` counts the pixels of ground-truth class :math:`g` predicted as class
:math:`p`, the IoU of class :math:`c` is

.. math::

    \mathrm{IoU}_c = \frac{C_{cc}}{\sum_p C_{cp} + \sum_g C_{gc} - C_{cc}}
    = \frac{\text{true positives}}{\text{ground truth} + \text{predicted} - \text{both}}.

Pixels labelled with the ignore index (255 in VOC: object boundaries and "void") are
left out. A class that appears neither in the ground truth nor in the prediction has an
empty union: its IoU is undefined (NaN) and it is left out of the mean. Confusion
matrices of several images add up, so a dataset's score is computed from their sum.
"""

from __future__ import annotations

import numpy as np

from reference.conv import _is_int


def _label_array(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be an array of integer class indices, got {values.dtype}")
    return values.astype(np.int64, copy=False)


def confusion_matrix(
    pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int | None = 255
) -> np.ndarray:
    """Count pixels by (ground-truth class, predicted class).

    Args:
        pred: predicted class indices, an integer array of any shape, every value in
            ``[0, num_classes)``.
        target: ground-truth class indices, the same shape, every value in
            ``[0, num_classes)`` or equal to ``ignore_index``.
        num_classes: K, an int >= 1 (21 for PASCAL VOC).
        ignore_index: the label of pixels that are not scored (255 in VOC), or None.

    Returns:
        (K, K) int64 array; rows are the ground truth, columns the prediction.
    """
    if not _is_int(num_classes) or num_classes < 1:
        raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
    if ignore_index is not None and not _is_int(ignore_index):
        raise ValueError(f"ignore_index must be an int or None, got {ignore_index!r}")
    pred = _label_array(pred, "pred")
    target = _label_array(target, "target")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {pred.shape} and {target.shape}"
        )
    K = int(num_classes)
    if pred.size and (pred.min() < 0 or pred.max() >= K):
        bad = pred[(pred < 0) | (pred >= K)][0]
        raise ValueError(f"pred must lie in [0, num_classes={K}), found {bad}")
    keep = np.ones(target.shape, dtype=bool) if ignore_index is None else target != ignore_index
    target, pred = target[keep], pred[keep]  # (P,): the scored pixels
    if target.size and (target.min() < 0 or target.max() >= K):
        bad = target[(target < 0) | (target >= K)][0]
        raise ValueError(
            f"target must lie in [0, num_classes={K}) or equal ignore_index={ignore_index}, "
            f"found {bad}"
        )
    # One bin per (ground truth g, prediction p) pair: index g * K + p.
    return np.bincount(target * K + pred, minlength=K * K).reshape(K, K)  # (K, K)


def _confusion(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square (K, K) matrix, got shape {confusion.shape}")
    if not np.issubdtype(confusion.dtype, np.number) or confusion.dtype == bool:
        raise ValueError(f"confusion must hold pixel counts, got dtype {confusion.dtype}")
    if (confusion < 0).any():
        raise ValueError("confusion must hold non-negative pixel counts")
    return confusion


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """Intersection-over-union of every class; NaN where the union is empty.

    Args:
        confusion: (K, K) counts, rows ground truth, columns prediction, as returned by
            :func:`confusion_matrix` (or a sum of them).

    Returns:
        (K,) float64 array.
    """
    confusion = _confusion(confusion).astype(np.float64)
    intersection = np.diag(confusion)  # (K,) true positives
    union = confusion.sum(axis=1) + confusion.sum(axis=0) - intersection  # (K,)
    iou = np.full(union.shape, np.nan)
    np.divide(intersection, union, out=iou, where=union > 0)
    return iou


def mean_iou(confusion: np.ndarray) -> float:
    """Mean IoU over the classes with a non-empty union (the VOC mIOU, as a fraction).

    Returns NaN when no class has any pixel (an all-zero confusion matrix).
    """
    iou = iou_per_class(confusion)
    present = ~np.isnan(iou)
    return float(iou[present].mean()) if present.any() else float("nan")
