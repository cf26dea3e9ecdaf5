"""The files of the page "In your browser" (``docs/src/in-your-browser.md``), made at build time.

``docs/hooks.py`` adds them to the site under ``in-your-browser/``:

- ``models/os{4,8,16,32}.onnx``: the committed network (:data:`NETWORK`, the small form of
  ``make demo``'s checkpoint) exported by :func:`atrous.browser_demo.export_page_graph` at each
  output stride, with the same weights. The exports are kept in :data:`CACHE` under a key
  that hashes the network and the code that exports it, so that a build exports again only
  when one of them changed (the first build of a fresh clone exports all four);
- ``ort/``: ONNX Runtime Web's WASM build, only the files the page loads
  (:data:`RUNTIME_FILES`), from ``node_modules`` (``npm ci`` installs the version that
  ``package-lock.json`` pins). Without them the page builds and says that they are missing;
  the browser test fails on it under ``CI=true``;
- ``scenes/val-N.png`` and ``manifest.json``: the val scenes the page offers, the classes,
  their colours, each output stride's rates and what the network file records of itself.

The provenance of the network is rendered where the page says ``<!-- network-provenance -->``.
A network older than the demo's recipe does not fail the build (a strict build would turn a
warning into a failure); ``tests/test_docs_in_your_browser.py`` says so by name.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The committed network: ``python -m atrous browser-network`` (see the page).
NETWORK = ROOT / "docs" / "demo-network.safetensors"
#: ONNX Runtime Web's browser builds, as ``npm ci`` installs them.
RUNTIME = ROOT / "node_modules" / "onnxruntime-web"
#: What the page loads of it: the WASM-only ES module, its Emscripten glue and the WASM binary.
RUNTIME_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
#: The exported graphs, by key (gitignored: docs/_executed).
CACHE = ROOT / "docs" / "_executed" / "in-your-browser"
#: The page's folder in the site.
FOLDER = "in-your-browser"
PROVENANCE_MARKER = "<!-- network-provenance -->"
#: The code whose change changes the graphs: part of the cache key.
_EXPORT_CODE = ("atrous/browser_demo.py", "atrous/export.py", "atrous/model",
                "atrous/data/transforms.py")  # fmt: skip
log = logging.getLogger("mkdocs.hooks.atrous")


def runtime_version() -> str | None:
    """The installed onnxruntime-web's version, or None without ``npm ci``."""
    package = RUNTIME / "package.json"
    if not all((RUNTIME / "dist" / name).is_file() for name in RUNTIME_FILES):
        return None
    return json.loads(package.read_text(encoding="utf-8"))["version"]


def cache_key(network: Path = NETWORK) -> str:
    """16 hex digits of SHA-256 over the network file, the exporting code and the versions of
    torch, onnx and onnxscript."""
    h = hashlib.sha256(network.read_bytes())
    for name in _EXPORT_CODE:
        path = ROOT / name
        for file in sorted([path] if path.is_file() else path.rglob("*.py")):
            h.update(str(file.relative_to(ROOT)).encode() + file.read_bytes())
    for package in ("torch", "onnx", "onnxscript"):
        h.update(f"{package}=={metadata.version(package)}".encode())
    return h.hexdigest()[:16]


def graphs(network: Path = NETWORK, cache: Path = CACHE) -> dict[int, Path]:
    """The page's ONNX graph of each output stride, exported now if not in ``cache``."""
    from atrous.browser_demo import STRIDES, export_page_graph

    folder = cache / cache_key(network)
    paths = {s: folder / f"os{s}.onnx" for s in STRIDES}
    missing = [s for s, path in paths.items() if not path.is_file()]
    for stride in missing:
        log.info("exporting the network of the page 'In your browser' at output stride %d "
                 "(once; kept in %s)", stride, folder)  # fmt: skip
        export_page_graph(network, stride, paths[stride])
    if missing:  # earlier keys' exports are not needed again
        for old in cache.iterdir():
            if old.is_dir() and old != folder:
                shutil.rmtree(old, ignore_errors=True)
    return paths


