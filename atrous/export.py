"""Export: the trained network out of the training code, as ONNX, torch.export or safetensors.

- ``onnx``: the inference network (BN folded into the convolutions, :func:`atrous.fast.fuse_bn`)
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

Each writes the logits at the input's size, upsampled as :class:`~atrous.model.DeepLabV3`
does, at the chosen output stride.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from atrous.checkpoint import load_model
from atrous.errors import AtrousError
from atrous.fast import fuse_bn
from atrous.outputs import check_output_file

FORMATS = ("onnx", "torch-export", "safetensors")
#: The ONNX opset the exporter targets.
OPSET = 18
_SUFFIX = {"onnx": ".onnx", "torch-export": ".pt2", "safetensors": ".safetensors"}


def _metadata(state: dict[str, Any], model: torch.nn.Module) -> dict[str, str]:
    import dataclasses

    return {
        "format": "atrous",
        "network": json.dumps(dataclasses.asdict(model.config)),
        "config": json.dumps(state.get("config", {})),
        "meta": json.dumps(state.get("meta", {})),
    }


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
    ckpt = Path(checkpoint)
    base = ckpt / "checkpoint.pt" if ckpt.is_dir() else ckpt
    out = Path(out) if out else base.with_suffix(_SUFFIX[fmt])
    check_output_file(out, "--out", overwrite)
    model, state = load_model(checkpoint)
    if output_stride is not None:
        model.set_output_stride(model.config.check_output_stride(output_stride, "--output-stride"))
    meta = _metadata(state, model)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        _write_safetensors(model, out, meta, bf16)
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


def _write_safetensors(model: torch.nn.Module, out: Path, meta: dict[str, str], bf16: bool):
    from safetensors.torch import save_file

    tensors = {}
    for name, value in model.state_dict().items():
        value = value.detach().contiguous()
        if bf16 and value.is_floating_point():
            value = value.to(torch.bfloat16)
        tensors[name] = value
    save_file(tensors, str(out), metadata=meta)


def read_safetensors(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A safetensors file written by :func:`export_model` as a checkpoint state (``"model"``,
    ``"network"``, ``"config"``, ``"meta"``); AtrousError naming the file if it is truncated,
    corrupt or not atrous's."""
    try:
        from safetensors import safe_open
    except ImportError:  # pragma: no cover
        raise AtrousError(f"{path}: reading .safetensors needs pip install safetensors") from None
    try:
        with safe_open(str(path), framework="pt", device=str(map_location)) as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    except Exception as error:  # a truncated or foreign file
        raise AtrousError(f"safetensors file {str(path)!r} could not be read: {error}") from None
    if metadata.get("format") != "atrous" or "network" not in metadata:
        raise AtrousError(f"{str(path)!r} is not an atrous safetensors export (no 'network' "
                          f"in its metadata)")  # fmt: skip
    try:
        return {
            "model": tensors,
            "network": json.loads(metadata["network"]),
            "config": json.loads(metadata.get("config", "{}")),
            "meta": json.loads(metadata.get("meta", "{}")),
        }
    except json.JSONDecodeError as error:
        raise AtrousError(f"{str(path)!r}: its metadata is not valid JSON: {error}") from None


def onnx_session(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """An ONNX Runtime session (CPU) of an exported model, and its atrous metadata."""
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover
        raise AtrousError("--backend onnxruntime needs pip install 'atrous[export]'") from None
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:
        raise AtrousError(f"ONNX model {str(path)!r} could not be loaded: {error}") from None
    props = session.get_modelmeta().custom_metadata_map
    meta = json.loads(props.get("meta", "{}"))
    meta["network"] = json.loads(props.get("network", "{}"))
    return session, meta


class OnnxModel(torch.nn.Module):
    """An ONNX Runtime session behind the call :mod:`atrous.inference` makes of a model
    (``model(x, upsample=False)`` is not available: the export upsamples; logits come back
    at the input's size)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.session, self.meta = onnx_session(path)
        self.input_name = self.session.get_inputs()[0].name
        from atrous.config import DeepLabV3Config

        self.config = DeepLabV3Config(**self.meta["network"]) if self.meta["network"] else None

    def forward(self, x: torch.Tensor, upsample: bool = True) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: x.float().contiguous().numpy()})[0]
        return torch.from_numpy(out)


__all__ = ["FORMATS", "OPSET", "OnnxModel", "export_model", "read_safetensors"]
