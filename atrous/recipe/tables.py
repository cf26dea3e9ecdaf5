"""The four tables of a run config: ``[model]``, ``[data]``, ``[train]``, ``[eval]``.

- ``[model]``: a preset name from :mod:`atrous.model.presets` plus any
  :class:`~atrous.model.config.DeepLabV3Config` field to override (``output_stride = 8``);
- ``[data]``: which dataset, its root, and the augmentation of Sec. 4.1 (crop, random
  scale 0.5 to 2.0, left-right flip);
- ``[train]``: the optimisation of Sec. 4.1 (SGD with momentum, weight decay, the poly
  learning rate, batch size, iterations, BN frozen or not, the checkpoint to start from);
- ``[eval]``: the inference strategy of Sec. 4.3 (output stride, scales, flips, padding).

Every table checks itself when it is built (``__post_init__``): unknown keys, values of the
wrong type and values out of range fail before any training starts, with a message naming
the key. A field added after the first committed results is declared with :func:`added`:
it enters a config's hash only when it differs from its default
(:meth:`atrous.recipe.config.TrainConfig.hashed_dict`), so no new field makes a committed
result stale.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from atrous.base.device import check_device_name
from atrous.base.errors import AtrousError
from atrous.base.precision import MEMORY_FORMATS, PRECISIONS
from atrous.base.scales import check_scales
from atrous.base.tables import (
    coerce,
    coerce_fields,
    fail,
)
from atrous.model.config import DeepLabV3Config
from atrous.model.presets import PRESETS, get_preset

#: Dataset names understood by :func:`atrous.recipe.datasets.build_dataset`.
DATASETS = ("synthetic", "voc", "sbd", "cityscapes", "coco", "folder")
#: How batch norm pools its statistics over processes (``train.batch_norm``).
BATCH_NORMS = ("global", "per_replica")


def _at_least(table: Any, name: str, minimum: float, *keys: str) -> None:
    for key in keys:
        if getattr(table, key) < minimum:
            fail(f"{name}.{key}", f"must be >= {minimum}, got {getattr(table, key)}")


def _within(table: Any, name: str, key: str, low: float, high: float, why: str) -> None:
    value = getattr(table, key)
    if not low <= value <= high:
        fail(f"{name}.{key}", f"must be in [{low}, {high}] ({why}), got {value}")


#: The metadata key of a field declared with :func:`added`.
ADDED = "hashed_when_changed"


#: The metadata key of a field that never enters a hash (where files live, not what a run is).
UNHASHED = "never_hashed"


def added(default: Any, hashed: bool = True) -> Any:
    """A field added after the first committed results: hashed only when not ``default``
    (never, if not ``hashed``: a place on disk that changes nothing a run computes)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("an added field's default must be immutable")  # pragma: no cover
    return field(default=default, metadata={ADDED: True, UNHASHED: not hashed})


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a preset and the fields of it to override."""

    preset: str = "tiny"
    """A name from :mod:`atrous.model.presets`: tiny, resnet50, resnet101, resnet50-block7, ..."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """:class:`~atrous.model.config.DeepLabV3Config` fields replacing the preset's; in TOML they
    are written directly in ``[model]`` (``output_stride = 8``)."""

    def __post_init__(self) -> None:
        coerce_fields(self, "model")
        if self.preset not in PRESETS:
            fail("model.preset", f"unknown preset {self.preset!r}; the presets are: "
                 f"{', '.join(PRESETS)}")  # fmt: skip
        hints = typing.get_type_hints(DeepLabV3Config)
        overrides = {}
        for key, value in self.overrides.items():
            if key not in hints:
                allowed = ", ".join(["preset", *sorted(hints)])
                raise AtrousError(f"unknown config key 'model.{key}'; [model] has: {allowed}")
            overrides[key] = coerce(f"model.{key}", value, hints[key])
        object.__setattr__(self, "overrides", overrides)
        try:
            self.build()
        except ValueError as error:
            raise AtrousError(f"config table [model]: {error}") from None

    def build(self) -> DeepLabV3Config:
        """The :class:`DeepLabV3Config` this table describes (validated)."""
        return get_preset(self.preset, **self.overrides)


@dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they are augmented (Sec. 4.1)."""

    dataset: str = "synthetic"
    """One of :data:`DATASETS`."""
    root: str = ""
    """Folder of the dataset on disk (unused by ``synthetic``); for VOC the
    ``VOCdevkit/VOC2012`` folder."""
    sbd_root: str = ""
    """SBD's ``benchmark_RELEASE/dataset`` folder, for VOC's ``trainaug`` split."""
    train_split: str = "train"
    """Split to train on, as the dataset names it; VOC: train, val, trainval or trainaug
    (VOC train + SBD, 10,582 images, Sec. 4.1)."""
    val_split: str = "val"
    """Split to evaluate on."""
    crop_size: int = 513
    """Side of the square training crop; 16k + 1 suits ``align_corners`` (Sec. 4.1)."""
    scale_range: tuple[float, float] = (0.5, 2.0)
    """Range of the random rescaling of Sec. 4.1."""
    flip: bool = True
    """Random left-right flips (Sec. 4.1)."""
    synthetic_size: int = 0
    """Side of the generated images of the synthetic dataset (0: its default)."""
    synthetic_length: int = 0
    """Number of generated training images of the synthetic dataset (0: its default)."""
    synthetic_val_length: int = 0
    """Number of generated images of its val split (0: its default)."""
    bootstrap_classes: tuple[int, ...] = ()
    """Bootstrapping (Sec. 4.3, VOC test): images that contain any of these classes appear
    ``bootstrap_copies`` times per epoch."""
    bootstrap_copies: int = 2
    """How often an image with a bootstrapped class appears per epoch."""
    num_workers: int = 0
    """DataLoader worker processes (0 loads in the training process)."""
    val_fraction: float = 0.1
    """``folder`` datasets without ``splits/``: the share of images (seeded by
    ``split_seed``) that form the val split."""
    split_seed: int = 0
    """Seed of the ``folder`` dataset's train/val split."""
    cache: bool = False
    """Keep every training image in memory after its first read (:mod:`atrous.data.cache`):
    each image is drawn or decoded once; H * W * 4 bytes per image."""
    synthetic_scale: float = added(1.0)
    """Multiplies every absolute size in pixels of the synthetic scenes (the least object
    radius, the wire widths, the texture periods, the ignore band; 0.25 to 8): at
    ``synthetic_size = 256`` a scale of 2 draws the 128-pixel scenes at twice the
    resolution. 1 draws the scenes of the committed results."""
    synthetic_tint: float = added(1.0)
    """Multiplies the land/sea difference of the scenes' background colour (0 to 4; 1: as
    drawn): the scene-type cue that a local patch can also see (:mod:`atrous.experiments.cues`)."""
    synthetic_jitter: float = added(1.0)
    """Multiplies the per-image jitter of the scenes' background colour (0 to 4; 1: as drawn)."""
    synthetic_clearance: float = added(0.0)
    """Keeps the scenes' land/sea marks at least this many times a triangle's radius (plus
    the mark's length) from its centre (0 to 8; 0: as drawn), so that a patch around a
    triangle holds no mark and the scene type is an image-level cue."""
    cache_dir: str = added("", hashed=False)
    """Empty: the scenes are drawn when asked, as always. A folder: each synthetic split is
    drawn once into memory-mapped files there (:mod:`atrous.data.render_cache`), shared by
    every run and process that draws the same scenes, and read back from them (the same
    images and labels)."""

    def __post_init__(self) -> None:
        coerce_fields(self, "data")
        if self.dataset not in DATASETS:
            fail("data.dataset", f"must be one of {DATASETS}, got {self.dataset!r}")
        _at_least(self, "data", 1, "bootstrap_copies")
        _within(self, "data", "crop_size", 17, 4097, "a crop must hold more than one "
                "feature-map cell at output stride 16")  # fmt: skip
        _at_least(self, "data", 0, "synthetic_size", "synthetic_length", "synthetic_val_length",
                  "num_workers")  # fmt: skip
        _within(self, "data", "val_fraction", 0.0, 0.9, "a share of the images")
        _within(self, "data", "synthetic_scale", 0.25, 8, "times the sizes of the 128-pixel "
                "scenes")  # fmt: skip
        for key in ("synthetic_tint", "synthetic_jitter"):
            _within(self, "data", key, 0, 4, "times the scenes' own")
        _within(self, "data", "synthetic_clearance", 0, 8, "times a triangle's radius")
        _at_least(self, "data", 0, "split_seed")
        lo, hi = self.scale_range
        if not 0.05 <= lo <= hi <= 8:
            fail("data.scale_range", f"must be [low, high] with 0.05 <= low <= high <= 8 "
                 f"(the paper: [0.5, 2.0]), got {[lo, hi]}")  # fmt: skip


