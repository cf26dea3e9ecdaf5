"""mkdocs hooks: the pages that are generated rather than written, and the navigation.

At every build, found anew (nothing here lists a chapter or a module by name):

- ``chapters/<stem>.ipynb``: each ``chapters/*.py`` as an executed notebook, rendered by
  mkdocs-jupyter: the committed full-size one, ``docs/chapters-executed/<stem>.ipynb``
  (``make notebooks``, :mod:`notebooks`; ``tests/test_executed_chapters.py`` fails when it is
  stale). Only where a chapter has none yet does the page fall back on its quick smoke run
  (the one ``tests/test_chapters.py`` wrote when fresh, else executed now), which opens with
  a banner saying that it is a smoke run, not results;
- ``api/<module>.md``: one page per module of ``atrous`` and ``reference``, which
  mkdocstrings fills from the docstrings;
- ``results/index.md``: ``results/README.md`` with the figures and data beside it (and
  ``results/scaled/index.md``: the scaled recipe's report), as far as
  they exist yet (a missing experiment is shown as missing, never an error);
- ``compare-paper.md``: every table of the paper, its numbers beside ours
  (:data:`atrous.experiments.paper.RESULTS`, the results CSVs through
  :mod:`atrous.experiments.report`);
- ``figures/*.png``: the landing page's figures, drawn from :mod:`reference`;
- ``in-your-browser/``: the page "In your browser"'s network as ONNX at four output strides,
  ONNX Runtime Web's files and the scenes (:mod:`in_your_browser`), and the network's
  provenance where the page says ``<!-- network-provenance -->``;
- the benchmark tables of ``speed.md``: every ``bench/results/*.json``, rendered where the page
  says ``<!-- speed-table -->`` (:func:`speed_tables`), so that no measured time is typed by hand.

Math is rendered to MathML while building (``pymdownx.arithmatex`` in Markdown, ``$...$`` in
the notebooks' Markdown cells), so no page loads a script from the network: the site works
offline.
"""

from __future__ import annotations

import html
import io
import json
import logging
import math
import re
from collections.abc import Callable
from pathlib import Path

import in_your_browser  # docs/in_your_browser.py: the files of the page "In your browser"
import notebooks  # docs/notebooks.py: mkdocs puts this folder on sys.path for the import
from latex2mathml.converter import convert as tex_to_mathml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
BENCH = ROOT / "bench" / "results"
SPEED_MARKER = "<!-- speed-table -->"
PACKAGES = ("atrous", "reference")
#: The chapters' notebooks the site shows, staged as its pages (gitignored, under docs/_executed).
SITE_NOTEBOOKS = notebooks.EXECUTED / "site"
log = logging.getLogger("mkdocs.hooks.atrous")


# --- what there is --------------------------------------------------------------------------------


def modules(package: str) -> list[str]:
    """Every public module of ``package`` (itself first), as dotted names, sorted."""
    names = []
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return sorted(names)


def is_package(module: str) -> bool:
    return (ROOT / module.replace(".", "/") / "__init__.py").is_file()


# --- the navigation -------------------------------------------------------------------------------


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """The navigation, with the chapters and modules of today."""
    config.nav = [
        {"Home": "index.md"},
        {"Installation": "install.md"},
        {"The demo": "demo.md"},
        {
            "Chapters": [
                {notebooks.title(c): f"chapters/{c.stem}.ipynb"} for c in notebooks.chapters()
            ]
        },
        {
            "Using atrous": [
                {"The network": "network.md"},
                {"Data": "data.md"},
                {"Training, evaluation and inference": "protocol.md"},
                {"Batch norm": "batch-norm.md"},
                {"Train on your own data": "own-data.md"},
                {"Export": "export.md"},
                {"Speed on a CPU": "speed.md"},
                {"Check your own implementation": "check-your-implementation.md"},
            ]
        },
        {"The NumPy reference": "reference.md"},
        {"Explorer": "explorer.md"},
        {"In your browser": "in-your-browser.md"},
        {"Results": "results/index.md"},
        {"Results, scaled recipe": "results/scaled/index.md"},
        {"Compare to the paper": "compare-paper.md"},
        {"Compare to other implementations": "compare-implementations.md"},
        {"Layout": "layout.md"},
        {
            "API reference": [
                {package: [{m: f"api/{m}.md"} for m in modules(package)]} for package in PACKAGES
            ]
        },
    ]
    return config


# --- generated files ------------------------------------------------------------------------------


