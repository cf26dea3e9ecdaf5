"""``demo``, ``summary``, ``example-folder``, ``export`` and ``browser-network``: the commands
around a network."""

from __future__ import annotations

import argparse

from atrous.base.errors import AtrousError
from atrous.cli.common import add_set_and_quiet, interrupted


def _demo(args: argparse.Namespace) -> int:
    from atrous.demo import demo

    try:
        return demo(args.out, args.run_dir, args.set, progress=not args.quiet)
    except KeyboardInterrupt:
        interrupted(f"{args.run_dir} holds the last checkpoint; the same command resumes it")


def _summary(args: argparse.Namespace) -> int:
    from atrous.model.presets import get_preset
    from atrous.model.summary import summary

    config = get_preset(args.preset)
    if args.size < 1:
        raise AtrousError(f"--size must be a side of at least 1 pixel, got {args.size}")
    strides = None
    if args.output_stride is not None:
        strides = (config.check_output_stride(args.output_stride, "--output-stride"),)
    print(summary(config, (args.size, args.size), strides, name=args.preset))
    return 0


def _example_folder(args: argparse.Namespace) -> int:
    from atrous.data.folder import check_example_args, write_example_folder

    check_example_args(args.train, args.val, args.size, prefix="--")
    root = write_example_folder(args.folder, args.train, args.val, args.size)
    print(f"wrote {args.train} + {args.val} images, labels, splits/ and classes.toml into {root}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from atrous.export import export_model, parse_size

    size = parse_size(args.size) if args.size else (513, 513)
    out = export_model(args.checkpoint, args.out, args.format, output_stride=args.output_stride,
                       size=size, dynamic=not args.static, bf16=args.bf16,
                       overwrite=args.overwrite)  # fmt: skip
    print(f"wrote {out}")
    return 0


def _add_export(commands: argparse._SubParsersAction) -> None:
    from atrous.export import FORMATS, OPSET

    export = commands.add_parser(
        "export", help="write the network as ONNX, torch.export or safetensors",
        description=f"ONNX (opset {OPSET}) and torch.export write the inference network (BN "
        "folded); safetensors the trainable weights with the configs in its metadata.",
    )  # fmt: skip
    export.add_argument("checkpoint", help="a checkpoint.pt or a run folder holding one")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--out", default=None,
                        help="default: the checkpoint's name, new suffix (never the checkpoint "
                        "itself)")  # fmt: skip
    export.add_argument(
        "--output-stride",
        type=int,
        default=None,
        help="export at this output stride (default: the checkpoint's)",
    )
    export.add_argument("--size", default=None,
                        help="the example input's size HxW (default 513x513); with --static, "
                        "the only size the graph takes")  # fmt: skip
    export.add_argument(
        "--static",
        action="store_true",
        help="a graph for --size only (default: any height and width)",
    )
    export.add_argument(
        "--bf16", action="store_true", help="bf16 weights (torch-export, safetensors; not onnx)"
    )
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")
    export.set_defaults(func=_export)


def _browser_network(args: argparse.Namespace) -> int:
    import shlex

    from atrous.browser_demo import network_file, write_small_network

    command = args.trained_by or f"python -m atrous demo --run-dir {shlex.quote(args.run)}"
    out, provenance = write_small_network(network_file(args.run), args.out, command=command,
                                          overwrite=args.overwrite,
                                          progress=not args.quiet)  # fmt: skip
    print(f"wrote {out}: mIOU {provenance['miou']:.2f} with fp16 weights")
    return 0


def _add_browser_network(commands: argparse._SubParsersAction) -> None:
    small = commands.add_parser(
        "browser-network", help="the demo's network in the small form the docs page runs",
        description="Write a demo run's network as fp16 safetensors with its provenance "
        "(command, commit, CPU, mIOU of the fp16 weights, recipe and scene hashes) in the "
        "metadata: what the site's page 'In your browser' exports to ONNX and runs.",
    )  # fmt: skip
    small.add_argument("run", help="a run folder of `python -m atrous demo` (or its checkpoint)")
    small.add_argument("--out", default="docs/demo-network.safetensors", help="the file written")
    small.add_argument("--trained-by", default=None,
                       help="the command that trained the run, as recorded (default: "
                       "python -m atrous demo --run-dir RUN)")  # fmt: skip
    small.add_argument("--overwrite", action="store_true", help="replace an existing file")
    small.add_argument("--quiet", action="store_true", help="no progress bar")
    small.set_defaults(func=_browser_network)


def _add_example_folder(commands: argparse._SubParsersAction) -> None:
    example = commands.add_parser(
        "example-folder", help="write a small folder dataset (your own data's layout)",
        description="Write images/, labels/, splits/ and classes.toml: synthetic scenes with "
        "3 merged classes (background, wire, object), the layout of data.dataset = 'folder'.",
    )  # fmt: skip
    example.add_argument("folder", help="a new, empty folder")
    example.add_argument("--train", type=int, default=200, help="training images (>= 1)")
    example.add_argument("--val", type=int, default=50, help="val images (>= 1)")
    example.add_argument("--size", type=int, default=128, help="image side (32 to 1024)")
    example.set_defaults(func=_example_folder)


def _add_demo_and_summary(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo", help="train, evaluate and plot the demo (what `make demo` runs)"
    )
    demo.add_argument("--out", default="figures", help="folder for the figures")
    demo.add_argument("--run-dir", default="runs/demo", help="folder of the demo's training run")
    add_set_and_quiet(demo, quiet="no progress bars")
    demo.set_defaults(func=_demo)

    summary = commands.add_parser(
        "summary", help="parameters, FLOPs and per-stage feature maps and rates of a preset"
    )
    summary.add_argument("preset", help="a name from atrous.model.presets, e.g. tiny or resnet101")
    summary.add_argument("--output-stride", type=int, default=None,
                         help="only this output stride (default: all)")  # fmt: skip
    summary.add_argument("--size", type=int, default=513, help="input side in pixels")
    summary.set_defaults(func=_summary)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``demo``, ``summary``, ``example-folder``, ``export`` and ``browser-network``."""
    _add_demo_and_summary(commands)
    _add_example_folder(commands)
    _add_export(commands)
    _add_browser_network(commands)
