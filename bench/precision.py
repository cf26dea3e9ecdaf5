"""Precision and the fast paths on the CPU: speed as ratios to torchvision's fp32 eager model.

Every case runs in one process, the implementations called in turn round after round (in
reverse order every other round), each time the minimum over ``--repeats`` rounds after two
warm-up calls (compiled paths compile during the warm-up; the compile time is reported).

- ``eval``: ResNet-50 at output stride 16 and 8 on 1x3x513x513, the same weights (random,
  with random BN statistics) in torchvision's ``DeepLabV3`` (fp32, NCHW, eager), ONNX
  Runtime on our ONNX export (fp32, CPU provider; where onnxruntime is installed) and ours:
  ``fp32 fast`` (BN folded, channels_last), ``bf16 autocast`` (the plain model,
  channels_last, under ``torch.autocast``), ``bf16 fast`` (BN folded, weights kept in
  bf16, channels_last) and ``bf16 fast compiled`` (the same under ``torch.compile``).
  Outputs are compared with torchvision's: the share of pixels whose argmax agrees.
- ``train``: one SGD step (forward, cross-entropy, backward, momentum) at output stride 16
  on 2x3x321x321: torchvision fp32 NCHW against ours fp32 NCHW, fp32 channels_last and bf16
  channels_last (autocast), the last also with PyTorch's fused SGD kernel and under
  ``torch.compile`` (its compile time is the warm-up's; ``--no-compile`` leaves it out).
- ``peak``: one 3x3 atrous conv, 256 channels on 65x65, fp32 and bf16: the convolution
  throughput the networks are measured against.
- ``tiny``: the demo's training step (tiny preset, batch 16, crop 97) of ours: fp32 NCHW
  with every tap of the atrous filters computed (the step before this work) against
  channels_last, bf16, both with and without the taps that only read padding
  (:mod:`atrous.model.atrous_conv`), fused SGD and ``torch.compile``.

Run with the torchvision environment: ``.venv-tv/bin/python bench/precision.py`` (writes
``bench/results/precision-<cpu>.json`` with ``--out``). GFLOP/s are conv FLOPs (2 x
multiply-adds, :func:`atrous.model.summary.count_flops`) over the measured time.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forward import NUM_CLASSES, gflops, make_weights, torchvision_deeplabv3  # noqa: E402

from atrous import DeepLabV3, get_preset  # noqa: E402
from atrous.base.precision import cpu_runs_bf16_fast  # noqa: E402
from atrous.experiments.runner import cpu_model, git_commit  # noqa: E402
from atrous.inference.fast import prepare_for_inference  # noqa: E402
from atrous.model.atrous_conv import AtrousConv2d  # noqa: E402
from atrous.model.interop import from_torchvision, load_checkpoint_file  # noqa: E402


def timed(calls: dict[str, Callable[[], torch.Tensor]], repeats: int) -> dict[str, dict]:
    """Warm-up twice (compile time measured), then interleaved minimum times."""
    out, result = {}, {}
    for name, call in calls.items():
        tic = time.perf_counter()
        out[name] = call()
        call()
        result[name] = {"warmup_s": time.perf_counter() - tic, "times": []}
    for r in range(repeats):
        for name in list(calls) if r % 2 == 0 else list(calls)[::-1]:
            tic = time.perf_counter()
            calls[name]()
            result[name]["times"].append(time.perf_counter() - tic)
    for name in calls:
        result[name]["s"] = min(result[name].pop("times"))
    return result, out


def eval_case(weights: Path, os_: int, size: int, repeats: int) -> dict:
    state = load_checkpoint_file(weights)
    tv = torchvision_deeplabv3(50, os_).eval()
    tv.load_state_dict(state)
    ours = from_torchvision(state, output_stride=os_).eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    x_cl = x.contiguous(memory_format=torch.channels_last)
    plain_cl = (
        from_torchvision(state, output_stride=os_).eval().to(memory_format=torch.channels_last)
    )
    fast32 = prepare_for_inference(ours)
    fast16 = prepare_for_inference(ours, dtype=torch.bfloat16)
    compiled = prepare_for_inference(ours, dtype=torch.bfloat16, compile=True)

    def autocast_bf16() -> torch.Tensor:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            return plain_cl(x_cl).float()

    calls = {
        "torchvision fp32": lambda: torch.no_grad()(lambda: tv(x)["out"])(),
        **_onnx_call(ours, x),
        "ours fp32 fast": lambda: fast32(x),
        "ours bf16 autocast": autocast_bf16,
        "ours bf16 fast": lambda: fast16(x),
        "ours bf16 fast compiled": lambda: compiled(x),
    }
    result, out = timed(calls, repeats)
    want = out["torchvision fp32"].argmax(1)
    flops = gflops(50, os_, size)
    for name in calls:
        result[name]["argmax_agrees"] = float((out[name].argmax(1) == want).float().mean())
        result[name]["gflop_per_s"] = flops / result[name]["s"]
    return {"case": f"R50 os{os_} eval {size}", "gflops": flops, "results": result}


def _onnx_call(model: torch.nn.Module, x: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """ONNX Runtime (CPU provider) on the exported fp32 network, if onnxruntime is there."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {}
    import tempfile

    from atrous.inference.fast import fuse_bn

    path = Path(tempfile.mkdtemp()) / "m.onnx"
    torch.onnx.export(fuse_bn(model).eval(), (x,), dynamo=True, opset_version=18).save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return {"onnxruntime fp32": lambda: torch.from_numpy(session.run(None, {name: x.numpy()})[0])}


