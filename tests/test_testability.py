"""atrous.experiments.testability: whether a claim can be tested on a recipe's feature maps,
from the NumPy oracle; and atrous.model.config.rate_scale, which scales the paper's rates."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from atrous.experiments.judge import UNTESTABLE, judge, sort_rows
from atrous.experiments.paths import RESULTS
from atrous.experiments.registry import EXPERIMENTS
from atrous.experiments.rows import read_rows
from atrous.experiments.testability import (
    MIN_OFF_CENTRE,
    atrous_layers,
    claim_testability,
    off_centre_fraction,
    run_maps,
)
from atrous.model.backbone import block_plans
from atrous.model.config import DeepLabV3Config
from atrous.recipe.config import apply_overrides
from reference.network import aspp_rates, block_strides_and_rates


@given(size=st.integers(1, 40), rate=st.integers(1, 60))
def test_off_centre_fraction_counts_the_taps_on_the_map(size, rate):
    on = sum(
        0 <= i + di * rate < size and 0 <= j + dj * rate < size
        for i in range(size) for j in range(size)
        for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)
    )  # fmt: skip
    assert abs(off_centre_fraction(size, rate) - on / (8 * size * size)) < 1e-12
    if rate >= size:
        assert off_centre_fraction(size, rate) == 0.0  # a 1x1 filter (Fig. 4)


def config(*changes: str):
    base = ["model.preset=tiny", "model.num_classes=7", "data.crop_size=97",
            "model.aspp_rates=[2,4,6]", "model.depths=[1,1,1,3]"]  # fmt: skip
    return apply_overrides({}, [*base, *changes])


def test_an_extra_branch_that_leaves_the_map_is_untestable():
    assert run_maps(config()).train == (7, 16)
    far = claim_testability(config("model.aspp_rates=[2,4,6,8]"), config())
    assert not far.testable and "aspp.4" in far.reason
    near = claim_testability(config("model.aspp_rates=[2,4,6,3]"), config())
    assert near.testable and "aspp.4" in near.reason
    assert off_centre_fraction(7, 3) >= MIN_OFF_CENTRE > off_centre_fraction(7, 8)


def test_claims_about_other_things_are_testable():
    assert claim_testability(config("model.image_pooling=false"), config()).testable
    assert claim_testability(config("train.freeze_bn=true"), config()).testable
    other = claim_testability(config("model.output_stride=8"), config())
    assert other.testable and "feature maps" in other.reason


def test_a_multi_grid_unit_acts_when_either_of_its_rates_does():
    # block4 at output stride 16 has rate 2: (1, 1, 1) -> 2, 2, 2 and (1, 2, 16) -> 2, 4, 32
    verdict = claim_testability(
        config("model.multi_grid=[1,2,16]"), config("model.multi_grid=[1,1,1]")
    )
    assert verdict.testable and "layer4.1, layer4.2 act" in verdict.reason  # 4.2: 32 vs 2
    both_off = claim_testability(
        config("model.multi_grid=[1,1,8]"), config("model.multi_grid=[1,1,16]")
    )
    assert not both_off.testable


def test_the_committed_vacuous_agreement_is_untestable_and_its_rows_stay():
    experiment = EXPERIMENTS["tab5"]
    rows = read_rows(RESULTS / "tab5.csv")
    verdicts = {c.claim.a: c.verdict for c in judge(experiment, sort_rows(experiment, rows))}
    assert verdicts["mg124-rate24"] == UNTESTABLE
    assert any(r["variant"] == "mg124-rate24" for r in rows)


@given(
    scale=st.sampled_from([0.25, 0.34, 0.5, 0.75, 1.0, 1.5, 2.0]),
    output_stride=st.sampled_from([8, 16, 32]),
    multi_grid=st.tuples(*[st.integers(1, 4)] * 3),
    extra=st.integers(0, 2),
)
def test_rate_scale_scales_block4_on_and_aspp_as_the_oracle_does(
    scale, output_stride, multi_grid, extra
):
    c = DeepLabV3Config(rate_scale=scale, output_stride=output_stride, multi_grid=multi_grid,
                        extra_blocks=extra, aspp_rates=(2, 4, 6))  # fmt: skip
    paper = dataclasses.replace(c, rate_scale=1.0)
    ours = [list(p.unit_rates) for p in block_plans(c)]
    assert ours == [rates for _, rates in block_strides_and_rates(c)]
    assert list(c.scaled_aspp_rates()) == aspp_rates(c)
    unscaled = [list(p.unit_rates) for p in block_plans(paper)]
    assert ours[:3] == unscaled[:3]  # blocks 1 to 3 keep the rates atrous conversion gives
    for got, rate in zip(sum(ours[3:], []), sum(unscaled[3:], []), strict=True):
        assert got == max(1, int(rate * scale + 0.5)) and got >= 1
    assert set(atrous_layers(c, output_stride)) == set(atrous_layers(paper, output_stride))
