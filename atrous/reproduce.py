"""Re-running the paper's comparisons at small scale: ``python -m atrous reproduce NAME``.

For each variant of the experiment (:mod:`atrous.experiments`) and each seed, the runner
builds the config (base recipe + budget + the variant's changes + ``train.seed``), trains
the network or finds it already trained, evaluates it on the val split and appends one row
to ``results/NAME.csv``. Rows are written as they finish, so an interrupted experiment
loses at most the run in progress, and that one resumes from its last checkpoint.

**Resumable.** A row is identified by (variant, seed, config hash); the command skips rows
already in the CSV, so re-running it continues where it stopped. It never rewrites a row:
a row of an older config stays in the file (stale, see :mod:`atrous.report`) and the new
row is appended beside it.

**Trained once.** Trained networks live in ``runs/reproduce/<train hash>/`` (the hash of
the config without its ``[eval]`` table), so variants that differ only in evaluation, in
any experiment, share one training (Tab. 4, 6 and the eval half of Tab. 10).

**Recorded.** Each row holds the mIOU and per-class IoU, the iterations, wall times,
precision, the full config and its hash, a SHA-256 of the trained weights, the git commit
and the machine (CPU model, threads, torch version). The same config on the same kind of
machine gives the same weights hash and mIOU (training is deterministic on the CPU).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from atrous.errors import AtrousError
from atrous.experiments import BASE_RECIPE, BUDGETS, EXPERIMENTS, FULL_SEEDS, Experiment, Variant
from atrous.train_config import TrainConfig, load_config

#: Where the committed results live.
RESULTS = Path(__file__).resolve().parent.parent / "results"
#: The columns of ``results/NAME.csv``, in order.
COLUMNS = (
    "experiment", "variant", "seed", "budget", "miou", "iou", "status", "iterations",
    "train_seconds", "eval_seconds", "precision", "replicas", "threads", "cpu", "torch",
    "commit", "config_hash", "train_hash", "weights_sha256", "config",
)  # fmt: skip


# --- configs and their hashes -----------------------------------------------------------------


def variant_overrides(variant: Variant, seed: int, budget: str) -> list[str]:
    """The ``--set`` changes of the base recipe for ``variant`` at ``seed`` and ``budget``."""
    if budget not in BUDGETS:
        raise AtrousError(f"--budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    return [*BUDGETS[budget], *variant.train, *variant.eval, f"train.seed={seed}"]


def variant_config(variant: Variant, seed: int, budget: str) -> TrainConfig:
    """The validated config of one run."""
    return load_config(BASE_RECIPE, variant_overrides(variant, seed, budget))


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_hash(config: TrainConfig, replicas: int) -> str:
    """Identifies a row: everything that decides its mIOU."""
    return _digest({"config": config.to_dict(), "replicas": replicas})


def train_hash(config: TrainConfig, replicas: int) -> str:
    """Identifies a trained network: the config without its ``[eval]`` table."""
    values = config.to_dict()
    del values["eval"]
    return _digest({"config": values, "replicas": replicas})


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of every tensor of ``model.state_dict()`` (names, shapes, float32 bytes)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        t = tensor.detach().cpu()
        t = t.float() if t.is_floating_point() else t
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


# --- where a row comes from ---------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """``git rev-parse HEAD`` of the project, ``-dirty`` if tracked files are changed."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


# --- the CSV --------------------------------------------------------------------------------


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


# --- training and evaluating one run ------------------------------------------------------------


def _train_in_process(config: TrainConfig, run_dir: Path, progress: bool):
    from atrous.train import train

    resume = (run_dir / "checkpoint.pt").is_file()
    return train(config, run_dir, resume=resume, progress=progress).model


def _train_with_torchrun(variant: Variant, seed: int, budget: str, run_dir: Path, threads: int):
    """Train under ``torchrun`` with ``variant.replicas`` CPU processes (gloo)."""
    from atrous.checkpoint import load_model

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={variant.replicas}", "-m", "atrous", "train",
               str(BASE_RECIPE), "--run-dir", str(run_dir), "--quiet"]  # fmt: skip
    for change in variant_overrides(variant, seed, budget):
        command += ["--set", change]
    if (run_dir / "checkpoint.pt").is_file():
        command.append("--resume")
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, threads // variant.replicas))}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise AtrousError(f"torchrun with {variant.replicas} processes failed "
                          f"(exit {done.returncode}):\n{done.stderr[-3000:]}")  # fmt: skip
    return load_model(run_dir)[0]


