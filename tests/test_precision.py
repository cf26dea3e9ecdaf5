"""Precision (atrous.base.precision): bf16 training and inference on the CPU against fp32, float32
checkpoints that resume exactly, and what each precision may run on."""

from __future__ import annotations

import pytest
import torch

from atrous import get_preset
from atrous.base.errors import AtrousError
from atrous.base.precision import cpu_runs_bf16_fast, resolve_precision
from atrous.inference.fast import prepare_for_inference
from atrous.inference.strategy import predict_labels, predict_probabilities
from atrous.model.checkpoint import read_checkpoint
from atrous.training.loop import train
from tests.helpers_train import FlipCrop, Rectangles, tiny_config
from tests.strategies_model import random_model

torch.set_num_threads(1)
CPU = torch.device("cpu")


def test_auto_is_bf16_exactly_where_the_cpu_runs_it_natively():
    assert resolve_precision("auto", CPU) == ("bf16" if cpu_runs_bf16_fast() else "fp32")
    assert resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(AtrousError, match="'fp16' runs on CUDA only"):
        resolve_precision("fp16", CPU)
    with pytest.raises(AtrousError, match="precision must be one of"):
        resolve_precision("int8", CPU)
    with pytest.raises(AtrousError, match="train.precision"):
        tiny_config(train={"precision": "fp8"})


def _train(tmp_path, name, precision, **train_table):
    config = tiny_config(train={"iterations": 4, "precision": precision, **train_table})
    return train(config, tmp_path / name, dataset=Rectangles(), transform=FlipCrop(17),
                 progress=False)  # fmt: skip


def test_bf16_training_keeps_float32_weights_and_tracks_fp32(tmp_path):
    fp32 = _train(tmp_path, "fp32", "fp32")
    bf16 = _train(tmp_path, "bf16", "bf16")
    state = read_checkpoint(tmp_path / "bf16")
    assert state["meta"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for k, v in state["model"].items() if v.is_floating_point())
    assert all(
        s["momentum_buffer"].dtype == torch.float32 for s in state["optimizer"]["state"].values()
    )
    # Same data, same start: the first iteration's loss agrees to bf16 rounding.
    a, b = fp32.history[0]["loss"], bf16.history[0]["loss"]
    assert abs(a - b) / a < 0.02
    assert bf16.history[-1]["loss"] < bf16.history[0]["loss"]


def test_bf16_run_resumes_exactly_and_only_in_bf16(tmp_path):
    whole = _train(tmp_path, "whole", "bf16", checkpoint_every=2)
    config = tiny_config(train={"iterations": 4, "precision": "bf16", "checkpoint_every": 2})
    cut = tmp_path / "cut"
    train(config, cut, stop_at=2, dataset=Rectangles(), transform=FlipCrop(17), progress=False)
    resumed = train(config, cut, resume=True, dataset=Rectangles(), transform=FlipCrop(17),
                    progress=False)  # fmt: skip
    for key, value in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    other = tiny_config(train={"iterations": 4, "precision": "fp32", "checkpoint_every": 2})
    with pytest.raises(AtrousError, match="trained in bf16 but would resume in fp32"):
        train(other, cut, resume=True, dataset=Rectangles(), transform=FlipCrop(17),
              progress=False)  # fmt: skip


def _trained_like_model():
    config = get_preset("tiny", num_classes=5, aspp_channels=8, output_stride=8, head="cascade")
    model = random_model(config, 0)
    with torch.no_grad():
        model.classifier[-1].weight.mul_(10)  # confident logits, as a trained network has
    return model


def test_bf16_inference_agrees_with_fp32_on_99_percent_of_pixels():
    model = _trained_like_model()
    image = torch.randn(2, 3, 65, 49, generator=torch.Generator().manual_seed(0))
    want = predict_labels(model, image, (0.75, 1.0), True)
    autocast = predict_labels(model, image, (0.75, 1.0), True, precision="bf16")
    folded = predict_labels(prepare_for_inference(model, dtype=torch.bfloat16), image,
                            (0.75, 1.0), True)  # fmt: skip
    assert (autocast == want).float().mean() >= 0.99
    assert (folded == want).float().mean() >= 0.99


def test_the_bf16_fast_path_keeps_its_weights_in_bf16():
    fast = prepare_for_inference(_trained_like_model(), dtype=torch.bfloat16)
    dtypes = {p.dtype for p in fast.parameters()}
    assert dtypes == {torch.bfloat16}
    x = torch.randn(1, 3, 33, 33)
    assert fast(x).dtype == torch.float32
    assert predict_probabilities(fast, x).dtype == torch.float32


@pytest.mark.slow
def test_compiled_fast_path_equals_the_eager_one():
    model = _trained_like_model()
    x = torch.randn(1, 3, 33, 33)
    eager = prepare_for_inference(model)
    compiled = prepare_for_inference(model, compile=True)
    torch.testing.assert_close(compiled(x), eager(x), rtol=1e-4, atol=1e-4)
