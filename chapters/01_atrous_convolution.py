# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Atrous convolution
#
# DeepLabv3 (Chen et al. 2017, *Rethinking Atrous Convolution for Semantic Image
# Segmentation*) is built on one operation, atrous ("with holes") convolution, Sec. 3.1,
# Eq. 1. For each output location $i$ and filter $w$,
#
# $$ y[i] = \sum_k x[i + r \cdot k] \, w[k], $$
#
# where the **rate** $r$ is the stride with which the input is sampled; $r = 1$ is the
# ordinary convolution. A $k$-tap filter at rate $r$ spans $k + (k-1)(r-1)$ input pixels
# but still has only $k$ weights: the field of view grows, the number of parameters and
# the resolution do not.
#
# This chapter reads Eq. 1 as loops, makes it fast, checks two identities the paper relies
# on, and then looks at what happens at the edge of the feature map (Fig. 4) and when
# atrous convolutions are stacked (gridding, Sec. 3.2.1). Everything here calls the NumPy
# oracle in `reference/`; every claim is an `assert` that runs.

# %%
import inspect
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from atrous.diagrams.taps import draw_atrous_taps
from atrous.experiments.fig4 import draw_valid_weights
from atrous.figures import draw_gridding
from atrous.model.atrous_conv import AtrousConv2d, valid_weight
from reference import (
    atrous_conv2d,
    atrous_conv2d_loops,
    batch_to_space,
    coverage,
    receptive_field,
    space_to_batch,
    upsample_filter,
    valid_weight_counts,
    valid_weight_histogram,
)

SMALL = os.environ.get("ATROUS_CHAPTER_SMALL") == "1"  # set by the tests: smaller inputs
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1.1 Eq. 1 as loops
#
# The literal transcription: one loop per index of Eq. 1. Shapes follow PyTorch:
# `x` is (N, C_in, H, W), `w` is (C_out, C_in, kH, kW). Here is the library's loop
# version, printed from its source:

# %%
source = inspect.getsource(atrous_conv2d_loops)
print(source[source.index("    (r_h") :])

# %% [markdown]
# The innermost line is Eq. 1: input sample `i * stride + rate * k` times tap `k`.
# To *see* the rate, convolve an image that is zero except for one pixel (a delta) with a
# 3x3 filter of ones: the output is non-zero exactly where some tap of the filter, placed
# at that output, hits the delta. At rate 2 the nine taps are two pixels apart.

# %%
delta = np.zeros((1, 1, 9, 9))
delta[0, 0, 4, 4] = 1.0
ones = np.ones((1, 1, 3, 3))
for rate in (1, 2, 3):
    hit = atrous_conv2d_loops(delta, ones, rate=rate, padding="same")[0, 0]
    print(f"rate {rate}:\n{hit.astype(int)}\n")
    rows, cols = np.nonzero(hit)
    assert len(rows) == 9  # still 9 taps ...
    assert rows.max() - rows.min() + 1 == 3 + 2 * (rate - 1)  # ... spanning k + (k-1)(r-1)

# %% [markdown]
# Fig. 1 of the paper draws exactly this: the taps of a 3x3 filter on the pixel grid, at
# growing rates. `atrous.diagrams.taps` draws it the same way, from the delta's convolution
# with the oracle's `atrous_conv2d` (red: the taps; dashed: the field of view):

# %% tags=["figure-fig1"]
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
taps = draw_atrous_taps(axes, rates=(1, 2, 4))
plt.show()
for rate, tap in zip((1, 2, 4), taps, strict=True):
    rows, cols = np.nonzero(tap)
    assert tap.sum() == 9 and np.ptp(rows) + 1 == 3 + 2 * (rate - 1)  # 9 taps, k + (k-1)(r-1)

# %% [markdown]
# ## 1.2 Vectorized
#
# Loops in Python cost about a microsecond per multiply-add. `atrous_conv2d` computes the
# same sum by gathering every input sample Eq. 1 touches into one matrix (im2col: a strided
# *view*, `rate` apart along the taps, `stride` apart along the outputs) and contracting it
# with the filters in one matrix product. It must give the same numbers as the loops, and
# as PyTorch's `conv2d` with `dilation=rate`:

