"""The chapters as executed notebooks: run each ``chapters/*.py`` once, keep the result.

A chapter is a jupytext percent file. Executing it (jupytext + nbclient, this environment's
``python3`` kernel) gives a notebook with its outputs, which the documentation site renders
and a reader can open in Jupyter. Each executed notebook is written to
``docs/_executed/chapters/<stem>.ipynb`` (gitignored; the site's page ``chapters/<stem>/``)
with a stamp in its metadata: a SHA-256 of the cells it was executed from and the value of
``ATROUS_CHAPTER_SMALL`` it ran with. A notebook is *fresh* while both match the chapter.
``tests/test_chapters.py`` writes them as it runs the chapters, so that the docs build after
the tests executes nothing a second time.

    python -m docs.notebooks                         # the stale chapters, ATROUS_CHAPTER_SMALL=1
    ATROUS_CHAPTER_SMALL=0 python -m docs.notebooks  # at full size (minutes)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
#: The executed notebooks, laid out as the site's pages: ``chapters/<stem>.ipynb``.
EXECUTED = ROOT / "docs" / "_executed"
#: The cell timeout of a chapter, in seconds (as in the chapter tests).
TIMEOUT = 300
_STAMP = "atrous_executed"  # the notebook metadata key of the stamp


def chapters() -> list[Path]:
    """Every chapter, in order: ``chapters/*.py`` sorted by name."""
    return sorted(CHAPTERS.glob("*.py"))


def small_setting() -> str:
    """``ATROUS_CHAPTER_SMALL`` for the docs: ``"1"`` (the tests' size) unless set otherwise."""
    return os.environ.get("ATROUS_CHAPTER_SMALL", "1")


def title(chapter: Path) -> str:
    """A chapter's title: its first ``# # N. Title`` markdown heading (else its stem)."""
    for line in chapter.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return chapter.stem


def executed_path(chapter: Path) -> Path:
    """Where the executed notebook of ``chapter`` is kept."""
    return EXECUTED / "chapters" / f"{chapter.stem}.ipynb"


def _stamp(notebook: nbformat.NotebookNode, small: str) -> dict[str, str]:
    """What a notebook was executed from: its cells (execution leaves their sources alone)."""
    cells = "\0".join(f"{cell.cell_type}\0{cell.source}" for cell in notebook.cells)
    return {"cells_sha256": hashlib.sha256(cells.encode()).hexdigest(), "small": small}


def is_fresh(chapter: Path, small: str) -> bool:
    """Whether the kept notebook was executed from today's ``chapter`` with ``small``."""
    path = executed_path(chapter)
    if not path.is_file():
        return False
    try:
        kept = nbformat.read(path, as_version=4)
    except (OSError, ValueError):  # truncated or foreign: execute again
        return False
    return kept.metadata.get(_STAMP) == _stamp(jupytext.read(chapter), small)


def write_executed(notebook: nbformat.NotebookNode, chapter: Path, small: str) -> Path:
    """Stamp ``notebook``, executed from ``chapter`` with ``ATROUS_CHAPTER_SMALL=small``, and
    write it to :func:`executed_path` (atomically: a reader never sees half of it)."""
    notebook.metadata[_STAMP] = _stamp(notebook, small)
    path = executed_path(chapter)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    nbformat.write(notebook, partial)
    os.replace(partial, path)
    return path


def execute(chapter: Path, small: str) -> Path:
    """Execute ``chapter`` in a temporary folder with ``ATROUS_CHAPTER_SMALL=small`` and write
    the executed notebook; raises ``CellExecutionError`` on the first failing cell."""
    from nbclient import NotebookClient

    notebook = jupytext.read(chapter)
    previous = os.environ.get("ATROUS_CHAPTER_SMALL")
    os.environ["ATROUS_CHAPTER_SMALL"] = small  # inherited by the kernel
    try:
        with tempfile.TemporaryDirectory() as workdir:
            NotebookClient(
                notebook,
                kernel_name="python3",
                timeout=TIMEOUT,
                resources={"metadata": {"path": workdir}},
            ).execute()
    finally:
        if previous is None:
            del os.environ["ATROUS_CHAPTER_SMALL"]
        else:
            os.environ["ATROUS_CHAPTER_SMALL"] = previous
    return write_executed(notebook, chapter, small)


def ensure_executed(chapter: Path, small: str) -> Path:
    """The executed notebook of ``chapter``: the kept one if fresh, else executed now."""
    return executed_path(chapter) if is_fresh(chapter, small) else execute(chapter, small)


def main() -> None:
    small = small_setting()
    for chapter in chapters():
        if is_fresh(chapter, small):
            print(f"{chapter.name}: {executed_path(chapter).relative_to(ROOT)} is fresh")
        else:
            print(f"{chapter.name} -> {execute(chapter, small).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
