"""Inference on image files (atrous.predict): the same normalisation and prediction as the
evaluation path, label PNGs in VOC's palette format, overlays."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from PIL import Image

from atrous import DeepLabV3, get_preset
from atrous.checkpoint import save_checkpoint
from atrous.data import EvalTransform, voc_palette
from atrous.inference import predict_labels
from atrous.predict import label_png, overlay, predict_files
from tests.strategies_model import random_model

torch.set_num_threads(1)


def _checkpoint(tmp_path, model: DeepLabV3, meta: dict | None = None):
    state = {"model": model.state_dict(), "network": dataclasses.asdict(model.config)}
    return save_checkpoint(tmp_path / "checkpoint.pt", {**state, "meta": meta or {}})


def test_predict_files_equals_the_evaluation_path(tmp_path):
    """An image file segmented by predict_files has the labels that the evaluation transform
    and predict_labels give it: one normalisation, one inference for both."""
    # The cascade head (no image pooling, whose random weights dominate an untrained net):
    # a prediction with several classes, which a wrong normalisation would change.
    config = get_preset("tiny", num_classes=5, output_stride=8, head="cascade")
    model = random_model(config, 0)
    image = np.zeros((45, 38, 3), dtype=np.uint8)
    image[:, 19:] = 255
    image[20:, :, 1] = 128
    Image.fromarray(image).save(tmp_path / "photo.png")
    written = predict_files(_checkpoint(tmp_path, model), [tmp_path / "photo.png"],
                            tmp_path / "out", scales=(0.75, 1.0), flip=True)  # fmt: skip
    x, _ = EvalTransform()(image, np.zeros((45, 38), dtype=np.int64))
    expected = predict_labels(model, x[None], (0.75, 1.0), True)[0].numpy()
    np.testing.assert_array_equal(np.asarray(Image.open(written[0])), expected)
    assert len(np.unique(expected)) > 1  # a prediction that can tell a wrong normalisation
    unnormalised = torch.from_numpy(image.transpose(2, 0, 1) / 255.0).float()[None]
    assert (predict_labels(model, unnormalised, (0.75, 1.0), True)[0].numpy() != expected).any()


def test_label_png_is_a_palette_png_holding_the_classes():
    label = np.array([[0, 1, 2], [15, 3, 0]])
    png = label_png(label, voc_palette(21))
    assert png.mode == "P"
    np.testing.assert_array_equal(np.asarray(png), label)
    colours = np.asarray(png.getpalette()).reshape(-1, 3)
    np.testing.assert_array_equal(colours[:21], voc_palette(21))
    np.testing.assert_array_equal(colours[255], voc_palette()[255])


def test_overlay_blends_half_and_half():
    image = np.full((2, 2, 3), 100, dtype=np.uint8)
    palette = np.array([[0, 0, 0], [200, 50, 0]], dtype=np.uint8)
    out = overlay(image, np.array([[0, 1], [1, 0]]), palette)
    np.testing.assert_array_equal(out[0, 0], [50, 50, 50])
    np.testing.assert_array_equal(out[0, 1], [150, 75, 50])
