"""Checkpoints: atomic writes, safe loading, and a clear error for another config."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import atrous.model.checkpoint as ckpt
from atrous import DeepLabV3, get_preset
from atrous.model.checkpoint import load_model, load_weights, read_checkpoint, save_checkpoint


def _state(model: DeepLabV3, **extra) -> dict:
    return {"model": model.state_dict(), "network": dataclasses.asdict(model.config), **extra}


def _tiny(**overrides) -> DeepLabV3:
    torch.manual_seed(0)
    return DeepLabV3(get_preset("tiny", num_classes=3, aspp_channels=8, **overrides))


def test_round_trip(tmp_path):
    model = _tiny()
    path = save_checkpoint(tmp_path / "a" / "checkpoint.pt", _state(model, iteration=7))
    loaded, state = load_model(path)
    assert state["iteration"] == 7
    assert loaded.config == model.config and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    # a run folder works as well as the file inside it
    assert read_checkpoint(tmp_path / "a")["iteration"] == 7


def test_loads_across_output_stride(tmp_path):
    """Stage 2 (output stride 8) starts from stage 1 (16): no parameter depends on it."""
    save_checkpoint(tmp_path / "c.pt", _state(_tiny()))
    model = _tiny(output_stride=8)
    load_weights(model, read_checkpoint(tmp_path / "c.pt"))
    assert model.config.output_stride == 8


def test_other_config_names_the_fields_and_parameters(tmp_path):
    save_checkpoint(tmp_path / "c.pt", _state(_tiny()))
    other = DeepLabV3(get_preset("tiny", num_classes=5, aspp_channels=8, image_pooling=False))
    with pytest.raises(ValueError) as info:
        load_weights(other, read_checkpoint(tmp_path / "c.pt"))
    message = str(info.value)
    assert "num_classes: checkpoint 3, wanted 5" in message
    assert "image_pooling" in message
    assert "classifier.1.weight" in message  # the final conv's shape differs
    assert "unexpected: classifier.0.convs.4" in message  # the pooling branch's parameters


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, {"model": {}, "network": {}, "iteration": 1})

    def broken_save(obj, f):
        f.write(b"half a file")
        raise KeyboardInterrupt  # killed while writing

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"model": {}, "network": {}, "iteration": 2})
    monkeypatch.undo()
    assert read_checkpoint(path)["iteration"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        read_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an atrous checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


def test_refuses_pickled_code(tmp_path):
    """weights_only=True: a file that would run code when unpickled is rejected."""
    torch.save({"model": {}, "network": {}, "hook": dataclasses.field}, tmp_path / "evil.pt")
    with pytest.raises(
        ValueError, match=r"Python object \(dataclasses.field\) that atrous refuses"
    ):
        read_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(ValueError) as info:
        read_checkpoint(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(info.value)  # never advise running a pickle


def test_empty_and_text_files_are_named_in_words(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.pt' is empty \(0 bytes\)"):
        read_checkpoint(tmp_path / "empty.pt")
    (tmp_path / "notes.pt").write_text("epoch 3, loss 0.2\n")
    with pytest.raises(ValueError, match="notes.pt' is not a PyTorch file .* starts with b'epoch"):
        read_checkpoint(tmp_path / "notes.pt")


def test_a_kill_while_writing_leaves_no_temporary_file_for_long(tmp_path):
    stale = tmp_path / ".checkpoint.pt.abc123.tmp"
    stale.write_bytes(b"half a file")
    save_checkpoint(tmp_path / "checkpoint.pt", {"model": {}, "network": {}, "iteration": 1})
    assert not stale.exists()


def test_the_checkpoint_honours_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "c.pt", {"model": {}, "network": {}})
        (tmp_path / "other").write_text("x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == (tmp_path / "other").stat().st_mode & 0o777 == 0o644


def test_skip_leaves_the_classifier_fresh_and_loads_everything_else(tmp_path):
    save_checkpoint(tmp_path / "c.pt", _state(_tiny()))  # 3 classes
    five = DeepLabV3(get_preset("tiny", num_classes=5, aspp_channels=8))
    fresh_bias = five.state_dict()["classifier.1.bias"].clone()
    with pytest.raises(ValueError, match="num_classes: checkpoint 3, wanted 5"):
        load_weights(five, read_checkpoint(tmp_path / "c.pt"))
    skipped = load_weights(five, read_checkpoint(tmp_path / "c.pt"), skip=("classifier.1",))
    assert skipped == ["classifier.1.bias", "classifier.1.weight"]
    saved = read_checkpoint(tmp_path / "c.pt")["model"]
    assert torch.equal(five.state_dict()["backbone.conv1.weight"], saved["backbone.conv1.weight"])
    assert torch.equal(five.state_dict()["classifier.1.bias"], fresh_bias)
    other = DeepLabV3(get_preset("tiny", num_classes=5, aspp_channels=16))  # ASPP differs too
    with pytest.raises(ValueError, match="aspp_channels: checkpoint 8, wanted 16"):
        load_weights(other, read_checkpoint(tmp_path / "c.pt"), skip=("classifier.1",))
