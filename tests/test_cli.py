"""The command line: train, eval and predict end to end on the demo config, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from atrous.base.precision import cpu_runs_bf16_fast
from atrous.cli import build_parser, main

DEMO = str(Path(__file__).parent.parent / "atrous" / "configs" / "demo.toml")


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
        (["eval", "no/such/run", "--device", "cuda:7"], "--device is 'cuda:7'"),
        (["train", DEMO, "--set", "data.dataset=voc", "--set", "data.root="], "data.root is empty"),
        (["train", DEMO, "--set", 'train.pretrained="nothing.pth"'], "train.pretrained 'nothing"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--run-dir", str(tmp_path / "run")] if argv[0] == "train" else argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


def test_ctrl_c_in_the_demo_is_one_line(monkeypatch, capsys, tmp_path):
    import atrous.demo

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(atrous.demo, "demo", interrupted)
    with pytest.raises(SystemExit) as info:
        main(["demo", "--run-dir", str(tmp_path / "d")])
    assert info.value.code == 130
    assert capsys.readouterr().err.startswith("interrupted (Ctrl-C):")


@pytest.mark.slow
def test_eval_applies_output_stride_overrides_and_refuses_the_rest(run_dir, tmp_path, capsys):
    """Was: --set model.* silently ignored. The output stride changes with the same weights."""
    out = tmp_path / "os8.json"
    assert main(["eval", str(run_dir), "--limit", "1", "--set", "model.output_stride=4",
                 "--set", "eval.output_stride=0", "--quiet", "--out", str(out)]) == 0  # fmt: skip
    assert json.loads(out.read_text())["output_stride"] == 4
    with pytest.raises(SystemExit) as info:
        main(["eval", str(run_dir), "--limit", "1", "--set", "model.num_classes=5", "--quiet"])
    assert info.value.code == 2
    assert "cannot change model.num_classes (checkpoint 7, asked 5)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_partial_evaluation_never_replaces_a_full_one(run_dir, capsys):
    fp32 = ["--precision", "fp32", "--quiet"]
    assert main(["eval", str(run_dir), "--limit", "2", *fp32]) == 0
    names = {p.name for p in run_dir.glob("eval_*.json")}
    assert "eval_val_os4_s0.75-1-1.25_flip_first2.json" in names
    assert main(["eval", str(run_dir), "--limit", "1", *fp32]) == 0
    assert "eval_val_os4_s0.75-1-1.25_flip_first1.json" in {p.name for p in run_dir.iterdir()}
    with pytest.raises(SystemExit) as info:  # the same settings again: kept unless --overwrite
        main(["eval", str(run_dir), "--limit", "1", *fp32])
    assert info.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert main(["eval", str(run_dir), "--limit", "1", *fp32, "--overwrite"]) == 0
    assert main(["eval", str(run_dir), "--limit", "1", "--precision", "bf16", "--quiet"]) == 0
    assert "eval_val_os4_s0.75-1-1.25_flip_first1_bf16.json" in {p.name for p in run_dir.iterdir()}


def test_eval_out_under_a_file_is_refused_before_evaluating(run_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit):
        main(["eval", str(run_dir), "--out", str(tmp_path / "file" / "e.json"), "--quiet"])
    assert "lies under" in capsys.readouterr().err


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
    precision = "_bf16" if cpu_runs_bf16_fast() else ""  # the demo's eval.precision is auto
    scores = json.loads((run / f"eval_val_os4_s0.75-1-1.25_flip{precision}.json").read_text())
    assert scores["images"] == 3
