"""Hypothesis strategies for the data tests (keyword-only, bounded)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.strategies import seeds

__all__ = ["coordinate_pairs", "crop_sizes", "image_label_pairs", "label_maps", "scales", "seeds"]


@st.composite
def label_maps(draw: st.DrawFn, *, max_side: int = 12, num_classes: int = 5) -> np.ndarray:
    """An int64 (H, W) map of class indices in ``[0, num_classes)`` and 255."""
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    values = st.sampled_from(list(range(num_classes)) + [255])
    return draw(hnp.arrays(np.int64, (h, w), elements=values))


@st.composite
def image_label_pairs(
    draw: st.DrawFn, *, max_side: int = 12, num_classes: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 (H, W, 3) image and an int64 (H, W) label of the same size."""
    label = draw(label_maps(max_side=max_side, num_classes=num_classes))
    image = draw(hnp.arrays(np.uint8, label.shape + (3,)))
    return image, label


@st.composite
def coordinate_pairs(draw: st.DrawFn, *, max_side: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """An image whose pixels encode their own coordinates, and a label that does too.

    Image: R = 16 * row + 8, G = 16 * col + 8 (so bilinear interpolation stays decodable),
    B = 0. Label: ``row * W + col`` (< 255, so no pixel reads as "ignore"). Sides <= 15.
    """
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    rows, cols = np.mgrid[0:h, 0:w]
    image = np.zeros((h, w, 3), dtype=np.uint8)
    image[..., 0] = 16 * rows + 8
    image[..., 1] = 16 * cols + 8
    label = (rows * w + cols).astype(np.int64)
    return image, label


def crop_sizes(*, max_side: int = 20) -> st.SearchStrategy[int]:
    return st.integers(1, max_side)


def scales(*, low: float = 0.5, high: float = 2.0) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False)
