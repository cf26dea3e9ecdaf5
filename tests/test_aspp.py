"""ASPP and the head (Sec. 3.3): torchvision's names, the image-pooling branch (constant over
the map; a batch of one image falls back to running statistics), the cascade head."""

from __future__ import annotations

import torch

from atrous import DeepLabV3, DeepLabV3Config, get_preset
from atrous.model.aspp import ASPPPooling
from tests.strategies_model import random_model

TINY = DeepLabV3Config(depths=(1, 1, 1, 1), width=4, aspp_channels=4, num_classes=3)


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


def test_cascade_head_is_a_single_classifier_on_the_last_block():
    config = get_preset("tiny", extra_blocks=3, head="cascade", multi_grid=(1, 2, 1))
    model = DeepLabV3(config)
    assert model.backbone.block_names[-1] == "layer7"
    assert len(model.classifier) == 1
    assert model.classifier[0].in_channels == model.backbone.out_channels == 16 * 8 * 4