# %%
side = 12 if SMALL else 20
x = rng.standard_normal((2, 3, side, side))
w = rng.standard_normal((4, 3, 3, 3))
for rate, stride, padding in [(1, 1, 0), (2, 1, "same"), (3, 2, 1), ((2, 3), 1, (1, 2))]:
    loops = atrous_conv2d_loops(x, w, rate=rate, stride=stride, padding=padding)
    fast = atrous_conv2d(x, w, rate=rate, stride=stride, padding=padding)
    pad = padding if padding != "same" else rate  # "same" for 3x3 pads rate * (3-1) // 2
    ours = F.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=pad, dilation=rate
    ).numpy()
    assert np.allclose(loops, fast, atol=1e-12) and np.allclose(fast, ours, atol=1e-12)
    print(f"rate {rate}, stride {stride}, padding {padding!r}: output {fast.shape}, all agree")

start = time.perf_counter()
atrous_conv2d_loops(x, w, rate=2, padding="same")
t_loops = time.perf_counter() - start
start = time.perf_counter()
atrous_conv2d(x, w, rate=2, padding="same")
t_fast = time.perf_counter() - start
print(f"loops {1e3 * t_loops:.1f} ms, vectorized {1e3 * t_fast:.2f} ms")

# %% [markdown]
# `bench/reference_conv.py` measures this properly on a 65x65 map with 64 channels (the map
# a 513x513 crop gives at `output_stride` 8) and ASPP-sized rates: the vectorized version is
# within a small factor of PyTorch and four orders of magnitude faster than the loops.
#
# ## 1.3 Two identities
#
# **Upsampled filter.** Eq. 1 "is equivalent to convolving the input with upsampled
# filters produced by inserting $r - 1$ zeros between two consecutive filter values"
# (Sec. 3.1).

# %%
w1 = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
print(upsample_filter(w1, 2)[0, 0])
for rate in (1, 2, 3, 5):
    up = upsample_filter(w, rate)
    assert up.shape[2:] == (3 + 2 * (rate - 1),) * 2  # effective size k + (k-1)(r-1)
    assert np.allclose(
        atrous_conv2d(x, w, rate=rate, padding="same"),
        atrous_conv2d(x, up, rate=1, padding="same"),
        atol=1e-12,
    )

# %% [markdown]
# **Space-to-batch.** At rate $r$, the taps of Eq. 1 only ever combine pixels whose
# coordinates agree modulo $r$. So split the image into the $r^2$ sub-images
# `x[..., a::r, b::r]`, run an *ordinary* convolution on each, and interleave the results
# again. This is how atrous convolution was implemented before frameworks had
# `dilation`.

# %%
rate = 3
sub = space_to_batch(x, rate)  # (r*r*N, C, ceil(H/r), ceil(W/r))
print(f"{x.shape} -> {sub.shape}")
dense = atrous_conv2d(sub, w, rate=1, padding="same")  # an ordinary 3x3 conv
back = batch_to_space(dense, rate, size=x.shape[2:])  # (N, C_out, H, W)
assert np.allclose(back, atrous_conv2d(x, w, rate=rate, padding="same"), atol=1e-12)

# %% [markdown]
# ## 1.4 Valid weights (Fig. 4)
#
# With "same" padding, an output near the border places some taps on the zero padding
# rather than on the feature map; those weights are wasted. The larger the rate, the more
# taps fall off the map. `valid_weight_counts` counts, for every output position, the taps
# that land on the map. On a 9x9 map with a 3x3 filter:

# %%
for rate in (1, 3, 5):
    print(f"rate {rate}:\n{valid_weight_counts(9, 3, rate)}\n")
assert (valid_weight_counts(9, 3, 9) == 1).all()  # rate >= map size: a 1x1 filter

# %% [markdown]
# Fig. 4 of the paper does this for a 65x65 feature map, and plots the fraction of output
# positions with 1, 4 and 9 valid weights against the rate. A 513x513 crop gives 65x65 at
# `output_stride` 8 ((513 - 1) / 8 + 1); at `output_stride` 16 it gives 33x33. The curves
# depend on rate / map size, so rate $r$ on the 33x33 map reads off the figure at about $2r$:

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
curves = draw_valid_weights(ax, feature_size=65, rates=range(1, 71))
plt.show()

