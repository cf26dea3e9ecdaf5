"""The results files: one CSV per experiment, one row per (variant, seed) run.

:data:`COLUMNS` is the schema. A row is identified by its variant, seed and
:func:`config_hash` (everything that decides its mIOU); its trained network by
:func:`train_hash` (the config without ``[eval]``), so that variants differing only in
inference share one training. Both hashes come from
:meth:`~atrous.recipe.config.TrainConfig.hashed_dict`, in which a config field added after
the first results enters only when it differs from its default: no new field makes a
committed row stale. Rows are appended, flushed and synced one at a time; a file is never
rewritten.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from atrous.base.errors import AtrousError
from atrous.recipe.config import TrainConfig

#: The columns of ``results/NAME.csv``, in order.
COLUMNS = (
    "experiment", "variant", "seed", "budget", "miou", "iou", "status", "iterations",
    "train_seconds", "eval_seconds", "precision", "replicas", "threads", "cpu", "torch",
    "commit", "config_hash", "train_hash", "weights_sha256", "config",
)  # fmt: skip


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


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a results CSV, ``iou`` and ``config`` parsed; [] if there is no file."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or set(reader.fieldnames) != set(COLUMNS):
            raise AtrousError(f"{path}: not a results file of this version (columns "
                              f"{reader.fieldnames}, expected {list(COLUMNS)})")  # fmt: skip
        rows = list(reader)
    for row in rows:
        for key in ("seed", "replicas", "iterations", "threads"):
            row[key] = int(row[key])
        for key in ("miou", "train_seconds", "eval_seconds"):
            row[key] = float(row[key])
        row["iou"], row["config"] = json.loads(row["iou"]), json.loads(row["config"])
    return rows


def append_row(path: str | Path, row: dict[str, Any]) -> None:
    """Append one row (the header first if the file is new), flushed to disk at once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    values = {k: row[k] for k in COLUMNS}
    values["iou"] = json.dumps(row["iou"], sort_keys=False)
    values["config"] = json.dumps(row["config"], sort_keys=True)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(values)
        f.flush()
        os.fsync(f.fileno())
