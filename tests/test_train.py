"""Training (Sec. 4.1): the schedule, the data stream, exact resume, accumulation, stage 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from atrous import DeepLabV3
from atrous.base.errors import AtrousError
from atrous.model.checkpoint import read_checkpoint, save_checkpoint
from atrous.training.checks import ImagePoolingBNWarning
from atrous.training.loop import initial_model, parameter_groups, poly_lr, train
from atrous.training.loss import downsample_labels, segmentation_loss_sum
from atrous.training.run_folder import read_metrics
from atrous.training.sample_stream import IterationSampler, SampleStream
from reference.network import resize_bilinear
from tests.helpers_train import FlipCrop, Rectangles, tiny_config
from tests.strategies import seeds

torch.set_num_threads(1)


def _run(tmp_path, name="run", dataset=None, transform=None, **tables):
    config = tiny_config(**tables)
    return train(
        config,
        tmp_path / name,
        dataset=Rectangles() if dataset is None else dataset,
        transform=transform or FlipCrop(17),
        progress=False,
        **tables.pop("_kwargs", {}),
    )


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@given(
    base_lr=st.floats(0, 1),
    max_steps=st.integers(1, 10**5),
    fraction=st.floats(0, 1),
    power=st.floats(0, 2),
)
def test_poly_lr_matches_reference(base_lr, max_steps, fraction, power):
    step = round(fraction * max_steps)
    expected = reference.poly_lr(base_lr, step, max_steps, power)
    assert poly_lr(base_lr, step, max_steps, power) == pytest.approx(expected, rel=1e-12, abs=0)


@given(length=st.integers(1, 20), seed=seeds(), copies=st.integers(1, 3))
def test_every_epoch_visits_every_image_once(length, seed, copies):
    indices = [i for i in range(length) for _ in range(copies)]
    stream = SampleStream(Rectangles(length), FlipCrop(), seed, indices)
    for epoch in range(3):
        seen = [stream.index(k) for k in range(epoch * len(indices), (epoch + 1) * len(indices))]
        assert sorted(seen) == sorted(indices)


@given(seed=seeds(), ks=st.lists(st.integers(0, 200), min_size=1, max_size=8))
@settings(max_examples=10)
def test_samples_are_a_pure_function_of_seed_and_number(seed, ks):
    """Any access order, any fresh stream: sample k is the same (what makes resume exact)."""
    a = SampleStream(Rectangles(5), FlipCrop(9), seed, range(5))
    b = SampleStream(Rectangles(5), FlipCrop(9), seed, range(5))
    for k in ks:
        (xa, ya), (xb, yb) = a[k], b[k]
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert [a.index(k) for k in ks] == [b.index(k) for k in reversed(ks)][::-1]


@given(
    batch=st.integers(1, 12),
    world=st.sampled_from([1, 2, 3, 4]),
    start=st.integers(0, 5),
    count=st.integers(0, 4),
)
def test_processes_share_out_the_global_batch(batch, world, start, count):
    samplers = [IterationSampler(start, start + count, batch, r, world) for r in range(world)]
    batches = list(zip(*samplers, strict=True))
    assert len(batches) == count
    for i, per_rank in enumerate(batches, start=start):
        merged = sorted(k for ks in per_rank for k in ks)
        assert merged == list(range(i * batch, (i + 1) * batch))


def test_loss_ignores_255_and_upsamples():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 3, 3)
    labels = torch.randint(0, 3, (2, 5, 5))
    labels[:, 0] = 255
    up = torch.nn.functional.interpolate(logits, (5, 5), mode="bilinear", align_corners=True)
    keep = labels != 255
    expected = torch.nn.functional.cross_entropy(
        up.permute(0, 2, 3, 1)[keep], labels[keep], reduction="sum"
    )
    assert torch.allclose(segmentation_loss_sum(logits, labels, True, True), expected)
    # labels downsampled to the logits instead (Tab. 8): only the 3x3 sample points count
    small = downsample_labels(labels, (3, 3))
    keep = small != 255
    expected = torch.nn.functional.cross_entropy(
        logits.permute(0, 2, 3, 1)[keep], small[keep], reduction="sum"
    )
    assert torch.allclose(segmentation_loss_sum(logits, labels, False, True), expected)


def test_weight_decay_only_on_conv_weights():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    decay, rest = parameter_groups(model, 1e-4)
    assert decay["params"] == [model[0].weight] and decay["weight_decay"] == 1e-4
    assert len(rest["params"]) == 3 and rest["weight_decay"] == 0


def test_learns_and_logs(tmp_path):
    result = _run(tmp_path, train={"iterations": 30, "log_every": 5, "checkpoint_every": 10})
    run = tmp_path / "run"
    assert {"checkpoint.pt", "metrics.jsonl", "curves.png", "config.json"} <= {
        p.name for p in run.iterdir()
    }
    history = read_metrics(run / "metrics.jsonl")
    assert [r["iteration"] for r in history] == [5, 10, 15, 20, 25, 30]
    assert history == result.history
    # the logged lr is the poly schedule of the iteration, stepped every iteration
    for r in history:
        assert r["lr"] == pytest.approx(reference.poly_lr(0.01, r["iteration"] - 1, 30))
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]  # it learns (0.70 measured)
    state = read_checkpoint(run)
    assert state["iteration"] == 30 and state["meta"]["class_names"][1] == "red"
    assert json.loads((run / "config.json").read_text())["train"]["iterations"] == 30


def test_resume_ends_with_the_same_weights(tmp_path):
    """Stopped after 3 iterations (checkpoints at 2 and 3), resumed: the weights, momentum
    and log of one uninterrupted run of 6."""
    tables = {"train": {"iterations": 6, "checkpoint_every": 2, "log_every": 1}}
    whole = _run(tmp_path, "whole", **tables)
    config = tiny_config(**tables)
    part = tmp_path / "part"
    train(config, part, stop_at=3, dataset=Rectangles(), transform=FlipCrop(17), progress=False)
    assert read_checkpoint(part)["iteration"] == 3  # stop_at writes a checkpoint
    resumed = train(
        config, part, resume=True, dataset=Rectangles(), transform=FlipCrop(17), progress=False
    )
    assert resumed.iteration == 6
    _same_weights(whole.model, resumed.model)
    a, b = read_checkpoint(tmp_path / "whole"), read_checkpoint(part)
    for key in a["optimizer"]["state"]:
        assert torch.equal(
            a["optimizer"]["state"][key]["momentum_buffer"],
            b["optimizer"]["state"][key]["momentum_buffer"],
        )
    assert [r["iteration"] for r in resumed.history] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]


def test_resume_after_a_crash_redoes_the_iterations_after_the_checkpoint(tmp_path):
    """Killed after iteration 3 with the last checkpoint at 2: iteration 3 is done again,
    from the same data, and the run ends as an uninterrupted one."""
    tables = {"train": {"iterations": 6, "checkpoint_every": 2, "log_every": 1}}
    whole = _run(tmp_path, "whole", **tables)
    config = tiny_config(**tables)
    cut = tmp_path / "cut"
    train(config, cut, stop_at=2, dataset=Rectangles(), transform=FlipCrop(17), progress=False)
    log = cut / "metrics.jsonl"  # the crashed run had logged iteration 3 already
    log.write_text(log.read_text() + json.dumps({"iteration": 3, "loss": -1.0}) + "\n")
    resumed = train(
        config, cut, resume=True, dataset=Rectangles(), transform=FlipCrop(17), progress=False
    )
    _same_weights(whole.model, resumed.model)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]


def test_a_run_written_before_a_config_field_existed_resumes(tmp_path):
    """Checkpoints of earlier versions lack newer fields (eval.pad_to): their defaults apply."""
    tables = {"train": {"iterations": 4, "checkpoint_every": 2}}
    config = tiny_config(**tables)
    run = tmp_path / "old"
    train(config, run, stop_at=2, dataset=Rectangles(), transform=FlipCrop(17), progress=False)
    state = read_checkpoint(run)
    del state["config"]["eval"]["pad_to"]
    save_checkpoint(run / "checkpoint.pt", state)
    resumed = train(
        config, run, resume=True, dataset=Rectangles(), transform=FlipCrop(17), progress=False
    )
    assert resumed.iteration == 4


def test_evaluation_does_not_import_training():
    code = (
        "import sys, atrous.inference.evaluate, atrous.inference.predict; "
        "print(any(m.startswith('atrous.training') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_accumulation_equals_the_big_batch_when_bn_is_frozen(tmp_path):
    tables = {"train": {"iterations": 3, "batch_size": 4, "freeze_bn": True}}
    big = _run(tmp_path, "big", **tables)
    tables["train"]["accumulate"] = 2
    small = _run(tmp_path, "small", **tables)
    for (key, a), b in zip(
        big.model.state_dict().items(), small.model.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6), key


def test_micro_batches_of_one_warn_and_leave_the_pooling_bn_untouched(tmp_path):
    """accumulate == batch_size: the image-pooling BN sees one value per channel; the run
    says so at its start (naming train.accumulate) and that BN's statistics never move."""
    tables = {"train": {"iterations": 2, "batch_size": 2, "accumulate": 2}}
    with pytest.warns(ImagePoolingBNWarning, match=r"train\.accumulate=2.*running statistics"):
        result = _run(tmp_path, "one", **tables)
    torch.manual_seed(0)
    start = DeepLabV3(tiny_config(**tables).network).state_dict()
    pooling, other = "classifier.0.convs.4.2.running_mean", "classifier.0.project.1.running_mean"
    assert torch.equal(result.model.state_dict()[pooling], start[pooling])
    assert not torch.equal(result.model.state_dict()[other], start[other])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ImagePoolingBNWarning)  # micro-batches of two: silent
        _run(tmp_path, "two", train={"iterations": 1, "batch_size": 4, "accumulate": 2})
        _run(tmp_path, "frozen", train={**tables["train"], "freeze_bn": True})


