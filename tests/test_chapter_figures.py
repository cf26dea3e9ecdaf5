"""The chapters as a reader meets them: their figures, the library's source, the exercises'
worked solutions and the links to the explorer.

- **Figures.** Each figure of :data:`FIGURES` is drawn in one code cell of its chapter,
  tagged ``figure-NAME`` (a jupytext cell tag), by a ``draw_*`` function of the library
  (:mod:`atrous.diagrams`, :mod:`atrous.figures`), never from an image file; and the same
  cell of the committed full-size notebook (``docs/chapters-executed/``, what the site
  shows) has an image output.
- **The library's source.** Where a chapter explains a function of the library, it prints
  that function's source with ``inspect.getsource`` (:data:`SOURCES`), and the executed
  notebook shows it.
- **Exercises.** Every exercise of every chapter has a worked solution, folded in an HTML
  ``<details>`` block; every Python block of a solution runs and passes its own asserts, and
  where a solution writes code of its own (a ``def``), it holds it to the NumPy oracle
  (:mod:`reference`).
- **The explorer.** Chapters 1, 3 and 4 link to the explorer with a query that sets its
  controls to the chapter's example: every parameter that ``explorer.js`` reads, each within
  its control's range; the explorer opens on chapter 1's. (``tests/test_docs_browser.py``
  opens each link in Chromium and checks the controls and numbers it shows.)
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import jupytext
import nbformat
import pytest

from docs import notebooks

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = notebooks.chapters()
EXPLORER_JS = ROOT / "docs" / "src" / "explorer.js"
EXPLORER_MD = ROOT / "docs" / "src" / "explorer.md"

#: The tag of each figure's cell, and the chapter (its number) that draws it.
FIGURES = {
    "figure-fig1": "01",  # Fig. 1: the taps of an atrous filter on the grid
    "figure-fig3": "02",  # Fig. 3: the cascade's strides and rates, from the block plans
    "figure-fig5": "04",  # Fig. 5: ASPP's branches, from a network
    "figure-tab8-labels": "05",  # Tab. 8: image, full-resolution labels, coarse targets
    "figure-bn-batch": "05",  # BN statistics against the batch size
    "figure-inference": "06",  # output stride 16 / 8 / multi-scale / flip, with their cost
    "figure-recipes": "07",  # the recipes as a pipeline
    "figure-batch-split": "08",  # the data-parallel batch split
}
IMAGE_TYPES = ("image/png", "image/svg+xml")


def _chapter(number: str) -> Path:
    return next(path for path in CHAPTERS if path.name.startswith(f"{number}_"))


def _tagged(cells: list, tag: str) -> list:
    return [cell for cell in cells if tag in cell.get("metadata", {}).get("tags", [])]


# --- figures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tag", list(FIGURES))
def test_the_figure_is_drawn_by_the_library_in_a_tagged_cell(tag: str) -> None:
    chapter = _chapter(FIGURES[tag])
    cells = _tagged(jupytext.read(chapter).cells, tag)
    assert len(cells) == 1, f"{chapter.name}: {len(cells)} cells tagged {tag!r}, not one"
    cell = cells[0]
    assert cell.cell_type == "code", f"{chapter.name}: {tag} is not a code cell"
    drawn = re.findall(r"\b(draw_\w+)\(", cell.source)
    assert drawn, f"{chapter.name}: the cell {tag} calls no draw_* function of the library"
    code = "\n".join(c.source for c in jupytext.read(chapter).cells if c.cell_type == "code")
    for name in drawn:  # imported from the library, not defined in the chapter
        assert re.search(rf"from atrous\.[\w.]+ import [^\n]*\b{name}\b", code), name
        assert not re.search(rf"^def {name}\b", code, re.M), f"{chapter.name} defines {name}"
    assert not re.search(r"Image\(|imread|\.png", cell.source), f"{tag}: an image file"


@pytest.mark.parametrize("tag", list(FIGURES))
def test_the_executed_figure_cell_has_an_image(tag: str) -> None:
    chapter = _chapter(FIGURES[tag])
    path = notebooks.executed_path(chapter, "0")
    assert path.is_file(), f"no committed notebook for {chapter.name}: `make notebooks`"
    cells = _tagged(nbformat.read(path, as_version=4).cells, tag)
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged {tag!r}, not one"
    (source,) = (c.source for c in _tagged(jupytext.read(chapter).cells, tag))
    assert cells[0].source == source, f"{path.name}: the cell {tag} is not today's (stale?)"
    images = [o for o in cells[0].outputs if any(t in o.get("data", {}) for t in IMAGE_TYPES)]
    assert images, f"{path.name}: the cell {tag} has no image output"


# --- the library's own source ---------------------------------------------------------------------


def _sources() -> dict[str, object]:
    from atrous.model.aspp import ASPP
    from atrous.model.backbone import block_plans
    from atrous.training.loss import downsample_labels

    return {"02": block_plans, "04": ASPP.forward, "05": downsample_labels}


#: Which chapter prints the source of which function (its name as the chapter writes it).
SOURCES = {"02": "block_plans", "04": "ASPP.forward", "05": "downsample_labels"}


@pytest.mark.parametrize("number", list(SOURCES))
def test_the_chapter_shows_the_librarys_source(number: str) -> None:
    chapter = _chapter(number)
    call = f"inspect.getsource({SOURCES[number]})"
    cells = [c for c in jupytext.read(chapter).cells if call in c.source]
    assert cells and cells[0].cell_type == "code", f"{chapter.name}: no {call}"
    executed = nbformat.read(notebooks.executed_path(chapter, "0"), as_version=4)
    (cell,) = [c for c in executed.cells if c.source == cells[0].source]
    shown = "".join(o.get("text", "") for o in cell.outputs)
    first = inspect.getsource(_sources()[number]).strip().splitlines()[0]  # the def line
    assert first in shown, f"{chapter.name}: the executed cell does not show {first!r}"


# --- exercises ------------------------------------------------------------------------------------

DETAILS = re.compile(r"<details>\s*<summary>(.*?)</summary>(.*?)</details>", re.DOTALL)
PYTHON = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _exercises(chapter: Path) -> tuple[list[str], list[str]]:
    """The exercises (their first lines) and the worked solutions of ``chapter``."""
    text = "\n\n".join(c.source for c in jupytext.read(chapter).cells if c.cell_type == "markdown")
    assert "## Exercises" in text, f"{chapter.name} has no exercises"
    section = text.split("## Exercises", 1)[1]
    outside = DETAILS.sub("", section)
    exercises = re.findall(r"^\d+\. (.*)$", outside, re.M)
    solutions = [body for summary, body in DETAILS.findall(section) if "solution" in summary]
    return exercises, solutions


def _solution_code() -> list[tuple[str, str]]:
    """(``chapter, solution N``, code) of every Python block of every worked solution."""
    found = []
    for chapter in CHAPTERS:
        for n, body in enumerate(_exercises(chapter)[1], start=1):
            found += [(f"{chapter.stem}, solution {n}", code) for code in PYTHON.findall(body)]
    return found


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_every_exercise_has_a_folded_worked_solution(chapter: Path) -> None:
    exercises, solutions = _exercises(chapter)
    assert exercises, f"{chapter.name}: no numbered exercises"
    assert len(solutions) == len(exercises), (
        f"{chapter.name}: {len(exercises)} exercises, {len(solutions)} worked solutions"
    )


SOLUTIONS = _solution_code()


#: The reader's own version of something the oracle computes: ``def my_conv(...)``.
OWN = re.compile(r"^def (my_\w+)\(", re.M)


def test_code_exercises_are_checked_against_the_oracle() -> None:
    """Where the reader writes their own version of a part of DeepLabv3 (a function named
    ``my_...``), the worked solution then calls it and a function of :mod:`reference`, and
    asserts (the check runs in :func:`test_the_worked_solution_runs_and_passes_its_checks`)."""
    assert len(SOLUTIONS) >= len(CHAPTERS)
    writes = [(where, code) for where, code in SOLUTIONS if OWN.search(code)]
    assert len(writes) >= len(CHAPTERS) // 2, "too few exercises where the reader writes code"
    for where, code in writes:
        imported = re.findall(r"^from reference[\w.]* import (.*)$", code, re.M)
        oracle = [name.strip() for line in imported for name in line.split(",")]
        assert oracle, f"{where}: imports nothing from the oracle"
        for name in OWN.findall(code):
            # The code after the function: its first line that is not indented on.
            after = re.split(r"^(?=\S)", code.split(f"def {name}(", 1)[1], maxsplit=1, flags=re.M)
            rest = after[1] if len(after) > 1 else ""
            assert name in rest and "assert" in rest, f"{where}: {name} is not checked"
            assert any(f"{o}(" in rest for o in oracle), f"{where}: {name} meets no oracle"


@pytest.mark.slow
@pytest.mark.parametrize("where, code", SOLUTIONS, ids=[where for where, _ in SOLUTIONS])
def test_the_worked_solution_runs_and_passes_its_checks(where: str, code: str) -> None:
    assert "assert" in code, f"{where}: a worked solution's code checks what it says"
    exec(compile(code, where, "exec"), {"__name__": "__solution__"})  # raises on a wrong one


# --- links to the explorer ------------------------------------------------------------------------

#: A Markdown link to the explorer page with a query: ``](../../explorer/?size=..)``.
EXPLORER_LINK = re.compile(r"\]\(((?:\.\./)+explorer/)\?([^)\s#]+)\)")
#: The chapters (by number) that link to the explorer with their example.
LINKED = ("01", "03", "04")


def explorer_links() -> dict[str, str]:
    """Each chapter's first link to the explorer: its stem -> the link's query."""
    links = {}
    for chapter in CHAPTERS:
        found = EXPLORER_LINK.findall(chapter.read_text(encoding="utf-8"))
        if found:
            links[chapter.stem] = found[0][1]
    return links


def _parameters() -> dict[str, list[str]]:
    """The query parameters ``explorer.js`` reads, and the control ids each sets."""
    table = re.search(r"const PARAMETERS = \{(.*?)\};", EXPLORER_JS.read_text(), re.DOTALL)
    assert table, "explorer.js has no PARAMETERS table"
    entries = re.findall(r"(\w+): (\[[^\]]*\]|\"[^\"]*\")", table[1])
    return {name: re.findall(r"\"([\w-]+)\"", ids) for name, ids in entries}


def _controls() -> dict[str, dict[str, object]]:
    """Each control of explorer.md: its default, and its range or options."""
    page = EXPLORER_MD.read_text()
    controls: dict[str, dict[str, object]] = {}
    for tag in re.findall(r"<input [^>]*>", page):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
        controls[attrs["id"]] = {
            "default": int(attrs["value"]),
            "min": int(attrs["min"]),
            "max": int(attrs["max"]),
            "step": int(attrs.get("step", 1)),
        }
    for select_id, body in re.findall(r'<select id="([\w-]+)">(.*?)</select>', page, re.DOTALL):
        options = [int(v) for v in re.findall(r'<option value="(\d+)"', body)]
        default = re.search(r'<option value="(\d+)" selected', body)
        controls[select_id] = {"default": int(default[1]), "options": options}
    return controls


def _view(query: str) -> dict[str, int]:
    """The control values a query asks for: control id -> value."""
    parameters, values = _parameters(), parse_qs(query, strict_parsing=True)
    view = {}
    for name, (value,) in values.items():
        assert name in parameters, f"the explorer reads no parameter {name!r}"
        for control, v in zip(parameters[name], value.split(","), strict=True):
            view[control] = int(v)
    return view


def test_chapters_1_3_and_4_link_to_their_example() -> None:
    links, controls = explorer_links(), _controls()
    assert {stem[:2] for stem in links} >= set(LINKED), f"links from {sorted(links)}"
    assert set(controls) == {c for ids in _parameters().values() for c in ids}
    for stem, query in links.items():
        view = _view(query)
        assert set(view) == set(controls), f"{stem}: sets {sorted(view)}, not every control"
        for control, value in view.items():
            spec = controls[control]
            if "options" in spec:
                assert value in spec["options"], f"{stem}: {control}={value}"
            else:
                assert spec["min"] <= value <= spec["max"], f"{stem}: {control}={value}"
                assert (value - spec["min"]) % spec["step"] == 0, f"{stem}: {control}={value}"
        page = f"https://site/chapters/{stem}/"  # where the site puts a chapter
        target = urljoin(page, EXPLORER_LINK.search(_chapter(stem[:2]).read_text())[1])
        assert urlsplit(target).path == "/explorer/", f"{stem}: the link leads to {target}"


def test_the_explorer_opens_on_chapter_1s_example() -> None:
    chapter_1 = _view(explorer_links()[_chapter("01").stem])
    assert chapter_1 == {control: spec["default"] for control, spec in _controls().items()}
