"""The paper's numbers as data (atrous.experiments.paper): the numbers that two tables share agree,
and
every table of the notes is there."""

from __future__ import annotations

import pytest

from atrous.experiments.paper import BLOCKS, RESULTS, paper, value


def test_the_baseline_77_21_is_the_same_in_every_table_that_has_it():
    baseline = [
        value("Tab. 5", "MG (1, 2, 4), ASPP (6, 12, 18), image pooling"),
        value("Tab. 6", "eval output_stride 16"),
        value("Tab. 8", "crop 513, upsample logits, fine-tune BN"),
        value("Tab. 9", "batch size", "16"),
        value("Tab. 10", "train 16", "eval 16"),
        value("Tab. 11", "mIOU", "1"),
    ]
    assert baseline == [77.21] * 6


def test_shared_rows_agree():
    for block in BLOCKS:  # Tab. 3's (1, 1, 1) row is Tab. 2's ResNet-101 row
        assert value("Tab. 3", "Multi_Grid (1, 1, 1)", block) == value("Tab. 2", "ResNet-101",
                                                                       block)  # fmt: skip
    assert value("Tab. 4", "eval output_stride 16") == value("Tab. 3", "Multi_Grid (1, 2, 1)",
                                                             "block7")  # fmt: skip
    assert value("Tab. 1", "ResNet-50 block7, output_stride", "16") == value(
        "Tab. 2", "ResNet-50", "block7"
    )
    assert value("Tab. 10", "train 16", "eval 8") == value("Tab. 6", "eval output_stride 8")


def test_every_table_and_no_duplicates():
    tables = {r.table for r in RESULTS}
    assert {f"Tab. {i}" for i in (1, 2, 3, 4, 5, 6, 8, 9, 10, 11)} <= tables
    keys = [(r.table, r.row, r.column) for r in RESULTS]
    assert len(keys) == len(set(keys))
    assert len(paper("Tab. 3")) == 20
    with pytest.raises(KeyError, match="Tab. 99"):
        paper("Tab. 99")
