"""The page "In your browser" in headless Chromium, held to ``python -m atrous predict``.

The page (``docs/src/in-your-browser.md`` and ``.mjs``) runs the committed network
(``docs/demo-network.safetensors``), exported to ONNX at build time, with ONNX Runtime Web.

- The committed network is current: trained with today's demo recipe and scenes, else the
  test fails naming the file and the commands that make it again (the build only logs it).
- The val scenes the page offers hold three or more classes each, and the network's mIOU
  on each, in Python with the demo's strategy, is at least 60.
- The test server answers ``.mjs`` as JavaScript and ``.wasm`` as ``application/wasm``
  (browsers refuse an ES module of another type).
- In Chromium, the page is given an image this test draws (through the file input, as a
  reader gives one) and two of its val scenes, at output strides 8 and 16 and with the
  paper's six scales and flips, and each label map it computes must agree with ``predict``
  of the committed file with the same settings (fp32) on at least 99.5% of the pixels. The
  file's weights are fp16 values; Python loads them as fp32, and the graphs cast them to
  fp32, so both compute in fp32 with the same numbers: they differ in the order of
  operations only, so that only a pixel where two classes tie to about 1e-6 can differ. The
  page must report the model runs it made (scales x flips) and log no console error.
- Bad input is named: a file that is not an image, an image too small for a scale.
- The first prediction of a fresh page (no browser cache) comes within a bound, and the
  bytes it loaded are printed (``-s``): the numbers of ``docs/README.md``.

The site is the one ``tests/test_docs_browser.py`` opens (its fixtures are used here):
``make docs``'s when fresh (``tests/test_docs.py`` builds it in ``make test``), else built.
Without Chromium, chromedriver, selenium, mkdocs or ONNX Runtime Web in the site
(``npm ci``), the browser tests skip, except under ``CI=true``, where they fail.
``DOCS_SCREENSHOTS=DIR`` saves the page as ``DIR/browser-demo.png``.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import tests.test_docs_browser as docs_browser
from atrous import DeepLabV3, get_preset
from atrous.base.errors import AtrousError
from atrous.browser_demo import (
    SCENES,
    demo_config,
    page_scenes,
    read_provenance,
    staleness,
    write_small_network,
)
from atrous.cli import main
from atrous.data.transforms import normalize
from atrous.inference.strategy import predict_labels
from atrous.model.checkpoint import load_model, save_checkpoint
from atrous.recipe.datasets import eval_transform
from docs import in_your_browser
from reference.metric import confusion_matrix, mean_iou

NETWORK = in_your_browser.NETWORK
PAGE = "in-your-browser/"
#: The settings compared with predict: name -> (output stride, the page's scales, flips).
SETTINGS = {"os8": (8, "one", False), "os16": (16, "one", False),
            "os8-paper-scales-flips": (8, "paper", True)}  # fmt: skip
PAPER = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
SCALES = {"one": (1.0,), "paper": PAPER}
#: A fresh page's first prediction (six runs at output stride 4 on one thread) must come
#: within this many seconds of the navigation.
FIRST_PREDICTION_S = 60

# The browser, the server and the site of tests/test_docs_browser.py (module-scoped there,
# so one of each for this module too).
site = docs_browser.site
base_url = docs_browser.base_url
driver = docs_browser.driver
torch.set_num_threads(1)


# --- in Python --------------------------------------------------------------------------------


def test_the_committed_network_is_current() -> None:
    stale = staleness(NETWORK)
    assert not stale, (
        f"{NETWORK.relative_to(in_your_browser.ROOT)} is older than the demo's recipe: "
        + "; ".join(stale)
        + ". Train it again and store it: `taskset -c 0 env OMP_NUM_THREADS=1 python -m atrous "
        "demo --run-dir runs/browser-demo` then `python -m atrous browser-network "
        "runs/browser-demo --overwrite` (docs/src/in-your-browser.md)"
    )


def test_the_committed_network_is_small_and_records_its_provenance() -> None:
    assert NETWORK.stat().st_size < 4 * 2**20
    p = read_provenance(NETWORK)
    assert {"command", "commit", "cpu", "miou", "recipe_hash", "data_hash"} <= p.keys()
    assert p["evaluated"]["images"] == 500 and p["miou"] >= 60


@pytest.mark.slow
def test_the_pages_scenes_hold_three_classes_and_score_60() -> None:
    model, _ = load_model(NETWORK)
    e = read_provenance(NETWORK)["evaluated"]  # the demo's strategy
    model.set_output_stride(e["output_stride"])
    t = eval_transform()
    for index, image, label in page_scenes():
        classes = set(np.unique(label).tolist()) - {255}
        assert len(classes) >= 3, f"val scene {index} holds {sorted(classes)}"
        x = normalize(image, t.mean, t.std).unsqueeze(0)
        pred = predict_labels(model, x, e["scales"], e["flip"])[0].numpy()
        miou = 100 * mean_iou(confusion_matrix(pred, label, model.config.num_classes))
        assert miou >= 60, f"val scene {index}: mIOU {miou:.1f} < 60"


def test_bad_input_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AtrousError, match="scene indices \\[9999\\]"):
        page_scenes((SCENES[0], 9999))
    other = tmp_path / "w.safetensors"
    other.write_bytes(b"not a safetensors file")
    with pytest.raises(AtrousError, match="w.safetensors' holds no provenance"):
        read_provenance(other)
    with pytest.raises(SystemExit) as exit_info:
        main(["browser-network", str(tmp_path / "no-run"), "--out", str(tmp_path / "n.st")])
    assert exit_info.value.code == 2
    assert "no-run' does not exist" in capsys.readouterr().err
    config = dataclasses.replace(demo_config(), train=dataclasses.replace(
        demo_config().train, iterations=10))  # another recipe  # fmt: skip
    model = DeepLabV3(get_preset("tiny", num_classes=7))
    run = save_checkpoint(tmp_path / "other" / "checkpoint.pt", {
        "model": model.state_dict(), "network": dataclasses.asdict(model.config),
        "config": config.to_dict(), "meta": {}})  # fmt: skip
    with pytest.raises(AtrousError, match="was not trained with today's demo recipe"):
        write_small_network(run, tmp_path / "small.safetensors", command="-")


# --- the site's server ------------------------------------------------------------------------


def _site_with_runtime(site: Path) -> Path:
    """The page's folder in ``site``; skip (fail under CI) without ONNX Runtime Web in it."""
    folder = site / "in-your-browser"
    docs_browser._require((folder / "ort" / in_your_browser.RUNTIME_FILES[-1]).is_file(),
                          "ONNX Runtime Web in the built site (npm ci, then build it)")  # fmt: skip
    return folder


