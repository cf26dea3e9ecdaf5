r"""The "poly" learning-rate policy (Sec. 4.1).

.. math::

    \mathrm{lr} = \mathrm{base\_lr} \cdot \left(1 - \frac{\mathrm{step}}{\mathrm{max\_steps}}
    \right)^{\mathrm{power}}, \qquad \mathrm{power} = 0.9.

The paper writes ``iter`` and ``max_iter``; here they are ``step`` and ``max_steps``.
"""

from __future__ import annotations

import math
from numbers import Real

from reference.conv import _is_int


def poly_lr(base_lr: float, step: int, max_steps: int, power: float = 0.9) -> float:
    """Learning rate at ``step`` of ``max_steps`` under the poly policy.

    Args:
        base_lr: the initial learning rate, a finite float >= 0 (0.007 in the paper).
        step: the current step, an int in ``[0, max_steps]``; step 0 gives ``base_lr``,
            step ``max_steps`` gives 0 (for power > 0).
        max_steps: the total number of steps, an int >= 1 (30K in the paper).
        power: a finite float >= 0 (0.9 in the paper; 0 keeps the rate constant).

    Returns:
        ``base_lr * (1 - step / max_steps) ** power``.
    """
    if isinstance(base_lr, bool) or not isinstance(base_lr, Real):
        raise ValueError(f"base_lr must be a float >= 0, got {base_lr!r}")
    if not math.isfinite(base_lr) or base_lr < 0:
        raise ValueError(f"base_lr must be a finite float >= 0, got {base_lr!r}")
    if not _is_int(max_steps) or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    if not _is_int(step) or not 0 <= step <= max_steps:
        raise ValueError(f"step must be an int in [0, max_steps={max_steps}], got {step!r}")
    if isinstance(power, bool) or not isinstance(power, Real):
        raise ValueError(f"power must be a float >= 0, got {power!r}")
    if not math.isfinite(power) or power < 0:
        raise ValueError(f"power must be a finite float >= 0, got {power!r}")
    return float(base_lr) * (1.0 - int(step) / int(max_steps)) ** float(power)
