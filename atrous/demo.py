"""The demo (``make demo``): train the tiny network on the synthetic scenes, on the CPU.

It follows the paper's protocol in miniature (Sec. 4.1: random scale and flip, crops, SGD
with the poly schedule, logits upsampled to the labels), evaluates the result on the
synthetic val split with the config's ``[eval]`` strategy (Sec. 4.3: whole images at output
stride 4, half the training one, with scales and flips) and writes three figures into ``out``:

- ``fig4_valid_weights.png``: Fig. 4 of the paper, from the NumPy oracle;
- ``demo_predictions.png``: val images, their ground truth and the network's prediction;
- ``demo_curves.png``: the training loss and the learning rate.

The recipe is ``atrous/configs/demo.toml``. Running ``demo`` again resumes the run in ``run_dir``
(doing nothing more if it finished) and evaluates again; delete the folder to retrain.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from atrous.figures import plot_predictions, plot_valid_weights
from atrous.inference.evaluate import evaluate_split
from atrous.recipe.config import load_config
from atrous.recipe.configs import recipe_path
from atrous.recipe.datasets import build_dataset, eval_transform
from atrous.training.loop import train
from atrous.training.run_folder import curves_path, has_checkpoint


def demo(
    out: str | Path = "figures",
    run_dir: str | Path = "runs/demo",
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> int:
    """Fig. 4, then train, evaluate and plot the demo; prints the mIOU."""
    out, run_dir = Path(out), Path(run_dir)
    print(f"wrote {plot_valid_weights(out)}")
    config = load_config(recipe_path("demo"), overrides)
    resume = has_checkpoint(run_dir)
    if resume:
        print(f"resuming the run in {run_dir} (delete it to train from scratch)")
    start = tic = time.perf_counter()
    result = train(config, run_dir, resume=resume, progress=progress)
    minutes = (time.perf_counter() - tic) / 60
    scores = evaluate_split(result.model, config, progress=progress)
    print(scores.table())
    (run_dir / scores.filename()).write_text(json.dumps(scores.to_dict(), indent=2) + "\n")
    e = config.eval
    if e.output_stride:
        result.model.set_output_stride(e.output_stride)
    val = build_dataset(config.data, config.data.val_split)
    figure = plot_predictions(result.model, val, eval_transform(), out / "demo_predictions.png",
                              scales=e.scales, flip=e.flip,
                              precision=scores.settings["precision"])  # fmt: skip
    print(f"wrote {figure}")
    shutil.copyfile(curves_path(run_dir), out / "demo_curves.png")  # drawn by train
    print(f"wrote {out / 'demo_curves.png'}")
    total = (time.perf_counter() - start) / 60
    print(
        f"demo: mIOU {100 * scores.miou:.2f} on {len(val)} synthetic val images "
        f"({scores.settings}) after {result.iteration} iterations; {minutes:.1f} min of "
        f"training, {total:.1f} min in all"
    )
    return 0
