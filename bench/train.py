"""Training throughput: does :func:`atrous.training.loop.train` cost anything over a plain loop?

Images per second, side by side, for each setting:

- ``atrous.training.loop``: the full training loop (DataLoader over the reproducible sample
  stream, poly lr, loss normalised by labelled pixels, NaN check, metrics), per iteration:
  the difference of runs of N and 2N iterations, so the fixed costs (building the network,
  the final checkpoint and plot, about a second) drop out;
- ``plain loop``: the same network, the same samples and transform, and nothing but
  forward, cross-entropy, backward and an SGD step;
- ``torchvision``: torchvision's DeepLabv3-ResNet-50 (no aux head) at the same output stride
  as ours (16; its own default is 8, four times the FLOPs), built by
  ``bench/forward.py``'s ``torchvision_deeplabv3``, in the plain loop, when torchvision is
  installed (``make bench-forward`` sets up ``.venv-tv`` with it).

The ratio column divides by the plain loop (1.00 = no overhead; the target is >= ~0.95).
Settings: the tiny preset at crop 129 (the demo's regime) and ResNet-50 at crops 321 and
513 (Tab. 8). Run ``python bench/train.py`` (minutes on a CPU; ``--quick`` for one setting
and fewer iterations; ``--device cuda`` on a GPU).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from atrous import DeepLabV3
from atrous.recipe.config import from_dict
from atrous.training.loop import train


class RandomScenes:
    """Images and labels of one size, made once (so data costs nothing in either loop)."""

    def __init__(self, size: int, classes: int, length: int = 16) -> None:
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8)
        self.labels = rng.integers(0, classes, (length, size, size)).astype(np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


def to_tensors(image, label, rng=None):
    x = torch.from_numpy(image.transpose(2, 0, 1).astype(np.float32) / 255.0)
    return x, torch.from_numpy(label)


def config(preset: str, crop: int, batch: int, iterations: int, device: str):
    return from_dict({
        "model": {"preset": preset},
        "data": {"crop_size": crop},
        "train": {"iterations": iterations, "batch_size": batch, "device": device,
                  "checkpoint_every": 10**6, "log_every": 10**6, "amp": False},
    })  # fmt: skip


def plain_loop(model, data, batch, iterations, device) -> float:
    """Images per second of the simplest correct training loop."""
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    start = None
    for i in range(iterations + 1):
        if i == 1:  # the first iteration warms up
            _sync(device)
            start = time.perf_counter()
        pairs = [to_tensors(*data[(i * batch + j) % len(data)]) for j in range(batch)]
        x = torch.stack([p[0] for p in pairs]).to(device)
        y = torch.stack([p[1] for p in pairs]).to(device)
        out = model(x)
        logits = out["out"] if isinstance(out, dict) else out
        loss = F.cross_entropy(logits, y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _sync(device)
    return iterations * batch / (time.perf_counter() - start)


def ours(cfg, data, batch, iterations) -> float:
    """Images per second of :func:`train` per iteration: runs of N and 2N iterations, the
    difference, so fixed costs (building the network, the final checkpoint and plot) drop out."""

    def timed(n: int, run: str) -> float:
        values = cfg.to_dict()
        values["train"]["iterations"] = n
        _sync(cfg.train.device)
        start = time.perf_counter()
        train(from_dict(values), run, dataset=data, transform=to_tensors, progress=False)
        _sync(cfg.train.device)
        return time.perf_counter() - start

    with tempfile.TemporaryDirectory() as run:
        timed(1, f"{run}/warm")
        once, twice = timed(iterations, f"{run}/a"), timed(2 * iterations, f"{run}/b")
        return iterations * batch / (twice - once)


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny preset only, 5 iterations")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=None)
    args = parser.parse_args()
    settings = [("tiny", 129, 8, 20)]
    if not args.quick:
        settings += [("resnet50", 321, 2, 3), ("resnet50", 513, 2, 2)]
    try:
        import torchvision  # noqa: F401
        from forward import torchvision_deeplabv3  # bench/forward.py, beside this script
    except ImportError:
        torchvision_deeplabv3 = None
        print("torchvision not installed: its column is skipped")
    print(f"{'setting':<24} {'loop':<14} {'img/s':>8} {'ratio':>6}")
    for preset, crop, batch, iterations in settings:
        iterations = args.iterations or (5 if args.quick else iterations)
        cfg = config(preset, crop, batch, iterations, args.device)
        data = RandomScenes(crop, cfg.network.num_classes)
        torch.manual_seed(0)
        rows = [("plain loop", plain_loop(DeepLabV3(cfg.network), data, batch, iterations,
                                          args.device))]  # fmt: skip
        rows.append(("atrous.training.loop", ours(cfg, data, batch, iterations)))
        if torchvision_deeplabv3 is not None and preset == "resnet50":
            torch.manual_seed(0)
            tv = torchvision_deeplabv3(50, cfg.network.output_stride)
            rows.append(("torchvision", plain_loop(tv, data, batch, iterations, args.device)))
        name = f"{preset} crop {crop} batch {batch}"
        for loop, rate in rows:
            print(f"{name:<24} {loop:<14} {rate:8.2f} {rate / rows[0][1]:6.2f}")


if __name__ == "__main__":
    main()
