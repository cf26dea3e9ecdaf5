"""Re-running the paper's comparisons at small scale: ``python -m atrous reproduce NAME``.

For each variant of the experiment (:mod:`atrous.experiments.registry`) and each seed, the runner
builds the config (base recipe + budget + the variant's changes + ``train.seed``), trains
the network or finds it already trained, evaluates it on the val split and appends one row
to ``results/NAME.csv``. Rows are written as they finish, so an interrupted experiment
loses at most the run in progress, and that one resumes from its last checkpoint.

**Resumable.** A row is identified by (variant, seed, config hash); the command skips rows
already in the CSV, so re-running it continues where it stopped. It never rewrites a row:
a row of an older config stays in the file (stale, see :mod:`atrous.experiments.report`) and the new
row is appended beside it.

**Trained once.** Trained networks live in ``runs/reproduce/<train hash>/`` (the hash of
the config without its ``[eval]`` table), so variants that differ only in evaluation, in
any experiment, share one training (Tab. 4, 6 and the eval half of Tab. 10).

**Recorded.** Each row holds the mIOU and per-class IoU, the iterations, wall times,
precision, the full config and its hash, a SHA-256 of the trained weights, the git commit,
the machine (CPU model, threads, torch version) and the design's hashes where a design chose
it. The same config on the same kind of machine gives the same weights hash and mIOU.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from atrous.base.atomic import write_text_atomic
from atrous.base.errors import AtrousError
from atrous.base.locks import claimed, held_or_refuse, held_or_wait, shared_or_refuse
from atrous.experiments.budget import check_budget
from atrous.experiments.design import BASE_RECIPE, BUDGETS, Experiment, Variant
from atrous.experiments.designed_runs import designed
from atrous.experiments.fig4 import write_fig4
from atrous.experiments.followups import FOLLOWUPS, followup_runs
from atrous.experiments.paths import default_results, default_store
from atrous.experiments.plan import runs_to_do, variant_config, variant_overrides
from atrous.experiments.plots import plot_experiment
from atrous.experiments.provenance import cpu_model, git_commit, weights_sha256
from atrous.experiments.recipes import experiments_of
from atrous.experiments.rows import append_row, config_hash, read_rows, train_hash
from atrous.experiments.testability import valid_tap_table
from atrous.inference.evaluate import evaluate_split
from atrous.model.checkpoint import load_model
from atrous.recipe.config import TrainConfig
from atrous.recipe.configs import pretrained_path, recipe_path
from atrous.training.loop import train
from atrous.training.run_folder import has_checkpoint, logged_seconds


def _train_in_process(config: TrainConfig, run_dir: Path, progress: bool):
    resume = has_checkpoint(run_dir)
    return train(config, run_dir, resume=resume, progress=progress).model


def _train_with_torchrun(variant: Variant, seed: int, budget: str, run_dir: Path, threads: int):
    """Train under ``torchrun`` with ``variant.replicas`` CPU processes (gloo)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={variant.replicas}", "-m", "atrous", "train",
               str(recipe_path(variant.base)), "--run-dir", str(run_dir), "--quiet"]  # fmt: skip
    for change in variant_overrides(variant, seed, budget):
        command += ["--set", change]
    if has_checkpoint(run_dir):
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
    train_seconds, weights_sha256, iterations, status (``ok`` or why it failed). Two
    processes that need the same network never train it twice at once: the second waits
    for the first (a lock per training hash) and then finds it trained."""
    run_dir = _run_dir(config, variant, store)
    with held_or_wait(run_dir / "trained.json", f"training the network {run_dir}"):
        record = trained_record(run_dir)
        if record is not None:
            return load_model(run_dir)[0], record
        return _train(config, variant, seed, budget, run_dir, progress)


def trained_record(run_dir: Path) -> dict[str, Any] | None:
    """The record ``trained.json`` of a finished training in the store, None if there is
    none; AtrousError naming the file if it is damaged."""
    path = run_dir / "trained.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict) or not {"status", "weights_sha256"} <= set(record):
        raise AtrousError(f"{path} is damaged (not the JSON record of a training): delete it "
                          f"and the same command trains again, resuming from the run's "
                          f"checkpoint")  # fmt: skip
    return record


def _train(
    config: TrainConfig, variant: Variant, seed: int, budget: str, run_dir: Path, progress: bool
) -> tuple[torch.nn.Module | None, dict[str, Any]]:
    """Train the network of a run now; the model (None if it diverged) and its record (its
    ``train_seconds`` include what a resumed run had spent before it stopped)."""
    tic = time.perf_counter()
    if has_checkpoint(run_dir):
        tic -= logged_seconds(run_dir, config.train.batch_size)
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
    write_text_atomic(run_dir / "trained.json", json.dumps(record, indent=2) + "\n")
    return model, record


def pretrained_sha256(config: TrainConfig) -> str:
    """SHA-256 of the backbone a run started from (``train.pretrained``), "" if none."""
    if not config.train.pretrained or config.train.init:
        return ""
    return hashlib.sha256(pretrained_path(config.train.pretrained).read_bytes()).hexdigest()


def stored_model(
    variant: Variant, seed: int = 0, budget: str = "full", store: str | Path | None = None
) -> torch.nn.Module | None:
    """The trained network of (variant, seed) if the store holds it (eval mode), else None."""
    config = variant_config(variant, seed, budget)
    run_dir = _run_dir(config, variant, Path(store or default_store(budget)))
    return load_model(run_dir)[0] if trained_record(run_dir) is not None else None


def run_one(
    experiment: Experiment, variant: Variant, seed: int, budget: str, store: Path,
    progress: bool = True, design: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train (or reuse) and evaluate one (variant, seed); the row for the CSV (with the
    ``design``'s hashes where a design chose it)."""
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
        "pretrained_sha256": pretrained_sha256(config), "recipe_hash": "", "data_hash": "",
        **(design or {}),
    }  # fmt: skip


