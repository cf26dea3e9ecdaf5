"""Properties of the whole torch DeepLabv3 (Sec. 3, 4.1): output sizes, switching the output
stride with the same weights, frozen batch norm, precision and memory formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous import DeepLabV3, DeepLabV3Config, get_preset
from tests.strategies import seeds
from tests.strategies_model import configs, image_sizes, random_model

TINY = DeepLabV3Config(depths=(1, 1, 1, 1), width=4, aspp_channels=4, num_classes=3)


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


@given(config=configs(), size=image_sizes(), seed=seeds())
@settings(max_examples=15)
def test_output_is_input_size_and_features_are_ceil_of_input_over_output_stride(config, size, seed):
    model = random_model(config, seed)
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        assert model(x).shape == (1, config.num_classes, *size)
        small = model(x, upsample=False)
    os = config.output_stride
    assert small.shape == (1, config.num_classes, _ceil_div(size[0], os), _ceil_div(size[1], os))


@given(config=configs(heads=("aspp",)), size=image_sizes(), data=st.data(), seed=seeds())
@settings(max_examples=15)
def test_set_output_stride_keeps_parameters_and_scales_the_feature_map(config, size, data, seed):
    # ASPP rates must stay integers at the new output stride: draw it among those allowed.
    allowed = [
        os for os in config.output_strides if all(r * 16 % os == 0 for r in config.aspp_rates)
    ]
    new_os = data.draw(st.sampled_from(allowed))
    model = random_model(config, seed)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    names = [name for name, _ in model.named_parameters()]
    x = torch.randn(1, 3, *size)
    assert model.set_output_stride(new_os) is model
    assert model.config.output_stride == new_os
    assert [name for name, _ in model.named_parameters()] == names
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with torch.no_grad():
        small = model(x, upsample=False)
        switched = model(x)
    assert small.shape[-2:] == (_ceil_div(size[0], new_os), _ceil_div(size[1], new_os))
    # Switching in place is the same network as one built at the new output stride.
    fresh = DeepLabV3(model.config).eval()
    fresh.load_state_dict(after)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), switched, rtol=0, atol=0)


def test_freeze_bn_survives_train_and_stops_statistics():
    model = random_model(TINY, 0)
    x = torch.randn(2, 3, 33, 33)
    with torch.no_grad():
        expected = model(x)
    model.freeze_bn(True).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert model.training and model.bn_frozen
    assert all(not bn.training for bn in bns)
    assert all(not p.requires_grad for bn in bns for p in bn.parameters())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model(x).sum().backward()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)
    model.freeze_bn(False)
    assert all(bn.training for bn in bns)
    assert all(p.requires_grad for bn in bns for p in bn.parameters())


def test_bn_momentum_comes_from_the_config():
    model = DeepLabV3(get_preset("tiny", bn_momentum=0.0003))
    momenta = {m.momentum for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert momenta == {0.0003}


def test_channels_last_gives_the_same_logits():
    model = random_model(TINY, 1)
    x = torch.randn(2, 3, 29, 35)
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        actual = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_bf16_autocast_on_cpu_is_close_to_float32():
    model = random_model(TINY, 2)
    x = torch.randn(1, 3, 33, 33)
    with torch.no_grad():
        expected = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            actual = model(x)
    assert actual.dtype == torch.bfloat16 and actual.shape == expected.shape
    error = (actual.float() - expected).abs().max() / expected.abs().max()
    assert error < 0.05


def test_bf16_autocast_training_step_with_batch_one():
    model = DeepLabV3(TINY).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(torch.randn(1, 3, 33, 33)).float().square().mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_input_that_is_not_rgb_raises():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        DeepLabV3(TINY)(torch.randn(1, 1, 17, 17))


def test_model_rejects_a_non_config():
    with pytest.raises(ValueError, match="config must be a DeepLabV3Config"):
        DeepLabV3({"num_classes": 3})  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [(33, 33), (32, 47)])
def test_align_corners_false_differs_only_in_upsampling(size):
    a = random_model(TINY, 3)
    b = DeepLabV3(get_preset("tiny", **{**TINY.__dict__, "align_corners": False})).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        torch.testing.assert_close(a(x, upsample=False), b(x, upsample=False), rtol=0, atol=0)
        assert not np.allclose(a(x).numpy(), b(x).numpy())


@pytest.mark.gpu
def test_cuda_with_fp16_autocast_and_channels_last_matches_cpu():
    model = random_model(TINY, 4)
    x = torch.randn(2, 3, 33, 33)
    with torch.no_grad():
        expected = model(x)
        model = model.cuda().to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.float16):
            actual = model(x.cuda().to(memory_format=torch.channels_last)).float().cpu()
    assert (actual - expected).abs().max() / expected.abs().max() < 0.05
    # A batch-size-1 training step on the GPU under autocast.
    model.train()
    with torch.autocast("cuda", dtype=torch.float16):
        loss = model(torch.randn(1, 3, 33, 33, device="cuda")).float().square().mean()
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
