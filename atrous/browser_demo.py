"""The demo network in the reader's browser: what the site's page "In your browser" runs.

The page (``docs/src/in-your-browser.md``) runs ``make demo``'s network with ONNX Runtime Web.
This module makes what it runs:

- **The small form** (:func:`write_small_network`, ``python -m atrous browser-network``): the
  demo's checkpoint as fp16 safetensors (3 MB, half of fp32), committed as
  ``docs/demo-network.safetensors``. Beside what every atrous safetensors file holds, its
  metadata has ``provenance``: the command that trained it, the commit checked out when the
  small form was written (a checkpoint records none), the CPU, torch's version, the mIOU
  of the fp16 weights on the val split (the recipe's ``[eval]`` strategy, in fp32), and the
  hashes of the demo recipe and of its scenes, from which :func:`staleness` says what has
  changed since.
- **The page's graphs** (:class:`PageGraph`, :func:`export_page_graph`): one ONNX graph per
  output stride (:data:`STRIDES`), all with the same weights. A graph takes the image
  (``rgb``: (1, 3, H, W), 0 to 255, any size) and ``scaled``, whose shape (1, 1, h, w) is
  the size the network runs at (its values are never read), and returns the class
  probabilities at the image's size: the normalisation, the bilinear resize of the input,
  the network, the one resize of the logits straight to the image, and the softmax of
  :func:`atrous.inference.strategy.predict_probabilities`. The page only flips, averages
  and takes the argmax: it interpolates nothing. The weights are fp16 values, and are stored
  as fp16 with a cast to fp32 in the graph (only the initializers that fp16 holds exactly,
  so the graph computes with the very numbers of the committed file).
- **The scenes** (:data:`SCENES`, :func:`page_scenes`): the val scenes the page offers.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from atrous.base.atomic import write_atomic
from atrous.base.errors import AtrousError
from atrous.base.outputs import check_output_file
from atrous.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from atrous.experiments.design_file import data_hash, recipe_hash
from atrous.experiments.provenance import cpu_model, git_commit
from atrous.inference.evaluate import evaluate_split
from atrous.model.checkpoint import checkpoint_file, load_model
from atrous.model.deeplabv3 import DeepLabV3
from atrous.model.safetensors import metadata, save_tensors
from atrous.recipe.config import TrainConfig, from_dict, load_config
from atrous.recipe.configs import recipe_path
from atrous.recipe.datasets import build_dataset

#: The output strides the page offers, one graph each.
STRIDES = (4, 8, 16, 32)
#: The synthetic val scenes the page offers (indices into the demo recipe's val split): each
#: holds three or more classes, and the committed network's mIOU on each is at least 60 at
#: the demo's strategy (``tests/test_docs_in_your_browser.py`` checks both).
SCENES = (5, 20, 21, 11)
#: The recipe the committed network was trained with.
RECIPE = "demo"


def demo_config() -> TrainConfig:
    """The demo's recipe as it is today (``atrous/configs/demo.toml``)."""
    return load_config(recipe_path(RECIPE))


def recipe_hashes(config: TrainConfig | None = None) -> dict[str, str]:
    """The hashes of the demo recipe and of the scenes it draws
    (:mod:`atrous.experiments.design_file`)."""
    config = demo_config() if config is None else config
    return {"recipe_hash": recipe_hash(config), "data_hash": data_hash(config)}


