"""Export: the trained network out of the training code, as ONNX, torch.export or safetensors.

- ``onnx``: the inference network (BN folded into the convolutions,
:func:`atrous.inference.fast.fuse_bn`)
  exported by ``torch.onnx.export`` (the dynamo exporter, opset :data:`OPSET`), with fixed or
  dynamic height and width; the config, class names and palette are in the model's
  ``metadata_props``. Runs in ONNX Runtime (``pip install 'atrous[export]'``). bf16 is
  refused: ONNX Runtime's CPU provider has no bf16 convolution.
- ``torch-export``: the same inference network as a ``torch.export`` program
  (``torch.export.save``; reload with ``torch.export.load``), optionally in bf16; the metadata
  rides along as the extra file ``atrous.json``.
- ``safetensors``: the trainable weights (BN not folded), without pickle, with the network
  and run configs in the file's metadata: loadable wherever atrous reads a checkpoint
  (``predict``, ``eval``, ``train.init``), and so fine-tunable.

Each writes the logits at the input's size, upsampled as :class:`~atrous.model.deeplabv3.DeepLabV3`
does, at the chosen output stride.
"""

from __future__ import annotations

import json
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
    dynamic: bool = False,
    bf16: bool = False,
    overwrite: bool = False,
) -> Path:
    """Export the network of ``checkpoint`` as ``fmt`` (one of :data:`FORMATS`) to ``out``
    (default: the checkpoint's name with the format's suffix); returns the path written."""
    if fmt not in FORMATS:
        raise AtrousError(f"--format must be one of {FORMATS}, got {fmt!r}")
    if bf16 and fmt == "onnx":
        raise AtrousError(
            "--bf16 does not apply to onnx: ONNX Runtime's CPU provider has no "
            "bf16 convolution; export fp32, or use torch-export or safetensors"
        )
    base = checkpoint_file(checkpoint)
    out = Path(out) if out else base.with_suffix(_SUFFIX[fmt])
    check_output_file(out, "--out", overwrite)
    model, state = load_model(checkpoint)
    if output_stride is not None:
        model.set_output_stride(model.config.check_output_stride(output_stride, "--output-stride"))
    meta = metadata(state, model)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        write_safetensors(model, out, meta, bf16)
        return out
    network = fuse_bn(model).eval()
    dtype = torch.bfloat16 if bf16 else torch.float32
    network = network.to(dtype)
    example = torch.randn(1, 3, *size, dtype=dtype)
    shapes = _dynamic_shapes() if dynamic else None
    if fmt == "onnx":
        program = torch.onnx.export(network, (example,), dynamo=True, dynamic_shapes=shapes,
                                    opset_version=OPSET, verbose=False)  # fmt: skip
        program.save(str(out))
        _set_onnx_metadata(out, meta)
    else:
        exported = torch.export.export(network, (example,), dynamic_shapes=shapes)
        torch.export.save(exported, str(out), extra_files={"atrous.json": json.dumps(meta)})
    return out


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
