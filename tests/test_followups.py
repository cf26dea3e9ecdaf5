"""Exploratory follow-ups (atrous.experiments.followups): each changes the designed variants
by exactly what it says, runs into exploratory/ with its own seeds, records the frozen
design's hashes, stays out of the designed CSVs and the budget, and has its own section in
the scaled report."""

from __future__ import annotations

import pytest

from atrous.base.errors import AtrousError
from atrous.experiments.followups import FOLLOWUPS, LONG, followup_runs
from atrous.experiments.plan import variant_config
from atrous.experiments.recipes import claim_named, experiments_of
from atrous.experiments.report import render_readme, write_report
from atrous.experiments.rows import read_rows
from atrous.experiments.runner import reproduce

SCALED = experiments_of("scaled")


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("name", sorted(FOLLOWUPS["scaled"]))
def test_a_follow_up_names_a_designed_claim_and_changes_only_what_it_says(name):
    followup = FOLLOWUPS["scaled"][name]
    experiment, claim_text = followup.follows.split(": ", 1)
    designed = SCALED[experiment]
    assert claim_text in [c.describe() for c in designed.claims]
    assert claim_named("scaled", followup.follows)[2].describe() == claim_text
    with pytest.raises(AtrousError, match="no claim of the scaled recipe is 'tab2-3: nope'"):
        claim_named("scaled", "tab2-3: nope")
    assert name not in SCALED and followup.seeds >= 3 and followup.reason and followup.predicts
    for variant in followup.experiment.variants:
        original = designed.variant(variant.name.removesuffix("-long"))
        assert variant.train == (*original.train, *followup.full_only)
        long, short = (_flat(variant_config(v, 1, "full").to_dict()) for v in (variant, original))
        changed = {key for key in long if long[key] != short.get(key)}
        assert changed == {"train.iterations", "model.overrides.bn_momentum"}
        assert long["train.iterations"] == 3 * short["train.iterations"]
        # BN's time constant stays the same fraction of the schedule
        assert long["model.overrides.bn_momentum"] * long["train.iterations"] == pytest.approx(
            short["model.overrides.bn_momentum"] * short["train.iterations"])  # fmt: skip
    assert set(LONG) == set(followup.full_only)


def test_a_follow_up_runs_its_own_seeds_into_exploratory_outside_the_design(tmp_path):
    followup = FOLLOWUPS["scaled"]["tab2-3-long"]
    chosen, columns = followup_runs(followup, "scaled", "full", None, False)
    assert chosen == {"deep-block4-long": [0, 1, 2], "deep-block7-long": [0, 1, 2]}
    assert set(columns) == {"recipe_hash", "data_hash"} and all(columns.values())
    with pytest.raises(AtrousError, match="--seeds: the seeds of tab2-3-long are its own"):
        followup_runs(followup, "scaled", "full", 5, False)
    with pytest.raises(AtrousError, match="--pilot: tab2-3-long is an exploratory follow-up"):
        reproduce("tab2-3-long", recipe="scaled", pilot=True, results=tmp_path)
    with pytest.raises(AtrousError, match="unknown experiment 'tab2-3-long'"):
        reproduce("tab2-3-long", recipe="small", results=tmp_path)
    rows = reproduce("tab2-3-long", recipe="scaled", budget="quick", results=tmp_path,
                     store=tmp_path / "store", progress=False)  # fmt: skip
    assert [(r["variant"], r["seed"]) for r in rows] == [("deep-block4-long", 0),
                                                        ("deep-block7-long", 0)]  # fmt: skip
    assert {r["iterations"] for r in rows} == {2}  # a smoke run keeps quick's schedule
    written = read_rows(tmp_path / "exploratory" / "tab2-3-long.csv")
    key = ("variant", "seed", "weights_sha256", "recipe_hash")
    assert [[r[k] for k in key] for r in written] == [[r[k] for k in key] for r in rows]
    assert not (tmp_path / "tab2-3.csv").exists()
    short = reproduce("tab2-3", recipe="scaled", budget="quick", results=tmp_path,
                      store=tmp_path / "store", only=["deep-block4", "deep-block7"],
                      progress=False)  # fmt: skip
    miou = {r["variant"]: r["miou"] for r in [*rows, *short]}  # the names differ
    moved = (miou["deep-block7-long"] - miou["deep-block4-long"]) - (
        miou["deep-block7"] - miou["deep-block4"])  # fmt: skip
    text, _ = render_readme(tmp_path, "quick", "scaled")
    section = text[text.index("## tab2-3-long") : text.index("## Progress")]
    assert "(exploratory, outside the family)" in section
    assert "Follows *tab2-3: deep-block7 better than deep-block4*" in section
    assert "Runs: 2 of 2 planned done." in section
    assert "Figures: `exploratory/tab2-3-long.png`" in section
    assert f"((A - B) here minus (A - B) there): {moved:+.2f} (1 pair, no interval)." in section
    write_report(tmp_path, "quick", tmp_path / "store", recipe="scaled")  # and its curves
    assert (tmp_path / "exploratory" / "tab2-3-long-curves.png").is_file()
    assert "`exploratory/tab2-3-long-curves.png`" in (tmp_path / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(FOLLOWUPS["scaled"]))
def test_a_follow_up_was_committed_before_its_runs(name):
    """Every committed row of a follow-up ran at a commit that descends from the one that
    added the follow-up (``designed_at``), so its design came before any of its outcomes."""
    import shutil
    import subprocess

    from atrous.experiments.paths import committed_results

    followup = FOLLOWUPS["scaled"][name]
    root = committed_results().parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("needs the git history")
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=root,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    if shallow != "false":
        pytest.skip("needs the whole git history, not a shallow clone")
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%h", "--",
                            "atrous/experiments/followups.py"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.split()  # fmt: skip
    assert added and added[-1].startswith(followup.designed_at[:7])  # the commit that added it
    for row in read_rows(committed_results() / "scaled" / "exploratory" / f"{name}.csv"):
        commit = row["commit"].removesuffix("-dirty")
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", followup.designed_at,
                                   commit], cwd=root)  # fmt: skip
        assert ancestor.returncode == 0, f"{row['variant']} seed {row['seed']} ran at {commit}"
