"""torchvision's checkpoints in our network: its DeepLabv3 and its ImageNet ResNets, by name.

Our parameter names follow torchvision's (``backbone.layer3.0.conv2.weight``,
``classifier.0.convs.1.0.weight``, ...), so loading is a check of names and shapes, not a
translation. What differs is the architecture around the names:

**torchvision's ``deeplabv3_resnet50`` / ``deeplabv3_resnet101`` is not the paper's head.**

- Output stride 8, with the ASPP rates of the paper's output stride 8: (12, 24, 36), which are
  (6, 12, 18) at output stride 16 in our convention (``config.aspp_rates``). torchvision keeps
  (12, 24, 36) whatever the backbone's stride; we scale them with ``set_output_stride``, as the
  paper does (Sec. 3.3).
- No multi-grid: every unit of block4 has rate 4 (``multi_grid=(1, 1, 1)``), and in a block made
  atrous the first unit keeps the previous rate (``first_unit_previous_rate=True``).
- A 3x3 conv, BN and ReLU after the ASPP (``head_conv3x3=True``).
- Dropout 0.5 after the ASPP projection: not reproduced (nothing to load, and eval mode
  ignores it).
- An optional auxiliary FCN head on block3 (``aux_head=True``; ``aux=True`` here), a training
  aid; the COCO checkpoints carry its weights.
- Bilinear upsampling with ``align_corners=False``; BN momentum 0.1 (PyTorch's default).

With those settings :func:`from_torchvision` reproduces torchvision's outputs in eval mode
(``tests/test_torchvision.py``, run by ``make test-torchvision``).

Checkpoints are untrusted input: :func:`load_checkpoint_file` reads them with
``torch.load(..., weights_only=True)``, which refuses to unpickle anything but tensors and
plain containers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch

from atrous.base.errors import AtrousError
from atrous.model.backbone import ResNetBackbone
from atrous.model.checkpoint import load_exact, safe_load
from atrous.model.config import DeepLabV3Config
from atrous.model.deeplabv3 import DeepLabV3

StateDict = Mapping[str, torch.Tensor]

#: torchvision's DeepLabHead ASPP rates at its output stride 8, in our convention (at 16).
TORCHVISION_ASPP_RATES = (6, 12, 18)
#: The final 1x1 convs, whose shape depends on the number of classes.
_FINAL_CONVS = ("classifier.4.", "aux_classifier.4.")


def load_checkpoint_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict in the checkpoint file ``path``, read with ``weights_only=True``.

    A checkpoint is untrusted input: a pickle can run any code when loaded, so only tensors and
    plain containers are accepted (:func:`atrous.model.checkpoint.safe_load`). A dict that wraps the
    state dict under ``"model"`` or ``"state_dict"`` (as training scripts save it) is unwrapped.
    A ``.safetensors`` file (no pickle at all; what ``atrous pretrain`` writes) is read as one.
    """
    if os.fspath(path).endswith(".safetensors") and os.path.isfile(path):
        from safetensors.torch import load_file

        try:
            return load_file(os.fspath(path))
        except Exception as error:  # a truncated or foreign file
            raise AtrousError(f"safetensors file {os.fspath(path)!r} could not be read: "
                              f"{error}") from None  # fmt: skip
    obj = safe_load(path)
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise AtrousError(
            f"checkpoint {os.fspath(path)!r} must hold a state dict (names to tensors), or one "
            f"under 'model' or 'state_dict'; got {type(obj).__name__}"
        )
    return obj


def _check_state_dict(state_dict: object, name: str = "state_dict") -> None:
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        raise AtrousError(f"{name} must be a mapping of parameter names to tensors")


def _depths(state_dict: StateDict, prefix: str) -> tuple[int, ...]:
    """Units per block1..block4, from the names ``{prefix}layer{b}.{u}.conv1.weight``."""
    units: dict[int, int] = {}
    pattern = re.compile(rf"{re.escape(prefix)}layer(\d+)\.(\d+)\.conv1\.weight")
    for key in state_dict:
        match = pattern.fullmatch(key)
        if match:
            block, unit = int(match[1]), int(match[2])
            units[block] = max(units.get(block, 0), unit + 1)
    if sorted(units) != [1, 2, 3, 4]:
        raise AtrousError(
            f"state_dict must hold the ResNet blocks layer1..layer4 under {prefix!r} "
            f"(torchvision's names, e.g. {prefix}layer1.0.conv1.weight); found "
            f"{', '.join(f'layer{b}' for b in sorted(units)) or 'none'}"
        )
    return tuple(units[b] for b in (1, 2, 3, 4))


