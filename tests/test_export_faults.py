"""What export and the checkpoint readers refuse: an output over the checkpoint read (by any
path to it), a folder that cannot be written, an export or a train.init_skip prefix taken
for a checkpoint that it is not; and an ONNX export that says only what it wrote."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from atrous import get_preset
from atrous.base.errors import AtrousError
from atrous.cli import main
from atrous.export import export_model
from atrous.model.checkpoint import read_checkpoint, save_checkpoint
from atrous.training.start import initial_model
from tests.helpers_train import tiny_config
from tests.strategies_model import random_model

torch.set_num_threads(1)
CONFIG = get_preset("tiny", num_classes=4, aspp_channels=8)


def _training_run(folder):
    """A run folder whose checkpoint.pt holds what --resume needs (the optimizer state)."""
    model = random_model(CONFIG, 0)
    state = {"model": model.state_dict(), "network": dataclasses.asdict(CONFIG),
             "optimizer": {"state": {}, "param_groups": [{"lr": 0.01}]}, "meta": {}}  # fmt: skip
    return save_checkpoint(folder / "checkpoint.pt", state)


def _one_error_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# --- never write over the checkpoint read --------------------------------------------------


def test_export_never_writes_over_its_checkpoint_by_any_path(tmp_path, monkeypatch, capsys):
    ckpt = _training_run(tmp_path / "run")
    before = ckpt.read_bytes()
    (tmp_path / "link").symlink_to(tmp_path / "run")
    os.link(ckpt, tmp_path / "hard.pt")
    monkeypatch.chdir(tmp_path)
    for source, out in [
        (tmp_path / "run", tmp_path / "run" / "checkpoint.pt"),
        ("run", "run/checkpoint.pt"),
        ("run/checkpoint.pt", "run/../run/checkpoint.pt"),
        ("run", "link/checkpoint.pt"),
        ("link", str(tmp_path / "run" / "checkpoint.pt")),
        ("run", "hard.pt"),
    ]:
        with pytest.raises(AtrousError, match="--out .* is the checkpoint .* exported"):
            export_model(source, out, "safetensors", overwrite=True)
    err = _one_error_line(capsys, ["export", "run", "--format", "safetensors", "--out",
                                   "run/checkpoint.pt", "--overwrite"])  # fmt: skip
    assert "run/checkpoint.pt" in err
    assert ckpt.read_bytes() == before
    assert "optimizer" in read_checkpoint(ckpt)


def test_a_safetensors_export_is_not_exported_over_itself(tmp_path):
    weights = export_model(_training_run(tmp_path), tmp_path / "w.safetensors", "safetensors")
    before = weights.read_bytes()
    with pytest.raises(AtrousError, match="--out .* is the checkpoint .* exported"):
        export_model(weights, None, "safetensors", overwrite=True)  # default: same name
    assert weights.read_bytes() == before


# --- a folder that cannot be written ---------------------------------------------------------


def _permission_bits_even_for_root(monkeypatch):
    """Root writes into any folder; make the permission check see the mode bits instead."""
    if os.geteuid() != 0:
        return
    real = os.access

    def access(path, mode, **kwargs):
        if mode & os.W_OK and not os.stat(path).st_mode & stat.S_IWUSR:
            return False
        return real(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)


def test_a_read_only_folder_is_named_before_anything_is_exported(tmp_path, monkeypatch, capsys):
    ckpt = _training_run(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    _permission_bits_even_for_root(monkeypatch)
    try:
        for fmt in ("safetensors", "torch-export", "onnx"):
            err = _one_error_line(capsys, ["export", str(ckpt), "--format", fmt,
                                           "--out", str(locked / "m.x")])  # fmt: skip
            assert f"--out: the folder '{locked}' is not writable" in err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def _fail_with(error):
    def writer(*args, **kwargs):
        raise error

    return writer


def test_a_writer_that_cannot_write_gives_one_line_naming_the_folder(tmp_path, monkeypatch, capsys):
    """What safetensors and torch.export.save raise in a folder without write permission
    (seen as a non-root user): one error line naming the folder, not a traceback."""
    from safetensors import SafetensorError

    ckpt = _training_run(tmp_path)
    denied = f'Error while serializing: I/O error: Permission denied (os error 13) at "{tmp_path}"'
    monkeypatch.setattr("safetensors.torch.save", _fail_with(SafetensorError(denied)))
    err = _one_error_line(capsys, ["export", str(ckpt), "--format", "safetensors",
                                   "--out", str(tmp_path / "w.safetensors")])  # fmt: skip
    assert f"could not write '{tmp_path / 'w.safetensors'}' into the folder '{tmp_path}'" in err
    assert "Permission denied" in err
    refused = RuntimeError("[enforce fail at inline_container.cc:747] . open file failed with "
                           "strerror: Permission denied")  # fmt: skip
    monkeypatch.setattr(torch.export, "save", _fail_with(refused))
    err = _one_error_line(capsys, ["export", str(ckpt), "--format", "torch-export", "--size",
                                   "33", "--out", str(tmp_path / "m.pt2")])  # fmt: skip
    assert f"could not write '{tmp_path / 'm.pt2'}' into the folder '{tmp_path}'" in err


# --- exports are not checkpoints; the ONNX exporter's chatter ------------------------------


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """``python -m atrous export --format onnx`` in a fresh process (the exporter warns once
    per process): the file and what the command printed."""
    pytest.importorskip("onnxruntime")
    folder = tmp_path_factory.mktemp("onnx")
    ckpt = _training_run(folder)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = folder / "m.onnx"
    done = subprocess.run([sys.executable, "-m", "atrous", "export", str(ckpt), "--format",
                           "onnx", "--size", "33", "--out", str(out)],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    return out, done


@pytest.mark.slow
def test_onnx_export_prints_only_what_it_wrote(onnx_export):
    out, done = onnx_export
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == (f"wrote {out}\n", "")


def test_a_failing_onnx_export_shows_what_the_exporter_said(tmp_path, monkeypatch, capsys):
    """The exporter's chatter is hidden only when it succeeds: its error, and what it printed,
    logged and warned before it, reach the user."""
    pytest.importorskip("onnxruntime")
    logger = logging.getLogger("torch.onnx._internal.exporter")

    def failing_export(*args, **kwargs):
        print("[torch.onnx] tracing")
        logger.warning("an op has no ONNX function")
        warnings.warn("a deprecated call", FutureWarning, stacklevel=1)
        raise RuntimeError("the exporter failed")

    monkeypatch.setattr(torch.onnx, "export", failing_export)
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._export")]
    before = [(list(lg.handlers), lg.propagate) for lg in loggers]
    with pytest.raises(RuntimeError, match="the exporter failed"):
        export_model(_training_run(tmp_path), tmp_path / "m.onnx", "onnx", size=(33, 33))
    err = capsys.readouterr().err
    assert "[torch.onnx] tracing" in err and "a deprecated call" in err
    assert "an op has no ONNX function" in err
    assert [(lg.handlers, lg.propagate) for lg in loggers] == before  # the loggers as they were


@pytest.mark.slow
def test_an_onnx_file_read_as_a_checkpoint_says_what_reads_it(onnx_export, tmp_path, capsys):
    out, _ = onnx_export
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photo)
    for argv in (["predict", str(out), str(photo), "--out", str(tmp_path / "o")],
                 ["eval", str(out)], ["export", str(out), "--format", "safetensors",
                 "--out", str(tmp_path / "w.safetensors")]):  # fmt: skip
        err = _one_error_line(capsys, argv)
        assert f"'{out}' is an ONNX model" in err and "--backend onnxruntime" in err
        assert "Python object" not in err
    renamed = tmp_path / "model.bin"  # recognised by its bytes too
    renamed.write_bytes(out.read_bytes())
    with pytest.raises(AtrousError, match="model.bin' is an ONNX model"):
        read_checkpoint(renamed)


@pytest.mark.slow
def test_a_torch_export_program_read_as_a_checkpoint_says_what_it_is(tmp_path):
    program = export_model(_training_run(tmp_path), tmp_path / "m.pt2", "torch-export",
                           size=(33, 33))  # fmt: skip
    renamed = tmp_path / "program.pt"
    renamed.write_bytes(program.read_bytes())
    for path in (program, renamed):
        with pytest.raises(AtrousError) as info:
            read_checkpoint(path)
        message = str(info.value)
        assert f"'{path}' is a torch.export program" in message
        assert "torch.export.load" in message and "truncated" not in message


# --- train.init_skip ------------------------------------------------------------------------


def test_an_init_skip_prefix_that_matches_nothing_is_refused(tmp_path):
    config = tiny_config()
    source = random_model(config.network, 0)
    ckpt = save_checkpoint(tmp_path / "checkpoint.pt", {
        "model": source.state_dict(), "network": dataclasses.asdict(config.network)})  # fmt: skip
    init = {"init": str(ckpt), "pretrained": ""}
    model = initial_model(tiny_config(train={**init, "init_skip": ["classifier.1"]}))
    assert torch.equal(model.backbone.conv1.weight, source.backbone.conv1.weight)
    typo = tiny_config(train={**init, "init_skip": ["classifier.1", "clasifier.1", "head"]})
    with pytest.raises(AtrousError, match=r"train.init_skip: 'clasifier.1', 'head' match no "):
        initial_model(typo)


def test_a_safetensors_export_honours_the_umask(tmp_path):
    """safetensors writes 0600 by itself; an export gets the permissions any file would."""
    checkpoint = _training_run(tmp_path / "run")
    old = os.umask(0o022)
    try:
        out = export_model(checkpoint, tmp_path / "w.safetensors", "safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644


def test_an_onnx_export_takes_any_size_by_default(tmp_path, capsys):
    """`export --format onnx` then `predict --backend onnxruntime` on a 500 x 338 photo."""
    pytest.importorskip("onnxruntime")
    checkpoint = _training_run(tmp_path / "run")
    assert (
        main(["export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
        == 0
    )
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (338, 500, 3), dtype=np.uint8)).save(
        photo
    )
    assert main(["predict", str(tmp_path / "m.onnx"), str(photo), "--out", str(tmp_path / "out"),
                 "--backend", "onnxruntime"]) == 0  # fmt: skip
    assert Image.open(tmp_path / "out" / "photo.png").size == (500, 338)