# %%
assert np.isclose(curves[9][0], (63 / 65) ** 2)  # rate 1: all but the border see 9 taps
assert curves[1][64] == 1.0  # rate 65: only the centre tap is left, everywhere
assert np.argmax(curves[4]) + 1 in (32, 33)  # 4 valid taps peak at half the map size

# %% [markdown]
# ASPP's rates follow the same rule: (6, 12, 18) at `output_stride` 16, doubled to
# (12, 24, 36) at 8 (Sec. 3.3). Each on the map it actually meets:

# %%
hists = {}
for output_stride, rates in ((16, (6, 12, 18)), (8, (12, 24, 36))):
    size = (513 - 1) // output_stride + 1  # 33 at output_stride 16, 65 at 8
    for rate in rates:
        hists[output_stride, rate] = hist = valid_weight_histogram(size, 3, rate)
        print(f"output_stride {output_stride:2d}, {size}x{size}, rate {rate:2d}: "
              + ", ".join(f"{n} valid: {f:.2f}" for n, f in hist.items()))  # fmt: skip
    assert all(min(hists[output_stride, r]) >= 4 for r in rates[:2])  # 4 or more taps
    assert min(hists[output_stride, rates[2]]) < 4  # past half the map: some 1-D, some 1x1
    assert hists[output_stride, rates[2]][4] > 0.75  # ... but most positions keep four
for rate in (6, 12, 18):  # doubling the rate with the map keeps the picture
    a, b = hists[16, rate], hists[8, 2 * rate]
    assert a.keys() == b.keys() and all(abs(a[n] - b[n]) < 0.05 for n in a)

# %% [markdown]
# At both output strides the two smaller ASPP rates leave every position at least four of
# the nine weights, while the share that uses all nine falls quickly; the largest rate is
# past half the map, where positions near its centre keep only two taps, or only the
# centre one. That is the start of the degeneration the paper describes, and why it adds
# the image-pooling branch for global context rather than pushing the rate higher: "In the
# extreme case where the rate value is close to the feature map size, the 3x3 filter,
# instead of capturing the whole image context, degenerates to a simple 1x1 filter since
# only the center filter weight is effective" (Sec. 3.3).
#
# The library takes this literally. A weight that only ever reads padding multiplies zeros
# at every position, so dropping it changes nothing, neither the output nor (its gradient
# being zero) training. `AtrousConv2d`, the 3x3 convolution of the backbone and of ASPP,
# computes only the taps that land on the map (`atrous/model/atrous_conv.py`): on the 7x7 maps of
# 97-pixel crops at output stride 16, ASPP's rates 12 and 18 run as the 1x1 filters they
# are.

# %%
conv = AtrousConv2d(8, 8, 3, padding=12, dilation=12, bias=False)
x = torch.randn(1, 8, 7, 7)
full = F.conv2d(x, conv.weight, padding=12, dilation=12)  # all nine taps, on 31x31 padded
for size in (7, 13, 25):
    kept, padding = valid_weight(conv.weight, (size, size), conv.dilation)
    print(f"rate 12 on {size}x{size}: a {tuple(kept.shape[-2:])} filter, padding {padding}")
assert valid_weight(conv.weight, (7, 7), conv.dilation)[0].shape[-2:] == (1, 1)
assert torch.allclose(conv(x), full, atol=1e-6)  # the same output

# %% [markdown]
# ## 1.5 Receptive field and gridding
#
# Atrous convolution buys field of view without losing resolution. A stride-2 layer
# followed by a 3x3 conv sees 7 input pixels; a stride-1 layer followed by a rate-2 3x3
# conv sees the same 7 pixels, but its outputs are 1 pixel apart instead of 2
# (`receptive_field` returns the size and the *jump* between neighbouring outputs):