def torchvision_config(
    state_dict: StateDict, num_classes: int | None = None, aux: bool = False, **overrides: object
) -> DeepLabV3Config:
    """The config of torchvision's DeepLabv3 whose state dict is ``state_dict``.

    Depths, width, ASPP channels and classes are read from the tensor shapes; the rest is
    torchvision's architecture (see the module docstring). ``overrides`` replace config fields.
    """
    _check_state_dict(state_dict)
    if "classifier.4.weight" not in state_dict:
        hint = (
            " (this looks like an ImageNet ResNet: use load_backbone_checkpoint)"
            if "conv1.weight" in state_dict
            else ""
        )
        raise AtrousError(
            "state_dict is not torchvision's deeplabv3_resnet50/101: it has no "
            f"'classifier.4.weight' (the final 1x1 conv after the extra 3x3 conv){hint}"
        )
    if "backbone.conv1.weight" not in state_dict:
        raise AtrousError("state_dict has no 'backbone.conv1.weight' (torchvision's ResNet stem)")
    branches = {
        int(m[1]) for k in state_dict if (m := re.match(r"classifier\.0\.convs\.(\d+)\.", k))
    }
    if len(branches) != len(TORCHVISION_ASPP_RATES) + 2 and "aspp_rates" not in overrides:
        raise AtrousError(
            f"state_dict's ASPP has {len(branches)} branches; torchvision's has "
            f"{len(TORCHVISION_ASPP_RATES) + 2} (1x1, three rates, image pooling). The rates "
            "are not stored in a state dict: pass aspp_rates=(...) at output stride 16"
        )
    if aux and "aux_classifier.4.weight" not in state_dict:
        raise AtrousError("aux=True but state_dict has no auxiliary head ('aux_classifier.*')")
    stored_classes = state_dict["classifier.4.weight"].shape[0]
    fields: dict[str, object] = dict(
        num_classes=stored_classes if num_classes is None else num_classes,
        depths=_depths(state_dict, "backbone."),
        width=state_dict["backbone.conv1.weight"].shape[0],
        output_stride=8,
        multi_grid=(1, 1, 1),
        aspp_rates=TORCHVISION_ASPP_RATES,
        image_pooling=True,
        aspp_channels=state_dict["classifier.0.project.0.weight"].shape[0]
        if "classifier.0.project.0.weight" in state_dict
        else 256,
        align_corners=False,
        bn_momentum=0.1,
        first_unit_previous_rate=True,
        head_conv3x3=True,
        aux_head=bool(aux),
    )
    fields.update(overrides)
    return DeepLabV3Config(**fields)  # type: ignore[arg-type]


def from_torchvision(
    state_dict: StateDict, num_classes: int | None = None, aux: bool = False, **overrides: object
) -> DeepLabV3:
    """Our DeepLabV3 holding torchvision's ``deeplabv3_resnet50``/``_resnet101`` weights.

    In eval mode ``model(x)`` equals torchvision's ``model(x)["out"]`` (and with ``aux=True``,
    ``model.forward_with_aux(x)`` gives ``"out"`` and ``"aux"``).

    - ``num_classes``: None keeps the checkpoint's. Another number leaves the final 1x1 conv
      (and the auxiliary one) at its initialization, for fine-tuning on another dataset.
    - ``aux``: load the auxiliary FCN head on block3; without it its weights are dropped.
    - ``overrides``: config fields, e.g. ``output_stride=16`` (no parameter depends on it;
      our ASPP rates then scale to (6, 12, 18) as in the paper, torchvision's would not).
    """
    config = torchvision_config(state_dict, num_classes, aux, **overrides)
    model = DeepLabV3(config)
    keep = {k: v for k, v in state_dict.items() if aux or not k.startswith("aux_classifier.")}
    if config.num_classes != state_dict["classifier.4.weight"].shape[0]:
        keep = {k: v for k, v in keep.items() if not k.startswith(_FINAL_CONVS)}
        fresh = {k: v for k, v in model.state_dict().items() if k.startswith(_FINAL_CONVS)}
        keep.update(fresh)  # the new classifier keeps its initialization
    load_exact(model, keep, "torchvision DeepLabv3 state_dict")
    return model


def load_backbone_checkpoint(model: DeepLabV3 | ResNetBackbone, state_dict: StateDict) -> list[str]:
    """Load a torchvision ImageNet ResNet state dict into ``model``'s backbone, by name.

    The ImageNet classifier (``fc.*``) is dropped. Every other name must match ours with the
    same shape, or ValueError lists what is missing, unexpected or of the wrong shape. The
    cascaded blocks block5..block7 (Sec. 3.2) have no ImageNet weights and keep their
    initialization; their parameter names are returned (empty for a block4 network).
    """
    backbone = model.backbone if isinstance(model, DeepLabV3) else model
    if not isinstance(backbone, ResNetBackbone):
        raise AtrousError(f"model must be a DeepLabV3 or a ResNetBackbone, got {type(model)}")
    _check_state_dict(state_dict)
    if any(k.startswith("backbone.") for k in state_dict):
        raise AtrousError(
            "state_dict has 'backbone.*' names: it is a segmentation checkpoint, not an "
            "ImageNet ResNet; use from_torchvision"
        )
    keep = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    extra = [n for n in backbone.block_names if n not in ("layer1", "layer2", "layer3", "layer4")]
    left = {
        k: v for k, v in backbone.state_dict().items() if k.split(".")[0] in extra and k not in keep
    }
    keep.update(left)
    load_exact(backbone, keep, "ImageNet ResNet state_dict")
    return sorted(left)