# --- the command ------------------------------------------------------------------------------


def reproduce(
    name: str,
    *,
    seeds: int | None = None,
    budget: str = "full",
    only: Sequence[str] = (),
    results: str | Path | None = None,
    store: str | Path | None = None,
    progress: bool = True,
    recipe: str = "small",
    pilot: bool = False,
    share: bool = False,
) -> list[dict[str, Any]]:
    """Run experiment ``name`` (see the module docstring); the rows it appended.

    ``recipe`` picks the experiments (:mod:`atrous.experiments.recipes`), and a recipe with a
    design runs what its frozen design says (``pilot``: its pilot, into ``pilot/``:
    :mod:`atrous.experiments.designed_runs`), or one of its exploratory follow-ups, into
    ``exploratory/`` (:mod:`atrous.experiments.followups`); ``results`` defaults to the
    recipe's folder (:func:`atrous.experiments.paths.default_results`) and ``store`` (the
    trained networks) to ``runs/reproduce/<budget>``. A second ``reproduce`` of the same
    experiment is refused while one runs, unless both ``share``: then each run is claimed by
    a lock of its own and each process takes the next run nobody holds, in the same order.
    """
    git_commit()  # the code this process imported, before the checkout can move on
    experiments, followup = experiments_of(recipe), FOLLOWUPS[recipe].get(name)
    if name not in experiments and followup is None:
        raise AtrousError(f"unknown experiment {name!r}; the experiments are: "
                          f"{', '.join([*experiments, *FOLLOWUPS[recipe]])}")  # fmt: skip
    if budget not in BUDGETS:
        raise AtrousError(f"--budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    experiment = followup.at(budget) if followup else experiments[name]
    folder = results_folder(results, budget, recipe)
    store = Path(store or default_store(budget))
    if name == "fig4":
        write_fig4(folder)
        return []
    if followup:  # exploratory: outside the design's family and budget
        chosen, design = followup_runs(followup, recipe, budget, seeds, pilot)
        path = followup.csv(folder)
    else:
        chosen, design = designed(recipe, experiment, budget, seeds, pilot)
        path = (folder / "pilot" if pilot else folder) / f"{name}.csv"
    hold = shared_or_refuse if share else held_or_refuse  # share: each run claimed alone
    with hold(path, f"reproduce {name} (writing {path})"):
        guard = recipe if design and not (pilot or followup) else ""  # the design's budget
        added = _run_all(experiment, path, (seeds, chosen), budget, only, store, progress,
                         design, guard)  # fmt: skip
    if path.is_file():
        plot_experiment(experiment, read_rows(path), path.with_suffix(".png"), budget)
    return added


def results_folder(results: str | Path | None, budget: str, recipe: str = "small") -> Path:
    """``results`` (default: the folder of ``recipe``'s rows at ``budget``), checked to be a
    folder."""
    folder = Path(results or default_results(budget, recipe))
    if folder.exists() and not folder.is_dir():
        raise AtrousError(f"--results {str(folder)!r} is a file; give a folder (it holds "
                          f"one NAME.csv per experiment)")  # fmt: skip
    return folder


def _run_all(
    experiment: Experiment, path: Path, seeds: tuple[int | None, dict | None], budget: str,
    only: Sequence[str], store: Path, progress: bool, design: dict[str, Any], guard: str = "",
) -> list[dict[str, Any]]:  # fmt: skip
    """Run every planned run without a current row in ``path``, appending a row as each ends;
    with a ``guard`` recipe, none once that recipe's CPU budget is spent (AtrousError)."""
    name, added = experiment.name, []
    todo = runs_to_do(experiment, path, seeds[0], budget, only, seeds[1])
    if todo and experiment.variants[0].base != BASE_RECIPE:  # the scaled recipe's maps
        print(valid_tap_table(variant_config(experiment.variants[0], 0, budget)), file=sys.stderr)
    bar = tqdm(todo, desc=f"reproduce {name}", unit="run", disable=not progress)
    for variant, seed in bar:
        with claimed(path.parent / ".runs" / f"{path.stem}.{variant.name}.seed{seed}") as mine:
            if not mine or not runs_to_do(experiment, path, None, budget, [variant.name],
                                          {variant.name: [seed]}):  # fmt: skip
                continue  # another process (--share) runs it, or has since finished it
            if guard:
                check_budget(guard, path.parent)
            bar.set_postfix(variant=variant.name, seed=seed)
            row = run_one(experiment, variant, seed, budget, store, progress=False, design=design)
            append_row(path, row)
        added.append(row)
        tqdm.write(f"{name} {variant.name} seed {seed}: mIOU {row['miou']:.2f} "
                   f"({row['status']}, {row['train_seconds']:.0f} s)", file=sys.stderr)  # fmt: skip
    bar.close()
    return added
