"""Eq. 1 (Sec. 3.1): loops == vectorized == torch's dilated conv2d, and the two identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import (
    atrous_conv2d,
    atrous_conv2d_loops,
    batch_to_space,
    space_to_batch,
    upsample_filter,
)
from tests.strategies import ConvProblem, conv_problems, images, rates


def _torch_conv(p: ConvProblem) -> np.ndarray:
    bias = None if p.bias is None else torch.from_numpy(p.bias)
    y = F.conv2d(
        torch.from_numpy(p.x),
        torch.from_numpy(p.w),
        bias,
        stride=p.stride,
        padding=p.padding_pair(),
        dilation=p.rate,
    )
    return y.numpy()


def _call(fn, p: ConvProblem) -> np.ndarray:
    return fn(p.x, p.w, rate=p.rate, stride=p.stride, padding=p.padding, bias=p.bias)


@settings(max_examples=200)
@given(p=conv_problems())
def test_loops_vectorized_and_torch_agree(p: ConvProblem) -> None:
    loops = _call(atrous_conv2d_loops, p)
    fast = _call(atrous_conv2d, p)
    ours = _torch_conv(p)
    assert loops.shape == fast.shape == ours.shape
    assert loops.dtype == fast.dtype == np.float64
    np.testing.assert_allclose(fast, loops, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast, ours, rtol=1e-12, atol=1e-12)


@given(p=conv_problems(unit_stride=True, same=True))
def test_same_padding_keeps_the_size(p: ConvProblem) -> None:
    assert atrous_conv2d(p.x, p.w, rate=p.rate, padding="same").shape[2:] == p.x.shape[2:]


@given(p=conv_problems())
def test_output_size_rule(p: ConvProblem) -> None:
    y = _call(atrous_conv2d, p)
    pad = p.padding_pair()
    for a in range(2):
        rate = p.rate if isinstance(p.rate, int) else p.rate[a]
        stride = p.stride if isinstance(p.stride, int) else p.stride[a]
        k = p.w.shape[2 + a]
        expected = (p.x.shape[2 + a] + 2 * pad[a] - rate * (k - 1) - 1) // stride + 1
        assert y.shape[2 + a] == expected


@settings(max_examples=100)
@given(p=conv_problems())
def test_atrous_equals_conv_with_upsampled_filter(p: ConvProblem) -> None:
    """Rate r with w == rate 1 with w's taps spread out by r - 1 zeros (Sec. 3.1)."""
    up = upsample_filter(p.w, p.rate)
    expected = _call(atrous_conv2d, p)
    np.testing.assert_allclose(
        atrous_conv2d(p.x, up, rate=1, stride=p.stride, padding=p.padding_pair(), bias=p.bias),
        expected,
        rtol=1e-12,
        atol=1e-12,
    )


@given(w=images(max_batch=3, max_side=5), rate=rates())
def test_upsampled_filter_shape_and_taps(w: np.ndarray, rate: int) -> None:
    up = upsample_filter(w, rate)
    kH, kW = w.shape[2:]
    assert up.shape == (*w.shape[:2], kH + (kH - 1) * (rate - 1), kW + (kW - 1) * (rate - 1))
    np.testing.assert_array_equal(up[:, :, ::rate, ::rate], w)
    assert np.count_nonzero(up) == np.count_nonzero(w)


