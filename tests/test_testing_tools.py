"""The public testing tools (reference.testing, atrous.testing) on real and wrong code.

torch's conv2d with dilation passes the Eq. 1 check; our DeepLabv3 passes the whole-network
check; deliberately wrong implementations (off-by-one padding, the rate applied as a stride,
multi-grid rates that replace the block's rate instead of multiplying it) are caught with a
message that names what differs. The example of docs/src/check-your-implementation.md is
read from the page and run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings

from atrous import get_preset
from atrous.testing import assert_deeplabv3_matches, network_configs, stages_of, torch_conv2d
from reference.testing import assert_atrous_conv_matches
from tests.strategies import seeds
from tests.strategies_model import random_model

CHECK_PAGE = Path(__file__).resolve().parent.parent / "docs/src/check-your-implementation.md"


def test_torchs_dilated_conv2d_is_eq_1():
    assert_atrous_conv_matches(torch_conv2d, max_examples=60, rtol=1e-10, atol=1e-12)


def test_off_by_one_padding_is_caught_with_the_shapes():
    def padded_one_more(x, w, rate, stride, padding):
        return torch_conv2d(x, w, rate, stride, (padding[0] + 1, padding[1] + 1))

    with pytest.raises(AssertionError, match=r"^x \(.*\), w \(.*\), rate .* padding \(\d, \d\): "):
        assert_atrous_conv_matches(padded_one_more, max_examples=30)


def test_the_rate_applied_as_a_stride_is_caught_at_the_first_differing_value():
    def rate_as_stride(x, w, rate, stride, padding):
        same_size = tuple((k - 1) // 2 for k in w.shape[2:])
        return torch_conv2d(x, w, (1, 1), rate, same_size)

    with pytest.raises(AssertionError) as info:
        assert_atrous_conv_matches(rate_as_stride, max_examples=40, unit_stride=True, same=True)
    message = str(info.value)
    assert "rate (" in message and ("first at index" in message or "output shape" in message)


@settings(max_examples=8, deadline=None)
@given(config=network_configs(max_extra_blocks=1), seed=seeds())
def test_our_network_passes_the_whole_network_check(config, seed):
    model = random_model(config, seed)  # float32, random BN statistics
    assert_deeplabv3_matches(stages_of(model), model.state_dict(), config)
    assert_deeplabv3_matches(lambda x: model(torch.from_numpy(x).float()), model.state_dict(),
                             config)  # fmt: skip


def test_multi_grid_that_replaces_the_rate_is_caught_at_layer4():
    """One public implementation sets unit rates to multi_grid instead of multiplying."""
    config = get_preset("tiny", depths=(1, 1, 1, 3), multi_grid=(1, 2, 4), output_stride=16)
    model = random_model(config, 0)
    for unit, grid in zip(model.backbone.layer4, config.multi_grid, strict=True):
        unit.set_stride_and_rate(unit.conv2.stride[0], grid)  # block rate 2 forgotten
    with pytest.raises(AssertionError, match="stage 'layer4'"):
        assert_deeplabv3_matches(stages_of(model), model.state_dict(), config)
    with pytest.raises(AssertionError, match="stage 'out'"):  # without stages: the logits
        assert_deeplabv3_matches(lambda x: model(torch.from_numpy(x).float()),
                                 model.state_dict(), config)  # fmt: skip


def test_weights_in_other_names_go_through_name_map():
    config = get_preset("tiny", num_classes=3)
    model = random_model(config, 1)
    theirs = {"net." + k.replace("backbone.", "encoder."): v for k, v in model.state_dict().items()}

    def ours(name: str) -> str:
        return name.removeprefix("net.").replace("encoder.", "backbone.")

    forward = lambda x: model(torch.from_numpy(x).float())  # noqa: E731
    assert_deeplabv3_matches(forward, theirs, config, name_map=ours)
    with pytest.raises(AssertionError, match="the weights lack .*name_map"):
        assert_deeplabv3_matches(forward, theirs, config)


def test_the_readme_example_runs():
    text = CHECK_PAGE.read_text()
    section = text[text.index("# Check your own implementation") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    assert len(code.strip().splitlines()) <= 14
    namespace: dict = {}
    exec(compile(code, str(CHECK_PAGE), "exec"), namespace)  # defines the test functions
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        test()


def test_reference_testing_needs_no_torch():
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None; import reference.testing; "
            "print('ok')")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
