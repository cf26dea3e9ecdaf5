"""The whole DeepLabv3 network, eval mode, in plain NumPy: the oracle for ``atrous.DeepLabV3``.

Built only from :func:`reference.conv.atrous_conv2d` (Eq. 1) and NumPy: batch norm with
running statistics, ReLU, 3x3 max pooling, global average pooling and bilinear resizing
(both ``align_corners`` conventions) are written out here. It reads the weights from a dict
of NumPy arrays keyed like the torch model's ``state_dict()`` and the architecture from a
config, any object with the attributes of ``atrous.DeepLabV3Config`` (duck-typed: this
module never imports torch or atrous).

The strides and rates are worked out here again, in closed form, rather than by the torch
code's walk over the blocks, so that the two are independent opinions of Sec. 3.1:

- without atrous convolution block ``b`` (1-based) ends at output stride
  ``natural(b) = 4 * 2**(b - 1)`` (block1: 4, block4: 32, block7: 256);
- with atrous convolution the resolution stops at ``output_stride``: block ``b`` keeps its
  stride 2 only if ``natural(b) <= output_stride``, and its rate is whatever the resolution
  lost, ``max(1, natural(b) / output_stride)``;
- units of block4..block7 multiply that rate by ``multi_grid[i % 3]`` (Sec. 3.2.1);
- ASPP rates are ``rate * 16 / output_stride`` (Sec. 3.3);
- with ``rate_scale`` s (our extension, for feature maps smaller than the paper's), every
  rate of block4..block7 and of ASPP becomes ``floor(rate * s + 0.5)``, at least 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.conv import atrous_conv2d

BN_EPS = 1e-5  # PyTorch's BatchNorm2d default
Weights = dict[str, np.ndarray]


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


def batch_norm(x: np.ndarray, sd: Weights, prefix: str) -> np.ndarray:
    """Eval-mode batch norm: ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``."""

    def per_channel(name: str) -> np.ndarray:
        return sd[f"{prefix}.{name}"][None, :, None, None]  # (1, C, 1, 1)

    return (x - per_channel("running_mean")) / np.sqrt(
        per_channel("running_var") + BN_EPS
    ) * per_channel("weight") + per_channel("bias")


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def max_pool_3x3_stride2(x: np.ndarray) -> np.ndarray:
    """3x3 max pooling with stride 2 and padding 1 (padding never wins: it is -inf)."""
    N, C, H, W = x.shape
    H_out, W_out = (H - 1) // 2 + 1, (W - 1) // 2 + 1
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    out = np.full((N, C, H_out, W_out), -np.inf, dtype=x.dtype)
    for i in range(3):
        for j in range(3):
            out = np.maximum(out, xp[:, :, i : i + 2 * H_out - 1 : 2, j : j + 2 * W_out - 1 : 2])
    return out


def _resize_weights(n_in: int, n_out: int, align_corners: bool) -> np.ndarray:
    """(n_out, n_in) matrix of 1-D linear interpolation weights."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        # Corner pixels' centres coincide: src = dst * (n_in - 1) / (n_out - 1).
        src = dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        # Pixel areas coincide: src = (dst + 0.5) * n_in / n_out - 0.5, clamped at 0.
        src = np.maximum((dst + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.arange(n_out), i0), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), i1), frac)
    return m


def resize_bilinear(x: np.ndarray, size: tuple[int, int], align_corners: bool) -> np.ndarray:
    """Bilinear resizing of (N, C, h, w) to (N, C, *size), separable: rows, then columns."""
    r = _resize_weights(x.shape[2], size[0], align_corners).astype(x.dtype)  # (H, h)
    c = _resize_weights(x.shape[3], size[1], align_corners).astype(x.dtype)  # (W, w)
    return np.einsum("Hh,nchw,Ww->ncHW", r, x, c)  # (N, C, H, W)


