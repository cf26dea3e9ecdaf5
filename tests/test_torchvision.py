"""Our network against torchvision's own, with the same random weights (``make test-torchvision``).

torchvision's ``deeplabv3_resnet50`` (random weights, random BN statistics, eval mode) is
converted with :func:`atrous.from_torchvision`; both run on the same random inputs, of odd and
even sizes, in float64, and must agree to rounding. Its ImageNet ``resnet50`` goes into our
backbone with :func:`atrous.model.interop.load_backbone_checkpoint`; block4's features must agree.
Skipped where torchvision is not installed (the main environment).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

torchvision = pytest.importorskip("torchvision")

from torchvision.models import resnet50  # noqa: E402
from torchvision.models.segmentation import deeplabv3_resnet50  # noqa: E402

from atrous import DeepLabV3, from_torchvision, get_preset  # noqa: E402
from atrous.model.interop import load_backbone_checkpoint  # noqa: E402

pytestmark = pytest.mark.torchvision

SIZES = [(65, 65), (57, 83), (96, 64)]


def _randomize_bn(model: torch.nn.Module, seed: int) -> None:
    """Random BN statistics and affine parameters, so no BN is the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


@pytest.fixture(scope="module", params=[False, True], ids=["no-aux", "aux"])
def pair(request):
    torch.manual_seed(0)
    aux = request.param
    tv = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=5, aux_loss=aux)
    with torch.no_grad():
        _randomize_bn(tv, seed=1)
    ours = from_torchvision(tv.state_dict(), aux=aux)
    return tv.double().eval(), ours.double().eval(), aux


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
def test_from_torchvision_reproduces_torchvisions_outputs(pair, size):
    tv, ours, aux = pair
    x = torch.randn(
        2, 3, *size, generator=torch.Generator().manual_seed(size[0]), dtype=torch.float64
    )
    with torch.no_grad():
        want = tv(x)
        if aux:
            out, aux_out = ours.forward_with_aux(x)
            torch.testing.assert_close(aux_out, want["aux"], rtol=1e-9, atol=1e-9)
        else:
            out = ours(x)
    assert out.shape == want["out"].shape == (2, 5, *size)
    torch.testing.assert_close(out, want["out"], rtol=1e-9, atol=1e-9)


def test_the_comparison_can_fail(pair):
    """Without torchvision's first-unit rate the same weights give other outputs."""
    tv, ours, _ = pair
    config = replace(ours.config, first_unit_previous_rate=False, aux_head=False)
    other = DeepLabV3(config).double().eval()
    other.load_state_dict({k: v for k, v in ours.state_dict().items() if "aux_" not in k})
    x = torch.randn(1, 3, 65, 65, dtype=torch.float64)
    with torch.no_grad():
        assert not torch.allclose(other(x), tv(x)["out"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("size", [(64, 64), (71, 45)])
def test_imagenet_resnet50_loads_into_our_backbone(size):
    torch.manual_seed(2)
    tv = resnet50(weights=None)
    with torch.no_grad():
        _randomize_bn(tv, seed=3)
    tv = tv.double().eval()
    # Output stride 32 without multi-grid is the plain ImageNet ResNet.
    plain = get_preset("resnet50", output_stride=32, multi_grid=(1, 1, 1))
    ours = DeepLabV3(plain).double().eval()
    assert load_backbone_checkpoint(ours, tv.state_dict()) == []
    x = torch.randn(1, 3, *size, dtype=torch.float64)
    with torch.no_grad():
        t = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        t = tv.layer4(tv.layer3(tv.layer2(tv.layer1(t))))
        torch.testing.assert_close(ours.backbone(x), t, rtol=1e-9, atol=1e-9)


def test_torchvisions_deeplabv3_passes_the_public_whole_network_check():
    """atrous.testing on third-party code: torchvision's model, held to the NumPy forward
    (torchvision's head and conventions are config fields), without our model in between."""
    from atrous.model.interop import torchvision_config
    from atrous.testing import assert_deeplabv3_matches

    torch.manual_seed(2)
    tv = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=4, aux_loss=False)
    with torch.no_grad():
        _randomize_bn(tv, seed=3)
    tv = tv.double().eval()

    def forward(images):
        with torch.no_grad():
            return tv(torch.from_numpy(images))["out"].numpy()

    config = torchvision_config(tv.state_dict())
    assert_deeplabv3_matches(forward, tv.state_dict(), config, sizes=((33, 33), (41, 30)))
