"""Inference on image files: a label PNG and a colour overlay for each (Sec. 4.3).

``predict_files(checkpoint, images, out)`` loads the network of a checkpoint, runs each whole
image through it (at any output stride, scales and flips, as :mod:`atrous.inference`), and
writes ``NAME.png``, the class index of every pixel as a palette PNG (the VOC format), and
``NAME_overlay.jpg``, the image blended with the class colours. Images are normalised by
the evaluation transform of :mod:`atrous.data`, as in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from atrous.checkpoint import load_model
from atrous.data.build import eval_transform
from atrous.data.palette import voc_palette
from atrous.data.transforms import normalize
from atrous.inference import predict_labels


def overlay(
    image: np.ndarray, label: np.ndarray, palette: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """The image blended with the colour of each pixel's class: uint8 (H, W, 3)."""
    colours = palette[np.clip(label, 0, len(palette) - 1)].astype(np.float32)
    return (alpha * colours + (1 - alpha) * image.astype(np.float32)).round().astype(np.uint8)


def label_png(label: np.ndarray, palette: np.ndarray) -> Image.Image:
    """Class indices (H, W) as a palette ("P" mode) PNG image, VOC's label format."""
    png = Image.fromarray(label.astype(np.uint8), mode="P")
    full = voc_palette()
    full[: min(len(palette), 256)] = palette[:256]
    png.putpalette(full.flatten().tolist())
    return png


def predict_files(
    checkpoint: str | Path,
    images: Sequence[str | Path],
    out: str | Path,
    *,
    output_stride: int | None = None,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    device: str = "cpu",
) -> list[Path]:
    """Segment every image file; returns the label PNGs written into ``out``."""
    if not images:
        raise ValueError("images: give at least one image file")
    missing = [str(p) for p in images if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"image file(s) not found: {', '.join(missing)}")
    model, state = load_model(checkpoint, map_location=device)
    if output_stride is not None:
        model.set_output_stride(model.config.check_output_stride(output_stride, "--output-stride"))
    palette = np.asarray(state.get("meta", {}).get("palette", voc_palette()), dtype=np.uint8)
    if len(palette) < model.config.num_classes:
        palette = voc_palette()
    transform = eval_transform()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in map(Path, images):
        image = np.asarray(Image.open(path).convert("RGB"))  # (H, W, 3) uint8
        x = normalize(image, transform.mean, transform.std)  # (3, H, W), as in evaluation
        label = predict_labels(model, x.unsqueeze(0).to(device), scales, flip)[0].cpu().numpy()
        target = out / f"{path.stem}.png"
        label_png(label, palette).save(target)
        Image.fromarray(overlay(image, label, palette)).save(out / f"{path.stem}_overlay.jpg")
        written.append(target)
    return written
