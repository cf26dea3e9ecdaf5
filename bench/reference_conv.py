"""Speed of the NumPy reference of Eq. 1 against torch's CPU conv2d, side by side.

The ASPP setting of the paper at output_stride 8 on a 513x513 crop (Fig. 4's 65x65 map;
at output_stride 16 the map is 33x33): a 1x64x65x65 feature map, 64 output channels,
3x3 filters, "same" padding, rates 1, 6, 12, 18, 24;
float32. Prints times and the ratios

- vectorized / torch (target: within 5x), and
- loops / vectorized (target: at least 100x).

The loops would take minutes at full size, so they are timed on a smaller problem
(1x8x17x17, 8 output channels, same rate) and scaled by the number of multiply-adds
(N * C_out * H_out * W_out * C_in * kH * kW), which is what their run time is
proportional to. Run: ``python bench/reference_conv.py`` (or ``make bench``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from reference import atrous_conv2d, atrous_conv2d_loops

RATES = (1, 6, 12, 18, 24)
FULL = (1, 64, 65, 65, 64)  # N, C_in, H, W, C_out
SMALL = (1, 8, 17, 17, 8)


def best_time(fn: Callable[[], object], repeats: int, min_seconds: float = 0.2) -> float:
    """Best of ``repeats`` timings, each averaging enough calls to last ``min_seconds``."""
    fn()  # warm up
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    calls = max(1, int(min_seconds / max(once, 1e-9)))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def problem(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    N, C_in, H, W, C_out = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C_in, H, W), dtype=np.float32)
    w = rng.standard_normal((C_out, C_in, 3, 3), dtype=np.float32)
    return x, w


def work(shape: tuple[int, ...]) -> int:
    """Multiply-adds of a 3x3 "same" conv (output size = input size)."""
    N, C_in, H, W, C_out = shape
    return N * C_out * H * W * C_in * 3 * 3


def main() -> None:
    x, w = problem(FULL)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    xs, ws = problem(SMALL)
    scale = work(FULL) / work(SMALL)
    print("\n\n".join(__doc__.split("\n\n")[1:4]))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}\n"
        f"loops timed on {SMALL[:4]} -> {SMALL[4]} channels and scaled by {scale:.0f}x "
        "the work (multiply-adds)\n"
    )
    header = (
        f"{'rate':>4} {'torch ms':>9} {'vectorized ms':>14} {'loops s (scaled)':>17}"
        f" {'vectorized/torch':>17} {'loops/vectorized':>17}"
    )
    print(header)
    print("-" * len(header))
    for rate in RATES:
        y_ref = atrous_conv2d(x, w, rate=rate, padding="same")
        y_torch = F.conv2d(xt, wt, padding=rate, dilation=rate).numpy()
        np.testing.assert_allclose(y_ref, y_torch, rtol=1e-3, atol=1e-3)  # same numbers
        t_torch = best_time(lambda r=rate: F.conv2d(xt, wt, padding=r, dilation=r), 5)
        t_vec = best_time(lambda r=rate: atrous_conv2d(x, w, rate=r, padding="same"), 5)
        t_loops = scale * best_time(
            lambda r=rate: atrous_conv2d_loops(xs, ws, rate=r, padding="same"), 1, 0.0
        )
        print(
            f"{rate:>4} {1e3 * t_torch:>9.2f} {1e3 * t_vec:>14.2f} {t_loops:>17.1f}"
            f" {t_vec / t_torch:>16.1f}x {t_loops / t_vec:>16.0f}x"
        )


if __name__ == "__main__":
    with torch.no_grad():
        main()
