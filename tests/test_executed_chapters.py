"""The committed full-size notebooks of the chapters (``docs/chapters-executed/``), which the
site renders, are fresh and read well; and the machinery of :mod:`docs.notebooks` that says
so: the stamp, which ``results/`` files a chapter reads, the kernel's setup.

A committed notebook is stale when its chapter's cells or a ``results/`` file the chapter
reads changed since it was executed; ``make notebooks`` executes the stale ones again (at
full size: minutes each). The library is not in the stamp: a change to it is caught by the
quick-mode chapter tests (``tests/test_chapters.py``).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import jupytext
import nbformat
import pytest

from atrous.experiments.recipes import experiments_of
from docs import notebooks

CHAPTERS = notebooks.chapters()
IDS = [path.stem for path in CHAPTERS]


# --- the committed notebooks ----------------------------------------------------------------------


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_the_committed_notebook_is_fresh(chapter: Path) -> None:
    """Executed at full size from today's chapter and today's results files."""
    reasons = notebooks.staleness(chapter, "0")
    assert not reasons, (
        f"chapter {chapter.name}: its executed notebook "
        f"(docs/chapters-executed/{chapter.stem}.ipynb) is stale: {'; '.join(reasons)}. "
        f"Run `make notebooks` (it executes the stale chapters at full size) and commit it."
    )


def _committed(chapter: Path) -> nbformat.NotebookNode:
    path = notebooks.executed_path(chapter, "0")
    if not path.is_file():
        pytest.fail(f"chapter {chapter.name} has no full-size notebook: run `make notebooks`")
    return nbformat.read(path, as_version=4)


#: What a progress bar leaves in an output: tqdm's rate or its bar, or a carriage return.
PROGRESS_BAR = re.compile(r"\d+(\.\d+)?(it|s)/(s|it)\]|\|[█▏▎▍▌▋▊▉ ]{5,}\||\r")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_the_committed_notebook_reads_well(chapter: Path) -> None:
    """Full size, no smoke-run banner, every code cell executed, no error, no stderr (no
    warning, no progress bar), no widget state, under 3 MB."""
    notebook = _committed(chapter)
    path = notebooks.executed_path(chapter, "0")
    where = f"docs/chapters-executed/{chapter.stem}.ipynb"
    assert notebook.metadata[notebooks._STAMP]["small"] == "0", where
    assert path.stat().st_size <= notebooks.MAX_BYTES, f"{where} is over 3 MB"
    assert "widgets" not in notebook.metadata, f"{where} keeps widget state"
    assert not any(cell.metadata.get(notebooks._SMOKE) for cell in notebook.cells), where
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"{where}: cell {index} was not executed"
        for output in cell.outputs:
            text = output.get("text", "")
            assert output.output_type != "error", f"{where}: cell {index} failed"
            assert output.get("name") != "stderr", f"{where}: cell {index} has stderr {text!r}"
            assert "IProgress" not in text, f"{where}: cell {index}: tqdm's warning"
            assert not PROGRESS_BAR.search(text), f"{where}: cell {index}: a progress bar"


def test_no_stray_committed_notebook() -> None:
    """``docs/chapters-executed/`` holds one notebook per chapter and nothing else (a
    renamed chapter leaves none behind); a missing one is reported by the tests above."""
    stems = {path.stem for path in CHAPTERS}
    if notebooks.COMMITTED.is_dir():
        stray = [p.name for p in notebooks.COMMITTED.iterdir() if p.suffix != ".ipynb"
                 or p.stem not in stems]  # fmt: skip
        assert not stray, f"docs/chapters-executed/ holds {stray}, which no chapter makes"


# --- which results files a chapter reads ----------------------------------------------------------


def test_every_chapter_says_which_results_files_it_reads() -> None:
    """The scan resolves every use of ``RESULTS`` in every chapter, and finds at least every
    experiment named in a ``describe_results``/``claims_table`` call on ``RESULTS`` and
    every literal ``RESULTS / "..."`` (a regex cross-check of the AST scan)."""
    for chapter in CHAPTERS:
        found = set(notebooks.results_read(chapter))
        code = chapter.read_text(encoding="utf-8")
        calls = re.findall(r"\b(?:describe_results|claims_table|likely_reasons)\(\s*\"([\w-]+)\","
                           r"\s*RESULTS\b", code)  # fmt: skip
        chains = re.findall(r"\bRESULTS((?:\s*/\s*\"[\w.-]+\")+)", code)
        paths = {"/".join(re.findall(r'"([\w.-]+)"', c)) for c in chains}
        paths = {p for p in paths if "." in p.rsplit("/", 1)[-1]}  # files, not a reader's folder
        assert {f"{n}.csv" for n in calls} | paths <= found, chapter.name


def _chapter(tmp_path: Path, code: str) -> Path:
    path = tmp_path / "99_test.py"
    path.write_text("# # 99. Test\n\n# %%\n" + textwrap.dedent(code), encoding="utf-8")
    return path


def test_results_read_resolves_names_paths_and_loops(tmp_path: Path) -> None:
    chapter = _chapter(
        tmp_path,
        """
        from pathlib import Path
        LIVE = Path("runs")
        print(describe_results("tab1", RESULTS))
        print(describe_results("tab1", LIVE, "quick"))  # the live runs: not results/
        print(claims_table("tab10", results=RESULTS))
        print(experiment_table("tab11"))  # no folder: the committed one
        rows = read_rows(RESULTS / "tab2-3.csv")
        for name in ("tab8", "tab9"):
            print(describe_results(name, RESULTS))
            for figure in (RESULTS / f"{name}.png", RESULTS / f"{name}-curves.png"):
                print(figure)
        for name, only in (("tab4-6", ["a"]), ("tab5", ["b"])):
            print(RESULTS / f"{name}.csv")
        notes = Path("results/notes.toml")
        print(describe_results("tab5", RESULTS / "scaled", recipe="scaled"))  # a sub-folder
        print(claims_table("tab9", recipe="scaled"))  # no folder: the recipe's committed one
        print(experiment_table("tab10", None, "full", "scaled"))
        scaled = RESULTS / "scaled" / "tab5.png"
        for name in ("tab8",):
            print(RESULTS / "scaled" / f"{name}-curves.png")
        print(likely_reasons("tab2-3", RESULTS / "scaled", recipe="scaled"))  # and the notes
        print(RESULTS / "scaled" / "exploratory" / "tab2-3-long-curves.png")
    """,
    )
    designed = {"scaled/design.toml"} | {f"scaled/{d}{n}.csv" for d in ("", "pilot/") for n in
                                          experiments_of("scaled") if n != "fig4"}  # fmt: skip
    assert notebooks.results_read(chapter) == sorted({
        "tab1.csv", "tab10.csv", "tab11.csv", "tab2-3.csv", "tab8.csv", "tab9.csv",
        "tab8.png", "tab9.png", "tab8-curves.png", "tab9-curves.png", "tab4-6.csv",
        "tab5.csv", "notes.toml", "scaled/tab5.png", "scaled/tab8-curves.png", *designed,
        "scaled/notes.toml", "scaled/exploratory/tab2-3-long-curves.png",
    })  # fmt: skip
    assert {"scaled/tab5.csv", "scaled/tab9.csv", "scaled/tab10.csv"} <= designed


@pytest.mark.parametrize("code", [
    "print(describe_results(which(), RESULTS))",
    "print(RESULTS / some_name)",
    "print(sorted(RESULTS.glob('*.csv')))",
    "show(RESULTS)",
    "folder = RESULTS",
    "print(describe_results('tab5', RESULTS / folder, recipe='scaled'))",
    "print(claims_table('tab5', recipe=which))",
    "print(RESULTS / 'scaled' / name)",
])  # fmt: skip
def test_an_unresolved_use_of_results_is_an_error(tmp_path: Path, code: str) -> None:
    """Never a silent miss: a use the scan cannot resolve fails, quoting it."""
    with pytest.raises(notebooks.UnresolvedResults, match="99_test.py"):
        notebooks.results_read(_chapter(tmp_path, code))


# --- the stamp ---------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch) -> Path:
    """A chapter that reads ``results/tab1.csv``, with results/ (and its ``scaled/``),
    committed and quick folders of its own."""
    for name, folder in (("RESULTS", "results"), ("COMMITTED", "committed"),
                         ("EXECUTED", "executed")):  # fmt: skip
        (tmp_path / folder).mkdir()
        monkeypatch.setattr(notebooks, name, tmp_path / folder)
    (tmp_path / "results" / "tab1.csv").write_text("a,b\n1,2\n")
    (tmp_path / "results" / "scaled").mkdir()  # a recipe's sub-folder
    (tmp_path / "results" / "scaled" / "tab5.csv").write_text("a,b\n3,4\n")
    return _chapter(tmp_path, 'print(describe_results("tab1", RESULTS))\n')


def _write(chapter: Path, small: str) -> Path:
    return notebooks.write_executed(jupytext.read(chapter), chapter, small)  # not executed


def test_a_notebook_is_fresh_until_its_chapter_or_results_change(sandbox: Path) -> None:
    chapter, results = sandbox, notebooks.RESULTS
    assert notebooks.staleness(chapter, "0") == [
        f"no executed notebook ({notebooks.COMMITTED / '99_test.ipynb'})"
    ]
    path = _write(chapter, "0")
    assert path == notebooks.COMMITTED / "99_test.ipynb"
    stamp = nbformat.read(path, as_version=4).metadata[notebooks._STAMP]
    assert stamp["small"] == "0" and set(stamp["results_sha256"]) == {"results/tab1.csv"}
    assert notebooks.is_fresh(chapter, "0")
    assert not notebooks.is_fresh(chapter, "1")  # the quick one is kept elsewhere

    (results / "tab1.csv").write_text("a,b\n1,3\n")
    assert notebooks.staleness(chapter, "0") == ["results/tab1.csv changed"]
    _write(chapter, "0")
    assert notebooks.is_fresh(chapter, "0")
    (results / "other.csv").write_text("a file the chapter does not read\n")
    assert notebooks.is_fresh(chapter, "0")

    chapter.write_text(chapter.read_text() + 'print(RESULTS / "tab1.png")\n')
    assert notebooks.staleness(chapter, "0") == [
        "chapters/99_test.py changed", "results/tab1.png is read now, and was not then"
    ]  # fmt: skip
    _write(chapter, "0")
    (results / "tab1.png").write_bytes(b"png")
    assert notebooks.staleness(chapter, "0") == ["results/tab1.png appeared"]
    _write(chapter, "0")
    (results / "tab1.csv").unlink()
    assert notebooks.staleness(chapter, "0") == ["results/tab1.csv was removed"]


def test_the_stale_test_names_the_chapter_and_make_notebooks(sandbox: Path) -> None:
    _write(sandbox, "0")
    (notebooks.RESULTS / "tab1.csv").write_text("changed\n")
    with pytest.raises(AssertionError) as failed:
        test_the_committed_notebook_is_fresh(sandbox)
    assert "99_test.py" in str(failed.value) and "make notebooks" in str(failed.value)
    assert "results/tab1.csv changed" in str(failed.value)


def test_a_quick_notebook_is_kept_apart_and_says_it_is_a_smoke_run(sandbox: Path) -> None:
    path = _write(sandbox, "1")
    assert path == notebooks.EXECUTED / "chapters" / "99_test.ipynb"
    assert not any(notebooks.COMMITTED.iterdir())
    notebook = nbformat.read(path, as_version=4)
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and "Smoke run" in first.source
    assert first.metadata[notebooks._SMOKE]
    assert notebooks.is_fresh(sandbox, "1")  # the banner is no part of the stamp's cells
    nbformat.validate(notebook)


def test_the_site_shows_the_committed_notebook_else_the_smoke_run(
    sandbox: Path, monkeypatch
) -> None:
    """``docs/hooks.py`` (imported as mkdocs does, its own ``notebooks``) renders the
    committed full-size notebook, and a chapter's smoke run only where it has none."""
    monkeypatch.syspath_prepend(str(notebooks.ROOT / "docs"))
    import hooks

    for name in ("RESULTS", "COMMITTED", "EXECUTED"):
        monkeypatch.setattr(hooks.notebooks, name, getattr(notebooks, name))
    quick = _write(sandbox, "1")
    assert hooks.chapter_notebook(sandbox) == quick
    assert "Smoke run" in nbformat.read(quick, as_version=4).cells[0].source
    committed = _write(sandbox, "0")
    assert hooks.chapter_notebook(sandbox) == committed
    (notebooks.RESULTS / "tab1.csv").write_text("changed\n")  # stale: still shown, and
    assert hooks.chapter_notebook(sandbox) == committed  # the test above fails on it


