"""The run folder: ``checkpoint.pt``, and the metrics log ``metrics.jsonl`` drawn as ``curves.png``.

The log has one JSON record every ``log_every`` iterations.

Each record holds the iteration, the mean loss since the last record, the learning rate and
the images per second. A resumed run drops the records after its checkpoint (those
iterations are done again) and goes on appending; :func:`atrous.figures.plot_curves` draws it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from atrous.config import DeepLabV3Config
from atrous.tables import plain
from atrous.train_config import TrainConfig


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """The records of a ``metrics.jsonl`` log (empty if there is none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_metrics(path: str | Path, history: list[dict[str, float]]) -> None:
    """Write ``history`` as ``metrics.jsonl`` (one record a line)."""
    with Path(path).open("w") as f:
        for record in history:
            f.write(json.dumps(record) + "\n")


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
    iteration, atomically: :mod:`atrous.checkpoint`), ``metrics.jsonl`` and ``curves.png``."""
    from atrous.checkpoint import save_checkpoint
    from atrous.figures import plot_curves

    state = {**state, "network": plain(dataclasses.asdict(network)),
             "config": config.to_dict(), "iteration": iteration}  # fmt: skip
    save_checkpoint(run_dir / "checkpoint.pt", state)
    write_metrics(run_dir / "metrics.jsonl", history)
    if history:
        plot_curves(history, run_dir / "curves.png")
