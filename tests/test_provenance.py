"""Where a row comes from (atrous/experiments/provenance.py): the commit of the code, dirty
only when the code is changed, not when runs append rows to results/."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from atrous.experiments import provenance
from atrous.experiments.provenance import checkout_state, git_commit


def _git(root, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_rows_appended_to_results_leave_the_commit_clean_a_code_change_does_not(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "tab1.csv").write_text("experiment,variant\n")
    (tmp_path / "model.py").write_text("rate = 2\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert checkout_state(tmp_path) == head
    with (tmp_path / "results" / "tab1.csv").open("a") as rows:
        rows.write("tab1,os8\n")  # a run appended its row
    assert checkout_state(tmp_path) == head
    (tmp_path / "model.py").write_text("rate = 4\n")
    assert checkout_state(tmp_path) == f"{head}-dirty"
    (tmp_path / "notes.txt").write_text("untracked\n")  # untracked files never count
    (tmp_path / "model.py").write_text("rate = 2\n")
    assert checkout_state(tmp_path) == head
    assert checkout_state(tmp_path.parent / "nowhere") == "unknown"


def test_a_process_keeps_the_commit_it_first_saw(monkeypatch):
    """``reproduce`` asks as it starts; a checkout that moves on while it trains (a commit,
    an edit) does not change what its rows name."""
    git_commit.cache_clear()
    try:
        monkeypatch.setattr(provenance, "checkout_state", lambda root: "started-here")
        assert git_commit() == "started-here"
        monkeypatch.setattr(provenance, "checkout_state", lambda root: "moved-on-dirty")
        assert git_commit() == "started-here"
    finally:
        git_commit.cache_clear()  # the real checkout for the tests after this one
