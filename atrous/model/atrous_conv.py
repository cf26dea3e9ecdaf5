r"""Only the valid taps of an atrous convolution: Sec. 3.3 and Fig. 4, used for speed.

Sec. 3.3 observes that as the rate :math:`r` of a "same"-padded :math:`k \times k` filter
grows towards the feature-map size, more of its taps read the zero padding instead of the
map, until "the 3x3 filter degenerates to a simple 1x1 filter since only the center filter
weight is effective" (Fig. 4; :mod:`reference.valid_weights` counts the valid taps).

Along one axis of size :math:`n`, the tap at offset :math:`d \cdot r` from the centre
(:math:`|d| \le c = (k - 1) / 2`) lands on the map for some output position exactly when
:math:`|d| \, r \le n - 1`. The taps that never do multiply zeros at every position, so a
convolution with only the inner

.. math::

    c' = \min\left(c, \left\lfloor \frac{n - 1}{r} \right\rfloor\right)

taps on each side of the centre, padded by :math:`c' r`, has the same output; and the
dropped weights' gradients are zero in the full convolution, so training is unchanged too.
It is much cheaper on small maps: a 97-pixel crop at output stride 16 gives 7x7 maps, on
which ASPP's rates 12 and 18 and block4's last unit rate 8 (multi-grid 1, 2, 4) run as the
1x1 filters they are, instead of 3x3 filters over maps padded to 23x23 to 43x43; at output
stride 8 (13x13 maps) the doubled rates 24 and 36 and block4's 16 do.

:class:`AtrousConv2d` is an ``nn.Conv2d`` (same parameters and state-dict keys) that does
this in its forward pass. It computes the full filter when the shortcut does not apply
(stride > 1, padding other than "same", padding modes other than zeros) and during
``torch.export`` (whose input sizes may be symbolic).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def valid_half_width(size: int, kernel_size: int, rate: int) -> int:
    """How many taps on each side of the centre ever land on a map of ``size`` (one axis):
    ``min((kernel_size - 1) // 2, (size - 1) // rate)``."""
    return min((kernel_size - 1) // 2, (size - 1) // rate)


def valid_weight(
    weight: torch.Tensor, size: tuple[int, int], rate: tuple[int, int]
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The part of a "same"-padded filter ``weight`` (C_out, C_in, k_h, k_w) whose taps ever
    land on a ``size`` map at ``rate``, and the padding that keeps the output size."""
    kept, padding = [], []
    for axis, (n, r) in enumerate(zip(size, rate, strict=True)):
        k = weight.shape[2 + axis]
        c, half = (k - 1) // 2, valid_half_width(n, k, r)
        kept.append(slice(c - half, c + half + 1))
        padding.append(half * r)
    return weight[:, :, kept[0], kept[1]], (padding[0], padding[1])


class AtrousConv2d(nn.Conv2d):
    """``nn.Conv2d`` that skips the taps of a "same"-padded atrous filter which only ever
    read padding (the same output; see the module docstring)."""

    def _shortcut_applies(self) -> bool:
        k_h, k_w = self.kernel_size
        same = (self.dilation[0] * (k_h - 1) // 2, self.dilation[1] * (k_w - 1) // 2)
        return (
            self.stride == (1, 1)
            and self.padding_mode == "zeros"
            and k_h % 2 == 1
            and k_w % 2 == 1
            and self.padding == same
            and not torch.compiler.is_exporting()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._shortcut_applies():
            return super().forward(x)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        weight, padding = valid_weight(self.weight, size, self.dilation)  # all of it, if valid
        return F.conv2d(x, weight, self.bias, 1, padding, self.dilation, self.groups)
