"""The shipped recipes as one pipeline: which run starts from which (Sec. 4.1, 4.3, App. C).

A recipe that starts from another's checkpoint says so in ``train.init``
(``runs/voc_stage1/checkpoint.pt``: the run folder of the recipe ``voc_stage1``); one that
starts from ImageNet weights names them in ``train.pretrained``. :func:`recipe_stages` reads
each recipe with :func:`atrous.recipe.config.load_config` and finds what it starts from;
:func:`draw_recipe_pipeline` draws the chains that result, one row each, every stage with
its dataset, crop, output stride, learning rate, iterations and batch norm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes

from atrous.base.errors import AtrousError
from atrous.diagrams.shapes import PLAIN, POOLING, arrow, box, canvas
from atrous.recipe.config import load_config
from atrous.recipe.configs import recipe_path


@dataclass(frozen=True)
class Stage:
    """One recipe as a stage of the pipeline."""

    name: str  # the recipe's name (atrous/configs/NAME.toml)
    starts_from: str  # a recipe's name, a weights file's name, or "random weights"
    text: str  # what the stage does, a few short lines


def _start(init: str, pretrained: str, names: Sequence[str]) -> str:
    if init:
        parts = Path(init).parts
        return parts[1] if len(parts) > 2 and parts[0] == "runs" and parts[1] in names else init
    return Path(pretrained).name if pretrained else "random weights"


def recipe_stages(names: Sequence[str]) -> list[Stage]:
    """The recipes ``names`` (shipped ones) as stages, in the order given."""
    stages = []
    for name in names:
        c = load_config(recipe_path(name))
        text = "\n".join([
            name,
            f"{c.data.dataset} {c.data.train_split}",
            f"crop {c.data.crop_size}, os {c.network.output_stride}",
            f"lr {c.train.base_lr:g}, {c.train.iterations // 1000}K its",
            f"BN {'frozen' if c.train.freeze_bn else 'trained'}"
            + (", bootstrap" if c.data.bootstrap_classes else ""),
        ])  # fmt: skip
        stages.append(Stage(name, _start(c.train.init, c.train.pretrained, names), text))
    return stages


def _chains(stages: Sequence[Stage]) -> list[list[Stage]]:
    """Each stage that starts from no other stage heads a row; its followers come after it."""
    names = {s.name for s in stages}
    rows = []
    for head in (s for s in stages if s.starts_from not in names):
        row, last = [head], head
        while follower := next((s for s in stages if s.starts_from == last.name), None):
            row.append(follower)
            last = follower
        rows.append(row)
    if sum(map(len, rows)) != len(stages):  # a stage started twice from one, or a circle
        raise AtrousError("the recipes do not form chains: " + ", ".join(s.name for s in stages))
    return rows


def draw_recipe_pipeline(ax: Axes, names: Sequence[str]) -> list[list[Stage]]:
    """Draw the recipes ``names`` as chains of stages, one row each; return the rows."""
    rows = _chains(recipe_stages(names))
    width, step = 2.6, 3.2
    canvas(ax, 3.0 + step * max(map(len, rows)), 2.0 * len(rows))
    for r, row in enumerate(rows):
        y = 2.0 * (len(rows) - r) - 1.0
        box(ax, 1.3, y, 2.4, 0.9, f"start:\n{row[0].starts_from}", POOLING, fontsize=7)
        for i, stage in enumerate(row):
            x = 3.0 + width / 2 + step * i
            arrow(ax, (x - step + width / 2 if i else 2.5, y), (x - width / 2, y))
            box(ax, x, y, width, 1.55, stage.text, PLAIN, fontsize=7)
    return rows
