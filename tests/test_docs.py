"""The documentation site builds strictly, and every chapter, module and table has its page.

``mkdocs build --strict`` (what ``make docs`` runs) writes ``docs/_build``; the browser check
(``tests/test_docs_browser.py``) then finds it fresh and opens it. The generated pages are
also checked on their own, on results folders that hold nothing yet or a CSV being written.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from atrous.experiments.paper import RESULTS as PAPER
from atrous.experiments.plan import variant_config
from atrous.experiments.registry import EXPERIMENTS
from atrous.experiments.rows import COLUMNS, append_row, config_hash
from docs import notebooks

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "docs" / "_build"


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``docs/hooks.py``, imported as mkdocs does (its folder on ``sys.path``)."""
    monkeypatch.syspath_prepend(str(ROOT / "docs"))
    import hooks as module

    return module


@pytest.mark.slow
def test_site_builds() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-6000:]}"
    index = re.sub(r"<[^>]+>", "", (SITE / "index.html").read_text())  # the text, highlighted
    assert "make demo" in index and "make test" in index
    for chapter in notebooks.chapters():
        page = (SITE / "chapters" / chapter.stem / "index.html").read_text()
        assert html.escape(notebooks.title(chapter).split(". ", 1)[-1], quote=False) in page
        assert "jp-OutputArea" in page  # rendered with its outputs
    api = (SITE / "api" / "reference.valid_weights" / "index.html").read_text()
    assert "valid_weight_histogram" in api  # generated from the docstrings
    assert "<math" in api  # the docstring's .. math:: rendered to MathML
    assert (SITE / "api" / "atrous.model.deeplabv3" / "index.html").is_file()
    paper = (SITE / "compare-paper" / "index.html").read_text()
    for table in {r.table for r in PAPER}:
        assert f">{table}<" in paper
    for page in SITE.rglob("*.html"):  # nothing is loaded from the network
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", page.read_text())


def test_every_module_has_a_page(hooks: ModuleType) -> None:
    expected = {"atrous", "atrous.model", "atrous.model.deeplabv3", "atrous.data", "reference",
                "reference.valid_weights"}  # fmt: skip
    assert expected <= set(hooks.modules("atrous") + hooks.modules("reference"))
    assert not [m for m in hooks.modules("atrous") if "__" in m]
    assert "- [`atrous.data.voc`](atrous.data.voc.md)" in hooks.api_page("atrous.data")


