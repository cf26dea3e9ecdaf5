"""assert_deeplabv3_matches (atrous.testing) never passes without comparing: a forward that
returns no stage, no image sizes, a config whose num_classes the weights do not have."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from atrous import get_preset
from atrous.testing import assert_deeplabv3_matches, stages_of
from tests.strategies_model import random_model

CONFIG = get_preset("tiny", num_classes=3, aspp_channels=8)


@pytest.fixture(scope="module")
def model():
    return random_model(CONFIG, 0)


def test_a_forward_that_returns_no_stage_fails(model):
    with pytest.raises(AssertionError, match=r"compared nothing: forward returned no stage"):
        assert_deeplabv3_matches(lambda x: {}, model.state_dict(), CONFIG)


def test_no_image_sizes_fails(model):
    with pytest.raises(AssertionError, match=r"compared nothing: sizes is empty"):
        assert_deeplabv3_matches(stages_of(model), model.state_dict(), CONFIG, sizes=())


@pytest.mark.parametrize("num_classes", [2, 5])
def test_a_num_classes_the_weights_do_not_have_fails_naming_both(model, num_classes):
    other = dataclasses.replace(CONFIG, num_classes=num_classes)
    message = rf"config.num_classes is {num_classes} but the weights' last conv has 3 outputs"
    with pytest.raises(AssertionError, match=message):
        assert_deeplabv3_matches(stages_of(model), model.state_dict(), other)
    with pytest.raises(AssertionError, match=message):  # also when only the backbone is given
        assert_deeplabv3_matches(lambda x: {"stem": stages_of(model)(x)["stem"]},
                                 model.state_dict(), other)  # fmt: skip


def test_the_checks_still_pass_on_a_correct_network(model):
    assert_deeplabv3_matches(stages_of(model), model.state_dict(), CONFIG)
    assert_deeplabv3_matches(lambda x: model(torch.from_numpy(x).float()), model.state_dict(),
                             CONFIG, sizes=((33, 33),))  # fmt: skip
