"""Inference strategies side by side: output stride 16, 8, multi-scale, flips (Tab. 4, 6).

:func:`run_strategies` runs one network on one image with each strategy, an ``(output
stride, scales, flip)`` triple, through :func:`atrous.inference.strategy.predict_labels`; it
times each (the best of ``repeats`` runs) and counts the input pixels that go through the
network (every scale and flip), the cost that a busy machine cannot reorder.
:func:`draw_strategies` shows the image, its labels and each strategy's prediction with its
cost under it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.axes import Axes

from atrous.base.errors import AtrousError
from atrous.data.palette import colorize
from atrous.inference.strategy import predict_labels

#: A strategy: (output stride, input scales, left-right flips too).
Strategy = tuple[int, Sequence[float], bool]


@dataclass(frozen=True)
class StrategyRun:
    """What one strategy gave on one image, and what it cost."""

    labels: np.ndarray  # (H, W): the predicted classes
    seconds: float  # the best of the timed runs
    pixels: int  # input pixels through the network, over every scale and flip


def run_strategies(
    model: torch.nn.Module, image: torch.Tensor, strategies: Mapping[str, Strategy],
    repeats: int = 3,
) -> dict[str, StrategyRun]:  # fmt: skip
    """Run ``model`` (a DeepLabV3 in eval mode) on ``image`` (1, 3, H, W), normalised, with
    each strategy; its output stride is set back to what it was afterwards."""
    if image.ndim != 4 or image.shape[0] != 1:
        raise AtrousError(f"image must be (1, 3, H, W), got {tuple(image.shape)}")
    original = model.config.output_stride
    pixels: list[int] = []

    def count(module: torch.nn.Module, args: tuple) -> None:  # the input is (N, 3, H, W)
        pixels.append(args[0][0, 0].numel() * len(args[0]))

    hook = model.register_forward_pre_hook(count)
    runs = {}
    try:
        for name, (output_stride, scales, flip) in strategies.items():
            model.set_output_stride(output_stride)
            pixels.clear()
            with torch.no_grad():
                labels = predict_labels(model, image, scales, flip)[0].numpy()  # (H, W)
            counted, times = sum(pixels), []
            for _ in range(repeats):
                tic = time.perf_counter()
                with torch.no_grad():
                    predict_labels(model, image, scales, flip)
                times.append(time.perf_counter() - tic)
            runs[name] = StrategyRun(labels, min(times, default=float("nan")), counted)
    finally:
        hook.remove()
        model.set_output_stride(original)
    return runs


def draw_strategies(
    axes: Sequence[Axes], image: np.ndarray, label: np.ndarray, runs: Mapping[str, StrategyRun],
    palette: np.ndarray | None = None,
) -> None:  # fmt: skip
    """The image, its labels and each run's prediction, titled with its time and pixels
    relative to the first run (``2 + len(runs)`` axes)."""
    if len(axes) != 2 + len(runs):
        raise AtrousError(f"need {2 + len(runs)} axes, got {len(axes)}")
    first = next(iter(runs.values()))
    axes[0].imshow(image)
    axes[0].set_title("image", fontsize=10)
    axes[1].imshow(colorize(label, palette))
    axes[1].set_title("labels", fontsize=10)
    for ax, (name, run) in zip(axes[2:], runs.items(), strict=True):
        ax.imshow(colorize(run.labels, palette))
        time_ratio, pixel_ratio = run.seconds / first.seconds, run.pixels / first.pixels
        ax.set_title(f"{name}\n{1e3 * run.seconds:.0f} ms ({time_ratio:.1f}x the time)\n"
                     f"{pixel_ratio:.1f}x the pixels", fontsize=9)  # fmt: skip
    for ax in axes:
        ax.set_axis_off()