def _run_dir(config: TrainConfig, variant: Variant, store: Path) -> Path:
    """Where the store keeps the trained network of ``config``: one folder per train hash."""
    return store / train_hash(config, variant.replicas)


def trained_model(
    config: TrainConfig, variant: Variant, seed: int, budget: str, store: Path, progress: bool
) -> tuple[torch.nn.Module | None, dict[str, Any]]:
    """The trained network of a run (trained now, or found in ``store``) and its record:
    train_seconds, weights_sha256, iterations, status (``ok`` or why it failed)."""
    from atrous.checkpoint import load_model

    run_dir = _run_dir(config, variant, store)
    record_path = run_dir / "trained.json"
    if record_path.is_file():
        return load_model(run_dir)[0], json.loads(record_path.read_text())
    tic = time.perf_counter()
    try:
        if variant.replicas > 1:
            model = _train_with_torchrun(variant, seed, budget, run_dir, torch.get_num_threads())
        else:
            model = _train_in_process(config, run_dir, progress)
    except FloatingPointError as error:  # a diverged run is a result, not a crash
        seconds = round(time.perf_counter() - tic, 1)
        record = {"status": f"diverged: {str(error).splitlines()[0]}",
                  "train_seconds": seconds, "weights_sha256": "", "iterations": 0}  # fmt: skip
        return None, record
    record = {
        "status": "ok",
        "train_seconds": round(time.perf_counter() - tic, 1),
        "weights_sha256": weights_sha256(model),
        "iterations": config.train.iterations,
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return model, record


def stored_model(
    variant: Variant, seed: int = 0, budget: str = "full", store: str | Path | None = None
) -> torch.nn.Module | None:
    """The trained network of (variant, seed) if the store holds it (eval mode), else None."""
    from atrous.checkpoint import load_model

    config = variant_config(variant, seed, budget)
    run_dir = _run_dir(config, variant, Path(store or Path("runs/reproduce") / budget))
    return load_model(run_dir)[0] if (run_dir / "trained.json").is_file() else None


def run_one(
    experiment: Experiment, variant: Variant, seed: int, budget: str, store: Path,
    progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Train (or reuse) and evaluate one (variant, seed); the row for the CSV."""
    from atrous.evaluate import evaluate_split

    config = variant_config(variant, seed, budget)
    model, record = trained_model(config, variant, seed, budget, store, progress)
    tic = time.perf_counter()
    if model is None:
        miou, iou, precision = math.nan, {}, config.eval.precision
    else:
        scores = evaluate_split(model, config, progress=False)
        miou, precision = 100 * scores.miou, scores.settings["precision"]
        names = scores.class_names or [str(i) for i in range(len(scores.iou))]
        iou = {n: round(100 * float(v), 4) for n, v in zip(names, scores.iou, strict=True)}
    return {
        "experiment": experiment.name, "variant": variant.name, "seed": seed,
        "budget": budget, "miou": round(miou, 4), "iou": iou, "status": record["status"],
        "iterations": record["iterations"], "train_seconds": record["train_seconds"],
        "eval_seconds": round(time.perf_counter() - tic, 1), "precision": precision,
        "replicas": variant.replicas, "threads": torch.get_num_threads(), "cpu": cpu_model(),
        "torch": torch.__version__, "commit": git_commit(),
        "config_hash": config_hash(config, variant.replicas),
        "train_hash": train_hash(config, variant.replicas),
        "weights_sha256": record["weights_sha256"], "config": config.to_dict(),
    }  # fmt: skip


# --- the command ------------------------------------------------------------------------------


def planned_runs(
    experiment: Experiment, seeds: int | None, budget: str, only: Sequence[str] = ()
) -> list[tuple[Variant, int]]:
    """(variant, seed) pairs to run: ``seeds`` (default :data:`FULL_SEEDS` at the full
    budget, 1 at quick) for every variant a claim compares, 1 for the others."""
    for name in only:
        experiment.variant(name)  # names a missing one
    claimed = seeds if seeds is not None else (FULL_SEEDS if budget == "full" else 1)
    if claimed < 1:
        raise AtrousError(f"--seeds must be >= 1, got {claimed}")
    return [
        (v, seed)
        for v in experiment.variants
        if not only or v.name in only
        for seed in range(experiment.seeds(v.name, claimed))
    ]


def reproduce(
    name: str,
    *,
    seeds: int | None = None,
    budget: str = "full",
    only: Sequence[str] = (),
    results: str | Path | None = None,
    store: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run experiment ``name`` (see the module docstring); the rows it appended.

    ``results`` defaults to ``results/`` for the full budget and ``runs/reproduce-quick``
    for the quick one (quick rows are never mixed into the committed results); ``store``
    (the trained networks) to ``runs/reproduce/<budget>``.
    """
    if name not in EXPERIMENTS:
        raise AtrousError(f"unknown experiment {name!r}; the experiments are: "
                          f"{', '.join(EXPERIMENTS)}")  # fmt: skip
    experiment = EXPERIMENTS[name]
    if budget not in BUDGETS:
        raise AtrousError(f"--budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    results = Path(results or (RESULTS if budget == "full" else Path("runs/reproduce-quick")))
    store = Path(store or Path("runs/reproduce") / budget)
    if name == "fig4":
        from atrous.report import write_fig4

        write_fig4(results)
        return []
    path = results / f"{name}.csv"
    have = {(r["variant"], r["seed"], r["config_hash"]) for r in read_rows(path)}
    todo = []
    for variant, seed in planned_runs(experiment, seeds, budget, only):
        config = variant_config(variant, seed, budget)
        if (variant.name, seed, config_hash(config, variant.replicas)) not in have:
            todo.append((variant, seed))
    added = []
    bar = tqdm(todo, desc=f"reproduce {name}", unit="run", disable=not progress)
    for variant, seed in bar:
        bar.set_postfix(variant=variant.name, seed=seed)
        row = run_one(experiment, variant, seed, budget, store, progress=False)
        append_row(path, row)
        added.append(row)
        tqdm.write(f"{name} {variant.name} seed {seed}: mIOU {row['miou']:.2f} "
                   f"({row['status']}, {row['train_seconds']:.0f} s)", file=sys.stderr)  # fmt: skip
    bar.close()
    from atrous.report import plot_experiment

    if path.is_file():
        plot_experiment(experiment, read_rows(path), results / f"{name}.png", budget)
    return added


def recheck(
    name: str, variant: str, seed: int, results: str | Path | None = None, budget: str = "full"
) -> bool:
    """Re-train and re-evaluate one committed row from scratch (in a temporary store) and
    say whether it gives the same weights hash and mIOU; prints both. A mismatch on another
    kind of machine (CPU model, threads, torch version) is reported but expected."""
    import tempfile

    experiment = EXPERIMENTS[name]
    v = experiment.variant(variant)
    path = Path(results or RESULTS) / f"{name}.csv"
    key = config_hash(variant_config(v, seed, budget), v.replicas)
    rows = [r for r in read_rows(path) if (r["variant"], r["seed"], r["config_hash"]) ==
            (variant, seed, key)]  # fmt: skip
    if not rows:
        raise AtrousError(f"{path} has no current row for {variant} seed {seed}")
    row = rows[-1]
    with tempfile.TemporaryDirectory() as store:
        new = run_one(experiment, v, seed, budget, Path(store), progress=False)
    same_kind = all(row[k] == new[k] for k in ("cpu", "threads", "torch", "precision"))
    same = (row["weights_sha256"], row["miou"]) == (new["weights_sha256"], new["miou"])
    for label, r in (("committed", row), ("re-run", new)):
        print(f"{label:>9}: mIOU {r['miou']:.4f}, weights {r['weights_sha256'][:16]}, "
              f"{r['cpu']}, {r['threads']} thread(s), torch {r['torch']}, {r['precision']}, "
              f"commit {r['commit'][:12]}")  # fmt: skip
    verdict = "the same" if same else "DIFFERENT"
    kind = "the same kind of machine" if same_kind else "another kind of machine"
    print(f"{verdict} weights hash and mIOU, on {kind}")
    return same or not same_kind


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of the finite values."""
    v = np.array([x for x in values if not math.isnan(x)], dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
