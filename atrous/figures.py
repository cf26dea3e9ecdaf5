"""The figures of atrous: the paper's Fig. 4 and gridding from the NumPy oracle, and those of
data and runs. The chapters' diagrams (Fig. 1, 3 and 5, the protocol's steps) are in
:mod:`atrous.diagrams`.

From the oracle (:mod:`reference`):

- :func:`plot_valid_weights`: Fig. 4 of the paper (Sec. 3.3): on a 65x65 feature map, the
  fraction of output positions where a "same"-padded 3x3 atrous filter has 1, 4 or 9
  valid weights (taps on the map, not on the padding), against the rate.
- :func:`plot_gridding`: the receptive field of three cascaded 3x3 atrous convolutions
  with multi-grid rates (2, 2, 2), full of holes, next to (1, 2, 4), which covers every
  pixel (Sec. 3.2.1).

Of data and runs:

- :func:`plot_samples`: images above their label maps, for any dataset of :mod:`atrous.data`;
- :func:`plot_predictions`: image, ground truth and prediction side by side;

Label maps are drawn in the dataset's palette (:func:`atrous.data.palette.colorize`), the
ignore label 255 in one colour everywhere, ``IGNORE_COLOUR`` (VOC's cream). Each ``plot_*``
function writes a PNG and returns its path; the matching ``draw_*`` function draws on axes
you pass (what the chapters use, to show the figure inline). Figures are rendered with
matplotlib's Agg canvas, never a window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from atrous.base.errors import AtrousError
from atrous.data.palette import IGNORE_COLOUR, colorize, voc_palette
from atrous.experiments.fig4 import draw_valid_weights
from reference import coverage


def _save(fig: Figure, out_dir: str | Path, name: str, dpi: int = 120) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    FigureCanvasAgg(fig)  # render with Agg, whatever the session's backend
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def plot_valid_weights(
    out_dir: str | Path, feature_size: int = 65, rates: Iterable[int] = range(1, 71)
) -> Path:
    """Write Fig. 4 (1, 4 and 9 valid weights of a 3x3 filter against the rate) as a PNG.

    Args:
        out_dir: folder for the figure; created if missing.
        feature_size: side of the square feature map (65 in the paper).
        rates: the atrous rates on the x axis (1 to 70 in the paper).

    Returns:
        The path of ``fig4_valid_weights.png``.
    """
    fig = Figure(figsize=(7, 4.5))
    draw_valid_weights(fig.add_subplot(), feature_size, rates)
    return _save(fig, out_dir, "fig4_valid_weights.png")


def draw_gridding(
    axes: Sequence[Axes], cascades: Sequence[Sequence[int]], kernel_size: int = 3
) -> list[np.ndarray]:
    """Draw, one cascade per axes, which input pixels reach the centre output."""
    if len(axes) != len(cascades):
        raise AtrousError(f"need one axes per cascade, got {len(axes)} axes, {len(cascades)}")
    masks = []
    for ax, rates in zip(axes, cascades, strict=True):
        mask = coverage(rates, kernel_size)
        masks.append(mask)
        ax.imshow(mask, cmap="Greys", vmin=0, vmax=1.4, interpolation="nearest")
        centre = mask.shape[0] // 2
        ax.plot(centre, centre, marker="x", color="tab:red", markersize=10, mew=2)
        ax.set_title(
            f"rates {tuple(rates)}: {mask.sum()} of {mask.size} pixels\n"
            f"in the {mask.shape[0]}x{mask.shape[1]} receptive field"
        )
        ax.set_xticks([])
        ax.set_yticks([])
    return masks


def plot_gridding(
    out_dir: str | Path,
    cascades: Sequence[Sequence[int]] = ((2, 2, 2), (1, 2, 4)),
    kernel_size: int = 3,
) -> Path:
    """Write the coverage of cascaded atrous convolutions (the gridding problem) as a PNG.

    Args:
        out_dir: folder for the figure; created if missing.
        cascades: the rates of each cascade to show, side by side.
        kernel_size: the filters' size.

    Returns:
        The path of ``gridding.png``.
    """
    fig = Figure(figsize=(4 * len(cascades), 4.4))
    axes = fig.subplots(1, len(cascades), squeeze=False)[0]
    draw_gridding(list(axes), cascades, kernel_size)
    fig.suptitle(
        "Input pixels (dark) that reach the output (x) through cascaded "
        f"{kernel_size}x{kernel_size} atrous convs"
    )
    return _save(fig, out_dir, "gridding.png")


# --- data and runs -----------------------------------------------------------------------------


def _legend(fig: Figure, names: Sequence[str], palette: np.ndarray, y: float = 0.0) -> None:
    handles = [
        Patch(facecolor=palette[i] / 255, edgecolor="0.3", label=f"{i} {name}")
        for i, name in enumerate(names)
    ]
    handles.append(Patch(facecolor=IGNORE_COLOUR / 255, edgecolor="0.3", label="255 ignore"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, y))  # fmt: skip


def _raw_sample(dataset: Any, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``index`` as NumPy arrays, bypassing the dataset's transform if it has one."""
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


