"""The head on the last block: ASPP and the final 1x1 conv (Sec. 3.2, 3.3).

:class:`DeepLabHead` turns the backbone's features into logits at the same resolution:

- ``head="aspp"`` (Sec. 3.3, Fig. 5): :class:`~atrous.model.aspp.ASPP` (its branches, concatenated
  and projected to ``aspp_channels``), then the final 1x1 conv, one logit per class;
- ``head="cascade"`` (Sec. 3.2, Tab. 1 to 4): the final 1x1 conv directly on the last of the
  cascaded blocks.

The names are torchvision's (``classifier.0`` is the ASPP, the final conv follows), so its
checkpoints map onto ours. ``head_conv3x3`` adds torchvision's 3x3 conv, BN and ReLU after
the ASPP (``classifier.1``..``.3``, the final conv then at ``classifier.4``); it is not in the
paper and exists only to load torchvision's weights exactly. :class:`FCNHead` is
torchvision's auxiliary head on block3, a training aid that is not in the paper either.
"""

from __future__ import annotations

from torch import nn

from atrous.model.aspp import ASPP
from atrous.model.backbone import block_channels
from atrous.model.config import DeepLabV3Config


class DeepLabHead(nn.Sequential):
    """ASPP (for ``head="aspp"``) and the final 1x1 conv: features (N, C, h, w) -> logits."""

    def __init__(self, in_channels: int, config: DeepLabV3Config) -> None:
        layers: list[nn.Module] = []
        channels = in_channels
        if config.head == "aspp":
            rates = config.scaled_aspp_rates()
            layers.append(
                ASPP(
                    channels, rates, config.aspp_channels, config.image_pooling, config.bn_momentum
                )
            )
            channels = config.aspp_channels
        if config.head_conv3x3:  # torchvision's DeepLabHead, not the paper
            layers += [
                nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(channels, momentum=config.bn_momentum),
                nn.ReLU(inplace=True),
            ]
        # The final 1x1 conv: one logit per class (with a bias, as in the paper's code).
        layers.append(nn.Conv2d(channels, config.num_classes, 1))
        super().__init__(*layers)

    @property
    def aspp(self) -> ASPP | None:
        """The ASPP module, or None for the cascade head."""
        return self[0] if isinstance(self[0], ASPP) else None


class FCNHead(nn.Sequential):
    """torchvision's auxiliary head on block3: 3x3 conv to a quarter of the channels, BN,
    ReLU, dropout 0.1, 1x1 conv to ``num_classes`` (names ``aux_classifier.0`` ...)."""

    def __init__(self, config: DeepLabV3Config) -> None:
        channels = block_channels(config, 2)  # block3's output
        inner = channels // 4
        super().__init__(
            nn.Conv2d(channels, inner, 3, padding=1, bias=False),
            nn.BatchNorm2d(inner, momentum=config.bn_momentum),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv2d(inner, config.num_classes, 1),
        )
