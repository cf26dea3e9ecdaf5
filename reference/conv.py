r"""Eq. 1 of the paper, atrous convolution, in plain NumPy (Sec. 3.1).

For a two-dimensional signal, each output location :math:`i` of an atrous convolution of
input :math:`x` with filter :math:`w` at rate :math:`r` is

.. math::

    y[i] = \sum_k x[i + r \cdot k] \, w[k]

The rate :math:`r` is the stride with which the input is sampled; :math:`r = 1` is
ordinary convolution. Like every deep learning framework (and the paper) this is a
correlation: the filter is not flipped. Three ways of computing the same thing live here:

1. :func:`atrous_conv2d_loops`: Eq. 1 transcribed literally, one Python loop per index.
   Slow, and meant to be read.
2. :func:`atrous_conv2d`: the same sum, vectorized: gather every input sample that
   Eq. 1 touches into one matrix (im2col) and contract it with the filters in one BLAS
   call. Every other part of :mod:`reference` uses this one.
3. The two classic identities the paper relies on: the filter upsampled by inserting
   ``r - 1`` zeros between taps (:func:`upsample_filter`), and space-to-batch, an
   ordinary convolution on ``r**2`` sub-images, then batch-to-space
   (:func:`space_to_batch`, :func:`batch_to_space`).

Shapes follow PyTorch: ``x`` is (N, C_in, H, W), ``w`` is (C_out, C_in, kH, kW), and the
output is (N, C_out, H_out, W_out) with

    H_out = (H + 2 * padding - rate * (kH - 1) - 1) // stride + 1.
"""

from __future__ import annotations

import numpy as np

Pair = int | tuple[int, int]
Padding = int | tuple[int, int] | str


