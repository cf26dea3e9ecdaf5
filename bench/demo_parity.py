"""Accuracy parity of bf16: the demo trained in fp32 and in bf16, three seeds each.

For each seed and training precision the demo recipe (``atrous/configs/demo.toml``, overridable
with ``--set``) is trained into ``RUNS/{precision}-s{seed}`` and evaluated on the 500
synthetic val images with fp32 and with bf16 inference (each image predicted once in each);
the share of pixels whose predicted class is the same under both is counted too. Each
finished (seed, precision) appends a line to ``--out`` (JSON lines, with the commit and the
full config), and a run already there with the same config is skipped, so the script
resumes where it stopped. At the end it prints mean and spread per precision.

    python bench/demo_parity.py --seeds 0 1 2 --out bench/results/demo-parity-<cpu>.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from atrous.demo import DEMO_CONFIG
from atrous.experiments.provenance import cpu_model, git_commit
from atrous.inference.evaluate import EvalResult, confusion_matrix, iou_from_confusion
from atrous.inference.strategy import predict_labels
from atrous.recipe.config import load_config
from atrous.recipe.datasets import build_dataset, eval_transform
from atrous.training.loop import train


def scores(model, config) -> dict[str, float]:
    """mIOU on the val images with fp32 and with bf16 inference (the config's [eval]
    strategy), and the share of pixels whose predicted class is the same under both: one
    pass, each image predicted once in each precision."""
    strategy = config.eval
    val = build_dataset(config.data, config.data.val_split)
    transform, same, total = eval_transform(), 0, 0
    k = config.network.num_classes
    confusion = {p: torch.zeros(k, k, dtype=torch.int64) for p in ("fp32", "bf16")}
    model.eval()
    if strategy.output_stride:
        model.set_output_stride(strategy.output_stride)
    for i in tqdm(range(len(val)), desc="eval fp32 + bf16", unit="img"):
        x, label = transform(*val[i])
        pred = {
            p: predict_labels(model, x[None], strategy.scales, strategy.flip, strategy.pad_to,
                              precision=p)[0]
            for p in confusion
        }  # fmt: skip
        for p in confusion:
            confusion[p] += confusion_matrix(pred[p], label, k)
        same, total = same + int((pred["fp32"] == pred["bf16"]).sum()), total + label.numel()
    row = {f"miou_eval_{p}": EvalResult(c.numpy(), iou_from_confusion(c)).miou
           for p, c in confusion.items()}  # fmt: skip
    return {**row, "argmax_agreement": same / total}


def _recipe(config: dict) -> dict:
    """A config without the seed and the precision: what the rows of one summary share."""
    train = {k: v for k, v in config["train"].items() if k not in ("seed", "precision")}
    return {**config, "train": train}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--runs", default="runs/parity")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    done = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    for seed in args.seeds:
        for precision in args.precisions:
            overrides = [*args.set, f"train.seed={seed}", f"train.precision={precision}"]
            config = load_config(DEMO_CONFIG, overrides)
            if any(r.get("config") == config.to_dict() for r in done):
                continue
            run = Path(args.runs) / f"{precision}-s{seed}"
            tic = time.perf_counter()
            result = train(config, run, resume=(run / "checkpoint.pt").is_file(), progress=False)
            minutes = (time.perf_counter() - tic) / 60
            row = {"seed": seed, "train_precision": precision, "train_minutes": minutes,
                   "overrides": overrides, "cpu": cpu_model(),
                   "threads": torch.get_num_threads(), "torch": torch.__version__,
                   "commit": git_commit(), "config": config.to_dict()}  # fmt: skip
            row.update(scores(result.model, config))
            print(json.dumps(row), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
    recipe = _recipe(load_config(DEMO_CONFIG, args.set).to_dict())
    for precision in args.precisions:
        rows = [r for r in done if r["train_precision"] == precision and r.get("config")
                and _recipe(r["config"]) == recipe]  # fmt: skip
        for key in ("miou_eval_fp32", "miou_eval_bf16"):
            values = [100 * r[key] for r in rows]
            spread = statistics.stdev(values) if len(values) > 1 else float("nan")
            print(
                f"train {precision}, {key}: mean {statistics.mean(values):.2f}, sd "
                f"{spread:.2f} over {len(values)} seeds {[round(v, 2) for v in values]}"
            )
        print(f"  argmax agreement fp32/bf16 eval: {[r['argmax_agreement'] for r in rows]}")


if __name__ == "__main__":
    main()
