"""The documentation site in a real browser: headless Chromium driven by Selenium.

The site of ``make docs`` (``docs/_build``) is used when it is newer than every source of it,
else the site is built into a temporary folder. A static HTTP server on 127.0.0.1 serves it
and Chromium opens the landing page, every chapter, an API page, the results, both
comparisons and the explorer. A page fails on any JavaScript console error (a SEVERE log,
which includes a resource that failed to load), on a link to the site or an image that does
not answer 200, and on an image that did not decode (``naturalWidth`` 0). Then the
explorer's controls are set to settings drawn by hypothesis, rates at and beyond the
feature-map size included, and every number it shows is held to :mod:`reference`; and the
explorer is opened by the URL of each chapter's link to it, whose query must set its
controls (and its own link to the view), and with no query, where it shows chapter 1's view.

Without Chromium, chromedriver, selenium or mkdocs the tests skip, except under ``CI=true``,
where they fail. ``DOCS_SCREENSHOTS=DIR`` saves a screenshot of each kind of page there (the
committed ones are in ``docs/screenshots``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urldefrag, urlsplit

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from docs import notebooks
from reference import coverage, receptive_field, valid_weight_counts, valid_weight_histogram
from tests.test_chapter_figures import explorer_links

ROOT = Path(__file__).resolve().parent.parent
BUILT = ROOT / "docs" / "_build"
#: What the site is built from: a build older than any of these is stale.
SOURCES = ("mkdocs.yml", "docs/src", "docs/hooks.py", "docs/griffe_rst.py", "docs/notebooks.py",
           "docs/_executed", "docs/chapters-executed", "chapters", "atrous", "reference",
           "results")  # fmt: skip
CHAPTERS = notebooks.chapters()
#: Every page to open: name -> path under the site's root.
PAGES = {
    "home": "",
    **{f"chapter-{c.stem}": f"chapters/{c.stem}/" for c in CHAPTERS},
    "api": "api/reference.valid_weights/",
    "results": "results/",
    "compare-paper": "compare-paper/",
    "compare-implementations": "compare-implementations/",
    "explorer": "explorer/",
}
#: One screenshot per kind of page: page name -> file name in DOCS_SCREENSHOTS.
SCREENSHOTS = {
    "home": "home",
    **({f"chapter-{CHAPTERS[0].stem}": "chapter"} if CHAPTERS else {}),
    **({f"chapter-{CHAPTERS[3].stem}": "chapter-figure"} if len(CHAPTERS) > 3 else {}),
    "api": "api",
    "results": "results",
    "compare-paper": "compare-paper",
    "compare-implementations": "compare-implementations",
    "explorer": "explorer",
}

#: A screenshot taken around one part of its page rather than from the top: page name -> the
#: CSS selector of what to centre (chapter 4's Fig. 5, drawn by the library, under ASPP's code).
SCREENSHOT_AT = {f"chapter-{c.stem}": ".celltag_figure-fig5" for c in CHAPTERS[3:4]}

pytestmark = pytest.mark.slow


def _require(ok: bool, what: str) -> None:
    """Skip without ``what``; under ``CI=true`` fail instead."""
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing, and CI=true requires the browser check of the docs")
    pytest.skip(f"{what} is missing")


def _chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)


# --- the site, served -----------------------------------------------------------------------------


def _newest_source() -> float:
    """The latest modification time of the site's sources (compiled bytecode aside)."""
    paths = [p for name in SOURCES for p in [ROOT / name, *(ROOT / name).rglob("*")]]
    return max(p.stat().st_mtime for p in paths if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built site: ``make docs``'s if fresh, else a strict build of our own."""
    _require(importlib.util.find_spec("mkdocs") is not None, "mkdocs")
    index = BUILT / "index.html"
    if index.is_file() and index.stat().st_mtime > _newest_source():
        return BUILT
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    return out


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """A static HTTP server on a free port of 127.0.0.1, serving ``site``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=site))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()
    server.server_close()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """Headless Chromium that keeps the browser console's log."""
    _require(importlib.util.find_spec("selenium") is not None, "selenium")
    chromium, chromedriver = _chromium(), shutil.which("chromedriver")
    _require(chromium is not None, "Chromium (Debian: apt-get install chromium)")
    _require(chromedriver is not None, "chromedriver (Debian: apt-get install chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    browser.set_page_load_timeout(60)
    yield browser
    browser.quit()


# --- every page -----------------------------------------------------------------------------------


_checked: dict[str, int] = {}  # URL -> HTTP status, shared by the pages


def _status(url: str) -> int:
    if url not in _checked:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                _checked[url] = response.status
        except urllib.error.HTTPError as error:
            _checked[url] = error.code
    return _checked[url]


def _open(driver: Any, url: str) -> list[dict[str, Any]]:
    """Load ``url``; return the console entries it logged."""
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (document.readyState === 'complete') done();"
        "else addEventListener('load', () => done());"
    )
    return driver.get_log("browser")


@pytest.mark.parametrize("name", list(PAGES))
def test_page(name: str, driver: Any, base_url: str) -> None:
    url = base_url + PAGES[name]
    log = _open(driver, url)
    errors = [entry["message"] for entry in log if entry["level"] == "SEVERE"]
    assert not errors, f"{url}: JavaScript console errors: {errors}"
    links = driver.execute_script(
        "return [...document.querySelectorAll('a[href]')].map(a => a.href)"
    )
    internal = sorted({urldefrag(link)[0] for link in links if link.startswith(base_url)})
    assert internal, f"{url}: no link to the site (the navigation is missing)"
    broken = [(link, _status(link)) for link in internal if _status(link) != 200]
    assert not broken, f"{url}: broken links: {broken}"
    images = driver.execute_script(
        "return [...document.images].map(i => [i.src, i.complete && i.naturalWidth > 0])"
    )
    undecoded = [src[:120] for src, ok in images if not ok]
    assert not undecoded, f"{url}: images that did not load: {undecoded}"
    missing = [(src, _status(src)) for src, _ in images
               if src.startswith(base_url) and _status(src) != 200]  # fmt: skip
    assert not missing, f"{url}: images that do not answer 200: {missing}"
    if name in SCREENSHOTS and os.environ.get("DOCS_SCREENSHOTS"):
        out = Path(os.environ["DOCS_SCREENSHOTS"])
        out.mkdir(parents=True, exist_ok=True)
        if name in SCREENSHOT_AT:
            driver.set_window_size(1280, 1500)
            centre = "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})"
            driver.execute_script(centre, SCREENSHOT_AT[name])
        else:
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1280, min(height, 2400))  # the whole page, up to a point
        driver.save_screenshot(str(out / f"{SCREENSHOTS[name]}.png"))
        driver.set_window_size(1280, 1000)


