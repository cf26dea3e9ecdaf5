r"""Evaluation: mIOU over a split, with the inference strategies of Sec. 4.3 (Tab. 4, 6, 10).

The score is the pixel intersection-over-union of each class averaged over the classes
(mIOU), computed from one confusion matrix :math:`C` summed over the whole split, rows the
ground truth and columns the prediction, label 255 left out:

.. math::

    \mathrm{IoU}_c = \frac{C_{cc}}{\sum_p C_{cp} + \sum_g C_{gc} - C_{cc}}.

A class with an empty union (neither in the labels nor predicted) has no IoU and is left
out of the mean, as in :func:`reference.mean_iou`, which the tests compare against.

Each image goes through :func:`atrous.inference.strategy.predict_labels`: whole images or padded to
``pad_to`` (the paper's 513 for VOC), at any output stride, scales and flips.
:func:`evaluate_split` is the recipe for a trained run: the ``[data]`` split and the
``[eval]`` strategy of its config.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset
from tqdm.auto import tqdm

from atrous.base.errors import AtrousError
from atrous.base.precision import resolve_precision
from atrous.base.scales import check_scales
from atrous.data.palette import IGNORE_INDEX, outside_classes
from atrous.inference.strategy import predict_labels, predict_probabilities
from atrous.recipe.config import EvalConfig, TrainConfig

__all__ = [
    "EvalResult",
    "confusion_matrix",
    "evaluate",
    "eval_filename",
    "evaluate_split",
    "iou_from_confusion",
    "predict_labels",
    "predict_probabilities",
]


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """(K, K) int64 counts of (ground truth, prediction) pairs on the tensors' device."""
    if pred.shape != target.shape:
        raise AtrousError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    bad = outside_classes(target, num_classes) & (target != ignore_index)
    if bad.any():
        raise AtrousError(
            f"labels must lie in [0, num_classes={num_classes}) or be {ignore_index}, found "
            f"{target[bad][0].item()}"
        )
    keep = target != ignore_index
    target, pred = target[keep].long(), pred[keep].long()  # (P,) the scored pixels
    index = target * num_classes + pred  # (P,): one bin per (g, p)
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_from_confusion(confusion: torch.Tensor | np.ndarray) -> np.ndarray:
    """IoU of every class (K,), float64, NaN where the union is empty."""
    c = torch.as_tensor(confusion).double().cpu()
    intersection = c.diag()  # (K,)
    union = c.sum(0) + c.sum(1) - intersection  # (K,)
    iou = torch.where(union > 0, intersection / union.clamp(min=1), torch.nan)
    return iou.numpy()


def eval_filename(
    split: str,
    output_stride: int | None,
    scales: Sequence[float],
    flip: bool,
    pad_to: int = 0,
    limit: int | None = None,
    precision: str = "fp32",
) -> str:
    """A file name for an evaluation's JSON that holds its settings, so that evaluations
    with other settings (a quick ``--limit`` one among them) never replace each other:
    ``eval_{split}_os{output_stride}_s{scales}[_flip][_pad{N}][_first{N}][_bf16].json``
    (the precision when it is not fp32)."""
    parts = [f"eval_{split}", f"os{output_stride}", "s" + "-".join(f"{x:g}" for x in scales)]
    if flip:
        parts.append("flip")
    if pad_to:
        parts.append(f"pad{pad_to}")
    if limit is not None:
        parts.append(f"first{limit}")
    if precision != "fp32":
        parts.append(precision)
    return "_".join(parts) + ".json"


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

    def filename(self) -> str:
        """The JSON file name that says how this evaluation was made (:func:`eval_filename`)."""
        s = self.settings
        return eval_filename(s.get("split", "data"), s.get("output_stride"),
                             s.get("scales", (1.0,)), s.get("flip", False), s.get("pad_to", 0),
                             s.get("limit"), s.get("precision", "fp32"))  # fmt: skip

    def table(self) -> str:
        """A text table: the IoU of each class, then the mean."""
        names = self.class_names or [str(i) for i in range(len(self.iou))]
        width = max(len(n) for n in [*names, "mIOU"])
        lines = [
            f"{n:<{width}}  {'-' if np.isnan(v) else f'{100 * v:.2f}':>6}"
            for n, v in zip(names, self.iou, strict=True)
        ]
        lines.append(f"{'mIOU':<{width}}  {100 * self.miou:6.2f}")
        return "\n".join(lines)


