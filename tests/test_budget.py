"""The designed runs against the design's CPU budget (atrous.experiments.budget): the hours
spent count each training once, every evaluation, the pilot and the backbones; no new run
once the budget is spent; the claims then short of their pairs are dropped, the others
judged as before; a resumed run's time includes what it had spent before it stopped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous.base.errors import AtrousError
from atrous.experiments import budget as budget_module
from atrous.experiments import designed_runs
from atrous.experiments.allocation import pretraining_hours
from atrous.experiments.budget import (
    as_run,
    check_budget,
    judged_claims,
    judged_rows,
    progress_section,
    spent,
)  # fmt: skip
from atrous.experiments.design_file import Design, current_hashes
from atrous.experiments.judge import DROPPED, UNTESTABLE
from atrous.experiments.paths import committed_results
from atrous.experiments.rows import append_row, read_rows
from atrous.experiments.runner import reproduce
from atrous.training import run_folder
from atrous.training.run_folder import RunLog, logged_seconds, write_metrics

COMMITTED = read_rows(committed_results() / "scaled" / "tab5.csv")
TAB5_CLAIMS = [
    {"claim": "tab5: mg124-rate24 no better than mg124 by more than 1 point(s)", "seeds": 5,
     "dropped": True, "untestable": True},
    {"claim": "tab5: mg124 better than mg111", "seeds": 5},
    {"claim": "tab5: mg124-pooling better than mg124", "seeds": 5},
]  # fmt: skip


def _design(hours: float, frozen: bool = True) -> Design:
    values = {"statistics": {"cpu_hours": hours}, "pilot": {"variant": "tab5/mg124-pooling"}}
    return Design(frozen, "scaled", "r", "d", {}, values, [dict(c) for c in TAB5_CLAIMS])


def _write(folder, seeds: dict[str, int], seconds: float = 360.0) -> None:
    """Committed tab5 rows (today's configs) of each variant's first seeds, timed anew."""
    for variant, n in seeds.items():
        for seed in range(n):
            row = next(r for r in COMMITTED if (r["variant"], r["seed"]) == (variant, seed))
            append_row(folder / "tab5.csv", {**row, "train_seconds": seconds,
                                             "eval_seconds": seconds / 10})  # fmt: skip


def test_spent_counts_each_training_once_every_evaluation_the_pilot_and_backbones(tmp_path):
    row = next(r for r in COMMITTED if r["variant"] == "mg124")
    for variant in ("mg124", "mg124-rate24"):  # two rows of one training
        append_row(tmp_path / "tab5.csv", {**row, "variant": variant, "train_seconds": 3600.0,
                                           "eval_seconds": 360.0})  # fmt: skip
    append_row(tmp_path / "pilot" / "tab5.csv", {**row, "seed": 100, "train_seconds": 1800.0,
                                                 "eval_seconds": 0.0})  # fmt: skip
    s = spent("scaled", tmp_path, _design(16))
    assert (s.runs, s.pilot) == pytest.approx((1.2, 0.5))
    assert s.pretraining == pytest.approx(pretraining_hours("scaled")) and s.pretraining > 0
    assert s.total == pytest.approx(1.7 + s.pretraining) and not s.exhausted
    assert spent("scaled", tmp_path, _design(1.7 + s.pretraining)).exhausted
    assert "of the design's 16 CPU hours spent (pre-training" in s.describe()


def test_once_spent_the_claims_short_of_their_pairs_are_dropped_the_rest_judged(tmp_path):
    _write(tmp_path, {"mg124": 5, "mg111": 5, "mg124-pooling": 3})
    plenty = _design(100)
    assert as_run(plenty, tmp_path) == plenty
    s, judged = judged_claims(tmp_path, "scaled", "tab5", "full", plenty)
    assert [c.verdict for c in judged][1] != DROPPED
    assert ("mg124-pooling", 4) in s.missing
    short = as_run(_design(0.5), tmp_path)
    assert [c.get("dropped") for c in short.claims] == [True, None, "budget"]
    assert as_run(_design(0.5, frozen=False), tmp_path).claims == _design(0.5).claims
    s, judged = judged_claims(tmp_path, "scaled", "tab5", "full", short)
    verdicts = {c.claim.describe(): c.verdict for c in judged}
    assert verdicts["mg124-rate24 no better than mg124 by more than 1 point(s)"] == UNTESTABLE
    assert verdicts["mg124-pooling better than mg124"] == DROPPED
    assert verdicts["mg124 better than mg111"] not in (DROPPED, UNTESTABLE)
    assert s.missing == [] and len(s.current) == 13  # the dropped claim's seeds are not planned
    assert judged_rows(tmp_path, "scaled", "tab5", "full", short).current == s.current


def test_no_new_designed_run_once_the_budget_is_spent(tmp_path, monkeypatch):
    now = current_hashes("scaled")
    text = (f'frozen = true\nrecipe = "scaled"\nrecipe_hash = "{now["recipe_hash"]}"\n'
            f'data_hash = "{now["data_hash"]}"\n[pretrained]\n'
            + "".join(f'{k} = "{v}"\n' for k, v in now["pretrained"].items())
            + '[statistics]\ncpu_hours = 0.1\n[pilot]\nvariant = "tab5/mg124-pooling"\n'
            'seeds = [100, 101]\n[[claims]]\nclaim = "tab5: mg124 better than mg111"\n'
            "seeds = 2\n")  # fmt: skip
    (tmp_path / "design.toml").write_text(text)
    for module in (designed_runs, budget_module):
        monkeypatch.setattr(module, "design_path", lambda recipe: tmp_path / "design.toml")
    with pytest.raises(AtrousError, match=r"the CPU budget of .*design.toml is spent: 0\.5"):
        check_budget("scaled", tmp_path)
    with pytest.raises(AtrousError, match="No new designed run starts"):
        reproduce("tab5", recipe="scaled", results=tmp_path, store=tmp_path / "store",
                  progress=False)  # fmt: skip
    assert not (tmp_path / "tab5.csv").exists() and not (tmp_path / "store").exists()
    section = "\n".join(progress_section({}, "full", "scaled", tmp_path))
    assert "It is spent: no new run starts, and claims short of their pairs are dropped" in section


@settings(max_examples=25, deadline=None)
@given(
    intervals=st.lists(st.floats(0.01, 100.0), min_size=1, max_size=12),
    log_every=st.integers(1, 7),
    batch=st.integers(1, 16),
)
def test_a_resumed_run_knows_the_seconds_its_log_records(
    intervals, log_every, batch, tmp_path_factory
):
    """RunLog's records, written and read back, give the seconds the iterations took."""
    now = [0.0]
    history: list[dict[str, float]] = []
    stop = len(intervals) * log_every
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_folder.time, "perf_counter", lambda: now[0])
        log = RunLog(history, log_every, batch)
        for done in range(1, stop + 1):  # the clock moves by an interval between records
            if done % log_every == 0:
                now[0] += intervals[done // log_every - 1]
            log.add(done, 1.0, 0.1, stop)
    assert len(history) == len(intervals)
    folder = tmp_path_factory.mktemp("run")
    write_metrics(folder / "metrics.jsonl", history)
    assert logged_seconds(folder, batch) == pytest.approx(sum(intervals))
    assert logged_seconds(tmp_path_factory.mktemp("empty"), batch) == 0.0


def test_a_report_after_the_budget_names_the_dropped_claims_and_draws_the_rest(
    tmp_path, monkeypatch
):
    """The whole report on rows of a spent budget: the table says dropped, the figures
    leave the dropped claim's interval out (no colour for it), nothing fails."""
    from atrous.experiments.report import write_report

    design = (committed_results() / "scaled" / "design.toml").read_text()
    assert "cpu_hours = 16 " in design
    (tmp_path / "design.toml").write_text(design.replace("cpu_hours = 16 ", "cpu_hours = 0.5 "))
    monkeypatch.setattr(budget_module, "design_path", lambda recipe: tmp_path / "design.toml")
    results = tmp_path / "results"
    _write(results, {"mg124": 6, "mg111": 5, "mg124-pooling": 3})
    readme = write_report(results, recipe="scaled", store=tmp_path / "store").read_text()
    row = next(line for line in readme.splitlines() if "mg124-pooling better than mg124:" in line)
    assert row.endswith(f"| **{DROPPED}** |")
    assert "It is spent: no new run starts" in readme
    assert (results / "summary.png").is_file() and (results / "tab5-classes.png").is_file()
    from atrous.experiments.chapter_tables import describe_results

    text = describe_results("tab11", results, recipe="scaled")  # no rows, its claims dropped
    assert "no full-budget runs planned" in text and "the design dropped its claims" in text
    claims = budget_module.experiments_of("scaled")["tab11"].claims
    assert text.count(f"-> {DROPPED}") == len(claims) == 2
    table = describe_results("tab5", results, recipe="scaled").split("\n\n")[1].splitlines()
    shown = [line.split()[0] for line in table[1:-1]]  # a variant with rows stays in the table
    assert shown == ["mg111", "mg124", "mg124-pooling"]
    variants = budget_module.experiments_of("scaled")["tab5"].variants
    unplanned = [v.name for v in variants if v.name not in shown]
    assert unplanned and table[-1] == (
        f"(not planned at the full budget by the design: {', '.join(unplanned)})")  # fmt: skip
    monkeypatch.setattr(budget_module, "design_path", lambda recipe: tmp_path / "none.toml")
    (tmp_path / "none.toml").write_text(design)  # the real budget: nothing dropped yet
    assert "`python -m atrous reproduce tab11 --recipe scaled` makes them" in describe_results(
        "tab11", results, recipe="scaled")  # fmt: skip