def _step(model, x, y, opt, precision: str, is_tv: bool = False) -> Callable[[], torch.Tensor]:
    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(x)
        out = (out["out"] if is_tv else out).float()
        loss = F.cross_entropy(out, y, ignore_index=255)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def train_case(weights: Path, size: int, repeats: int, compile_: bool) -> dict:
    state = load_checkpoint_file(weights)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, size, size, generator=g)
    y = torch.randint(0, NUM_CLASSES, (2, size, size), generator=g)
    tv = torchvision_deeplabv3(50, 16).train()
    tv.load_state_dict(state)
    calls = {
        "torchvision fp32": _step(
            tv, x, y, torch.optim.SGD(tv.parameters(), lr=1e-4, momentum=0.9), "fp32", True
        )
    }
    variants = [  # name, channels_last, precision, fused SGD, compiled
        ("ours fp32", False, "fp32", False, False),
        ("ours fp32 channels_last", True, "fp32", False, False),
        ("ours bf16 channels_last", True, "bf16", False, False),
        ("ours bf16 channels_last fused SGD", True, "bf16", True, False),
    ]
    if compile_:
        variants.append(("ours bf16 channels_last compiled", True, "bf16", False, True))
    for name, cl, precision, fused, compiled in variants:
        model = from_torchvision(state, output_stride=16).train()
        xi = x
        if cl:
            model, xi = (
                model.to(memory_format=torch.channels_last),
                x.contiguous(memory_format=torch.channels_last),
            )
        opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9, fused=fused or None)
        calls[name] = _step(torch.compile(model) if compiled else model, xi, y, opt, precision)
    result, _ = timed(calls, repeats)
    return {"case": f"R50 os16 train 2x{size}", "results": result}


