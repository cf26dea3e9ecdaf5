"""Properties of the torch DeepLabv3 (Sec. 3, 4.1): sizes, output strides, multi-grid,
batch norm, parameter names, precision and memory formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous import DeepLabV3, DeepLabV3Config, get_preset
from atrous.aspp import ASPPPooling
from atrous.backbone import block_plans
from atrous.cli import main
from atrous.summary import count_flops, count_parameters, feature_sizes, summary
from reference.network import block_strides_and_rates
from tests.strategies import seeds
from tests.strategies_model import configs, image_sizes, random_model

TINY = DeepLabV3Config(depths=(1, 1, 1, 1), width=4, aspp_channels=4, num_classes=3)


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


def _stage_sizes(model: DeepLabV3, x: torch.Tensor) -> dict[str, tuple[int, int]]:
    """The feature-map sizes the network really produces, caught by forward hooks."""
    sizes = {}
    stages = {"stem": model.backbone.maxpool}
    stages.update({name: model.backbone.get_submodule(name) for name in model.backbone.block_names})

    def hook(name):
        return lambda module, inputs, output: sizes.__setitem__(name, tuple(output.shape[-2:]))

    handles = [m.register_forward_hook(hook(name)) for name, m in stages.items()]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return sizes


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


@given(config=configs(), size=image_sizes(), seed=seeds())
@settings(max_examples=15)
def test_feature_sizes_of_the_summary_are_the_real_ones(config, size, seed):
    model = random_model(config, seed)
    assert _stage_sizes(model, torch.randn(1, 3, *size)) == feature_sizes(config, size)


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
    for key, tensor in model.backbone.state_dict().items():
        if key.endswith("conv1.weight") and key.startswith("layer"):
            assert tensor.shape[2:] == (1, 1)  # v1.5: the stride is on the 3x3 conv2


def test_aspp_head_is_named_like_torchvisions():
    keys = set(DeepLabV3(TINY).state_dict())
    # 1x1 branch, three rates, image pooling (conv at .1 after the pool), projection.
    for key in [
        "classifier.0.convs.0.0.weight",
        "classifier.0.convs.3.0.weight",
        "classifier.0.convs.4.1.weight",
        "classifier.0.convs.4.2.running_var",
        "classifier.0.project.0.weight",
        "classifier.0.project.1.weight",
        "classifier.1.weight",
        "classifier.1.bias",
    ]:
        assert key in keys


def test_batch_size_one_training_step_works_and_uses_running_stats_in_image_pooling():
    torch.manual_seed(0)
    model = DeepLabV3(TINY).train()
    pooling = model.classifier[0].convs[-1]
    assert isinstance(pooling, ASPPPooling)
    pooling_bn = pooling[2]
    other_bn = model.classifier[0].project[1]
    pooled_stats = pooling_bn.running_mean.clone(), pooling_bn.running_var.clone()
    other_mean = other_bn.running_mean.clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, labels = torch.randn(1, 3, 33, 33), torch.randint(0, 3, (1, 33, 33))
    loss = torch.nn.functional.cross_entropy(model(x), labels)
    loss.backward()
    # The image-level branch still learns: its conv gets a gradient.
    assert pooling[1].weight.grad.abs().sum() > 0
    optimizer.step()
    assert torch.equal(pooling_bn.running_mean, pooled_stats[0])
    assert torch.equal(pooling_bn.running_var, pooled_stats[1])
    assert not torch.equal(other_bn.running_mean, other_mean)  # ordinary BN elsewhere
    # Two images: ordinary batch norm in the pooling branch too.
    model(torch.randn(2, 3, 33, 33))
    assert not torch.equal(pooling_bn.running_mean, pooled_stats[0])


def test_image_pooling_branch_is_spatially_constant():
    model = random_model(TINY, 0)
    pooling = model.classifier[0].convs[-1]
    with torch.no_grad():
        y = pooling(torch.randn(2, 128, 5, 7))  # block4 of TINY: 4 * 8 * 4 channels
    assert y.shape == (2, 4, 5, 7)
    torch.testing.assert_close(y, y[:, :, :1, :1].expand_as(y), rtol=1e-6, atol=1e-6)


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


def test_cascade_head_is_a_single_classifier_on_the_last_block():
    config = get_preset("tiny", extra_blocks=3, head="cascade", multi_grid=(1, 2, 1))
    model = DeepLabV3(config)
    assert model.backbone.block_names[-1] == "layer7"
    assert len(model.classifier) == 1
    assert model.classifier[0].in_channels == model.backbone.out_channels == 16 * 8 * 4


def test_count_flops_of_a_single_convolution():
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 5, 3, padding=2, dilation=2))
    assert count_flops(conv, (7, 9)) == 2 * (7 * 9) * 5 * (3 * 3 * 3)


def test_summary_prints_the_real_sizes_and_rates(capsys):
    config = get_preset("tiny")
    text = summary(config, (37, 29), output_strides=(8,))
    sizes = feature_sizes(config, (37, 29), 8)
    for plan in block_plans(config, 8):
        h, w = sizes[plan.name]
        line = next(line for line in text.splitlines() if line.strip().startswith(plan.name))
        assert f"{h}x{w}" in line and line.rstrip().endswith(str(plan.unit_rates[0]))
    assert "3x3 at 12, 24, 36" in text  # ASPP rates doubled at output_stride 8
    assert main(["summary", "tiny", "--output-stride", "16", "--size", "65"]) == 0
    out = capsys.readouterr().out
    assert f"parameters: {count_parameters(DeepLabV3(config)):,}" in out
    assert "output_stride 16" in out and "output_stride 8" not in out


def test_summary_cli_rejects_unknown_preset_and_output_stride():
    with pytest.raises(SystemExit, match="unknown preset 'resnet9'; the presets are"):
        main(["summary", "resnet9"])
    with pytest.raises(SystemExit, match=r"--output-stride must be .* one of \(4, 8, 16, 32\)"):
        main(["summary", "tiny", "--output-stride", "64"])


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