@settings(max_examples=100)
@given(p=conv_problems(unit_stride=True, same=True, max_rate=4), rate=rates())
def test_space_to_batch_identity(p: ConvProblem, rate: int) -> None:
    """A "same" rate-r conv == a rate-1 "same" conv of the r*r sub-images, put back."""
    H, W = p.x.shape[2:]
    sub = space_to_batch(p.x, rate)  # (r*r*N, C, ceil(H/r), ceil(W/r))
    assert sub.shape == (rate * rate * p.x.shape[0], p.x.shape[1], -(-H // rate), -(-W // rate))
    dense = atrous_conv2d(sub, p.w, rate=1, padding="same", bias=p.bias)
    got = batch_to_space(dense, rate, size=(H, W))
    expected = atrous_conv2d(p.x, p.w, rate=rate, padding="same", bias=p.bias)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@given(x=images(), rate=rates())
def test_batch_to_space_inverts_space_to_batch(x: np.ndarray, rate: int) -> None:
    back = batch_to_space(space_to_batch(x, rate), rate, size=x.shape[2:])
    np.testing.assert_array_equal(back, x)


@given(x=images(max_side=6), rate=rates())
def test_space_to_batch_sub_images_are_strided_slices(x: np.ndarray, rate: int) -> None:
    sub = space_to_batch(x, rate)
    N = x.shape[0]
    for a in range(rate):
        for b in range(rate):
            block = sub[(a * rate + b) * N : (a * rate + b + 1) * N]  # batch order (a, b, n)
            piece = x[:, :, a::rate, b::rate]
            np.testing.assert_array_equal(block[:, :, : piece.shape[2], : piece.shape[3]], piece)


def test_float32_in_float32_out() -> None:
    x = np.ones((1, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    for fn in (atrous_conv2d, atrous_conv2d_loops):
        y = fn(x, w, rate=2, padding="same")
        assert y.dtype == np.float32
        assert y[0, 0, 2, 2] == 2 * 9  # every tap lands on the map at the centre


def test_accepts_lists() -> None:
    x = [[[[1.0, 2.0], [3.0, 4.0]]]]
    assert atrous_conv2d(x, [[[[1.0]]]]).tolist() == x


X = np.zeros((1, 2, 8, 8))
W = np.zeros((3, 2, 3, 3))


@pytest.mark.parametrize("fn", [atrous_conv2d, atrous_conv2d_loops])
@pytest.mark.parametrize(
    ("args", "kwargs", "name"),
    [
        ((X, W), {"rate": 0}, "rate"),
        ((X, W), {"rate": (1, 0)}, "rate"),
        ((X, W), {"rate": 1.5}, "rate"),
        ((X, W), {"rate": True}, "rate"),
        ((X, W), {"rate": (1, 2, 3)}, "rate"),
        ((X, W), {"stride": 0}, "stride"),
        ((X, W), {"stride": (2, -1)}, "stride"),
        ((X, W), {"padding": -1}, "padding"),
        ((X, W), {"padding": (0, -2)}, "padding"),
        ((X, W), {"padding": "valid"}, "padding"),
        ((X, np.zeros((3, 2, 2, 2))), {"padding": "same"}, "padding='same'"),
        ((X, np.zeros((3, 2, 3, 2))), {"padding": "same"}, "padding='same'"),
        ((X, np.zeros((3, 5, 3, 3))), {}, "channel mismatch"),
        ((X[0], W), {}, "x must have 4 dimensions"),
        ((X, W[0]), {}, "w must have 4 dimensions"),
        ((X, np.zeros((3, 2, 0, 3))), {}, "kernel"),
        ((X, W), {"rate": 4}, "output would be empty"),
        ((X[:, :, :2], W), {}, "output would be empty"),
        ((X, W), {"bias": np.zeros(2)}, "bias"),
        ((X[:0], W), {}, "non-empty"),
        ((X, W[:0]), {}, "non-empty"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_parameter(fn, args, kwargs, name) -> None:
    with pytest.raises(ValueError, match=name.replace("(", r"\(")):
        fn(*args, **kwargs)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: upsample_filter(W, 0), "rate"),
        (lambda: upsample_filter(W[0], 2), "w must have 4 dimensions"),
        (lambda: space_to_batch(X, 0), "rate"),
        (lambda: space_to_batch(X, (2, 2)), "rate"),
        (lambda: space_to_batch(X[0], 2), "x must have 4 dimensions"),
        (lambda: batch_to_space(np.zeros((3, 1, 2, 2)), 2), "batch size"),
        (lambda: batch_to_space(np.zeros((4, 1, 2, 2)), 2, size=(5, 4)), "size"),
        (lambda: batch_to_space(np.zeros((4, 1, 2, 2)), 2, size=(0, 4)), "size"),
        (lambda: batch_to_space(np.zeros((4, 2, 2)), 2), "y must have 4 dimensions"),
    ],
)
def test_identity_helpers_reject_bad_input(call, name) -> None:
    with pytest.raises(ValueError, match=name):
        call()


@given(p=conv_problems(max_side=3, max_channels=2), stride=st.integers(1, 2))
def test_rate_one_is_ordinary_convolution(p: ConvProblem, stride: int) -> None:
    """At rate 1, Eq. 1 is the textbook correlation: a literal double sum over the window."""
    x = np.pad(p.x, ((0, 0), (0, 0), *[(q, q) for q in p.padding_pair()]))
    y = atrous_conv2d(p.x, p.w, rate=1, stride=stride, padding=p.padding_pair())
    kH, kW = p.w.shape[2:]
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            i0, j0 = i * stride, j * stride
            window = x[:, None, :, i0 : i0 + kH, j0 : j0 + kW]  # (N, 1, C_in, kH, kW)
            expected = (window * p.w[None]).sum(axis=(2, 3, 4))  # (N, C_out)
            np.testing.assert_allclose(y[:, :, i, j], expected, rtol=1e-12, atol=1e-12)
