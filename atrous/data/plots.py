"""Figures of data sets: a grid of samples, each image above its label map.

Works for any data set in :mod:`atrous.data` (anything with ``ds[i] -> (image, label)``,
``class_names`` and ``palette``); a synthetic scene's type (land or sea) goes in its title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from atrous.data.palette import IGNORE_INDEX, colorize, voc_palette  # noqa: E402


def plot_samples(dataset: Any, out_path: str | Path, n: int = 8, columns: int = 4) -> Path:
    """Save a figure of the first ``n`` samples of ``dataset`` (image row, label row).

    Label maps are drawn in the data set's palette, 255 ("ignore") in VOC's cream; a legend
    names the classes. Returns the path written.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    n = min(n, len(dataset))
    columns = min(columns, n)
    rows = -(-n // columns)
    palette = np.asarray(getattr(dataset, "palette", voc_palette()), dtype=np.uint8)
    names = getattr(dataset, "class_names", None)
    fig, axes = plt.subplots(
        2 * rows, columns, figsize=(2.3 * columns, 4.6 * rows + 0.6), squeeze=False
    )
    for k in range(rows * columns):
        top, bottom = (
            axes[2 * (k // columns), k % columns],
            axes[2 * (k // columns) + 1, k % columns],
        )
        top.axis("off")
        bottom.axis("off")
        if k >= n:
            continue
        image, label = _numpy_sample(dataset, k)
        top.imshow(image, interpolation="nearest")
        bottom.imshow(colorize(label, palette), interpolation="nearest")
        title = f"#{k}"
        if hasattr(dataset, "sample") and hasattr(dataset, "scene_names"):
            title += f"  ({dataset.scene_names[dataset.sample(k).scene]})"
        top.set_title(title, fontsize=9)
    if names is not None:
        handles = [
            Patch(facecolor=palette[i] / 255, edgecolor="0.3", label=f"{i} {name}")
            for i, name in enumerate(names)
        ]
        handles.append(
            Patch(facecolor=palette[IGNORE_INDEX] / 255, edgecolor="0.3", label="255 ignore")
        )
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=min(len(handles), 8),
            fontsize=8,
            frameon=False,
        )
    fig.suptitle(repr(dataset) if len(repr(dataset)) < 90 else type(dataset).__name__, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path


def _numpy_sample(dataset: Any, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``index`` as NumPy arrays, bypassing the data set's transform if it has one."""
    transform = getattr(dataset, "transform", None)
    if transform is not None:
        dataset.transform = None
        try:
            image, label = dataset[index]
        finally:
            dataset.transform = transform
    else:
        image, label = dataset[index]
    return np.asarray(image), np.asarray(label)
