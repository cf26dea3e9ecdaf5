"""Inference on image files: a label PNG and a colour overlay for each (Sec. 4.3).

``predict_files(checkpoint, images, out)`` loads the network of a checkpoint, runs each whole
image through it (at any output stride, scales and flips, as :mod:`atrous.inference.strategy`), and
writes into the folder ``out``, for an input ``photo.jpg``:

- ``photo.png``: the class index of every pixel, as a palette PNG (PASCAL VOC's label
  format: the values are the classes, the palette only draws them);
- ``photo_overlay.jpg``: the image blended half and half with the class colours.

Images of any PIL mode are converted to RGB (16-bit images scaled from their full 16-bit
range, :func:`atrous.data.files.to_rgb`) and turned as viewers show them (EXIF orientation);
they are normalised by the evaluation transform of :mod:`atrous.data`, as in training, and
run in the given precision (``auto`` on the command line: bf16 on CPUs with native bf16).
Every input is read and every output path checked *before* anything is written: a corrupt
image, an output that would replace an input, two inputs with one output name (``a/x.jpg``
and ``b/x.png``) or an existing output (without ``overwrite``) stop the command with an
:class:`~atrous.base.errors.AtrousError` naming the files, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from atrous.base.device import select_device
from atrous.base.errors import AtrousError, AtrousFileNotFoundError
from atrous.base.outputs import check_output_dir, plan_outputs
from atrous.base.precision import resolve_precision
from atrous.data.files import read_photo
from atrous.data.palette import full_palette, voc_palette
from atrous.data.transforms import normalize
from atrous.inference.strategy import predict_labels
from atrous.model.checkpoint import load_model
from atrous.recipe.datasets import eval_transform


def overlay(
    image: np.ndarray, label: np.ndarray, palette: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """The image blended with the colour of each pixel's class: uint8 (H, W, 3)."""
    colours = palette[np.clip(label, 0, len(palette) - 1)].astype(np.float32)
    return (alpha * colours + (1 - alpha) * image.astype(np.float32)).round().astype(np.uint8)


def label_png(label: np.ndarray, palette: np.ndarray) -> Image.Image:
    """Class indices (H, W) as a palette ("P" mode) PNG image, VOC's label format."""
    png = Image.fromarray(label.astype(np.uint8), mode="P")
    png.putpalette(full_palette(palette).flatten().tolist())
    return png


def output_paths(image: str | Path, out: str | Path) -> list[Path]:
    """The files written for ``image``: ``out/STEM.png`` and ``out/STEM_overlay.jpg``."""
    stem = Path(image).stem
    return [Path(out) / f"{stem}.png", Path(out) / f"{stem}_overlay.jpg"]


def _check_readable(paths: list[Path]) -> None:
    """Decode every image once, keeping none of them (a long list of photos would not fit in
    memory): one AtrousError naming every file that is missing or unreadable."""
    errors = []
    for path in paths:
        try:
            read_photo(path)
        except AtrousError as error:
            errors.append(error)
    if errors:
        missing = all(isinstance(e, AtrousFileNotFoundError) for e in errors)
        raise (AtrousFileNotFoundError if missing else AtrousError)(
            f"{len(errors)} of {len(paths)} images cannot be segmented (nothing was written):"
            "\n  " + "\n  ".join(map(str, errors))
        )


def _check_backend(backend: str, precision: str) -> None:
    """AtrousError naming ``--backend`` if it is unknown, or ``--precision`` and ``--backend``
    if the precision is one the backend would ignore (an ONNX export runs in fp32)."""
    if backend not in ("torch", "onnxruntime"):
        raise AtrousError(f"--backend must be 'torch' or 'onnxruntime', got {backend!r}")
    if backend == "onnxruntime" and precision not in ("fp32", "auto"):
        raise AtrousError(
            f"--precision {precision} does not apply to --backend onnxruntime: an ONNX export "
            f"runs in fp32 (ONNX Runtime's CPU provider has no bf16 convolution); give "
            f"--precision fp32 or auto, or --backend torch with the checkpoint"
        )


def predict_files(
    checkpoint: str | Path,
    images: Sequence[str | Path],
    out: str | Path,
    *,
    output_stride: int | None = None,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    device: str = "cpu",
    overwrite: bool = False,
    precision: str = "fp32",
    backend: str = "torch",
) -> list[Path]:
    """Segment every image file into ``out``; returns the label PNGs written.

    Nothing is written unless every image can be read and every output path is free
    (``overwrite`` replaces existing outputs, never an input). With ``backend="onnxruntime"``,
    ``checkpoint`` is an ONNX export, run in fp32 (``precision`` fp32 or auto).
    """
    if not images:
        raise AtrousError("images: give at least one image file")
    _check_backend(backend, precision)
    paths = [Path(p) for p in images]
    out = check_output_dir(out, "--out")
    targets = [output_paths(p, out) for p in paths]
    plan_outputs(paths, targets, "--out", overwrite)
    _check_readable(paths)
    torch_device = select_device(device, option="--device")
    precision = resolve_precision(precision, torch_device, "--precision")
    if backend == "onnxruntime":  # an exported model: check the export on your photos
        from atrous.inference.onnx import OnnxModel

        if output_stride is not None:
            raise AtrousError("--output-stride is fixed in an ONNX export; export another")
        model, precision = OnnxModel(checkpoint), "fp32"
        state = {"meta": model.meta}
    else:
        model, state = load_model(checkpoint, map_location=torch_device)
    if output_stride is not None:
        model.set_output_stride(model.config.check_output_stride(output_stride, "--output-stride"))
    palette = np.asarray(state.get("meta", {}).get("palette", voc_palette()), dtype=np.uint8)
    if model.config is not None and len(palette) < model.config.num_classes:
        palette = voc_palette()
    transform = eval_transform()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, (png_path, overlay_path) in zip(paths, targets, strict=True):
        image = read_photo(path)  # decoded again: checked above, not kept
        x = normalize(image, transform.mean, transform.std)  # (3, H, W), as in evaluation
        x = x.unsqueeze(0).to(torch_device)
        label = predict_labels(model, x, scales, flip, precision=precision)[0]
        label = label.cpu().numpy()
        label_png(label, palette).save(png_path)
        Image.fromarray(overlay(image, label, palette)).save(overlay_path)
        written.append(png_path)
    return written