def test_stage_two_freezes_bn_at_output_stride_8(tmp_path):
    _run(tmp_path, "stage1", train={"iterations": 2})
    stage1 = read_checkpoint(tmp_path / "stage1")
    result = _run(
        tmp_path,
        "stage2",
        model={"output_stride": 8},
        train={
            "iterations": 2,
            "freeze_bn": True,
            "init": str(tmp_path / "stage1"),
            "base_lr": 0.001,
        },
    )
    assert result.model.config.output_stride == 8
    for key, value in result.model.state_dict().items():
        if "running" in key or key.endswith("bn1.weight"):
            assert torch.equal(value, stage1["model"][key]), key  # BN untouched
    assert not torch.equal(
        result.model.state_dict()["classifier.1.weight"], stage1["model"]["classifier.1.weight"]
    )


def test_init_from_another_config_names_the_field(tmp_path):
    _run(tmp_path, "a", train={"iterations": 1})
    with pytest.raises(ValueError, match="num_classes: checkpoint 4, wanted 5"):
        _run(
            tmp_path,
            "b",
            model={"num_classes": 5},
            train={"iterations": 1, "init": str(tmp_path / "a" / "checkpoint.pt")},
        )


@pytest.mark.parametrize("upsample_logits", [True, False])
def test_first_logged_loss_is_the_loss_of_the_first_batch(tmp_path, upsample_logits):
    """The loss of iteration 1, recomputed by hand: the initial network on samples 0 and 1,
    cross-entropy over the labelled pixels, logits upsampled or labels downsampled (Tab. 8)."""
    tables = {"train": {"iterations": 1, "upsample_logits": upsample_logits}}
    result = _run(tmp_path, **tables)
    config = tiny_config(**tables)
    model = initial_model(config).train()
    stream = SampleStream(Rectangles(), FlipCrop(17), config.train.seed, range(8))
    images, labels = (torch.stack(t) for t in zip(stream[0], stream[1], strict=True))
    logits = model(images, upsample=False)
    if upsample_logits:
        logits = torch.nn.functional.interpolate(logits, labels.shape[-2:], mode="bilinear",
                                                 align_corners=True)  # fmt: skip
    else:
        labels = downsample_labels(labels, logits.shape[-2:])
    expected = torch.nn.functional.cross_entropy(logits, labels, ignore_index=255)
    assert result.history[0]["loss"] == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("align_corners", [True, False])
