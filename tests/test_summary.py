"""The summary (``python -m atrous summary``): feature sizes from the convolution arithmetic
equal the real ones; FLOPs; the printed table and its bad input."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings

from atrous import DeepLabV3, DeepLabV3Config, get_preset
from atrous.cli import main
from atrous.model.backbone import block_plans
from atrous.model.summary import count_flops, count_parameters, feature_sizes, summary
from tests.strategies import seeds
from tests.strategies_model import configs, image_sizes, random_model

TINY = DeepLabV3Config(depths=(1, 1, 1, 1), width=4, aspp_channels=4, num_classes=3)


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
def test_feature_sizes_of_the_summary_are_the_real_ones(config, size, seed):
    model = random_model(config, seed)
    assert _stage_sizes(model, torch.randn(1, 3, *size)) == feature_sizes(config, size)


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["resnet9"], "unknown preset 'resnet9'; the presets are"),
        (["tiny", "--output-stride", "64"], r"--output-stride must be .* one of \(4, 8, 16, 32\)"),
        (["tiny", "--size", "0"], "--size must be a side of at least 1 pixel, got 0"),
    ],
)
def test_summary_cli_rejects_bad_input_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["summary", *argv])
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
