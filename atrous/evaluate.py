r"""Evaluation and inference: mIOU and the inference strategies of Sec. 4.3 (Tab. 4, 6, 10).

The score is the pixel intersection-over-union of each class averaged over the classes
(mIOU), computed from one confusion matrix :math:`C` summed over the whole split, rows the
ground truth and columns the prediction, label 255 left out:

.. math::

    \mathrm{IoU}_c = \frac{C_{cc}}{\sum_p C_{cp} + \sum_g C_{gc} - C_{cc}}.

A class with an empty union (neither in the labels nor predicted) has no IoU and is left
out of the mean, as in :func:`reference.mean_iou`, which the tests compare against.

Inference (Sec. 4.3): the whole image, of any size, goes through the network (no crops);
the network may run at another output stride than it was trained at (train at 16,
evaluate at 8: Tab. 4, 6, 10, no parameter changes); with several ``scales`` the image is
resized by each (bilinear), the logits are upsampled back to the image and the class
probabilities (softmax) averaged over all scales, and with ``flip`` over the left-right
flipped inputs too (the paper's scales: 0.5, 0.75, 1.0, 1.25, 1.5, 1.75).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

IGNORE_INDEX = 255


def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    scales = tuple(float(s) for s in scales)
    if not scales or not all(math.isfinite(s) and s > 0 for s in scales):
        raise ValueError(f"scales must be a non-empty list of positive numbers, got {scales}")
    return scales


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, image: torch.Tensor, scales: Sequence[float] = (1.0,), flip: bool = False
) -> torch.Tensor:
    """Class probabilities (N, K, H, W) of normalised images (N, 3, H, W), averaged over
    ``scales`` and, with ``flip``, left-right flips (Sec. 4.3)."""
    scales = _check_scales(scales)
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be a batch (N, 3, H, W), got shape {tuple(image.shape)}")
    size = image.shape[-2:]
    align_corners = getattr(getattr(model, "config", None), "align_corners", True)
    total = None
    for scale in scales:
        scaled_size = [max(1, round(s * scale)) for s in size]
        x = image
        if scale != 1.0:
            x = F.interpolate(image, size=scaled_size, mode="bilinear", align_corners=True)
        inputs = [x, x.flip(-1)] if flip else [x]
        for i, xi in enumerate(inputs):
            logits = model(xi)  # (N, K, h, w) at the scaled size
            if i == 1:
                logits = logits.flip(-1)
            if tuple(logits.shape[-2:]) != tuple(size):
                logits = F.interpolate(
                    logits, size=size, mode="bilinear", align_corners=align_corners
                )  # (N, K, H, W)
            probs = logits.float().softmax(dim=1)
            total = probs if total is None else total + probs
    return total / (len(scales) * (2 if flip else 1))


def predict_labels(
    model: nn.Module, image: torch.Tensor, scales: Sequence[float] = (1.0,), flip: bool = False
) -> torch.Tensor:
    """Predicted classes (N, H, W): the argmax of :func:`predict_probabilities`."""
    return predict_probabilities(model, image, scales, flip).argmax(dim=1)


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """(K, K) int64 counts of (ground truth, prediction) pairs on the tensors' device."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    keep = target != ignore_index
    target, pred = target[keep].long(), pred[keep].long()  # (P,) the scored pixels
    if target.numel() and (target.min() < 0 or target.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, num_classes={num_classes}) or be {ignore_index}, found "
            f"{target[(target < 0) | (target >= num_classes)][0].item()}"
        )
    index = target * num_classes + pred  # (P,): one bin per (g, p)
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_from_confusion(confusion: torch.Tensor | np.ndarray) -> np.ndarray:
    """IoU of every class (K,), float64, NaN where the union is empty."""
    c = torch.as_tensor(confusion).double().cpu()
    intersection = c.diag()  # (K,)
    union = c.sum(0) + c.sum(1) - intersection  # (K,)
    iou = torch.where(union > 0, intersection / union.clamp(min=1), torch.nan)
    return iou.numpy()


@dataclass
class EvalResult:
    """mIOU, the IoU of every class and the confusion matrix of an evaluation."""

    confusion: np.ndarray
    iou: np.ndarray
    class_names: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def miou(self) -> float:
        """The mean IoU over classes with a non-empty union (NaN if none)."""
        present = ~np.isnan(self.iou)
        return float(self.iou[present].mean()) if present.any() else float("nan")

    def to_dict(self) -> dict[str, Any]:
        names = self.class_names or [str(i) for i in range(len(self.iou))]
        return {
            "miou": self.miou,
            "iou": {
                n: (None if np.isnan(v) else float(v)) for n, v in zip(names, self.iou, strict=True)
            },
            "confusion": self.confusion.tolist(),
            **self.settings,
        }

    def table(self) -> str:
        """A text table: the IoU of each class, then the mean."""
        names = self.class_names or [str(i) for i in range(len(self.iou))]
        width = max(len(n) for n in [*names, "mIOU"])
        lines = [
            f"{n:<{width}}  {'-' if np.isnan(v) else f'{100 * v:6.2f}'}"
            for n, v in zip(names, self.iou, strict=True)
        ]
        lines.append(f"{'mIOU':<{width}}  {100 * self.miou:6.2f}")
        return "\n".join(lines)


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    transform: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int | None = None,
    output_stride: int | None = None,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    class_names: Sequence[str] = (),
    progress: bool = True,
) -> EvalResult:
    """Score ``model`` on every image of ``dataset`` (whole images, one at a time).

    Args:
        model: a :class:`~atrous.model.DeepLabV3` (or any module mapping (N, 3, H, W) to
            logits (N, K, H, W)); evaluated on its device, in eval mode.
        dataset: yields raw ``(image uint8 (H, W, 3), label int64 (H, W))`` pairs.
        transform: ``transform(image, label)`` -> normalised tensors ((3, H, W), (H, W)).
        num_classes: K (default: ``model.config.num_classes``).
        output_stride: evaluate at this output stride (default: the model's); the model is
            switched back afterwards.
        scales, flip: the inference strategy of Sec. 4.3.
    """
    scales = _check_scales(scales)
    config = getattr(model, "config", None)
    if num_classes is None:
        num_classes = config.num_classes
    if len(dataset) == 0:
        raise ValueError("the evaluation set has no images")
    device = next(model.parameters()).device
    was_training = model.training
    previous_stride = getattr(config, "output_stride", None)
    if output_stride is not None and output_stride != previous_stride:
        model.set_output_stride(output_stride)
    model.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    try:
        for i in tqdm(range(len(dataset)), desc="eval", disable=not progress, unit="img"):
            image, label = transform(*dataset[i])
            image = image.unsqueeze(0).to(device)  # (1, 3, H, W)
            pred = predict_labels(model, image, scales, flip)[0]  # (H, W)
            confusion += confusion_matrix(pred, label.to(device), num_classes)
    finally:
        if output_stride is not None and output_stride != previous_stride:
            model.set_output_stride(previous_stride)
        model.train(was_training)
    settings = {
        "output_stride": output_stride or previous_stride,
        "scales": list(scales),
        "flip": flip,
        "images": len(dataset),
    }
    return EvalResult(
        confusion.cpu().numpy(), iou_from_confusion(confusion), list(class_names), settings
    )
