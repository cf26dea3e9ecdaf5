"""The results files and the commands around them never lose a row and never pass in silence
(atrous.experiments.rows, runner, report; atrous.base.locks): rows cut short or edited by hand
are skipped and reported by file and line, an append ends a cut line first, each budget has
its own folder, a report never counts fewer runs than the one it replaces, and two commands
never write one file or train one network at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous.base.errors import AtrousError
from atrous.base.locks import claimed, held_or_refuse, held_or_wait, lock_path, shared_or_refuse
from atrous.cli import main
from atrous.experiments.paths import RESULTS
from atrous.experiments.report import finished_runs, write_report
from atrous.experiments.rows import (
    COLUMNS,
    COLUMNS_V2,
    COLUMNS_V3,
    append_row,
    check_rows,
    read_rows,
)
from atrous.experiments.runner import reproduce, trained_record

ROWS = read_rows(RESULTS / "tab1.csv")[:3]  # committed rows: templates, no training needed


def written(tmp_path: Path, rows=ROWS) -> Path:
    path = tmp_path / "tab1.csv"
    for row in rows:
        append_row(path, row)
    return path


def test_a_row_cut_short_is_skipped_and_the_next_append_starts_a_new_line(tmp_path, capsys):
    path = written(tmp_path, ROWS[:2])
    whole = path.read_bytes()
    cut = whole[: len(whole) - 40]  # the last row loses its end and its newline
    path.write_bytes(cut)
    rows, problems = check_rows(path)
    assert [r["seed"] for r in rows] == [ROWS[0]["seed"]]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:3: skipped, ")
    third = whole.index(b"\n", whole.index(b"\n") + 1) + 1  # where the second row starts
    path.write_bytes(whole[: third + 100])  # cut before its last columns
    assert check_rows(path)[1] == [f"{path}:3: skipped, cut short or with extra fields"]
    path.write_bytes(cut)
    append_row(path, ROWS[2])
    assert path.read_bytes().startswith(cut + b"\n")  # never rewritten, only appended to
    rows, problems = check_rows(path)
    assert [r["variant"] for r in rows] == [ROWS[0]["variant"], ROWS[2]["variant"]]
    assert len(problems) == 1 and problems[0].startswith(f"{path}:3: ")
    assert len(read_rows(path)) == 2 and f"{path}:3: skipped" in capsys.readouterr().err


def test_rows_edited_by_hand_are_reported_by_line(tmp_path):
    path = written(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    miou = f"{ROWS[1]['miou']}"
    assert miou in lines[2]
    lines[2] = lines[2].replace(f",{miou},", ",99.0,", 1)  # an mIOU typed over
    lines[3] = lines[3].replace('""iterations"": 500', '""iterations"": 501')  # hash kept
    path.write_text("".join(lines))
    rows, problems = check_rows(path)
    assert [r["variant"] for r in rows] == [ROWS[0]["variant"]]
    assert problems[0].startswith(f"{path}:3: skipped, its miou 99.0 is not the mean")
    assert problems[1] == (f"{path}:4: skipped, its config does not match its config_hash "
                           "(edited by hand?)")  # fmt: skip


def test_an_empty_file_has_no_rows_and_a_foreign_one_is_named(tmp_path):
    (tmp_path / "tab1.csv").write_text("")
    assert check_rows(tmp_path / "tab1.csv") == ([], [])
    (tmp_path / "tab5.csv").write_text("a,b\n1,2\n")
    with pytest.raises(AtrousError, match="tab5.csv: not a results file of this version"):
        check_rows(tmp_path / "tab5.csv")


@settings(max_examples=40, deadline=None)
@given(tail=st.binary(max_size=300))
def test_any_bytes_after_the_rows_never_break_the_reader(tail):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = written(Path(tmp), ROWS[:1])
        with path.open("ab") as f:
            f.write(tail)
        rows, problems = check_rows(path)
        assert [r["seed"] for r in rows][:1] == [ROWS[0]["seed"]]
        assert all(p.startswith(f"{path}:") for p in problems)
        append_row(path, ROWS[1])
        assert check_rows(path)[0][-1]["variant"] == ROWS[1]["variant"]


def test_each_budget_reports_into_its_own_folder(tmp_path, monkeypatch):
    committed = (RESULTS / "README.md").read_text()
    monkeypatch.chdir(tmp_path)
    path = write_report(budget="quick")
    expected = tmp_path / "runs" / "reproduce-quick" / "small" / "README.md"
    assert path.resolve() == expected.resolve()
    assert "at the quick budget" in path.read_text()
    assert (RESULTS / "README.md").read_text() == committed
    assert not (tmp_path / "results").exists()


def test_a_report_never_counts_fewer_runs_without_overwrite(tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    before = (results / "README.md").read_text()
    lines = (results / "tab1.csv").read_text().splitlines(keepends=True)
    (results / "tab1.csv").write_text("".join(lines[:-2]))  # two rows fewer
    with pytest.raises(SystemExit) as exit:
        main(["report", "--results", str(results)])
    assert exit.value.code == 2 and "tab1 (18 -> 16)" in capsys.readouterr().err
    assert (results / "README.md").read_text() == before
    assert main(["report", "--results", str(results), "--overwrite"]) == 0
    assert finished_runs((results / "README.md").read_text())["tab1"] == 16


def test_a_second_command_on_a_locked_file_refuses_and_a_shared_training_waits(tmp_path):
    path = tmp_path / "tab1.csv"
    with held_or_refuse(path, "reproduce tab1"):
        with pytest.raises(AtrousError, match="reproduce tab1 is already running"):
            with held_or_refuse(path, "reproduce tab1"):
                pass
    with held_or_refuse(path, "reproduce tab1"):  # released when the block ended
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from atrous.base.locks import held_or_wait\n"
         f"with held_or_wait({str(tmp_path / 'net')!r}, 'x'):\n"
         "    print('held', flush=True); time.sleep(1.5)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    tic = time.perf_counter()
    with held_or_wait(tmp_path / "net", "training the network net"):
        waited = time.perf_counter() - tic
    holder.wait()
    assert waited > 0.5 and lock_path(tmp_path / "net").name == ".net.lock"


def test_sharing_holders_coexist_a_lone_one_excludes_them_and_a_claim_is_skipped(tmp_path):
    path = tmp_path / "tab1.csv"
    with shared_or_refuse(path, "reproduce tab1"), shared_or_refuse(path, "reproduce tab1"):
        with pytest.raises(AtrousError, match="reproduce tab1 is already running"):
            with held_or_refuse(path, "reproduce tab1"):
                pass
    with held_or_refuse(path, "reproduce tab1"):
        with pytest.raises(AtrousError, match="writes it alone .* run both with --share"):
            with shared_or_refuse(path, "reproduce tab1"):
                pass
    with claimed(tmp_path / "piece") as first, claimed(tmp_path / "piece") as second:
        assert first and not second
    with claimed(tmp_path / "piece") as again:  # released with its block
        assert again


def test_a_sharing_reproduce_skips_the_run_another_process_holds(tmp_path):
    """The claim of a run is ``.runs/NAME.VARIANT.seedN`` beside the CSV; held elsewhere,
    that run is left to its holder and the next one taken."""
    with claimed(tmp_path / ".runs" / "tab1.os8.seed0") as mine:
        assert mine
        rows = reproduce("tab1", budget="quick", only=["os8", "os16"], results=tmp_path,
                         store=tmp_path / "store", progress=False, share=True)  # fmt: skip
    assert [(r["variant"], r["seed"]) for r in rows] == [("os16", 0)]
    rows = reproduce("tab1", budget="quick", only=["os8", "os16"], results=tmp_path,
                     store=tmp_path / "store", progress=False, share=True)  # fmt: skip
    assert [(r["variant"], r["seed"]) for r in rows] == [("os8", 0)]  # the rest, once


def test_two_sharing_processes_run_each_run_of_an_experiment_once(tmp_path):
    command = [sys.executable, "-m", "atrous", "reproduce", "tab1", "--budget", "quick",
               "--share", "--quiet", "--results", str(tmp_path), "--store",
               str(tmp_path / "store")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]  # fmt: skip
    said = [process.communicate()[0] for process in both]
    assert [process.returncode for process in both] == [0, 0], said
    runs = [(r["variant"], r["seed"]) for r in read_rows(tmp_path / "tab1.csv")]
    assert sorted(runs) == sorted({(v, 0) for v in ("os8", "os16", "os32", "os64", "os128",
                                                    "os256")})  # fmt: skip
    new = sum(int(text.split("tab1: ")[1].split()[0]) for text in said)
    assert new == len(runs) == 6


def test_reproduce_refuses_while_another_process_writes_its_file(tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; from atrous.base.locks import held_or_refuse\n"
         f"with held_or_refuse({str(tmp_path / 'tab1.csv')!r}, 'x'):\n"
         "    print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SystemExit) as exit:
            main(["reproduce", "tab1", "--budget", "quick", "--only", "os8", "--quiet",
                  "--results", str(tmp_path), "--store", str(tmp_path / "store")])  # fmt: skip
        assert exit.value.code == 2 and "already running" in capsys.readouterr().err
    finally:
        holder.kill()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--only", "bogus"], "no variant 'bogus'"),
        (["--recheck", "bogus:0"], "no variant 'bogus'"),
        (["--recheck", "os8:²"], "--recheck must be VARIANT:SEED"),
        (["--seeds", "1000000000"], "--seeds must be from 1 to 100"),
        (["--recheck", "os8:0"], "no current row of os8 seed 0 at the quick budget"),
    ],
)
def test_reproduce_arguments_end_in_one_line(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["reproduce", "tab1", "--budget", "quick", "--results", str(tmp_path), *args])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_results_that_is_a_file_is_named(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for command in (["reproduce", "tab1", "--budget", "quick"], ["report"]):
        with pytest.raises(SystemExit) as exit:
            main([*command, "--results", str(tmp_path / "file")])
        assert exit.value.code == 2 and "is a file" in capsys.readouterr().err


def test_a_damaged_training_record_is_named(tmp_path):
    (tmp_path / "trained.json").write_text('{"status": "ok", "weights')
    with pytest.raises(AtrousError, match="trained.json is damaged"):
        trained_record(tmp_path)
    assert trained_record(tmp_path / "none") is None
    (tmp_path / "trained.json").write_text(json.dumps({"status": "ok", "weights_sha256": "a"}))
    assert trained_record(tmp_path)["status"] == "ok"


def test_columns_are_the_schema():
    assert set(ROWS[0]) == set(COLUMNS_V3)  # read from a first-schema file: the hashes empty


def test_new_files_record_the_pretrained_backbone_and_old_ones_keep_their_header(tmp_path):
    row = {**ROWS[0], "pretrained_sha256": "ab" * 32}
    new = tmp_path / "new.csv"
    append_row(new, row)
    assert new.read_text().splitlines()[0].endswith(",pretrained_sha256,recipe_hash,data_hash")
    assert check_rows(new)[0][0]["pretrained_sha256"] == "ab" * 32
    for schema in (COLUMNS, COLUMNS_V2):  # files begun with an older schema, as results/ are
        old = tmp_path / f"old{len(schema)}.csv"
        append_row(old, ROWS[0])
        lines = old.read_text().splitlines()
        cut = len(COLUMNS_V3) - len(schema)
        old.write_text("\n".join(",".join(lines[0].split(",")[: len(schema)]) if i == 0
                                 else line[: len(line) - cut]
                                 for i, line in enumerate(lines)) + "\n")  # fmt: skip
        header = old.read_text().splitlines()[0]
        assert header == ",".join(schema)
        append_row(old, ROWS[1])  # a row from random weights: the old header still fits
        assert [r["pretrained_sha256"] for r in check_rows(old)[0]] == ["", ""]
        assert [r["data_hash"] for r in check_rows(old)[0]] == ["", ""]
        assert old.read_text().splitlines()[0] == header
        match = "pretrained_sha256" if schema == COLUMNS else "recipe_hash, data_hash"
        with pytest.raises(AtrousError, match=f"begun before rows recorded {match}"):
            append_row(old, {**row, "recipe_hash": "r", "data_hash": "d"})


@pytest.mark.parametrize("recipe", ["small", "scaled"])
def test_every_committed_note_names_a_claim_that_does_not_agree(recipe):
    """A note whose key names no claim (a typo) would never be printed: every key of a
    recipe's ``notes.toml`` is "NAME: claim" of one of its claims, and the report prints
    notes only where the claim does not agree, so a note beside an agreement is dead text."""
    from atrous.base.tables import read_toml
    from atrous.experiments.budget import judged_claims
    from atrous.experiments.recipes import experiments_of

    folder = RESULTS if recipe == "small" else RESULTS / "scaled"
    path = folder / "notes.toml"
    if not path.is_file():
        pytest.skip(f"{path} is not written yet")
    verdicts = {}
    for name in experiments_of(recipe):
        if name != "fig4":
            for c in judged_claims(folder, recipe, name, "full")[1]:
                verdicts[f"{name}: {c.claim.describe()}"] = c.verdict
    notes = read_toml(path)
    assert set(notes) <= set(verdicts), set(notes) - set(verdicts)
    assert all(isinstance(text, str) and len(text) > 40 for text in notes.values())
    if recipe == "scaled":  # written once a claim's pairs are in; the small rows are old
        assert not [k for k in notes if verdicts[k] == "agrees"]
