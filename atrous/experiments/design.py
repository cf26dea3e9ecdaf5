"""The vocabulary of an experiment: variants, claims, budgets.

An :class:`Experiment` is a list of :class:`Variant` s, each a few ``--set`` changes of one
base recipe, and a list of :class:`Claim` s, each a comparison of two variants that the
paper makes. A budget (:data:`BUDGETS`) is a set of changes applied to every run: ``full``
(none) or ``quick`` (seconds a run, for tests and the chapters' live runs). The paper's
experiments written in this vocabulary are :mod:`atrous.experiments.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from atrous.base.errors import AtrousError

#: The shipped recipe (:func:`atrous.recipe.configs.recipe_path`) every variant of the small
#: recipe changes.
BASE_RECIPE = "reproduce"
#: The reproductions' recipes: name -> the shipped base config their variants change.
#: ``small``: 128-pixel scenes from random weights (the first results); ``scaled``: scenes,
#: rates and a pre-trained backbone scaled to the paper's ratios (results/scaled).
RECIPES = {"small": BASE_RECIPE, "scaled": "scaled"}
#: Seeds of a variant that a claim compares, at the full budget (others get one).
FULL_SEEDS = 3
#: The budgets: changes of the base recipe. ``quick`` is tiny (seconds a run): for tests and
#: the chapters' live runs, never for a comparison.
BUDGETS: dict[str, tuple[str, ...]] = {
    "full": (),
    "quick": (
        "train.iterations=2",
        "train.batch_size=4",
        "train.log_every=1",
        "data.synthetic_size=48",
        "data.synthetic_length=8",
        "data.synthetic_val_length=2",
        "data.crop_size=33",
        'data.cache_dir=""',  # never renders a split
    ),
}
#: Claim kinds: A better than B; A no worse than B by more than ``margin``; A no better
#: than B by more than ``margin`` (points of mIOU).
KINDS = ("better", "no_worse", "no_better")


@dataclass(frozen=True)
class Variant:
    """One cell of a table: changes of the base recipe, and where the paper has its number.

    ``paper`` holds (table, row, column) keys of :func:`atrous.experiments.paper.value`;
    ``replicas`` trains with that many processes under ``torchrun`` (Tab. 11); ``base`` is the
    shipped config the changes apply to (one of :data:`RECIPES`' values).
    """

    name: str
    train: tuple[str, ...] = ()
    eval: tuple[str, ...] = ()
    paper: tuple[tuple[str, str, str], ...] = ()
    replicas: int = 1
    base: str = BASE_RECIPE


@dataclass(frozen=True)
class Claim:
    """The paper says: variant ``a`` is ``kind`` than variant ``b`` (see :data:`KINDS`)."""

    a: str
    b: str
    kind: str = "better"
    margin: float = 0.0
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Claim.kind must be one of {KINDS}, got {self.kind!r}")

    def describe(self) -> str:
        """The claim in words: "os8 better than os16"."""
        words = {"better": "better than", "no_worse": "no worse than",
                 "no_better": "no better than"}[self.kind]  # fmt: skip
        margin = f" by more than {self.margin:g} point(s)" if self.kind != "better" else ""
        return f"{self.a} {words} {self.b}{margin}"


@dataclass(frozen=True)
class Experiment:
    """One reproduction: the paper's tables it covers, its variants, claims and notes."""

    name: str
    title: str
    tables: tuple[str, ...]
    variants: tuple[Variant, ...]
    claims: tuple[Claim, ...] = ()
    notes: str = ""

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise AtrousError(f"experiment {self.name} has no variant {name!r}; it has: "
                       f"{', '.join(v.name for v in self.variants)}")  # fmt: skip

    def compared(self) -> set[str]:
        """The variants that some claim compares (they get :data:`FULL_SEEDS` seeds)."""
        return {name for c in self.claims for name in (c.a, c.b)}

    def seeds(self, variant: str, claimed_seeds: int = FULL_SEEDS) -> int:
        """How many seeds ``variant`` gets: ``claimed_seeds`` if a claim compares it, else 1."""
        return claimed_seeds if variant in self.compared() else 1
