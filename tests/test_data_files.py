"""Reading image and label files (atrous.data.files): every PIL mode converted correctly or
refused clearly, EXIF orientation, and a fuzz test: random bytes, truncated files, mixed
modes and sizes either read correctly or raise AtrousError naming the file, never another
exception, and ``predict`` never writes part of its outputs."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from PIL import Image

from atrous import get_preset
from atrous.base.errors import AtrousError
from atrous.data.files import read_image, read_index_png, read_photo, to_rgb
from atrous.inference.predict import predict_files
from atrous.model.checkpoint import save_checkpoint
from tests.strategies_model import random_model

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.fromarray(RGB), RGB),
        (Image.fromarray(RGB).convert("RGBA"), RGB),  # alpha dropped
        (Image.fromarray(RGB[:, :, 0]), np.repeat(RGB[:, :, :1], 3, 2)),  # L
        (Image.fromarray(RGB[:, :, 0]).convert("LA"), np.repeat(RGB[:, :, :1], 3, 2)),
        (Image.fromarray(np.full((5, 7), 65535, np.uint16)), np.full((5, 7, 3), 255)),  # I;16
        (Image.fromarray(np.full((5, 7), 32768, np.int32), mode="I"), np.full((5, 7, 3), 128)),
        (Image.fromarray(np.full((5, 7), 0.5, np.float32), mode="F"), np.full((5, 7, 3), 128)),
        (Image.fromarray(RGB[:, :, 0] > 127), np.repeat((RGB[:, :, :1] > 127) * 255, 3, 2)),  # 1
    ],
    ids=["RGB", "RGBA", "L", "LA", "I;16", "I", "F", "1"],
)
def test_every_mode_becomes_rgb(image, expected):
    out = to_rgb(image, "x")
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, expected)


def test_cmyk_and_palette_use_pils_conversion():
    cmyk = Image.fromarray(RGB).convert("CMYK")
    np.testing.assert_array_equal(to_rgb(cmyk), np.asarray(cmyk.convert("RGB")))
    palette = Image.fromarray(RGB).convert("P")
    np.testing.assert_array_equal(to_rgb(palette), np.asarray(palette.convert("RGB")))


def test_out_of_range_deep_images_are_refused():
    with pytest.raises(AtrousError, match=r"deep\.tif is 32-bit float .* outside 0\.\.1"):
        to_rgb(Image.fromarray(np.full((2, 2), 3.0, np.float32), mode="F"), "deep.tif")
    with pytest.raises(AtrousError, match=r"16-bit range 0\.\.65535"):
        to_rgb(Image.fromarray(np.full((2, 2), 70000, np.int32), mode="I"), "big.tif")


def test_exif_orientation_is_applied_to_photos_not_to_dataset_images(tmp_path):
    """A phone photo stored 7 wide x 5 high with 'rotate 90' (orientation 6) is shown 5 x 7."""
    image = Image.fromarray(RGB)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    assert read_photo(tmp_path / "phone.jpg").shape == (7, 5, 3)
    assert read_image(tmp_path / "phone.jpg").shape == (5, 7, 3)  # labels match stored pixels


# --- the fuzz test ---------------------------------------------------------------------------

MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "CMYK", "I", "I;16", "F", "YCbCr"]
FORMATS = {"png": "PNG", "jpg": "JPEG", "tif": "TIFF", "bmp": "BMP", "gif": "GIF"}


@st.composite
def image_files(draw):
    """(bytes, suffix): a real image in a random mode, size and format, maybe truncated; or
    random bytes."""
    suffix = draw(st.sampled_from(sorted(FORMATS)))
    if draw(st.booleans()):
        return draw(st.binary(max_size=200)), suffix
    mode = draw(st.sampled_from(MODES))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    pixels = np.random.default_rng(draw(st.integers(0, 99))).integers(0, 256, (h, w, 3))
    image = Image.fromarray(pixels.astype(np.uint8))
    image = image.convert("L").convert(mode) if mode in ("I", "I;16", "F") else image.convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=FORMATS[suffix])
    except (OSError, ValueError, KeyError):  # this format cannot hold this mode
        image.convert("RGB").save(buffer, format=FORMATS[suffix])
    data = buffer.getvalue()
    cut = draw(st.one_of(st.none(), st.integers(0, max(len(data) - 1, 0))))
    return (data if cut is None else data[:cut]), suffix


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = random_model(get_preset("tiny", num_classes=3, aspp_channels=8), 0)
    state = {"model": model.state_dict(), "network": dataclasses.asdict(model.config)}
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "checkpoint.pt", state)


@settings(max_examples=60, deadline=None)
@given(files=st.lists(image_files(), min_size=1, max_size=3))
def test_readers_and_predict_either_work_or_name_the_file(tmp_path_factory, checkpoint, files):
    folder = tmp_path_factory.mktemp("fuzz")
    paths = []
    for k, (data, suffix) in enumerate(files):
        paths.append(folder / f"in{k}.{suffix}")
        paths[-1].write_bytes(data)
    readable = []
    for path in paths:
        for reader in (read_image, read_photo):
            try:
                pixels = reader(path)
            except AtrousError as error:
                assert str(path) in str(error)
                continue
            assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
            readable.append(path)
        try:
            label = read_index_png(path)
        except AtrousError as error:
            assert str(path) in str(error)
        else:
            assert label.dtype == np.int64 and label.ndim == 2
    out = folder / "out"
    try:
        written = predict_files(checkpoint, paths, out)
    except AtrousError as error:
        event("predict refused")
        assert any(str(p) in str(error) for p in paths)
        assert not out.exists() or not any(out.iterdir())  # never a partial write
    else:
        event("predict wrote")
        assert len(written) == len(paths) and len(set(readable)) == len(paths)
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [f"in{k}.png" for k in range(len(paths))]
            + [f"in{k}_overlay.jpg" for k in range(len(paths))]
        )
