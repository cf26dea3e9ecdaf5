r"""Inference (Sec. 4.3): whole images or the padded protocol, output stride, scales, flips.

The network runs at any output stride with the same weights (train at 16, evaluate at 8:
Tab. 4, 6, 10). :func:`predict_probabilities` returns the class probabilities of an image:

- **Multi-scale and flips.** With several ``scales`` the image is resized by each (bilinear),
  the logits of each input are resized **once**, from the feature map straight to the
  image's size, and the class probabilities (softmax) are averaged over all scales and,
  with ``flip``, over the left-right flipped inputs too. (Resizing the logits to the scaled
  input first and then to the image would interpolate twice.) The paper's scales are
  0.5, 0.75, 1.0, 1.25, 1.5, 1.75 (:data:`atrous.recipe.config.PAPER_SCALES`).
- **Padding (the VOC protocol).** The paper evaluates 513 x 513 inputs: each image is padded
  at the bottom and right with the mean pixel (0 after normalisation) to ``pad_to`` (a crop
  of ``output_stride * k + 1`` puts the corners of the feature map on the corners of the
  input), and the prediction is cropped back, as if the padding were labelled 255.
  ``pad_to=0`` runs the whole image, of any size (Cityscapes, Appendix C).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from atrous.base.errors import AtrousError
from atrous.base.precision import autocast
from atrous.base.scales import check_scales


def pad_image(image: torch.Tensor, pad_to: int) -> torch.Tensor:
    """Normalised images (N, 3, H, W) padded at the bottom and right with 0 (the mean
    pixel) to (N, 3, pad_to, pad_to); ValueError naming ``pad_to`` if an image is larger."""
    h, w = image.shape[-2:]
    if h > pad_to or w > pad_to:
        raise AtrousError(
            f"pad_to={pad_to} is smaller than the image ({h}x{w}): evaluate with a larger "
            f"eval.pad_to (the paper: 513 for VOC, whose images are at most 500x500) or with "
            f"pad_to=0 (whole images)"
        )
    return F.pad(image, (0, pad_to - w, 0, pad_to - h), value=0.0)


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    image: torch.Tensor,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    pad_to: int = 0,
    precision: str = "fp32",
) -> torch.Tensor:
    """Class probabilities (N, K, H, W) of normalised images (N, 3, H, W), averaged over
    ``scales`` and, with ``flip``, left-right flips; padded to ``pad_to`` first if not 0.

    ``model(x, upsample=False)`` must give the logits at the feature-map size, as
    :class:`~atrous.model.deeplabv3.DeepLabV3` does. ``precision`` (``fp32``, ``bf16``, ``fp16``;
    :mod:`atrous.base.precision`) is the network's arithmetic; resizing, softmax and averaging
    are float32. Inputs go in as channels_last.
    """
    scales = check_scales(scales)
    if image.ndim != 4 or image.shape[1] != 3:
        raise AtrousError(f"image must be a batch (N, 3, H, W), got shape {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if pad_to:
        image = pad_image(image, pad_to)
    size = image.shape[-2:]
    align_corners = getattr(getattr(model, "config", None), "align_corners", True)
    total = None
    for scale in scales:
        x = image
        if scale != 1.0:
            scaled = [max(1, round(s * scale)) for s in size]
            x = F.interpolate(image, size=scaled, mode="bilinear", align_corners=True)
        for flipped in (False, True) if flip else (False,):
            xi = (x.flip(-1) if flipped else x).contiguous(memory_format=torch.channels_last)
            with autocast(precision, image.device):
                logits = model(xi, upsample=False).float()  # (N, K, h', w')
            # One resize, from the feature map to the (padded) image.
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=align_corners)
            probs = (logits.flip(-1) if flipped else logits).softmax(dim=1)
            total = probs if total is None else total + probs
    probs = total / (len(scales) * (2 if flip else 1))  # (N, K, *size)
    return probs[..., :h, :w]  # the padding cropped off


def predict_labels(
    model: nn.Module,
    image: torch.Tensor,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    pad_to: int = 0,
    precision: str = "fp32",
) -> torch.Tensor:
    """Predicted classes (N, H, W): the argmax of :func:`predict_probabilities`."""
    return predict_probabilities(model, image, scales, flip, pad_to, precision).argmax(dim=1)
