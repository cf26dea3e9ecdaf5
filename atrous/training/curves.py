"""A run's ``curves.png``: the training loss and the poly learning rate (Sec. 4.1) against the
iteration, drawn from its ``metrics.jsonl`` records."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_curves(history: Sequence[dict[str, float]], path: str | Path, power: float = 0.9) -> Path:
    """Loss and learning rate against the iteration, side by side (a run's ``curves.png``)."""
    its = [r["iteration"] for r in history]
    fig = Figure(figsize=(9, 3.2))
    ax_loss, ax_lr = fig.subplots(1, 2)
    ax_loss.plot(its, [r["loss"] for r in history])
    ax_loss.set(xlabel="iteration", ylabel="cross-entropy", title="training loss")
    ax_lr.plot(its, [r["lr"] for r in history], color="tab:orange")
    ax_lr.set(xlabel="iteration", ylabel="learning rate", title=f"poly schedule (power {power:g})")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)  # render with Agg, whatever the session's backend
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
