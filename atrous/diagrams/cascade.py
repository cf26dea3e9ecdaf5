"""Fig. 3 of the paper: the cascade of blocks without and with atrous convolution.

One row per output stride. The boxes are the stem and the blocks of the network, each
labelled with what :func:`atrous.model.backbone.block_plans` gives it at that output stride:
its stride where it still halves the resolution, its rate where the stride became a rate
(shaded), and the output stride after it. The boxes shrink with the resolution, as in the
paper's figure; nothing in the drawing is typed, so it shows any network and any output
stride the config allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes

from atrous.base.errors import AtrousError
from atrous.diagrams.shapes import ATROUS, PLAIN, POOLING, arrow, box, canvas
from atrous.model.backbone import BlockPlan, block_plans
from atrous.model.config import STEM_STRIDE, DeepLabV3Config


def _label(plan: BlockPlan) -> str:
    name = f"block{plan.name.removeprefix('layer')}"
    if plan.rate == 1:
        return f"{name}\nstride {plan.stride}"
    text = f"{name}\nrate {plan.rate}"
    if len(set(plan.unit_rates)) > 1:  # multi-grid: the units' own rates
        text += "\n(" + ", ".join(map(str, plan.unit_rates)) + ")"
    return text


def _height(output_stride: int) -> float:
    """Boxes shrink with the resolution: 1.5 at output stride 4, down to 0.8."""
    return max(0.8, 1.5 - 0.12 * math.log2(output_stride / STEM_STRIDE))


def draw_cascade(
    axes: Sequence[Axes], config: DeepLabV3Config, output_strides: Sequence[int] = (256, 16)
) -> list[list[BlockPlan]]:
    """Draw the stem and blocks of ``config`` at each output stride (one axes each) and
    return the block plans drawn."""
    if len(axes) != len(output_strides):
        raise AtrousError(f"need one axes per output stride, got {len(axes)} axes, "
                          f"{len(output_strides)} output strides")  # fmt: skip
    drawn = []
    for ax, output_stride in zip(axes, output_strides, strict=True):
        plans = block_plans(config, output_stride)
        drawn.append(plans)
        step, y = 1.3, 1.2
        canvas(ax, step * (len(plans) + 2), 2.6)
        box(ax, 0.65, y, 1.0, 1.5, "image", POOLING)
        box(ax, 0.65 + step, y, 1.0, _height(STEM_STRIDE), "stem\nconv, pool", PLAIN)
        ax.text(0.65 + step, 0.15, f"os {STEM_STRIDE}", ha="center", fontsize=8)
        for i in range(len(plans) + 1):
            arrow(ax, (0.65 + step * i + 0.5, y), (0.65 + step * (i + 1) - 0.5, y))
        for b, plan in enumerate(plans):
            x = 0.65 + step * (b + 2)
            colour = ATROUS if plan.rate > 1 else PLAIN
            box(ax, x, y, 1.0, _height(plan.output_stride), _label(plan), colour, fontsize=7.5)
            ax.text(x, 0.15, f"os {plan.output_stride}", ha="center", fontsize=8)
        atrous = [p.name.replace("layer", "block") for p in plans if p.rate > 1]
        how = f"atrous from {atrous[0]} on" if atrous else "no atrous convolution"
        ax.set_title(f"output_stride {output_stride}: {how}", fontsize=10, loc="left")
    return drawn