@event_priority(50)  # before mkdocs-jupyter, which must see the notebooks added here
def on_files(files: Files, config: MkDocsConfig) -> Files:
    for chapter in notebooks.chapters():
        uri = f"chapters/{chapter.stem}.ipynb"
        # mkdocs-jupyter wraps the File and finds the notebook at src_dir / uri, so the one
        # shown is staged there (a generated File's abs_src_path would be lost in the wrapper).
        staged = SITE_NOTEBOOKS / uri
        staged.parent.mkdir(parents=True, exist_ok=True)
        source = chapter_notebook(chapter).read_bytes()
        if not staged.is_file() or staged.read_bytes() != source:
            staged.write_bytes(source)
        files.append(File(uri, str(SITE_NOTEBOOKS), config.site_dir, config.use_directory_urls))
    for package in PACKAGES:
        for module in modules(package):
            files.append(File.generated(config, f"api/{module}.md", content=api_page(module)))
    for uri, content in results_files().items():
        files.append(File.generated(config, uri, content=content))
    files.append(File.generated(config, "compare-paper.md", content=compare_paper_page()))
    for name, draw in FIGURES.items():
        files.append(File.generated(config, f"figures/{name}", content=draw()))
    for uri, content in in_your_browser.site_files().items():
        if isinstance(content, Path):  # copied, not read into memory
            files.append(File.generated(config, uri, abs_src_path=str(content)))
        else:
            files.append(File.generated(config, uri, content=content))
    return files


def chapter_notebook(chapter: Path) -> Path:
    """The notebook the site shows for ``chapter``: the committed full-size one, else (with
    a warning in the log) the quick smoke run, whose first cell says that it is one.
    :func:`on_files` stages it as the page ``chapters/<stem>.ipynb``."""
    committed = notebooks.executed_path(chapter, "0")
    if committed.is_file():
        stale = notebooks.staleness(chapter, "0")
        if stale:  # tests/test_executed_chapters.py fails on it; the page still shows it
            log.info("%s is stale (%s): `make notebooks`", committed.name, "; ".join(stale))
        return committed
    log.info("%s has no full-size notebook (`make notebooks`): showing its smoke run",
             chapter.name)  # fmt: skip
    return notebooks.ensure_executed(chapter, "1")  # EXECUTED/chapters/<stem>.ipynb


def api_page(module: str) -> str:
    """The mkdocstrings page of one module; a package's page lists its modules."""
    if not is_package(module):
        return f"::: {module}\n"
    depth = module.count(".") + 1
    children = [m for m in modules(module.split(".")[0]) if m.startswith(f"{module}.")]
    links = [f"- [`{m}`]({m}.md)" for m in children if m.count(".") == depth]
    return "\n".join([f"::: {module}", "    options:", "      members: false", "",
                      "## Modules", "", *links, ""])  # fmt: skip


# --- results --------------------------------------------------------------------------------------


def results_files() -> dict[str, str | bytes]:
    """``results/index.md`` from ``results/README.md`` and ``results/scaled/index.md`` from
    the scaled recipe's report, each with the figures and CSVs of its folder that exist."""
    files = _results_page(RESULTS, "results", "python -m atrous report")
    files.update(_results_page(RESULTS / "scaled", "results/scaled",
                               "python -m atrous report --recipe scaled"))  # fmt: skip
    return files


def _results_page(folder: Path, uri: str, command: str) -> dict[str, str | bytes]:
    """``<uri>/index.md`` from ``folder/README.md``: each figure shown below the line that
    names it first, the rest at the end, then the CSVs; with those files beside it (and
    those of its ``pilot/`` and ``exploratory/`` folders)."""
    where = (folder, folder / "pilot", folder / "exploratory")
    present = sorted(p for w in where for p in w.glob("*") if p.suffix in (".png", ".csv"))
    present = [p for p in present if p.is_file()]
    files: dict[str, str | bytes] = {
        f"{uri}/{p.relative_to(folder).as_posix()}": p.read_bytes() for p in present
    }
    readme = folder / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
    else:
        text = (f"# Reproductions\n\nNo report yet: `{uri}/README.md` is written by "
                f"`{command}` once experiments have run "
                "(`python -m atrous reproduce NAME`).\n")  # fmt: skip
    names = {p.relative_to(folder).as_posix() for p in present}
    mention = re.compile(r"`((?:[\w-]+/)?[\w.-]+\.(?:png|csv))`")  # a file of the folder
    lines, shown = [], set()
    for line in text.splitlines():
        lines.append(mention.sub(lambda m: f"[{m[0]}]({m[1]})" if m[1] in names else m[0], line))
        if not line.startswith("|"):  # each figure below the line that names it first
            figures = [n for n in mention.findall(line) if n.endswith(".png") and n in names]
            lines += [f"\n![{n}]({n})" for n in figures if n not in shown]
            shown.update(figures)
    text = "\n".join(lines) + "\n"
    rest = [n for n in sorted(names) if n.endswith(".png") and n not in shown]
    if rest:
        text += "\n## Other figures\n\n" + "".join(f"![{n}]({n})\n\n" for n in rest)
    data = [n for n in sorted(names) if n.endswith(".csv")]
    text += "\n## Data\n\n" + (
        "".join(f"- [`{n}`]({n})\n" for n in data) if data else "No CSV yet.\n"
    )
    files[f"{uri}/index.md"] = text
    return files


