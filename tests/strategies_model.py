"""Hypothesis strategies for the model area: small DeepLabv3 configs, images, random weights.

Keyword-only and bounded, so every drawn network runs in milliseconds on a CPU: at most two
units per block, widths 2 to 4, inputs of at most 40 pixels a side.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

from atrous import DeepLabV3, DeepLabV3Config


@st.composite
def configs(
    draw: st.DrawFn,
    *,
    max_depth: int = 2,
    max_width: int = 4,
    max_extra_blocks: int = 3,
    heads: tuple[str, ...] = ("aspp", "cascade"),
    output_stride: int | None = None,
) -> DeepLabV3Config:
    """A valid small config; ASPP rates are multiples of what its output stride needs."""
    # A given output stride above 32 needs enough extra blocks to reach it (64: one, ...).
    min_extra = 0 if output_stride is None else max(0, (output_stride // 32).bit_length() - 1)
    extra_blocks = draw(st.integers(min_extra, max(min_extra, max_extra_blocks)))
    natural = 32 * 2**extra_blocks
    if output_stride is None:
        output_stride = draw(st.sampled_from([4 * 2**i for i in range(natural.bit_length() - 2)]))
    # A rate r at output_stride 16 becomes r * 16 / os: a multiple of os / 16 stays an int.
    unit = max(1, output_stride // 16)
    return DeepLabV3Config(
        num_classes=draw(st.integers(1, 4)),
        depths=tuple(draw(st.lists(st.integers(1, max_depth), min_size=4, max_size=4))),
        width=draw(st.integers(2, max_width)),
        extra_blocks=extra_blocks,
        output_stride=output_stride,
        multi_grid=tuple(draw(st.lists(st.integers(1, 3), min_size=3, max_size=3))),
        head=draw(st.sampled_from(heads)),
        aspp_rates=tuple(
            unit * r for r in draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
        ),
        image_pooling=draw(st.booleans()),
        aspp_channels=draw(st.integers(2, 6)),
        align_corners=draw(st.booleans()),
        first_unit_previous_rate=draw(st.booleans()),
    )


def image_sizes(*, min_side: int = 9, max_side: int = 40) -> st.SearchStrategy[tuple[int, int]]:
    """(H, W), odd and even sides alike."""
    side = st.integers(min_side, max_side)
    return st.tuples(side, side)


def images(
    seed: int, *, batch: int, size: tuple[int, int], dtype: np.dtype = np.float64
) -> np.ndarray:
    """(batch, 3, H, W) in [-1, 1], from a seed (cheaper than drawing every element)."""
    return np.random.default_rng(seed).uniform(-1, 1, (batch, 3, *size)).astype(dtype)


def random_model(config: DeepLabV3Config, seed: int) -> DeepLabV3:
    """A model in eval mode with random weights and random BN statistics and affine params.

    Without the random BN state every BN would be the identity in eval mode (mean 0, var 1,
    scale 1, shift 0) and a comparison would not see a BN mistake.
    """
    torch.manual_seed(seed)
    model = DeepLabV3(config).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            elif isinstance(module, torch.nn.Conv2d) and module.bias is not None:
                module.bias.uniform_(-0.5, 0.5)
    return model


def numpy_state_dict(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
