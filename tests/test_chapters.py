"""Every chapter (chapters/*.py, jupytext percent format) runs as a real notebook.

Each file is read with jupytext and executed cell by cell with nbclient in this
environment's ``python3`` kernel, with ``ATROUS_CHAPTER_SMALL=1`` so that heavy cells run
small. A chapter's claims are ``assert``s, so a wrong claim fails its test: ``execute()``
raises on the first cell that raises. New chapters are picked up automatically.

An executed chapter is written, stamped with its source's hash, to
``docs/_executed/chapters/<stem>.ipynb`` (gitignored, :mod:`docs.notebooks`): the docs build
renders that notebook instead of executing the chapter a second time.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

from docs import notebooks

CHAPTERS = notebooks.chapters()


def test_there_are_chapters() -> None:
    assert CHAPTERS, "no chapters/*.py found"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_chapter_executes(chapter: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATROUS_CHAPTER_SMALL", "1")  # inherited by the kernel
    notebook = jupytext.read(chapter)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel runs in tmp_path
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on failure
    notebooks.write_executed(notebook, chapter, small="1")  # for the docs, executed once


def test_every_paper_number_in_the_prose_is_the_papers() -> None:
    """A number with two decimals in a chapter's text is quoted from the paper (our own
    numbers are printed by code); it must be one of atrous.experiments.paper.RESULTS, typed once."""
    import re

    from atrous.experiments.paper import RESULTS

    paper = {f"{r.value:.2f}" for r in RESULTS}
    for chapter in CHAPTERS:
        prose = [line for line in chapter.read_text().splitlines() if line.startswith("# ")]
        for number in re.findall(r"(?<![\d.+-])\d{2}\.\d{2}(?!\d)", "\n".join(prose)):
            assert number in paper, f"{chapter.name} quotes {number}, which is no paper value"
