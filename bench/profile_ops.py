"""Where the time goes: ``torch.profiler`` tables of the demo's training step, of the
ResNet-50 eval fast path and of a ResNet-50 training step (batch 2, crop 321, output stride
16), in bf16 and channels_last (the defaults on a CPU with native bf16).

``python bench/profile_ops.py [--case tiny|r50|r50-train] [--rows 15]``: the ops that take
the most CPU time (self time, summed over calls), for a few steps after a warm-up. Run it on
an idle machine; the table is what a speed-up has to attack next.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from atrous import DeepLabV3, get_preset
from atrous.inference.fast import prepare_for_inference
from atrous.recipe.config import OptimConfig
from atrous.training.loop import _step


def training_step(preset: str, classes: int, batch: int, crop: int) -> Callable[[], None]:
    """One step of :func:`atrous.training.loop.train` (its ``_step``: forward under autocast, the
    loss on upsampled logits, backward, SGD) on random images in bf16 and channels_last."""
    torch.manual_seed(0)
    model = DeepLabV3(get_preset(preset, num_classes=classes, output_stride=16)).train()
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, crop, crop).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch, crop, crop))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda", enabled=False)  # only fp16 scales
    return lambda: _step(model, x, y, opt, scaler, OptimConfig(), 1, "bf16")


def r50_eval() -> Callable[[], object]:
    torch.manual_seed(0)
    model = DeepLabV3(get_preset("resnet50", output_stride=16)).eval()
    fast = prepare_for_inference(model, dtype=torch.bfloat16)
    x = torch.randn(1, 3, 513, 513)
    return lambda: fast(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=["tiny", "r50", "r50-train"], default="tiny")
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    call = {
        "tiny": lambda: training_step("tiny", 7, 16, 97),
        "r50": r50_eval,
        "r50-train": lambda: training_step("resnet50", 21, 2, 321),
    }[args.case]()
    call()
    call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            call()
    print(f"{args.case}: {args.steps} calls, {torch.get_num_threads()} threads")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()
