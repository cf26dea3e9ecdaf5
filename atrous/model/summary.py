"""What a configuration builds: parameters, FLOPs, and each stage's feature map and rates.

``python -m atrous summary PRESET`` prints :func:`summary`. The per-stage feature-map sizes
come from the convolution arithmetic (:func:`feature_sizes`), not from running the network,
so the tests can hold them against the sizes the network really produces. FLOPs count the
multiply-adds of every convolution, times 2, in one forward pass on PyTorch's ``meta``
device (shapes only, no memory, no arithmetic); batch norm, ReLU, pooling and resizing are
left out (well under 1% of the total).
"""

from __future__ import annotations

import torch
from torch import nn

from atrous.model.backbone import block_channels, block_plans
from atrous.model.config import DeepLabV3Config
from atrous.model.deeplabv3 import DeepLabV3


def _conv_out(n: int, kernel: int, stride: int, padding: int, rate: int = 1) -> int:
    """Output length of a convolution or pooling (PyTorch's formula)."""
    return (n + 2 * padding - rate * (kernel - 1) - 1) // stride + 1


def feature_sizes(
    config: DeepLabV3Config, size: tuple[int, int], output_stride: int | None = None
) -> dict[str, tuple[int, int]]:
    """Feature-map (height, width) after the stem and after each block, for an input ``size``.

    Keys: ``"stem"`` (after the max pool) and ``"layer1"`` .. ``"layer{4 + extra_blocks}"``;
    the head keeps the last block's size.
    """
    h, w = size
    # Stem: 7x7 conv, stride 2, padding 3; 3x3 max pool, stride 2, padding 1.
    h, w = (_conv_out(_conv_out(n, 7, 2, 3), 3, 2, 1) for n in (h, w))
    sizes = {"stem": (h, w)}
    for plan in block_plans(config, output_stride):
        rate = plan.unit_rates[0]
        # Only the first unit's 3x3 conv (padding = rate) can have a stride.
        h, w = (_conv_out(n, 3, plan.stride, rate, rate) for n in (h, w))
        sizes[plan.name] = (h, w)
    return sizes


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, size: tuple[int, int]) -> int:
    """2 x multiply-adds of all convolutions for one (1, 3, *size) image; any device."""
    macs = 0

    def hook(module: nn.Conv2d, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal macs
        k_h, k_w = module.kernel_size
        # Every output value is a dot product of C_in / groups * kH * kW terms.
        macs += output.numel() * (module.in_channels // module.groups) * k_h * k_w

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(1, 3, *size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return 2 * macs


def _rates(rates: tuple[int, ...]) -> str:
    if len(set(rates)) == 1:
        return f"{rates[0]}" + (f" (x{len(rates)} units)" if len(rates) > 1 else "")
    return ", ".join(map(str, rates))


def _row(stage: str, channels: object, stride: object, size: object, rates: str) -> str:
    if isinstance(size, tuple):
        size = f"{size[0]}x{size[1]}"
    return f"  {stage:<17}{channels:>9}{stride:>8}{size:>11}   {rates}"


def summary(
    config: DeepLabV3Config,
    size: tuple[int, int] = (513, 513),
    output_strides: tuple[int, ...] | None = None,
    name: str | None = None,
) -> str:
    """A text summary: parameters, then for each output stride FLOPs and a per-stage table."""
    output_strides = config.output_strides if output_strides is None else output_strides
    with torch.device("meta"):  # shapes only: even ResNet-101 at 513x513 costs nothing
        model = DeepLabV3(config).eval()
    title = f"preset {name!r}" if name else "DeepLabV3"
    lines = [
        f"{title}: depths {config.depths}, width {config.width}, "
        f"extra_blocks {config.extra_blocks}, head {config.head!r}, "
        f"multi_grid {config.multi_grid}, num_classes {config.num_classes}",
        f"parameters: {count_parameters(model):,} (none depends on the output stride)",
        f"input: {size[0]}x{size[1]}",
    ]
    for os in output_strides:
        model.set_output_stride(os)
        flops = count_flops(model, size)
        lines += ["", f"output_stride {os}: {flops / 1e9:.2f} GFLOPs (2 x conv multiply-adds)"]
        lines.append(_row("stage", "channels", "stride", "size", "rates"))
        sizes = feature_sizes(config, size, os)
        lines.append(_row("stem", config.width, 4, sizes["stem"], "-"))
        for b, plan in enumerate(block_plans(config, os)):
            channels = block_channels(config, b)
            stage = f"{plan.name} (block{b + 1})"
            rates = _rates(plan.unit_rates)
            lines.append(_row(stage, channels, plan.output_stride, sizes[plan.name], rates))
        last = sizes[plan.name]
        if config.head == "aspp":
            rates = ", ".join(map(str, config.scaled_aspp_rates(os)))
            pooling = " + image pooling" if config.image_pooling else ""
            lines.append(
                _row("aspp", config.aspp_channels, os, last, f"1x1; 3x3 at {rates}{pooling}")
            )
        upsampled = f"upsampled to {size[0]}x{size[1]}, align_corners={config.align_corners}"
        lines.append(_row("logits", config.num_classes, os, last, upsampled))
    return "\n".join(lines)
