"""The loss is computed and summed in float32 when training runs in bf16 (atrous.training.loss):
the logits of a bf16 forward pass, under autocast or not (training/loop.py's ``_step`` calls
the loss after its autocast block), give the float32 cross-entropy of the same upsampled
logits. (The upsampling itself runs in the logits' dtype, as the committed results were
trained: computing it in float32 would change every bf16 run's weights.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from atrous.data.palette import IGNORE_INDEX
from atrous.training.loss import downsample_labels, segmentation_loss_sum

torch.set_num_threads(1)


def _problem(seed: int = 0):
    """bf16 logits (a bf16 forward's output) and labels: few pixels, so that rounding errors
    do not average out in the sum."""
    g = torch.Generator().manual_seed(seed)
    logits = (8 * torch.randn(2, 5, 4, 5, generator=g)).bfloat16()
    labels = torch.randint(0, 5, (2, 13, 17), generator=g)
    labels[:, :2] = IGNORE_INDEX
    return logits, labels


def _exact_loss(logits, labels, upsample_logits, align_corners):
    """The same loss in float64 from the same logits, upsampled in their own dtype."""
    x = logits
    if upsample_logits:
        x = F.interpolate(x, size=labels.shape[-2:], mode="bilinear", align_corners=align_corners)
        y = labels
    else:
        y = downsample_labels(labels, x.shape[-2:], align_corners)
    return F.cross_entropy(x.double(), y, ignore_index=IGNORE_INDEX, reduction="sum")


@pytest.mark.parametrize("under_autocast", [True, False])
@pytest.mark.parametrize("upsample_logits", [True, False])
@pytest.mark.parametrize("align_corners", [True, False])
def test_the_loss_of_bf16_logits_is_float32(under_autocast, upsample_logits, align_corners):
    logits, labels = _problem()
    autocast = torch.autocast("cpu", torch.bfloat16, enabled=under_autocast)
    with autocast:
        loss = segmentation_loss_sum(logits, labels, upsample_logits, align_corners)
    assert loss.dtype == torch.float32
    _assert_float32_close(loss, _exact_loss(logits, labels, upsample_logits, align_corners))


def _assert_float32_close(loss, want):
    # float32 arithmetic is within 1e-7 of float64 here; a step in bf16 (8 bits of mantissa)
    # puts the sum off by 2e-5 to 1e-4
    torch.testing.assert_close(loss.double(), want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("align_corners", [True, False])
def test_the_check_tells_bf16_arithmetic_from_float32(align_corners):
    """The check above fails a cross-entropy computed or summed in bf16."""
    logits, labels = _problem()
    want = _exact_loss(logits, labels, True, align_corners)
    up = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear", align_corners=align_corners)
    in_bf16 = F.cross_entropy(up, labels, ignore_index=IGNORE_INDEX, reduction="sum")
    summed_in_bf16 = (
        F.cross_entropy(up.float(), labels, ignore_index=IGNORE_INDEX, reduction="none")
        .bfloat16()
        .sum()
    )
    for loss in (in_bf16, summed_in_bf16):
        with pytest.raises(AssertionError):
            _assert_float32_close(loss.float(), want)
    float32 = F.cross_entropy(up.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")
    _assert_float32_close(float32, want)
