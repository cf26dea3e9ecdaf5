"""atrous.model.interop without torchvision: checkpoints in torchvision's names, written by hand.

The state dicts here are built from torchvision's source (``torchvision/models/resnet.py``,
``segmentation/deeplabv3.py``, ``segmentation/fcn.py``), name by name and shape by shape,
not from our model, so a renamed or reshaped parameter on our side fails these tests. The
loaded network is held to a NumPy forward of torchvision's architecture composed from
:mod:`reference.network` in float64. ``tests/test_torchvision.py`` compares with torchvision
itself (``make test-torchvision``).
"""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from atrous import DeepLabV3, DeepLabV3Config, from_torchvision
from atrous.model.interop import load_backbone_checkpoint, load_checkpoint_file, torchvision_config
from reference import network as ref

WIDTH, ASPP_CHANNELS, CLASSES = 2, 4, 3


def _bn(sd: dict, rng: np.random.Generator, prefix: str, channels: int) -> None:
    for name, value in {
        "weight": rng.uniform(0.5, 1.5, channels),
        "bias": rng.normal(0, 0.1, channels),
        "running_mean": rng.normal(0, 0.1, channels),
        "running_var": rng.uniform(0.5, 2.0, channels),
    }.items():
        sd[f"{prefix}.{name}"] = value
    sd[f"{prefix}.num_batches_tracked"] = np.array(0, dtype=np.int64)


def _conv(sd: dict, rng: np.random.Generator, prefix: str, out_c, in_c, k, bias=False) -> None:
    sd[f"{prefix}.weight"] = rng.normal(0, (2 / (in_c * k * k)) ** 0.5, (out_c, in_c, k, k))
    if bias:
        sd[f"{prefix}.bias"] = rng.normal(0, 0.1, out_c)


def _tensors(sd: dict) -> dict[str, torch.Tensor]:
    # float32 values held in float64: exact in a float32 model, exact again after .double().
    return {
        k: torch.from_numpy(v if v.dtype == np.int64 else v.astype(np.float32).astype(np.float64))
        for k, v in sd.items()
    }


def imagenet_resnet(depths=(1, 2, 1, 1), width=WIDTH, seed=0, prefix="", fc=True) -> dict:
    """torchvision's ``ResNet(Bottleneck, depths)`` state dict names and shapes, random values."""
    rng, sd = np.random.default_rng(seed), {}
    _conv(sd, rng, f"{prefix}conv1", width, 3, 7)
    _bn(sd, rng, f"{prefix}bn1", width)
    in_c = width
    for b, depth in enumerate(depths, start=1):
        planes = width * 2 ** (b - 1)
        for u in range(depth):
            p = f"{prefix}layer{b}.{u}"
            _conv(sd, rng, f"{p}.conv1", planes, in_c, 1)
            _bn(sd, rng, f"{p}.bn1", planes)
            _conv(sd, rng, f"{p}.conv2", planes, planes, 3)
            _bn(sd, rng, f"{p}.bn2", planes)
            _conv(sd, rng, f"{p}.conv3", planes * 4, planes, 1)
            _bn(sd, rng, f"{p}.bn3", planes * 4)
            if u == 0:  # torchvision: stride != 1 or inplanes != planes * 4
                _conv(sd, rng, f"{p}.downsample.0", planes * 4, in_c, 1)
                _bn(sd, rng, f"{p}.downsample.1", planes * 4)
            in_c = planes * 4
    if fc:
        _conv(sd, rng, f"{prefix}fc", 1000, in_c, 1, bias=True)
        sd[f"{prefix}fc.weight"] = sd[f"{prefix}fc.weight"][:, :, 0, 0]  # nn.Linear
    return sd


