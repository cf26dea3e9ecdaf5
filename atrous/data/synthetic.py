"""SyntheticScenes: the built-in data set, drawn so that the paper's effects show.

No real data set can be downloaded here, and a model that trains in minutes on a CPU needs
small images. This module draws procedural scenes for semantic segmentation, each one
deterministic from ``(seed, split, index)``, with NumPy only (a few milliseconds per image
at the default size). Every property of the design is there for one of the paper's claims:

**Scales (Sec. 3, Tab. 1).** Object radii are log-uniform from 3 pixels to 45% of the
image side, so the same class appears a few pixels across and filling most of the scene.
Big objects need a large field of view (atrous rates, ASPP); small ones need a fine
output stride.

**Thin structures and fine detail (Tab. 1, output_stride).** ``wire`` is 1-5 pixels wide
and crosses the scene; ``star`` has thin, pointed arms. A network whose logits live on a
grid 16 or 32 times coarser than the image must blur them; output_stride 8 keeps more.

**Context (Sec. 3.3, Tab. 5, image pooling).** Every scene is either ``land`` or ``sea``.
The same triangle, drawn from one and the same distribution of size, colour and texture,
is a ``tent`` on land and a ``sail`` at sea. The object alone cannot decide its class;
the scene can. The scene type shows in two global cues, each weak where the object is:
a background tint smaller than the background's own slow colour variations (a local
patch is ambiguous, the mean over the whole image is not), and sparse marks scattered
over the background (grass tufts on land, wave crests at sea, label ``background``) that
may be nowhere near the triangle. Image-level features (global average pooling) are the
cheapest way to see both.

**Occlusion and clutter.** Objects are painted in a random depth order, later ones
covering earlier ones and the image border cutting them off; background clutter (blobs
in colours near the background's, the scene marks) must be learned as background.

**Noise and texture.** Object colours are jittered around a per-class colour, and one
object in ten takes an arbitrary colour, so shape matters too; each object gets a random
texture (flat, stripes, checks, grain) and shading; the background is a smooth random
field; every pixel gets Gaussian noise. Texture is a nuisance, never a class cue.

**Ignore band (Sec. 4.1, PASCAL VOC).** Like VOC's hand-drawn boundaries, a band of
``ignore_width`` pixels around each object, on the side of whatever lies behind it, is
labelled 255 and counted by no loss or metric. Falling on the side behind, the band
leaves the object in front whole: a 1-pixel wire across a ball keeps its label.

**Scale.** ``scale`` multiplies every absolute size in pixels (the least object radius,
the wire widths, the texture periods, the marks, the ignore band; the list is in
:mod:`atrous.data.scene_painter`): a 256-pixel scene at scale 2 looks like a 128-pixel one
at scale 1 drawn at twice the resolution. Scale 1 (the default) is the scenes as they were.

**Cue strength.** ``tint`` multiplies the land/sea difference of the background colour
(about the middle of the two) and ``jitter`` the per-image colour jitter (sd 8 levels): a
weaker tint with less jitter keeps the scene type readable from the whole image while a
patch around a triangle, which sees the smooth field's local level, can hardly tell it
(:mod:`atrous.experiments.cues` measures both). 1 and 1 (the defaults) are the scenes as
they were, bit for bit. ``clearance`` keeps the scene marks away from the triangles (at
least that many times a triangle's radius from its centre): a patch around a triangle then
shows no mark; 0 (the default) is the scenes as they were, bit for bit.

Splits draw from disjoint random streams (``train``, ``val``, ``test``); the length is a
choice, not a store: ``ds[i]`` draws image ``i`` when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from atrous.base.errors import AtrousError
from atrous.data.palette import voc_palette
from atrous.data.scene_painter import (  # noqa: F401  (the class ids are part of this module's API)
    BACKGROUND,
    BALL,
    BOX,
    LAND,
    SAIL,
    SEA,
    STAR,
    TENT,
    WIRE,
    ScenePainter,
    SceneSample,
)

#: Class names, in label order. ``sail`` and ``tent`` are the same shape (see the docstring).
CLASS_NAMES: tuple[str, ...] = ("background", "wire", "ball", "box", "star", "sail", "tent")
#: Scene types: the context that decides between ``sail`` and ``tent``.
SCENE_NAMES: tuple[str, ...] = ("land", "sea")

_SPLITS = {"train": 0, "val": 1, "test": 2, "pretrain": 3}  # pretrain: atrous pretrain's stream
#: The side of a scene in pixels unless told otherwise.
DEFAULT_SIZE = 128
_DEFAULT_LENGTH = {"train": 5000, "val": 500, "test": 500, "pretrain": 100_000}


class SyntheticScenes:
    """Procedural segmentation scenes (see the module docstring for the design).

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"pretrain"`` (the image-level task of
            :mod:`atrous.training.pretrain`); each draws from its own random stream.
        size: image side in pixels (square images), at least 32.
        length: number of images; default 5000 for train, 500 for val and test.
        seed: the data set's seed; image ``i`` depends only on ``(seed, split, i, size)``
            (and ``ignore_width``, ``scale``).
        transform: optional ``transform(image, label)`` applied to every sample.
        ignore_width: width in pixels of the 255 band around objects (0 turns it off); at a
            ``scale`` other than 1, ``round(ignore_width * scale)`` and at least 1.
        scale: multiplies every absolute size in pixels of the scene, in [0.25, 8] (see the
            module docstring); 1 draws the scenes of the committed results.

    ``ds[i]`` returns ``(image, label)``: image uint8 (H, W, 3) RGB, label int64 (H, W)
    holding class indices and 255; or what ``transform`` makes of them.
    """

    num_classes = len(CLASS_NAMES)
    class_names = CLASS_NAMES
    scene_names = SCENE_NAMES
    palette = voc_palette()

    def __init__(
        self,
        split: str = "train",
        size: int = DEFAULT_SIZE,
        length: int | None = None,
        seed: int = 0,
        transform: Callable[..., Any] | None = None,
        ignore_width: int = 1,
        scale: float = 1.0,
        tint: float = 1.0,
        jitter: float = 1.0,
        clearance: float = 0.0,
    ) -> None:
        if split not in _SPLITS:
            raise AtrousError(f"split must be one of {sorted(_SPLITS)}, got {split!r}")
        if not isinstance(size, int) or size < 32:
            raise AtrousError(f"size must be an int >= 32, got {size!r}")
        length = _DEFAULT_LENGTH[split] if length is None else length
        if not isinstance(length, int) or length < 1:
            raise AtrousError(f"length must be a positive int, got {length!r}")
        if not isinstance(seed, int) or seed < 0:
            raise AtrousError(f"seed must be a non-negative int, got {seed!r}")
        if not isinstance(ignore_width, int) or not 0 <= ignore_width <= 4:
            raise AtrousError(f"ignore_width must be an int in [0, 4], got {ignore_width!r}")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0.25 <= scale <= 8:
            raise AtrousError(f"scale must be a number in [0.25, 8], got {scale!r}")
        self.split, self.size, self.length, self.seed = split, size, length, seed
        for name, value in (("tint", tint), ("jitter", jitter)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 <= value <= 4
            ):
                raise AtrousError(f"{name} must be a number in [0, 4], got {value!r}")
        if (
            isinstance(clearance, bool)
            or not isinstance(clearance, (int, float))
            or not (0 <= clearance <= 8)
        ):
            raise AtrousError(f"clearance must be a number in [0, 8], got {clearance!r}")
        self.clearance = float(clearance)
        self.transform, self.ignore_width, self.scale = transform, ignore_width, float(scale)
        self.tint, self.jitter = float(tint), float(jitter)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self._yy, self._xx = yy, xx

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        scale = f", scale={self.scale}" if self.scale != 1 else ""
        scale += f", tint={self.tint}" if self.tint != 1 else ""
        scale += f", jitter={self.jitter}" if self.jitter != 1 else ""
        scale += f", clearance={self.clearance}" if self.clearance else ""
        return (
            f"SyntheticScenes(split={self.split!r}, size={self.size}, length={self.length}, "
            f"seed={self.seed}, ignore_width={self.ignore_width}{scale})"
        )

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        sample = self.sample(index)
        if self.transform is not None:
            return self.transform(sample.image, sample.label)
        return sample.image, sample.label

    def load_label(self, index: int) -> np.ndarray:
        """The label of image ``index`` (for bootstrapping and class statistics)."""
        return self.sample(index).label

    def sample(self, index: int) -> SceneSample:
        """Draw scene ``index``: image, label and scene type."""
        index = int(index)
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for length {self.length}")
        rng = np.random.default_rng([self.seed, _SPLITS[self.split], index])
        painter = ScenePainter(
            rng, self._yy, self._xx, self.scale, self.tint, self.jitter, self.clearance
        )
        return painter.paint(self.ignore_width)

    def describe(self) -> str:
        """The design and the reason for each property (the module docstring)."""
        return __doc__