@dataclass(frozen=True)
class OptimConfig:
    """The training protocol of Sec. 4.1."""

    iterations: int = 30000
    """Training iterations (the poly schedule's ``max_iter``)."""
    batch_size: int = 16
    """Images per iteration over all processes and accumulation steps (Tab. 9)."""
    base_lr: float = 0.007
    """The poly schedule's base learning rate (stage 2: 0.001)."""
    lr_power: float = 0.9
    """The poly schedule's power."""
    momentum: float = 0.9
    """SGD momentum."""
    weight_decay: float = 0.0001
    """L2 weight decay on the conv weights (not on biases nor BN)."""
    upsample_logits: bool = True
    """Upsample the logits to the labels (Sec. 4.1); False downsamples the labels to the
    logits instead, as older DeepLabs did (Tab. 8)."""
    freeze_bn: bool = False
    """Freeze batch norm (stage 2 of Sec. 4.1; Tab. 8 "fine-tune BN" is the opposite)."""
    batch_norm: str = "global"
    """With several processes (``torchrun``): ``global`` normalises by the statistics of
    the whole batch over all processes, as the paper's synchronous setting does; ``per_replica``
    lets each process normalise by its own share, as the asynchronous replicas of Tab. 11
    each had their own BN (:mod:`atrous.training.processes`)."""
    pretrained: str = ""
    """torchvision ImageNet ResNet weights (e.g. ``resnet101-63fe2227.pth``) for the
    backbone, as the paper starts from (Sec. 4.1), or the name of a backbone shipped in
    ``atrous/pretrained`` (``scaled-deep``: ``atrous pretrain``'s stand-in for ImageNet);
    "" starts from random weights."""
    init: str = ""
    """Checkpoint whose weights start this run (stage 2 starts from stage 1's); replaces
    ``pretrained``."""
    init_skip: tuple[str, ...] = ()
    """Module-name prefixes of ``init``'s weights to leave out, freshly initialised instead
    (fine-tuning to other classes: ``["classifier.1"]``, the final 1x1 conv of the ASPP head;
    ``["classifier"]`` the whole head). The run says which tensors it did not load."""
    accumulate: int = 1
    """Split each batch into this many micro-batches whose gradients add up; BN then sees
    only ``batch_size / accumulate`` images at a time (see :mod:`atrous.training.loop`)."""
    precision: str = "auto"
    """Arithmetic of the training step (:mod:`atrous.base.precision`): ``fp32``, ``bf16``
    (autocast; weights, BN statistics, loss and optimizer state stay float32), ``fp16``
    (CUDA, with gradient scaling) or ``auto`` (bf16 on CPUs with native bf16, else fp32;
    fp16 on CUDA unless ``amp`` is false). The run records what it resolved to."""
    memory_format: str = "auto"
    """``channels_last`` (NHWC, what oneDNN and cuDNN convolve fastest), ``contiguous``
    (NCHW) or ``auto`` (channels_last)."""
    amp: bool = True
    """With ``precision = "auto"`` on CUDA: float16 autocast with gradient scaling (true)
    or float32 (false)."""
    checkpoint_every: int = 1000
    """Write the checkpoint every this many iterations (and always at the end)."""
    log_every: int = 20
    """Write a line of the metrics log every this many iterations."""
    seed: int = 0
    """Seed of the weights, the data order and the augmentation."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""

    def __post_init__(self) -> None:
        coerce_fields(self, "train")
        _at_least(self, "train", 1, "iterations", "batch_size", "checkpoint_every", "log_every")
        if self.accumulate < 1 or self.batch_size % self.accumulate:
            fail("train.accumulate", f"must be >= 1 and divide batch_size={self.batch_size}, "
                 f"got {self.accumulate}")  # fmt: skip
        _at_least(self, "train", 0, "seed")
        _within(self, "train", "base_lr", 0, 1, "SGD diverges far below 1; the paper: 0.007")
        _within(self, "train", "lr_power", 0, 10, "the paper's poly power: 0.9")
        _within(self, "train", "momentum", 0, 0.999, "momentum >= 1 never forgets a gradient; "
                "the paper: 0.9")  # fmt: skip
        _within(self, "train", "weight_decay", 0, 0.1, "the paper: 0.0001")
        if self.batch_norm not in BATCH_NORMS:
            fail("train.batch_norm", f"must be one of {BATCH_NORMS}, got {self.batch_norm!r}")
        if self.precision not in PRECISIONS:
            fail("train.precision", f"must be one of {PRECISIONS}, got {self.precision!r}")
        if self.memory_format not in MEMORY_FORMATS:
            fail("train.memory_format", f"must be one of {MEMORY_FORMATS}, "
                 f"got {self.memory_format!r}")  # fmt: skip
        check_device_name(self.device, "config key 'train.device'")


@dataclass(frozen=True)
class EvalConfig:
    """The inference strategy of Sec. 4.3 (Tab. 4 and 6) and the evaluation protocol."""

    output_stride: int = 0
    """Output stride at evaluation; 0 keeps the training one (Tab. 10: train at 16,
    evaluate at 8 is best)."""
    scales: tuple[float, ...] = (1.0,)
    """Input scales whose class probabilities are averaged; the paper's multi-scale
    inference uses :data:`PAPER_SCALES`."""
    flip: bool = False
    """Also average over left-right flipped inputs."""
    precision: str = "auto"
    """Arithmetic of inference (:mod:`atrous.base.precision`): ``fp32``, ``bf16`` or ``auto``
    (bf16 on CPUs with native bf16, else fp32; fp16 on CUDA). Recorded in every result."""
    pad_to: int = 0
    """0: whole images, of any size (Cityscapes, Appendix C). N: pad each image at the
    bottom and right with the mean pixel to N x N, run the network, crop the prediction back
    (the paper's VOC protocol, crop 513, Sec. 4.1); an image larger than N is an error."""

    def __post_init__(self) -> None:
        coerce_fields(self, "eval")
        _at_least(self, "eval", 0, "output_stride", "pad_to")
        if self.precision not in PRECISIONS:
            fail("eval.precision", f"must be one of {PRECISIONS}, got {self.precision!r}")
        check_scales(self.scales, "config key 'eval.scales'")
