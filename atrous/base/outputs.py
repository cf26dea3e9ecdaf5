"""Where results are written: every output path is checked before any work starts.

Nothing a user has is ever lost: an output never replaces an input, two inputs never write
one output, an existing output is replaced only when asked (``overwrite``), and a path that
is a file where a folder is needed (or lies under a file) is refused up front, so that a long
evaluation does not run only to fail at its last step. Errors are :class:`AtrousError`\\ s
naming the path and the option that set it.
"""

from __future__ import annotations

from pathlib import Path

from atrous.base.errors import AtrousError, AtrousFileExistsError


def _blocking_file(path: Path) -> Path | None:
    """The first existing non-folder among ``path``'s parents (None if there is none)."""
    for parent in [*reversed(path.parents)]:
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def check_output_dir(path: str | Path, option: str) -> Path:
    """``path`` as a folder that exists or can be made; AtrousError if it or a parent is a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AtrousError(f"{option} {str(path)!r} is a file, not a folder")
    blocking = _blocking_file(path)
    if blocking is not None:
        raise AtrousError(f"{option} {str(path)!r} lies under {str(blocking)!r}, which is a file")
    return path


def check_output_file(path: str | Path, option: str, overwrite: bool = True) -> Path:
    """``path`` as a file that can be written: not a folder, not under a file, and (unless
    ``overwrite``) not there already."""
    path = Path(path)
    if path.is_dir():
        raise AtrousError(f"{option} {str(path)!r} is a folder; give a file name")
    blocking = _blocking_file(path)
    if blocking is not None:
        raise AtrousError(f"{option} {str(path)!r} lies under {str(blocking)!r}, which is a file")
    if path.exists() and not overwrite:
        raise AtrousFileExistsError(
            f"{option}: {str(path)!r} exists; pass --overwrite to replace it"
        )
    return path


def plan_outputs(
    inputs: list[Path], outputs: list[list[Path]], option: str, overwrite: bool
) -> None:
    """Check that the files ``outputs[i]`` written for ``inputs[i]`` replace no input, that no
    two inputs write one file, and (unless ``overwrite``) that none exists; before writing."""
    sources = {p.resolve(): p for p in inputs}
    writer: dict[Path, Path] = {}
    for source, targets in zip(inputs, outputs, strict=True):
        for target in targets:
            key = target.resolve()
            if key in sources:
                raise AtrousError(
                    f"{option}: writing {str(target)!r} for {str(source)!r} would replace the "
                    f"input {str(sources[key])!r}; choose another {option}"
                )
            if key in writer:
                raise AtrousError(
                    f"{str(writer[key])!r} and {str(source)!r} would both write "
                    f"{str(target)!r}; rename one or segment them into different {option} folders"
                )
            writer[key] = source
            check_output_file(target, option, overwrite)
