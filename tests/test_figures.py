"""The figures are drawn from the oracle's numbers and written as PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from atrous.experiments.fig4 import draw_valid_weights
from atrous.figures import draw_gridding, plot_gridding, plot_valid_weights
from reference import coverage, valid_weight_counts


def test_plot_valid_weights_writes_a_png(tmp_path) -> None:
    path = plot_valid_weights(tmp_path / "new", feature_size=9, rates=range(1, 12))
    assert path == tmp_path / "new" / "fig4_valid_weights.png"
    image = imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100


def test_valid_weight_curves_are_the_histogram() -> None:
    curves = draw_valid_weights(Figure().add_subplot(), feature_size=13, rates=range(1, 15))
    assert set(curves) == {1, 4, 9}
    for i, rate in enumerate(range(1, 15)):
        counts = valid_weight_counts(13, 3, rate)
        for n, fractions in curves.items():
            assert fractions[i] == pytest.approx(np.mean(counts == n))
    assert curves[9][0] > 0.5 and curves[1][-1] == 1.0  # Fig. 4's two ends


def test_plot_gridding_writes_a_png(tmp_path) -> None:
    path = plot_gridding(tmp_path)
    assert path.name == "gridding.png" and imread(path).ndim == 3
    masks = draw_gridding(Figure().subplots(1, 2), [(2, 2, 2), (1, 2, 4)])
    np.testing.assert_array_equal(masks[0], coverage((2, 2, 2)))


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="rates"):
        draw_valid_weights(Figure().add_subplot(), rates=[])
    with pytest.raises(ValueError, match="axes"):
        draw_gridding(Figure().subplots(1, 2), [(1, 2, 4)])


def test_labels_are_drawn_in_their_palette_and_255_in_the_ignore_colour():
    from atrous.data.palette import IGNORE_COLOUR, colorize, full_palette, voc_palette

    palette = np.array([[10, 20, 30], [40, 50, 60]], dtype=np.uint8)
    image = colorize(np.array([[0, 1], [255, 0]]), palette)
    np.testing.assert_array_equal(image[0, 1], [40, 50, 60])
    np.testing.assert_array_equal(image[1, 0], IGNORE_COLOUR)
    np.testing.assert_array_equal(IGNORE_COLOUR, voc_palette()[255])  # VOC's own cream
    np.testing.assert_array_equal(full_palette(palette)[2], voc_palette()[2])
    with pytest.raises(ValueError, match="classes 0..1 or 255, found 7"):
        colorize(np.array([[7]]), palette)


# --- the chapters' figures (atrous.diagrams) ------------------------------------------------------


def test_fig1_taps_are_eq1s() -> None:
    from atrous.diagrams.taps import atrous_taps, draw_atrous_taps
    from reference import upsample_filter

    for rate in (1, 2, 3, 5):
        for k in (1, 3, 5):
            size = k + (k - 1) * (rate - 1) + 4
            taps = atrous_taps(size, rate, k)
            up = upsample_filter(np.ones((1, 1, k, k)), rate)[0, 0] > 0  # the zero-inserted filter
            start = size // 2 - up.shape[0] // 2
            expected = np.zeros((size, size), dtype=bool)
            expected[start : start + up.shape[0], start : start + up.shape[0]] = up
            np.testing.assert_array_equal(taps, expected)
    masks = draw_atrous_taps(Figure().subplots(1, 3), (1, 2, 4))
    assert [int(m.sum()) for m in masks] == [9, 9, 9] and masks[0].shape == (13, 13)
    with pytest.raises(ValueError, match="odd"):
        atrous_taps(5, 3)  # the filter spans 7 pixels
    with pytest.raises(ValueError, match="axes"):
        draw_atrous_taps(Figure().subplots(1, 2), (1, 2, 3))


def test_fig3_draws_the_block_plans() -> None:
    from atrous.diagrams.cascade import draw_cascade
    from atrous.model.backbone import block_plans
    from atrous.model.presets import get_preset

    config = get_preset("tiny", extra_blocks=3, head="cascade", multi_grid=(1, 2, 4),
                        depths=(1, 1, 3, 3))  # fmt: skip
    axes = Figure().subplots(2, 1)
    plans = draw_cascade(axes, config, (256, 16))
    assert plans == [block_plans(config, 256), block_plans(config, 16)]
    texts = [t.get_text() for t in axes[1].texts]
    assert "block4\nrate 2\n(2, 4, 8)" in texts and "block7\nrate 16\n(16, 32, 64)" in texts
    assert not any("rate" in t.get_text() for t in axes[0].texts)  # no atrous convolution
    assert "block4 on" in axes[1].get_title(loc="left")
    with pytest.raises(ValueError, match="axes"):
        draw_cascade(axes, config, (16,))


def test_fig5_reads_the_branches_from_the_network() -> None:
    from atrous import DeepLabV3
    from atrous.diagrams.aspp_branches import aspp_branches, draw_aspp
    from atrous.model.presets import get_preset

    config = get_preset("tiny", num_classes=5, aspp_rates=(2, 4, 6))
    model = DeepLabV3(config)
    branches = draw_aspp(Figure().add_subplot(), model)
    assert [b.kind for b in branches] == ["1x1", "atrous", "atrous", "atrous", "pooling"]
    assert [b.rate for b in branches if b.kind == "atrous"] == list(config.scaled_aspp_rates())
    assert {b.channels for b in branches} == {config.aspp_channels}
    model.set_output_stride(8)  # the rates in use now: doubled
    assert [b.rate for b in aspp_branches(model) if b.kind == "atrous"] == [4, 8, 12]
    no_pooling = DeepLabV3(get_preset("tiny", image_pooling=False))
    assert "pooling" not in [b.kind for b in aspp_branches(no_pooling)]
    with pytest.raises(ValueError, match="no ASPP"):
        aspp_branches(DeepLabV3(get_preset("tiny", head="cascade")))


def test_label_targets_are_the_losss() -> None:
    import torch

    from atrous.diagrams.label_targets import draw_label_targets, label_targets, logit_side
    from atrous.training.loss import downsample_labels

    rng = np.random.default_rng(0)
    label = rng.integers(0, 4, (33, 41))
    image = rng.integers(0, 255, (33, 41, 3), dtype=np.uint8)
    axes = Figure().subplots(1, 4)
    targets = draw_label_targets(axes, image, label, (8, 16))
    for s in (8, 16):
        size = (logit_side(33, s), logit_side(41, s))
        assert targets[s].shape == size == ((33 - 1) // s + 1, (41 - 1) // s + 1)
        expected = downsample_labels(torch.from_numpy(label)[None], size)[0].numpy()
        np.testing.assert_array_equal(targets[s], expected)
        np.testing.assert_array_equal(label_targets(label, s), expected)
    xs, ys = axes[1].collections[0].get_offsets().T.astype(int)  # the dots: os 16's samples
    np.testing.assert_array_equal(label[ys, xs], targets[16].ravel())
    with pytest.raises(ValueError, match="axes"):
        draw_label_targets(axes[:3], image, label, (8, 16))


def test_batch_statistics_follow_one_over_sqrt_batch() -> None:
    from atrous.diagrams.batch_statistics import batch_statistics, draw_batch_statistics

    values = np.random.default_rng(1).standard_normal(500)
    stats = batch_statistics(values, (4, 16), draws=4000)
    assert [s.batch_size for s in stats] == [4, 16] and stats[0].means.shape == (4000,)
    for s in stats:
        assert s.means.std() == pytest.approx(values.std() / np.sqrt(s.batch_size), rel=0.1)
        assert s.variances.mean() == pytest.approx(values.var() * (1 - 1 / s.batch_size), rel=0.1)
    draw_batch_statistics(Figure().subplots(1, 2), stats, values)
    with pytest.raises(ValueError, match="batch sizes"):
        batch_statistics(values, (0, 4))


def test_inference_strategies_count_their_pixels_and_restore_the_output_stride() -> None:
    import torch

    from atrous import DeepLabV3
    from atrous.diagrams.strategies import draw_strategies, run_strategies
    from atrous.model.presets import get_preset

    model = DeepLabV3(get_preset("tiny", num_classes=3)).eval()
    image = torch.randn(1, 3, 33, 33)
    strategies = {
        "16": (16, (1.0,), False),
        "8": (8, (1.0,), False),
        "ms": (8, (0.5, 1.0), False),
        "flip": (8, (0.5, 1.0), True),
    }
    runs = run_strategies(model, image, strategies, repeats=1)
    assert model.config.output_stride == 16
    assert runs["16"].pixels == runs["8"].pixels == 33 * 33
    assert runs["flip"].pixels == 2 * runs["ms"].pixels
    assert runs["8"].labels.shape == (33, 33) and runs["8"].seconds > 0
    rng = np.random.default_rng(0)
    draw_strategies(Figure().subplots(1, 6), rng.integers(0, 255, (33, 33, 3), dtype=np.uint8),
                    rng.integers(0, 3, (33, 33)), runs)  # fmt: skip
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        run_strategies(model, torch.randn(2, 3, 33, 33), {"16": (16, (1.0,), False)})


def test_the_recipes_form_chains() -> None:
    from atrous.diagrams.recipe_pipeline import Stage, _chains, draw_recipe_pipeline

    names = ["voc_stage1", "voc_stage2", "coco_pretrain", "voc_coco_finetune",
             "voc_test_bootstrap", "cityscapes"]  # fmt: skip
    rows = draw_recipe_pipeline(Figure().add_subplot(), names)
    assert [[s.name for s in row] for row in rows] == [
        ["voc_stage1", "voc_stage2"],
        ["coco_pretrain", "voc_coco_finetune", "voc_test_bootstrap"],
        ["cityscapes"],
    ]
    assert rows[0][1].starts_from == "voc_stage1" and "os 8" in rows[0][1].text
    assert rows[0][0].starts_from.endswith(".pth")  # ImageNet weights, by file
    with pytest.raises(ValueError, match="chains"):
        _chains([Stage("a", "b", ""), Stage("b", "a", "")])


def test_the_batch_split_is_the_samplers() -> None:
    from atrous.diagrams.batch_split import batch_split, draw_batch_split

    splits = draw_batch_split(Figure().add_subplot(), iteration=3, batch_size=8, worlds=(1, 2, 4))
    for world, shares in splits.items():
        assert sorted(sum(shares, [])) == list(range(24, 32))
        assert all(share == list(range(24 + rank, 32, world)) for rank, share in enumerate(shares))
    with pytest.raises(ValueError, match="evenly"):
        batch_split(0, 6, 4)
