"""The paper's numbers as data: every mIOU of Tab. 1 to 12 of DeepLabv3, with its table and row.

Reproductions and chapters read the paper's results from here, never re-type them. Each
:class:`PaperResult` names its table, the row (the setting, in the table's own words) and the
column where a table has more than one, and holds the value (mIOU in percent on PASCAL VOC
2012 val unless the table says otherwise; Tab. 11 also has the relative training time).
The source is the paper's tables (arXiv:1706.05587v3); ``tests/test_paper.py`` checks that
the numbers that appear in two tables agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperResult:
    """One number of the paper: ``table`` ("Tab. 5"), ``row``, ``column`` and ``value``."""

    table: str
    row: str
    column: str
    value: float


def _grid(table: str, columns: tuple[str, ...], rows: dict[str, tuple[float, ...]]):
    return [
        PaperResult(table, row, column, value)
        for row, values in rows.items()
        for column, value in zip(columns, values, strict=True)
    ]


BLOCKS = ("block4", "block5", "block6", "block7")

RESULTS: tuple[PaperResult, ...] = tuple(
    # Tab. 1: ResNet-50 + block7, output stride at training (and evaluation).
    _grid("Tab. 1", ("8", "16", "32", "64", "128", "256"),
          {"ResNet-50 block7, output_stride": (75.18, 73.88, 70.06, 59.99, 42.34, 20.29)})
    # Tab. 2: cascade depth at output stride 16.
    + _grid("Tab. 2", BLOCKS, {"ResNet-50": (64.81, 72.14, 74.29, 73.88),
                               "ResNet-101": (68.39, 73.21, 75.34, 75.76)})
    # Tab. 3: ResNet-101, multi-grid x cascade depth.
    + _grid("Tab. 3", BLOCKS, {
        "Multi_Grid (1, 1, 1)": (68.39, 73.21, 75.34, 75.76),
        "Multi_Grid (1, 2, 1)": (70.23, 75.67, 76.09, 76.66),
        "Multi_Grid (1, 2, 3)": (73.14, 75.78, 75.96, 76.11),
        "Multi_Grid (1, 2, 4)": (73.45, 75.74, 75.85, 76.02),
        "Multi_Grid (2, 2, 2)": (71.45, 74.30, 74.70, 74.62),
    })
    # Tab. 4: inference strategy, block7 + MG(1, 2, 1), trained at output stride 16.
    + _grid("Tab. 4", ("mIOU",), {"eval output_stride 16": (76.66,),
                                  "eval output_stride 8": (78.05,),
                                  "+ multi-scale": (78.93,), "+ flip": (79.35,)})
    # Tab. 5: ASPP at output stride 16 (ResNet-101, block4 + ASPP).
    + _grid("Tab. 5", ("mIOU",), {
        "MG (1, 1, 1), ASPP (6, 12, 18)": (75.36,),
        "MG (1, 2, 1), ASPP (6, 12, 18)": (75.93,),
        "MG (1, 2, 4), ASPP (6, 12, 18)": (76.58,),
        "MG (1, 2, 4), ASPP (6, 12, 18, 24)": (76.46,),
        "MG (1, 2, 4), ASPP (6, 12, 18), image pooling": (77.21,),
    })
    # Tab. 6: inference strategy of the ASPP model.
    + _grid("Tab. 6", ("mIOU",), {"eval output_stride 16": (77.21,),
                                  "eval output_stride 8": (78.51,), "+ multi-scale": (79.45,),
                                  "+ flip": (79.77,), "+ MS-COCO pretraining": (82.70,)})
    # Tab. 7: PASCAL VOC 2012 test.
    + _grid("Tab. 7 (test)", ("mIOU",), {"DeepLabv3": (85.7,), "DeepLabv3-JFT": (86.9,)})
    # Tab. 8: training protocol ablation at output stride 16.
    + _grid("Tab. 8", ("mIOU",), {
        "crop 513, upsample logits, fine-tune BN": (77.21,),
        "crop 513, upsample logits, BN not fine-tuned": (75.95,),
        "crop 513, labels downsampled, fine-tune BN": (76.01,),
        "crop 321, upsample logits, fine-tune BN": (67.22,),
    })
    # Tab. 9: batch size.
    + _grid("Tab. 9", ("4", "8", "12", "16"), {"batch size": (64.43, 75.76, 76.49, 77.21)})
    # Tab. 10: train output stride (rows) x eval output stride (columns).
    + _grid("Tab. 10", ("eval 16", "eval 8"), {"train 8": (74.45, 75.62),
                                               "train 16": (77.21, 78.51),
                                               "train 32": (75.90, 75.75)})
    # Tab. 11: asynchronous training replicas.
    + _grid("Tab. 11", ("1", "2", "4", "8", "16", "32"), {
        "mIOU": (77.21, 77.15, 76.79, 77.02, 77.18, 76.69),
        "relative training time": (1.00, 0.50, 0.25, 0.13, 0.06, 0.03),
    })
    # Tab. 12: Cityscapes val (train_fine), inference strategy.
    + _grid("Tab. 12 (Cityscapes val)", ("mIOU",), {"eval output_stride 16": (77.23,),
                                                    "eval output_stride 8": (77.82,),
                                                    "+ multi-scale": (79.06,), "+ flip": (79.30,)})
)  # fmt: skip


def paper(table: str, row: str | None = None, column: str | None = None) -> list[PaperResult]:
    """The results of ``table`` (``"Tab. 5"``), optionally of one row and column."""
    found = [
        r for r in RESULTS
        if r.table == table and row in (None, r.row) and column in (None, r.column)
    ]  # fmt: skip
    if not found:
        raise KeyError(f"no paper result for {table!r}, row {row!r}, column {column!r}")
    return found


def value(table: str, row: str, column: str = "mIOU") -> float:
    """One number of the paper (KeyError if there is none)."""
    return paper(table, row, column)[0].value
