"""The paper's experiments as data: each table's variants and claims (Sec. 4, Tab. 1-11, Fig. 4).

Every experiment (:mod:`atrous.experiments.design`) is a list of variants, each a few ``--set``
changes of one base
recipe (``atrous/configs/reproduce.toml``), and a list of claims, each a comparison of
two variants that the paper makes ("output stride 8 is better than 32"). The paper's numbers
are looked up in :mod:`atrous.experiments.paper` by (table, row, column); nothing here re-types
them.
:mod:`atrous.experiments.runner` runs the variants, :mod:`atrous.experiments.claims` judges the
claims.

A variant's ``train`` changes decide the trained network; its ``eval`` changes only the
inference strategy. Two variants (of any experiments) with the same base, budget, seed and
``train`` changes share one trained network: Tab. 4 and 6 only evaluate the networks of
Tab. 3 and 5, and Tab. 10's evaluation at output stride 8 reuses its trained networks.

Scaling (the base recipe's header says why): our feature map at output stride 16 is 7 x 7
in training and 9 x 9 at evaluation, the paper's 33 x 33; ASPP rates are the paper's / 3
(6, 12, 18, 24 -> 2, 4, 6, 8); crops 97 and 65 stand for 513 and 321 (the same ratio, at
16k + 1); the depths (1, 1, 1, 3) and (1, 1, 3, 3) stand for ResNet-50 and -101. Cascade
rates (Sec. 3.2) follow from the output stride and are not scaled: on our smaller feature
maps the deep blocks reach rates beyond the map sooner than the paper's did.
"""

from __future__ import annotations

from atrous.base.scales import PAPER_SCALES
from atrous.experiments.design import Claim, Experiment, Variant

# --- building blocks --------------------------------------------------------------------------

SHALLOW = ("model.depths=[1,1,1,3]",)  # stands in for ResNet-50; the base is ResNet-101's
NO_POOLING = ("model.image_pooling=false",)


def cascade(block: int) -> tuple[str, ...]:
    """The cascade of Sec. 3.2 up to ``block`` (4 to 7), with only the 1x1 classifier on it."""
    return (f"model.extra_blocks={block - 4}", "model.head=cascade")


def multi_grid(rates: str) -> tuple[str, ...]:
    """``multi_grid("124")``: the unit rates (1, 2, 4) of Sec. 3.2.1."""
    return (f"model.multi_grid=[{','.join(rates)}]",)


def _mg_row(rates: str) -> str:
    return f"Multi_Grid ({', '.join(rates)})"


# --- the experiments --------------------------------------------------------------------------

FIG4 = Experiment(
    "fig4", "Valid weights of a 3x3 atrous filter against its rate (exact)", ("Fig. 4",), (),
    notes="Computed exactly by reference.valid_weights on a 65 x 65 feature map, as the "
          "paper's figure; no training, no seeds.",
)  # fmt: skip

TAB1 = Experiment(
    "tab1", "Going deeper with atrous convolution: output stride", ("Tab. 1",),
    tuple(
        Variant(f"os{s}", SHALLOW + cascade(7) + multi_grid("111") + (f"model.output_stride={s}",),
                paper=(("Tab. 1", "ResNet-50 block7, output_stride", str(s)),))
        for s in (8, 16, 32, 64, 128, 256)
    ),
    tuple(Claim(f"os{a}", f"os{b}", text="less atrous convolution, coarser features, worse")
          for a, b in ((8, 16), (16, 32), (32, 64), (64, 128), (128, 256))),
    notes="The shallower network, block7 cascade, multi-grid (1, 1, 1); trained and evaluated "
          "at the same output stride. At 256 our 128-pixel images give a 1 x 1 feature map.",
)  # fmt: skip

