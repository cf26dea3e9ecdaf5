"""Where a result comes from: the machine, the code and the weights it was made with.

Every results row records the CPU model (:func:`cpu_model`), the git commit of the code
(:func:`git_commit`) and a SHA-256 of the trained weights (:func:`weights_sha256`); the
benchmarks record the first two.
"""

from __future__ import annotations

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


def git_commit() -> str:
    """``git rev-parse HEAD`` of the checkout atrous is imported from, ``-dirty`` if tracked
    files are changed; ``"atrous <version> (installed)"`` when it is not in a git checkout."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return f"atrous {metadata.version('atrous')} (installed)"
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")
