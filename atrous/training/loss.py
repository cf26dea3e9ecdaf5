"""The training loss of Sec. 4.1: pixel-wise cross-entropy with the logits upsampled.

"We upsample the final logits" to the labels' size instead of downsampling the ground truth
(older DeepLabs downsampled it by 8): annotation details are kept, and Tab. 8 measures what
that is worth (77.21 against 76.01). :func:`segmentation_loss_sum` does either;
:func:`downsample_labels` is the older way, nearest-neighbour labels taken at the logits'
sample points, on the same grid as the bilinear upsampling, so that the two ways look at
the same image positions. The label 255 (VOC's boundary band, crop padding) is ignored.

Sums, not means: training divides by the labelled pixels of the *global* batch
(:func:`labelled_pixels`), so that the gradient is that of one big batch whatever the
number of processes and micro-batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from atrous.data.palette import IGNORE_INDEX


def downsample_labels(
    labels: torch.Tensor, size: Sequence[int], align_corners: bool = True
) -> torch.Tensor:
    """Labels (N, H, W) -> (N, h, w): the label nearest to each logit's sample point.

    Logit ``i`` of ``n_out`` sits, on the input's grid of ``n_in`` pixels, at
    ``i * (n_in - 1) / (n_out - 1)`` with ``align_corners`` (the corners of both grids
    coincide, the paper's convention) and at ``(i + 0.5) * n_in / n_out - 0.5`` without
    (pixel centres, torchvision's); it is where the bilinear upsampling puts that logit.
    """

    def grid(n_in: int, n_out: int) -> torch.Tensor:
        if align_corners:
            pos = torch.linspace(0, n_in - 1, n_out, device=labels.device, dtype=torch.float64)
        else:
            pos = torch.arange(n_out, device=labels.device, dtype=torch.float64) + 0.5
            pos = pos * n_in / n_out - 0.5
        return pos.round().clamp(0, n_in - 1).long()

    rows, cols = grid(labels.shape[-2], size[0]), grid(labels.shape[-1], size[1])
    return labels[:, rows][:, :, cols]  # (N, h, w)


def segmentation_loss_sum(
    logits: torch.Tensor, labels: torch.Tensor, upsample_logits: bool, align_corners: bool
) -> torch.Tensor:
    """Summed cross-entropy over the labelled pixels (label 255 is ignored).

    ``logits`` are (N, K, h, w) at the feature-map size and ``labels`` (N, H, W). Sec. 4.1:
    upsample the logits to the labels; or (Tab. 8, older DeepLabs) take the labels at the
    logits' sample points (:func:`downsample_labels`). The cross-entropy and its sum are
    computed in float32 whatever the logits' dtype; the upsampling runs in the logits' dtype
    (bf16 in a bf16 run), as every committed result was trained, so that they re-train to the
    same weights.
    """
    if upsample_logits:
        logits = F.interpolate(
            logits, size=labels.shape[-2:], mode="bilinear", align_corners=align_corners
        )  # (N, K, H, W)
    else:
        labels = downsample_labels(labels, logits.shape[-2:], align_corners)  # (N, h, w)
    return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")


def labelled_pixels(
    labels: torch.Tensor, size: Sequence[int], upsample_logits: bool, align_corners: bool
) -> torch.Tensor:
    """How many pixels of ``labels`` (N, H, W) the loss sees, for logits of ``size``."""
    if not upsample_logits:
        labels = downsample_labels(labels, size, align_corners)  # (N, h, w)
    return (labels != IGNORE_INDEX).sum().float()
