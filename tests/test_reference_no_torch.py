"""reference/ is pure NumPy: it imports (and works) with torch and atrous unavailable."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
sys.modules["atrous"] = None
import numpy as np
import reference
assert reference.atrous_conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3))).item() == 9
assert not any(name.split(".")[0] in ("torch", "atrous") and sys.modules[name] is not None
               for name in sys.modules)
print(len(reference.__all__))
"""


def test_reference_imports_without_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    import reference

    assert int(result.stdout) == len(reference.__all__)
