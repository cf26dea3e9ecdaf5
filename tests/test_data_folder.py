"""Your own data: the folder dataset (atrous.data.folder), fine-tuning to other classes with
train.init_skip, and the example of docs/src/own-data.md end to end at a tiny size."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from atrous.base.errors import AtrousError, AtrousFileNotFoundError
from atrous.cli import main
from atrous.data.folder import FolderDataset, read_classes, write_example_folder
from atrous.model.checkpoint import read_checkpoint

OWN_DATA_PAGE = Path(__file__).resolve().parent.parent / "docs" / "src" / "own-data.md"
CONFIGS = Path(__file__).resolve().parent.parent / "atrous" / "configs"
torch.set_num_threads(1)


def _folder(root: Path, n: int = 4, rgb_masks: bool = False, classes: str | None = None) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.toml").write_text(classes or (
        '[[class]]\nname = "sky"\ncolor = [0, 0, 255]\n[[class]]\nname = "tree"\n'
        "color = [0, 255, 0]\n"))  # fmt: skip
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(
            root / "images" / f"p{i}.jpg"
        )
        label = rng.integers(0, 2, (12, 10)).astype(np.uint8)
        label[0] = 255
        if rgb_masks:
            colours = np.array([[0, 0, 255], [0, 255, 0]], dtype=np.uint8)
            Image.fromarray(colours[np.minimum(label, 1)]).save(root / "labels" / f"p{i}.png")
        else:
            Image.fromarray(label, mode="L").save(root / "labels" / f"p{i}.png")
    return root


def test_a_folder_reads_with_a_seeded_split_and_its_classes(tmp_path):
    root = _folder(tmp_path / "d", n=10)
    train, val = FolderDataset(root, "train", 0.2), FolderDataset(root, "val", 0.2)
    assert (len(train), len(val)) == (8, 2)
    assert not {p.stem for p in train.images} & {p.stem for p in val.images}
    assert train.class_names == ("sky", "tree") and train.num_classes == 2
    image, label = train[0]
    assert image.shape == (12, 10, 3) and label.dtype == np.int64
    assert set(np.unique(label)) <= {0, 1, 255}
    assert FolderDataset(root, "val", 0.2, seed=1).images != val.images  # the seed decides
    (root / "splits").mkdir()
    (root / "splits" / "val.txt").write_text("p3\n")
    assert [p.stem for p in FolderDataset(root, "val").images] == ["p3"]


def test_rgb_colour_masks_are_read_through_the_class_colours(tmp_path):
    root = _folder(tmp_path / "d", rgb_masks=True, classes='[[class]]\nname = "sky"\ncolor = '
                   '[0, 0, 255]\n[[class]]\nname = "tree"\ncolor = [0, 255, 0]\n')  # fmt: skip
    _, label = FolderDataset(root, "train", 0.25)[0]
    assert set(np.unique(label)) <= {0, 1}
    (root / "classes.toml").write_text('[[class]]\nname = "sky"\ncolor = [0, 0, 255]\n')
    with pytest.raises(AtrousError, match=r"p\d.png: colour \(0, 255, 0\) .* no class's colour"):
        FolderDataset(root, "train", 0.25)[0]


def test_each_bad_folder_is_named(tmp_path):
    root = _folder(tmp_path / "d")
    (root / "labels" / "p1.png").unlink()
    with pytest.raises(AtrousFileNotFoundError, match="p1.png"):
        FolderDataset(root, "train", 0.25)
    root = _folder(tmp_path / "e")
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(root / "labels" / "p0.png")
    Image.fromarray(np.full((12, 10), 7, np.uint8), mode="L").save(root / "labels" / "p2.png")
    (root / "images" / "p3.jpg").write_bytes(b"not a jpeg")
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("p0\np2\np3\n")
    ds = FolderDataset(root, "train")
    messages = []
    for i in range(len(ds)):
        with pytest.raises(AtrousError) as info:
            ds[i]
        messages.append(str(info.value))
    assert any("p0.jpg is 10x12 but its label" in m for m in messages)
    assert any("p2.png holds values [7] outside the classes 0..1" in m for m in messages)
    assert any("cannot read image" in m and "p3.jpg" in m for m in messages)
    (root / "classes.toml").unlink()
    with pytest.raises(AtrousFileNotFoundError, match="classes.toml"):
        read_classes(root)


def test_the_example_folder_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "mine.txt").write_text("x")
    with pytest.raises(AtrousError, match="is not empty"):
        write_example_folder(tmp_path / "used", 2, 1, 32)
    root = write_example_folder(tmp_path / "new", 2, 1, 32)
    assert FolderDataset(root, "val").class_names == ("background", "wire", "object")


@pytest.mark.slow
def test_own_data_end_to_end_as_the_readme_says(tmp_path, monkeypatch, capsys):
    """The own-data page's five lines at a tiny size: example folder, a start checkpoint, fine-tune
    to 3 classes with init_skip, evaluate, predict with the folder's names and colours."""
    monkeypatch.chdir(tmp_path)
    text = OWN_DATA_PAGE.read_text()
    section = text[text.index("# Train on your own data") :]
    lines = [ln for ln in re.search(r"```bash\n(.*?)```", section, re.S)[1].splitlines() if ln]
    assert len(lines) <= 5
    small = ["--set", "train.iterations=2", "--set", "train.batch_size=2", "--quiet"]
    assert main(["example-folder", "data/own", "--train", "4", "--val", "2", "--size", "48"]) == 0
    demo = str(CONFIGS / "demo.toml")
    assert main(["train", demo, *small, "--run-dir", "runs/demo"]) == 0  # what make demo makes
    own = str(CONFIGS / "own_data.toml")
    assert main(["train", own, *small, "--set", "data.cache=false"]) == 0
    err = capsys.readouterr().err
    assert "not loaded (train.init_skip), freshly initialised: classifier.1.bias" in err
    start, tuned = read_checkpoint("runs/demo"), read_checkpoint("runs/own_data")
    assert tuned["model"]["classifier.1.weight"].shape[0] == 3
    assert tuned["meta"]["class_names"] == ["background", "wire", "object"]
    assert main(["eval", "runs/own_data", "--quiet", "--precision", "fp32"]) == 0
    scores = json.loads(next(Path("runs/own_data").glob("eval_val_*.json")).read_text())
    assert set(scores["iou"]) == {"background", "wire", "object"}
    images = sorted(str(p) for p in Path("data/own/images").glob("val_*.png"))
    assert main(["predict", "runs/own_data", *images, "--out", "predictions/own"]) == 0
    label = Image.open("predictions/own/val_0000.png")
    assert label.getpalette()[3:6] == [230, 60, 40]  # the folder's colour of class 1 (wire)
    key = "backbone.layer1.0.conv1.weight"
    assert not torch.equal(start["model"][key], tuned["model"][key])  # loaded, then trained
