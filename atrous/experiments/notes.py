"""Likely reasons: a person's reading of the runs where a claim does not agree with the paper.

``results/notes.toml`` (and ``results/scaled/notes.toml``) hold one text per claim, keyed
``"NAME: claim"``, written after looking at a complete claim's per-class figure, loss
curves and valid-tap tables. :func:`notes_for` gives those of one experiment's claims that
do not agree; the report prints them under the experiment, the chapters beside its table.
"""

from __future__ import annotations

from pathlib import Path

from atrous.base.tables import read_toml
from atrous.experiments.judge import ClaimResult


def read_notes(results: Path) -> dict[str, str]:
    """The likely reasons written down in ``results/notes.toml``, by ``"NAME: claim"``."""
    path = results / "notes.toml"
    return read_toml(path) if path.is_file() else {}


def notes_for(
    name: str, judged: list[ClaimResult], notes: dict[str, str]
) -> list[tuple[ClaimResult, str]]:
    """Each claim of experiment ``name`` that does not agree and has a note, with its note."""
    written = [(c, notes.get(f"{name}: {c.claim.describe()}")) for c in judged]
    return [(c, n) for c, n in written if n and c.verdict != "agrees"]
