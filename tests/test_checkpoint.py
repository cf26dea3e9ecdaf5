"""Checkpoints: atomic writes, safe loading, and a clear error for another config."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import atrous.checkpoint as ckpt
from atrous import DeepLabV3, get_preset
from atrous.checkpoint import load_model, load_weights, read_checkpoint, save_checkpoint


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
    with pytest.raises(ValueError, match="refusing to unpickle it .*dataclasses.field"):
        read_checkpoint(tmp_path / "evil.pt")