def conv(x: np.ndarray, sd: Weights, prefix: str, rate: int = 1, stride: int = 1) -> np.ndarray:
    """A convolution from the state dict: "same" padding ``rate * (k - 1) // 2`` (Eq. 1)."""
    w = sd[f"{prefix}.weight"]
    padding = rate * (w.shape[2] - 1) // 2
    return atrous_conv2d(
        x, w, rate=rate, stride=stride, padding=padding, bias=sd.get(f"{prefix}.bias")
    )


# --------------------------------------------------------------------------------------------
# Strides and rates, in closed form (Sec. 3.1, 3.2.1, 3.3)
# --------------------------------------------------------------------------------------------


def block_strides_and_rates(config: Any) -> list[tuple[int, list[int]]]:
    """For each block: (stride of its first unit, rates of its units' 3x3 convs)."""
    os = config.output_stride
    n_blocks = 4 + config.extra_blocks
    blocks = []
    for b in range(1, n_blocks + 1):
        natural = 4 * 2 ** (b - 1)  # output stride after block b without atrous conv
        stride = 1 if b == 1 or natural > os else 2
        rate = max(1, natural // os)
        previous_rate = max(1, (natural // 2) // os) if b > 1 else 1
        depth = config.depths[min(b, 4) - 1]  # block5..7 copy block4
        grid = [config.multi_grid[i % 3] if b >= 4 else 1 for i in range(depth)]
        rates = [g * rate for g in grid]
        if config.first_unit_previous_rate:
            rates[0] = grid[0] * previous_rate
        if b >= 4:
            rates = [_scaled(r, config) for r in rates]
        blocks.append((stride, rates))
    return blocks


def aspp_rates(config: Any) -> list[int]:
    """ASPP rates at the config's output stride (given at 16)."""
    rates = [r * 16 / config.output_stride for r in config.aspp_rates]
    if any(r != int(r) for r in rates):
        raise ValueError(f"ASPP rates {rates} are not integers")
    return [_scaled(int(r), config) for r in rates]


def _scaled(rate: int, config: Any) -> int:
    """``rate`` times the config's ``rate_scale`` (1 if it has none), rounded half up, >= 1."""
    scale = getattr(config, "rate_scale", 1.0)
    return rate if scale == 1.0 else max(1, int(np.floor(rate * scale + 0.5)))


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def bottleneck(x: np.ndarray, sd: Weights, prefix: str, stride: int, rate: int) -> np.ndarray:
    """One bottleneck unit; the first unit of a block has the projection shortcut."""
    if f"{prefix}.downsample.0.weight" in sd:
        shortcut = batch_norm(
            conv(x, sd, f"{prefix}.downsample.0", stride=stride), sd, f"{prefix}.downsample.1"
        )
    else:
        shortcut = x
    y = relu(batch_norm(conv(x, sd, f"{prefix}.conv1"), sd, f"{prefix}.bn1"))
    y = relu(batch_norm(conv(y, sd, f"{prefix}.conv2", rate, stride), sd, f"{prefix}.bn2"))
    y = batch_norm(conv(y, sd, f"{prefix}.conv3"), sd, f"{prefix}.bn3")
    return relu(y + shortcut)


def backbone_stages(x: np.ndarray, sd: Weights, config: Any) -> dict[str, np.ndarray]:
    """The stem's output (after the max pool) and every block's, by torchvision's names:
    ``"stem"``, ``"layer1"`` .. ``"layer{4 + extra_blocks}"``."""
    x = relu(batch_norm(conv(x, sd, "backbone.conv1", stride=2), sd, "backbone.bn1"))
    stages = {"stem": max_pool_3x3_stride2(x)}  # (N, width, H/4, W/4)
    x = stages["stem"]
    for b, (stride, rates) in enumerate(block_strides_and_rates(config), start=1):
        if f"backbone.layer{b}.0.downsample.0.weight" not in sd:
            raise KeyError(f"backbone.layer{b}.0 must have a projection shortcut")
        for u, rate in enumerate(rates):
            x = bottleneck(x, sd, f"backbone.layer{b}.{u}", stride if u == 0 else 1, rate)
        stages[f"layer{b}"] = x
    return stages


def backbone(x: np.ndarray, sd: Weights, config: Any) -> np.ndarray:
    """Stem and block1..block(4 + extra_blocks): (N, 3, H, W) -> (N, C, H/os, W/os)."""
    return list(backbone_stages(x, sd, config).values())[-1]


def aspp(x: np.ndarray, sd: Weights, config: Any, prefix: str = "classifier.0") -> np.ndarray:
    """Sec. 3.3: 1x1, 3x3 at each rate, image pooling; concat; 1x1 projection."""

    def conv_bn_relu(x: np.ndarray, branch: str, rate: int = 1) -> np.ndarray:
        return relu(batch_norm(conv(x, sd, f"{branch}.0", rate), sd, f"{branch}.1"))

    branches = [conv_bn_relu(x, f"{prefix}.convs.0")]
    for i, rate in enumerate(aspp_rates(config), start=1):
        branches.append(conv_bn_relu(x, f"{prefix}.convs.{i}", rate))
    if config.image_pooling:
        p = f"{prefix}.convs.{len(branches)}"
        pooled = x.mean(axis=(2, 3), keepdims=True)  # (N, C, 1, 1)
        y = relu(batch_norm(conv(pooled, sd, f"{p}.1"), sd, f"{p}.2"))
        branches.append(resize_bilinear(y, x.shape[2:], align_corners=False))  # (N, C, h, w)
    y = np.concatenate(branches, axis=1)  # (N, B * C, h, w)
    return relu(batch_norm(conv(y, sd, f"{prefix}.project.0"), sd, f"{prefix}.project.1"))


def deeplabv3_stages(
    state_dict: dict[str, np.ndarray], config: Any, images: np.ndarray
) -> dict[str, np.ndarray]:
    """Every stage's output of DeepLabv3 in eval mode, in order: ``"stem"``, ``"layer1"`` ..
    (:func:`backbone_stages`), ``"aspp"`` (with the ASPP head), ``"logits"`` (feature-map
    size) and ``"out"`` (upsampled to the images). torchvision's extra 3x3 conv, BN and
    ReLU after the ASPP (``head_conv3x3``, not the paper) is computed when the config has it;
    its auxiliary head, which does not change ``"out"``, is not.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got shape {images.shape}")
    sd = state_dict
    stages = backbone_stages(images, sd, config)  # (N, C, H/os, W/os) last
    x = list(stages.values())[-1]
    if config.head == "aspp":
        x = stages["aspp"] = aspp(x, sd, config)
        final = "classifier.1"
        if getattr(config, "head_conv3x3", False):  # torchvision's DeepLabHead
            x = relu(batch_norm(conv(x, sd, "classifier.1"), sd, "classifier.2"))
            final = "classifier.4"
        stages["logits"] = conv(x, sd, final)  # (N, K, H/os, W/os)
    elif config.head == "cascade":
        stages["logits"] = conv(x, sd, "classifier.0")  # (N, K, H/os, W/os)
    else:
        raise ValueError(f"head must be 'aspp' or 'cascade', got {config.head!r}")
    stages["out"] = resize_bilinear(stages["logits"], images.shape[2:], config.align_corners)
    return stages


def deeplabv3_forward(
    state_dict: dict[str, np.ndarray], config: Any, images: np.ndarray, upsample: bool = True
) -> np.ndarray:
    """Logits (N, num_classes, H, W) of DeepLabv3 in eval mode, for (N, 3, H, W) images;
    with ``upsample=False`` at the feature-map size, before the bilinear upsampling.

    Args:
        state_dict: parameters and BN buffers as NumPy arrays, keyed like
            ``atrous.DeepLabV3(config).state_dict()``.
        config: an object with the attributes of ``atrous.DeepLabV3Config``.
        images: (N, 3, H, W) float array; computation is in the result type of the images
            and the weights.
    """
    if getattr(config, "aux_head", False):  # a training aid of torchvision's, not the paper's
        raise ValueError("the NumPy forward has no auxiliary head: aux_head=True")
    stages = deeplabv3_stages(state_dict, config, images)
    return stages["out"] if upsample else stages["logits"]
