"""The documentation site builds: chapters render and the API pages come from docstrings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_site_builds(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build.py"), "--no-execute", "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    index = (tmp_path / "index.html").read_text()
    for chapter in sorted((ROOT / "chapters").glob("*.py")):
        assert f"{chapter.stem}.html" in index
        assert (tmp_path / f"{chapter.stem}.html").stat().st_size > 0
    api = (tmp_path / "api" / "reference.html").read_text()
    assert "atrous_conv2d" in api  # generated from the docstrings, not written by hand