# --- the paper beside our runs --------------------------------------------------------------------


def _ours(values: list[float]) -> str:
    from atrous.experiments.claims import mean_std

    mean, sd = mean_std(values)
    if math.isnan(mean):
        return "not yet run"
    seeds = f"{len(values)} seed{'s' if len(values) > 1 else ''}"
    return f"{mean:.2f} &plusmn; {sd:.2f} ({seeds})" if len(values) > 1 else f"{mean:.2f} ({seeds})"


def compare_paper_page() -> str:
    """Every table of :data:`atrous.experiments.paper.RESULTS`: the paper's value, ours, the
    variant."""
    from atrous.base.errors import AtrousError
    from atrous.experiments.fig4 import fig4_checks
    from atrous.experiments.judge import sort_rows
    from atrous.experiments.paper import RESULTS as PAPER
    from atrous.experiments.registry import EXPERIMENTS
    from atrous.experiments.rows import read_rows

    ours: dict[tuple[str, str, str], tuple[str, str]] = {}  # paper cell -> (variant, ours)
    problems: list[str] = []
    for name, experiment in EXPERIMENTS.items():
        if not experiment.variants:
            continue
        try:
            current = sort_rows(experiment, read_rows(RESULTS / f"{name}.csv"))
        except (AtrousError, ValueError, TypeError, KeyError) as error:  # a CSV being written
            problems.append(f"- `results/{name}.csv` could not be read: {error}")
            continue
        for variant in experiment.variants:
            result = _ours(list(current.miou(variant.name).values()))
            for ref in variant.paper:
                ours[ref] = (f"`{name}/{variant.name}`", result)
    lines = [
        "# Compare to the paper",
        "",
        "Every number of the paper's tables (`atrous.experiments.paper.RESULTS`, typed once from "
        "the",
        "paper) beside ours: the mean and standard deviation over seeds of the current rows",
        "of `results/<experiment>.csv` (`atrous.experiments.judge.sort_rows`; stale rows are left "
        "out).",
        "Ours are on the synthetic scenes after minutes of CPU training, the paper's on PASCAL",
        "VOC 2012 after 30K iterations from ImageNet weights: compare directions, not levels.",
        "*not yet run*: the experiment has no current row yet; *not reproduced*: no",
        "experiment stands for that cell. The verdicts on the paper's claims are on the",
        "[results](results/index.md) page.",
        "",
        *problems,
    ]
    for table in dict.fromkeys(r.table for r in PAPER):
        cells = [r for r in PAPER if r.table == table]
        one_column = len({r.column for r in cells}) == 1
        lines += ["", f"## {table}", "", "| setting | paper | ours | variant |", "|" + "---|" * 4]
        for r in cells:
            setting = r.row if one_column else f"{r.row}, {r.column}"
            variant, result = ours.get((r.table, r.row, r.column), ("", "not reproduced"))
            lines.append(f"| {setting} | {r.value:g} | {result} | {variant} |")
    lines += ["", "## Fig. 4", "", "Exact (`reference.valid_weights`), no training:", ""]
    lines += [f"- {text}: {'agrees' if ok else 'disagrees'}" for text, ok in fig4_checks()]
    return "\n".join(lines) + "\n"


# --- the benchmark tables ------------------------------------------------------------------------


