"""atrous.experiments.cues: the linear probes that check, on the data alone, whether the scene
type is a global cue and not a local one."""

from __future__ import annotations

import numpy as np

from atrous.data.synthetic import SAIL, TENT, SyntheticScenes
from atrous.experiments.cues import check_cues, global_features, probe_accuracy, triangle_patch
from atrous.recipe.config import apply_overrides


def test_the_probe_finds_a_linear_cue_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 5))
    separable = (x[:, 2] > 0).astype(float)
    assert probe_accuracy(x, separable) > 0.95
    assert 0.35 < probe_accuracy(x, rng.integers(0, 2, 400).astype(float)) < 0.65


def test_the_patch_holds_the_triangle_and_its_surroundings():
    scenes = SyntheticScenes("train", 64, 40)
    for i in range(40):
        sample = scenes.sample(i)
        patch = triangle_patch(sample.image, sample.label)
        triangle = ((sample.label == SAIL) | (sample.label == TENT)).sum()
        assert patch is None or (triangle >= 4 and min(patch.shape[:2]) >= 5)
        if patch is not None:
            assert patch.shape[0] * patch.shape[1] >= triangle
    assert global_features(scenes.sample(0).image).ndim == 1


def test_check_cues_reports_both_probes():
    config = apply_overrides({}, ["data.synthetic_size=64"])
    cues = check_cues(config, scenes=60)
    assert cues.scenes == 60 and 0 < cues.triangles <= 60
    assert 0 <= cues.local_accuracy <= 1 and 0 <= cues.global_accuracy <= 1


def test_the_probes_follow_the_strength_of_the_tint():
    """A four-fold tint makes the scene type plain everywhere; no tint leaves only the marks."""

    def cues(tint):
        changes = [
            "data.synthetic_size=64",
            f"data.synthetic_tint={tint}",
            "data.synthetic_jitter=0",
        ]
        return check_cues(apply_overrides({}, changes), scenes=60)

    none, strong = cues(0), cues(4)
    assert strong.global_accuracy > none.global_accuracy + 0.2
    assert strong.local_accuracy > none.local_accuracy + 0.2


def test_the_cues_command_prints_both_probes(capsys):
    from atrous.cli import main

    assert main(["cues", "--recipe", "small", "--scenes", "40"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("small: scene type from global statistics 0.") and "40 scenes" in out


def test_the_probes_run_on_a_pretrained_backbones_features(tmp_path, monkeypatch, capsys):
    import dataclasses

    from atrous.cli import main
    from atrous.experiments import pretraining
    from atrous.training.pretrain import pretrain

    config = pretraining.pretrain_configs("scaled")["scaled-deep"]
    config = dataclasses.replace(config, size=48, scale=0.5, crop_size=33, batch_size=2,
                                 iterations=1, val_images=2)  # fmt: skip
    model, record = pretrain(config, progress=False)
    path = pretraining.save_pretrained(model, tmp_path / "b.safetensors",
                                       {"config": dataclasses.asdict(config)})  # fmt: skip
    assert main(["cues", "--recipe", "small", "--scenes", "30", "--set",
                 "data.synthetic_size=64", "--backbone", str(path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith(f"small (features of {path}): scene type") and "30 scenes" in out