_BLOCKS = (4, 5, 6, 7)
_GRIDS = ("121", "123", "124", "222")
TAB2_3 = Experiment(
    "tab2-3", "Cascade depth, network depth and multi-grid", ("Tab. 2", "Tab. 3"),
    tuple(
        Variant(f"shallow-block{b}", SHALLOW + cascade(b) + multi_grid("111"),
                paper=(("Tab. 2", "ResNet-50", f"block{b}"),))
        for b in _BLOCKS
    ) + tuple(
        Variant(f"deep-block{b}", cascade(b) + multi_grid("111"),
                paper=(("Tab. 2", "ResNet-101", f"block{b}"),
                       ("Tab. 3", _mg_row("111"), f"block{b}")))
        for b in _BLOCKS
    ) + tuple(
        Variant(f"mg{g}-block{b}", cascade(b) + multi_grid(g),
                paper=(("Tab. 3", _mg_row(g), f"block{b}"),))
        for g in _GRIDS for b in _BLOCKS
    ),
    (
        Claim("deep-block7", "deep-block4", text="a deeper cascade helps (Tab. 2)"),
        Claim("deep-block7", "shallow-block7", text="the deeper network helps (Tab. 2)"),
        Claim("mg121-block7", "deep-block7", text="multi-grid (1, 2, 1) beats (1, 1, 1) (Tab. 3)"),
        Claim("mg222-block7", "mg124-block7", "no_better", 1.0,
              text="doubling every unit rate, (2, 2, 2), is not effective (Tab. 3)"),
    ),
    notes="Multi-grid (1, 1, 1) rows of Tab. 3 are the deeper network of Tab. 2 (one run "
          "serves both). Output stride 16; the cascade's rates are not scaled (see above).",
)  # fmt: skip

TAB5 = Experiment(
    "tab5", "Atrous spatial pyramid pooling and image pooling", ("Tab. 5",),
    (
        Variant("mg111", NO_POOLING + multi_grid("111"),
                paper=(("Tab. 5", "MG (1, 1, 1), ASPP (6, 12, 18)", "mIOU"),)),
        Variant("mg121", NO_POOLING + multi_grid("121"),
                paper=(("Tab. 5", "MG (1, 2, 1), ASPP (6, 12, 18)", "mIOU"),)),
        Variant("mg124", NO_POOLING,
                paper=(("Tab. 5", "MG (1, 2, 4), ASPP (6, 12, 18)", "mIOU"),)),
        Variant("mg124-rate24", NO_POOLING + ("model.aspp_rates=[2,4,6,8]",),
                paper=(("Tab. 5", "MG (1, 2, 4), ASPP (6, 12, 18, 24)", "mIOU"),)),
        Variant("mg124-pooling", (),
                paper=(("Tab. 5", "MG (1, 2, 4), ASPP (6, 12, 18), image pooling", "mIOU"),)),
    ),
    (
        Claim("mg124", "mg111", text="multi-grid (1, 2, 4) beats (1, 1, 1) under ASPP"),
        Claim("mg124-rate24", "mg124", "no_better", 1.0,
              text="a fourth, larger rate (24; ours 8) does not help"),
        Claim("mg124-pooling", "mg124", text="image-level features help"),
    ),
    notes="block4 + ASPP, output stride 16; ASPP rates (2, 4, 6) and (2, 4, 6, 8) stand for "
          "the paper's (6, 12, 18) and (6, 12, 18, 24). mg124-pooling is the base recipe.",
)  # fmt: skip

_BLOCK7_MG121 = cascade(7) + multi_grid("121")
_STRATEGIES = (
    ("os16", (), "eval output_stride 16"),
    ("os8", ("eval.output_stride=8",), "eval output_stride 8"),
    ("ms", ("eval.output_stride=8", f"eval.scales={list(PAPER_SCALES)}"), "+ multi-scale"),
    ("flip", ("eval.output_stride=8", f"eval.scales={list(PAPER_SCALES)}", "eval.flip=true"),
     "+ flip"),
)  # fmt: skip
TAB4_6 = Experiment(
    "tab4-6", "Inference strategy: output stride 8, multi-scale inputs, flips",
    ("Tab. 4", "Tab. 6"),
    tuple(
        Variant(f"{net}-{s}", train, e, paper=((table, row, "mIOU"),))
        for net, train, table in (("block7", _BLOCK7_MG121, "Tab. 4"), ("aspp", (), "Tab. 6"))
        for s, e, row in _STRATEGIES
    ),
    tuple(
        Claim(f"{net}-{a}", f"{net}-{b}", text=text)
        for net in ("block7", "aspp")
        for a, b, text in (("os8", "os16", "denser features at inference help"),
                           ("ms", "os8", "multi-scale inputs help"),
                           ("flip", "ms", "adding left-right flips helps"))
    ),
    notes="Evaluation only: the networks trained for Tab. 3 (block7, MG (1, 2, 1)) and Tab. 5 "
          "(the base recipe), all trained at output stride 16. Scales 0.5 to 1.75 as the "
          "paper's. Tab. 6's MS-COCO row needs COCO, not reproduced here.",
)  # fmt: skip

