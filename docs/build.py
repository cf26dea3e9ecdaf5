"""Build the documentation site: the executed chapters and the API from the docstrings.

Nothing is written twice: each chapter (``chapters/*.py``, jupytext percent format) is
executed and rendered to HTML with nbconvert, and the API reference of ``atrous`` and
``reference`` is generated from their docstrings with pdoc. The result is a static site in
``docs/_build`` (open ``docs/_build/index.html``).

    python docs/build.py            # execute the chapters at full size (minutes)
    python docs/build.py --small    # ATROUS_CHAPTER_SMALL=1: the CI-sized chapters
    python docs/build.py --no-execute
"""

from __future__ import annotations

import argparse
import html
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"


def build_chapter(path: Path, out_dir: Path, execute: bool) -> Path:
    """Execute one chapter (if asked) and write it as ``out_dir/<stem>.html``."""
    import jupytext
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    notebook = jupytext.read(path)
    if execute:
        NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=1800,
            resources={"metadata": {"path": str(out_dir)}},
        ).execute()
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(notebook)
    target = out_dir / f"{path.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


def build_api(out_dir: Path) -> None:
    """The API reference of ``atrous`` and ``reference`` from the docstrings (pdoc)."""
    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="google", math=True)
    pdoc.pdoc("atrous", "reference", output_directory=out_dir / "api")


def title(path: Path) -> str:
    """A chapter's title: its first markdown heading."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return path.stem


def write_index(out_dir: Path, chapters: list[Path]) -> Path:
    items = "\n".join(
        f'<li><a href="{c.stem}.html">{html.escape(title(c))}</a></li>' for c in chapters
    )
    index = out_dir / "index.html"
    index.write_text(
        "<!doctype html><meta charset='utf-8'><title>atrous</title>"
        "<h1>atrous: DeepLabv3, read, run and checked</h1>"
        f"<h2>Chapters</h2><ol>{items}</ol>"
        "<h2>API</h2><ul><li><a href='api/atrous.html'>atrous</a> (PyTorch)</li>"
        "<li><a href='api/reference.html'>reference</a> (the NumPy oracle)</li></ul>",
        encoding="utf-8",
    )
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_build")
    parser.add_argument("--small", action="store_true", help="run the chapters CI-sized")
    parser.add_argument("--no-execute", action="store_true", help="render without running")
    args = parser.parse_args()
    if args.small:
        os.environ["ATROUS_CHAPTER_SMALL"] = "1"  # inherited by the notebook kernels
    args.out.mkdir(parents=True, exist_ok=True)
    chapters = sorted(CHAPTERS.glob("*.py"))
    for chapter in chapters:
        print(f"chapter {chapter.name} -> {build_chapter(chapter, args.out, not args.no_execute)}")
    build_api(args.out)
    print(f"site: {write_index(args.out, chapters)}")


if __name__ == "__main__":
    main()
