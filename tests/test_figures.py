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