TAB8 = Experiment(
    "tab8", "Training protocol: crop size, upsampled logits, fine-tuned BN", ("Tab. 8",),
    (
        Variant("base", (), paper=(("Tab. 8", "crop 513, upsample logits, fine-tune BN", "mIOU"),)),
        Variant("bn-frozen", ("train.freeze_bn=true",),
                paper=(("Tab. 8", "crop 513, upsample logits, BN not fine-tuned", "mIOU"),)),
        Variant("labels-down", ("train.upsample_logits=false",),
                paper=(("Tab. 8", "crop 513, labels downsampled, fine-tune BN", "mIOU"),)),
        Variant("crop65", ("data.crop_size=65",),
                paper=(("Tab. 8", "crop 321, upsample logits, fine-tune BN", "mIOU"),)),
    ),
    (
        Claim("base", "bn-frozen", text="training batch norm helps"),
        Claim("base", "labels-down", text="upsampling the logits beats downsampling the labels"),
        Claim("base", "crop65", text="large crops help (large rates need large crops)"),
    ),
    notes="Crop 97 and 65 stand for 513 and 321. Departure: the paper's frozen BN is "
          "ImageNet-trained; ours starts from random weights, so frozen BN is no "
          "normalisation at all (running mean 0, variance 1): a harsher setting.",
)  # fmt: skip

TAB9 = Experiment(
    "tab9", "Batch size", ("Tab. 9",),
    tuple(Variant(f"batch{b}", (f"train.batch_size={b}",) if b != 16 else (),
                  paper=(("Tab. 9", "batch size", str(b)),)) for b in (4, 8, 12, 16)),
    (
        Claim("batch16", "batch4", text="batch norm needs a large batch"),
        Claim("batch8", "batch4", text="batch 8 already beats 4"),
        Claim("batch16", "batch8", text="and 16 beats 8"),
    ),
    notes="The same iterations and learning rate at every batch size, as in the paper.",
)  # fmt: skip

TAB10 = Experiment(
    "tab10", "Output stride in training and in evaluation", ("Tab. 10",),
    tuple(
        Variant(f"train{t}-eval{e}", (f"model.output_stride={t}",) if t != 16 else (),
                (f"eval.output_stride={e}",) if e != t else (),
                paper=(("Tab. 10", f"train {t}", f"eval {e}"),))
        for t in (8, 16, 32) for e in (16, 8)
    ),
    (
        Claim("train16-eval8", "train8-eval8", text="training at 16 beats training at 8"),
        Claim("train16-eval16", "train32-eval16", text="training at 16 beats training at 32"),
        Claim("train16-eval8", "train16-eval16", text="evaluating at 8 beats 16"),
    ),
    notes="One scale, no flips. The networks trained at 8, 16 (the base recipe) and 32 are "
          "each evaluated at 16 and at 8.",
)  # fmt: skip

TAB11 = Experiment(
    "tab11", "Replicas: training on several processes", ("Tab. 11",),
    tuple(Variant(f"replicas{n}", ("train.batch_norm=per_replica",) if n > 1 else (),
                  paper=(("Tab. 11", "mIOU", str(n)),), replicas=n) for n in (1, 2, 4)),
    (
        Claim("replicas2", "replicas1", "no_worse", 1.0, text="2 replicas cost no accuracy"),
        Claim("replicas4", "replicas1", "no_worse", 1.0, text="4 replicas cost no accuracy"),
    ),
    notes="Departure: the paper's replicas were asynchronous, each with its own BN "
          "statistics. Ours are synchronous (torchrun, gloo, CPU processes) at the same "
          "global batch 16, so that the only thing that can differ from one process is "
          "what the paper's replicas also had: per-replica BN, over 8 images with 2 "
          "replicas and 4 with 4. (Synchronous training with global BN equals one process "
          "by construction, tests/test_ddp.py.) Stale gradients are not reproduced.",
)  # fmt: skip

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e for e in (FIG4, TAB1, TAB2_3, TAB5, TAB4_6, TAB8, TAB9, TAB10, TAB11)
}
