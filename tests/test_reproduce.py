"""atrous.experiments (registry, runner, report): the reproductions at the quick budget, resuming,
reuse of trained networks, determinism, stale rows, and the committed results."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from atrous.base.errors import AtrousError
from atrous.cli import main
from atrous.experiments import paper
from atrous.experiments.design import FULL_SEEDS
from atrous.experiments.judge import sort_rows
from atrous.experiments.paths import RESULTS
from atrous.experiments.plan import planned_runs, runs_to_do, variant_config
from atrous.experiments.registry import EXPERIMENTS
from atrous.experiments.report import render_readme, write_report
from atrous.experiments.rows import COLUMNS_V3, config_hash, read_rows, train_hash
from atrous.experiments.runner import reproduce
from atrous.recipe.config import TrainConfig, from_dict
from atrous.recipe.tables import EvalConfig, added

#: Experiments whose quick run a chapter executes (so the suite runs each quick run once).
QUICK_IN_CHAPTERS = {"tab1", "tab2-3", "tab4-6", "tab5", "tab8", "tab9", "tab10", "tab11"}


@pytest.mark.parametrize("budget", ["quick", "full"])
def test_every_variant_is_a_valid_config_with_paper_numbers(budget):
    for experiment in EXPERIMENTS.values():
        names = [v.name for v in experiment.variants]
        assert len(names) == len(set(names)), experiment.name
        for claim in experiment.claims:
            assert {claim.a, claim.b} <= set(names), (experiment.name, claim)
        for variant in experiment.variants:
            variant_config(variant, 0, budget)  # validates
            assert variant.paper, (experiment.name, variant.name)
            for ref in variant.paper:
                paper.value(*ref)  # KeyError if the paper has no such number


def test_every_table_with_a_comparison_is_covered():
    tables = {t for e in EXPERIMENTS.values() for t in e.tables}
    assert tables == {"Fig. 4", *(f"Tab. {i}" for i in range(1, 12) if i != 7)}


def test_full_budget_seeds_follow_the_claims():
    for experiment in EXPERIMENTS.values():
        runs = planned_runs(experiment, None, "full")
        for variant in experiment.variants:
            seeds = sorted(s for v, s in runs if v.name == variant.name)
            want = FULL_SEEDS if variant.name in experiment.compared() else 1
            assert seeds == list(range(want)), (experiment.name, variant.name)


def _quick(name, tmp_path, **kw):
    return reproduce(name, budget="quick", results=tmp_path / "results",
                     store=tmp_path / "store", progress=False, **kw)  # fmt: skip


@pytest.mark.parametrize("name", sorted(set(EXPERIMENTS) - QUICK_IN_CHAPTERS))
def test_every_experiment_runs_at_the_quick_budget(name, tmp_path):
    rows = _quick(name, tmp_path)
    experiment = EXPERIMENTS[name]
    if name == "fig4":
        assert (tmp_path / "results" / "fig4.csv").is_file()
        assert (tmp_path / "results" / "fig4.png").is_file()
        return
    assert len(rows) == len(experiment.variants)
    assert {r["variant"] for r in rows} == {v.name for v in experiment.variants}
    assert (tmp_path / "results" / f"{name}.png").stat().st_size > 0
    assert all(0 <= r["miou"] <= 100 and r["status"] == "ok" for r in rows)
    s = sort_rows(experiment, read_rows(tmp_path / "results" / f"{name}.csv"), "quick")
    assert not s.missing and not s.stale


def test_rows_resume_reuse_and_repeat(tmp_path):
    pair = ["train32-eval16", "train32-eval8"]  # (chapter 6 runs the whole of tab10)
    rows = _quick("tab10", tmp_path, only=pair)
    assert len(rows) == 2
    # Evaluation-only variants share a trained network: 1 training for 2 rows.
    assert len({r["train_hash"] for r in rows}) == 1
    assert len(list((tmp_path / "store").iterdir())) == 1
    for r in rows:
        assert set(r) == set(COLUMNS_V3)
        assert r["weights_sha256"] and r["cpu"] and r["commit"] and r["threads"] >= 1
    assert _quick("tab10", tmp_path, only=pair) == []  # everything there: nothing re-run
    again = reproduce("tab10", budget="quick", results=tmp_path / "again", progress=False,
                      store=tmp_path / "store2", only=["train32-eval8"])  # fmt: skip
    first = next(r for r in rows if r["variant"] == "train32-eval8")
    assert again[0]["weights_sha256"] == first["weights_sha256"]
    assert again[0]["miou"] == first["miou"]


def test_recheck_retrains_a_row_and_finds_it_equal(tmp_path, capsys):
    _quick("tab9", tmp_path, only=["batch8"])
    assert main(["reproduce", "tab9", "--budget", "quick", "--results", str(tmp_path / "results"),
                 "--recheck", "batch8:0"]) == 0  # fmt: skip
    assert "the same weights hash and mIOU, on the same kind of machine" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit:
        main(["reproduce", "tab9", "--budget", "quick", "--results", str(tmp_path / "results"),
              "--recheck", "batch4:0"])  # fmt: skip
    assert exit.value.code == 2 and "no current row of batch4" in capsys.readouterr().err


def test_rows_of_another_config_are_stale_and_kept(tmp_path):
    _quick("tab9", tmp_path, only=["batch4"])
    path = tmp_path / "results" / "tab9.csv"
    rows = list(csv.DictReader(path.open()))
    old = json.loads(rows[0]["config"])  # as if the recipe had changed since: an older config
    old["train"]["base_lr"] = 0.5
    rows[0]["config"] = json.dumps(old, sort_keys=True)
    rows[0]["config_hash"] = config_hash(from_dict(old), 1)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS_V3)
        writer.writeheader()
        writer.writerows(rows)
    s = sort_rows(EXPERIMENTS["tab9"], read_rows(path), "quick")
    assert [r["variant"] for r in s.stale] == ["batch4"]
    assert ("batch4", 0) in s.missing
    text, _ = render_readme(tmp_path / "results", "quick")
    assert "Stale rows" in text and "batch4/seed0" in text
    _quick("tab9", tmp_path, only=["batch4"])  # runs it again, appends beside the stale row
    assert len(read_rows(path)) == 2


def test_report_of_quick_results(tmp_path):
    _quick("tab9", tmp_path, only=["batch4", "batch16"])  # (chapter 5 runs all of tab9)
    readme = write_report(tmp_path / "results", "quick")
    text = readme.read_text()
    assert "batch16 better than batch4" in text and "inconclusive" in text
    assert (tmp_path / "results" / "summary.png").is_file()


def test_bad_names_are_errors(tmp_path, capsys):
    with pytest.raises(AtrousError, match="unknown experiment 'tab99'"):
        reproduce("tab99", budget="quick", results=tmp_path)
    with pytest.raises(AtrousError, match="no variant 'os3'"):
        _quick("tab1", tmp_path, only=["os3"])
    with pytest.raises(SystemExit) as exit:
        main(["reproduce", "tab5", "--budget", "quick", "--seeds", "0",
              "--results", str(tmp_path)])  # fmt: skip
    assert exit.value.code == 2 and "--seeds" in capsys.readouterr().err


# --- the committed results ----------------------------------------------------------------


def _committed() -> list[Path]:
    return sorted(RESULTS.glob("*.csv")) if RESULTS.is_dir() else []


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.name)
def test_committed_rows_are_whole_current_and_hash_their_config(path):
    """Binding on every change: no change may alter a committed row's hashes. Both are
    recomputed from the row's stored config, and every row must be current."""
    if path.name == "fig4.csv":
        return
    experiment = EXPERIMENTS[path.stem]
    rows = read_rows(path)
    assert rows, path
    for row in rows:
        config = from_dict(row["config"])
        assert row["config_hash"] == config_hash(config, row["replicas"]), row["variant"]
        assert row["train_hash"] == train_hash(config, row["replicas"]), row["variant"]
        assert row["commit"] and not row["commit"].endswith("-dirty"), row["variant"]
        assert row["weights_sha256"] or row["status"] != "ok"
    stale = sort_rows(experiment, rows).stale
    names = ", ".join(f"{r['variant']}/seed{r['seed']}" for r in stale)
    assert not stale, f"{path.name}: stale rows (their config is no longer the variant's): {names}"


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.name)
def test_reproduce_plans_no_run_for_a_committed_experiment(path):
    if path.name == "fig4.csv":
        return
    todo = runs_to_do(EXPERIMENTS[path.stem], path, None, "full")
    assert todo == [], [f"{v.name}/seed{s}" for v, s in todo]


