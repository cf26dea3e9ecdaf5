"""Seeds per claim from the pilot, and the claims that the CPU budget keeps.

After the pilot (:mod:`atrous.experiments.designed_runs`) and before any final run, each
testable claim of the design gets its number of pairs, and claims are dropped if the runs
do not fit the budget, by the rules that ``results/scaled/design.toml`` records:

- **pairs**: :func:`atrous.experiments.decisions.pairs_needed` for the paper's effect (the
  difference of its two numbers, or the margin of a "no worse" / "no better" claim) or 1
  point, whichever is larger, with the standard deviation of a paired difference taken as
  ``sqrt(2)`` times the pilot's spread across seeds (no credit for the pairing: the pilot
  has one variant, so the correlation of a pair is unknown, and zero is the cautious guess);
- **cost**: every distinct training the kept claims need (variants that differ only in
  evaluation share one) at the most seeds any kept claim gives it, its time projected from
  the pilot's time per run scaled by a measured model step of its config against the
  pilot's (:func:`step_seconds`); plus the pre-training and the pilot themselves;
- **dropping**: while the projection exceeds the budget, the first claim still kept in the
  design's order is dropped. Untestable claims are never run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from atrous.base.atomic import write_text_atomic
from atrous.base.errors import AtrousError
from atrous.base.precision import autocast, resolve_precision
from atrous.experiments.decisions import pairs_needed
from atrous.experiments.design import Claim, Experiment
from atrous.experiments.design_file import load_design
from atrous.experiments.designed_runs import design_path, frozen_design
from atrous.experiments.judge import paper_of, testability
from atrous.experiments.plan import variant_config
from atrous.experiments.recipes import claim_named, experiments_of
from atrous.experiments.rows import config_hash, read_rows, train_hash
from atrous.inference.evaluate import evaluation_mode
from atrous.inference.strategy import predict_probabilities
from atrous.recipe.config import TrainConfig
from atrous.recipe.configs import pretrained_path
from atrous.training.loss import labelled_pixels, segmentation_loss_sum
from atrous.training.start import arithmetic, initial_model, parameter_groups


@dataclass(frozen=True)
class Allocation:
    """One claim of the design: its effect, pairs, and whether the budget keeps it."""

    claim: str
    testable: bool
    effect: float
    pairs: int
    kept: bool


def claim_effect(experiment: Experiment, claim: Claim) -> float:
    """The effect to be found: the paper's difference, or the claim's margin, at least 1."""
    if claim.kind != "better":
        return max(claim.margin, 1.0)
    gap = abs(paper_of(experiment, claim.a) - paper_of(experiment, claim.b))
    return max(gap, 1.0) if not math.isnan(gap) else 1.0


def step_seconds(
    config: TrainConfig, repeats: int = 2, statistic: Callable[[list[float]], float] = min
) -> float:
    """Seconds of one training step of ``config``'s network on random crops, in the run's
    precision and memory format (the model's work only: the fastest of ``repeats`` after one
    warm-up, or another ``statistic`` of them), for comparing configs."""
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    precision, layout = arithmetic(config, cpu)
    random = dataclasses.replace(config, train=dataclasses.replace(config.train, pretrained=""))
    model = initial_model(random).to(memory_format=layout).train()
    optimizer = torch.optim.SGD(parameter_groups(model, 1e-4), lr=1e-3, momentum=0.9)
    n, crop, net = config.train.batch_size, config.data.crop_size, config.network
    images = torch.randn(n, 3, crop, crop).contiguous(memory_format=layout)
    labels = torch.randint(0, net.num_classes, (n, crop, crop))
    up = config.train.upsample_logits

    def step() -> None:
        with autocast(precision, cpu):
            logits = model(images, upsample=False)
        count = labelled_pixels(labels, logits.shape[-2:], up, net.align_corners)
        loss = segmentation_loss_sum(logits.float(), labels, up, net.align_corners) / count
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _timed(step, repeats, statistic)


def eval_seconds(config: TrainConfig, side: int = 256, repeats: int = 2) -> float:
    """Seconds to predict one ``side`` x ``side`` image with ``config``'s evaluation
    (output stride, scales, flips), as :func:`step_seconds` times a step."""
    torch.manual_seed(0)
    model = initial_model(dataclasses.replace(
        config, train=dataclasses.replace(config.train, pretrained="")))  # fmt: skip
    image = torch.randn(1, 3, side, side)
    e = config.eval
    precision = resolve_precision(e.precision, torch.device("cpu"), "eval.precision")
    with evaluation_mode(model, e.output_stride or None), torch.no_grad():
        return _timed(lambda: predict_probabilities(model, image, e.scales, e.flip,
                                                    precision=precision), repeats)  # fmt: skip


def _timed(
    call: Callable[[], object], repeats: int, statistic: Callable[[list[float]], float] = min
) -> float:
    """``statistic`` (by default the fastest) of ``repeats`` wall times of ``call`` after one
    warm-up call."""
    call()  # warm-up
    walls = []
    for _ in range(repeats):
        tic = time.perf_counter()
        call()
        walls.append(time.perf_counter() - tic)
    return statistic(walls)


@dataclass(frozen=True)
class Pilot:
    """What the pilot measured: its mIOUs, hours of training and of evaluation per run, and
    its config (the unit of cost)."""

    miou: list[float]
    train_hours: float
    eval_hours: float
    config: TrainConfig


def allocate(
    claims: list[tuple[str, Experiment, Claim]], pilot: Pilot, budget_hours: float,
    spent_hours: float, cost: Callable[[TrainConfig, str], float],
) -> tuple[list[Allocation], float]:  # fmt: skip
    """Pairs per claim and the claims kept (see the module docstring), and the projected
    hours of all (pre-training and pilot included) for the kept ones. ``claims`` in the
    design's order; ``spent_hours``: pre-training and pilot; ``cost(config, "train" or
    "eval")``: a config's training or evaluation against the pilot's."""
    sd = math.sqrt(2) * float(np.std(pilot.miou, ddof=1))
    rows = []
    for text, experiment, claim in claims:
        testable = testability(experiment, claim).testable
        effect = claim_effect(experiment, claim)
        rows.append((text, experiment, claim, testable, effect, pairs_needed(effect, sd)))
    kept = [r[3] for r in rows]
    known: dict[tuple[str, str], float] = {}

    def relative(config: TrainConfig, key: str, what: str) -> float:
        if (key, what) not in known:
            known[key, what] = cost(config, what)
        return known[key, what]

    def projected() -> float:
        trainings: dict[str, tuple[int, TrainConfig]] = {}
        evaluations: dict[str, tuple[int, TrainConfig]] = {}
        for (_, experiment, claim, _, _, pairs), keep in zip(rows, kept, strict=True):
            for name in (claim.a, claim.b) if keep else ():
                variant = experiment.variant(name)
                config = variant_config(variant, 0, "full")
                for table, key in (
                    (trainings, train_hash(config, variant.replicas)),
                    (evaluations, config_hash(config, variant.replicas)),
                ):
                    table[key] = (max(pairs, table.get(key, (0,))[0]), config)  # fmt: skip
        hours = sum(n * relative(c, k, "train") * pilot.train_hours
                    for k, (n, c) in trainings.items())  # fmt: skip
        hours += sum(n * relative(c, k, "eval") * pilot.eval_hours
                     for k, (n, c) in evaluations.items())  # fmt: skip
        return spent_hours + hours

    for i in range(len(rows)):
        if projected() <= budget_hours:
            break
        kept[i] = False
    out = [Allocation(r[0], r[3], r[4], r[5], k) for r, k in zip(rows, kept, strict=True)]
    return out, projected()


def pretraining_hours(recipe: str) -> float:
    """Hours the committed pre-trained backbones of ``recipe`` took (their metadata)."""
    from safetensors import safe_open  # an optional dependency (atrous[export])

    seconds = 0.0
    for name in ("deep", "shallow"):
        with safe_open(str(pretrained_path(f"{recipe}-{name}")), "pt") as f:
            seconds += json.loads(f.metadata()["record"])["train_seconds"]
    return seconds / 3600


def allocate_design(recipe: str) -> tuple[list[Allocation], dict[str, float]]:
    """:func:`allocate` for ``recipe``'s frozen design and committed pilot; and the hours:
    budget, spent (pre-training, pilot) and the projection of what is kept."""
    design = frozen_design(recipe)
    experiments = experiments_of(recipe)
    pilot_name, _, variant = design.values["pilot"]["variant"].partition("/")
    path = design_path(recipe).parent / "pilot" / f"{pilot_name}.csv"
    rows = [r for r in read_rows(path) if r["variant"] == variant]
    if len(rows) < 2:
        raise AtrousError(f"{path}: the pilot has {len(rows)} row(s); run `python -m atrous "
                          f"reproduce {pilot_name} --recipe {recipe} --pilot` first")  # fmt: skip
    config = variant_config(experiments[pilot_name].variant(variant), 0, "full")
    pilot = Pilot([r["miou"] for r in rows],
                  float(np.mean([r["train_seconds"] for r in rows])) / 3600,
                  float(np.mean([r["eval_seconds"] for r in rows])) / 3600, config)  # fmt: skip
    spent = pretraining_hours(recipe) + len(rows) * (pilot.train_hours + pilot.eval_hours)
    base = {"train": step_seconds(config), "eval": eval_seconds(config)}

    def cost(c: TrainConfig, what: str) -> float:
        return (step_seconds(c) if what == "train" else eval_seconds(c)) / base[what]

    claims = []
    for entry in design.claims:
        _, experiment, claim = claim_named(recipe, entry["claim"])
        claims.append((entry["claim"], experiment, claim))
    budget = float(design.values["statistics"]["cpu_hours"])
    allocations, total = allocate(claims, pilot, budget, spent, cost)
    sd = float(np.std(pilot.miou, ddof=1))
    return allocations, {"budget": budget, "spent": spent, "projected": total, "sd": sd}


def write_seeds(recipe: str, allocations: list[Allocation]) -> None:
    """Record each claim's pairs (``seeds``) and whether it is ``dropped`` in the design, once:
    a design whose claims already have seeds is never changed."""
    path = design_path(recipe)
    design = load_design(path)
    if any("seeds" in c for c in design.claims):
        raise AtrousError(f"{path}: the claims' seeds are set already; they are never changed")
    text = path.read_text(encoding="utf-8")
    for a in allocations:
        line = f'claim = "{a.claim}"\n'
        if text.count(line) != 1:
            raise AtrousError(f"{path}: the claim {a.claim!r} is not listed once")
        extra = f"seeds = {a.pairs}\n" + ("" if a.kept else "dropped = true\n")
        extra += "" if a.testable else "untestable = true\n"
        text = text.replace(line, line + extra)
    write_text_atomic(path, text)