def test_results_pages_without_results(hooks: ModuleType, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(hooks, "RESULTS", tmp_path / "results")  # not even the folder
    files = hooks.results_files()
    assert list(files) == ["results/index.md", "results/scaled/index.md"]
    assert "No report yet" in files["results/index.md"]
    assert "--recipe scaled" in files["results/scaled/index.md"]
    paper = hooks.compare_paper_page()
    assert "not yet run" in paper and "not reproduced" in paper
    assert not re.search(r"\d \(\d+ seeds?\)", paper)  # no number of ours


def test_results_pages_with_some_results(hooks: ModuleType, tmp_path: Path, monkeypatch) -> None:
    results = tmp_path / "results"
    experiment = EXPERIMENTS["tab9"]
    variant = experiment.variant("batch16")
    for seed, miou in ((0, 61.0), (1, 63.0)):
        config = variant_config(variant, seed, "full")
        row = dict.fromkeys(COLUMNS, "")
        row.update(experiment="tab9", variant="batch16", seed=seed, budget="full", miou=miou,
                   iou={}, replicas=1, iterations=1, threads=1, train_seconds=1.0,
                   eval_seconds=1.0, config_hash=config_hash(config, 1),
                   config=config.to_dict())  # fmt: skip
        append_row(results / "tab9.csv", row)
    (results / "tab1.csv").write_text(",".join(COLUMNS) + "\ntab1,os8,0\n")  # being written
    (results / "tab9.png").write_bytes(b"\x89PNG")
    (results / "README.md").write_text(
        "# Reproductions\n\nFigure: `tab9.png`. Data: `tab9.csv`.\n\nFigure: `tab5.png`.\n"
    )
    (results / "scaled").mkdir()  # the scaled recipe's report, with its own figure
    (results / "scaled" / "tab5.png").write_bytes(b"\x89PNG")
    (results / "scaled" / "exploratory").mkdir()  # a follow-up's figure, in its own folder
    (results / "scaled" / "exploratory" / "tab2-3-long.png").write_bytes(b"\x89PNG")
    (results / "scaled" / "README.md").write_text(
        "# Scaled\n\nFigures: `tab5.png`.\n\nFigures: `exploratory/tab2-3-long.png`.\n"
    )
    monkeypatch.setattr(hooks, "RESULTS", results)
    files = hooks.results_files()
    assert set(files) == {"results/index.md", "results/tab9.csv", "results/tab9.png",
                          "results/tab1.csv", "results/scaled/index.md",
                          "results/scaled/tab5.png",
                          "results/scaled/exploratory/tab2-3-long.png"}  # fmt: skip
    scaled = files["results/scaled/index.md"]
    assert "Figures: [`tab5.png`](tab5.png).\n\n![tab5.png](tab5.png)" in scaled
    long = "exploratory/tab2-3-long.png"
    assert f"Figures: [`{long}`]({long}).\n\n![{long}]({long})" in scaled
    page = files["results/index.md"]
    assert (
        "Figure: [`tab9.png`](tab9.png). Data: [`tab9.csv`](tab9.csv).\n\n![tab9.png](tab9.png)\n"
        in page
    )
    assert "Figure: `tab5.png`.\n" in page  # not written yet: named, not linked
    paper = hooks.compare_paper_page()
    assert "| batch size, 16 | 77.21 | 62.00 &plusmn; 1.41 (2 seeds) | `tab9/batch16` |" in paper
    assert "| batch size, 4 | 64.43 | not yet run | `tab9/batch4` |" in paper
    assert "| ResNet-50 block7, output_stride, 8 | 75.18 | not yet run | `tab1/os8` |" in paper


def test_speed_tables_are_generated_from_the_bench_json(hooks: ModuleType, tmp_path) -> None:
    """Every ratio of every ``bench/results/*.json`` is in its own table, under its machine and
    commit; the speed page itself types no table row, only the marker the tables replace."""
    text = hooks.speed_tables()
    paths = sorted((ROOT / "bench" / "results").glob("*.json"))
    assert paths
    for path in paths:
        results = json.loads(path.read_text())
        section = text.split(f"### `{path.name}`\n", 1)[1].split("\n### ", 1)[0]  # its table
        commit = results.get("commit")
        assert (f"commit {commit[:7]}" if commit else "commit not recorded") in section
        assert results["cpu"] in section
        for row in results["rows"]:
            first = next(iter(row["results"].values()))["s"]
            for name, r in row["results"].items():
                ratio = f"{first / r['s']:.2f}x"
                assert f"| {row['case']} | {name} | {r['s']:.3f} | {ratio} |" in section
    page = (ROOT / "docs" / "src" / "speed.md").read_text()
    assert page.count(hooks.SPEED_MARKER) == 1
    assert not [line for line in page.splitlines() if line.lstrip().startswith("|")]
    page_file = SimpleNamespace(file=SimpleNamespace(src_uri="speed.md"))
    assert text in hooks.on_page_markdown(page, page_file, None, None)
    assert "No benchmark results yet" in hooks.speed_tables(tmp_path)


def test_every_hand_written_page_is_in_the_nav(hooks: ModuleType) -> None:
    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        items = nav.values() if isinstance(nav, dict) else nav
        return [page for item in items for page in pages(item)]

    nav = pages(hooks.on_config(SimpleNamespace(nav=None)).nav)
    written = {p.name for p in (ROOT / "docs" / "src").glob("*.md")}
    assert written <= set(nav), f"not in the navigation: {sorted(written - set(nav))}"


def test_the_readme_links_to_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert links
    missing = [link for link in links if "://" not in link and not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
    assert len(text.splitlines()) <= 170


def test_math_becomes_mathml(hooks: ModuleType) -> None:
    assert hooks.mathml(r"r \cdot k", display=False).startswith("<math")
    assert 'display="block"' in hooks.mathml(r"\frac{a}{b}", display=True)
    assert hooks.mathml(r"\frac{a}{", display=False).startswith("<code>")  # left as TeX
    cell = "<p>rate $r$ and $$y = x$$</p><code>$HOME$</code><pre>a = $b$</pre>"
    out = hooks._dollars(cell)
    assert out.count("<math") == 2 and out.endswith("<code>$HOME$</code><pre>a = $b$</pre>")


def test_rst_roles_become_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "docs"))
    from griffe_rst import rst_to_markdown

    text = (
        "See :func:`valid_weight_counts` and :class:`~atrous.model.config.Config`.\n\n"
        ".. math::\n\n    y = x\n\nThe layout::\n\n    a/b\n"
    )
    assert rst_to_markdown(text) == (
        "See `valid_weight_counts` and [`Config`][atrous.model.config.Config].\n\n$$\ny = x\n"
        "$$\n\nThe layout:\n\n    a/b"
    )
    assert rst_to_markdown("rate :math:`r`") == "rate $r$"
    # constants link to their module's page; other packages and private names stay code
    assert rst_to_markdown(":data:`atrous.experiments.paper.RESULTS`") == (
        "[`atrous.experiments.paper.RESULTS`][atrous.experiments.paper]"
    )
    assert rst_to_markdown(":class:`torch.nn.Conv2d` :func:`atrous.x._hidden`") == (
        "`torch.nn.Conv2d` `atrous.x._hidden`"
    )


def test_the_landing_page_links_every_chapter() -> None:
    page = (ROOT / "docs" / "src" / "index.md").read_text()
    for chapter in sorted((ROOT / "chapters").glob("*.py")):
        assert f"(chapters/{chapter.stem}.ipynb)" in page, chapter.name
