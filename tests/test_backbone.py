"""The atrous ResNet (Sec. 3.1, 3.2.1): strides and rates against the independent NumPy plan,
multi-grid multiplied by the block rate, where the stride sits, torchvision's names and sizes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings

from atrous import DeepLabV3, DeepLabV3Config, get_preset
from atrous.model.backbone import block_plans
from atrous.model.summary import count_parameters
from reference.network import block_strides_and_rates
from tests.strategies import seeds
from tests.strategies_model import configs, image_sizes, random_model

TINY = DeepLabV3Config(depths=(1, 1, 1, 1), width=4, aspp_channels=4, num_classes=3)


def test_set_output_stride_to_an_unreachable_one_raises_and_changes_nothing():
    model = DeepLabV3(TINY)
    with pytest.raises(ValueError, match="output_stride must be a power of two"):
        model.set_output_stride(64)
    assert model.config.output_stride == 16
    assert model.backbone.layer4[0].conv2.dilation == (2, 2)


@given(config=configs(), seed=seeds())
@settings(max_examples=15)
def test_conv_strides_and_dilations_match_the_independent_numpy_plan(config, seed):
    # reference.network works the rates out in closed form; the torch modules must agree.
    model = DeepLabV3(config)
    for b, (stride, rates) in enumerate(block_strides_and_rates(config), start=1):
        block = model.backbone.get_submodule(f"layer{b}")
        assert [unit.conv2.dilation for unit in block] == [(r, r) for r in rates]
        assert [unit.conv2.padding for unit in block] == [(r, r) for r in rates]
        assert [unit.conv2.stride for unit in block] == [(stride, stride)] + [(1, 1)] * (
            len(block) - 1
        )
        assert block[0].downsample[0].stride == (stride, stride)


@pytest.mark.parametrize(
    ("multi_grid", "output_stride", "extra_blocks", "expected"),
    [
        # Sec. 3.2.1: MG(1, 2, 4) at block rate 2 (output_stride 16) is (2, 4, 8): multiplied.
        ((1, 2, 4), 16, 0, {"layer4": [2, 4, 8]}),
        ((1, 2, 4), 8, 0, {"layer3": [2] * 6, "layer4": [4, 8, 16]}),
        ((1, 2, 4), 32, 0, {"layer4": [1, 2, 4]}),
        # Block7 + MG(1, 2, 1) at 16: block rates 2, 4, 8, 16 times the unit rates.
        (
            (1, 2, 1),
            16,
            3,
            {
                "layer4": [2, 4, 2],
                "layer5": [4, 8, 4],
                "layer6": [8, 16, 8],
                "layer7": [16, 32, 16],
            },
        ),
    ],
)
def test_multi_grid_rates_are_multiplied_by_the_block_rate(
    multi_grid, output_stride, extra_blocks, expected
):
    config = get_preset(
        "resnet50-block7" if extra_blocks else "resnet50",
        multi_grid=multi_grid,
        output_stride=output_stride,
    )
    with torch.device("meta"):
        model = DeepLabV3(config)
    for name, rates in expected.items():
        assert [u.conv2.dilation[0] for u in model.backbone.get_submodule(name)] == rates


def test_first_unit_previous_rate_is_torchvisions_convention():
    # torchvision's deeplabv3 at output_stride 8: layer3 dilations 1, 2, 2, ...; layer4 2, 4, 4.
    config = get_preset(
        "resnet50", output_stride=8, multi_grid=(1, 1, 1), first_unit_previous_rate=True
    )
    with torch.device("meta"):
        model = DeepLabV3(config)
    assert [u.conv2.dilation[0] for u in model.backbone.layer3] == [1, 2, 2, 2, 2, 2]
    assert [u.conv2.dilation[0] for u in model.backbone.layer4] == [2, 4, 4]


def _torchvision_resnet_keys(depths: tuple[int, ...]) -> set[str]:
    """The state-dict keys of torchvision's ResNet, without ``fc``, written out by hand."""

    def bn(p: str) -> list[str]:
        return [f"{p}.{s}" for s in ("weight", "bias", "running_mean", "running_var")] + [
            f"{p}.num_batches_tracked"
        ]

    keys = ["conv1.weight", *bn("bn1")]
    for b, depth in enumerate(depths, start=1):
        for u in range(depth):
            p = f"layer{b}.{u}"
            for i in (1, 2, 3):
                keys += [f"{p}.conv{i}.weight", *bn(f"{p}.bn{i}")]
            if u == 0:
                keys += [f"{p}.downsample.0.weight", *bn(f"{p}.downsample.1")]
    return set(keys)


@pytest.mark.parametrize(
    ("name", "backbone_parameters"),
    # torchvision's resnet50 / resnet101 have 25,557,032 / 44,549,160 parameters, of which
    # fc has 2048 * 1000 + 1000 = 2,049,000.
    [("resnet50", 25_557_032 - 2_049_000), ("resnet101", 44_549_160 - 2_049_000)],
)
def test_backbone_is_torchvisions_resnet_by_name_and_size(name, backbone_parameters):
    config = get_preset(name)
    with torch.device("meta"):
        model = DeepLabV3(config)
    assert set(model.backbone.state_dict()) == _torchvision_resnet_keys(config.depths)
    assert count_parameters(model.backbone) == backbone_parameters


@given(config=configs(), size=image_sizes(), seed=seeds())
@settings(max_examples=10)
def test_the_stride_sits_on_the_first_units_3x3_conv(config, size, seed):
    """ResNet v1.5, as torchvision (module docstring of atrous.model.backbone): in a strided block
    the first unit's 1x1 conv1 keeps the resolution and its 3x3 conv2 halves it; every other
    conv of the block keeps the resolution. Measured on the feature maps, not the weights."""
    model = random_model(config, seed)
    sizes = {}

    def hook(name):
        return lambda module, inputs, output: sizes.__setitem__(
            name, (tuple(inputs[0].shape[-2:]), tuple(output.shape[-2:]))
        )

    convs = {n: m for n, m in model.backbone.named_modules() if isinstance(m, torch.nn.Conv2d)}
    handles = [m.register_forward_hook(hook(n)) for n, m in convs.items() if n.startswith("layer")]
    with torch.no_grad():
        model(torch.randn(1, 3, *size))
    for handle in handles:
        handle.remove()
    for plan in block_plans(config):
        for u in range(len(plan.unit_rates)):
            for conv in ("conv1", "conv2", "conv3"):
                before, after = sizes[f"{plan.name}.{u}.{conv}"]
                halves = plan.stride == 2 and u == 0 and conv == "conv2"
                expected = tuple(-(-n // 2) for n in before) if halves else before
                assert after == expected, (plan.name, u, conv, before, after)
