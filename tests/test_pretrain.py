"""The stand-in for ImageNet (atrous.training.pretrain, atrous.experiments.pretraining): an
image-level task on a stream of scenes no run trains on, written as safetensors with its
provenance, loaded by train.pretrained into the segmentation network's backbone."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors import safe_open

from atrous.base.errors import AtrousError, AtrousFileExistsError
from atrous.cli import main
from atrous.data.synthetic import SyntheticScenes
from atrous.experiments import pretraining
from atrous.experiments.pretraining import file_sha256, pretrain_configs
from atrous.model.deeplabv3 import DeepLabV3
from atrous.model.interop import load_backbone_checkpoint, load_checkpoint_file
from atrous.recipe.config import load_config
from atrous.recipe.configs import recipe_path
from atrous.training.pretrain import OBJECTS, ImageLevel, loss_of, pretrain, targets
from atrous.training.start import initial_model

torch.set_num_threads(1)


def tiny(config):
    return dataclasses.replace(config, size=48, scale=0.5, crop_size=33, batch_size=2,
                               iterations=2, val_images=2)  # fmt: skip


def test_the_pretraining_stream_is_disjoint_from_the_segmentation_splits():
    a = SyntheticScenes("pretrain", 48, 3)[0][0]
    for split in ("train", "val", "test"):
        assert not (a == SyntheticScenes(split, 48, 3)[0][0]).all()


def test_targets_are_the_scene_type_and_the_objects_in_the_crop():
    from atrous.data.transforms import TrainTransform

    scenes = SyntheticScenes("pretrain", 64)
    image, scene, present = targets(scenes, 5, TrainTransform(64, (1.0, 1.0), flip=False), None)
    label = scenes.sample(5).label
    assert scene == scenes.sample(5).scene and present.shape == (len(OBJECTS),)
    assert present.tolist() == [float((label == c).any()) for c in range(1, 7)]
    logits = torch.zeros(1, 2 + len(OBJECTS))
    assert float(loss_of(logits, torch.tensor([scene]), present[None])) == pytest.approx(
        torch.log(torch.tensor(2.0)).item() * 2, rel=1e-6
    )


def test_each_backbone_of_the_scaled_recipe_is_pretrained_on_its_scenes():
    configs = pretrain_configs("scaled")
    base = load_config(recipe_path("scaled"))
    assert set(configs) == {"scaled-deep", "scaled-shallow"}
    assert configs["scaled-deep"].network.depths == base.network.depths
    assert configs["scaled-shallow"].network.depths == (1, 1, 1, 3)
    assert configs["scaled-deep"].crop_size == base.data.crop_size
    with pytest.raises(AtrousError, match="--recipe"):
        pretrain_configs("small")


def test_a_pretrained_backbone_loads_by_name_into_a_run(tmp_path, monkeypatch, capsys):
    real = pretraining.pretrain_configs
    monkeypatch.setattr(pretraining, "pretrain_configs",
                        lambda r, i=None: {k: tiny(v) for k, v in real(r, i).items()})  # fmt: skip
    assert main(["pretrain", "--out", str(tmp_path), "--only", "deep", "--quiet"]) == 0
    path = tmp_path / "scaled-deep.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = {k: json.loads(v) for k, v in f.metadata().items()}
    assert meta["record"]["iterations"] == 2 and "scene" in meta["record"]["val_accuracy"]
    assert meta["command"].startswith("python -m atrous") and meta["commit"]
    assert not (tmp_path / "scaled-shallow.safetensors").exists()
    with pytest.raises(SystemExit) as exit:  # never over an existing backbone
        main(["pretrain", "--out", str(tmp_path), "--only", "deep", "--quiet"])
    assert exit.value.code == 2 and "exists" in capsys.readouterr().err
    # the same weights in the segmentation network's backbone, the classifier dropped
    state = load_checkpoint_file(path)
    config = load_config(recipe_path("scaled"), [f"train.pretrained={path}"])
    model = initial_model(config)
    for name, tensor in model.backbone.state_dict().items():
        assert torch.equal(tensor, state[name]), name
    assert len(file_sha256(path)) == 64
    net = DeepLabV3(config.network)
    assert load_backbone_checkpoint(net, state) == []  # block4 network: every tensor loaded
    assert isinstance(ImageLevel(config.network).fc, torch.nn.Linear)


def test_pretrain_refuses_what_it_cannot_do(tmp_path, capsys):
    with pytest.raises(AtrousError, match="--only"):
        pretraining.pretrain_recipe("scaled", tmp_path, only=["medium"])
    with pytest.raises(AtrousFileExistsError):
        (tmp_path / "scaled-deep.safetensors").write_text("")
        pretraining.pretrain_recipe("scaled", tmp_path, only=["deep"])


def test_pretraining_records_its_iterations_and_loss():
    config = tiny(pretrain_configs("scaled")["scaled-deep"])
    _, record = pretrain(dataclasses.replace(config, iterations=3), progress=False)
    assert record["iterations"] == 3 and record["final_loss"] > 0
