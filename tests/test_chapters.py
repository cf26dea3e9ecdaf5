"""Every chapter (chapters/*.py, jupytext percent format) runs as a real notebook.

Each file is read with jupytext and executed cell by cell with nbclient in this
environment's ``python3`` kernel, with ``ATROUS_CHAPTER_SMALL=1`` so that heavy cells run
small. A chapter's claims are ``assert``s, so a wrong claim fails its test: ``execute()``
raises on the first cell that raises. New chapters are picked up automatically.

The prose is checked too, without executing anything: a two-decimal number is a paper
value; a verdict or direction of our own runs is never typed but printed from ``results/``
(``describe_results``, ``claims_table``); and statements once wrong (map sizes and output
strides, which blocks halve, Tab. 3's ranking, which section holds which table, what the
paper's code does with the unit that lost its stride, ...) stay corrected.

An executed chapter is written, stamped with its source's hash, to
``docs/_executed/chapters/<stem>.ipynb`` (gitignored, :mod:`docs.notebooks`), never to the
committed full-size notebooks of ``docs/chapters-executed/``: the docs build falls back on
it, marked as a smoke run, only where a chapter has no full-size notebook. Executing a
chapter also checks that every ``results/`` file it opened is one that
``docs.notebooks.results_read`` finds in its code (the files in its notebook's stamp).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

from docs import notebooks

CHAPTERS = notebooks.chapters()


def test_there_are_chapters() -> None:
    assert CHAPTERS, "no chapters/*.py found"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=[path.stem for path in CHAPTERS])
def test_chapter_executes(chapter: Path, tmp_path: Path) -> None:
    # ATROUS_CHAPTER_SMALL=1 in the kernel, which runs in tmp_path; raises CellExecutionError,
    # with the cell and traceback, on failure, and UnresolvedResults when the chapter opened
    # a results file its stamp would not cover.
    notebook, run = notebooks.run(chapter, "1", tmp_path)
    path = notebooks.write_executed(notebook, chapter, "1", run)  # for the docs, executed once
    assert notebooks.COMMITTED not in path.parents  # the committed ones are full size


def test_every_paper_number_in_the_prose_is_the_papers() -> None:
    """A number with two decimals in a chapter's text is quoted from the paper (our own
    numbers are printed by code); it must be one of atrous.experiments.paper.RESULTS, typed once."""
    from atrous.experiments.paper import RESULTS

    paper = {f"{r.value:.2f}" for r in RESULTS}
    for chapter in CHAPTERS:
        prose = [line for line in chapter.read_text().splitlines() if line.startswith("# ")]
        for number in re.findall(r"(?<![\d.+-])\d{2}\.\d{2}(?!\d)", "\n".join(prose)):
            assert number in paper, f"{chapter.name} quotes {number}, which is no paper value"


# The chapters' prose is checked sentence by sentence below. Prose is the text of markdown
# cells; a sentence ends at ".", "!" or "?" before a capital (so "Sec. 4.3" and "Tab. 8"
# do not end one), a paragraph, a bullet or a heading.

BACKBONE = Path(__file__).resolve().parent.parent / "atrous" / "model" / "backbone.py"


def _chapter(prefix: str) -> Path:
    return next(path for path in CHAPTERS if path.name.startswith(prefix))


def _prose(chapter: Path) -> str:
    notebook = jupytext.read(chapter)
    return "\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")


def _sentences(text: str) -> list[str]:
    """The sentences of ``text``, each on one line."""
    paragraphs = re.split(r"\n\s*\n|\n(?=\s*(?:[-*] |\d+\. |#))", text)
    out = []
    for paragraph in paragraphs:
        joined = " ".join(paragraph.split())
        out += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z`(\"*$])", joined) if s]
    return out


def _backbone_docstring() -> str:
    return ast.get_docstring(ast.parse(BACKBONE.read_text())) or ""


#: The verdicts of results/README.md and their kin: a chapter prints them, never types them.
VERDICT = re.compile(
    r"\b(agrees|disagree[sd]?|disagreements?|(in)?conclusive(ly)?|undecidable|untestable"
    r"|contradict\w*)\b",
    re.IGNORECASE,
)
AGREE = re.compile(r"\bagree(d|ment)?\b", re.IGNORECASE)
#: A sentence about our runs ...
OURS = re.compile(r"\b(ours|our (committed |small |own )?(runs?|results?|numbers|mIOU|"
                  r"reproductions?|networks?|curve|verdicts?)|we (find|found|get|got))\b",
                  re.IGNORECASE)  # fmt: skip
#: ... that says which way they went.
DIRECTION = re.compile(
    r"\b(better|worse|beats?|best|worst|loses?|lost|gains?|helps?|hurts?|falls?|rises?"
    r"|improves?|drops?|wins?|higher|lower|most|least)\b",
    re.IGNORECASE,
)


def test_no_verdict_on_our_results_is_typed() -> None:
    """What our runs show changes when they are re-run: a chapter prints it from
    ``results/`` (``describe_results``, ``claims_table``), its prose never states it. No
    verdict word anywhere in the prose, no "agree" in a sentence about runs or results, and
    no direction (better, loses, ...) in a sentence about ours."""
    for chapter in CHAPTERS:
        for sentence in _sentences(_prose(chapter)):
            where = f"{chapter.name}: {sentence!r}"
            assert not VERDICT.search(sentence), f"a typed verdict, {where}"
            if AGREE.search(sentence):
                assert not re.search(r"\b(our|ours|runs?|results?|claims?|paper)\b", sentence,
                                     re.IGNORECASE), f"a typed verdict, {where}"  # fmt: skip
            if OURS.search(sentence):
                assert not DIRECTION.search(sentence), f"a typed direction of ours, {where}"


def test_every_rerun_prints_the_committed_verdicts() -> None:
    """A chapter that re-runs an experiment prints the verdicts of the committed runs, read
    from ``results/`` by ``describe_results`` or ``claims_table``."""
    for chapter in CHAPTERS:
        code = chapter.read_text()
        for name in re.findall(r"\breproduce\(\s*\"([\w-]+)\"", code):
            printed = rf"\b(describe_results|claims_table)\(\s*\"{re.escape(name)}\",\s*RESULTS\b"
            assert re.search(printed, code), f"{chapter.name}: {name}'s verdicts are not printed"


def test_feature_map_sizes_match_their_output_stride() -> None:
    """A 513 x 513 crop gives (513 - 1) / output_stride + 1: 65 x 65 at 8, 33 x 33 at 16,
    17 x 17 at 32. A clause about that crop that names output strides may only name maps
    of those strides."""
    for chapter in CHAPTERS:
        clauses = [c for s in _sentences(_prose(chapter)) for c in s.split(";")]
        for clause in clauses:
            if not re.search(r"513( ?x ?513|-pixel)", clause):
                continue
            strides = {int(s) for s in re.findall(r"output[_ ]stride`?\s+(\d+)", clause)}
            if not strides:
                continue
            sizes = {int(n) for n in re.findall(r"\b(\d+) ?x ?\1\b", clause)} - {513}
            for size in sizes:
                implied = 512 / (size - 1)
                assert implied in strides, (
                    f"{chapter.name}: a 513 crop gives {size} x {size} at output stride "
                    f"{implied:g}, not {sorted(strides)}: {clause!r}"
                )


def test_which_blocks_halve_the_resolution() -> None:
    """The stem divides by 4 (conv and max pool, stride 2 each), block1 keeps the
    resolution, block2 to block4 (and block5 to block7) halve it: no prose says block1
    halves, or that the stem halves like a block."""
    for chapter in CHAPTERS:
        for sentence in _sentences(_prose(chapter)):
            if not re.search(r"\bhalv", sentence):
                continue
            where = f"{chapter.name}: {sentence!r}"
            assert not re.search(r"block1\s*(\.\.|to|-|–)\s*block[2-7]", sentence), where
            if re.search(r"\bstem\b", sentence):
                assert re.search(r"\b(4|four)\b", sentence), f"the stem divides by 4, {where}"


def test_the_round_trip_of_chapter_2_is_no_bound() -> None:
    """Chapter 2's round trip is not the best a network can do (its prose says so): no
    title or sentence calls it the best possible."""
    text = _chapter("02_").read_text()
    assert "not a strict bound" in text
    assert not re.search(r"best possible|the best a network", text)


def test_tab3_rankings_are_the_papers() -> None:
    """A multi-grid called the worst (or last) of Tab. 3 is the lowest in every column the
    sentence names, and in all four when it names none."""
    from atrous.experiments.paper import RESULTS

    tab3: dict[str, dict[str, float]] = {}
    for r in RESULTS:
        if r.table == "Tab. 3":
            tab3.setdefault(r.column, {})[r.row.removeprefix("Multi_Grid ")] = r.value
    said = re.compile(r"(\(\d, \d, \d\))(?: is)?(?: the)? (?:worst|last)\b([^,;(]*)")
    for chapter in CHAPTERS:
        for sentence in _sentences(_prose(chapter)):
            if "Tab. 3" not in sentence:
                continue
            for grid, clause in said.findall(sentence):
                columns = re.findall(r"block[4-7]", clause) or list(tab3)
                for column in columns:
                    lowest = min(tab3[column], key=tab3[column].get)
                    assert grid == lowest, (f"{chapter.name}: Tab. 3's lowest at {column} is "
                                            f"{lowest}, not {grid}: {sentence!r}")  # fmt: skip


#: Where each table of the paper is: Sec. 4.2, Sec. 4.3, Appendix A, B, C.
TABLE_SECTION = {
    **dict.fromkeys((1, 2, 3, 4), "Sec. 4.2"),
    **dict.fromkeys((5, 6, 7), "Sec. 4.3"),
    **dict.fromkeys((8, 9, 10), "Appendix A"),
    11: "Appendix B",
    **dict.fromkeys((12, 13), "Appendix C"),
}


def test_tables_are_cited_with_their_sections() -> None:
    """A sentence that cites an experimental section (Sec. 4.x) and a table names that
    table's own section too, unless the table is in it: "Sec. 4.3 gains ... (Tab. 4)"
    and "(Sec. 4.1 and Tab. 8)" credit a section with another section's table."""
    for chapter in CHAPTERS:
        for sentence in _sentences(_prose(chapter)):
            if not re.search(r"Sec\. 4\.\d", sentence):
                continue
            tables = {int(n) for n in re.findall(r"Tab\. (\d+)", sentence)}
            tables |= {int(n) for n in re.findall(r"Tab\. \d+(?:, | and )(\d+)\b", sentence)}
            for table in tables:
                assert TABLE_SECTION[table] in sentence, (
                    f"{chapter.name}: Tab. {table} is in {TABLE_SECTION[table]}: {sentence!r}"
                )