def _is_int(value: object) -> bool:
    """An int (Python or NumPy), but not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _pair(value: Pair, name: str, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each at least ``minimum``."""
    if _is_int(value):
        pair = (value, value)
    elif isinstance(value, (tuple, list)):
        pair = tuple(value)
    else:
        pair = ()
    if len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _check_args(
    x: np.ndarray,
    w: np.ndarray,
    rate: Pair,
    stride: Pair,
    padding: Padding,
    bias: np.ndarray | None,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validate Eq. 1's arguments; return rate, stride, padding and the output size."""
    if x.ndim != 4:
        raise ValueError(f"x must have 4 dimensions (N, C_in, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"w must have 4 dimensions (C_out, C_in, kH, kW), got shape {w.shape}")
    if 0 in x.shape[:2] or 0 in w.shape[:2]:
        raise ValueError(
            f"x (N, C_in) and w (C_out, C_in) must be non-empty, got x {x.shape}, w {w.shape}"
        )
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"channel mismatch: x has C_in={x.shape[1]} channels but w expects {w.shape[1]}"
        )
    if min(w.shape[2:]) < 1:
        raise ValueError(f"w must have a kernel of at least 1x1, got shape {w.shape}")
    r = _pair(rate, "rate", 1)
    s = _pair(stride, "stride", 1)
    k = w.shape[2:]
    if isinstance(padding, str):
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair or 'same', got {padding!r}")
        if k[0] % 2 == 0 or k[1] % 2 == 0:
            raise ValueError(f"padding='same' needs an odd kernel size, got {k[0]}x{k[1]}")
        p = (r[0] * (k[0] - 1) // 2, r[1] * (k[1] - 1) // 2)
    else:
        p = _pair(padding, "padding", 0)
    if bias is not None and bias.shape != (w.shape[0],):
        raise ValueError(f"bias must have shape (C_out,) = ({w.shape[0]},), got {bias.shape}")
    out = tuple((x.shape[2 + a] + 2 * p[a] - r[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(2))
    if min(out) < 1:
        raise ValueError(
            f"the output would be empty: input {x.shape[2]}x{x.shape[3]} with padding {p} is "
            f"smaller than the {k[0]}x{k[1]} filter's effective size at rate {r} "
            f"({r[0] * (k[0] - 1) + 1}x{r[1] * (k[1] - 1) + 1})"
        )
    return r, s, p, out  # type: ignore[return-value]


def _rate(rate: int) -> int:
    """space-to-batch uses one rate for both axes: an int >= 1."""
    if not _is_int(rate) or rate < 1:
        raise ValueError(f"rate must be an int >= 1 (the same for both axes), got {rate!r}")
    return int(rate)


def _pad(x: np.ndarray, p: tuple[int, int]) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))


def atrous_conv2d_loops(
    x: np.ndarray,
    w: np.ndarray,
    rate: Pair = 1,
    stride: Pair = 1,
    padding: Padding = 0,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Eq. 1 as plain loops: ``y[i] = sum_k x[i + rate * k] * w[k]``.

    The didactic transcription; use :func:`atrous_conv2d` for anything but tiny inputs.

    Args:
        x: input, (N, C_in, H, W).
        w: filters, (C_out, C_in, kH, kW).
        rate: the atrous rate ``r`` of Eq. 1, an int or an (h, w) pair, >= 1.
        stride: the output stride of this layer, an int or a pair, >= 1.
        padding: zeros added on each side, an int or a pair, or ``"same"``, which pads
            ``rate * (k - 1) // 2`` so that stride 1 keeps the size (odd kernels only).
        bias: optional, (C_out,).

    Returns:
        y, (N, C_out, H_out, W_out), in the result type of ``x`` and ``w``.
    """
    x, w = np.asarray(x), np.asarray(w)
    bias = None if bias is None else np.asarray(bias)
    (r_h, r_w), (s_h, s_w), p, (H_out, W_out) = _check_args(x, w, rate, stride, padding, bias)
    N, C_in = x.shape[:2]
    C_out, _, kH, kW = w.shape
    xp = _pad(x, p)
    y = np.zeros((N, C_out, H_out, W_out), dtype=np.result_type(x, w))
    for n in range(N):
        for c_out in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    acc = 0.0 if bias is None else bias[c_out]
                    for c_in in range(C_in):
                        for k_h in range(kH):
                            for k_w in range(kW):
                                # Eq. 1: x[i + r * k] * w[k], at the strided output location.
                                acc += (
                                    xp[n, c_in, i * s_h + r_h * k_h, j * s_w + r_w * k_w]
                                    * w[c_out, c_in, k_h, k_w]
                                )
                    y[n, c_out, i, j] = acc
    return y


def atrous_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    rate: Pair = 1,
    stride: Pair = 1,
    padding: Padding = 0,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """Eq. 1, vectorized: im2col of the rate-spaced samples, then one matrix product.

    Same arguments and result as :func:`atrous_conv2d_loops`.
    """
    x, w = np.asarray(x), np.asarray(w)
    bias = None if bias is None else np.asarray(bias)
    (r_h, r_w), (s_h, s_w), p, (H_out, W_out) = _check_args(x, w, rate, stride, padding, bias)
    N, C_in = x.shape[:2]
    C_out, _, kH, kW = w.shape
    dtype = np.result_type(x, w)
    xp = _pad(np.asarray(x, dtype=dtype), p)  # (N, C_in, H + 2p, W + 2p)
    sN, sC, sH, sW = xp.strides
    # A view whose element [n, c, k_h, k_w, i, j] is xp[n, c, i*s + r*k_h, j*s + r*k_w]:
    # exactly the samples Eq. 1 multiplies with w[:, c, k_h, k_w].
    cols = np.lib.stride_tricks.as_strided(
        xp,
        shape=(N, C_in, kH, kW, H_out, W_out),
        strides=(sN, sC, r_h * sH, r_w * sW, s_h * sH, s_w * sW),
        writeable=False,
    ).reshape(N, C_in * kH * kW, H_out * W_out)  # (N, C_in*kH*kW, H_out*W_out), one copy
    y = np.asarray(w, dtype=dtype).reshape(C_out, C_in * kH * kW) @ cols  # (N, C_out, HW)
    y = y.reshape(N, C_out, H_out, W_out)
    if bias is not None:
        y += np.asarray(bias, dtype=dtype)[None, :, None, None]
    return y


def upsample_filter(w: np.ndarray, rate: Pair) -> np.ndarray:
    """Insert ``rate - 1`` zeros between consecutive filter taps (Sec. 3.1).

    A (C_out, C_in, kH, kW) filter becomes (C_out, C_in, kH + (kH-1)(r-1), kW + (kW-1)(r-1)):
    the effective filter size of the paper. A rate-``r`` atrous convolution with ``w``
    equals an ordinary (rate 1) convolution with ``upsample_filter(w, r)``.
    """
    w = np.asarray(w)
    if w.ndim != 4:
        raise ValueError(f"w must have 4 dimensions (C_out, C_in, kH, kW), got shape {w.shape}")
    r_h, r_w = _pair(rate, "rate", 1)
    C_out, C_in, kH, kW = w.shape
    up = np.zeros((C_out, C_in, kH + (kH - 1) * (r_h - 1), kW + (kW - 1) * (r_w - 1)), w.dtype)
    up[:, :, ::r_h, ::r_w] = w
    return up


def space_to_batch(x: np.ndarray, rate: int) -> np.ndarray:
    """Split x into ``rate**2`` sub-images, one per phase ``(a, b)`` of the rate grid.

    Sub-image ``(a, b)`` holds ``x[..., a::rate, b::rate]``. H and W are first padded with
    zeros at the end to multiples of ``rate``. A rate-``r`` "same" atrous convolution of x
    equals a rate-1 "same" convolution of every sub-image, put back with
    :func:`batch_to_space`.

    Args:
        x: (N, C, H, W).
        rate: int >= 1.

    Returns:
        (rate * rate * N, C, ceil(H / rate), ceil(W / rate)), batch ordered as (a, b, n).
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have 4 dimensions (N, C, H, W), got shape {x.shape}")
    r = _rate(rate)
    N, C, H, W = x.shape
    Hp, Wp = -(-H // r) * r, -(-W // r) * r
    xp = np.pad(x, ((0, 0), (0, 0), (0, Hp - H), (0, Wp - W)))
    xp = xp.reshape(N, C, Hp // r, r, Wp // r, r)  # (N, C, H/r, a, W/r, b)
    xp = xp.transpose(3, 5, 0, 1, 2, 4)  # (a, b, N, C, H/r, W/r)
    return xp.reshape(r * r * N, C, Hp // r, Wp // r)


def batch_to_space(y: np.ndarray, rate: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Inverse of :func:`space_to_batch`: interleave the ``rate**2`` sub-images again.

    Args:
        y: (rate * rate * N, C, h, w), batch ordered as (a, b, n).
        rate: int >= 1.
        size: (H, W) to crop the result to (undoes the padding of ``space_to_batch``);
            default: keep (rate * h, rate * w).

    Returns:
        (N, C, H, W).
    """
    y = np.asarray(y)
    if y.ndim != 4:
        raise ValueError(f"y must have 4 dimensions (r*r*N, C, h, w), got shape {y.shape}")
    r = _rate(rate)
    B, C, h, w = y.shape
    if B % (r * r):
        raise ValueError(f"y's batch size {B} is not a multiple of rate**2 = {r * r}")
    N = B // (r * r)
    x = y.reshape(r, r, N, C, h, w).transpose(2, 3, 4, 0, 5, 1)  # (N, C, h, a, w, b)
    x = x.reshape(N, C, h * r, w * r)
    if size is not None:
        H, W = _pair(size, "size", 1)
        if H > h * r or W > w * r:
            raise ValueError(f"size {size} is larger than the reassembled {h * r}x{w * r}")
        x = x[:, :, :H, :W]
    return x
