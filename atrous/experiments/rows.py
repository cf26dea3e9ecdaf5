"""The results files: one CSV per experiment, one row per (variant, seed) run.

:data:`COLUMNS` is the schema. A row is identified by its variant, seed and
:func:`config_hash` (everything that decides its mIOU); its trained network by
:func:`train_hash` (the config without ``[eval]``), so that variants differing only in
inference share one training. Both hashes come from
:meth:`~atrous.recipe.config.TrainConfig.hashed_dict`, in which a config field added after
the first results enters only when it differs from its default: no new field makes a
committed row stale. Rows are appended, flushed and synced one at a time; a file is never
rewritten. A row that a killed process cut short, or that was edited by hand, is left out
and reported by file and line (:func:`check_rows`), never fatal to the rest.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from atrous.base.errors import AtrousError
from atrous.recipe.config import TrainConfig, from_dict

#: The columns of ``results/NAME.csv``, in order.
COLUMNS = (
    "experiment", "variant", "seed", "budget", "miou", "iou", "status", "iterations",
    "train_seconds", "eval_seconds", "precision", "replicas", "threads", "cpu", "torch",
    "commit", "config_hash", "train_hash", "weights_sha256", "config",
)  # fmt: skip
#: The columns of a results file begun since runs could start from a pre-trained backbone:
#: :data:`COLUMNS` and the backbone's SHA-256 (empty for a run from random weights). Files
#: begun before keep their header, and their rows read with an empty ``pretrained_sha256``.
COLUMNS_V2 = (*COLUMNS, "pretrained_sha256")
#: The columns of a results file begun since runs could follow a frozen design
#: (:mod:`atrous.experiments.designed_runs`): :data:`COLUMNS_V2` and the design's recipe and
#: data hashes (empty for a run without a design).
COLUMNS_V3 = (*COLUMNS_V2, "recipe_hash", "data_hash")
_HEADERS = (list(COLUMNS), list(COLUMNS_V2), list(COLUMNS_V3))


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_hash(config: TrainConfig, replicas: int) -> str:
    """Identifies a row: everything that decides its mIOU."""
    return _digest({"config": config.hashed_dict(), "replicas": replicas})


def train_hash(config: TrainConfig, replicas: int) -> str:
    """Identifies a trained network: the config without its ``[eval]`` table."""
    values = config.hashed_dict()
    del values["eval"]
    return _digest({"config": values, "replicas": replicas})


#: How far a row's mIOU may lie from the mean of its per-class IoU (both rounded to 4 places).
MIOU_TOLERANCE = 0.001
_INTS = ("seed", "replicas", "iterations", "threads")
_FLOATS = ("miou", "train_seconds", "eval_seconds")
_reported: set[str] = set()


def _reason(error: Exception) -> str:
    if isinstance(error, ValueError) and "zip()" in str(error):
        return "cut short or with extra fields"
    return str(error)


def _parse(row: dict[str, Any]) -> dict[str, Any]:
    """One CSV record as a row (ValueError saying what is wrong)."""
    for key in _INTS:
        row[key] = int(row[key])
    for key in _FLOATS:
        row[key] = float(row[key])
    try:
        row["iou"], row["config"] = json.loads(row["iou"]), json.loads(row["config"])
    except json.JSONDecodeError as error:
        raise ValueError(f"a JSON column does not parse ({error})") from None
    return row


def _edited(row: dict[str, Any]) -> str | None:
    """Why a parsed row cannot be what ``reproduce`` wrote (None if it can)."""
    try:
        config = from_dict(row["config"])
    except AtrousError as error:
        return f"its config is not valid: {error}"
    if config_hash(config, row["replicas"]) != row["config_hash"]:
        return "its config does not match its config_hash (edited by hand?)"
    ious = [v for v in row["iou"].values() if v is not None and not math.isnan(v)]
    if row["status"] == "ok" and ious:
        mean = sum(ious) / len(ious)
        if abs(mean - row["miou"]) > MIOU_TOLERANCE:
            return (f"its miou {row['miou']} is not the mean of its per-class IoU "
                    f"({mean:.4f}; edited by hand?)")  # fmt: skip
    return None


def check_rows(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The sound rows of a results CSV and, for each row left out, ``FILE:LINE: reason``.

    A row left out was cut short (a process killed while appending, a full disk), does not
    parse, or was edited by hand (its config no longer gives its hash, its mIOU is not the
    mean of its per-class IoU). An empty file has no rows; a file whose header is not
    :data:`COLUMNS` is not a results file of this version (AtrousError)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return [], []
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    header = next(csv.reader(lines[:1]), None)
    if header not in _HEADERS:
        raise AtrousError(f"{path}: not a results file of this version (its header is "
                          f"{header}, expected {list(COLUMNS_V3)})")  # fmt: skip
    rows, problems = [], []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:  # one line, one row: a row cut short cannot swallow the next one
            row = _parse(dict(zip(header, next(csv.reader([line])), strict=True)))
            for key in COLUMNS_V3[len(COLUMNS) :]:
                row.setdefault(key, "")
        except (ValueError, TypeError, csv.Error) as error:
            problems.append(f"{path}:{number}: skipped, {_reason(error)}")
            continue
        why = _edited(row)
        if why:
            problems.append(f"{path}:{number}: skipped, {why}")
        else:
            rows.append(row)
    return rows, problems


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The sound rows of a results CSV ([] if there is no file); each row left out is
    reported once on stderr as ``FILE:LINE: reason`` (:func:`check_rows`)."""
    rows, problems = check_rows(path)
    for problem in problems:
        if problem not in _reported:
            _reported.add(problem)
            print(problem, file=sys.stderr)
    return rows


def _end_last_line(path: Path) -> None:
    """Add the newline that a row cut short lacks, so that the next row starts on a new line."""
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            f.write(b"\n")


def _header_of(path: Path) -> tuple[str, ...]:
    with path.open(encoding="utf-8", errors="replace") as f:
        header = next(csv.reader([f.readline().rstrip("\r\n")]), [])
    if header not in _HEADERS:
        raise AtrousError(f"{path}: not a results file of this version (its header is "
                          f"{header}); rows are never appended to it")  # fmt: skip
    return tuple(header)


def append_row(path: str | Path, row: dict[str, Any]) -> None:
    """Append one row (the header first if the file is new or empty), flushed to disk at
    once; a last line left without its newline is ended first. The file is never rewritten."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        _end_last_line(path)
    columns = COLUMNS_V3 if new else _header_of(path)
    lost = [k for k in COLUMNS_V3 if k not in columns and row.get(k)]
    if lost:
        raise AtrousError(f"{path} was begun before rows recorded {', '.join(lost)}; "
                          f"write this row into a new results folder")  # fmt: skip
    values = {k: row.get(k, "") for k in columns}
    values["iou"] = json.dumps(row["iou"], sort_keys=False)
    values["config"] = json.dumps(row["config"], sort_keys=True)
    with path.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        if new:
            writer.writeheader()
        writer.writerow(values)
        f.flush()
        os.fsync(f.fileno())
