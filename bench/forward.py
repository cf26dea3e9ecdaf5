"""Speed and peak memory of our DeepLabv3 against torchvision's, with the same weights.

For ResNet-50 and ResNet-101 at output stride 16 and 8, on a 1x3x513x513 image (Sec. 4.1's
crop), eval mode:

- ``torchvision``: torchvision's DeepLabv3 (``deeplabv3_resnet*`` at output stride 8; at 16 the
  same modules with ``replace_stride_with_dilation=[False, False, True]`` and ASPP rates
  (6, 12, 18), so that both networks compute the same function at both strides);
- ``ours``: :func:`atrous.from_torchvision` of the same state dict: the same convolutions,
  the same FLOPs, the same outputs;
- ``ours fast``: :func:`atrous.inference.fast.prepare_for_inference` of it (BN folded,
channels_last,
  inference mode).

and a training step (forward, cross-entropy, backward, SGD with momentum) at output stride 16
on a batch of 2 crops (batch 1 crashes torchvision's image pooling in train mode), ours
against torchvision's. torchvision's head has a dropout (0.5) that ours has not: a few
milliseconds on its side.

Peak memory is measured in one process per implementation, so it is that implementation's
alone: ``peak`` is the process's peak resident set (weights, the state dict it was loaded from,
and the call), ``+call`` the rise of the peak over the resident set during the first call
(activations, gradients and oneDNN's buffers; the high-water mark is reset through
``/proc/self/clear_refs``). Times come from one more process holding all implementations,
called in turn round after round (in reverse order every other round), so that a load that
comes and goes on the shared machine falls on all of them alike; each time is the minimum over
``--repeats`` rounds after a warm-up call, the least disturbed one. The CPU time of the process
(all threads), also a minimum, is shown as ratios too: it is less disturbed by other processes
than wall time, though not immune (caches, and threads that spin while they wait).

Run ``make bench-forward`` (it needs torchvision: the ``.venv-tv`` environment), or
``.venv-tv/bin/python bench/forward.py --quick`` for one repeat at 321x321.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

NUM_CLASSES = 21
IMPLS = ("torchvision", "ours", "ours fast")
TRAIN_BATCH = 2


def torchvision_deeplabv3(depth: int, output_stride: int) -> torch.nn.Module:
    """torchvision's DeepLabv3 at output stride 8 (its own) or 16 (the same, one stride less)."""
    from torchvision.models import resnet50, resnet101
    from torchvision.models._utils import IntermediateLayerGetter
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3

    resnet = {50: resnet50, 101: resnet101}[depth]
    backbone = resnet(weights=None, replace_stride_with_dilation=[False, output_stride == 8, True])
    rates = tuple(r * 16 // output_stride for r in (6, 12, 18))  # (12, 24, 36) at 8
    head = DeepLabHead(2048, NUM_CLASSES, atrous_rates=rates)
    return DeepLabV3(IntermediateLayerGetter(backbone, {"layer4": "out"}), head)


def make_weights(depth: int, path: Path) -> None:
    """Random weights and random BN statistics (no BN is the identity), saved to ``path``."""
    torch.manual_seed(depth)
    model = torchvision_deeplabv3(depth, 8)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.0)
                m.bias.uniform_(-0.1, 0.1)
    torch.save(model.state_dict(), path)


# ------------------------------------------------------------------------------------------
# One measurement, in its own process
# ------------------------------------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM, the peak resident set (Linux >= 4.0)
        return True
    except OSError:
        return False


def build(job: dict) -> torch.nn.Module:
    from atrous.inference.fast import prepare_for_inference
    from atrous.model.interop import from_torchvision, load_checkpoint_file

    state = load_checkpoint_file(job["weights"])
    if job["impl"] == "torchvision":
        model = torchvision_deeplabv3(job["depth"], job["os"])
        model.load_state_dict(state)
    else:
        model = from_torchvision(state, output_stride=job["os"])
    del state
    if job["impl"] == "ours fast":
        return prepare_for_inference(model)
    return model


def make_call(model: torch.nn.Module, job: dict, is_tv: bool) -> Callable[[], torch.Tensor]:
    """One eval forward, or one training step, of ``model`` on a fixed random batch."""
    size, train = job["size"], job["mode"] == "train"
    g = torch.Generator().manual_seed(0)  # the same batch in every process
    x = torch.randn(TRAIN_BATCH if train else 1, 3, size, size, generator=g)
    if not train:
        model.eval()

        def forward() -> torch.Tensor:
            with torch.no_grad():
                out = model(x)
            return out["out"] if is_tv else out

        return forward

    model.train()
    target = torch.randint(0, NUM_CLASSES, (TRAIN_BATCH, size, size), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        out = model(x)
        loss = F.cross_entropy(out["out"] if is_tv else out, target, ignore_index=255)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def memory_worker(job: dict) -> dict:
    """Peak resident memory of the process, and its rise during the first call."""
    call = make_call(build(job), job, job["impl"] == "torchvision")
    base = _status_kb("VmRSS")
    exact = _reset_peak()
    call()
    peak = _status_kb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fwd_mb": (peak - base) / 1024,
    }