@given(h=st.integers(1, 40), w=st.integers(1, 40), data=st.data())
def test_downsampled_labels_are_nearest_to_where_bilinear_upsampling_puts_each_logit(
    align_corners, h, w, data
):
    """Pinned by the NumPy oracle's bilinear resize, not by a copy of the formula. Logit ``i``
    upsampled to ``n_in`` pixels has weight ``1 - d * s`` at a pixel ``d`` pixels from where
    it sits (``s`` = logits per pixel; more at the clamped edges). The label taken for logit
    ``i`` must be at most half a pixel from there: weight >= 1 - s / 2. A grid shifted by half
    a pixel fails."""
    oh, ow = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    labels = torch.arange(h * w).reshape(1, h, w)
    out = downsample_labels(labels, (oh, ow), align_corners)[0].numpy()  # (oh, ow)
    for n_in, n_out, picked in [(h, oh, out[:, 0] // w), (w, ow, out[0, :] % w)]:
        one_hot = np.eye(n_out)[None, :, :, None]  # logit i alone, as (1, n_out, n_out, 1)
        weights = resize_bilinear(one_hot, (n_in, 1), align_corners)[0, :, :, 0]  # (n_out, n_in)
        if align_corners:
            s = (n_out - 1) / (n_in - 1) if n_in > 1 else 1.0
        else:
            s = n_out / n_in
        for i, p in enumerate(picked):
            assert weights[i, p] >= 1 - s / 2 - 1e-9, (n_in, n_out, i, p, weights[i].round(3))


def test_run_dir_errors(tmp_path):
    _run(tmp_path, train={"iterations": 1})
    with pytest.raises(FileExistsError, match="--resume"):
        _run(tmp_path, train={"iterations": 1})
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(
            tiny_config(),
            tmp_path / "empty",
            resume=True,
            dataset=Rectangles(),
            transform=FlipCrop(17),
            progress=False,
        )
    with pytest.raises(ValueError, match="train.base_lr"):
        train(
            tiny_config(train={"iterations": 1, "base_lr": 0.5}),
            tmp_path / "run",
            resume=True,
            dataset=Rectangles(),
            transform=FlipCrop(17),
            progress=False,
        )


def test_nan_loss_and_empty_data_are_clear(tmp_path):
    def poisoned(image, label, rng=None):
        x, y = FlipCrop(17)(image, label, rng)
        return x * float("nan"), y

    with pytest.raises(FloatingPointError, match="iteration 0"):
        _run(tmp_path, "nan", transform=poisoned)
    with pytest.raises(ValueError, match="no images"):
        _run(tmp_path, "empty", dataset=Rectangles(0))


def test_labels_outside_the_models_classes_are_named_before_any_step(tmp_path):
    """Was: IndexError 'Target 15 is out of bounds' from inside cross_entropy."""

    class Declared(Rectangles):
        num_classes = 6  # more classes than the model's 4

    with pytest.raises(AtrousError, match="has 6 classes but model.num_classes is 4"):
        _run(tmp_path, "declared", dataset=Declared())
    assert not (tmp_path / "declared").exists()  # refused before the run folder was made

    class Undeclared(Rectangles):
        def __getitem__(self, i):
            image, label = super().__getitem__(i)
            label[5, 5] = 15
            return image, label

    with pytest.raises(AtrousError, match=r"iteration 0 .* is 15: outside the model's classes"):
        _run(tmp_path, "undeclared", dataset=Undeclared(), transform=FlipCrop(None, flip=False))


def test_missing_dataset_root_is_clear(tmp_path):
    config = tiny_config(data={"dataset": "voc", "root": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError, match="data.root"):
        train(config, tmp_path / "run", progress=False)


@pytest.mark.gpu
def test_amp_on_cuda(tmp_path):
    tables = {"train": {"iterations": 3, "device": "cuda", "amp": True}}
    result = _run(tmp_path, **tables)
    assert np.isfinite(result.history[-1]["loss"])
    assert "scale" in read_checkpoint(tmp_path / "run")["scaler"]


def test_pretrained_backbone_starts_the_run(tmp_path):
    """train.pretrained loads ImageNet ResNet weights (torchvision names) into the backbone."""
    torch.manual_seed(123)
    source = DeepLabV3(tiny_config().network)
    imagenet = {**source.backbone.state_dict(), "fc.weight": torch.zeros(1000, 512)}
    torch.save(imagenet, tmp_path / "resnet.pth")
    result = _run(tmp_path, train={"iterations": 1, "base_lr": 0.0, "weight_decay": 0.0,
                                   "pretrained": str(tmp_path / "resnet.pth")})  # fmt: skip
    for key, value in source.backbone.state_dict().items():
        if "running" not in key and "num_batches" not in key:  # BN statistics do move
            assert torch.equal(result.model.backbone.state_dict()[key], value), key
    with pytest.raises(FileNotFoundError, match="nothing.pth"):
        _run(tmp_path, "b", train={"iterations": 1, "pretrained": str(tmp_path / "nothing.pth")})
