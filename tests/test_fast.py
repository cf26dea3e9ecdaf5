"""atrous.inference.fast: the inference fast path computes what the network computes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous import DeepLabV3, get_preset
from atrous.inference.fast import fuse_bn, prepare_for_inference
from tests.strategies_model import configs, image_sizes, random_model


def _bns(model: torch.nn.Module) -> int:
    return sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


@pytest.mark.slow
@settings(max_examples=8)
@given(
    config=configs(max_extra_blocks=1), size=image_sizes(max_side=33), seed=st.integers(0, 2**16)
)
def test_fused_model_equals_the_original(config, size, seed):
    model = random_model(config, seed)
    fast = prepare_for_inference(model)
    assert _bns(fast) == 0  # every BN of DeepLabV3 follows a conv
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        want = model(x)
    torch.testing.assert_close(fast(x), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("channels_last", [True, False])
def test_tiny_preset_with_torchvisions_head(channels_last):
    config = get_preset("tiny", head_conv3x3=True, aux_head=True, first_unit_previous_rate=True)
    model = random_model(config, seed=1)
    fast = prepare_for_inference(model, channels_last=channels_last)
    assert _bns(fast) == 0
    x = torch.randn(1, 3, 41, 30)
    with torch.no_grad():
        want, want_aux = model.forward_with_aux(x)
        torch.testing.assert_close(fast(x), want, rtol=1e-4, atol=1e-4)
        out, aux = fast.model.forward_with_aux(x)
    torch.testing.assert_close(aux, want_aux, rtol=1e-4, atol=1e-4)
    # A different output stride afterwards still agrees: folding touched no stride or rate.
    model.set_output_stride(8)
    fast.model.set_output_stride(8)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), model(x), rtol=1e-4, atol=1e-4)


def test_the_original_is_untouched_and_the_fast_one_cannot_train():
    model = random_model(get_preset("tiny"), seed=2).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = prepare_for_inference(model)
    assert model.training and _bns(model) == _bns(DeepLabV3(get_preset("tiny")))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert not fast.training
    with pytest.raises(ValueError, match="cannot train"):
        fast.train()


def test_fusing_is_not_the_identity():
    """The check above can fail: dropping BN instead of folding it changes the output."""
    model = random_model(get_preset("tiny"), seed=3)
    fused = fuse_bn(model)
    for m in fused.modules():
        if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
            m.bias.data.zero_()
    x = torch.randn(1, 3, 33, 33)
    with torch.no_grad():
        assert not torch.allclose(fused(x), model(x), rtol=1e-3, atol=1e-3)


def test_a_bn_after_something_else_is_left_alone():
    net = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.BatchNorm2d(3), torch.nn.Conv2d(3, 2, 1))
    assert _bns(fuse_bn(net)) == 1
