"""Likely reasons (atrous/experiments/notes.py): printed only for a claim that does not
agree, with its own note, the same in the report and in the chapters."""

from __future__ import annotations

import shutil

from atrous.experiments.chapter_tables import likely_reasons
from atrous.experiments.paths import committed_results
from atrous.experiments.report import render_readme

MULTI_GRID = "tab5: mg124 better than mg111"  # inconclusive in the committed scaled rows
POOLING = "tab5: mg124-pooling better than mg124"  # agrees there


def _folder(tmp_path, notes: dict[str, str]):
    scaled = committed_results() / "scaled"
    for name in ("design.toml", "tab5.csv"):
        shutil.copy(scaled / name, tmp_path / name)
    text = "".join(f'"{key}" = """{note}"""\n' for key, note in notes.items())
    (tmp_path / "notes.toml").write_text(text)
    return tmp_path


def test_a_note_is_printed_for_a_claim_that_does_not_agree_and_never_beside_an_agreement(
    tmp_path,
):
    reason = "Conjecture: " + "the ASPP after block4 already samples the larger rates. " * 3
    results = _folder(tmp_path, {MULTI_GRID: reason, POOLING: "Dead text beside an agreement."})
    text = likely_reasons("tab5", results, recipe="scaled", width=70)
    assert text.startswith("- mg124 better than mg111: ") and "Dead text" not in text
    assert max(len(line) for line in text.splitlines()) <= 70
    assert " ".join(text.split()) == f"- mg124 better than mg111: {reason}".strip()
    readme, _ = render_readme(results, "full", "scaled")
    assert f"- mg124 better than mg111: {reason}" in readme and "Dead text" not in readme


def test_without_a_note_the_chapter_says_so(tmp_path):
    results = _folder(tmp_path, {})
    assert likely_reasons("tab5", results, recipe="scaled") == (
        "tab5: no note in notes.toml on a claim that does not agree"
    )
