"""Files written so that a process killed at any moment leaves the old file whole.

A new file is written to a temporary name in the same folder and renamed over the old one
(:func:`os.replace` is atomic on one file system); :func:`write_text_atomic` does this for
small text files (records, JSON), :func:`atrous.model.checkpoint.save_checkpoint` for
checkpoints. Files are created with the permissions of the process's umask, as ``open``
would, not the temporary file's 0600.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and :func:`os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
