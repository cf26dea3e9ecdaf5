r"""Atrous Spatial Pyramid Pooling, improved with image-level features (Sec. 3.3).

On the last feature map, in parallel (Fig. 5):

(a) one 1x1 conv and one 3x3 conv per rate in ``aspp_rates``, each with ``aspp_channels``
    filters, batch norm and ReLU. The rates are given at output_stride 16 (6, 12, 18) and
    scaled by ``16 / output_stride`` (12, 24, 36 at output_stride 8);
(b) image-level features (:class:`ASPPPooling`): global average pooling, a 1x1 conv with
    ``aspp_channels`` filters, batch norm, ReLU, and bilinear upsampling to the feature-map
    size. Sec. 3.3 adds it because a 3x3 filter at a rate close to the feature-map size
    degenerates to a 1x1 filter (Fig. 4): the image-level branch brings back global context.

The branches are concatenated and projected by a 1x1 conv with ``aspp_channels`` filters,
batch norm and ReLU; the head's final 1x1 conv (:class:`atrous.model.head.DeepLabHead`) makes
the logits.

Module and parameter names follow torchvision's ``ASPP`` (``convs.{i}``, ``project``) so its
checkpoints map onto ours. Departure from torchvision: no dropout after the projection (the
paper has none).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from atrous.base.errors import AtrousError
from atrous.model.atrous_conv import AtrousConv2d
from atrous.model.global_bn import global_batch_size


def _conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int, rate: int, bn_momentum: float
) -> list[nn.Module]:
    return [
        AtrousConv2d(  # computes only the taps that land on the map (Fig. 4)
            in_channels,
            out_channels,
            kernel_size,
            padding=rate * (kernel_size - 1) // 2,  # "same": the map keeps its size
            dilation=rate,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels, momentum=bn_momentum),
        nn.ReLU(inplace=True),
    ]


class ASPPConv(nn.Sequential):
    """Branch (a): a 3x3 atrous conv at one rate, BN, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, rate: int, bn_momentum: float):
        super().__init__(*_conv_bn_relu(in_channels, out_channels, 3, rate, bn_momentum))

    def set_rate(self, rate: int) -> None:
        self[0].dilation = (rate, rate)
        self[0].padding = (rate, rate)


class ASPPPooling(nn.Sequential):
    """Branch (b), image-level features: global average pool, 1x1 conv, BN, ReLU, upsample.

    **A batch of one image.** In training mode, batch norm of a (1, C, 1, 1) map has one value
    per channel: PyTorch refuses it ("Expected more than 1 value per channel"), and where it is
    computed anyway (TensorFlow) the batch variance is 0 and the branch outputs the constant
    BN bias, with no gradient to its conv. So when the batch that this BN normalises holds a
    single image, we normalise with the *running* statistics (as in eval mode) and leave them
    unchanged; the branch keeps its information and its gradient, and the running statistics
    are not polluted by a variance of 0.

    "The batch" is the global one: under data parallel with BN over all processes
    (:class:`~atrous.model.global_bn.GlobalBatchNorm2d`, :class:`torch.nn.SyncBatchNorm`), one image
    per process is a batch of ``world`` images, and this BN normalises by their statistics
    like every other. Only a global batch of one falls back: ``batch_size=1``, or gradient
    accumulation with micro-batches of one image (``train.accumulate == train.batch_size``),
    where this BN then never learns its running statistics (training warns about it).
    """

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float):
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            *_conv_bn_relu(in_channels, out_channels, 1, 1, bn_momentum),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pool, conv, bn, relu = self
        y = conv(pool(x))  # (N, C, 1, 1)
        if bn.training and global_batch_size(bn, y.shape[0]) == 1:
            # One value per channel: batch statistics are undefined; use the running ones.
            y = F.batch_norm(
                y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
            )
        else:
            y = bn(y)
        y = relu(y)
        # (N, C, 1, 1) -> (N, C, H/os, W/os): bilinear upsampling of a 1x1 map is a broadcast.
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Sec. 3.3: the 1x1 branch, one 3x3 branch per rate, image pooling, concat, project."""

    def __init__(
        self,
        in_channels: int,
        rates: Sequence[int],
        out_channels: int = 256,
        image_pooling: bool = True,
        bn_momentum: float = 0.0003,
    ) -> None:
        """``rates`` are the rates to use now, already scaled to the output stride."""
        super().__init__()
        if not all(isinstance(r, int) and r >= 1 for r in rates):
            raise AtrousError(f"ASPP rates must be ints >= 1, got {tuple(rates)!r}")
        convs: list[nn.Module] = [
            nn.Sequential(*_conv_bn_relu(in_channels, out_channels, 1, 1, bn_momentum))
        ]
        convs += [ASPPConv(in_channels, out_channels, r, bn_momentum) for r in rates]
        if image_pooling:
            convs.append(ASPPPooling(in_channels, out_channels, bn_momentum))
        self.convs = nn.ModuleList(convs)
        self.project = nn.Sequential(
            *_conv_bn_relu(len(convs) * out_channels, out_channels, 1, 1, bn_momentum)
        )

    def set_rates(self, rates: Sequence[int]) -> None:
        """Set the 3x3 branches' rates in place (when the output stride changes)."""
        branches = [m for m in self.convs if isinstance(m, ASPPConv)]
        if len(rates) != len(branches):
            raise AtrousError(f"this ASPP has {len(branches)} atrous branches, got rates {rates}")
        for branch, rate in zip(branches, rates, strict=True):
            branch.set_rate(rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([branch(x) for branch in self.convs], dim=1)  # (N, B*C, H/os, W/os)
        return self.project(y)  # (N, C, H/os, W/os)