def _png(image: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def manifest(network: Path, models: dict[int, str], runtime: str | None) -> tuple[dict, dict]:
    """What the page reads (``manifest.json``), and the scenes' PNG files (uri -> bytes)."""
    import numpy as np

    from atrous.base.scales import PAPER_SCALES
    from atrous.browser_demo import page_scenes, read_provenance
    from atrous.data.palette import IGNORE_COLOUR
    from atrous.model.backbone import block_plans
    from atrous.model.checkpoint import load_model

    model, state = load_model(network)
    config, meta = model.config, state.get("meta", {})
    names = list(meta.get("class_names") or range(config.num_classes))
    palette = [list(map(int, c)) for c in meta["palette"][: config.num_classes]]
    pngs, scenes = {}, []
    for index, image, label in page_scenes():
        uri = f"scenes/val-{index}.png"
        pngs[uri] = _png(image)
        present = [names[c] for c in np.unique(label) if c < len(names)]
        packed = base64.b64encode(label.astype(np.uint8).tobytes()).decode()  # (H, W) uint8
        scenes.append({"index": index, "image": uri, "height": int(label.shape[0]),
                       "width": int(label.shape[1]), "classes": present,
                       "label": packed})  # fmt: skip
    strides = {
        str(s): {
            "model": uri,
            "blocks": {p.name: list(p.unit_rates) for p in block_plans(config, s)},
            "aspp": list(config.scaled_aspp_rates(s)),
        }
        for s, uri in models.items()
    }
    provenance = read_provenance(network)
    scales = {"one": [1.0], "demo": list(provenance["evaluated"]["scales"]),
              "paper": list(PAPER_SCALES)}  # fmt: skip
    loader = None if runtime is None else {"version": runtime, "module": f"ort/{RUNTIME_FILES[0]}"}
    page = {
        "classes": names, "palette": palette, "ignore": list(map(int, IGNORE_COLOUR)),
        "scenes": scenes, "strides": strides, "scales": scales,
        "multiGrid": list(config.multi_grid), "provenance": provenance, "runtime": loader,
    }  # fmt: skip
    return page, pngs


def site_files() -> dict[str, bytes | Path]:
    """Every file of the page's folder: uri (under the site's root) -> content or a file."""
    if not NETWORK.is_file():
        log.warning("%s is missing: the page 'In your browser' has no network "
                    "(python -m atrous browser-network)", NETWORK.relative_to(ROOT))  # fmt: skip
        return {}
    runtime = runtime_version()
    if runtime is None:
        log.info("onnxruntime-web is not installed (npm ci): the page 'In your browser' "
                 "will say that it cannot run")  # fmt: skip
    files: dict[str, bytes | Path] = {}
    models = {}
    for stride, path in graphs().items():
        models[stride] = f"models/os{stride}.onnx"
        files[f"{FOLDER}/{models[stride]}"] = path
    if runtime is not None:
        for name in RUNTIME_FILES:
            files[f"{FOLDER}/ort/{name}"] = RUNTIME / "dist" / name
    page, pngs = manifest(NETWORK, models, runtime)
    files.update({f"{FOLDER}/{uri}": content for uri, content in pngs.items()})
    files[f"{FOLDER}/manifest.json"] = json.dumps(page, separators=(",", ":")).encode()
    return files


def provenance_table(network: Path = NETWORK) -> str:
    """The committed network's provenance as a Markdown table."""
    from atrous.browser_demo import read_provenance

    p = read_provenance(network)
    e = p["evaluated"]
    scales = ", ".join(f"{s:g}" for s in e["scales"])
    iou = ", ".join(f"{name} {v:.1f}" for name, v in p["iou"].items() if v is not None)
    rows = [
        ("trained by", f"`{p['command']}` ({p['iterations']} iterations, {p['trained']})"),
        ("commit", f"`{p['commit']}` (checked out when it was stored)"),
        ("CPU", f"{p['cpu']}, torch {p['torch']}, Python {p['python']}"),
        ("mIOU", f"**{p['miou']:.2f}** on the {e['split']} split ({e['images']} scenes) at output "
                 f"stride {e['output_stride']}, scales {scales}, "
                 f"{'flips' if e['flip'] else 'no flips'}; weights {e['weights']}"),
        ("per class", iou),
        ("file", f"`docs/{network.name}`, {network.stat().st_size / 2**20:.1f} MiB (fp16), "
                 f"written {p['date']}; recipe {p['recipe_hash']}, scenes {p['data_hash']}"),
    ]  # fmt: skip
    return "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
