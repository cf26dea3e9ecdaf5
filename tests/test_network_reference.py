"""The torch DeepLabv3 against the NumPy forward of :mod:`reference.network`, and the
NumPy building blocks against PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import event, given, settings
from hypothesis import strategies as st

from atrous import DeepLabV3Config, get_preset
from reference.network import (
    block_strides_and_rates,
    deeplabv3_forward,
    max_pool_3x3_stride2,
    resize_bilinear,
)
from tests.strategies import seeds
from tests.strategies_model import configs, image_sizes, images, numpy_state_dict, random_model


@pytest.mark.parametrize("output_stride", [4, 8, 16, 32, 64, 256])
@settings(max_examples=12)  # 6 x 12 networks, about 0.05 s each
@given(data=st.data(), size=image_sizes(), batch=st.integers(1, 2), seed=seeds())
def test_torch_matches_numpy_forward_float64(output_stride, data, size, batch, seed):
    config = data.draw(configs(output_stride=output_stride), label="config")
    event(f"extra_blocks={config.extra_blocks}, head={config.head}")
    model = random_model(config, seed).double()
    x = images(seed, batch=batch, size=size)
    expected = deeplabv3_forward(numpy_state_dict(model), config, x)
    with torch.no_grad():
        actual = model(torch.from_numpy(x)).numpy()
    assert actual.shape == expected.shape == (batch, config.num_classes, *size)
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())


@settings(max_examples=10)
@given(config=configs(), size=image_sizes(), seed=seeds())
def test_torch_matches_numpy_forward_float32(config, size, seed):
    model = random_model(config, seed)  # float32
    x = images(seed, batch=1, size=size, dtype=np.float32)
    state = {k: v.astype(np.float64) for k, v in numpy_state_dict(model).items()}
    expected = deeplabv3_forward(state, config, x.astype(np.float64))
    with torch.no_grad():
        actual = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@given(config=configs(output_stride=8), size=image_sizes(), seed=seeds())
@settings(max_examples=10)
def test_logits_at_feature_size_match_the_numpy_forward(config, size, seed):
    """``upsample=False`` (Tab. 8's ablation) against the NumPy forward stopped before its
    last step; and the NumPy resize of those logits is the torch model's upsampled output."""
    model = random_model(config, seed).double()
    x = images(seed, batch=1, size=size)
    expected = deeplabv3_forward(numpy_state_dict(model), config, x, upsample=False)
    with torch.no_grad():
        small = model(torch.from_numpy(x), upsample=False).numpy()
        full = model(torch.from_numpy(x)).numpy()
    h, w = (-(-n // 8) for n in size)
    assert small.shape == expected.shape == (1, config.num_classes, h, w)
    np.testing.assert_allclose(small, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
    np.testing.assert_allclose(resize_bilinear(small, size, config.align_corners), full, atol=1e-12)


@given(
    shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
    size=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    align_corners=st.booleans(),
    seed=seeds(),
)
def test_resize_bilinear_matches_torch(shape, size, align_corners, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, shape)
    expected = F.interpolate(
        torch.from_numpy(x), size=size, mode="bilinear", align_corners=align_corners
    ).numpy()
    np.testing.assert_allclose(resize_bilinear(x, size, align_corners), expected, atol=1e-12)


def test_resize_bilinear_align_corners_keeps_corners():
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    y = resize_bilinear(x, (3, 5), align_corners=True)
    assert y[0, 0, 0, 0] == 0 and y[0, 0, -1, -1] == 5 and y[0, 0, 1, 2] == 2.5


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 12), st.integers(1, 12)), seed=seeds())
def test_max_pool_matches_torch(shape, seed):
    x = np.random.default_rng(seed).normal(size=(1, *shape))
    expected = F.max_pool2d(torch.from_numpy(x), 3, stride=2, padding=1).numpy()
    np.testing.assert_array_equal(max_pool_3x3_stride2(x), expected)


@pytest.mark.parametrize(
    ("output_stride", "extra_blocks", "multi_grid", "block_rates"),
    [
        # Sec. 3.1: output_stride 16 gives block4 rate 2; 8 gives block3 rate 2, block4 rate 4.
        (16, 0, (1, 1, 1), [1, 1, 1, 2]),
        (8, 0, (1, 1, 1), [1, 1, 2, 4]),
        (32, 0, (1, 1, 1), [1, 1, 1, 1]),
        # Sec. 3.2: with block7 at 16 the rates double block to block: 2, 4, 8, 16.
        (16, 3, (1, 1, 1), [1, 1, 1, 2, 4, 8, 16]),
        (256, 3, (1, 1, 1), [1] * 7),
    ],
)
def test_reference_rates_follow_the_paper(output_stride, extra_blocks, multi_grid, block_rates):
    config = DeepLabV3Config(
        depths=(3, 4, 6, 3),
        output_stride=output_stride,
        extra_blocks=extra_blocks,
        multi_grid=multi_grid,
        head="cascade",
    )
    blocks = block_strides_and_rates(config)
    assert [rates[0] for _, rates in blocks] == block_rates
    # The product of the kept strides and the stem's 4 is the output stride.
    assert 4 * np.prod([stride for stride, _ in blocks]) == output_stride


def test_reference_multi_grid_is_multiplied():
    # Sec. 3.2.1: Multi_Grid (1, 2, 4) at block rate 2 gives (2, 4, 8) in block4.
    config = DeepLabV3Config(output_stride=16, multi_grid=(1, 2, 4))
    assert block_strides_and_rates(config)[3][1] == [2, 4, 8]


def test_numpy_forward_refuses_the_auxiliary_head():
    config = get_preset("tiny", num_classes=3, aux_head=True)
    with pytest.raises(ValueError, match="aux_head"):
        deeplabv3_forward({}, config, np.zeros((1, 3, 33, 33)))


@settings(max_examples=5)
@given(size=image_sizes(), seed=seeds())
def test_numpy_forward_with_torchvisions_head(size, seed):
    """head_conv3x3 (torchvision's extra 3x3 conv, BN, ReLU) and its other conventions."""
    config = get_preset("tiny", num_classes=3, head_conv3x3=True, first_unit_previous_rate=True,
                        multi_grid=(1, 1, 1), align_corners=False)  # fmt: skip
    model = random_model(config, seed).double()
    x = images(seed, batch=1, size=size)
    expected = deeplabv3_forward(numpy_state_dict(model), config, x)
    with torch.no_grad():
        actual = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
