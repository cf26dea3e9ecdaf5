"""Fig. 5 of the paper: ASPP's parallel branches, read from a built network.

:func:`aspp_branches` walks the ASPP module of a :class:`~atrous.model.deeplabv3.DeepLabV3`
(``model.classifier.aspp``) and reports each branch as it is built: the 1x1 convolution, one
3x3 convolution per rate (the rates in use now, so at output stride 8 they are doubled), and
the image-pooling branch if the config has it. :func:`draw_aspp` draws them between block4's
features and the logits, as Fig. 5 does: (a) the atrous branches, (b) image-level features,
concatenated and projected by a 1x1 convolution, then the final 1x1 convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes
from torch import nn

from atrous.base.errors import AtrousError
from atrous.diagrams.shapes import ATROUS, OUTPUT, PLAIN, POOLING, arrow, box, canvas
from atrous.model.aspp import ASPPConv, ASPPPooling


@dataclass(frozen=True)
class Branch:
    """One branch of ASPP as built: its kind, kernel size, rate and output channels."""

    kind: str  # "1x1", "atrous" or "pooling"
    kernel_size: int
    rate: int
    channels: int

    def label(self) -> str:
        if self.kind == "pooling":
            return f"image pooling\n1x1 conv, {self.channels}"
        if self.kind == "atrous":
            return f"3x3 conv, {self.channels}\nrate {self.rate}"
        return f"1x1 conv, {self.channels}"


def aspp_branches(model: nn.Module) -> list[Branch]:
    """The branches of ``model``'s ASPP, in order; AtrousError for a network without one."""
    aspp = getattr(getattr(model, "classifier", None), "aspp", None)
    if aspp is None:
        raise AtrousError("this network has no ASPP (head='cascade'?): nothing to draw")
    branches = []
    for branch in aspp.convs:
        if isinstance(branch, ASPPPooling):
            branches.append(Branch("pooling", 1, 1, branch[1].out_channels))
        elif isinstance(branch, ASPPConv):
            conv = branch[0]
            branches.append(Branch("atrous", conv.kernel_size[0], conv.dilation[0],
                                   conv.out_channels))  # fmt: skip
        else:
            branches.append(Branch("1x1", 1, 1, branch[0].out_channels))
    return branches


def draw_aspp(ax: Axes, model: nn.Module) -> list[Branch]:
    """Draw ``model``'s ASPP between block4's features and the logits; return its branches."""
    branches = aspp_branches(model)
    config = model.config
    n = len(branches)
    height = 1.0 * n + 0.4
    canvas(ax, 11.4, height)
    middle = height / 2
    features = (f"block4\n{model.backbone.out_channels} channels\n"
                f"output stride {config.output_stride}")  # fmt: skip
    box(ax, 1.0, middle, 1.8, 1.4, features, PLAIN)
    for i, branch in enumerate(branches):
        y = height - 0.7 - i * 1.0
        colour = {"atrous": ATROUS, "pooling": POOLING}.get(branch.kind, PLAIN)
        box(ax, 4.2, y, 2.2, 0.75, branch.label(), colour)
        arrow(ax, (1.9, middle), (3.1, y))
        arrow(ax, (5.3, y), (6.6, middle))
    project = model.classifier.aspp.project[0].out_channels
    box(ax, 7.5, middle, 1.8, 1.2, f"concat {n} x {branches[0].channels}\n1x1 conv, {project}",
        PLAIN)  # fmt: skip
    final = model.classifier[-1]
    arrow(ax, (8.4, middle), (9.1, middle))
    box(ax, 10.2, middle, 2.0, 1.2, f"1x1 conv\n{final.out_channels} logits", OUTPUT)
    rates = [b.rate for b in branches if b.kind == "atrous"]
    ax.set_title(f"ASPP at output stride {config.output_stride}: 1x1, rates "
                 f"{tuple(rates)}" + (", image pooling" if branches[-1].kind == "pooling" else ""),
                 fontsize=10, loc="left")  # fmt: skip
    return branches
