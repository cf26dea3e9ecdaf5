"""AtrousConv2d computes only the taps that land on the map (Sec. 3.3, Fig. 4): the output
equals Eq. 1 with the full filter (the NumPy oracle) and the gradients equal the full
convolution's, including the zero gradient of the dropped taps."""

from __future__ import annotations

from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous import DeepLabV3, get_preset
from atrous.model.atrous_conv import AtrousConv2d, valid_half_width, valid_weight
from reference import atrous_conv2d
from reference.valid_weights import valid_weight_counts


@st.composite
def same_convs(draw):
    k_h, k_w = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5]))
    r_h, r_w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    c_in, c_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    same = (r_h * (k_h - 1) // 2, r_w * (k_w - 1) // 2)
    conv = AtrousConv2d(c_in, c_out, (k_h, k_w), padding=same, dilation=(r_h, r_w),
                        bias=draw(st.booleans()))  # fmt: skip
    torch.manual_seed(draw(st.integers(0, 2**16)))
    conv = conv.double()
    x = torch.randn(draw(st.integers(1, 2)), c_in, h, w, dtype=torch.float64)
    return conv, x


@settings(deadline=None)
@given(p=same_convs())
def test_output_is_eq1_with_the_full_filter_and_computes_only_the_valid_taps(p):
    conv, x = p
    bias = None if conv.bias is None else conv.bias.detach().numpy()
    expected = atrous_conv2d(x.numpy(), conv.weight.detach().numpy(), conv.dilation,
                             padding=conv.padding, bias=bias)  # fmt: skip
    with mock.patch.object(F, "conv2d", wraps=F.conv2d) as conv2d:  # nn.Conv2d's too
        out = conv(x)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-10)
    kept, padding = valid_weight(conv.weight, tuple(x.shape[-2:]), conv.dilation)
    _, weight, _, _, used_padding, *_ = conv2d.call_args.args  # the one conv it ran
    assert conv2d.call_count == 1
    assert weight.shape == kept.shape and tuple(used_padding) == padding


@settings(deadline=None)
@given(p=same_convs())
def test_gradients_equal_the_full_convolution(p):
    conv, x = p
    x = x.requires_grad_()
    g = torch.randn(x.shape[0], conv.out_channels, *x.shape[-2:], dtype=torch.float64)
    (conv(x) * g).sum().backward()
    ours = conv.weight.grad.clone(), x.grad.clone()
    conv.weight.grad, x.grad = None, None
    full = F.conv2d(x, conv.weight, conv.bias, 1, conv.padding, conv.dilation)
    (full * g).sum().backward()
    torch.testing.assert_close(ours[0], conv.weight.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours[1], x.grad, rtol=1e-10, atol=1e-10)


@given(size=st.integers(1, 80), k=st.sampled_from([1, 3, 5, 7]), rate=st.integers(1, 80))
def test_kept_taps_are_those_valid_somewhere(size, k, rate):
    # By brute force: tap d (offset d * rate) is kept iff some output position i reads the
    # map there, 0 <= i + d * rate < size.
    c = (k - 1) // 2
    valid = {d for d in range(-c, c + 1) for i in range(size) if 0 <= i + d * rate < size}
    half = valid_half_width(size, k, rate)
    assert valid == set(range(-half, half + 1))
    # The oracle's count at each position never exceeds the kept taps, and reaches it where
    # they all fit (a position at least half * rate from both ends, if there is one).
    counts = valid_weight_counts((size, 1), k, rate)[:, 0]
    assert counts.max() <= 2 * half + 1
    assert counts.max() == 2 * half + 1 or 2 * half * rate > size - 1


def test_degenerate_filter_is_its_centre_tap():
    # Sec. 3.3: at a rate as large as the map, the 3x3 filter is the 1x1 filter of its centre
    weight = torch.randn(2, 3, 3, 3)
    kept, padding = valid_weight(weight, (7, 7), (12, 18))
    assert kept.shape == (2, 3, 1, 1) and padding == (0, 0)
    torch.testing.assert_close(kept, weight[:, :, 1:2, 1:2])
    kept, padding = valid_weight(weight, (7, 13), (6, 12))
    assert kept.shape == (2, 3, 3, 3) and padding == (6, 12)


def test_the_network_uses_it_for_every_3x3_filter():
    model = DeepLabV3(get_preset("tiny", num_classes=3))
    three = [
        m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
    ]
    assert three and all(isinstance(m, AtrousConv2d) for m in three)
    assert {m.dilation[0] for m in three} >= {6, 12, 18}  # ASPP's rates at output stride 16