# --- the explorer against the oracle --------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    size: int
    kernel: int
    rate: int
    multi_grid: tuple[int, int, int]
    output_stride: int


@st.composite
def explorer_settings(draw: st.DrawFn) -> Setting:
    """Settings within the controls' ranges; a third of the rates at or past the map size."""
    size = draw(st.integers(1, 65))
    rate = draw(st.one_of(st.integers(1, size), st.just(size), st.integers(size, 3 * size + 1)))
    return Setting(
        size=size,
        kernel=draw(st.sampled_from((1, 3, 5, 7, 9, 15))),
        rate=rate,
        multi_grid=draw(st.tuples(*[st.integers(1, 8)] * 3)),
        output_stride=draw(st.sampled_from((4, 8, 16, 32))),
    )


# Sets every control, fires one "input" event each (the page updates synchronously), and
# returns what the page shows.
SET_AND_READ = """
const values = arguments[0];
for (const [id, value] of Object.entries(values)) {
  const control = document.getElementById(id);
  control.value = String(value);
  control.dispatchEvent(new Event("input", {bubbles: true}));
}
const text = (id) => document.getElementById(id).textContent;
return {
  values: Object.fromEntries(
    Object.keys(values).map((id) => [id, document.getElementById(id).value])),
  histogram: [...document.querySelectorAll("#vw-histogram tbody tr")].map((row) =>
    [row.dataset.valid, row.dataset.positions, row.querySelector(".fraction").textContent]),
  total: text("vw-total"),
  coverage: [text("cov-count"), text("cov-total"), text("cov-size"), text("cov-fraction")],
  rates: text("cov-rates"),
  rf: ["rf-cascade", "rf", "rf-image"].map((p) => [text(p + "-size"), text(p + "-jump")]),
};
"""


@pytest.fixture(scope="module")
def explorer(driver: Any, base_url: str) -> Any:
    log = _open(driver, base_url + PAGES["explorer"])
    assert not [entry for entry in log if entry["level"] == "SEVERE"], log
    return driver