def test_check_lists_the_stale_chapters(sandbox: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(notebooks, "CHAPTERS", sandbox.parent)
    monkeypatch.delenv("ATROUS_CHAPTER_SMALL", raising=False)  # full size by default
    assert notebooks.main(["--check"]) == 1
    assert "99_test.py: stale (no executed notebook" in capsys.readouterr().out
    _write(sandbox, "0")
    assert notebooks.main(["--check"]) == 0
    assert "is fresh" in capsys.readouterr().out


# --- executing: no progress bar, no stderr noise, every results file opened is declared ---------


def test_tidy_outputs_shows_the_run_lines_as_output() -> None:
    cell = nbformat.v4.new_code_cell("reproduce(...)")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="before\n"),
        nbformat.v4.new_output(
            "stream", name="stderr", text="tab1 os8 seed 0: mIOU 46.95 (ok, 306 s)\n"
        ),  # fmt: skip
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: something\n"),
    ]
    notebook = nbformat.v4.new_notebook(cells=[cell], metadata={"widgets": {"state": {}}})
    left = notebooks._tidy_outputs(notebook)
    assert left == ["cell 0: UserWarning: something"]
    assert "widgets" not in notebook.metadata
    assert [(o.name, o.text) for o in cell.outputs] == [
        ("stdout", "before\ntab1 os8 seed 0: mIOU 46.95 (ok, 306 s)\n"),
        ("stderr", "UserWarning: something\n"),
    ]


