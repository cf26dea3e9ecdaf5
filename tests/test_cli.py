"""The command line: train, eval and predict end to end on the demo config, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from atrous.cli import build_parser, main

DEMO = str(Path(__file__).parent.parent / "configs" / "demo.toml")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The demo config trained for 3 iterations through the command line."""
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("cli") / "demo"
    code = main(["train", DEMO, "--set", "train.iterations=3", "--set", "train.batch_size=2",
                 "--run-dir", str(run), "--quiet"])  # fmt: skip
    assert code == 0
    return run


@pytest.mark.slow
def test_train_writes_the_run(run_dir, capsys):
    assert {"checkpoint.pt", "metrics.jsonl", "curves.png", "config.json"} <= {
        p.name for p in run_dir.iterdir()
    }
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["iteration"] == 3


@pytest.mark.slow
def test_eval_prints_and_writes_json(run_dir, capsys, tmp_path):
    out = tmp_path / "scores.json"
    code = main(["eval", str(run_dir), "--limit", "2", "--output-stride", "16", "--flip",
                 "--quiet", "--out", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    scores = json.loads(out.read_text())
    assert scores["images"] == 2 and scores["output_stride"] == 16 and scores["flip"]
    assert f"mIOU {100 * scores['miou']:.2f}" in printed
    assert set(scores["iou"]) == {"background", "wire", "ball", "box", "star", "sail", "tent"}


@pytest.mark.slow
def test_predict_writes_label_png_and_overlay(run_dir, tmp_path, capsys):
    paths = []
    for k, (h, w) in enumerate([(37, 50), (64, 29)]):  # any size
        path = tmp_path / f"img{k}.png"
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (h, w, 3), np.uint8)).save(path)
        paths.append(str(path))
    out = tmp_path / "pred"
    assert main(["predict", str(run_dir / "checkpoint.pt"), *paths, "--out", str(out)]) == 0
    for k, (h, w) in enumerate([(37, 50), (64, 29)]):
        label = Image.open(out / f"img{k}.png")
        assert label.mode == "P" and label.size == (w, h)
        assert np.asarray(label).max() < 7
        assert Image.open(out / f"img{k}_overlay.jpg").size == (w, h)


@pytest.mark.slow
def test_resume_a_finished_run_does_nothing_more(run_dir):
    before = (run_dir / "checkpoint.pt").stat().st_mtime_ns
    assert main(["train", DEMO, "--set", "train.iterations=3", "--set", "train.batch_size=2",
                 "--run-dir", str(run_dir), "--resume", "--quiet"]) == 0  # fmt: skip
    assert (run_dir / "checkpoint.pt").stat().st_mtime_ns == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", DEMO, "--set", "train.iteratons=3"], "iteratons"),
        (["train", DEMO, "--set", "model.output_stride=7"], "output_stride"),
        (["train", "missing.toml"], "missing.toml"),
        (["eval", "no/such/run"], "no/such/run"),
        (["predict", "no/such/run", "x.png"], "x.png"),
    ],
)
def test_bad_input_is_one_clear_line(argv, message, tmp_path):
    with pytest.raises(SystemExit) as info:
        main([*argv[:2], *argv[2:]] if argv[0] != "train" else [*argv, "--run-dir", str(tmp_path)])
    assert message in str(info.value) and str(info.value).startswith("error:")


@pytest.mark.parametrize("command", ["train", "eval", "predict", "demo"])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in {"train": ["--set", "--run-dir", "--resume"],
                   "eval": ["--output-stride", "--scales", "--multi-scale", "--flip"],
                   "predict": ["--out", "--scales", "--flip"],
                   "demo": ["--out", "--run-dir"]}[command]:  # fmt: skip
        assert option in text


@pytest.mark.slow
def test_demo_end_to_end_in_miniature(tmp_path, capsys):
    """`make demo`'s code path, 2 iterations and 3 val images (the real demo is not a test)."""
    out, run = tmp_path / "figures", tmp_path / "run"
    overrides = ["--set", "train.iterations=2", "--set", "data.synthetic_val_length=3"]
    assert main(["demo", "--out", str(out), "--run-dir", str(run), "--quiet", *overrides]) == 0
    printed = capsys.readouterr().out
    assert "demo: mIOU" in printed and "on 3 synthetic val images" in printed
    names = {p.name for p in out.iterdir()}
    assert {"demo_predictions.png", "demo_curves.png"} <= names
    assert any("valid" in n for n in names)  # Fig. 4, as before
    assert json.loads((run / "eval_val_os8_s0.75-1-1.25_flip.json").read_text())["images"] == 3
