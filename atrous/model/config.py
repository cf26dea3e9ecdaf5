"""The configuration of a DeepLabv3 network: one frozen dataclass (Sec. 3 of the paper).

Every row of the paper's tables is one :class:`DeepLabV3Config`: the ResNet depth, how many
cascaded copies of block4 follow it (Sec. 3.2, Tab. 1 to 3), the ``output_stride`` reached by
atrous convolution (Sec. 3.1), the ``multi_grid`` unit rates (Sec. 3.2.1), and the ASPP head
(Sec. 3.3, Tab. 5). Named instances live in :mod:`atrous.model.presets`.

No parameter of the network depends on ``output_stride``: two configs that differ only in it
describe the same weights (train at 16, evaluate at 8, Tab. 4, 6 and 10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from atrous.base.errors import AtrousError

#: Output stride after the stem (7x7 conv with stride 2, then 3x3 max pool with stride 2).
STEM_STRIDE = 4
#: Output stride of block4 in an ImageNet ResNet: the stem and three stride-2 blocks.
BLOCK4_STRIDE = 32
#: At most three extra blocks, block5 to block7, as in the paper (Sec. 3.2).
MAX_EXTRA_BLOCKS = 3
HEADS = ("aspp", "cascade")


@dataclass(frozen=True)
class DeepLabV3Config:
    """All the choices that define a DeepLabv3 network.

    Rates are the paper's: ``aspp_rates`` are given at output_stride 16 and scaled by
    ``16 / output_stride`` (doubled at 8, Sec. 3.3); ``multi_grid`` unit rates are multiplied
    by the rate of the block they sit in (Sec. 3.2.1).
    """

    num_classes: int = 21
    """Classes predicted by the final 1x1 conv (PASCAL VOC: 20 + background)."""
    depths: tuple[int, ...] = (3, 4, 6, 3)
    """Bottleneck units in block1..block4. ResNet-50 is (3, 4, 6, 3), ResNet-101 (3, 4, 23, 3);
    (1, 1, 1, 1) makes a tiny CPU network."""
    width: int = 64
    """Stem channels and block1's bottleneck width; block i has width * 2**(i-1) and outputs 4x
    that. torchvision's ResNet has 64; 16 is a 1/4-width network."""
    extra_blocks: int = 0
    """Cascaded copies of block4 after it, block5..block7 (Sec. 3.2), 0 to 3."""
    output_stride: int = 16
    """Input resolution / feature-map resolution, a power of two from 4 up to the natural stride
    (32 with block4 only, 64/128/256 with 1/2/3 extra blocks)."""
    multi_grid: tuple[int, int, int] = (1, 2, 4)
    """Unit rates of the three units of block4..block7 (Sec. 3.2.1), multiplied by the block's
    rate. A block with more or fewer than three units cycles through them (unit i uses
    multi_grid[i % 3]; our extension)."""
    head: str = "aspp"
    """``"aspp"`` puts ASPP on the last block (Sec. 3.3); ``"cascade"`` puts only the final 1x1
    classifier on it (Sec. 3.2, Tab. 1 to 4, usually with extra_blocks=3)."""
    aspp_rates: tuple[int, ...] = (6, 12, 18)
    """Rates of ASPP's 3x3 branches at output_stride 16; at another output stride they are
    scaled by 16 / output_stride and must stay integers."""
    image_pooling: bool = True
    """Add ASPP's image-level branch (global average pool, 1x1 conv, BN, ReLU, bilinear
    upsampling; Sec. 3.3, Tab. 5)."""
    aspp_channels: int = 256
    """Filters of every ASPP branch and of its 1x1 projection."""
    align_corners: bool = True
    """``align_corners`` of the bilinear upsampling of the logits. True matches the paper's
    TensorFlow code (crops of 16k + 1, e.g. 513); False matches torchvision."""
    bn_momentum: float = 0.0003
    """PyTorch BN momentum; the paper's BN decay 0.9997 is 1 - momentum."""
    first_unit_previous_rate: bool = False
    """In a block whose stride was replaced by atrous convolution, give the first unit the rate
    *before* the replacement, as the authors' code (TF-slim's ``stack_blocks_dense``) and
    torchvision do. False: every unit of the block uses the block's rate, our reading of the
    per-block rates in the paper's text (docs/src/compare-implementations.md)."""
    head_conv3x3: bool = False
    """torchvision's DeepLabHead, not the paper: a 3x3 conv (aspp_channels filters), BN and ReLU
    between the ASPP projection and the final 1x1 conv. Only for torchvision's checkpoints
    (atrous.from_torchvision); needs head="aspp"."""
    rate_scale: float = 1.0
    """Multiplies the atrous rates the paper chose for block4 and later (block rate times
    multi-grid unit rate) and ASPP's rates, each rounded to an integer >= 1: what keeps
    rate / feature-map size at the paper's ratio on smaller feature maps (Fig. 4). The rates
    that atrous conversion gives blocks 1 to 3 (Sec. 3.1) are not scaled. 1.0: the paper."""
    aux_head: bool = False
    """torchvision's auxiliary FCN head on block3 (3x3 conv to a quarter of the channels, BN,
    ReLU, dropout 0.1, 1x1 conv to num_classes), a training aid that is not in the paper.
    ``model(x)`` ignores it; ``model.forward_with_aux(x)`` returns both outputs."""

    def __post_init__(self) -> None:
        # Accept lists (e.g. from a command line or JSON) but store tuples, so the config
        # stays hashable and comparable.
        for name in ("depths", "multi_grid", "aspp_rates"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        _validate(self)

    @property
    def natural_stride(self) -> int:
        """Output stride of the network without atrous convolution: 32 * 2**extra_blocks."""
        return BLOCK4_STRIDE * 2**self.extra_blocks

    @property
    def output_strides(self) -> tuple[int, ...]:
        """Every output stride this network can reach: 4, 8, ..., natural_stride."""
        strides, s = [], STEM_STRIDE
        while s <= self.natural_stride:
            strides.append(s)
            s *= 2
        return tuple(strides)

    def scaled_aspp_rates(self, output_stride: int | None = None) -> tuple[int, ...]:
        """ASPP rates at ``output_stride`` (default: this config's): rates * 16 / os, times
        :attr:`rate_scale` (rounded, at least 1)."""
        os = self.output_stride if output_stride is None else output_stride
        return tuple(self.scale_rate(_scale_rate(r, os)) for r in self.aspp_rates)

    def scale_rate(self, rate: int) -> int:
        """``rate`` times :attr:`rate_scale`, rounded to an integer >= 1."""
        return rate if self.rate_scale == 1.0 else max(1, math.floor(rate * self.rate_scale + 0.5))

    def check_output_stride(self, output_stride: object, name: str = "output_stride") -> int:
        """``output_stride`` if this network can run at it, else ValueError naming ``name``.

        The one place that says which output strides are valid: a power of two from 4 up to
        the natural stride (Sec. 3.1), at which every ASPP rate scales to an integer.
        """
        if not _is_int(output_stride) or output_stride not in self.output_strides:
            raise AtrousError(
                f"{name} must be a power of two from {STEM_STRIDE} up to the natural stride "
                f"{self.natural_stride} of a network with extra_blocks={self.extra_blocks}: "
                f"one of {self.output_strides}, got {output_stride!r}"
            )
        if self.head == "aspp":
            try:
                self.scaled_aspp_rates(output_stride)
            except ValueError as error:
                raise AtrousError(f"{name}={output_stride}: {error}") from None
        return output_stride


def _scale_rate(rate: int, output_stride: int) -> int:
    """A rate given at output_stride 16, at ``output_stride``; ValueError if not an integer."""
    if (rate * 16) % output_stride:
        raise AtrousError(
            f"aspp_rates are given at output_stride 16 and scaled by 16 / output_stride; "
            f"rate {rate} at output_stride {output_stride} would be {rate * 16 / output_stride:g}. "
            f"At output_stride {output_stride} every ASPP rate must be a multiple of "
            f"{output_stride // 16}"
        )
    return rate * 16 // output_stride


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_rate_scale(c: DeepLabV3Config) -> None:
    scale = c.rate_scale
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 4:
        raise AtrousError(f"rate_scale must be a number in (0, 4] (1: the paper's rates), "
                          f"got {scale!r}")  # fmt: skip


def _validate(c: DeepLabV3Config) -> None:
    """Raise ValueError naming the field and what is allowed."""
    _validate_rate_scale(c)
    if not _is_int(c.num_classes) or c.num_classes < 1:
        raise AtrousError(f"num_classes must be an int >= 1, got {c.num_classes!r}")
    if (
        not isinstance(c.depths, tuple)
        or len(c.depths) != 4
        or not all(_is_int(d) and d >= 1 for d in c.depths)
    ):
        raise AtrousError(
            f"depths must be 4 ints >= 1 (units in block1..block4, e.g. (3, 4, 6, 3) for "
            f"ResNet-50), got {c.depths!r}"
        )
    if not _is_int(c.width) or c.width < 1:
        raise AtrousError(f"width must be an int >= 1 (torchvision's ResNet: 64), got {c.width!r}")
    if not _is_int(c.extra_blocks) or not 0 <= c.extra_blocks <= MAX_EXTRA_BLOCKS:
        raise AtrousError(
            f"extra_blocks must be an int from 0 to {MAX_EXTRA_BLOCKS} (block5..block7), "
            f"got {c.extra_blocks!r}"
        )
    if (
        not isinstance(c.multi_grid, tuple)
        or len(c.multi_grid) != 3
        or not all(_is_int(r) and r >= 1 for r in c.multi_grid)
    ):
        raise AtrousError(
            f"multi_grid must be 3 int unit rates >= 1 (one per unit of block4..block7, "
            f"Sec. 3.2.1), got {c.multi_grid!r}"
        )
    if c.head not in HEADS:
        raise AtrousError(f"head must be one of {HEADS}, got {c.head!r}")
    if not isinstance(c.aspp_rates, tuple) or not all(_is_int(r) and r >= 1 for r in c.aspp_rates):
        raise AtrousError(
            f"aspp_rates must be a tuple of int rates >= 1 (at output_stride 16), "
            f"got {c.aspp_rates!r}"
        )
    if not _is_int(c.aspp_channels) or c.aspp_channels < 1:
        raise AtrousError(f"aspp_channels must be an int >= 1, got {c.aspp_channels!r}")
    for name in (
        "image_pooling",
        "align_corners",
        "first_unit_previous_rate",
        "head_conv3x3",
        "aux_head",
    ):
        if not isinstance(getattr(c, name), bool):
            raise AtrousError(f"{name} must be True or False, got {getattr(c, name)!r}")
    if not isinstance(c.bn_momentum, (int, float)) or not 0.0 <= c.bn_momentum <= 1.0:
        raise AtrousError(
            f"bn_momentum must be a float in [0, 1] (the paper's decay 0.9997 is 0.0003), "
            f"got {c.bn_momentum!r}"
        )
    if c.head_conv3x3 and c.head != "aspp":
        raise AtrousError(
            f"head_conv3x3=True needs head='aspp' (torchvision's head), got head={c.head!r}"
        )
    c.check_output_stride(c.output_stride)
