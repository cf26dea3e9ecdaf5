"""Tab. 8's "labels downsampled": the targets a loss sees when the labels go to the logits.

Older DeepLabs downsampled the ground truth to the logits' grid; DeepLabv3 upsamples the
logits instead (Sec. 4.1, Tab. 8). :func:`draw_label_targets` shows the image, its
full-resolution label map with the sample points of the coarsest grid on it, and the coarse
targets of :func:`atrous.training.loss.downsample_labels` at each output stride, each drawn
over the area of the image it stands for. Logits on a crop of ``H`` pixels are
``(H - 1) // output_stride + 1`` a side (a crop of ``16 k + 1`` pixels, as the paper's 513).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes

from atrous.base.errors import AtrousError
from atrous.data.palette import colorize
from atrous.training.loss import downsample_labels


def logit_side(pixels: int, output_stride: int) -> int:
    """The side of the logits on a crop ``pixels`` wide: ``(pixels - 1) // output_stride + 1``."""
    return (pixels - 1) // output_stride + 1


def label_targets(label: np.ndarray, output_stride: int) -> np.ndarray:
    """The (h, w) targets of the (H, W) ``label`` at ``output_stride``: the label nearest to
    each logit's sample point, as the loss takes them (``train.upsample_logits=false``)."""
    size = (logit_side(label.shape[0], output_stride), logit_side(label.shape[1], output_stride))
    labels = torch.from_numpy(np.asarray(label, dtype=np.int64))[None]  # (1, H, W)
    return downsample_labels(labels, size)[0].numpy()  # (h, w)


def draw_label_targets(
    axes: Sequence[Axes],
    image: np.ndarray,
    label: np.ndarray,
    output_strides: Sequence[int] = (8, 16),
    palette: np.ndarray | None = None,
) -> dict[int, np.ndarray]:
    """Draw the image, the label map and its targets at each output stride (``2 +
    len(output_strides)`` axes); return the targets by output stride."""
    if len(axes) != 2 + len(output_strides):
        raise AtrousError(f"need {2 + len(output_strides)} axes (image, label, one per "
                          f"output stride), got {len(axes)}")  # fmt: skip
    height, width = label.shape
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)  # every panel over the same pixels
    targets = {s: label_targets(label, s) for s in output_strides}
    axes[0].imshow(image, interpolation="nearest")
    axes[0].set_title(f"image\n{height} x {width} pixels", fontsize=10)
    axes[1].imshow(colorize(label, palette), interpolation="nearest")
    axes[1].set_title(f"labels: {label.size} targets\n(dots: the samples at "
                      f"{max(targets)})", fontsize=10)  # fmt: skip
    # Where the coarsest grid samples the labels: downsample the pixels' own flat indices.
    ys, xs = np.divmod(label_targets(np.arange(label.size).reshape(label.shape), max(targets)),
                       width)  # fmt: skip
    axes[1].scatter(xs.ravel(), ys.ravel(), s=6, c="white", edgecolors="black", linewidths=0.4)
    for ax, s in zip(axes[2:], output_strides, strict=True):
        small = targets[s]
        ax.imshow(colorize(small, palette), interpolation="nearest", extent=extent)
        ax.set_title(f"output stride {s}:\n{small.shape[0]} x {small.shape[1]} = "
                     f"{small.size} targets", fontsize=10)  # fmt: skip
    for ax in axes:
        ax.set_axis_off()
    return targets
