"""Every shipped real-data config trains for a couple of iterations on generated fixtures.

The fixtures are small trees in each dataset's real format (tests/fixtures_data.py); the
network is shrunk to the tiny preset and the crop to 33 pixels so each run takes seconds,
while the data, the splits, the protocol (init, freeze_bn, output stride, bootstrapping)
come from the config file as shipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from atrous.base.errors import AtrousError
from atrous.cli import main
from atrous.model.checkpoint import read_checkpoint
from atrous.recipe.config import load_config
from atrous.training.loop import train
from tests.fixtures_data import random_image, write_cityscapes, write_jpeg, write_sbd, write_voc

CONFIGS = Path(__file__).parent.parent / "atrous" / "configs"
SMALL = ["model.preset=tiny", "data.crop_size=33", "train.batch_size=2", "train.iterations=2",
         "train.checkpoint_every=2", "train.device=cpu", 'train.pretrained=""']  # fmt: skip

pytestmark = pytest.mark.slow


def _train(name: str, run_dir: Path, *overrides: str) -> dict:
    config = load_config(CONFIGS / f"{name}.toml", [*SMALL, *overrides])
    torch.set_num_threads(1)
    train(config, run_dir, progress=False)
    state = read_checkpoint(run_dir)
    assert state["iteration"] == 2
    return state


@pytest.fixture
def voc(tmp_path):
    voc_root, sbd_root = tmp_path / "VOC2012", tmp_path / "sbd"
    write_voc(voc_root, {"train": ["a", "b"], "val": ["c"], "trainval": ["a", "b", "c"]})
    write_sbd(sbd_root, {"train": ["a", "d"], "val": ["e"]})
    return f"data.root={voc_root}", f"data.sbd_root={sbd_root}"


def test_voc_two_stages_and_eval(tmp_path, voc):
    stage1 = _train("voc_stage1", tmp_path / "s1", *voc)
    assert (
        stage1["network"]["output_stride"] == 16 and stage1["config"]["train"]["base_lr"] == 0.007
    )
    stage2 = _train("voc_stage2", tmp_path / "s2", voc[0], f"train.init={tmp_path / 's1'}")
    assert stage2["network"]["output_stride"] == 8 and stage2["config"]["train"]["freeze_bn"]
    # BN was frozen: stage 2 kept stage 1's running statistics
    for key, value in stage1["model"].items():
        if "running_mean" in key:
            assert torch.equal(stage2["model"][key], value), key
    # evaluation with the config's strategy: output stride 8, the paper's scales, flips
    out = tmp_path / "eval.json"
    assert main(["eval", str(tmp_path / "s2"), "--quiet", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["output_stride"] == 8 and result["flip"] and len(result["scales"]) == 6
    assert 0 <= result["miou"] <= 1 and len(result["iou"]) == 21


def test_voc_with_fewer_classes_than_its_labels_is_refused_before_any_work(tmp_path, voc):
    """Was: IndexError 'Target 15 is out of bounds' after the run folder was created."""
    config = load_config(CONFIGS / "voc_stage1.toml", [*SMALL, *voc, "model.num_classes=7"])
    with pytest.raises(AtrousError, match="'voc' has 21 classes but model.num_classes is 7"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_test_set_pipeline_coco_finetune_then_bootstrapped_trainval(tmp_path, voc):
    coco = tmp_path / "coco"
    h, w = 40, 48
    images, annotations = [], []
    for k in range(3):
        images.append({"id": k + 1, "file_name": f"{k + 1:012d}.jpg", "height": h, "width": w})
        write_jpeg(coco / "train2017" / images[-1]["file_name"], random_image(h, w, seed=k))
        annotations.append({"id": 10 + k, "image_id": k + 1, "category_id": 1, "iscrowd": 0,
                            "segmentation": [[2, 2, 46, 2, 46, 38, 2, 38]], "area": 1584.0,
                            "bbox": [2, 2, 44, 36]})  # fmt: skip
    (coco / "annotations").mkdir(parents=True)
    (coco / "annotations" / "instances_train2017.json").write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }))  # fmt: skip
    _train("coco_pretrain", tmp_path / "coco_run", f"data.root={coco}")
    state = _train(
        "voc_coco_finetune", tmp_path / "ft", *voc, f"train.init={tmp_path / 'coco_run'}"
    )
    assert state["config"]["train"]["base_lr"] == 0.0001
    final = _train("voc_test_bootstrap", tmp_path / "test", voc[0], f"train.init={tmp_path / 'ft'}")
    assert final["config"]["data"]["bootstrap_classes"] == [2, 9, 11, 16, 18]
    assert final["config"]["data"]["train_split"] == "trainval"
    assert final["network"]["output_stride"] == 8 and final["config"]["train"]["freeze_bn"]
    for key, value in state["model"].items():  # BN frozen: the fine-tuned statistics stay
        if "running_mean" in key:
            assert torch.equal(final["model"][key], value), key


@pytest.mark.parametrize(
    ("name", "pad_to"),
    [("voc_stage1", 513), ("voc_stage2", 513), ("voc_coco_finetune", 513),
     ("voc_test_bootstrap", 513), ("coco_pretrain", 0), ("cityscapes", 0), ("demo", 0)],
)  # fmt: skip
def test_each_config_states_its_evaluation_protocol(name, pad_to):
    """VOC: 513x513 padded inputs (Sec. 4.1); Cityscapes and the rest: whole images."""
    path = CONFIGS / f"{name}.toml"
    assert "pad_to" in path.read_text()
    assert load_config(path).eval.pad_to == pad_to


def test_every_config_says_where_it_sits():
    for path in CONFIGS.glob("*.toml"):
        if path.stem != "demo":
            assert "Where it sits" in path.read_text(), path.name


def test_cityscapes_keeps_the_voc_protocol_but_iterations_and_crop():
    c = load_config(CONFIGS / "cityscapes.toml")
    assert (c.train.batch_size, c.train.base_lr, c.train.iterations) == (16, 0.007, 90000)
    assert c.data.crop_size == 769 and c.eval.pad_to == 0


def test_cityscapes(tmp_path):
    rng = np.random.default_rng(0)
    labels = {f"aachen_{k:06d}_000019": rng.choice([0, 7, 8, 11, 26], size=(24, 48))
              for k in range(2)}  # fmt: skip
    write_cityscapes(tmp_path / "cs", "train", labels)
    state = _train("cityscapes", tmp_path / "run", f"data.root={tmp_path / 'cs'}")
    assert state["network"]["num_classes"] == 19
    assert state["config"]["data"]["crop_size"] == 33  # shrunk here; 769 as shipped
    assert load_config(CONFIGS / "cityscapes.toml").data.crop_size == 769
