"""Shared hypothesis strategies: keyword-only, bounded, so every test stays small and fast.

Array values are drawn from a seeded NumPy generator (uniform in [-1, 1]); hypothesis
draws the shapes and hyper-parameters and shrinks them, which is where the bugs live.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from reference.testing import (  # the strategies are public, in reference.testing
    MAX_SEED,
    ConvProblem,
    conv_problems,
    feature_sizes,
    images,
    odd_kernel_sizes,
    rates,
    seeds,
)

__all__ = ["ConvProblem", "conv_problems", "feature_sizes", "images", "odd_kernel_sizes",
           "rates", "seeds", "segmentations", "Segmentation", "MAX_SEED"]  # fmt: skip


@dataclass(frozen=True)
class Segmentation:
    """A predicted and a ground-truth label map over ``num_classes`` classes."""

    pred: np.ndarray  # int64 (H, W), values in [0, num_classes)
    target: np.ndarray  # int64 (H, W), values in [0, num_classes) or ignore_index
    num_classes: int
    ignore_index: int


@st.composite
def segmentations(
    draw, *, max_classes: int = 6, max_side: int = 12, ignore_index: int = 255
) -> Segmentation:
    """Random label maps; some ground-truth pixels carry ``ignore_index``, some classes
    may be absent from both maps (empty union)."""
    K = draw(st.integers(1, max_classes))
    shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    rng = np.random.default_rng(draw(seeds()))
    # Draw from a random subset of the classes so that some unions are empty.
    used = rng.choice(K, size=draw(st.integers(1, K)), replace=False)
    pred = rng.choice(used, size=shape).astype(np.int64)
    target = rng.choice(used, size=shape).astype(np.int64)
    # A prediction that is partly right, so that intersections are not all empty.
    right = rng.random(shape) < draw(st.floats(0.0, 1.0))
    pred[right] = target[right]
    target[rng.random(shape) < draw(st.floats(0.0, 0.5))] = ignore_index
    return Segmentation(pred=pred, target=target, num_classes=K, ignore_index=ignore_index)
