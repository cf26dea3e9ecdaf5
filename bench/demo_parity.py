"""Accuracy parity of bf16: the demo trained in fp32 and in bf16, three seeds each.

For each seed and training precision the demo recipe (``configs/demo.toml``, overridable
with ``--set``) is trained into ``RUNS/{precision}-s{seed}`` and evaluated on the 500
synthetic val images twice, with fp32 and with bf16 inference; the share of pixels whose
predicted class is the same under both is counted too. Each finished (seed, precision)
appends a line to ``--out`` (JSON lines), and a run already there is skipped, so the
script resumes where it stopped. At the end it prints mean and spread per precision.

    python bench/demo_parity.py --seeds 0 1 2 --out bench/results/demo-parity-<cpu>.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from atrous.data.build import build_dataset, eval_transform
from atrous.demo import DEMO_CONFIG
from atrous.evaluate import evaluate_split
from atrous.inference import predict_labels
from atrous.reproduce import cpu_model
from atrous.train import train
from atrous.train_config import EvalConfig, load_config


def agreement(model, config, strategy: EvalConfig) -> float:
    """Share of val pixels whose argmax is the same in fp32 and bf16 inference."""
    val = build_dataset(config.data, config.data.val_split)
    transform, same, total = eval_transform(), 0, 0
    if strategy.output_stride:
        model.set_output_stride(strategy.output_stride)
    for i in range(len(val)):
        x, _ = transform(*val[i])
        a = predict_labels(model, x[None], strategy.scales, strategy.flip, precision="fp32")
        b = predict_labels(model, x[None], strategy.scales, strategy.flip, precision="bf16")
        same, total = same + int((a == b).sum()), total + a.numel()
    return same / total


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
            if any(r["seed"] == seed and r["train_precision"] == precision for r in done):
                continue
            overrides = [*args.set, f"train.seed={seed}", f"train.precision={precision}"]
            config = load_config(DEMO_CONFIG, overrides)
            run = Path(args.runs) / f"{precision}-s{seed}"
            tic = time.perf_counter()
            result = train(config, run, resume=(run / "checkpoint.pt").is_file(), progress=False)
            minutes = (time.perf_counter() - tic) / 60
            row = {"seed": seed, "train_precision": precision, "train_minutes": minutes,
                   "overrides": overrides, "cpu": cpu_model(),
                   "threads": torch.get_num_threads(), "torch": torch.__version__}  # fmt: skip
            for eval_precision in ("fp32", "bf16"):
                strategy = EvalConfig(**{**config.eval.__dict__, "precision": eval_precision})
                scores = evaluate_split(result.model, config, strategy=strategy, progress=False)
                row[f"miou_eval_{eval_precision}"] = scores.miou
            row["argmax_agreement"] = agreement(result.model, config, config.eval)
            print(json.dumps(row), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
    for precision in args.precisions:
        rows = [r for r in done if r["train_precision"] == precision]
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
