"""ONNX Runtime as an inference backend: an exported model behind the call a network takes.

:class:`OnnxModel` wraps an ``.onnx`` file written by ``atrous export --format onnx`` so that
:mod:`atrous.inference.strategy` runs it like a :class:`~atrous.model.deeplabv3.DeepLabV3`
(the export upsamples inside the graph, so logits come back at the input's size).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from atrous.base.errors import AtrousError
from atrous.model.config import DeepLabV3Config


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
    """An ONNX Runtime session behind the call :mod:`atrous.inference.strategy` makes of a model
    (``model(x, upsample=False)`` is not available: the export upsamples; logits come back
    at the input's size)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.session, self.meta = onnx_session(path)
        self.path = str(path)
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = self.session.get_inputs()[0].shape  # ints, or names of dynamic sides
        self.config = DeepLabV3Config(**self.meta["network"]) if self.meta["network"] else None

    def forward(self, x: torch.Tensor, upsample: bool = True) -> torch.Tensor:
        fixed = self.input_shape[2:]
        if all(isinstance(n, int) for n in fixed) and list(x.shape[2:]) != fixed:
            raise AtrousError(
                f"ONNX model {self.path!r} was exported for {fixed[0]}x{fixed[1]} inputs; the "
                f"image (at this scale) is {x.shape[2]}x{x.shape[3]}: export without --static "
                f"for any size (or --static --size HxW for this one)"
            )
        out = self.session.run(None, {self.input_name: x.float().contiguous().numpy()})[0]
        return torch.from_numpy(out)
