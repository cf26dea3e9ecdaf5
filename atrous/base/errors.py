"""The errors of bad input: :class:`AtrousError` and its two file kinds.

Everything a user can get wrong (a config key or value, a command-line argument, a missing,
corrupt or foreign file, a label outside the classes, an output path that would overwrite
something) raises an :class:`AtrousError` whose message names the parameter or the file and
says what is allowed. It is a :class:`ValueError`, so ``except ValueError`` still catches it;
a missing file raises :class:`AtrousFileNotFoundError` and a path that must not be written
over :class:`AtrousFileExistsError`, which are also the matching :class:`OSError`. The
command line (:mod:`atrous.cli`) turns each into one line, ``error: ...``, and exit code 2.
Any other exception is a bug in atrous, not in its input: please report it.
"""

from __future__ import annotations


class AtrousError(ValueError):
    """Bad input to atrous; the message names the parameter or file and what is allowed."""


class AtrousFileNotFoundError(AtrousError, FileNotFoundError):
    """A file or folder that atrous was asked to read does not exist."""


class AtrousFileExistsError(AtrousError, FileExistsError):
    """An output that exists already and would be written over."""
