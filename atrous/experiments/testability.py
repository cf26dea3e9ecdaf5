"""Can a claim be tested at this scale? The valid taps of every atrous layer on a recipe's
feature maps, from the NumPy oracle (Sec. 3.3, Fig. 4).

A 3x3 filter at rate ``r`` on an ``n x n`` map with "same" padding keeps, at each output
position, only the taps that land on the map (:func:`reference.valid_weight_counts`). When
``r`` reaches ``n`` only the centre tap is left: the filter is a 1x1 filter, and two
networks that differ only in such a layer cannot differ in what they compute. Before
training, :func:`claim_testability` compares the atrous layers (block4 and later, ASPP's
3x3 branches) of a claim's two variants on the training and the evaluation maps: a layer
that one variant has and the other has not (an extra ASPP branch), or whose rate differs (a
multi-grid unit), *acts* when its mean fraction of valid off-centre taps is at least
:data:`MIN_OFF_CENTRE` on both maps. A claim whose changed layers all fail to act is
*untestable at this scale*, never *agrees*; a claim that changes no atrous layer (batch
norm, image pooling, inference) or the feature maps themselves (output stride) is testable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from atrous.data.synthetic import DEFAULT_SIZE
from atrous.model.backbone import block_plans
from atrous.model.config import DeepLabV3Config
from atrous.model.summary import feature_sizes
from atrous.recipe.config import TrainConfig
from reference import valid_weight_counts

#: The least mean fraction of valid off-centre taps for a changed layer to act.
MIN_OFF_CENTRE = 0.10


def off_centre_fraction(size: int, rate: int) -> float:
    """Mean over output positions of the fraction of a 3x3 filter's 8 off-centre taps, at
    ``rate``, that land on an ``size x size`` map."""
    return float((valid_weight_counts(size, 3, rate) - 1).mean() / 8)


def valid_fraction(size: int, rate: int) -> float:
    """Mean fraction of a 3x3 filter's 9 taps, at ``rate``, that land on the map."""
    return float(valid_weight_counts(size, 3, rate).mean() / 9)


def atrous_layers(network: DeepLabV3Config, output_stride: int) -> dict[str, int]:
    """Name -> rate of every 3x3 conv of block4 and later (``layer4.0`` ...) and of ASPP's
    3x3 branches (``aspp.1`` ...) at ``output_stride``."""
    plans = block_plans(network, output_stride)
    layers = {f"{p.name}.{u}": r for p in plans[3:] for u, r in enumerate(p.unit_rates)}
    if network.head == "aspp":
        rates = network.scaled_aspp_rates(output_stride)
        layers |= {f"aspp.{i}": r for i, r in enumerate(rates, start=1)}
    return layers


def feature_map(network: DeepLabV3Config, side: int, output_stride: int) -> int:
    """The side of the last block's map for a ``side x side`` input at ``output_stride``."""
    return feature_sizes(network, (side, side), output_stride)[block_plans(network)[-1].name][0]


@dataclass(frozen=True)
class Maps:
    """The feature maps a run trains and evaluates on: (side, output stride) each."""

    train: tuple[int, int]
    eval: tuple[int, int]


def run_maps(config: TrainConfig) -> Maps:
    """The training map (a crop at the model's output stride) and the evaluation map (a whole
    scene, or ``eval.pad_to``, at the evaluation's output stride) of a run."""
    network = config.network
    train_os = network.output_stride
    eval_os = config.eval.output_stride or train_os
    scene = config.eval.pad_to or config.data.synthetic_size or DEFAULT_SIZE
    return Maps(
        (feature_map(network, config.data.crop_size, train_os), train_os),
        (feature_map(network, scene, eval_os), eval_os),
    )


@dataclass(frozen=True)
class Testability:
    """Whether a claim's two variants can differ on the maps, and why (in words)."""

    testable: bool
    reason: str


def _acts(rate: int, maps: Maps) -> bool:
    sides = (maps.train[0], maps.eval[0])
    return all(off_centre_fraction(side, rate) >= MIN_OFF_CENTRE for side in sides)


def claim_testability(a: TrainConfig, b: TrainConfig) -> Testability:
    """Can variants ``a`` and ``b`` differ on their maps? (see the module docstring)"""
    maps = run_maps(a)
    if maps != run_maps(b):
        return Testability(True, "changes the feature maps (output stride or size)")
    layers_a = atrous_layers(a.network, a.network.output_stride)
    layers_b = atrous_layers(b.network, b.network.output_stride)
    changed = sorted(n for n in layers_a.keys() | layers_b.keys()
                     if layers_a.get(n) != layers_b.get(n))  # fmt: skip
    if not changed:
        return Testability(True, "changes no atrous layer")
    acting = [n for n in changed
              if any(_acts(r, maps) for r in (layers_a.get(n), layers_b.get(n)) if r)]  # fmt: skip
    where = (
        f"training map {maps.train[0]}x{maps.train[0]}, evaluation {maps.eval[0]}x{maps.eval[0]}"
    )
    if acting:
        return Testability(True, f"{', '.join(acting)} act on the {where}")
    return Testability(False, f"every changed layer ({', '.join(changed)}) keeps under "
                              f"{MIN_OFF_CENTRE:.0%} of its off-centre taps on the {where}: "
                              f"the two networks cannot differ there")  # fmt: skip


#: The paper's maps at its 513-pixel crops: 33 x 33 at output stride 16, 65 x 65 at 8.
PAPER_MAPS = {16: 33, 8: 65}


def valid_tap_table(config: TrainConfig) -> str:
    """For every atrous layer of ``config``'s network: its rate and mean valid-tap fraction
    on the training and the evaluation map, beside the same layer of the paper's network
    (``rate_scale`` 1) on the paper's map at that output stride; ``*`` marks a difference of
    more than 0.05."""
    maps, network = run_maps(config), config.network
    paper_net = dataclasses.replace(network, rate_scale=1.0)
    os_ = network.output_stride
    paper_side = PAPER_MAPS.get(os_, 33)
    ours, paper = atrous_layers(network, os_), atrous_layers(paper_net, os_)
    lines = [f"valid taps of each atrous layer (output stride {os_}): ours on the "
             f"{maps.train[0]}x{maps.train[0]} training and {maps.eval[0]}x{maps.eval[0]} "
             f"evaluation maps, the paper's on {paper_side}x{paper_side}",
             f"{'layer':<10} {'rate':>4} {'train':>6} {'eval':>6}   {'paper rate':>10} "
             f"{'paper':>6}"]  # fmt: skip
    for name, rate in ours.items():
        train, evaluation = (valid_fraction(side, rate) for side in (maps.train[0], maps.eval[0]))
        want = valid_fraction(paper_side, paper[name])
        off = "*" if max(abs(train - want), abs(evaluation - want)) > 0.05 else ""
        lines.append(f"{name:<10} {rate:>4} {train:>6.2f} {evaluation:>6.2f}   "
                     f"{paper[name]:>10} {want:>6.2f} {off}")  # fmt: skip
    if any(line.endswith("*") for line in lines):
        lines.append("* more than 0.05 from the paper's fraction on the training or the "
                     "evaluation map (the goal is within 0.05)")  # fmt: skip
    return "\n".join(lines)
