"""atrous: DeepLabv3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image
Segmentation", 2017) in PyTorch, checked against the NumPy oracle in :mod:`reference`.

The package is layered; each sub-package may import only those before it:

1. :mod:`atrous.base`: errors, TOML tables, precision, devices, scales, safe file writes;
2. :mod:`atrous.model`: the network (Eq. 1, Sec. 3) and its file formats;
3. :mod:`atrous.data`: the synthetic scenes and the paper's datasets;
4. :mod:`atrous.recipe`: the run config (Sec. 4.1) and the recipes shipped with atrous;
5. :mod:`atrous.training` and :mod:`atrous.inference` (Sec. 4.1, 4.3), side by side;
6. :mod:`atrous.experiments`: the paper's comparisons re-run at small scale;
7. the tools: :mod:`atrous.cli`, :mod:`atrous.diagrams` (the chapters' figures),
   :mod:`atrous.demo`, :mod:`atrous.export`, :mod:`atrous.figures`, :mod:`atrous.testing`.

The names below are loaded on first use, so ``import atrous`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from atrous.base.errors import AtrousError
    from atrous.model.config import DeepLabV3Config
    from atrous.model.deeplabv3 import DeepLabV3
    from atrous.model.interop import from_torchvision
    from atrous.model.presets import get_preset

__version__ = "0.1.0"
#: Each public name and the module it lives in.
_PUBLIC = {
    "AtrousError": "atrous.base.errors",
    "DeepLabV3": "atrous.model.deeplabv3",
    "DeepLabV3Config": "atrous.model.config",
    "from_torchvision": "atrous.model.interop",
    "get_preset": "atrous.model.presets",
}
__all__ = ["AtrousError", "DeepLabV3", "DeepLabV3Config", "from_torchvision", "get_preset"]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'atrous' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
