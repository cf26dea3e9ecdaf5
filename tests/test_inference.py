"""Inference (Sec. 4.3): multi-scale and flip averaging with one resize of the logits, and
the padded evaluation protocol of Sec. 4.1 (images padded to 513, prediction cropped back)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous import DeepLabV3, get_preset
from atrous.inference.strategy import pad_image, predict_labels, predict_probabilities
from tests.strategies import seeds
from tests.strategies_model import random_model

torch.set_num_threads(1)


def _model(seed: int, output_stride: int = 16) -> DeepLabV3:
    torch.manual_seed(seed)
    config = get_preset("tiny", num_classes=3, aspp_channels=8, output_stride=output_stride)
    return DeepLabV3(config).eval()


@given(
    h=st.integers(1, 23),
    w=st.integers(1, 23),
    flip=st.booleans(),
    scales=st.lists(st.sampled_from([0.5, 0.75, 1.0, 1.25, 1.5]), min_size=1, max_size=3),
    seed=seeds(),
)
@settings(max_examples=10)
def test_multi_scale_and_flip_average_probabilities(h, w, flip, scales, seed):
    model = _model(seed)
    image = torch.randn(1, 3, h, w)
    probs = predict_probabilities(model, image, scales, flip)
    assert probs.shape == (1, 3, h, w)  # whole image, any size
    torch.testing.assert_close(probs.sum(1), torch.ones(1, h, w))
    expected = []
    with torch.no_grad():
        for s in scales:
            size = [max(1, round(h * s)), max(1, round(w * s))]
            x = F.interpolate(image, size, mode="bilinear", align_corners=True)
            for f in [False, True] if flip else [False]:
                logits = model(x.flip(-1) if f else x, upsample=False)
                logits = F.interpolate(logits, (h, w), mode="bilinear", align_corners=True)
                expected.append((logits.flip(-1) if f else logits).softmax(1))
    torch.testing.assert_close(probs, torch.stack(expected).mean(0))


def test_logits_are_resized_once_not_twice():
    """At scale 0.75 the feature map goes straight to the image size: the same as the model's
    own upsampling of it, and measurably not the old feature -> scaled input -> image."""
    model = random_model(get_preset("tiny", num_classes=3, aspp_channels=8, output_stride=8), 1)
    with torch.no_grad():
        model.classifier[-1].weight.mul_(30)  # confident logits: differences show in softmax
    image = torch.randn(1, 3, 61, 47)
    small = F.interpolate(image, (46, 35), mode="bilinear", align_corners=True)  # 0.75
    with torch.no_grad():
        features = model(small, upsample=False)  # (1, 3, 6, 5)
        once = F.interpolate(features, (61, 47), mode="bilinear", align_corners=True)
        twice = F.interpolate(model(small), (61, 47), mode="bilinear", align_corners=True)
    probs = predict_probabilities(model, image, [0.75])
    torch.testing.assert_close(probs, once.softmax(1))  # rtol 1.3e-6, atol 1e-5
    assert (probs - twice.softmax(1)).abs().max() > 2e-4  # 20x the tolerance above


def test_flip_averaging_is_flip_equivariant():
    model = _model(0)
    image = torch.randn(1, 3, 17, 21)
    a = predict_probabilities(model, image, flip=True)
    b = predict_probabilities(model, image.flip(-1), flip=True).flip(-1)
    torch.testing.assert_close(a, b)


@given(h=st.integers(1, 30), w=st.integers(1, 30), pad=st.integers(0, 8), seed=seeds(),
       scales=st.sampled_from([(1.0,), (0.75, 1.25)]), flip=st.booleans())  # fmt: skip
@settings(max_examples=10)
def test_padded_protocol_runs_the_padded_image_and_crops_back(h, w, pad, seed, scales, flip):
    """pad_to: the image padded at the bottom right with 0 (the mean pixel after
    normalisation) to N x N, the probabilities of the padded image, cropped to the image."""
    model = _model(seed)
    image = torch.randn(1, 3, h, w)
    n = max(h, w) + pad
    padded = torch.zeros(1, 3, n, n)
    padded[..., :h, :w] = image
    expected = predict_probabilities(model, padded, scales, flip)[..., :h, :w]
    torch.testing.assert_close(predict_probabilities(model, image, scales, flip, n), expected)
    assert predict_labels(model, image, scales, flip, n).shape == (1, h, w)


def test_padding_changes_the_prediction_where_context_matters():
    """Padding is not a no-op: the image-pooling branch averages over the padding too."""
    model = _model(2)
    image = torch.randn(1, 3, 33, 21)
    whole = predict_probabilities(model, image)
    padded = predict_probabilities(model, image, pad_to=65)
    assert (whole - padded).abs().max() > 1e-4


def test_bad_input():
    model = _model(0)
    with pytest.raises(ValueError, match="scales"):
        predict_labels(model, torch.zeros(1, 3, 4, 4), scales=[])
    with pytest.raises(ValueError, match="scales"):
        predict_labels(model, torch.zeros(1, 3, 4, 4), scales=[0.0])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        predict_labels(model, torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="pad_to=16 is smaller than the image"):
        pad_image(torch.zeros(1, 3, 17, 9), 16)
