"""Where a result comes from: the machine, the code and the weights it was made with.

Every results row records the CPU model (:func:`cpu_model`), the git commit of the code
(:func:`git_commit`) and a SHA-256 of the trained weights (:func:`weights_sha256`); the
benchmarks record the first two.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch


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


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def git_commit() -> str:
    """The state of the checkout atrous is imported from (:func:`checkout_state`), as it was
    when this process first asked: ``reproduce`` asks as it starts, so a row names the code
    the process imported even if the checkout moves on while it trains;
    ``"atrous <version> (installed)"`` outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return f"atrous {metadata.version('atrous')} (installed)"
    return checkout_state(root)


def checkout_state(root: Path) -> str:
    """``git rev-parse HEAD`` of the checkout at ``root``, ``-dirty`` if a tracked file outside
    ``results/`` is changed (the rows that runs append there are not the code);
    ``"unknown"`` if git cannot say."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")