#: What the paper's code does with the unit whose stride became a rate (TF-slim's
#: ``stack_blocks_dense``): the old rate for it, the new one only for the units after it.
PAPERS_CODE = re.compile(r"paper's (TensorFlow )?code|authors' (code|ResNet)|TF-slim"
                         r"|stack_blocks_dense")  # fmt: skip
EVERY_UNIT_NEW = re.compile(r"\b(every|each|all)( of the)? units?\b[^.]*\b(new|block's) rate")


def test_the_papers_code_keeps_the_old_rate_for_the_unit_that_lost_its_stride() -> None:
    """Chapter 3 and the backbone's docstring say what TF-slim's code does (the unit that
    lost its stride at the old rate) and never that it gives every unit the new rate."""
    for name, text in (("chapter 3", _prose(_chapter("03_"))),
                       ("atrous/model/backbone.py", _backbone_docstring())):  # fmt: skip
        for sentence in _sentences(text):
            wrong = PAPERS_CODE.search(sentence) and EVERY_UNIT_NEW.search(sentence)
            assert not wrong, f"{name}: not what the paper's code does: {sentence!r}"
        flat = " ".join(text.split())
        assert "stack_blocks_dense" in flat and "first_unit_previous_rate" in flat, name
        assert re.search(r"stride[^.]*\bat the old rate", flat), name


