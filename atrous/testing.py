"""Testing tools that need torch: strategies for network configs, torch adapters for
:func:`reference.testing.assert_atrous_conv_matches`, and a whole-network check.

:func:`assert_deeplabv3_matches` holds any DeepLabv3 forward (a port to another library, a
checkpoint converter, this package) to the NumPy forward of :mod:`reference.network`, which
implements the paper (and torchvision's extra 3x3 conv in the head, ``head_conv3x3``):

.. code-block:: python

    from atrous import get_preset
    from atrous.testing import assert_deeplabv3_matches

    config = get_preset("resnet50", output_stride=8)
    assert_deeplabv3_matches(my_forward, my_state_dict, config, name_map=my_names_to_ours)

``forward(images)`` takes float64 NumPy images (N, 3, H, W) and returns the logits
(N, K, H, W), or a dict of stage outputs (``"stem"``, ``"layer1"`` .. ``"layer4"``,
``"aspp"``, ``"logits"``, ``"out"``: any of them, in our names) so that the first stage that
differs is named. Weights are given in our names (torchvision's), or through ``name_map``,
a function from the caller's parameter names to ours (None drops a name). Needs hypothesis
only for :func:`network_configs` (``pip install 'atrous[testing]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from atrous.model.config import DeepLabV3Config
from reference.network import deeplabv3_stages
from reference.testing import compare

#: ``forward(images) -> logits`` or ``-> {stage: output}``, NumPy in and out.
Forward = Callable[[np.ndarray], Any]


def torch_conv2d(
    x: np.ndarray, w: np.ndarray, rate: tuple, stride: tuple, padding: tuple
) -> np.ndarray:
    """torch's ``conv2d`` with ``dilation=rate``, as a NumPy function (float64): the adapter
    :func:`reference.testing.assert_atrous_conv_matches` takes."""
    return as_numpy_conv(lambda xt, wt, r, s, p: F.conv2d(xt, wt, stride=s, padding=p, dilation=r))(
        x, w, rate, stride, padding
    )


def as_numpy_conv(fn: Callable[..., torch.Tensor]) -> Callable[..., np.ndarray]:
    """A torch convolution ``fn(x, w, rate, stride, padding)`` on tensors, as a NumPy one."""

    def numpy_fn(x: np.ndarray, w: np.ndarray, rate: tuple, stride: tuple, padding: tuple):
        with torch.no_grad():
            y = fn(torch.from_numpy(x), torch.from_numpy(w), rate, stride, padding)
        return y.detach().cpu().numpy()

    return numpy_fn


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64)


def _our_names(state_dict: Mapping[str, Any], name_map: Callable[[str], str | None] | None):
    weights = {}
    for name, value in state_dict.items():
        ours = name if name_map is None else name_map(name)
        if ours is not None:
            weights[ours] = _to_numpy(value)
    return weights


def assert_deeplabv3_matches(
    forward: Forward,
    state_dict: Mapping[str, Any],
    config: DeepLabV3Config,
    *,
    name_map: Callable[[str], str | None] | None = None,
    sizes: tuple[tuple[int, int], ...] = ((33, 33), (40, 29)),
    batch: int = 1,
    rtol: float = 1e-4,
    atol: float = 1e-4,
) -> None:
    """Compare ``forward`` with the NumPy DeepLabv3 of ``config`` and the same weights on
    random images of each of ``sizes``; AssertionError naming the first stage that differs
    (when ``forward`` returns stages) or the logits, the first differing index and values.

    Tolerances are relative to the largest value of the stage (``atol * max |expected|``),
    so float32 implementations pass with the defaults. A check that would compare nothing
    (no ``sizes``, a ``forward`` that returns an empty dict) fails, and so does a ``config``
    whose ``num_classes`` is not that of the weights' last conv.
    """
    if not sizes:
        raise AssertionError("compared nothing: sizes is empty; give at least one (H, W)")
    weights = _our_names(state_dict, name_map)
    for k, size in enumerate(sizes):
        images = np.random.default_rng(k).uniform(-1, 1, (batch, 3, *size))
        try:
            expected = deeplabv3_stages(weights, config, images)
        except KeyError as error:
            raise AssertionError(
                f"the weights lack {error} (our names, torchvision's; map yours with name_map)"
            ) from None
        classes = expected["logits"].shape[1]
        if classes != config.num_classes:
            raise AssertionError(
                f"config.num_classes is {config.num_classes} but the weights' last conv has "
                f"{classes} outputs: the config and the weights are of different networks"
            )
        _compare_stages(expected, forward(images), f"on images {images.shape}", rtol, atol)


def _compare_stages(
    expected: dict[str, np.ndarray], actual: Any, where: str, rtol: float, atol: float
) -> None:
    """Each stage that ``actual`` (logits, or a dict of stages) holds against ``expected``;
    AssertionError for an unknown stage, or if it holds none (nothing would be compared)."""
    stages = actual if isinstance(actual, Mapping) else {"out": actual}
    unknown = [s for s in stages if s not in expected]
    if unknown:
        raise AssertionError(f"unknown stages {unknown}; the stages are {list(expected)}")
    if not stages:
        raise AssertionError(
            f"compared nothing: forward returned no stage (an empty dict); return the logits "
            f"or a dict of some of {list(expected)}"
        )
    for stage in [s for s in expected if s in stages]:  # the network's order
        scale = float(np.abs(expected[stage]).max()) or 1.0
        compare(expected[stage], _to_numpy(stages[stage]), f"stage {stage!r} {where}",
                rtol, atol * scale)  # fmt: skip


def network_configs(
    *,
    max_depth: int = 2,
    max_width: int = 4,
    max_extra_blocks: int = 3,
    heads: tuple[str, ...] = ("aspp", "cascade"),
    output_stride: int | None = None,
):
    """A hypothesis strategy of small valid :class:`DeepLabV3Config` s: depths, width, extra
    blocks, output stride, multi-grid, head, ASPP rates (multiples of what the output stride
    needs), image pooling, rate scale; every drawn network runs in milliseconds."""
    from hypothesis import strategies as st

    @st.composite
    def draw_config(draw: st.DrawFn) -> DeepLabV3Config:
        low = 0 if output_stride is None else max(0, (output_stride // 32).bit_length() - 1)
        extra_blocks = draw(st.integers(low, max(low, max_extra_blocks)))
        natural = 32 * 2**extra_blocks
        os_ = output_stride
        if os_ is None:
            os_ = draw(st.sampled_from([4 * 2**i for i in range(natural.bit_length() - 2)]))
        unit = max(1, os_ // 16)  # a rate r at 16 becomes r * 16 / os: keep it an integer
        ints = st.integers
        return DeepLabV3Config(
            num_classes=draw(ints(1, 4)),
            depths=tuple(draw(st.lists(ints(1, max_depth), min_size=4, max_size=4))),
            width=draw(ints(2, max_width)),
            extra_blocks=extra_blocks,
            output_stride=os_,
            multi_grid=tuple(draw(st.lists(ints(1, 3), min_size=3, max_size=3))),
            head=draw(st.sampled_from(heads)),
            aspp_rates=tuple(unit * r for r in draw(st.lists(ints(1, 4), max_size=3))),
            image_pooling=draw(st.booleans()),
            aspp_channels=draw(ints(2, 6)),
            align_corners=draw(st.booleans()),
            first_unit_previous_rate=draw(st.booleans()),
            rate_scale=draw(st.sampled_from([1.0, 1.0, 0.45, 0.5, 1.5])),
        )

    return draw_config()


def stages_of(model: torch.nn.Module) -> Forward:
    """``forward`` for :func:`assert_deeplabv3_matches` that returns every stage of one of
    our :class:`~atrous.model.deeplabv3.DeepLabV3` models, caught by forward hooks in one pass (the
    pattern for instrumenting your own network)."""
    stages = {"stem": model.backbone.maxpool}
    stages.update({n: model.backbone.get_submodule(n) for n in model.backbone.block_names})
    if model.classifier.aspp is not None:
        stages["aspp"] = model.classifier.aspp
    stages["logits"] = model.classifier

    def forward(images: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, torch.Tensor] = {}
        handles = [
            module.register_forward_hook(lambda m, i, o, name=name: out.__setitem__(name, o))
            for name, module in stages.items()
        ]
        try:
            with torch.no_grad():
                x = torch.from_numpy(images).to(next(model.parameters()).dtype)
                out["out"] = model(x)
        finally:
            for handle in handles:
                handle.remove()
        return {name: v.double().numpy() for name, v in out.items()}

    return forward