@contextlib.contextmanager
def evaluation_mode(model: nn.Module, output_stride: int | None) -> Iterator[nn.Module]:
    """``model`` in eval mode at ``output_stride`` (None: its own) for the ``with`` block;
    its mode and output stride are restored afterwards, even on an error."""
    was_training = model.training
    previous = getattr(getattr(model, "config", None), "output_stride", None)
    switch = output_stride is not None and output_stride != previous
    if switch:
        model.set_output_stride(output_stride)
    model.eval()
    try:
        yield model
    finally:
        if switch:
            model.set_output_stride(previous)
        model.train(was_training)


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    transform: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    *,
    num_classes: int | None = None,
    output_stride: int | None = None,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    pad_to: int = 0,
    precision: str = "fp32",
    class_names: Sequence[str] = (),
    progress: bool = True,
) -> EvalResult:
    """Score ``model`` on every image of ``dataset`` (one at a time).

    Args:
        model: a :class:`~atrous.model.deeplabv3.DeepLabV3` (anything with its ``forward(x,
            upsample=False)``); evaluated on its device, in eval mode.
        dataset: yields raw ``(image uint8 (H, W, 3), label int64 (H, W))`` pairs.
        transform: ``transform(image, label)`` -> normalised tensors ((3, H, W), (H, W)).
        num_classes: K (default: ``model.config.num_classes``).
        output_stride: evaluate at this output stride (default: the model's); the model is
            switched back afterwards.
        scales: input scales whose class probabilities are averaged (Sec. 4.3).
        flip: also average over left-right flipped inputs (Sec. 4.3).
        pad_to: 0 for whole images; N pads each image to N x N first (Sec. 4.1: 513).
        precision: the network's arithmetic, ``fp32``, ``bf16`` or ``fp16`` (resolved;
            :mod:`atrous.base.precision`).
        class_names: the data set's names of its classes (:func:`class_names_for`).
    """
    scales = check_scales(scales)
    config = getattr(model, "config", None)
    if num_classes is None:
        num_classes = config.num_classes
    names = class_names_for(class_names, num_classes)
    if len(dataset) == 0:
        raise AtrousError("the evaluation set has no images")
    device = next(model.parameters()).device
    previous_stride = getattr(config, "output_stride", None)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
    with evaluation_mode(model, output_stride):
        for i in tqdm(range(len(dataset)), desc="eval", disable=not progress, unit="img"):
            image, label = transform(*dataset[i])
            image = image.unsqueeze(0).to(device)  # (1, 3, H, W)
            pred = predict_labels(model, image, scales, flip, pad_to, precision)[0]  # (H, W)
            confusion += confusion_matrix(pred, label.to(device), num_classes)
    settings = {
        "output_stride": output_stride or previous_stride,
        "scales": list(scales),
        "flip": flip,
        "pad_to": pad_to,
        "precision": precision,
        "images": len(dataset),
    }
    return EvalResult(confusion.cpu().numpy(), iou_from_confusion(confusion), names, settings)


def class_names_for(class_names: Sequence[str], num_classes: int) -> list[str]:
    """A name for each of the network's ``num_classes`` outputs: the data set's, then, for the
    outputs it has no class for (a network with more classes than its data, which training
    allows), the output's index. Such a class is scored like any other: NaN while the
    network never predicts it, 0 once it does (:attr:`EvalResult.miou` skips NaN)."""
    names = list(class_names)
    if not names:
        return []
    if len(names) > num_classes:
        raise AtrousError(f"class_names has {len(names)} names but the network predicts "
                          f"{num_classes} classes")  # fmt: skip
    return names + [str(i) for i in range(len(names), num_classes)]


def evaluate_split(
    model: nn.Module,
    config: TrainConfig,
    split: str | None = None,
    *,
    strategy: EvalConfig | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> EvalResult:
    """Evaluate a run's network on ``split`` (default ``config.data.val_split``) of its
    dataset with the inference strategy ``strategy`` (default ``config.eval``); ``limit``
    keeps only the first images (a quick check; the result says how many it saw)."""
    from atrous.data.files import check_class_count
    from atrous.recipe.datasets import build_dataset, eval_transform

    split = split or config.data.val_split
    dataset = build_dataset(config.data, split)
    check_class_count(dataset, model.config.num_classes, config.data.dataset)
    names = list(getattr(dataset, "class_names", ()))
    if limit is not None:
        if limit < 1:
            raise AtrousError(f"limit must be >= 1, got {limit}")
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    e = config.eval if strategy is None else strategy
    device = next(model.parameters()).device
    precision = resolve_precision(e.precision, device, "eval.precision")
    result = evaluate(model, dataset, eval_transform(), output_stride=e.output_stride or None,
                      scales=e.scales, flip=e.flip, pad_to=e.pad_to, precision=precision,
                      class_names=names, progress=progress)  # fmt: skip
    result.settings = {"split": split, **result.settings}
    if limit is not None:
        result.settings["limit"] = limit
    return result