def all_taps(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with every :class:`AtrousConv2d` computing its full filter (as before
    :mod:`atrous.model.atrous_conv`), also the taps that only ever read padding."""
    for m in model.modules():
        if isinstance(m, AtrousConv2d):
            m.forward = functools.partial(torch.nn.Conv2d.forward, m)
    return model


def tiny_case(repeats: int, compile_: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, 97, 97, generator=g)
    y = torch.randint(0, 7, (16, 97, 97), generator=g)
    calls = {}
    variants = [  # name, channels_last, precision, all taps, fused SGD, compiled
        ("fp32 NCHW all taps (before)", False, "fp32", True, False, False),
        ("fp32 channels_last", True, "fp32", False, False, False),
        ("bf16 channels_last all taps", True, "bf16", True, False, False),
        ("bf16 channels_last", True, "bf16", False, False, False),
        ("bf16 channels_last fused SGD", True, "bf16", False, True, False),
    ]
    if compile_:
        variants.append(("bf16 channels_last compiled", True, "bf16", False, False, True))
    for name, cl, precision, full, fused, compiled in variants:
        torch.manual_seed(0)
        model = DeepLabV3(get_preset("tiny", num_classes=7)).train()
        model = all_taps(model) if full else model
        xi = x
        if cl:
            model = model.to(memory_format=torch.channels_last)
            xi = x.contiguous(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, fused=fused or None)
        calls[name] = _step(torch.compile(model) if compiled else model, xi, y, opt, precision)
    result, _ = timed(calls, repeats)
    return {"case": "tiny train 16x97 (the demo's step)", "results": result}


def peak_case(repeats: int) -> dict:
    """One 3x3 atrous conv (rate 2), 256 -> 256 channels on 65x65, channels_last: the
    convolution throughput that the networks above are measured against."""
    x = torch.randn(1, 256, 65, 65).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(256, 256, 3, padding=2, dilation=2, bias=False).eval()
    conv = conv.to(memory_format=torch.channels_last)
    conv16 = torch.nn.Conv2d(256, 256, 3, padding=2, dilation=2, bias=False).eval()
    conv16 = conv16.to(torch.bfloat16, memory_format=torch.channels_last)
    x16 = x.to(torch.bfloat16)
    flops = 2 * 65 * 65 * 256 * 256 * 9 / 1e9

    def run(c, xi):
        def call() -> torch.Tensor:
            with torch.no_grad():
                for _ in range(10):
                    y = c(xi)
            return y

        return call

    result, _ = timed({"conv fp32": run(conv, x), "conv bf16": run(conv16, x16)}, repeats)
    for r in result.values():
        r["gflop_per_s"] = 10 * flops / r["s"]
    return {"case": "one 3x3 atrous conv 256ch 65x65 x10", "gflops": 10 * flops,
            "results": result}  # fmt: skip


def markdown(results: dict) -> str:
    """The docs' speed table of a results JSON: seconds, ratio to the first column, GFLOP/s."""
    lines = [f"{results['cpu']}, {results['threads']} threads, torch {results['torch']} "
             f"(`{results['command']}`):", "", "| case | implementation | s | ratio | GFLOP/s |",
             "|---|---|---|---|---|"]  # fmt: skip
    for row in results["rows"]:
        first = next(iter(row["results"].values()))["s"]
        for name, r in row["results"].items():
            rate = f"{r['gflop_per_s']:.0f}" if "gflop_per_s" in r else "-"
            lines.append(f"| {row['case']} | {name} | {r['s']:.3f} | {first / r['s']:.2f}x "
                         f"| {rate} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=513)
    parser.add_argument("--train-size", type=int, default=321)
    parser.add_argument("--cases", nargs="+", default=["peak", "eval", "train", "tiny"])
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="leave out the compiled training steps (minutes of compiling)",
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--table", default=None, help="print the markdown table of a JSON")
    args = parser.parse_args()
    if args.out and Path(args.out).exists():
        parser.error(f"--out {args.out} exists: results are never overwritten; name a new file")
    if args.table:
        print(markdown(json.loads(Path(args.table).read_text())))
        return
    header = {
        "cpu": cpu_model(),
        "native_bf16": cpu_runs_bf16_fast(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "command": " ".join(sys.argv),
        "commit": git_commit(),
    }
    print(json.dumps(header))
    rows = [peak_case(args.repeats)] if "peak" in args.cases else []
    tmp = Path("/tmp/atrous-bench-r50.pth")
    if "eval" in args.cases or "train" in args.cases:
        make_weights(50, tmp)
    if "eval" in args.cases:
        rows += [eval_case(tmp, os_, args.size, args.repeats) for os_ in (16, 8)]
    if "train" in args.cases:
        rows.append(train_case(tmp, args.train_size, args.repeats, not args.no_compile))
    if "tiny" in args.cases:
        rows.append(tiny_case(args.repeats, not args.no_compile))
    for row in rows:
        results = row["results"]
        base = next(iter(results.values()))["s"]
        print(f"\n{row['case']}")
        for name, r in results.items():
            extra = "".join(
                f", {k} {r[k]:.3f}" if isinstance(r[k], float) else ""
                for k in ("argmax_agrees", "gflop_per_s")
                if k in r
            )
            print(f"  {name:<28} {r['s']:.3f} s  {base / r['s']:.2f}x  (warm-up "
                  f"{r['warmup_s']:.1f} s{extra})")  # fmt: skip
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({**header, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
