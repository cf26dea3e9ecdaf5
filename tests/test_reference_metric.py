"""The VOC metric: confusion matrix, per-class IoU and mean IoU (Sec. 4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from reference import confusion_matrix, iou_per_class, mean_iou
from tests.strategies import Segmentation, segmentations


def _direct(seg: Segmentation) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel by pixel: count each scored pixel, then IoU class by class from the masks."""
    K = seg.num_classes
    confusion = np.zeros((K, K), dtype=np.int64)
    for g, p in zip(seg.target.ravel(), seg.pred.ravel(), strict=True):
        if g != seg.ignore_index:
            confusion[g, p] += 1
    scored = seg.target != seg.ignore_index
    iou = []
    for c in range(K):
        intersection = np.sum((seg.pred == c) & (seg.target == c) & scored)
        union = np.sum(((seg.pred == c) | (seg.target == c)) & scored)
        iou.append(intersection / union if union else np.nan)
    present = [v for v in iou if not np.isnan(v)]
    return confusion, np.array(iou), (sum(present) / len(present) if present else np.nan)


@given(seg=segmentations())
def test_metric_matches_direct_per_pixel_computation(seg: Segmentation) -> None:
    confusion = confusion_matrix(seg.pred, seg.target, seg.num_classes, seg.ignore_index)
    expected_confusion, expected_iou, expected_miou = _direct(seg)
    np.testing.assert_array_equal(confusion, expected_confusion)
    assert confusion.sum() == np.sum(seg.target != seg.ignore_index)
    np.testing.assert_allclose(iou_per_class(confusion), expected_iou, rtol=1e-12)
    np.testing.assert_allclose(mean_iou(confusion), expected_miou, rtol=1e-12)


@given(a=segmentations(max_classes=4), b=segmentations(max_classes=4))
def test_confusion_matrices_add_up(a: Segmentation, b: Segmentation) -> None:
    K = max(a.num_classes, b.num_classes)
    both = confusion_matrix(
        np.concatenate([a.pred.ravel(), b.pred.ravel()]),
        np.concatenate([a.target.ravel(), b.target.ravel()]),
        K,
    )
    np.testing.assert_array_equal(
        both, confusion_matrix(a.pred, a.target, K) + confusion_matrix(b.pred, b.target, K)
    )


@given(seg=segmentations())
def test_perfect_prediction_scores_one(seg: Segmentation) -> None:
    scored = seg.target != seg.ignore_index
    pred = np.where(scored, seg.target, seg.pred)
    confusion = confusion_matrix(pred, seg.target, seg.num_classes)
    iou = iou_per_class(confusion)
    assert np.all((iou == 1) | np.isnan(iou))
    assert mean_iou(confusion) == 1.0 or not scored.any()


def test_rows_are_ground_truth_columns_prediction() -> None:
    confusion = confusion_matrix(np.array([1, 1, 0]), np.array([0, 1, 255]), num_classes=2)
    assert confusion.tolist() == [[0, 1], [0, 1]]  # the class-0 pixel was predicted as 1
    np.testing.assert_allclose(iou_per_class(confusion), [0.0, 0.5])
    assert mean_iou(confusion) == 0.25


def test_empty_union_is_nan_and_left_out_of_the_mean() -> None:
    confusion = confusion_matrix(np.array([0, 0]), np.array([0, 0]), num_classes=3)
    iou = iou_per_class(confusion)
    assert iou[0] == 1.0 and np.isnan(iou[1:]).all()
    assert mean_iou(confusion) == 1.0
    assert np.isnan(mean_iou(np.zeros((3, 3), dtype=np.int64)))


def test_ignore_index_none_and_unsigned_labels() -> None:
    target = np.array([[0, 1], [2, 255]], dtype=np.uint8)
    pred = np.array([[0, 1], [2, 2]], dtype=np.uint8)
    assert confusion_matrix(pred, target, 3).sum() == 3
    with pytest.raises(ValueError, match="target"):
        confusion_matrix(pred, target, 3, ignore_index=None)


@pytest.mark.parametrize(
    ("pred", "target", "num_classes", "name"),
    [
        ([0, 1], [0, 3], 3, "target"),
        ([0, 1], [0, -1], 3, "target"),
        ([0, 3], [0, 1], 3, "pred"),
        ([0, 255], [0, 255], 3, "pred"),
        ([0, 1, 1], [0, 1], 3, "same shape"),
        ([0.0, 1.0], [0, 1], 3, "pred"),
        ([0, 1], [0.0, 1.0], 3, "target"),
        ([0, 1], [0, 1], 0, "num_classes"),
        ([0, 1], [0, 1], 2.0, "num_classes"),
    ],
)
def test_confusion_matrix_bad_input(pred, target, num_classes, name) -> None:
    with pytest.raises(ValueError, match=name):
        confusion_matrix(np.array(pred), np.array(target), num_classes)


@pytest.mark.parametrize(
    "confusion", [np.zeros((2, 3)), np.zeros(4), -np.ones((2, 2)), np.zeros((2, 2), bool)]
)
@pytest.mark.parametrize("fn", [iou_per_class, mean_iou])
def test_bad_confusion(fn, confusion) -> None:
    with pytest.raises(ValueError, match="confusion"):
        fn(confusion)
