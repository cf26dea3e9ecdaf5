r"""The ResNet backbone made atrous (Sec. 3.1) and cascaded (Sec. 3.2, 3.2.1).

A ResNet of bottleneck units: a stem (7x7 conv with stride 2, BN, ReLU, 3x3 max pool with
stride 2; output stride 4), then block1..block4 (``layer1``..``layer4``), and optionally
block5..block7 (``layer5``..``layer7``), copies of block4 (Sec. 3.2). Block ``i`` has
bottleneck width ``width * 2**(i-1)`` (block5..7: block4's) and outputs four times that.

**Output stride by atrous convolution (Sec. 3.1).** Without atrous convolution every block
but block1 halves the resolution: output stride 32 after block4, 256 after block7. To stop at
``output_stride``, every stride that would take the network past it becomes 1, and from then
on the rate is multiplied by the stride it replaces: at output_stride 16 block4 has rate 2;
at 8, block3 rate 2 and block4 rate 4; with block7 at 16, block4..block7 have rates 2, 4, 8,
16. No parameter changes: :meth:`ResNetBackbone.set_output_stride` edits only the strides,
dilations and paddings of existing convolutions.

**Multi-grid (Sec. 3.2.1).** The three units of block4..block7 get unit rates
``multi_grid = (r1, r2, r3)``, *multiplied* by the block's rate: MG(1, 2, 4) at block rate 2
gives rates 2, 4, 8. (One well-known toolbox replaces the rate instead; that is not the
paper.) A block with other than three units cycles through the unit rates (our extension).

**Where the stride sits: departures from the paper's code, stated.**

- Each block's *first* unit carries the block's stride, on its 3x3 conv (torchvision's
  "ResNet v1.5"), not on the first 1x1 conv (the original ResNet v1) nor on the *last* unit
  (TF-slim, which the paper used). We follow torchvision so that its ImageNet checkpoints
  load by parameter name and mean what they meant when trained; the output stride of every
  block, and so every table of the paper, is the same either way.
- For the same reason block5..block7 also carry their stride in the first unit, with a
  1x1 projection shortcut (``downsample``) like every strided torchvision block; the paper's
  TF-slim code subsamples the identity shortcut instead. Block4 has stride 2 and
  block5..block7 too, so block7 has the natural output stride 256 of Tab. 1.
- In a block whose stride became a rate, every unit uses the block's new rate, the first
  unit (the one whose stride became 1) included. That is our reading of the paper's text,
  which gives one rate per block (Sec. 3.1, 3.2; Sec. 4: at output stride 8, block3 rate 2
  and block4 rate 4). The paper's code does otherwise: TF-slim's ``stack_blocks_dense``
  runs the unit whose stride became 1 (the last unit of the block before, where TF-slim
  puts the stride) at the old rate and only the later units at the new one, and torchvision
  does the same with its first-unit stride (``previous_dilation``). Set
  ``config.first_unit_previous_rate`` for that convention in this layout: the first unit of
  the block keeps the previous rate (needed to reproduce torchvision). The output stride of
  every block is the same either way; with the new rate in every unit the receptive field is
  a little larger (chapter 3).

Parameter names follow torchvision's ResNet (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer1.0.downsample.0``/``.1``), without its ``fc`` classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from atrous.model.atrous_conv import AtrousConv2d
from atrous.model.config import STEM_STRIDE, DeepLabV3Config

#: A bottleneck unit outputs ``expansion`` times its width (1x1 -> 3x3 -> 1x1 x4).
EXPANSION = 4


@dataclass(frozen=True)
class BlockPlan:
    """Stride and rates of one block (``layer{index}``) at a given output stride."""

    name: str  # "layer1" .. "layer7": the paper's block1 .. block7
    natural_stride: int  # the block's stride in the plain ResNet: 1 for block1, else 2
    stride: int  # its stride after atrous conversion: natural_stride or 1
    rate: int  # the block's rate: the product of the strides replaced so far
    unit_rates: tuple[int, ...]  # rate of each unit's 3x3 conv (multi-grid applied)
    output_stride: int  # input resolution / resolution after this block


def block_plans(config: DeepLabV3Config, output_stride: int | None = None) -> list[BlockPlan]:
    """Strides and rates of every block at ``output_stride`` (default ``config``'s), Sec. 3.1.

    Walk the blocks in order keeping the current output stride and rate. A block whose stride
    would take the network past ``output_stride`` gets stride 1 and multiplies the rate by the
    stride it replaces. Units of block4 and later multiply the block rate by ``multi_grid``.
    """
    os = config.output_stride if output_stride is None else output_stride
    config.check_output_stride(os)
    depths = tuple(config.depths) + (config.depths[3],) * config.extra_blocks
    plans, current, rate = [], STEM_STRIDE, 1
    for b, depth in enumerate(depths):
        natural = 1 if b == 0 else 2
        previous_rate = rate
        if current * natural > os:
            stride, rate = 1, rate * natural  # atrous conversion: the stride becomes a rate
        else:
            stride, current = natural, current * natural
        # Sec. 3.2.1: multi-grid unit rates in block4..block7, times the block's rate.
        unit = [config.multi_grid[i % 3] if b >= 3 else 1 for i in range(depth)]
        rates = [u * rate for u in unit]
        if config.first_unit_previous_rate:
            rates[0] = unit[0] * previous_rate  # torchvision's convention
        if b >= 3:  # the paper's rates of block4 and later, scaled to smaller feature maps
            rates = [config.scale_rate(r) for r in rates]
        plans.append(BlockPlan(f"layer{b + 1}", natural, stride, rate, tuple(rates), current))
    return plans


def block_width(config: DeepLabV3Config, b: int) -> int:
    """Bottleneck width of block ``b + 1`` (0-based ``b``): ``width * 2**b``, capped at block4."""
    return config.width * 2 ** min(b, 3)


def block_channels(config: DeepLabV3Config, b: int) -> int:
    """Output channels of block ``b + 1`` (0-based ``b``): four times its width."""
    return block_width(config, b) * EXPANSION


def _bn(channels: int, momentum: float) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=momentum)


class Bottleneck(nn.Module):
    """A bottleneck unit: 1x1, 3x3 (the atrous one, with the stride), 1x1, plus shortcut."""

    def __init__(
        self, in_channels: int, width: int, natural_stride: int, bn_momentum: float
    ) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = _bn(width, bn_momentum)
        # Stride and rate of this conv are set by set_stride_and_rate (Sec. 3.1).
        self.conv2 = AtrousConv2d(width, width, 3, natural_stride, padding=1, bias=False)
        self.bn2 = _bn(width, bn_momentum)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = _bn(out_channels, bn_momentum)
        self.relu = nn.ReLU(inplace=True)
        # A projection shortcut where the plain ResNet changes the shape. It depends on the
        # natural stride only, never on the output stride, so no parameter does.
        self.downsample: nn.Sequential | None = None
        if natural_stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, natural_stride, bias=False),
                _bn(out_channels, bn_momentum),
            )

    def set_stride_and_rate(self, stride: int, rate: int) -> None:
        """Atrous conversion in place: stride and rate of the 3x3 conv, stride of the shortcut."""
        self.conv2.stride = (stride, stride)
        self.conv2.dilation = (rate, rate)
        self.conv2.padding = (rate, rate)  # "same" padding for a 3x3 filter at rate r
        if self.downsample is not None:
            self.downsample[0].stride = (stride, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))  # (N, width, H/s, W/s)
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNetBackbone(nn.Module):
    """The stem and block1..block4 (+ block5..block7) of Sec. 3.1 and 3.2."""

    def __init__(self, config: DeepLabV3Config) -> None:
        super().__init__()
        w, m = config.width, config.bn_momentum
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = _bn(w, m)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.block_names: list[str] = []
        in_channels = w
        for plan in block_plans(config):
            b = len(self.block_names)
            width = block_width(config, b)  # block5..block7 are copies of block4
            units = [Bottleneck(in_channels, width, plan.natural_stride, m)]
            in_channels = width * EXPANSION
            units += [Bottleneck(in_channels, width, 1, m) for _ in range(len(plan.unit_rates) - 1)]
            self.add_module(plan.name, nn.Sequential(*units))
            self.block_names.append(plan.name)
        self.out_channels = in_channels
        self._init_weights()
        self.set_output_stride(config)

    def _init_weights(self) -> None:
        # torchvision's ResNet initialization: He (fan_out) for convs, BN as identity.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def set_output_stride(self, config: DeepLabV3Config) -> None:
        """Apply the strides and rates of :func:`block_plans` for ``config.output_stride``."""
        for plan in block_plans(config):
            units = self.get_submodule(plan.name)
            for u, (unit, rate) in enumerate(zip(units, plan.unit_rates, strict=True)):
                unit.set_stride_and_rate(plan.stride if u == 0 else 1, rate)

    def forward_blocks(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output of every block by name (``"layer1"``, ...); the last is ``forward``'s."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, width, H/4, W/4)
        outputs = {}
        for name in self.block_names:
            x = outputs[name] = self.get_submodule(name)(x)
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, width, H/2, W/2)
        x = self.maxpool(x)  # (N, width, H/4, W/4)
        for name in self.block_names:
            x = self.get_submodule(name)(x)
        return x  # (N, out_channels, H/os, W/os)