def time_worker(job: dict) -> dict:
    """Times of every implementation, interleaved round by round (fair under varying load)."""
    calls, outs = {}, {}
    for impl in job["impls"]:
        calls[impl] = make_call(build({**job, "impl": impl}), job, impl == "torchvision")
        outs[impl] = calls[impl]()  # warm-up, and the output to compare
    times: dict[str, list[float]] = {impl: [] for impl in calls}
    cpu: dict[str, list[float]] = {impl: [] for impl in calls}
    for round_ in range(job["repeats"]):
        order = list(calls) if round_ % 2 == 0 else list(calls)[::-1]  # no one always first
        for impl in order:
            call = calls[impl]
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            times[impl].append(time.perf_counter() - start)
            cpu[impl].append(time.process_time() - start_cpu)
    want = outs["torchvision"]
    return {
        "time": {impl: min(t) for impl, t in times.items()},
        "cpu": {impl: min(t) for impl, t in cpu.items()},
        "diff": {impl: (o - want).abs().max().item() for impl, o in outs.items()},
        "scale": want.abs().max().item(),
    }


def worker(job: dict) -> dict:
    return time_worker(job) if job["kind"] == "time" else memory_worker(job)


def run_job(job: dict) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"worker {job} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------
# The whole benchmark
# ------------------------------------------------------------------------------------------


def gflops(depth: int, output_stride: int, size: int) -> float:
    """Convolution GFLOPs of the converted network, counted on the meta device."""
    from atrous import DeepLabV3, get_preset
    from atrous.model.summary import count_flops

    config = get_preset(
        f"resnet{depth}",
        output_stride=output_stride,
        num_classes=NUM_CLASSES,
        multi_grid=(1, 1, 1),
        first_unit_previous_rate=True,
        head_conv3x3=True,
        align_corners=False,
    )
    with torch.device("meta"):
        model = DeepLabV3(config)
    return count_flops(model, (size, size)) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="321x321, one repeat")
    parser.add_argument("--size", type=int, default=513, help="image side (default 513)")
    parser.add_argument("--train-size", type=int, default=321, help="training crop side")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after a warm-up")
    parser.add_argument("--depths", type=int, nargs="+", default=[50, 101], choices=[50, 101])
    parser.add_argument("--strides", type=int, nargs="+", default=[16, 8], choices=[16, 8])
    parser.add_argument("--modes", nargs="+", default=["eval", "train"], choices=["eval", "train"])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.quick:
        args.size, args.train_size, args.repeats = 321, 193, 1
    try:
        import torchvision
    except ImportError:
        sys.exit("bench/forward.py needs torchvision: run `make bench-forward` (.venv-tv)")

    from tqdm import tqdm

    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; eval 1x3x{args.size}x"
        f"{args.size}, train {TRAIN_BATCH}x3x{args.train_size}x{args.train_size} at os 16; "
        f"min of {args.repeats} after 1 warm-up"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(d, s, "eval") for d in args.depths for s in args.strides]
        cases += [(d, 16, "train") for d in args.depths]
        cases = [c for c in cases if c[2] in args.modes]
        cases.sort(key=lambda c: (c[0], c[2] == "train"))
        bar = tqdm(total=len(cases) * 4, desc="bench", unit="run", file=sys.stderr)
        for depth, os_, mode in cases:
            weights = Path(tmp) / f"r{depth}.pth"
            if not weights.exists():
                make_weights(depth, weights)
            impls = IMPLS if mode == "eval" else IMPLS[:2]
            size = args.size if mode == "eval" else args.train_size
            job = dict(depth=depth, os=os_, mode=mode, size=size, weights=str(weights))
            row = dict(case=f"R{depth} os{os_} {mode}", mode=mode, memory={})
            row["gflops"] = gflops(depth, os_, size) if mode == "eval" else None
            for impl in impls:
                bar.set_postfix_str(f"{row['case']}: memory of {impl}")
                row["memory"][impl] = run_job({**job, "kind": "memory", "impl": impl})
                bar.update()
            bar.set_postfix_str(f"{row['case']}: times")
            row.update(run_job({**job, "kind": "time", "impls": impls, "repeats": args.repeats}))
            bar.update(4 - len(impls))
            rows.append(row)
        bar.close()
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    print()
    print(
        "| case | GFLOPs | torchvision s | ours s (tv/ours) | ours fast s (tv/fast) | max abs "
        "diff to tv: ours, fast (max abs out) | peak MB tv / ours / fast "
        "| +call MB tv / ours / fast | CPU time tv/ours, tv/fast |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        t, tv = row["time"], row["time"]["torchvision"]
        cells = [row["case"], f"{row['gflops']:.0f}" if row["gflops"] else "-", f"{tv:.2f}"]
        for impl in IMPLS[1:]:
            cells.append(f"{t[impl]:.2f} ({tv / t[impl]:.2f}x)" if impl in t else "-")
        d = row["diff"]
        if row["mode"] == "eval":
            cells.append(f"{d['ours']:.1e}, {d['ours fast']:.1e} ({row['scale']:.1f})")
        else:
            cells.append("- (torchvision's dropout)")
        m = row["memory"]
        cells.append(" / ".join(f"{m[i]['peak_mb']:.0f}" if i in m else "-" for i in IMPLS))
        cells.append(" / ".join(f"{m[i]['fwd_mb']:.0f}" if i in m else "-" for i in IMPLS))
        c = row["cpu"]
        cells.append(", ".join(f"{c['torchvision'] / c[i]:.2f}x" for i in IMPLS[1:] if i in c))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