# %%
strided = receptive_field([(3, 2, 1), (3, 1, 1)])
atrous = receptive_field([(3, 1, 1), (3, 1, 2)])
print(f"strided: {strided}\natrous:  {atrous}")
assert strided.size == atrous.size == 7 and (strided.jump, atrous.jump) == (2, 1)

# %% [markdown]
# The size hides *which* pixels are seen. Cascading 3x3 convolutions with the same rate 2
# only ever combines pixels an even distance apart: the receptive field is a grid with
# holes ("gridding"). The multi-grid rates $(1, 2, 4)$ of Sec. 3.2.1 fill it:

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
masks = draw_gridding(axes, [(2, 2, 2), (1, 2, 4)])
plt.show()
assert not masks[0].all() and masks[0].sum() == 7 * 7  # only the even offsets
assert masks[1].all()
for rates in [(2, 2, 2), (1, 2, 4), (1, 2, 1), (1, 2, 3)]:
    rf = receptive_field([(3, 1, r) for r in rates])
    cover = coverage(rates)
    assert cover.shape == (rf.size, rf.size)
    print(f"multi-grid {rates}: receptive field {rf.size}, covered {cover.mean():.0%}")

# %% [markdown]
# The [explorer](../../explorer/?size=33&kernel=3&rate=18&os=32&mg=1,2,4) opens on this
# chapter's examples: ASPP's rate 18 on the 33 x 33 map of 1.4, and the cascade (1, 2, 4)
# of this section, which is block4's multi-grid at output stride 32, where the block's rate
# is 1. Move the rate, the map and the unit rates, and switch the output stride to 16: the
# block's rate 2 multiplies the unit rates, and holes appear (chapter 3).
#
# ## Summary
#
# - Eq. 1 samples the input `rate` apart: $k$ weights, $k + (k-1)(r-1)$ pixels of view
#   (Fig. 1).
# - It equals an ordinary convolution with a zero-inserted filter, and an ordinary
#   convolution of the $r^2$ space-to-batch sub-images.
# - With "same" padding, large rates waste weights on padding (Fig. 4); at a rate near
#   the feature-map size the 3x3 filter is a 1x1 filter.
# - Stacking equal rates leaves holes in the receptive field; multi-grid (1, 2, 4) does not.
#
# ## Exercises
#
# Each has a worked solution, folded: try first, then open it. Where you write code, the
# solution ends with a check against the NumPy oracle; run it on your own version too.
#
# 1. At `output_stride` 32 a 513x513 crop gives a 17x17 feature map. Up to which rate
#    does a 3x3 filter keep at least half of the positions at 9 valid weights? What does
#    that say about ASPP rates (6, 12, 18) at `output_stride` 32? Use
#    `valid_weight_histogram`.
#
# <details><summary>Worked solution</summary>
#
# A position keeps all nine weights when it is at least $r$ pixels from every border, so
# on a 17 x 17 map their share is $(17 - 2r)^2 / 17^2$ while $2r < 17$. At least half needs
# $17 - 2r \ge 17 / \sqrt{2}$, so $r \le 2$. The ASPP rates, left as they are, would all be
# in the other regime: 6 keeps nine weights at few positions, 12 is past half the map
# (positions keep four weights, two or only the centre), and 18 is past the whole map (a
# 1x1 filter everywhere). That is why the rates follow the output stride: at 32 they would
# be halved, to (3, 6, 9).
#
# ```python
# from reference import valid_weight_histogram
#
# nine = {r: valid_weight_histogram(17, 3, r).get(9, 0.0) for r in range(1, 18)}
# assert [r for r, share in nine.items() if share >= 0.5] == [1, 2]
# assert all(share == (17 - 2 * r) ** 2 / 17**2 for r, share in nine.items() if 2 * r < 17)
# assert valid_weight_histogram(17, 3, 18) == {1: 1.0}  # rate 18: a 1x1 filter
# assert min(valid_weight_histogram(17, 3, 12)) == 1  # past half the map
# ```
#
# </details>
#
# 2. Find the rates $r_1 < r_2 < r_3$ with the smallest sum whose cascade covers a
#    receptive field of at least 25 pixels without holes.
#
# <details><summary>Worked solution</summary>
#
# Each 3x3 layer at rate $r$ widens the field by $2r$, so the field is
# $1 + 2(r_1 + r_2 + r_3)$ pixels and the sum must be at least 12. Among the triples with
# sum 12, (1, 3, 8) has no hole: rates 1 and 3 reach every offset from -4 to 4, and the
# third layer copies that run to -12..-4 and 4..12. The others leave gaps, (1, 2, 9) at
# offsets 4 and 5 for example. A search with `coverage` finds it:
#
# ```python
# from itertools import combinations
#
# from reference import coverage, receptive_field
#
# found = [rates for rates in combinations(range(1, 13), 3)
#          if receptive_field([(3, 1, r) for r in rates]).size >= 25 and coverage(rates).all()]
# smallest = min(sum(rates) for rates in found)
# assert [rates for rates in found if sum(rates) == smallest] == [(1, 3, 8)]
# ```
#
# </details>
#
# 3. Show with `receptive_field` that replacing a stride-2 layer by stride 1 and doubling
#    the rate of every later layer keeps the receptive field size and halves the jump (the
#    `output_stride` recipe of Sec. 3.1).
#
# <details><summary>Worked solution</summary>
#
# A layer adds $(k_e - 1) J$ to the field, with $k_e$ its effective size and $J$ the jump
# (spacing) of its input. After the change every later layer sees half the jump, and its
# doubled rate doubles $k_e - 1$: $(3 - 1) \cdot 2J$ becomes $(5 - 1) \cdot J$, the
# same. The layer that lost its stride keeps its rate (its taps act on the old spacing),
# which is TF-slim's convention (chapter 3); doubling its rate too widens the field a little.
#
# ```python
# from reference import receptive_field
#
# stem = [(7, 2, 1), (3, 2, 1)]
# strided = receptive_field(stem + [(3, 2, 1), (3, 1, 1), (3, 1, 1)])
# atrous = receptive_field(stem + [(3, 1, 1), (3, 1, 2), (3, 1, 2)])
# assert atrous.size == strided.size and 2 * atrous.jump == strided.jump
# every = receptive_field(stem + [(3, 1, 2), (3, 1, 2), (3, 1, 2)])  # the first one too
# assert every.size > strided.size
# ```
#
# </details>
#
# 4. Write Eq. 1 yourself, `my_atrous_conv(x, w, rate, stride, padding)` in NumPy (rate,
#    stride and padding as (h, w) pairs), and hold it to the oracle with
#    `reference.testing.assert_atrous_conv_matches`, which draws a hundred problems and
#    shrinks a failing one to the smallest it can find.
#
# <details><summary>Worked solution</summary>
#
# One way is the first identity of 1.3: insert $r - 1$ zeros between the taps, then slide
# the large filter with the stride, one output position at a time.
#
# ```python
# import numpy as np
#
# from reference.testing import assert_atrous_conv_matches
#
#
# def my_atrous_conv(x, w, rate, stride, padding):
#     """Eq. 1 with an upsampled filter: x (N, C_in, H, W), w (C_out, C_in, kH, kW)."""
#     (r_h, r_w), (s_h, s_w), (p_h, p_w) = rate, stride, padding
#     c_out, c_in, k_h, k_w = w.shape
#     big = np.zeros((c_out, c_in, (k_h - 1) * r_h + 1, (k_w - 1) * r_w + 1))
#     big[:, :, ::r_h, ::r_w] = w  # r - 1 zeros between two taps
#     xp = np.pad(x, ((0, 0), (0, 0), (p_h, p_h), (p_w, p_w)))
#     out_h = (xp.shape[2] - big.shape[2]) // s_h + 1
#     out_w = (xp.shape[3] - big.shape[3]) // s_w + 1
#     y = np.zeros((x.shape[0], c_out, out_h, out_w))
#     for i in range(out_h):
#         for j in range(out_w):
#             window = xp[:, :, i * s_h : i * s_h + big.shape[2], j * s_w : j * s_w + big.shape[3]]
#             y[:, :, i, j] = np.einsum("nchw,ochw->no", window, big)
#     return y
#
#
# assert_atrous_conv_matches(my_atrous_conv)
# ```
#
# </details>
