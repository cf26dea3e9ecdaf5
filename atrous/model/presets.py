"""Named configurations: the networks of the paper's tables, and a tiny one for a CPU.

Plain :class:`~atrous.model.config.DeepLabV3Config` instances in a dict; :func:`get_preset` copies
one with overrides (``get_preset("resnet101", output_stride=8)``).

- ``resnet50`` / ``resnet101``: block4 + ASPP(6, 12, 18) + image pooling, MG(1, 2, 4),
  output_stride 16: the best setting of Tab. 5 and 6 (77.21 mIOU for ResNet-101 at 16).
- ``resnet50-block7`` / ``resnet101-block7``: the cascade of Sec. 3.2, block4 + block5..7,
  MG(1, 2, 1), only the final 1x1 conv on block7: Tab. 1 to 4 (76.66 at 16 for ResNet-101).
- ``tiny``: one unit per block and a quarter of the width (16), ASPP with 64 channels; the
  same architecture as ``resnet50`` in miniature, for training in minutes on a CPU at crops
  around 129. Departure: its BN momentum is PyTorch's default 0.1, not the paper's 0.0003,
  because a few hundred steps at 0.0003 would leave the running statistics at their
  initial values (mean 0, variance 1) and evaluation meaningless.
"""

from __future__ import annotations

from dataclasses import replace

from atrous.base.errors import AtrousError
from atrous.model.config import DeepLabV3Config

RESNET50 = (3, 4, 6, 3)
RESNET101 = (3, 4, 23, 3)

PRESETS: dict[str, DeepLabV3Config] = {
    "resnet50": DeepLabV3Config(depths=RESNET50),
    "resnet101": DeepLabV3Config(depths=RESNET101),
    "resnet50-block7": DeepLabV3Config(
        depths=RESNET50, extra_blocks=3, multi_grid=(1, 2, 1), head="cascade"
    ),
    "resnet101-block7": DeepLabV3Config(
        depths=RESNET101, extra_blocks=3, multi_grid=(1, 2, 1), head="cascade"
    ),
    "tiny": DeepLabV3Config(depths=(1, 1, 1, 1), width=16, aspp_channels=64, bn_momentum=0.1),
}


def get_preset(name: str, **overrides: object) -> DeepLabV3Config:
    """The preset ``name``, with any config field replaced by ``overrides`` (validated)."""
    if name not in PRESETS:
        raise AtrousError(f"unknown preset {name!r}; the presets are: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)
