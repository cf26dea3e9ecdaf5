"""Drawing one synthetic scene: background, clutter, scene marks, objects, wire, ignore band.

The painter behind :class:`atrous.data.synthetic.SyntheticScenes`; the design (why each
element is there, which of the paper's claims it serves) is in that module's docstring.
Everything is NumPy, driven by one ``numpy.random.Generator``, so a scene is a pure
function of the generator's seed.

``scale`` multiplies every absolute size in pixels, so that a scene of side ``2 s`` at scale
2 looks like one of side ``s`` at scale 1 drawn at twice the resolution: the least radius of
an object (3 px) and of a clutter blob (2 px), the scene marks' fixed length (2 px) and
stroke half-width (0.6 px), the wire widths (1.5 to 4.5 px), the texture periods (3 to
10 px), the grain's cell (1 px, nearest-neighbour at a larger scale) and the ignore band's
width. Sizes relative to the side (an object's largest radius, 45% of it) stay as they are,
as do counts, colours and the amplitude of the per-pixel noise. ``scale`` adds, removes
and reorders no random draw: scale 1 is bit for bit the scenes drawn before it existed.

``clearance`` keeps the scene marks away from the triangles: with ``c > 0`` the marks are
drawn after the objects, on background pixels only (as if drawn first and covered), at
positions at least ``c`` times a triangle's radius plus the mark's length from its centre
(ten tries a mark, else it is left out). A patch around a triangle then holds no mark, and
the scene type must be read from the image as a whole. 0 (the default) draws the marks
first, wherever they fall: bit for bit the scenes drawn before it existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from atrous.data.palette import IGNORE_INDEX

LAND, SEA = 0, 1
BACKGROUND, WIRE, BALL, BOX, STAR, SAIL, TENT = range(7)

# Background colour per scene type (RGB). The difference (about 15 levels) is smaller than
# the background's slow variations (+-28) and per-image jitter (sd 8): see the docstring.
_SCENE_RGB = np.array([[112.0, 122.0, 96.0], [98.0, 118.0, 114.0]])
# Typical colour per object class; the triangle's is shared by sail and tent on purpose.
_CLASS_RGB = {
    WIRE: (45.0, 42.0, 48.0),
    BALL: (205.0, 70.0, 55.0),
    BOX: (70.0, 85.0, 185.0),
    STAR: (225.0, 195.0, 55.0),
    SAIL: (230.0, 225.0, 205.0),
}
_SHAPE_CLASSES = (BALL, BOX, STAR, SAIL)  # SAIL stands for "triangle"; the scene decides
_SHAPE_PROBS = (0.25, 0.22, 0.2, 0.33)


@dataclass(frozen=True)
class SceneSample:
    """One drawn scene: ``image`` uint8 (H, W, 3), ``label`` int64 (H, W), ``scene`` type."""

    image: np.ndarray
    label: np.ndarray
    scene: int


class ScenePainter:
    """Paints one scene, back to front, into an image, a label map and a depth map."""

    def __init__(
        self, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, scale: float = 1.0,
        tint: float = 1.0, jitter: float = 1.0, clearance: float = 0.0,
    ) -> None:  # fmt: skip
        self.rng, self.yy, self.xx = rng, yy, xx
        self.tint, self.jitter, self.clearance = float(tint), float(jitter), float(clearance)
        self.triangles: list[tuple[float, float, float]] = []  # (cy, cx, r) of each triangle
        self.size = yy.shape[0]
        # A Python float: a NumPy scalar would promote the float32 comparisons to float64.
        self.scale = float(scale)
        self.image = np.zeros((self.size, self.size, 3), dtype=np.float32)
        self.label = np.zeros((self.size, self.size), dtype=np.int64)
        self.depth = np.zeros((self.size, self.size), dtype=np.int32)
        self.layer = 0

    def paint(self, ignore_width: int) -> SceneSample:
        rng = self.rng
        scene = int(rng.integers(2))
        self._background(scene)
        for _ in range(rng.integers(1, 5)):
            self._blob_clutter()
        marks = int(rng.integers(10, 20))
        for _ in range(0 if self.clearance else marks):
            self._scene_mark(scene)
        # Objects and wires, interleaved in depth: wires cross objects and objects hide wires.
        kinds = [int(rng.choice(_SHAPE_CLASSES, p=_SHAPE_PROBS)) for _ in range(rng.integers(3, 8))]
        kinds += [WIRE] * int(rng.integers(1, 4))
        for kind in rng.permutation(kinds):
            if kind == WIRE:
                self._wire()
            else:
                self._shape(int(kind), scene)
        for _ in range(marks if self.clearance else 0):
            self._cleared_mark(scene)
        noise = rng.standard_normal(self.image.shape, dtype=np.float32) * rng.uniform(3.0, 9.0)
        image = np.clip(self.image + noise, 0, 255).round().astype(np.uint8)
        label = self.label.copy()
        if ignore_width:
            width = max(round(ignore_width * self.scale), 1)
            label[ignore_band(self.label, self.depth, width)] = IGNORE_INDEX
        return SceneSample(image=image, label=label, scene=scene)

    # -- background ------------------------------------------------------------------
    def _background(self, scene: int) -> None:
        rng, s = self.rng, self.size
        colour = _SCENE_RGB[scene]
        if self.tint != 1.0:  # the land/sea difference, scaled about the middle of the two
            middle = _SCENE_RGB.mean(axis=0)
            colour = middle + self.tint * (colour - middle)
        base = colour + rng.normal(0.0, 8.0 * self.jitter, 3)
        # A smooth random field: a 4x4 grid of colours, bilinearly upsampled.
        grid = rng.uniform(-28.0, 28.0, (4, 4, 3))
        up = upsampling_matrix(s, 4)  # (s, 4)
        rows = np.tensordot(up, grid, axes=(1, 0))  # (s, 4, 3)
        field = np.einsum("xj,yjc->yxc", up, rows, optimize=True)  # (s, s, 3)
        self.image[:] = (base + field).astype(np.float32)

    def _blob_clutter(self) -> None:
        """A background-coloured blob: clutter that must be learned as background."""
        rng = self.rng
        cy, cx = rng.uniform(0, self.size, 2)
        r = np.exp(rng.uniform(np.log(2.0 * self.scale), np.log(0.12 * self.size)))
        ys, xs = self._window(cy, cx, r * 1.5)
        yy, xx = self.yy[ys, xs] - cy, self.xx[ys, xs] - cx
        angle = rng.uniform(0, 2 * np.pi)
        wobble = 1 + 0.3 * np.sin(3 * np.arctan2(yy, xx) + angle)
        mask = np.hypot(yy, xx) <= r * wobble
        colour = self.image[int(cy), int(cx)] + rng.normal(0, 22, 3)
        self.image[ys, xs][mask] = colour.astype(np.float32)

    def _scene_mark(self, scene: int) -> None:
        """A grass tuft (land) or a wave crest (sea): a global, sparse scene cue."""
        cy, cx = self.rng.uniform(0, self.size, 2)
        length = self.rng.uniform(0.025, 0.05) * self.size + 2 * self.scale
        self._paint_mark(scene, cy, cx, length, behind=False)

    def _cleared_mark(self, scene: int) -> None:
        """A scene mark away from every triangle (``clearance``), on background pixels."""
        length = self.rng.uniform(0.025, 0.05) * self.size + 2 * self.scale
        for _ in range(10):
            cy, cx = self.rng.uniform(0, self.size, 2)
            if all(np.hypot(cy - ty, cx - tx) >= self.clearance * r + length
                   for ty, tx, r in self.triangles):  # fmt: skip
                self._paint_mark(scene, cy, cx, length, behind=True)
                return

    def _paint_mark(self, scene: int, cy: float, cx: float, length: float, behind: bool) -> None:
        rng, half_width = self.rng, 0.6 * self.scale
        ys, xs = self._window(cy, cx, length)
        yy, xx = self.yy[ys, xs] - cy, self.xx[ys, xs] - cx
        if scene == LAND:  # a short vertical stroke, dark green
            mask = (np.abs(xx + 0.3 * yy) <= half_width) & (np.abs(yy) <= length / 2)
            colour = np.array([60.0, 95.0, 40.0])
        else:  # a shallow arc, pale blue-white
            mask = (np.abs(yy - (xx / length) ** 2 * length * 0.4) <= half_width) & (
                np.abs(xx) <= length / 2
            )
            colour = np.array([170.0, 195.0, 205.0])
        colour = colour + rng.normal(0, 10, 3)
        if behind:  # only where no object or wire has been painted
            mask &= self.depth[ys, xs] == 0
        self.image[ys, xs][mask] = colour.astype(np.float32)

    # -- objects ---------------------------------------------------------------------
    def _shape(self, kind: int, scene: int) -> None:
        rng, s = self.rng, self.size
        # Log-uniform radius: a few pixels to most of the image (multi-scale objects).
        r = float(np.exp(rng.uniform(np.log(3.0 * self.scale), np.log(0.45 * s))))
        cy, cx = rng.uniform(-0.1 * s, 1.1 * s, 2)
        ys, xs = self._window(cy, cx, r)
        yy, xx = self.yy[ys, xs] - cy, self.xx[ys, xs] - cx
        if kind == BALL:
            mask = yy**2 + xx**2 <= r**2
            shade = 1.0 - 0.35 * np.clip((yy + xx) / (1.4 * r), -1, 1)  # lit from top left
        elif kind == BOX:
            angle = rng.uniform(0, np.pi)
            u = xx * np.cos(angle) + yy * np.sin(angle)
            v = -xx * np.sin(angle) + yy * np.cos(angle)
            mask = (np.abs(u) <= r * 0.75) & (np.abs(v) <= r * 0.75 * rng.uniform(0.45, 1.0))
            shade = np.ones_like(u)
        elif kind == STAR:
            points, phase = int(rng.integers(4, 7)), rng.uniform(0, 2 * np.pi)
            theta = np.arctan2(yy, xx)
            reach = r * (0.35 + 0.65 * (0.5 + 0.5 * np.cos(points * theta + phase)) ** 2)
            mask = np.hypot(yy, xx) <= reach
            shade = np.ones_like(theta)
        else:  # the triangle: a sail at sea, a tent on land, from one distribution
            kind = SAIL if scene == SEA else TENT
            self.triangles.append((cy, cx, r))
            half_width = r * rng.uniform(0.45, 0.9)
            tilt = rng.uniform(-0.25, 0.25)
            u = xx + tilt * yy  # (h, w) sheared so that the apex leans
            # Apex at (-r, 0), base from (r, -half_width) to (r, +half_width).
            mask = (yy <= r) & (np.abs(u) <= half_width * (yy + r) / (2 * r))
            shade = 1.0 - 0.2 * (u > 0)  # one side in shadow
        colour = self._colour(SAIL if kind in (SAIL, TENT) else kind)
        texture = self._texture(yy, xx)
        pixels = colour * (shade * texture)[..., None]  # (h, w, 3)
        self._put(ys, xs, mask, pixels, kind)

    def _wire(self) -> None:
        """A straight wire, 1.5 to 4.5 pixels wide (times ``scale``), across much of the scene
        (thin structure)."""
        rng, s = self.rng, self.size
        (y0, x0), (y1, x1) = rng.uniform(-0.2 * s, 1.2 * s, (2, 2))
        width = float(rng.choice([1.5, 2.5, 3.5, 4.5])) * self.scale
        ys = slice(max(int(min(y0, y1) - width), 0), min(int(max(y0, y1) + width) + 2, s))
        xs = slice(max(int(min(x0, x1) - width), 0), min(int(max(x0, x1) + width) + 2, s))
        if ys.start >= ys.stop or xs.start >= xs.stop:
            return
        py, px = self.yy[ys, xs] - y0, self.xx[ys, xs] - x0
        dy, dx = y1 - y0, x1 - x0
        t = np.clip((py * dy + px * dx) / max(dy * dy + dx * dx, 1e-6), 0, 1)
        mask = np.hypot(py - t * dy, px - t * dx) <= width / 2
        pixels = np.broadcast_to(self._colour(WIRE), mask.shape + (3,))
        self._put(ys, xs, mask, pixels, WIRE)

    def _colour(self, kind: int) -> np.ndarray:
        rng = self.rng
        if kind != WIRE and rng.random() < 0.1:  # an arbitrary colour: shape must decide
            return rng.uniform(30, 230, 3)
        return np.asarray(_CLASS_RGB[kind]) + rng.normal(0, 18, 3)

    def _texture(self, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        """A multiplicative texture around 1: flat, stripes, checks or grain."""
        rng = self.rng
        mode = rng.integers(4)
        if mode == 0:
            return np.ones_like(yy)
        period, angle = rng.uniform(3, 10) * self.scale, rng.uniform(0, np.pi)
        if mode == 1:
            phase = (xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period)
            return 1.0 + 0.18 * np.sin(phase)
        if mode == 2:
            checks = (np.floor(xx / period) + np.floor(yy / period)) % 2
            return 1.0 + 0.15 * (2 * checks - 1)
        grain = rng.normal(0, 0.12, yy.shape).astype(np.float32)
        if self.scale > 1:  # cells of ``scale`` pixels: the same draws, each shown larger
            rows, cols = (np.arange(n) / self.scale for n in yy.shape)
            grain = grain[rows.astype(np.int64)][:, cols.astype(np.int64)]
        return 1.0 + grain

    # -- helpers ---------------------------------------------------------------------
    def _window(self, cy: float, cx: float, r: float) -> tuple[slice, slice]:
        """The slices of the image inside the box of half-side ``r`` around (cy, cx)."""
        s = self.size
        y0, y1 = max(int(np.floor(cy - r)) - 1, 0), min(int(np.ceil(cy + r)) + 2, s)
        x0, x1 = max(int(np.floor(cx - r)) - 1, 0), min(int(np.ceil(cx + r)) + 2, s)
        return slice(y0, max(y1, y0)), slice(x0, max(x1, x0))

    def _put(self, ys: slice, xs: slice, mask: np.ndarray, pixels: np.ndarray, kind: int) -> None:
        """Paint ``pixels`` where ``mask`` holds, in front of everything painted so far."""
        if not mask.any():
            return
        self.layer += 1
        self.image[ys, xs][mask] = pixels[mask]
        self.label[ys, xs][mask] = kind
        self.depth[ys, xs][mask] = self.layer


@lru_cache(maxsize=8)
def upsampling_matrix(size: int, cells: int) -> np.ndarray:
    """``(size, cells)`` weights of bilinear interpolation from ``cells`` points to ``size``."""
    position = np.clip((np.arange(size) + 0.5) * cells / size - 0.5, 0, cells - 1)
    low = np.minimum(np.floor(position).astype(np.int64), cells - 2)
    frac = position - low
    weights = np.zeros((size, cells))
    weights[np.arange(size), low] = 1 - frac
    weights[np.arange(size), low + 1] = frac
    return weights


def ignore_band(label: np.ndarray, depth: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width`` (chessboard distance) of a different class painted in front.

    Marking only the side that lies behind keeps every object's own pixels labelled,
    so even a 1-pixel wire keeps its class while its surroundings become 255.
    """
    h, w = label.shape
    pad_label = np.pad(label, width, mode="edge")
    pad_depth = np.pad(depth, width, mode="edge")
    band = np.zeros((h, w), dtype=bool)
    for dy in range(-width, width + 1):
        for dx in range(-width, width + 1):
            if dy == 0 and dx == 0:
                continue
            near_label = pad_label[width + dy : width + dy + h, width + dx : width + dx + w]
            near_depth = pad_depth[width + dy : width + dy + h, width + dx : width + dx + w]
            band |= (near_depth > depth) & (near_label != label)
    return band
