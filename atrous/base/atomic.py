"""Files written so that a process killed at any moment leaves the old file whole.

A new file is written to a temporary name in the same folder and renamed over the old one
(:func:`os.replace` is atomic on one file system); :func:`write_text_atomic` does this for
small text files (records, JSON) and :func:`write_atomic` for any writer (checkpoints:
:func:`atrous.model.checkpoint.save_checkpoint`). Files are created with the permissions of
the process's umask, as ``open`` would, not the temporary file's 0600.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def umask() -> int:
    """The process's umask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_partial_writes(path: str | Path) -> list[Path]:
    """Delete the temporary files that a run killed while writing ``path`` left behind."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, sync it, give it the umask's
    permissions and :func:`os.replace` it over ``path``; what a killed earlier write left
    behind is removed first. A process killed at any moment leaves the old file whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_partial_writes(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` with :func:`write_atomic`."""
    return write_atomic(path, lambda f: f.write(text.encode("utf-8")))
