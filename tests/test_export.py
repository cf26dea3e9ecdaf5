"""Export (atrous.export): ONNX in ONNX Runtime, torch.export and safetensors give the
checkpoint's logits; safetensors load wherever a checkpoint does; bad input is named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from atrous import get_preset
from atrous.base.errors import AtrousError, AtrousFileExistsError
from atrous.cli import main
from atrous.export import export_model, parse_size
from atrous.model.checkpoint import load_model, read_checkpoint, save_checkpoint
from tests.strategies_model import random_model

pytest.importorskip("onnxruntime")
torch.set_num_threads(1)
TOL = {"rtol": 1e-4, "atol": 1e-4}  # float32 rounding of folded BN and another kernel library


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = get_preset("tiny", num_classes=4, aspp_channels=8)
    model = random_model(config, 0)
    state = {"model": model.state_dict(), "network": dataclasses.asdict(config),
             "meta": {"class_names": ["a", "b", "c", "d"]}}  # fmt: skip
    return save_checkpoint(tmp_path_factory.mktemp("export") / "checkpoint.pt", state)


def _want(checkpoint, x, output_stride=None):
    model, _ = load_model(checkpoint)
    if output_stride:
        model.set_output_stride(output_stride)
    with torch.no_grad():
        return model(x).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("output_stride", [8, 16])
def test_onnx_in_onnx_runtime_gives_the_logits_at_any_size(checkpoint, tmp_path, output_stride):
    import onnxruntime as ort

    out = export_model(checkpoint, tmp_path / "m.onnx", "onnx", output_stride=output_stride,
                       size=(65, 65), dynamic=True)  # fmt: skip
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert "network" in session.get_modelmeta().custom_metadata_map
    for size in [(65, 65), (375, 500), (33, 47)]:  # a real photo size, odd sides
        x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(size[0]))
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        np.testing.assert_allclose(got, _want(checkpoint, x, output_stride), **TOL)


@pytest.mark.slow
def test_torch_export_reloads_and_gives_the_logits(checkpoint, tmp_path):
    out = export_model(checkpoint, tmp_path / "m.pt2", "torch-export", size=(41, 37))
    program = torch.export.load(str(out))
    x = torch.randn(1, 3, 41, 37)
    np.testing.assert_allclose(program.module()(x).detach().numpy(), _want(checkpoint, x), **TOL)


def test_safetensors_load_wherever_a_checkpoint_does(checkpoint, tmp_path):
    out = export_model(checkpoint, tmp_path / "w.safetensors", "safetensors")
    assert out.read_bytes()[8:9] == b"{"  # a JSON header, no pickle
    state = read_checkpoint(out)
    assert state["meta"]["class_names"] == ["a", "b", "c", "d"]
    model, _ = load_model(out)
    x = torch.randn(1, 3, 33, 33)
    with torch.no_grad():
        np.testing.assert_allclose(model(x).numpy(), _want(checkpoint, x), rtol=0, atol=0)
    image = tmp_path / "p.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(image)
    assert main(["predict", str(out), str(image), "--out", str(tmp_path / "pred")]) == 0


def test_bad_exports_are_named(checkpoint, tmp_path):
    with pytest.raises(AtrousError, match="--bf16 does not apply to onnx"):
        export_model(checkpoint, tmp_path / "x.onnx", "onnx", bf16=True)
    with pytest.raises(AtrousError, match="--output-stride must be"):
        export_model(checkpoint, tmp_path / "x.safetensors", "safetensors", output_stride=64)
    with pytest.raises(AtrousError, match="--format must be one of"):
        export_model(checkpoint, tmp_path / "x.bin", "tflite")
    with pytest.raises(AtrousError, match="--size must be HxW"):
        parse_size("513 by 513")
    first = export_model(checkpoint, tmp_path / "w.safetensors", "safetensors")
    with pytest.raises(AtrousFileExistsError, match="--overwrite"):
        export_model(checkpoint, first, "safetensors")
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, other)  # a checkpoint of another kind
    with pytest.raises(AtrousError, match="resnet.pth' is not an atrous checkpoint"):
        export_model(other, tmp_path / "o.onnx", "onnx")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(first.read_bytes()[:100])
    with pytest.raises(AtrousError, match="cut.safetensors' could not be read"):
        read_checkpoint(cut)


@pytest.mark.slow
def test_predict_with_onnx_runtime_equals_the_checkpoint(checkpoint, tmp_path):
    model_path = export_model(checkpoint, tmp_path / "m.onnx", "onnx", dynamic=True,
                              size=(48, 48))  # fmt: skip
    image = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (50, 37, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(image)
    args = [str(image), "--precision", "fp32"]
    assert main(["predict", str(model_path), *args, "--backend", "onnxruntime",
                 "--out", str(tmp_path / "ort")]) == 0  # fmt: skip
    assert main(["predict", str(checkpoint), *args, "--out", str(tmp_path / "torch")]) == 0
    a = np.asarray(Image.open(tmp_path / "ort" / "photo.png"))
    b = np.asarray(Image.open(tmp_path / "torch" / "photo.png"))
    assert (a == b).mean() > 0.999
