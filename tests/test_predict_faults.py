"""What predict refuses: an output over an input by any path to it (relative, ``.``, through a
symlinked folder), a precision the ONNX backend would ignore, an image size a fixed-size ONNX
export cannot take."""

from __future__ import annotations

import pytest
import torch

from atrous.base.errors import AtrousError
from atrous.cli import main
from atrous.export import export_model
from atrous.inference.predict import predict_files
from tests.test_predict import _photo, _tiny_checkpoint

torch.set_num_threads(1)


# --- never write over an input, by any path ---------------------------------------------------


def test_relative_paths_and_dot_never_replace_the_input(tmp_path, monkeypatch):
    ckpt = _tiny_checkpoint(tmp_path)
    photo = _photo(tmp_path / "photo.png")
    before = photo.read_bytes()
    monkeypatch.chdir(tmp_path)
    for image, out in [
        ("photo.png", "."),
        ("photo.png", str(tmp_path)),
        (str(photo), "."),
        ("./photo.png", "run/.."),
        ("run/../photo.png", "."),
    ]:
        with pytest.raises(AtrousError, match="would replace the input"):
            predict_files(ckpt, [image], out, overwrite=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(ckpt), "photo.png", "--out", ".", "--overwrite"])
    assert exit_info.value.code == 2
    assert photo.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "run"]


def test_a_symlinked_folder_never_replaces_the_input(tmp_path, monkeypatch):
    ckpt = _tiny_checkpoint(tmp_path)
    photo = _photo(tmp_path / "photos" / "photo.png")
    before = photo.read_bytes()
    (tmp_path / "link").symlink_to(tmp_path / "photos")
    monkeypatch.chdir(tmp_path)
    for image, out in [
        ("link/photo.png", "photos"),
        ("photos/photo.png", "link"),
        (str(photo), str(tmp_path / "link")),
    ]:
        with pytest.raises(AtrousError, match="would replace the input"):
            predict_files(ckpt, [image], out, overwrite=True)
    assert photo.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["photo.png"]


# --- the ONNX Runtime backend -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fixed_size_onnx(tmp_path_factory):
    """An ONNX export for 33x33 inputs only (--static)."""
    pytest.importorskip("onnxruntime")
    folder = tmp_path_factory.mktemp("onnx")
    return export_model(_tiny_checkpoint(folder), folder / "m.onnx", "onnx", size=(33, 33),
                        dynamic=False)  # fmt: skip


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_precision_onnx_runtime_would_ignore_is_refused(tmp_path, precision, capsys):
    photo = _photo(tmp_path / "p.png")
    with pytest.raises(AtrousError, match=f"--precision {precision} .* --backend onnxruntime"):
        predict_files(tmp_path / "m.onnx", [photo], tmp_path / "out", precision=precision,
                      backend="onnxruntime")  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(tmp_path / "m.onnx"), str(photo), "--out", str(tmp_path / "out"),
              "--backend", "onnxruntime", "--precision", precision])  # fmt: skip
    assert exit_info.value.code == 2
    assert "--backend onnxruntime" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_fp32_and_auto_run_with_onnx_runtime(fixed_size_onnx, tmp_path):
    photo = _photo(tmp_path / "p.png", size=(33, 33))
    for precision in ("fp32", "auto"):
        out = tmp_path / precision
        assert predict_files(fixed_size_onnx, [photo], out, precision=precision,
                             backend="onnxruntime") == [out / "p.png"]  # fmt: skip


@pytest.mark.slow
def test_an_image_a_fixed_size_export_cannot_take_is_named(fixed_size_onnx, tmp_path, capsys):
    photo = _photo(tmp_path / "p.png", size=(20, 24))
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(fixed_size_onnx), str(photo), "--out", str(tmp_path / "out"),
              "--backend", "onnxruntime"])  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "exported for 33x33 inputs" in err and "20x24" in err and "without --static" in err