@given(setting=explorer_settings())  # 25 settings under the ci profile (tests/conftest.py)
@example(setting=Setting(65, 3, 24, (1, 2, 4), 16))  # Fig. 4's map at an ASPP rate
@example(setting=Setting(9, 3, 9, (2, 2, 2), 8))  # the rate equal to the map: a 1x1 filter
@example(setting=Setting(7, 5, 40, (1, 1, 1), 32))  # far past the map
@example(setting=Setting(1, 15, 1, (8, 8, 8), 4))  # one pixel
def test_explorer_matches_reference(explorer: Any, setting: Setting) -> None:
    controls = {
        "explorer-size": setting.size,
        "explorer-kernel": setting.kernel,
        "explorer-rate": setting.rate,
        "explorer-os": setting.output_stride,
        **{f"explorer-mg{i + 1}": r for i, r in enumerate(setting.multi_grid)},
    }
    shown = explorer.execute_script(SET_AND_READ, controls)
    assert shown["values"] == {k: str(v) for k, v in controls.items()}, "a control refused"
    _assert_shows_the_reference(shown, setting)


def _assert_shows_the_reference(shown: dict[str, Any], setting: Setting) -> None:
    """Every number the explorer shows (``SET_AND_READ``'s answer) is the oracle's."""
    # (a) valid weights: the histogram of Fig. 4, as positions and as fractions
    expected = valid_weight_histogram(setting.size, setting.kernel, setting.rate)
    total = valid_weight_counts(setting.size, setting.kernel, setting.rate).size
    assert int(shown["total"]) == total
    assert [int(n) for n, _, _ in shown["histogram"]] == list(expected)
    for n, positions, fraction in shown["histogram"]:
        assert int(positions) / total == expected[int(n)]
        assert fraction == f"{expected[int(n)]:.6f}"

    # (b) gridding: block4's unit rates are multi-grid times its rate, 32 / output stride
    unit_rates = tuple(r * 32 // setting.output_stride for r in setting.multi_grid)
    assert shown["rates"] == f"({', '.join(map(str, unit_rates))})"
    mask = coverage(unit_rates)
    assert [int(v) for v in shown["coverage"][:3]] == [mask.sum(), mask.size, mask.shape[0]]
    assert shown["coverage"][3] == f"{np.mean(mask):.6f}"

    # (c) receptive field: the units; then the k x k filter; the same in image pixels
    cascade = [(3, 1, r) for r in unit_rates]
    with_filter = [*cascade, (setting.kernel, 1, setting.rate)]
    in_image = [(1, setting.output_stride, 1), *with_filter]
    expected_rf = [tuple(receptive_field(layers)) for layers in (cascade, with_filter, in_image)]
    assert [(int(s), int(j)) for s, j in shown["rf"]] == expected_rf


# --- a view set by the URL ------------------------------------------------------------------------


def _setting(query: str) -> Setting:
    """The view that ``?size=..&kernel=..&rate=..&os=..&mg=a,b,c`` asks for."""
    values = {k: v[0] for k, v in parse_qs(query).items()}
    return Setting(int(values["size"]), int(values["kernel"]), int(values["rate"]),
                   tuple(int(r) for r in values["mg"].split(",")), int(values["os"]))  # fmt: skip


#: The chapters' links to the explorer (chapter stem -> query), and the page's own view (""),
#: which is chapter 1's.
QUERIES = {**explorer_links(), "default": ""}


@pytest.mark.parametrize("name", list(QUERIES))
def test_a_urls_query_sets_the_explorer(name: str, driver: Any, base_url: str) -> None:
    query = QUERIES[name]
    log = _open(driver, base_url + PAGES["explorer"] + (f"?{query}" if query else ""))
    assert not [entry for entry in log if entry["level"] == "SEVERE"], log
    setting = _setting(query or explorer_links()["01_atrous_convolution"])
    controls = {
        "explorer-size": setting.size,
        "explorer-kernel": setting.kernel,
        "explorer-rate": setting.rate,
        "explorer-os": setting.output_stride,
        **{f"explorer-mg{i + 1}": r for i, r in enumerate(setting.multi_grid)},
    }
    shown = driver.execute_script(SET_AND_READ, {})  # set nothing: read the view as loaded
    values = driver.execute_script(
        "return Object.fromEntries(arguments[0].map((id) => [id, document.getElementById(id)"
        ".value]))", list(controls))  # fmt: skip
    assert values == {k: str(v) for k, v in controls.items()}, f"{name}: the URL's view"
    _assert_shows_the_reference(shown, setting)
    link = driver.execute_script("return document.getElementById('explorer-link').href")
    assert _setting(urlsplit(link).query) == setting, f"the page's link {link}"