def test_the_server_gives_modules_and_wasm_their_types(site: Path, base_url: str) -> None:
    _site_with_runtime(site)
    wanted = {"in-your-browser.mjs": "text/javascript",
              "in-your-browser/ort/ort.wasm.min.mjs": "text/javascript",
              "in-your-browser/ort/ort-wasm-simd-threaded.mjs": "text/javascript",
              "in-your-browser/ort/ort-wasm-simd-threaded.wasm": "application/wasm"}  # fmt: skip
    for path, kind in wanted.items():  # HEAD: the headers without the 14 MB of the binary
        request = urllib.request.Request(base_url + path, method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            assert response.headers.get_content_type() == kind, path


# --- in the browser ---------------------------------------------------------------------------

# Set the controls, then trigger a prediction (`trigger` is "input": the input's change event;
# anything else: nothing, the caller sends a file) and wait until the page settles.
SET_AND_WAIT = """
const [values, trigger, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const api = window.atrousNetwork;
const before = api.state.done;
for (const [id, value] of Object.entries(values)) {
  const control = document.getElementById(id);
  if (control.type === "checkbox") control.checked = value; else control.value = String(value);
}
if (trigger === "input") document.getElementById("net-input").dispatchEvent(new Event("change"));
const started = performance.now();
(async () => {
  while (api.state.done === before || api.state.busy || api.state.choosing) {
    if (performance.now() - started > 120000) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  done({status: document.getElementById("net-status").dataset.state, error: api.state.error,
        text: document.getElementById("net-status").textContent, last: api.last(),
        runs: document.getElementById("net-runs").textContent});
})();
"""

WAIT_FOR_DONE = """
const done = arguments[arguments.length - 1];
const api = window.atrousNetwork;
const started = performance.now();
(async () => {
  while (!api || api.state.done < 1 || api.state.busy || api.state.choosing) {
    if (api && api.state.error) break;
    if (performance.now() - started > 120000) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  done({status: document.getElementById("net-status").dataset.state, error: api.state.error,
        first: api.state.firstPrediction, weight: api.weight(), last: api.last()});
})();
"""


def _severe(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.fixture(scope="module")
def page(site: Path, driver: Any, base_url: str) -> Any:
    """The page, loaded without the browser's cache, after its first prediction; the first
    prediction's time and the bytes loaded are attached as ``page.first``."""
    _site_with_runtime(site)
    driver.set_script_timeout(180)
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    log = docs_browser._open(driver, base_url + PAGE)
    first = driver.execute_async_script(WAIT_FOR_DONE)
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
    errors = [e["message"] for e in log if e["level"] == "SEVERE"] + _severe(driver)
    assert not errors, f"console errors: {errors}"
    assert first["status"] == "done", first
    driver.first = first
    return driver


@pytest.mark.slow
def test_the_first_prediction_and_the_page_weight(page: Any) -> None:
    first, demo = page.first, read_provenance(NETWORK)["evaluated"]
    last = first["last"]
    assert (int(last["stride"]), last["scales"], last["flip"]) == (
        demo["output_stride"], demo["scales"], demo["flip"])  # the demo's strategy  # fmt: skip
    print(f"\nfirst prediction {first['first'] / 1000:.2f} s after navigation "
          f"({last['runs']} model runs, {last['ms']:.0f} ms of them); "
          f"page weight {first['weight'] / 2**20:.2f} MiB")  # fmt: skip
    assert first["first"] / 1000 < FIRST_PREDICTION_S
    assert 10 * 2**20 < first["weight"] < 25 * 2**20  # the runtime, one graph, the page


def _drawn_image(path: Path) -> Path:
    """An image this test draws: 110 x 150, a smooth background, discs and boxes."""
    y, x = np.mgrid[0:110, 0:150]
    image = np.stack([60 + x, 90 + y // 2, 140 - x // 3], axis=-1).astype(np.float64)
    for (cy, cx, r), colour in zip([(30, 40, 14), (70, 110, 20)], [(220, 40, 40), (40, 40, 200)],
                                   strict=True):  # fmt: skip
        image[(y - cy) ** 2 + (x - cx) ** 2 <= r * r] = colour
    image[75:100, 20:60] = (230, 230, 60)
    image[10:16, :] = (20, 20, 20)  # a wire
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
    return path


def _predict(images: list[Path], out: Path, stride: int, scales: tuple[float, ...],
             flip: bool) -> dict[str, np.ndarray]:  # fmt: skip
    """``python -m atrous predict`` of the committed network: each image's label map."""
    args = ["predict", str(NETWORK), *map(str, images), "--out", str(out), "--precision", "fp32",
            "--output-stride", str(stride), "--scales", *map(str, scales)]  # fmt: skip
    assert main(args + (["--flip"] if flip else [])) == 0
    return {p.name: np.asarray(Image.open(out / f"{p.stem}.png")) for p in images}


@pytest.mark.slow
def test_the_page_agrees_with_predict(page: Any, site: Path, tmp_path: Path) -> None:
    folder = _site_with_runtime(site)
    drawn = _drawn_image(tmp_path / "drawn.png")
    scenes = {}  # the PNGs the page loaded, as files for predict
    for i, index in enumerate(SCENES[:2]):
        scenes[i] = tmp_path / f"val-{index}.png"
        scenes[i].write_bytes((folder / "scenes" / f"val-{index}.png").read_bytes())
    for name, (stride, scales, flip) in SETTINGS.items():
        want = _predict([drawn, *scenes.values()], tmp_path / name, stride, SCALES[scales], flip)
        controls = {"net-os": stride, "net-scales": scales, "net-flip": flip}
        shown = {}
        for i, path in scenes.items():
            shown[path.name] = page.execute_async_script(
                SET_AND_WAIT, {**controls, "net-input": i}, "input"
            )
        shown[drawn.name] = _send_file(page, drawn, controls)
        for image, result in shown.items():
            assert result["status"] == "done", (name, image, result["text"])
            last = result["last"]
            runs = len(SCALES[scales]) * (2 if flip else 1)
            assert last["runs"] == runs and result["runs"] == str(runs), (name, image)
            got = np.asarray(last["labels"], dtype=np.uint8).reshape(last["height"], last["width"])
            agree = float(np.mean(got == want[image]))
            print(f"{name}, {image}: the page and predict agree on {agree:.4%} of the pixels")
            assert agree >= 0.995, f"{name}, {image}: the page and predict agree on {agree:.4%}"
    assert not _severe(page), "console errors"
    if os.environ.get("DOCS_SCREENSHOTS"):
        _screenshot(page, Path(os.environ["DOCS_SCREENSHOTS"]) / "browser-demo.png")


def _screenshot(page: Any, path: Path) -> None:
    """The page on its first scene at the demo's strategy, saved at ``path``."""
    demo = {"net-os": 4, "net-scales": "demo", "net-flip": True, "net-input": 0}
    page.execute_async_script(SET_AND_WAIT, demo, "input")
    path.parent.mkdir(parents=True, exist_ok=True)
    height = page.execute_script("return document.documentElement.scrollHeight")
    page.set_window_size(1280, min(height, 2400))
    page.save_screenshot(str(path))
    page.set_window_size(1280, 1000)


def _send_file(page: Any, path: Path, controls: dict[str, Any]) -> dict[str, Any]:
    """Give the page the file ``path`` as a reader does (the file input), with ``controls``
    set first; the page's answer once it settles."""
    page.execute_script(
        "document.getElementById('net-input').value = 'file';"
        "document.getElementById('net-file-label').hidden = false;"
        "for (const [id, v] of Object.entries(arguments[0])) { const c = "
        "document.getElementById(id); if (c.type === 'checkbox') c.checked = v; "
        "else c.value = String(v); }"
        "window.atrousNetworkBefore = window.atrousNetwork.state.done;"
        "document.getElementById('net-file').value = '';",
        controls,
    )
    page.find_element("id", "net-file").send_keys(str(path))
    return page.execute_async_script(
        "const done = arguments[arguments.length - 1]; const api = window.atrousNetwork;"
        "(async () => { while (api.state.done === window.atrousNetworkBefore || api.state.busy"
        " || api.state.choosing) await new Promise((r) => setTimeout(r, 20));"
        "done({status: document.getElementById('net-status').dataset.state, error: "
        "api.state.error, text: document.getElementById('net-status').textContent, "
        "last: api.last(), runs: document.getElementById('net-runs').textContent}); })();"
    )


@pytest.mark.slow
def test_bad_files_are_named_on_the_page(page: Any, tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    result = _send_file(page, text, {})
    assert result["status"] == "error" and "notes.png could not be read" in result["error"]
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(small)
    result = _send_file(page, small, {"net-scales": "paper", "net-os": 8})
    assert result["status"] == "error" and "at scale 0.5" in result["error"], result
    assert not _severe(page), "console errors"
