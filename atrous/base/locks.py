"""Locks between processes: two commands never write the same results file or train the
same network at once.

A lock is an advisory ``flock`` on a small file beside what it guards (``.NAME.lock``); the
operating system releases it when its process ends, however it ends, so a killed run never
leaves a lock behind (the empty file stays and is reused). :func:`held_or_refuse` refuses
at once with an AtrousError saying that another process is running (for a command's own
output: ``reproduce`` of the same experiment twice); :func:`held_or_wait` waits for the
other process (for work two commands may share: one trained network). Commands that agree to
share a file (``reproduce --share``) hold it with :func:`shared_or_refuse` and divide the
work by :func:`claimed`, a lock per piece that a second process skips instead of waiting
for. Where ``fcntl`` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from atrous.base.errors import AtrousError

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None


def lock_path(path: str | Path) -> Path:
    """The lock file of ``path``: ``.NAME.lock`` in the same folder."""
    path = Path(path)
    return path.parent / f".{path.name}.lock"


def _open(path: str | Path) -> int:
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    return os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)


def _try(fd: int, shared: bool = False) -> bool:
    """Lock ``fd`` if nobody else holds it (True; always where there is no ``fcntl``)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def _flock(path: str | Path, blocking: bool, busy: str, shared: bool = False) -> Iterator[None]:
    fd = _open(path)
    try:
        if not _try(fd, shared):
            if not blocking:
                raise AtrousError(busy)
            print(busy, file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def held_or_refuse(path: str | Path, what: str) -> contextlib.AbstractContextManager[None]:
    """Hold the lock of ``path`` for the ``with`` block; AtrousError at once if another
    process holds it (``what`` says what that process is doing)."""
    return _flock(path, False, f"{what} is already running in another process (it holds "
                               f"{lock_path(path)}); wait for it to finish")  # fmt: skip


def held_or_wait(path: str | Path, what: str) -> contextlib.AbstractContextManager[None]:
    """Hold the lock of ``path`` for the ``with`` block, waiting (and saying so) while
    another process holds it."""
    return _flock(path, True, f"waiting: another process is {what} ({lock_path(path)})")


def shared_or_refuse(path: str | Path, what: str) -> contextlib.AbstractContextManager[None]:
    """Hold the lock of ``path`` for the ``with`` block together with other sharing
    processes; AtrousError at once if a process holds it alone (:func:`held_or_refuse`)."""
    return _flock(path, False, f"{what}: another process writes it alone (it holds "
                               f"{lock_path(path)}); wait for it to finish or run both with "
                               f"--share", shared=True)  # fmt: skip


@contextlib.contextmanager
def claimed(path: str | Path) -> Iterator[bool]:
    """Try to hold the lock of ``path`` for the ``with`` block without waiting: True when
    this process holds it, False when another does (it is doing that piece of work)."""
    fd = _open(path)
    try:
        yield _try(fd)
    finally:
        os.close(fd)