def torchvision_deeplabv3(depths=(1, 2, 1, 1), classes=CLASSES, aux=False, seed=0) -> dict:
    """torchvision's ``deeplabv3_resnet*`` state dict: IntermediateLayerGetter (no fc), head."""
    sd = imagenet_resnet(depths, seed=seed, prefix="backbone.", fc=False)
    rng, c = np.random.default_rng(seed + 1), ASPP_CHANNELS
    in_c = WIDTH * 8 * 4
    aspp = "classifier.0"
    _conv(sd, rng, f"{aspp}.convs.0.0", c, in_c, 1)
    _bn(sd, rng, f"{aspp}.convs.0.1", c)
    for i in (1, 2, 3):  # ASPPConv at rates 12, 24, 36
        _conv(sd, rng, f"{aspp}.convs.{i}.0", c, in_c, 3)
        _bn(sd, rng, f"{aspp}.convs.{i}.1", c)
    _conv(sd, rng, f"{aspp}.convs.4.1", c, in_c, 1)  # ASPPPooling: .0 is the average pool
    _bn(sd, rng, f"{aspp}.convs.4.2", c)
    _conv(sd, rng, f"{aspp}.project.0", c, 5 * c, 1)
    _bn(sd, rng, f"{aspp}.project.1", c)  # project.3 is Dropout(0.5)
    _conv(sd, rng, "classifier.1", c, c, 3)
    _bn(sd, rng, "classifier.2", c)
    _conv(sd, rng, "classifier.4", classes, c, 1, bias=True)
    if aux:  # FCNHead(1024, classes) on layer3
        in3 = WIDTH * 4 * 4
        _conv(sd, rng, "aux_classifier.0", in3 // 4, in3, 3)
        _bn(sd, rng, "aux_classifier.1", in3 // 4)
        _conv(sd, rng, "aux_classifier.4", classes, in3 // 4, 1, bias=True)
    return _tensors(sd)


def numpy_torchvision_forward(sd: dict, depths, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """torchvision's DeepLabV3 forward (eval), from reference.network's layers, in NumPy."""
    sd = {k: v.numpy() for k, v in sd.items()}
    # torchvision's architecture, read off its source rather than from atrous' config:
    # replace_stride_with_dilation=[False, True, True] (output stride 8, the first unit of a
    # dilated block keeps the previous dilation, no multi-grid), ASPP rates (12, 24, 36).
    config = SimpleNamespace(
        depths=depths,
        extra_blocks=0,
        output_stride=8,
        multi_grid=(1, 1, 1),
        first_unit_previous_rate=True,
        aspp_rates=(6, 12, 18),  # reference.network scales by 16 / output_stride
        image_pooling=True,
    )

    def conv_bn_relu(y, conv, bn, rate=1):
        return ref.relu(ref.batch_norm(ref.conv(y, sd, conv, rate), sd, bn))

    y = ref.relu(ref.batch_norm(ref.conv(x, sd, "backbone.conv1", stride=2), sd, "backbone.bn1"))
    y = ref.max_pool_3x3_stride2(y)
    blocks = ref.block_strides_and_rates(config)  # first_unit_previous_rate: torchvision's
    for b, (stride, rates) in enumerate(blocks, start=1):
        for u, rate in enumerate(rates):
            y = ref.bottleneck(y, sd, f"backbone.layer{b}.{u}", stride if u == 0 else 1, rate)
        if b == 3:
            block3 = y
    y = ref.aspp(y, sd, config)  # rates (12, 24, 36) at output stride 8
    y = conv_bn_relu(y, "classifier.1", "classifier.2")  # torchvision's extra 3x3 conv
    out = ref.conv(y, sd, "classifier.4")
    aux = out
    if "aux_classifier.4.weight" in sd:  # FCNHead on block3
        aux = ref.conv(
            conv_bn_relu(block3, "aux_classifier.0", "aux_classifier.1"), sd, "aux_classifier.4"
        )
    size = x.shape[2:]
    return (ref.resize_bilinear(out, size, False), ref.resize_bilinear(aux, size, False))


# --- from_torchvision -------------------------------------------------------------------------


def test_config_is_read_from_the_shapes():
    sd = torchvision_deeplabv3(depths=(2, 1, 3, 1), classes=5)
    config = torchvision_config(sd)
    assert config.depths == (2, 1, 3, 1)
    assert (config.width, config.aspp_channels, config.num_classes) == (WIDTH, ASPP_CHANNELS, 5)
    assert config.output_stride == 8 and config.scaled_aspp_rates() == (12, 24, 36)
    assert config.head_conv3x3 and config.first_unit_previous_rate and not config.align_corners
    assert config.multi_grid == (1, 1, 1) and not config.aux_head


@pytest.mark.parametrize("aux", [False, True])
def test_from_torchvision_matches_a_numpy_forward_of_torchvisions_network(aux):
    sd = torchvision_deeplabv3(aux=aux)
    model = from_torchvision(sd, aux=aux).double().eval()
    x = np.random.default_rng(3).normal(size=(2, 3, 37, 30))
    with torch.no_grad():
        if aux:
            out, aux_out = model.forward_with_aux(torch.from_numpy(x))
        else:
            out = model(torch.from_numpy(x))
    want_out, want_aux = numpy_torchvision_forward(sd, (1, 2, 1, 1), x)
    np.testing.assert_allclose(out.numpy(), want_out, rtol=1e-8, atol=1e-10)
    if aux:
        np.testing.assert_allclose(aux_out.numpy(), want_aux, rtol=1e-8, atol=1e-10)
        assert aux_out.shape == out.shape == (2, CLASSES, 37, 30)


def test_every_tensor_is_loaded_under_its_name():
    sd = torchvision_deeplabv3(aux=True)
    loaded = from_torchvision(sd, aux=True).double().state_dict()
    assert loaded.keys() == sd.keys()
    for k, v in sd.items():
        assert torch.equal(loaded[k], v), k


def test_aux_weights_are_dropped_without_aux():
    sd = torchvision_deeplabv3(aux=True)
    model = from_torchvision(sd)
    assert model.aux_classifier is None
    assert not any(k.startswith("aux_classifier") for k in model.state_dict())


def test_another_num_classes_keeps_all_but_the_final_convs():
    sd = torchvision_deeplabv3(aux=True)
    model = from_torchvision(sd, num_classes=7, aux=True).double()
    loaded = model.state_dict()
    assert loaded["classifier.4.weight"].shape == (7, ASPP_CHANNELS, 1, 1)
    assert loaded["aux_classifier.4.bias"].shape == (7,)
    for k, v in sd.items():
        if not k.startswith(("classifier.4.", "aux_classifier.4.")):
            assert torch.equal(loaded[k], v), k


def test_other_output_stride_scales_the_aspp_rates():
    model = from_torchvision(torchvision_deeplabv3(), output_stride=16)
    assert model.config.scaled_aspp_rates() == (6, 12, 18)
    assert model(torch.zeros(1, 3, 33, 33), upsample=False).shape[-2:] == (3, 3)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda sd: sd.pop("backbone.layer2.0.bn2.running_var"), "missing: backbone.layer2.0"),
        (lambda sd: sd.update({"classifier.9.weight": torch.zeros(1)}), "unexpected: classifier.9"),
        (
            lambda sd: sd.update({"classifier.1.weight": torch.zeros(4, 4, 1, 1)}),
            r"wrong shape: classifier.1.weight \(4, 4, 1, 1\) \(expected \(4, 4, 3, 3\)\)",
        ),
        (lambda sd: sd.pop("classifier.4.weight"), "no 'classifier.4.weight'"),
        (lambda sd: sd.pop("classifier.0.convs.2.0.weight"), r"missing: classifier.0.convs.2"),
        (
            lambda sd: sd.update({"backbone.layer5.0.conv1.weight": torch.zeros(1)}),
            "layer1..layer4 under 'backbone.'.*found layer1, layer2, layer3, layer4, layer5",
        ),
    ],
)
def test_a_state_dict_that_does_not_fit_is_a_value_error_naming_the_tensors(edit, message):
    sd = torchvision_deeplabv3()
    edit(sd)
    with pytest.raises(ValueError, match=message):
        from_torchvision(sd)


def test_bad_arguments_to_from_torchvision():
    with pytest.raises(ValueError, match="use load_backbone_checkpoint"):
        from_torchvision(_tensors(imagenet_resnet()))
    with pytest.raises(ValueError, match="aux=True but state_dict has no auxiliary head"):
        from_torchvision(torchvision_deeplabv3(aux=False), aux=True)
    with pytest.raises(ValueError, match="mapping of parameter names to tensors"):
        from_torchvision([1, 2, 3])
    with pytest.raises(ValueError, match="mapping of parameter names to tensors"):
        from_torchvision({"classifier.4.weight": np.zeros(3)})
    with pytest.raises(ValueError, match="ASPP has 6 branches"):
        sd = torchvision_deeplabv3()
        sd["classifier.0.convs.5.0.weight"] = torch.zeros(1)
        from_torchvision(sd)


def test_torchvision_head_options_are_validated():
    with pytest.raises(ValueError, match="head_conv3x3=True needs head='aspp'"):
        DeepLabV3Config(head="cascade", head_conv3x3=True)
    with pytest.raises(ValueError, match="aux_head must be True or False"):
        DeepLabV3Config(aux_head=1)
    with pytest.raises(ValueError, match="forward_with_aux needs a model built with"):
        DeepLabV3(DeepLabV3Config(depths=(1, 1, 1, 1), width=2)).forward_with_aux(
            torch.zeros(1, 3, 9, 9)
        )


def test_forward_with_aux_gives_model_x_first():
    model = from_torchvision(torchvision_deeplabv3(aux=True), aux=True).eval()
    x = torch.randn(1, 3, 21, 26)
    with torch.no_grad():
        out, aux = model.forward_with_aux(x, upsample=False)
        assert torch.equal(out, model(x, upsample=False))
    assert aux.shape == (1, CLASSES, 3, 4)  # block3 at output stride 8: ceil(21/8), ceil(26/8)


# --- load_backbone_checkpoint -----------------------------------------------------------------


def test_imagenet_resnet_loads_into_the_backbone_without_fc():
    sd = _tensors(imagenet_resnet(depths=(1, 2, 1, 1)))
    model = DeepLabV3(DeepLabV3Config(depths=(1, 2, 1, 1), width=WIDTH)).double()
    head_before = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    assert load_backbone_checkpoint(model, sd) == []
    loaded = model.backbone.state_dict()
    assert loaded.keys() == {k for k in sd if not k.startswith("fc.")}
    for k, v in loaded.items():
        assert torch.equal(v, sd[k]), k
    for k, v in model.classifier.state_dict().items():
        assert torch.equal(v, head_before[k]), k  # the head is not touched


def test_cascaded_blocks_keep_their_initialization_and_are_reported():
    config = DeepLabV3Config(depths=(1, 1, 1, 1), width=WIDTH, extra_blocks=2, head="cascade")
    model = DeepLabV3(config)
    left = load_backbone_checkpoint(model.backbone, _tensors(imagenet_resnet((1, 1, 1, 1))))
    assert left and {k.split(".")[0] for k in left} == {"layer5", "layer6"}
    assert "layer5.0.conv2.weight" in left


def test_backbone_checkpoint_that_does_not_fit_is_a_value_error():
    model = DeepLabV3(DeepLabV3Config(depths=(1, 1, 1, 1), width=WIDTH))
    sd = _tensors(imagenet_resnet((1, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"wrong shape: conv1.weight \(2, 3, 7, 7\)"):
        load_backbone_checkpoint(DeepLabV3(DeepLabV3Config(depths=(1, 1, 1, 1), width=4)), sd)
    with pytest.raises(ValueError, match="unexpected: layer2.1.conv1.weight"):
        load_backbone_checkpoint(model, _tensors(imagenet_resnet((1, 2, 1, 1))))
    del sd["layer4.0.bn3.bias"]
    with pytest.raises(ValueError, match="missing: layer4.0.bn3.bias"):
        load_backbone_checkpoint(model, sd)
    with pytest.raises(ValueError, match="segmentation checkpoint"):
        load_backbone_checkpoint(model, torchvision_deeplabv3())
    with pytest.raises(ValueError, match="model must be a DeepLabV3 or a ResNetBackbone"):
        load_backbone_checkpoint(torch.nn.Linear(1, 1), sd)


# --- load_checkpoint_file ---------------------------------------------------------------------


class _Payload:
    """Unpickling this would run code: weights_only must refuse it."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def test_checkpoint_file_round_trip_and_unwrapping(tmp_path):
    sd = torchvision_deeplabv3()
    for i, obj in enumerate([sd, {"model": sd, "epoch": 3}, {"state_dict": sd}]):
        path = tmp_path / f"ckpt{i}.pth"
        torch.save(obj, path)
        loaded = load_checkpoint_file(path)
        assert loaded.keys() == sd.keys()
        assert all(torch.equal(loaded[k], v) for k, v in sd.items())
    model = from_torchvision(load_checkpoint_file(tmp_path / "ckpt0.pth"))
    assert model.config.num_classes == CLASSES


def test_checkpoint_file_with_arbitrary_objects_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "payload": _Payload()}, path)
    with pytest.raises(ValueError, match="holds a Python object .* atrous refuses to unpickle"):
        load_checkpoint_file(path)
    assert "unpickled!" not in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_checkpoint_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        load_checkpoint_file(tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="junk.pth"):
        load_checkpoint_file(tmp_path / "junk.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="must hold a state dict"):
        load_checkpoint_file(tmp_path / "list.pth")
    with open(tmp_path / "pickle.pth", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(ValueError, match="pickle.pth"):
        load_checkpoint_file(tmp_path / "pickle.pth")
