"""Inference on image files (atrous.inference.predict): the same normalisation and prediction as the
evaluation path, label PNGs in VOC's palette format, overlays."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from atrous import DeepLabV3, get_preset
from atrous.base.errors import AtrousError, AtrousFileExistsError
from atrous.data import EvalTransform, voc_palette
from atrous.inference.predict import label_png, overlay, predict_files
from atrous.inference.strategy import predict_labels
from atrous.model.checkpoint import save_checkpoint
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


# --- never lose a file, never answer wrong in silence (what predict refuses) -------------------


def _tiny_checkpoint(tmp_path):
    model = random_model(get_preset("tiny", num_classes=5, aspp_channels=8), 0)
    folder = tmp_path / "run"
    folder.mkdir()
    return _checkpoint(folder, model)


def _photo(path, size=(20, 24), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_output_into_the_inputs_folder_never_replaces_the_input(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path)
    photo = _photo(tmp_path / "photos" / "photo.png")
    before = photo.read_bytes()
    with pytest.raises(AtrousError, match="would replace the input"):
        predict_files(ckpt, [photo], tmp_path / "photos")
    assert photo.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["photo.png"]


def test_two_inputs_with_one_stem_are_refused_before_anything_is_written(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path)
    a, b = _photo(tmp_path / "a" / "x.jpg"), _photo(tmp_path / "b" / "x.png", seed=1)
    with pytest.raises(AtrousError, match=r"a/x\.jpg' and .*b/x\.png' would both write"):
        predict_files(ckpt, [a, b], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_outputs_are_kept_unless_overwrite(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path)
    photo = _photo(tmp_path / "p.png")
    predict_files(ckpt, [photo], tmp_path / "out")
    with pytest.raises(AtrousFileExistsError, match="--overwrite"):
        predict_files(ckpt, [photo], tmp_path / "out")
    assert predict_files(ckpt, [photo], tmp_path / "out", overwrite=True)


def test_a_corrupt_image_stops_everything_and_names_each_bad_file(tmp_path):
    ckpt = _tiny_checkpoint(tmp_path)
    good = _photo(tmp_path / "good.png")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:60])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"this is not a jpeg")
    with pytest.raises(AtrousError, match=r"2 of 3 images(.|\n)*cut\.png(.|\n)*junk\.jpg"):
        predict_files(ckpt, [good, truncated, junk], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_refused_before_the_model_loads(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(AtrousError, match="--out .* is a file"):
        predict_files(tmp_path / "no-checkpoint-needed", [tmp_path / "x.png"], tmp_path / "file")


def test_cuda_without_cuda_names_the_device_not_the_checkpoint(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    ckpt = _tiny_checkpoint(tmp_path)
    with pytest.raises(AtrousError, match="--device is 'cuda:0' but CUDA is not available"):
        predict_files(ckpt, [_photo(tmp_path / "p.png")], tmp_path / "out", device="cuda")


def test_a_16_bit_png_is_segmented_as_its_8_bit_conversion(tmp_path):
    """Was: converted to all white. Now: the 16-bit range scaled to 8 bits, then as usual."""
    ckpt = _tiny_checkpoint(tmp_path)
    grey16 = np.random.default_rng(0).integers(0, 65536, (20, 24)).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "deep.png")  # written as a 16-bit PNG
    assert Image.open(tmp_path / "deep.png").mode in ("I;16", "I")
    grey8 = np.rint(grey16 / 65535 * 255).astype(np.uint8)
    Image.fromarray(np.repeat(grey8[:, :, None], 3, 2)).save(tmp_path / "flat.png")
    deep, flat = predict_files(ckpt, [tmp_path / "deep.png", tmp_path / "flat.png"],
                               tmp_path / "out")  # fmt: skip
    np.testing.assert_array_equal(np.asarray(Image.open(deep)), np.asarray(Image.open(flat)))
