"""The demo (``make demo``): train the tiny network on the synthetic scenes, on the CPU.

It follows the paper's protocol in miniature (Sec. 4.1: random scale and flip, crops, SGD
with the poly schedule, logits upsampled to the labels), evaluates the result on the
synthetic val split (Sec. 4.3: whole images) and writes three figures into ``out``:

- ``valid_weights.png``: Fig. 4 of the paper, from the NumPy oracle;
- ``demo_predictions.png``: val images, their ground truth and the network's prediction;
- ``demo_curves.png``: the training loss and the learning rate.

The recipe is ``configs/demo.toml``. Running ``demo`` again resumes the run in ``run_dir``
(doing nothing more if it finished) and evaluates again; delete the folder to retrain.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.toml"


def plot_predictions(
    model, dataset, transform, path: str | Path, count: int = 4, scales=(1.0,), flip=False
) -> Path:
    """A grid: for ``count`` images, the image, its ground truth and the prediction."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from atrous.evaluate import predict_labels

    palette = np.asarray(dataset.palette, dtype=np.uint8)
    names = list(getattr(dataset, "class_names", []))
    count = min(count, len(dataset))
    fig = Figure(figsize=(7.5, 2.5 * count))
    FigureCanvasAgg(fig)
    axes = fig.subplots(count, 3, squeeze=False)
    device = next(model.parameters()).device
    for row in range(count):
        image, label = dataset[row]
        x, _ = transform(image, label)
        pred = predict_labels(model, x.unsqueeze(0).to(device), scales, flip)[0].cpu().numpy()
        shown = np.where(label == 255, 255, label)
        gt = palette[np.minimum(shown, len(palette) - 1)]
        gt[label == 255] = 255  # the ignore band in white
        for ax, img, title in zip(
            axes[row],
            (image, gt, palette[pred]),
            ("image", "ground truth", "prediction"),
            strict=True,
        ):
            ax.imshow(img)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title)
    if names:
        from matplotlib.patches import Patch

        handles = [Patch(color=palette[i] / 255, label=n) for i, n in enumerate(names)]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(names), 7), fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=80)
    return path


def demo(
    out: str | Path = "figures",
    run_dir: str | Path = "runs/demo",
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> int:
    """Fig. 4, then train, evaluate and plot the demo; prints the mIOU."""
    from atrous.evaluate import evaluate
    from atrous.figures import plot_valid_weights
    from atrous.train import build_dataset, default_eval_transform, plot_curves, train
    from atrous.train_config import load_config

    out, run_dir = Path(out), Path(run_dir)
    print(f"wrote {plot_valid_weights(out)}")
    config = load_config(DEMO_CONFIG, overrides)
    resume = (run_dir / "checkpoint.pt").is_file()
    if resume:
        print(f"resuming the run in {run_dir} (delete it to train from scratch)")
    start = tic = time.perf_counter()
    result = train(config, run_dir, resume=resume, progress=progress)
    minutes = (time.perf_counter() - tic) / 60
    val = build_dataset(config.data, config.data.val_split)
    transform = default_eval_transform()
    e = config.eval
    output_stride = e.output_stride or None
    scores = evaluate(
        result.model,
        val,
        transform,
        output_stride=output_stride,
        scales=e.scales,
        flip=e.flip,
        class_names=val.class_names,
        progress=progress,
    )
    print(scores.table())
    (run_dir / "eval.json").write_text(json.dumps(scores.to_dict(), indent=2) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    if output_stride:
        result.model.set_output_stride(output_stride)
    figure = plot_predictions(
        result.model, val, transform, out / "demo_predictions.png", scales=e.scales, flip=e.flip
    )
    print(f"wrote {figure}")
    shutil.copyfile(plot_curves(result.history, run_dir / "curves.png"), out / "demo_curves.png")
    print(f"wrote {out / 'demo_curves.png'}")
    total = (time.perf_counter() - start) / 60
    print(
        f"demo: mIOU {100 * scores.miou:.2f} on {len(val)} synthetic val images "
        f"({scores.settings}) after {result.iteration} iterations; {minutes:.1f} min of "
        f"training, {total:.1f} min in all"
    )
    return 0