def speed_table(name: str, results: dict) -> str:
    """One ``bench/precision.py`` results file as Markdown: the machine and commit it records,
    then each case's seconds, ratio to the case's first implementation and GFLOP/s."""
    commit = results.get("commit")
    made = f"commit {commit[:7]}" if commit else "commit not recorded"
    bf16 = ", native bf16" if results.get("native_bf16") else ""
    machine = f"{results['cpu']}{bf16}, {results['threads']} threads, torch {results['torch']}"
    lines = [
        f"### `{name}`",
        "",
        f"{machine}, {made} (`{results['command']}`):",
        "",
        "| case | implementation | s | ratio | GFLOP/s |",
        "|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        first = next(iter(row["results"].values()))["s"]
        for impl, r in row["results"].items():
            rate = f"{r['gflop_per_s']:.0f}" if "gflop_per_s" in r else "-"
            lines.append(f"| {row['case']} | {impl} | {r['s']:.3f} | {first / r['s']:.2f}x "
                         f"| {rate} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def speed_tables(folder: Path | None = None) -> str:
    """Every ``*.json`` of ``folder`` (default ``bench/results``) as a table: those that
    record their commit first, then by name."""
    folder = BENCH if folder is None else folder
    found = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.json")}
    if not found:
        return "No benchmark results yet (`bench/results/*.json`, from `bench/precision.py`).\n"
    names = sorted(found, key=lambda n: ("commit" not in found[n], n))
    return "\n".join(speed_table(n, found[n]) for n in names)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == "speed.md" and SPEED_MARKER not in markdown:
        log.warning("speed.md has no %s: the benchmark tables have no place", SPEED_MARKER)
    marker = in_your_browser.PROVENANCE_MARKER
    if marker in markdown and in_your_browser.NETWORK.is_file():
        markdown = markdown.replace(marker, in_your_browser.provenance_table())
    return markdown.replace(SPEED_MARKER, speed_tables()) if SPEED_MARKER in markdown else markdown


# --- the landing page's figures -------------------------------------------------------------------


def _png(draw: Callable[..., object], size: tuple[float, float], panels: int = 1) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    draw(list(fig.subplots(1, panels, squeeze=False)[0]))
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return buffer.getvalue()


def _fig4() -> bytes:
    from atrous.experiments.fig4 import draw_valid_weights

    return _png(lambda axes: draw_valid_weights(axes[0], 65, range(1, 71)), (7, 4.5))


def _gridding() -> bytes:
    from atrous.figures import draw_gridding

    return _png(lambda axes: draw_gridding(axes, [(2, 2, 2), (1, 2, 4)]), (8, 4.4), panels=2)


FIGURES: dict[str, Callable[[], bytes]] = {"fig4.png": _fig4, "gridding.png": _gridding}


# --- math as MathML -------------------------------------------------------------------------------

_ARITHMATEX = re.compile(
    r'<(span|div) class="arithmatex">\s*\\([(\[])(.*?)\\[)\]]\s*</\1>', re.DOTALL
)
_MARKDOWN_CELL = re.compile(r'(<div class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>)(.*?)(</div>)',
                            re.DOTALL)  # fmt: skip
_CODE = re.compile(r"(<code.*?</code>|<pre.*?</pre>)", re.DOTALL)
_DOLLARS = re.compile(r"\$\$(.+?)\$\$|\$([^$\s](?:[^$]*?[^$\s])?)\$", re.DOTALL)
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.DOTALL)


def mathml(tex: str, display: bool) -> str:
    """``tex`` (HTML-escaped, as it stands in a page) as MathML; the TeX itself if it fails."""
    tex = html.unescape(tex).strip()
    try:
        return tex_to_mathml(tex, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises many kinds; show the source instead
        log.info("math left as TeX (%s): %s", error, tex)
        return f"<code>{html.escape(tex)}</code>"


def _dollars(text: str) -> str:
    """``$$...$$`` and ``$...$`` in ``text`` (outside code) as MathML."""
    parts = _CODE.split(text)
    for i in range(0, len(parts), 2):  # even parts are outside <code> and <pre>
        parts[i] = _DOLLARS.sub(
            lambda m: mathml(m.group(1) or m.group(2), display=m.group(1) is not None), parts[i]
        )
    return "".join(parts)


def on_page_content(html_text: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    html_text = _ARITHMATEX.sub(lambda m: mathml(m.group(3), display=m.group(2) == "["), html_text)
    if page.file.src_uri.endswith(".ipynb"):
        html_text = _MATHJAX.sub("", html_text)  # nbconvert's loader, from a CDN
        html_text = _MARKDOWN_CELL.sub(
            lambda m: m.group(1) + _dollars(m.group(2)) + m.group(3), html_text
        )
    return html_text