@pytest.mark.slow
def test_the_kernel_shows_no_progress_and_traces_results(sandbox: Path, tmp_path: Path) -> None:
    """In the kernel: no tqdm bar or warning, and a results file opened behind the scan's
    back (here through the environment) fails the execution, naming it."""
    head = textwrap.dedent("""\
        # # 99. Test

        # %%
        import os, sys
        from pathlib import Path
        from tqdm.auto import tqdm
        for _ in tqdm(range(3)):
            pass
        print("tab1 os8 seed 0: mIOU 46.95 (ok, 306 s)", file=sys.stderr)
        assert os.environ["ATROUS_CHAPTER_SMALL"] == "1"
    """)
    sandbox.write_text(
        head + 'print(Path(os.environ["ATROUS_RESULTS_DIR"], "tab1.csv").read_text())\n'
    )
    with pytest.raises(notebooks.UnresolvedResults, match="results/tab1.csv"):
        notebooks.run(sandbox, "1", tmp_path)
    sandbox.write_text(  # a sub-folder's file (the scaled recipe's) is traced as well
        head + 'print(Path(os.environ["ATROUS_RESULTS_DIR"], "scaled", "tab5.csv").read_text())\n'
    )
    with pytest.raises(notebooks.UnresolvedResults, match="results/scaled/tab5.csv"):
        notebooks.run(sandbox, "1", tmp_path)
    sandbox.write_text(head + 'RESULTS = Path(os.environ["ATROUS_RESULTS_DIR"])\n'
                       'print((RESULTS / "tab1.csv").read_text())\n'
                       'print((RESULTS / "scaled" / "tab5.csv").read_text()[:0])\n')  # fmt: skip
    notebook, run = notebooks.run(sandbox, "1", tmp_path)
    assert run["opened"] == ["scaled/tab5.csv", "tab1.csv"] and run["stderr"] == []
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert [o.name for o in outputs] == ["stdout"]
    assert "IProgress" not in outputs[0].text and not PROGRESS_BAR.search(outputs[0].text)
    assert "mIOU 46.95" in outputs[0].text and "1,2" in outputs[0].text


@pytest.mark.slow
def test_the_kernel_imports_this_checkouts_library(sandbox: Path, tmp_path: Path, monkeypatch):
    """The kernel runs in a temporary folder, where ``import atrous`` would follow the
    environment's editable install, which may name another checkout (a fresh clone that
    shares this .venv): its results and notes would be shown under this checkout's stamp.
    The kernel imports this checkout's atrous, and a run that got another one fails."""
    sandbox.write_text("# %%\nimport atrous\nprint(atrous.__file__)\n")
    notebook, _ = notebooks.run(sandbox, "1", tmp_path)
    (output,) = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert Path(output.text.strip()).parent == (notebooks.ROOT / "atrous").resolve()
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)  # a "checkout" without atrous in it
    with pytest.raises(notebooks.ForeignLibrary, match="not from this checkout"):
        notebooks.run(sandbox, "1", tmp_path)