def plot_samples(dataset: Any, out_path: str | Path, n: int = 8, columns: int = 4) -> Path:
    """Save a figure of the first ``n`` samples of ``dataset`` (image row, label row).

    Works for any dataset with ``ds[i] -> (image, label)``; ``class_names`` and ``palette``
    give the legend and colours, and a synthetic scene's type (land or sea) goes in its title.
    """
    if n < 1:
        raise AtrousError(f"n must be >= 1, got {n}")
    if columns < 1:
        raise AtrousError(f"columns must be >= 1, got {columns}")
    n = min(n, len(dataset))
    columns = min(columns, n)
    rows = -(-n // columns)
    palette = np.asarray(getattr(dataset, "palette", voc_palette()), dtype=np.uint8)
    fig = Figure(figsize=(2.3 * columns, 4.6 * rows + 0.6))
    axes = fig.subplots(2 * rows, columns, squeeze=False)
    for k in range(rows * columns):
        top, bottom = (
            axes[2 * (k // columns), k % columns],
            axes[2 * (k // columns) + 1, k % columns],
        )
        top.axis("off")
        bottom.axis("off")
        if k >= n:
            continue
        image, label = _raw_sample(dataset, k)
        top.imshow(image, interpolation="nearest")
        bottom.imshow(colorize(label, palette), interpolation="nearest")
        title = f"#{k}"
        if hasattr(dataset, "sample") and hasattr(dataset, "scene_names"):
            title += f"  ({dataset.scene_names[dataset.sample(k).scene]})"
        top.set_title(title, fontsize=9)
    if getattr(dataset, "class_names", None) is not None:
        _legend(fig, dataset.class_names, palette)
    fig.suptitle(repr(dataset) if len(repr(dataset)) < 90 else type(dataset).__name__, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    out_path = Path(out_path)
    return _save(fig, out_path.parent, out_path.name, dpi=110)


def plot_predictions(
    model: Any,
    dataset: Any,
    transform: Any,
    path: str | Path,
    count: int = 4,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    precision: str = "fp32",
) -> Path:
    """A grid: for the first ``count`` images, the image, its ground truth and the
    prediction of ``model`` (with the inference strategy ``scales``, ``flip`` and the
    resolved ``precision``, as the evaluation ran it)."""
    from atrous.inference.strategy import predict_labels

    palette = np.asarray(getattr(dataset, "palette", voc_palette()), dtype=np.uint8)
    count = min(count, len(dataset))
    fig = Figure(figsize=(7.5, 2.5 * count + 0.4))
    axes = fig.subplots(count, 3, squeeze=False)
    device = next(model.parameters()).device
    for row in range(count):
        image, label = dataset[row]
        x, _ = transform(image, label)
        x = x.unsqueeze(0).to(device)
        pred = predict_labels(model, x, scales, flip, precision=precision)[0].cpu().numpy()
        shown = (image, colorize(label, palette), colorize(pred, palette))
        for ax, img, title in zip(axes[row], shown, ("image", "ground truth", "prediction"),
                                  strict=True):  # fmt: skip
            ax.imshow(img, interpolation="nearest")
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title)
    if getattr(dataset, "class_names", None):
        _legend(fig, dataset.class_names, palette)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path = Path(path)
    return _save(fig, path.parent, path.name, dpi=80)
