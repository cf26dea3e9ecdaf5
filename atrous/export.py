"""Export: the trained network out of the training code, as ONNX, torch.export or safetensors.

- ``onnx``: the inference network (BN folded into the convolutions,
  :func:`atrous.inference.fast.fuse_bn`) exported by ``torch.onnx.export`` (the dynamo
  exporter, opset :data:`OPSET`), for any height and width (or, ``--static``, one size);
  the config, class names and palette are in the model's ``metadata_props``. Runs in ONNX
  Runtime (``pip install 'atrous[export]'``). bf16 is refused: ONNX Runtime's CPU provider
  has no bf16 convolution.
- ``torch-export``: the same inference network as a ``torch.export`` program
  (``torch.export.save``; reload with ``torch.export.load``), optionally in bf16; the metadata
  rides along as the extra file ``atrous.json``.
- ``safetensors``: the trainable weights (BN not folded), without pickle, with the network
  and run configs in the file's metadata: loadable wherever atrous reads a checkpoint
  (``predict``, ``eval``, ``train.init``), and so fine-tunable.

Each writes the logits at the input's size, upsampled as :class:`~atrous.model.deeplabv3.DeepLabV3`
does, at the chosen output stride. An export never writes over the checkpoint it reads (by any
path to it, ``--overwrite`` or not), and a folder it cannot write is named before the export
runs; the exporters' expected warnings are not shown, only what was written.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from atrous.base.errors import AtrousError
from atrous.base.outputs import check_output_file
from atrous.inference.fast import fuse_bn
from atrous.model.checkpoint import checkpoint_file, load_model
from atrous.model.safetensors import metadata, write_safetensors

FORMATS = ("onnx", "torch-export", "safetensors")
#: The ONNX opset the exporter targets.
OPSET = 18
_SUFFIX = {"onnx": ".onnx", "torch-export": ".pt2", "safetensors": ".safetensors"}


def parse_size(text: str) -> tuple[int, int]:
    """``"HxW"`` (or ``"N"``) as (height, width); AtrousError naming ``--size`` otherwise."""
    parts = text.lower().split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise AtrousError(f"--size must be HxW (e.g. 513x513) or N, got {text!r}")
    return sizes[0], sizes[1]


def export_model(
    checkpoint: str | Path,
    out: str | Path | None,
    fmt: str,
    *,
    output_stride: int | None = None,
    size: tuple[int, int] = (513, 513),
    dynamic: bool = True,
    bf16: bool = False,
    overwrite: bool = False,
) -> Path:
    """Export the network of ``checkpoint`` as ``fmt`` (one of :data:`FORMATS`) to ``out``
    (default: the checkpoint's name with the format's suffix); returns the path written.
    ``dynamic`` (the default) gives a graph for any height and width; ``dynamic=False`` a
    static graph for ``size`` only."""
    if fmt not in FORMATS:
        raise AtrousError(f"--format must be one of {FORMATS}, got {fmt!r}")
    if bf16 and fmt == "onnx":
        raise AtrousError(
            "--bf16 does not apply to onnx: ONNX Runtime's CPU provider has no "
            "bf16 convolution; export fp32, or use torch-export or safetensors"
        )
    base = checkpoint_file(checkpoint)
    out = Path(out) if out else base.with_suffix(_SUFFIX[fmt])
    _check_not_the_input(base, out)
    check_output_file(out, "--out", overwrite)
    _check_writable(out.parent)
    model, state = load_model(checkpoint)
    if output_stride is not None:
        model.set_output_stride(model.config.check_output_stride(output_stride, "--output-stride"))
    meta = metadata(state, model)
    if fmt == "safetensors":
        with _writing(out):
            write_safetensors(model, out, meta, bf16)
        return out
    network = fuse_bn(model).eval()
    dtype = torch.bfloat16 if bf16 else torch.float32
    network = network.to(dtype)
    example = torch.randn(1, 3, *size, dtype=dtype)
    shapes = _dynamic_shapes() if dynamic else None
    if fmt == "onnx":
        with _quiet_exporter():
            program = torch.onnx.export(network, (example,), dynamo=True, dynamic_shapes=shapes,
                                        opset_version=OPSET, verbose=False)  # fmt: skip
        with _writing(out):
            program.save(str(out))
            _set_onnx_metadata(out, meta)
    else:
        exported = torch.export.export(network, (example,), dynamic_shapes=shapes)
        with _writing(out):
            torch.export.save(exported, str(out), extra_files={"atrous.json": json.dumps(meta)})
    return out


def _check_not_the_input(source: Path, out: Path) -> None:
    """AtrousError if ``out`` is the checkpoint ``source`` by any path (relative, through a
    symlink, a hard link): an export never replaces what it reads, ``--overwrite`` or not."""
    same = out.resolve() == source.resolve()
    if not same and out.exists() and source.exists():
        same = os.path.samefile(out, source)
    if same:
        raise AtrousError(
            f"--out {str(out)!r} is the checkpoint being exported ({str(source)!r}): an export "
            f"never replaces its input, --overwrite or not; choose another --out"
        )


def _check_writable(folder: Path) -> None:
    """AtrousError naming ``folder`` (or the existing folder it would be made in) if this
    process cannot write there: before the export, which can take minutes."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise AtrousError(
            f"--out: the folder {str(existing)!r} is not writable (permission denied); "
            f"choose another --out"
        )


def _refused_by_file_system(error: Exception) -> bool:
    """Whether a writer's ``error`` is the file system's refusal (torch's zip writer says so
    in a RuntimeError, safetensors in a SafetensorError), not a bug."""
    if isinstance(error, OSError) or type(error).__name__ == "SafetensorError":
        return True
    return isinstance(error, RuntimeError) and any(
        words in str(error) for words in ("open file failed", "failed writing", "strerror")
    )


@contextlib.contextmanager
def _writing(out: Path) -> Iterator[None]:
    """Make ``out``'s folder and write: what the writers raise when the file system refuses
    (no permission, a full disk) as one AtrousError naming the file and its folder."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        yield
    except Exception as error:
        if not _refused_by_file_system(error):
            raise
        raise AtrousError(
            f"--out: could not write {str(out)!r} into the folder {str(out.parent)!r}: {error}"
        ) from None


#: Loggers of the exporters, whose expected warnings (torchvision's ops not registered, ...)
#: are not the user's concern.
_EXPORTER_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "onnxscript")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The ONNX exporter's warnings, log lines and prints, captured: dropped when the export
    succeeds, shown on stderr when it fails (its errors themselves pass through)."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
    saved = [(logger.handlers, logger.propagate) for logger in loggers]
    for logger in loggers:  # torch's own handlers write to the terminal
        logger.handlers, logger.propagate = [handler], False
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(text),
            contextlib.redirect_stderr(text),
        ):
            warnings.simplefilter("always")
            yield
    except BaseException:
        shown = [
            warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
        ]
        sys.stderr.write(text.getvalue() + "".join(shown))
        raise
    finally:
        for logger, (handlers, propagate) in zip(loggers, saved, strict=True):
            logger.handlers, logger.propagate = handlers, propagate


def _dynamic_shapes() -> dict[str, dict[int, Any]]:
    dim = torch.export.Dim
    return {"x": {2: dim("height", min=17, max=4096), 3: dim("width", min=17, max=4096)}}


def _set_onnx_metadata(path: Path, meta: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


__all__ = ["FORMATS", "OPSET", "export_model", "parse_size"]
