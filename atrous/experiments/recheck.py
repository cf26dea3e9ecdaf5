"""Re-training one committed row from scratch: ``python -m atrous reproduce NAME --recheck``.

A row records the weights hash and mIOU its config gave; the same config on the same kind of
machine (CPU model, threads, torch version, precision) gives the same again. :func:`recheck`
trains it anew in a temporary store (never the shared one) and compares.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from atrous.base.errors import AtrousError
from atrous.experiments.plan import variant_config
from atrous.experiments.recipes import experiments_of
from atrous.experiments.rows import config_hash, read_rows
from atrous.experiments.runner import results_folder, run_one


def recheck(
    name: str, variant: str, seed: int, results: str | Path | None = None, budget: str = "full",
    recipe: str = "small",
) -> bool:  # fmt: skip
    """Re-train and re-evaluate one committed row from scratch (in a temporary store) and
    say whether it gives the same weights hash and mIOU; prints both. A mismatch on another
    kind of machine (CPU model, threads, torch version) is reported but expected."""
    experiments = experiments_of(recipe)
    if name not in experiments or name == "fig4":
        raise AtrousError(f"--recheck needs an experiment with runs, not {name!r}")
    experiment = experiments[name]
    v = experiment.variant(variant)
    path = results_folder(results, budget, recipe) / f"{name}.csv"
    key = config_hash(variant_config(v, seed, budget), v.replicas)
    rows = [r for r in read_rows(path) if (r["variant"], r["seed"], r["config_hash"]) ==
            (variant, seed, key)]  # fmt: skip
    if not rows:
        raise AtrousError(f"{path} has no current row of {variant} seed {seed} at the "
                          f"{budget} budget; --recheck re-runs a row that exists (see "
                          f"`python -m atrous report --budget {budget}`)")  # fmt: skip
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