def test_a_field_added_later_hashes_only_when_it_differs_from_its_default():
    @dataclasses.dataclass(frozen=True)
    class LaterEval(EvalConfig):
        sharpen: float = added(0.0)

    base = TrainConfig()
    later = dataclasses.replace(base, eval=LaterEval())
    assert "sharpen" in later.to_dict()["eval"]
    assert later.hashed_dict() == base.hashed_dict()
    assert "sharpen" not in later.hashed_dict()["eval"]
    assert config_hash(later, 1) == config_hash(base, 1)
    assert train_hash(later, 1) == train_hash(base, 1)
    changed = dataclasses.replace(base, eval=LaterEval(sharpen=0.5))
    assert changed.hashed_dict()["eval"]["sharpen"] == 0.5
    assert config_hash(changed, 1) != config_hash(base, 1)


def test_committed_readme_is_up_to_date():
    if not _committed():
        pytest.skip("no committed results yet")
    text, _ = render_readme(RESULTS)
    assert (RESULTS / "README.md").read_text() == text, (
        "results/README.md is out of date: run `python -m atrous report`"
    )
    scaled = RESULTS / "scaled"
    if any(scaled.glob("*.csv")):  # the scaled recipe's own report, once it has rows
        text, _ = render_readme(scaled, recipe="scaled")
        assert (scaled / "README.md").read_text() == text, (
            "results/scaled/README.md is out of date: run `python -m atrous report --recipe scaled`"
        )


def test_fig4_csv_is_the_reference(tmp_path):
    reproduce("fig4", results=tmp_path)
    with (tmp_path / "fig4.csv").open() as f:
        rows = list(csv.DictReader(f))
    from reference import valid_weight_histogram

    for row in rows[::37]:
        h = valid_weight_histogram(int(row["feature_size"]), 3, int(row["rate"]))
        assert float(row["valid_9"]) == pytest.approx(h.get(9, 0.0), abs=1e-6)
        assert float(row["valid_1"]) == pytest.approx(h.get(1, 0.0), abs=1e-6)
    assert len(rows) == 4 * 70  # the four feature sizes, rates 1 to 70
