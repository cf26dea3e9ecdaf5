"""Inference on image files: a label PNG and a colour overlay for each (Sec. 4.3).

``predict_files(checkpoint, images, out)`` loads the network of a checkpoint, runs each whole
image through it (at any output stride, scales and flips, as :mod:`atrous.evaluate`), and
writes ``NAME.png``, the class index of every pixel as a palette PNG (the VOC format), and
``NAME_overlay.jpg``, the image blended with the class colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from atrous.checkpoint import load_model
from atrous.evaluate import predict_labels

#: ImageNet statistics on the 0-255 scale (the data package's defaults).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def voc_palette(num_classes: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: (num_classes, 3) uint8, class c's bits spread over RGB."""
    palette = np.zeros((num_classes, 3), dtype=np.uint8)
    for c in range(num_classes):
        value, r, g, b = c, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[c] = (r, g, b)
    return palette


def normalize(image: np.ndarray, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W), standardised like the training images."""
    x = (image.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))  # (3, H, W)


def overlay(image: np.ndarray, label: np.ndarray, palette: np.ndarray, alpha: float = 0.5):
    """The image blended with the colour of each pixel's class: uint8 (H, W, 3)."""
    colours = palette[np.clip(label, 0, len(palette) - 1)].astype(np.float32)
    return (alpha * colours + (1 - alpha) * image.astype(np.float32)).round().astype(np.uint8)


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
        model.set_output_stride(output_stride)
    meta = state.get("meta", {})
    palette = np.asarray(meta.get("palette", voc_palette()), dtype=np.uint8)
    if len(palette) < model.config.num_classes:
        palette = voc_palette()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in images:
        path = Path(path)
        image = np.asarray(Image.open(path).convert("RGB"))  # (H, W, 3) uint8
        x = normalize(image).unsqueeze(0).to(device)  # (1, 3, H, W)
        label = predict_labels(model, x, scales, flip)[0].cpu().numpy().astype(np.uint8)
        png = Image.fromarray(label, mode="P")
        full = np.zeros((256, 3), dtype=np.uint8)
        full[: len(palette)] = palette[:256]
        png.putpalette(full.flatten().tolist())
        target = out / f"{path.stem}.png"
        png.save(target)
        Image.fromarray(overlay(image, label, palette)).save(out / f"{path.stem}_overlay.jpg")
        written.append(target)
    return written
