"""The chapters as executed notebooks: run each ``chapters/*.py`` once, keep the result.

A chapter is a jupytext percent file. Executing it (jupytext + nbclient, this environment's
``python3`` kernel) gives a notebook with its outputs, which the documentation site renders
and a reader can open in Jupyter. There are two kinds:

- **full size** (``ATROUS_CHAPTER_SMALL=0``): ``docs/chapters-executed/<stem>.ipynb``,
  committed, and what the site shows. ``make notebooks`` (``python -m docs.notebooks``)
  executes the stale ones, one after the other, and prints each one's wall time (minutes
  each: the chapters train their networks for real);
- **quick** (``ATROUS_CHAPTER_SMALL=1``, the tests' smoke runs):
  ``docs/_executed/chapters/<stem>.ipynb``, gitignored, written by ``tests/test_chapters.py``.
  Their networks train for a few iterations, so they open with a "smoke run" banner; the
  site falls back on one only where a chapter has no full-size notebook yet.

Each executed notebook carries a stamp in its metadata (``atrous_executed``): the SHA-256
of the cells it was executed from, the ``ATROUS_CHAPTER_SMALL`` it ran with, and the
SHA-256 of each ``results/`` file the chapter reads (``null`` for one that did not exist),
so a notebook is *fresh* while all of them match today's files. Which results files a
chapter reads is found in its code (:func:`results_read`): each use of the name
``RESULTS`` (``RESULTS / "tab1.png"``, ``describe_results("tab1", RESULTS)``, a recipe's
sub-folder: ``RESULTS / "scaled" / "tab5.png"``, ``describe_results("tab5", RESULTS /
"scaled", recipe="scaled")`` or ``claims_table("tab5", recipe="scaled")``, also with the
name taken from a ``for`` loop over literal names) and each ``"results/NAME"`` string;
a use it cannot resolve is an error, never a silent miss. While a chapter executes, the
kernel also records every file under ``results/`` it opens, and a file opened but not found by
the scan fails the execution (so the quick-mode chapter tests check the scan too). The
library is not in the stamp: a change to it is caught by the quick-mode chapter tests.

The notebooks show no progress bar: the kernel runs with ``TQDM_DISABLE=1``, which tqdm
honours where no caller decides and the chapters read for their own ``progress=``; tqdm's
"IProgress not found" warning is filtered; the per-run lines that ``reproduce`` writes to
stderr become ordinary output, and any other stderr output is reported.

    python -m docs.notebooks                      # the stale chapters, at full size
    python -m docs.notebooks 02_output_stride     # one chapter (a stem or a prefix: 02)
    python -m docs.notebooks --check              # which are stale, and why (runs nothing)
    ATROUS_CHAPTER_SMALL=1 python -m docs.notebooks   # the quick ones (docs/_executed)
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
RESULTS = ROOT / "results"
#: The full-size executed notebooks, committed: ``<stem>.ipynb``.
COMMITTED = ROOT / "docs" / "chapters-executed"
#: The quick (smoke-run) notebooks, gitignored, laid out as the site's pages:
#: ``chapters/<stem>.ipynb``.
EXECUTED = ROOT / "docs" / "_executed"
#: The cell timeout of a chapter in seconds: quick (as in the chapter tests) and full size.
TIMEOUT = 300
FULL_TIMEOUT = 3600
#: The most a committed notebook may weigh.
MAX_BYTES = 3_000_000
_STAMP = "atrous_executed"  # the notebook metadata key of the stamp
_RUN = "atrous_run"  # ... and of how the run went (wall time, machine, commit): not compared
_SMOKE = "atrous_smoke_run"  # the cell metadata key of the quick notebooks' banner
#: What ``reproduce`` writes to stderr as each run ends (``tab1 os8 seed 0: mIOU 46.95 (ok,
#: 306 s)``): the executed notebook shows it as ordinary output.
RUN_LINE = re.compile(r"^[\w.-]+ [\w.-]+ seed \d+: mIOU (nan|[\d.]+) \(.*\)$")

SMOKE_BANNER = (
    "> **Smoke run, not results.** This page was executed in the tests' quick mode "
    "(`ATROUS_CHAPTER_SMALL=1`): its networks train for a few iterations on tiny inputs, "
    "so its numbers, predictions and curves show only that the code runs. The full-size "
    "notebook is made by `make notebooks` (`docs/chapters-executed/`)."
)


def chapters() -> list[Path]:
    """Every chapter, in order: ``chapters/*.py`` sorted by name."""
    return sorted(CHAPTERS.glob("*.py"))


def small_setting(default: str = "1") -> str:
    """``ATROUS_CHAPTER_SMALL``: ``"1"`` (quick) or ``"0"`` (full size); ``default`` if unset."""
    small = os.environ.get("ATROUS_CHAPTER_SMALL", default)
    if small not in ("0", "1"):
        raise SystemExit(f"ATROUS_CHAPTER_SMALL must be 0 or 1, got {small!r}")
    return small


def title(chapter: Path) -> str:
    """A chapter's title: its first ``# # N. Title`` markdown heading (else its stem)."""
    for line in chapter.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return chapter.stem


def executed_path(chapter: Path, small: str = "0") -> Path:
    """Where the executed notebook of ``chapter`` is kept: committed at full size
    (``small="0"``), gitignored when quick."""
    if small == "0":
        return COMMITTED / f"{chapter.stem}.ipynb"
    return EXECUTED / "chapters" / f"{chapter.stem}.ipynb"


# --- which results files a chapter reads ----------------------------------------------------------

#: The functions that read ``<results>/<name>.csv`` when given a results folder (their
#: second argument or ``results=``), or the committed folder when given none.
READERS = {"describe_results": ("{}.csv",), "claims_table": ("{}.csv",),
           "experiment_table": ("{}.csv",), "likely_reasons": ("{}.csv", "notes.toml")}  # fmt: skip
_RESULTS_STRING = re.compile(r"^(?:\./)?results/([\w.-]+\.\w+)$")


class UnresolvedResults(ValueError):
    """A chapter uses ``RESULTS`` in a way :func:`results_read` cannot resolve to file names."""


class ForeignLibrary(RuntimeError):
    """The kernel imported atrous from another checkout than the one whose chapter it ran
    (its results, figures and notes would be that checkout's, under this one's stamp)."""


def _code(chapter: Path) -> str:
    notebook = jupytext.read(chapter)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def _loop_values(loop: ast.For | ast.comprehension) -> dict[str, set[str]]:
    """The string values the names of one loop over a literal tuple or list take:
    ``for name in ("tab8", "tab9")`` and ``for name, only in (("tab8", [...]), ...)``."""
    values: dict[str, set[str]] = {}
    items = loop.iter.elts if isinstance(loop.iter, ast.Tuple | ast.List) else []
    targets = loop.target.elts if isinstance(loop.target, ast.Tuple) else [loop.target]
    for i, target in enumerate(targets):
        if not isinstance(target, ast.Name):
            continue
        for item in items:
            element = item if len(targets) == 1 else (
                item.elts[i] if isinstance(item, ast.Tuple | ast.List) and i < len(item.elts)
                else None
            )  # fmt: skip
            if isinstance(element, ast.Constant) and isinstance(element.value, str):
                values.setdefault(target.id, set()).add(element.value)
    return values


_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)


def _scope(node: ast.AST, parents: dict[int, ast.AST]) -> dict[str, set[str]]:
    """The loop names bound where ``node`` stands: the loops around it, the innermost last."""
    loops: list[ast.For | ast.comprehension] = []
    parent = parents.get(id(node))
    while parent is not None:
        if isinstance(parent, ast.For):
            loops.append(parent)
        elif isinstance(parent, _COMPREHENSIONS):
            loops.extend(reversed(parent.generators))
        parent = parents.get(id(parent))
    values: dict[str, set[str]] = {}
    for loop in reversed(loops):  # the outermost first: an inner loop's name wins
        values.update(_loop_values(loop))
    return values


def _strings(node: ast.AST, loops: dict[str, set[str]]) -> set[str] | None:
    """Every value the string expression ``node`` can take, or None when that is unknown."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name) and node.id in loops:
        return set(loops[node.id])
    if isinstance(node, ast.JoinedStr):
        parts: list[set[str]] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if value.format_spec is not None or value.conversion != -1:
                    return None
                part = _strings(value.value, loops)
            else:
                part = _strings(value, loops)
            if part is None:
                return None
            parts.append(part)
        return {"".join(combo) for combo in product(*parts)}
    return None


def _argument(call: ast.Call, index: int, name: str) -> ast.AST | None:
    """Argument ``index`` (positional) or ``name`` (keyword) of ``call``; None if absent."""
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == name), None)


def _reader_folder(call: ast.Call, path, is_results, rooted) -> set[str] | None:
    """The ``results/`` sub-folders (``""``, ``"scaled/"``) a :data:`READERS` call reads,
    from its folder (second argument or ``results=``) or, when it has none, from its
    ``recipe`` (fourth or ``recipe=``: the recipe's committed folder); None when the folder is
    another one (the live runs'); an empty set when it cannot tell."""
    folder = _argument(call, 1, "results")
    if folder is None or (isinstance(folder, ast.Constant) and folder.value is None):
        recipe = _argument(call, 3, "recipe")
        if recipe is None:
            return {""}
        if not (isinstance(recipe, ast.Constant) and isinstance(recipe.value, str)):
            return set()
        return {"" if recipe.value == "small" else f"{recipe.value}/"}
    if not rooted(folder):
        return None
    names = path(folder)
    return set() if names is None else {f"{n}/" if n else "" for n in names}


def _designed_reads(prefix: str) -> set[str]:
    """What a reader of a designed recipe's folder (``"scaled/"``) also reads: its design and,
    for the budget spent (:mod:`atrous.experiments.budget`), every experiment's and pilot's rows."""
    from atrous.experiments.recipes import experiments_of  # light: no torch

    names = [n for n in experiments_of(prefix.strip("/")) if n != "fig4"]
    return {f"{prefix}design.toml", *(f"{prefix}{d}{n}.csv" for n in names for d in ("", "pilot/"))}


def results_read(chapter: Path) -> list[str]:
    """The files of ``results/`` that ``chapter``'s code reads, as names (``tab1.csv``),
    sorted. Raises :class:`UnresolvedResults` naming the line of a use of ``RESULTS`` it
    cannot resolve (write the name literally, or loop over literal names)."""
    tree = ast.parse(_code(chapter))
    parents = {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    understood: set[int] = set()  # id() of the RESULTS names accounted for

    def fail(node: ast.AST, what: str) -> UnresolvedResults:
        line = ast.get_source_segment(_code(chapter), node) or ""
        return UnresolvedResults(
            f"{chapter.name}: cannot tell which results file {what} reads: {line!r}; name it "
            f'literally (RESULTS / "NAME.csv", describe_results("NAME", RESULTS)) or loop '
            f"over literal names"
        )

    def is_results(node: ast.AST) -> bool:  # a read of RESULTS (an assignment reads nothing)
        return (
            isinstance(node, ast.Name) and node.id == "RESULTS" and isinstance(node.ctx, ast.Load)
        )

    def path(node: ast.AST) -> set[str] | None:  # RESULTS / "a" / f"{name}.csv": "a/..."
        if is_results(node):
            understood.add(id(node))
            return {""}
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
            return None
        head, tail = path(node.left), _strings(node.right, _scope(node, parents))
        if head is None or tail is None:
            return None
        return {f"{h}/{t}" if h else t for h in head for t in tail}

    def rooted(node: ast.AST) -> bool:
        while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            node = node.left
        return is_results(node)

    folders: set[int] = set()  # id() of the RESULTS paths a reader call resolved as folders
    for node in ast.walk(tree):  # parents before children
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and rooted(node):
            parent = parents.get(id(node))
            longer = isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div)
            if id(node) in folders or (longer and parent.left is node):
                continue  # a reader's folder, or part of a longer path: resolved there
            names = path(node)
            if names is None:
                raise fail(node, "this path")
            found |= names
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            patterns = READERS.get(node.func.id)
            if patterns is None:
                continue
            prefixes = _reader_folder(node, path, is_results, rooted)
            if prefixes is None:
                continue  # another folder (the live runs')
            first = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == "name"), None
            )  # fmt: skip
            names = None if first is None else _strings(first, _scope(node, parents))
            if names is None or not prefixes:
                raise fail(node, f"{node.func.id}")
            found |= {f"{p}{pattern.format(name)}" for p in prefixes for name in names
                      for pattern in patterns}  # fmt: skip
            found |= {f for p in prefixes if p for f in _designed_reads(p)}
            folders |= {id(a) for a in [*node.args, *(k.value for k in node.keywords)]}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _RESULTS_STRING.match(node.value)
            if match:
                found.add(match[1])
    for node in ast.walk(tree):
        if is_results(node) and id(node) not in understood:
            raise fail(node, "this use of RESULTS")
    return sorted(found)


# --- the stamp ------------------------------------------------------------------------------------


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def cells_sha256(notebook: nbformat.NotebookNode) -> str:
    """What a notebook was executed from: its cells (execution leaves their sources alone)."""
    cells = "\0".join(
        f"{cell.cell_type}\0{cell.source}"
        for cell in notebook.cells
        if not cell.metadata.get(_SMOKE)
    )
    return hashlib.sha256(cells.encode()).hexdigest()


def results_stamp(chapter: Path) -> dict[str, str | None]:
    """The SHA-256 of each results file ``chapter`` reads (``results/NAME``), None if absent."""
    return {f"results/{name}": _sha256(RESULTS / name) for name in results_read(chapter)}


def stamp(chapter: Path, small: str, notebook: nbformat.NotebookNode | None = None) -> dict:
    """The stamp of ``chapter`` executed today with ``ATROUS_CHAPTER_SMALL=small`` (its cells
    from ``notebook`` when given: the cells it was really executed from)."""
    cells = cells_sha256(jupytext.read(chapter) if notebook is None else notebook)
    return {"cells_sha256": cells, "small": small, "results_sha256": results_stamp(chapter)}


def read_stamp(path: Path) -> dict | None:
    """The stamp of the notebook at ``path``; None when it is missing, unreadable or bare."""
    try:
        return nbformat.read(path, as_version=4).metadata.get(_STAMP)
    except (OSError, ValueError):  # truncated or foreign: execute again
        return None


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def staleness(chapter: Path, small: str = "0") -> list[str]:
    """Why the kept notebook of ``chapter`` is stale: nothing when it is fresh."""
    path = executed_path(chapter, small)
    if not path.is_file():
        return [f"no executed notebook ({_shown(path)})"]
    kept = read_stamp(path)
    if not isinstance(kept, dict):
        return [f"{_shown(path)} is unreadable or has no stamp"]
    now = stamp(chapter, small)
    reasons = []
    if kept.get("small") != small:
        reasons.append(f"executed with ATROUS_CHAPTER_SMALL={kept.get('small')}, not {small}")
    if kept.get("cells_sha256") != now["cells_sha256"]:
        reasons.append(f"chapters/{chapter.name} changed")
    before = kept.get("results_sha256") or {}
    for name in sorted(set(before) | set(now["results_sha256"])):
        if name not in before:
            reasons.append(f"{name} is read now, and was not then")
        elif name not in now["results_sha256"]:
            reasons.append(f"{name} is no longer read")
        elif before[name] != now["results_sha256"][name]:
            state = {None: "was removed"}.get(now["results_sha256"][name], "changed")
            reasons.append(f"{name} {'appeared' if before[name] is None else state}")
    return reasons


def is_fresh(chapter: Path, small: str = "0") -> bool:
    """Whether the kept notebook was executed from today's ``chapter`` and results files."""
    return not staleness(chapter, small)


# --- executing ------------------------------------------------------------------------------------

#: Run in the kernel before the first cell (it leaves no cell in the notebook): filter
#: tqdm's "IProgress not found" warning, record every file of results/ that is opened, and
#: where the atrous the kernel imports lies.
_KERNEL_SETUP = """\
def _atrous_setup():
    import os, sys, warnings
    import atrous
    with open(os.environ["ATROUS_IMPORTED"], "w", encoding="utf-8") as f:
        f.write(os.path.dirname(os.path.abspath(atrous.__file__)))
    warnings.filterwarnings("ignore", message="IProgress not found")
    log, results = os.environ["ATROUS_RESULTS_TRACE"], os.environ["ATROUS_RESULTS_DIR"]
    def hook(event, args):
        if event != "open" or not args or isinstance(args[0], int):
            return
        try:
            path = os.path.abspath(os.fsdecode(args[0]))
        except (TypeError, ValueError):
            return
        if path.startswith(results + os.sep):
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.write(fd, (os.path.relpath(path, results) + "\\n").encode())
            os.close(fd)
    sys.addaudithook(hook)
_atrous_setup()
del _atrous_setup
"""


def _tidy_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """Show the run lines ``reproduce`` writes to stderr as ordinary output, join adjacent
    streams, drop widget state; the stderr output left, as ``cell N: text`` lines."""
    notebook.metadata.pop("widgets", None)
    left = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                lines = output.text.splitlines(keepends=True)
                runs = "".join(line for line in lines if RUN_LINE.match(line.rstrip("\n")))
                rest = "".join(line for line in lines if not RUN_LINE.match(line.rstrip("\n")))
                if runs:
                    outputs.append(nbformat.v4.new_output("stream", name="stdout", text=runs))
                if rest:
                    outputs.append(nbformat.v4.new_output("stream", name="stderr", text=rest))
                    left.append(f"cell {index}: {rest.strip()[:300]}")
            else:
                outputs.append(output)
        joined: list = []
        for output in outputs:
            previous = joined[-1] if joined else None
            if (
                previous is not None
                and output.output_type == "stream"
                and previous.output_type == "stream"
                and previous.name == output.name
            ):
                previous.text += output.text
            else:
                joined.append(output)
        cell.outputs = joined
    return left


def run(chapter: Path, small: str, workdir: str | Path) -> tuple[nbformat.NotebookNode, dict]:
    """Execute ``chapter`` with ``ATROUS_CHAPTER_SMALL=small``, its kernel in ``workdir``;
    the executed notebook and what the run was (``results`` stamp as it began, ``opened``
    results files, ``stderr`` left, ``seconds``). Raises ``CellExecutionError`` on the
    first failing cell, :class:`UnresolvedResults` when the chapter opened a results file
    that :func:`results_read` does not declare."""
    from nbclient import NotebookClient

    notebook = jupytext.read(chapter)
    declared = results_read(chapter)
    results = results_stamp(chapter)
    with tempfile.TemporaryDirectory() as private:
        trace, setup = Path(private) / "opened", Path(private) / "setup.py"
        imported = Path(private) / "imported"
        setup.write_text(_KERNEL_SETUP, encoding="utf-8")
        env = {
            **os.environ,
            "ATROUS_CHAPTER_SMALL": small,
            "TQDM_DISABLE": "1",  # no progress bar in a notebook that is kept
            "ATROUS_RESULTS_TRACE": str(trace),
            "ATROUS_RESULTS_DIR": str(RESULTS),
            "ATROUS_IMPORTED": str(imported),
            # this checkout's atrous, whatever checkout the environment's editable install
            # names (the kernel runs in a temporary folder)
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        start = time.perf_counter()
        NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=TIMEOUT if small == "1" else FULL_TIMEOUT,
            resources={"metadata": {"path": str(workdir)}},
            extra_arguments=[f"--IPKernelApp.exec_files={setup}"],
        ).execute(env=env)
        seconds = time.perf_counter() - start
        opened = sorted(set(trace.read_text().split())) if trace.is_file() else []
        _check_library(imported.read_text(encoding="utf-8") if imported.is_file() else None)
    undeclared = sorted(set(opened) - set(declared))
    if undeclared:
        raise UnresolvedResults(
            f"{chapter.name} opened {', '.join(f'results/{n}' for n in undeclared)}, which "
            f"docs/notebooks.py's results_read does not find in its code (so a change to "
            f"them would not make its notebook stale): name them literally"
        )
    stderr = _tidy_outputs(notebook)
    return notebook, {"results": results, "opened": opened, "stderr": stderr,
                      "seconds": seconds}  # fmt: skip


def _check_library(imported: str | None) -> None:
    """Raise :class:`ForeignLibrary` unless the kernel imported this checkout's atrous."""
    if imported is None or Path(imported).resolve() != (ROOT / "atrous").resolve():
        raise ForeignLibrary(
            f"the kernel imported atrous from {imported or 'nowhere'}, not from this checkout "
            f"({ROOT / 'atrous'}), so the notebook would show another checkout's results; "
            f"reinstall it here: .venv/bin/python -m pip install --no-deps -e ."
        )


def write_executed(
    notebook: nbformat.NotebookNode, chapter: Path, small: str, run_info: dict | None = None
) -> Path:
    """Stamp ``notebook``, executed from ``chapter`` with ``ATROUS_CHAPTER_SMALL=small``, and
    write it to :func:`executed_path` (atomically: a reader never sees half of it). A quick
    notebook gets the smoke-run banner as its first cell."""
    run_info = run_info or {}
    notebook.metadata[_STAMP] = {
        "cells_sha256": cells_sha256(notebook),
        "small": small,
        "results_sha256": run_info.get("results") or results_stamp(chapter),
    }
    if small == "0" and "seconds" in run_info:
        from atrous.experiments.provenance import cpu_model, git_commit

        notebook.metadata[_RUN] = {
            "seconds": round(run_info["seconds"], 1),
            "cpu": cpu_model(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "commit": git_commit(),
            "date": time.strftime("%Y-%m-%d"),
        }
    if small == "1" and not any(cell.metadata.get(_SMOKE) for cell in notebook.cells):
        banner = nbformat.v4.new_markdown_cell(SMOKE_BANNER, metadata={_SMOKE: True})
        notebook.cells.insert(0, banner)
    path = executed_path(chapter, small)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        nbformat.write(notebook, partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def execute(chapter: Path, small: str) -> tuple[Path, dict]:
    """Execute ``chapter`` in a temporary folder with ``ATROUS_CHAPTER_SMALL=small`` and write
    the executed notebook; its path and the run (:func:`run`)."""
    with tempfile.TemporaryDirectory() as workdir:
        notebook, run_info = run(chapter, small, workdir)
    return write_executed(notebook, chapter, small, run_info), run_info


def ensure_executed(chapter: Path, small: str) -> Path:
    """The executed notebook of ``chapter``: the kept one if fresh, else executed now."""
    return executed_path(chapter, small) if is_fresh(chapter, small) else execute(chapter, small)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m docs.notebooks", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("chapters", nargs="*", help="stems or prefixes (02, 02_output_stride); "
                        "default: every chapter")  # fmt: skip
    parser.add_argument("--check", action="store_true", help="say which are stale, run nothing")
    parser.add_argument("--force", action="store_true", help="execute even the fresh ones")
    args = parser.parse_args(argv)
    small = small_setting(default="0")
    chosen = [c for c in chapters() if not args.chapters
              or any(c.stem.startswith(p) for p in args.chapters)]  # fmt: skip
    if not chosen:
        parser.error(f"no chapter matches {args.chapters}")
    size = "full size" if small == "0" else "quick (ATROUS_CHAPTER_SMALL=1)"
    stale = 0
    for chapter in chosen:
        path = _shown(executed_path(chapter, small))
        reasons = staleness(chapter, small)
        if not reasons and not args.force:
            print(f"{chapter.name}: {path} is fresh", flush=True)
            continue
        stale += 1
        print(f"{chapter.name}: stale ({'; '.join(reasons) or 'forced'})", flush=True)
        if args.check:
            continue
        print(f"{chapter.name}: executing at {size} ...", flush=True)
        written, run_info = execute(chapter, small)
        kib = written.stat().st_size / 1024
        print(f"{chapter.name} -> {path}: {run_info['seconds'] / 60:.1f} min wall "
              f"({run_info['seconds']:.0f} s), {kib:.0f} KiB", flush=True)  # fmt: skip
        if small == "0" and written.stat().st_size > MAX_BYTES:
            print(f"  warning: over {MAX_BYTES / 1e6:.0f} MB", file=sys.stderr)
        for line in run_info["stderr"]:
            print(f"  warning: stderr output left, {line}", file=sys.stderr)
    if args.check and stale:
        print(f"{stale} stale: `make notebooks` executes them", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
