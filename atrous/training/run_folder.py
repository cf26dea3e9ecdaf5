"""The run folder: ``checkpoint.pt``, and the metrics log ``metrics.jsonl`` drawn as ``curves.png``.

This module is the one place that knows the folder's layout (:func:`checkpoint_path`,
:func:`metrics_path`, :func:`curves_path`; the checkpoint's name is the model's rule,
:func:`atrous.model.checkpoint.checkpoint_file`). The log has one JSON record every
``log_every`` iterations.

Each record holds the iteration, the mean loss since the last record, the learning rate and
the images per second. A resumed run drops the records after its checkpoint (those
iterations are done again) and goes on appending; :func:`atrous.training.curves.plot_curves`
draws it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from atrous.base.atomic import write_text_atomic
from atrous.base.tables import plain
from atrous.model.checkpoint import CHECKPOINT_NAME, save_checkpoint
from atrous.model.config import DeepLabV3Config
from atrous.recipe.config import TrainConfig
from atrous.training.curves import plot_curves


def checkpoint_path(run_dir: str | Path) -> Path:
    """The run's checkpoint: ``RUN_DIR/checkpoint.pt``."""
    return Path(run_dir) / CHECKPOINT_NAME


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether the run has written a checkpoint (and so can resume)."""
    return checkpoint_path(run_dir).is_file()


def metrics_path(run_dir: str | Path) -> Path:
    """The run's log: ``RUN_DIR/metrics.jsonl``."""
    return Path(run_dir) / "metrics.jsonl"


def curves_path(run_dir: str | Path) -> Path:
    """The run's loss and learning-rate figure: ``RUN_DIR/curves.png``."""
    return Path(run_dir) / "curves.png"


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """The records of a ``metrics.jsonl`` log (empty if there is none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def logged_seconds(run_dir: str | Path, batch_size: int) -> float:
    """Seconds of training that the run's ``metrics.jsonl`` records (each record's images over
    its images per second): what a run resumed from its checkpoint had already spent."""
    seconds, before = 0.0, 0
    for record in read_metrics(metrics_path(run_dir)):
        seconds += (record["iteration"] - before) * batch_size / record["images_per_s"]
        before = record["iteration"]
    return seconds


def write_metrics(path: str | Path, history: list[dict[str, float]]) -> None:
    """Write ``history`` as ``metrics.jsonl`` (one record a line), atomically."""
    write_text_atomic(path, "".join(json.dumps(record) + "\n" for record in history))


class RunLog:
    """Collects the loss of every iteration; a record every ``log_every`` (and at ``stop``)."""

    def __init__(self, history: list[dict[str, float]], log_every: int, batch_size: int) -> None:
        self.history, self.log_every, self.batch_size = history, log_every, batch_size
        self._sum, self._count, self._tic = 0.0, 0, time.perf_counter()

    def add(self, done: int, loss: float, lr: float, stop: int) -> dict[str, float] | None:
        """Iteration ``done`` finished with ``loss`` at ``lr``; the new record, if one is due."""
        self._sum, self._count = self._sum + loss, self._count + 1
        if done % self.log_every and done != stop:
            return None
        seconds = time.perf_counter() - self._tic
        record = {
            "iteration": done,
            "loss": self._sum / self._count,
            "lr": lr,
            "images_per_s": self._count * self.batch_size / seconds,
        }
        self.history.append(record)
        self._sum, self._count, self._tic = 0.0, 0, time.perf_counter()
        return record


def save_run(
    run_dir: Path,
    config: TrainConfig,
    network: DeepLabV3Config,
    iteration: int,
    state: dict[str, Any],
    history: list[dict[str, float]],
) -> None:
    """Write the run folder: ``checkpoint.pt`` (``state`` with the configs and the
    iteration, atomically: :mod:`atrous.model.checkpoint`), ``metrics.jsonl`` and ``curves.png``."""
    state = {**state, "network": plain(dataclasses.asdict(network)),
             "config": config.to_dict(), "iteration": iteration}  # fmt: skip
    save_checkpoint(checkpoint_path(run_dir), state)
    write_metrics(metrics_path(run_dir), history)
    if history:
        plot_curves(history, curves_path(run_dir), config.train.lr_power)
