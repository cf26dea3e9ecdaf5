"""Where the reproductions read and write: results folders and the store of trained networks.

The full budget's rows are the committed results: ``results/`` of the source checkout that
atrous is imported from, or ``./results`` under the current folder when atrous is an
installed package; the scaled recipe's in its ``scaled/`` folder. Quick rows never mix with
them: they go to ``runs/reproduce-quick/<recipe>`` under the current folder, and trained
networks to ``runs/reproduce/<budget>``.
"""

from __future__ import annotations

from pathlib import Path


def source_checkout() -> Path | None:
    """The root of the source checkout holding this package, or None if it is installed."""
    root = Path(__file__).resolve().parents[2]
    is_checkout = (root / "pyproject.toml").is_file() and (root / "results").is_dir()
    return root if is_checkout else None


def committed_results() -> Path:
    """The folder of the full budget's results (see the module docstring)."""
    root = source_checkout()
    return root / "results" if root else Path("results")


def default_results(budget: str, recipe: str = "small") -> Path:
    """Where ``reproduce`` and ``report`` read and write the rows of ``recipe`` at ``budget``:
    ``results/`` (small) and ``results/scaled/`` at the full budget, and
    ``runs/reproduce-quick/<recipe>`` at the quick one."""
    if budget != "full":
        return Path("runs/reproduce-quick") / recipe
    return committed_results() / ("" if recipe == "small" else recipe)


def default_store(budget: str) -> Path:
    """Where ``reproduce`` keeps the networks it trained at ``budget``."""
    return Path("runs/reproduce") / budget


#: The full budget's results folder, as found when atrous was imported.
RESULTS = committed_results()