def test_corrected_statements_stay_corrected() -> None:
    """Statements once wrong, each checked where it was."""
    ch5, ch6, ch8 = (_prose(_chapter(p)) for p in ("05_", "06_", "08_"))
    flat5, flat6, flat8 = (" ".join(t.split()) for t in (ch5, ch6, ch8))
    # Sec. 4.3 credits both: fine-tuned BN (protocol) and multi-scale context (architecture).
    assert not re.search(r"not (the )?architecture", flat5), "chapter 5: Sec. 4.3 credits both"
    # Tab. 4 and 6 gain 2.69 and 2.56 points, not three.
    assert not re.search(r"\bthree (more )?points", flat6), "chapter 6: the gains are ~2.6"
    for sentence in _sentences(ch6):
        # At output stride 8 block3 is dilated too, and it is ResNet-101's largest block.
        if re.search(r"output[_ ]stride`? 8", sentence) and re.search(
            r"expensive|cost|compute|FLOP", sentence
        ):
            assert "block4" not in sentence or "block3" in sentence, sentence
        # Whether training at 32 loses is the paper's finding; ours is printed from results/.
        for clause in sentence.split(";"):
            if re.search(r"\btrain\w* at (output[_ ]stride )?32\b", clause) and DIRECTION.search(
                clause
            ):
                assert re.search(r"paper|\b\d{2}\.\d{2}\b", clause), f"chapter 6: {clause!r}"
    # The paper's train-at-8 row used batch 6 (Appendix A): our Tab. 10 asks another question.
    assert re.search(r"\b6, 16 and 24\b|batch(es)? of 6\b", flat6), "chapter 6: batch 6"
    assert "Appendix A" in flat6
    # The paper's baseline is one replica on one GPU (Appendix B).
    assert not re.search(r"\b(several|multiple|many|\d+) GPUs\b", flat8), "chapter 8"
    assert re.search(r"\bone replica\b", flat8) and "Appendix B" in flat8, "chapter 8"