def write_small_network(
    run: str | Path, out: str | Path, *, command: str, overwrite: bool = False,
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """The demo run ``run`` (a run folder or its checkpoint) as fp16 safetensors at ``out``,
    its provenance in the metadata (``command``: how it was trained); returns the file and
    the provenance. AtrousError naming ``run`` if it was not trained with today's recipe."""
    config = demo_config()
    model, state = load_model(run)
    if recipe_hash(_run_config(state, run)) != recipe_hash(config):
        raise AtrousError(
            f"{str(run)!r} was not trained with today's demo recipe "
            f"({recipe_path(RECIPE)}): train it with `python -m atrous demo --run-dir RUN`"
        )
    out = check_output_file(out, "--out", overwrite)
    half = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    strategy = dataclasses.replace(config.eval, precision="fp32")
    scores = evaluate_split(model, config, strategy=strategy, progress=progress)
    provenance = {
        "command": command,
        "commit": state.get("meta", {}).get("commit") or git_commit(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "iterations": int(state.get("iteration", config.train.iterations)),
        "trained": state.get("meta", {}).get("precision", ""),
        "miou": round(100 * scores.miou, 2),
        "iou": {
            k: (None if v is None else round(100 * v, 2))
            for k, v in scores.to_dict()["iou"].items()
        },
        "evaluated": {**scores.settings, "weights": "fp16, computed in fp32"},
        "date": datetime.date.today().isoformat(),
        **recipe_hashes(config),
    }
    meta = {**metadata(state, model), "provenance": json.dumps(provenance)}
    save_tensors(half, out, meta)
    return out, provenance


def _run_config(state: dict[str, Any], source: str | Path) -> TrainConfig:
    """The run config a checkpoint ``state`` records, as a :class:`TrainConfig`."""
    try:
        return from_dict(state["config"])
    except (KeyError, TypeError, AtrousError) as error:
        raise AtrousError(f"{str(source)!r} records no usable run config: {error}") from None


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The ``provenance`` of a small-form network (:func:`write_small_network`); AtrousError
    naming the file if it has none."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise AtrousError(f"network file {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        return json.loads(meta["provenance"])
    except Exception as error:
        raise AtrousError(f"{str(path)!r} holds no provenance of a small-form demo network "
                          f"(python -m atrous browser-network): {error!r}") from None  # fmt: skip


def staleness(path: str | Path) -> list[str]:
    """What has changed since the network ``path`` was trained: the demo recipe, its scenes
    (empty if nothing has)."""
    recorded, now = read_provenance(path), recipe_hashes()
    what = {"recipe_hash": f"the demo recipe ({recipe_path(RECIPE).name})",
            "data_hash": "the synthetic scenes it draws"}  # fmt: skip
    return [f"{what[key]} changed: trained with {key} {recorded.get(key)!r}, today {now[key]!r}"
            for key in what if recorded.get(key) != now[key]]  # fmt: skip


class PageGraph(nn.Module):
    """The network as the page runs it: image in, class probabilities at its size out (see
    the module docstring). ``network`` is used at its own output stride."""

    def __init__(self, network: DeepLabV3) -> None:
        super().__init__()
        self.network = network
        self.align_corners = network.config.align_corners
        # (1, 3, 1, 1) each; named apart from the graph's own "mean" (ASPP's image pooling)
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, rgb: torch.Tensor, scaled: torch.Tensor) -> torch.Tensor:
        size = rgb.shape[-2:]
        # As atrous.data.transforms.normalize, on the 0-255 scale.
        x = (rgb - self.pixel_mean) / self.pixel_std  # (1, 3, H, W)
        # The input's resize of predict_probabilities (bilinear, align_corners=True).
        x = F.interpolate(x, size=scaled.shape[-2:], mode="bilinear", align_corners=True)
        logits = self.network(x, upsample=False)  # (1, K, ceil(h / os), ceil(w / os))
        # One resize, from the feature map straight to the image.
        logits = F.interpolate(logits, size=size, mode="bilinear",
                               align_corners=self.align_corners)  # (1, K, H, W)  # fmt: skip
        return logits.softmax(dim=1)


def export_page_graph(network: str | Path, output_stride: int, out: str | Path) -> Path:
    """The :class:`PageGraph` of the network file ``network`` at ``output_stride`` as ONNX at
    ``out`` (inputs ``rgb`` and ``scaled``, output ``probabilities``; any size from 33 pixels
    a side at the network's input)."""
    from atrous.export import OPSET, _quiet_exporter

    model, state = load_model(network)
    model.set_output_stride(model.config.check_output_stride(output_stride, "output_stride"))
    graph = PageGraph(model).eval()
    example = (torch.rand(1, 3, 64, 48) * 255, torch.zeros(1, 1, 50, 37))  # sides differ
    dim = torch.export.Dim
    shapes = {"rgb": {2: dim("height", min=2, max=4096), 3: dim("width", min=2, max=4096)},
              "scaled": {2: dim("scaled_height", min=33, max=4096),
                         3: dim("scaled_width", min=33, max=4096)}}  # fmt: skip
    with _quiet_exporter():
        program = torch.onnx.export(graph, example, dynamo=True, dynamic_shapes=shapes,
                                    input_names=["rgb", "scaled"],
                                    output_names=["probabilities"], opset_version=OPSET,
                                    optimize=False, verbose=False)  # fmt: skip
    proto = program.model_proto
    _fp16_initializers(proto)
    for node in proto.graph.node:  # the exporter's notes (stack traces, module paths): 0.5 MB
        del node.metadata_props[:]
        node.doc_string = ""
    meta = {**metadata(state, model), "output_stride": str(output_stride)}
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return write_atomic(out, lambda f: f.write(proto.SerializeToString()))


def _fp16_initializers(proto: Any) -> int:
    """Store every float32 initializer that fp16 holds exactly as fp16, cast back to float32
    by a Cast node of the original name (lossless); returns how many were converted."""
    from onnx import TensorProto, helper, numpy_helper

    graph, casts, kept = proto.graph, [], []
    for tensor in graph.initializer:
        array = numpy_helper.to_array(tensor)
        half = array.astype(np.float16)
        exact = tensor.data_type == TensorProto.FLOAT and array.size > 1
        if not (exact and np.array_equal(half.astype(np.float32), array)):
            kept.append(tensor)
            continue
        kept.append(numpy_helper.from_array(half, f"{tensor.name}__fp16"))
        cast = helper.make_node("Cast", [f"{tensor.name}__fp16"], [tensor.name],
                                to=TensorProto.FLOAT, name=f"{tensor.name}__cast")  # fmt: skip
        casts.append(cast)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([*casts, *nodes])
    return len(casts)


def page_scenes(indices: tuple[int, ...] = SCENES) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """The val scenes ``indices`` of the demo recipe: (index, uint8 (H, W, 3) image, (H, W)
    label) each."""
    config = demo_config()
    val = build_dataset(config.data, config.data.val_split)
    bad = [i for i in indices if not 0 <= i < len(val)]
    if bad:
        raise AtrousError(f"scene indices {bad} are outside the val split (0..{len(val) - 1})")
    return [(i, *(np.asarray(a) for a in val[i])) for i in indices]


def network_file(path: str | Path) -> Path:
    """``path`` as a network file that exists; AtrousError naming it otherwise."""
    path = checkpoint_file(path)
    if not path.is_file():
        raise AtrousError(f"network file {str(path)!r} does not exist")
    return path


__all__ = ["RECIPE", "SCENES", "STRIDES", "PageGraph", "demo_config", "export_page_graph",
           "network_file", "page_scenes", "read_provenance", "recipe_hashes", "staleness",
           "write_small_network"]  # fmt: skip
