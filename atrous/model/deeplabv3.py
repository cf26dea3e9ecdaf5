r"""DeepLabv3: the atrous ResNet, a head, and bilinear upsampling of the logits (Sec. 3, 4.1).

``DeepLabV3(config)`` is the whole network of the paper:

- the backbone (:mod:`atrous.model.backbone`): ResNet block1..block4, plus block5..block7 for the
  cascade of Sec. 3.2, made atrous to reach ``config.output_stride`` (Sec. 3.1), with
  multi-grid unit rates (Sec. 3.2.1);
- the head, ``classifier`` (:class:`~atrous.model.head.DeepLabHead`): for ``head="aspp"``, ASPP
  (Sec. 3.3, :mod:`atrous.model.aspp`) then the final 1x1 conv; for ``head="cascade"``, the final
  1x1 conv directly on the last block (Sec. 3.2, Tab. 1 to 4);
- the logits, at ``1 / output_stride`` of the input resolution, bilinearly upsampled to the
  input size (Sec. 4.1: "upsample the logits" rather than downsample the ground truth).
  ``model(x, upsample=False)`` skips that step, for the ablation of Tab. 8.

The head maps onto torchvision's ``DeepLabHead``: ``classifier.0`` is the ASPP (with
``convs.{i}`` and ``project``) and ``classifier.1`` the final 1x1 conv, which torchvision has
at ``classifier.4`` after an extra 3x3 conv that the paper does not have.

**torchvision's departures, off by default.** ``config.head_conv3x3`` adds torchvision's 3x3
conv, BN and ReLU after the ASPP (``classifier.1``..``classifier.3``; the final conv is then
``classifier.4`` as in torchvision), and ``config.aux_head`` its auxiliary FCN head on block3
(``aux_classifier``). Neither is in the paper; both exist so that :mod:`atrous.model.interop` can
reproduce torchvision's ``deeplabv3_resnet50`` / ``deeplabv3_resnet101`` exactly.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from atrous.base.errors import AtrousError
from atrous.model.backbone import ResNetBackbone
from atrous.model.config import DeepLabV3Config
from atrous.model.head import DeepLabHead, FCNHead


class DeepLabV3(nn.Module):
    """The DeepLabv3 network described by ``config`` (a :class:`DeepLabV3Config`)."""

    def __init__(self, config: DeepLabV3Config | None = None) -> None:
        super().__init__()
        if config is None:
            config = DeepLabV3Config()
        if not isinstance(config, DeepLabV3Config):
            raise AtrousError(f"config must be a DeepLabV3Config, got {type(config).__name__}")
        self.config = config
        self.backbone = ResNetBackbone(config)
        self.classifier = DeepLabHead(self.backbone.out_channels, config)
        self.aux_classifier = FCNHead(config) if config.aux_head else None
        self._bn_frozen = False

    def forward(self, x: torch.Tensor, upsample: bool = True) -> torch.Tensor:
        """Logits (N, num_classes, H, W); with ``upsample=False`` at (H/os, W/os), rounded up."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise AtrousError(f"x must be a batch of RGB images (N, 3, H, W), got {tuple(x.shape)}")
        size = x.shape[-2:]
        features = self.backbone(x)  # (N, C, H/os, W/os)
        logits = self.classifier(features)  # (N, K, H/os, W/os)
        if not upsample:
            return logits
        # Sec. 4.1: upsample the logits to the input size, not downsample the labels.
        return F.interpolate(
            logits, size=size, mode="bilinear", align_corners=self.config.align_corners
        )  # (N, K, H, W)

    def forward_with_aux(
        self, x: torch.Tensor, upsample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the auxiliary head's logits on block3 (needs ``config.aux_head``)."""
        if self.aux_classifier is None:
            raise AtrousError("forward_with_aux needs a model built with config.aux_head=True")
        if x.ndim != 4 or x.shape[1] != 3:
            raise AtrousError(f"x must be a batch of RGB images (N, 3, H, W), got {tuple(x.shape)}")
        blocks = self.backbone.forward_blocks(x)
        logits = self.classifier(blocks[self.backbone.block_names[-1]])  # (N, K, H/os, W/os)
        aux = self.aux_classifier(blocks["layer3"])  # (N, K, H/os3, W/os3)
        if not upsample:
            return logits, aux
        size, corners = x.shape[-2:], self.config.align_corners
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=corners)
        aux = F.interpolate(aux, size=size, mode="bilinear", align_corners=corners)
        return logits, aux  # (N, K, H, W) each

    def set_output_stride(self, output_stride: int) -> DeepLabV3:
        """Switch to another output stride in place; no parameter changes (Sec. 3.1).

        Strides, rates and paddings of the backbone and the ASPP rates (scaled by
        ``16 / output_stride``) follow; ``self.config`` is replaced by one with the new
        ``output_stride``. Returns ``self``.
        """
        config = replace(self.config, output_stride=output_stride)  # validates
        self.backbone.set_output_stride(config)
        if self.classifier.aspp is not None:
            self.classifier.aspp.set_rates(config.scaled_aspp_rates())
        self.config = config
        return self

    def freeze_bn(self, frozen: bool = True) -> DeepLabV3:
        """Freeze batch norm (stage 2 of Sec. 4.1): eval mode and no gradient, even in train().

        With ``frozen=True`` every BN layer normalizes with its running statistics, does not
        update them, and its scale and shift get ``requires_grad=False``; this survives
        ``model.train()``. ``frozen=False`` undoes it. Returns ``self``.
        """
        self._bn_frozen = bool(frozen)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                for p in module.parameters():
                    p.requires_grad_(not frozen)
        return self.train(self.training)

    @property
    def bn_frozen(self) -> bool:
        """Whether :meth:`freeze_bn` is in effect."""
        return self._bn_frozen

    def train(self, mode: bool = True) -> DeepLabV3:
        super().train(mode)
        if self._bn_frozen:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self
