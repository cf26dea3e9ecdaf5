"""DeepLabV3Config validation and the presets."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given

from atrous import DeepLabV3Config, get_preset
from atrous.model.presets import PRESETS
from tests.strategies_model import configs


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"output_stride": 2}, r"output_stride must be a power of two from 4 .* \(4, 8, 16, 32\)"),
        ({"output_stride": 12}, "output_stride must be a power of two"),
        ({"output_stride": 64}, r"natural stride 32 .* extra_blocks=0"),
        ({"output_stride": 512, "extra_blocks": 3}, r"\(4, 8, 16, 32, 64, 128, 256\)"),
        ({"multi_grid": (1, 2)}, "multi_grid must be 3 int unit rates >= 1"),
        ({"multi_grid": (1, 0, 1)}, "multi_grid must be 3 int unit rates >= 1"),
        ({"aspp_rates": (6, 0)}, "aspp_rates must be a tuple of int rates >= 1"),
        ({"aspp_rates": (6, 12.5)}, "aspp_rates must be a tuple of int rates >= 1"),
        ({"head": "fcn"}, r"head must be one of \('aspp', 'cascade'\)"),
        ({"extra_blocks": 4}, "extra_blocks must be an int from 0 to 3"),
        ({"extra_blocks": -1}, "extra_blocks must be an int from 0 to 3"),
        ({"depths": (3, 4, 6)}, r"depths must be 4 ints >= 1"),
        ({"depths": (3, 0, 6, 3)}, r"depths must be 4 ints >= 1"),
        ({"width": 0}, "width must be an int >= 1"),
        ({"num_classes": 0}, "num_classes must be an int >= 1"),
        ({"aspp_channels": 0}, "aspp_channels must be an int >= 1"),
        ({"bn_momentum": 1.5}, r"bn_momentum must be a float in \[0, 1\]"),
        ({"image_pooling": 1}, "image_pooling must be True or False"),
        # ASPP rates are given at 16; at 32 they halve, so odd rates cannot be used there.
        (
            {"output_stride": 32, "aspp_rates": (6, 12, 17)},
            "rate 17 at output_stride 32 would be 8.5",
        ),
    ],
)
def test_bad_config_raises_a_value_error_saying_what_is_allowed(fields, message):
    with pytest.raises(ValueError, match=message):
        DeepLabV3Config(**fields)


def test_rates_that_do_not_scale_are_fine_for_the_cascade_head():
    # The cascade head has no ASPP; its aspp_rates are unused.
    DeepLabV3Config(output_stride=256, extra_blocks=3, head="cascade")


def test_aspp_rates_scale_with_the_output_stride():
    config = DeepLabV3Config()
    assert config.scaled_aspp_rates() == (6, 12, 18)
    assert config.scaled_aspp_rates(8) == (12, 24, 36)  # Sec. 3.3: doubled at 8
    assert config.scaled_aspp_rates(4) == (24, 48, 72)
    assert config.scaled_aspp_rates(32) == (3, 6, 9)


def test_lists_become_tuples_and_configs_are_frozen():
    config = DeepLabV3Config(depths=[1, 1, 1, 1], multi_grid=[1, 2, 1], aspp_rates=[6])
    assert config.depths == (1, 1, 1, 1) and config.multi_grid == (1, 2, 1)
    assert config.aspp_rates == (6,)
    with pytest.raises(FrozenInstanceError):
        config.output_stride = 8  # type: ignore[misc]
    assert hash(config) == hash(
        DeepLabV3Config(depths=(1, 1, 1, 1), multi_grid=(1, 2, 1), aspp_rates=(6,))
    )


@given(config=configs())
def test_output_strides_are_the_powers_of_two_up_to_the_natural_stride(config):
    assert config.natural_stride == 32 * 2**config.extra_blocks
    assert config.output_strides[0] == 4 and config.output_strides[-1] == config.natural_stride
    strides = config.output_strides
    assert all(strides[i + 1] == 2 * strides[i] for i in range(len(strides) - 1))


def test_presets_are_the_papers_networks():
    assert set(PRESETS) >= {"tiny", "resnet50", "resnet101", "resnet50-block7", "resnet101-block7"}
    r101 = get_preset("resnet101")
    assert r101.depths == (3, 4, 23, 3) and r101.extra_blocks == 0 and r101.head == "aspp"
    assert r101.aspp_rates == (6, 12, 18) and r101.image_pooling and r101.multi_grid == (1, 2, 4)
    assert r101.output_stride == 16 and r101.bn_momentum == 0.0003 and r101.width == 64
    block7 = get_preset("resnet50-block7")
    assert block7.depths == (3, 4, 6, 3) and block7.extra_blocks == 3
    assert block7.head == "cascade" and block7.multi_grid == (1, 2, 1)
    tiny = get_preset("tiny")
    assert tiny.depths == (1, 1, 1, 1) and tiny.width == 16


def test_get_preset_overrides_and_validates():
    config = get_preset("resnet101", output_stride=8, num_classes=19)
    assert config.output_stride == 8 and config.num_classes == 19
    assert get_preset("resnet101").output_stride == 16  # the preset itself is untouched
    with pytest.raises(ValueError, match="output_stride must be"):
        get_preset("resnet101", output_stride=3)
    with pytest.raises(TypeError):
        get_preset("tiny", no_such_field=1)


def test_unknown_preset_raises_listing_the_names():
    with pytest.raises(ValueError, match="unknown preset 'resnet152'.*resnet50, resnet101"):
        get_preset("resnet152")
