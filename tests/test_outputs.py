"""Output paths are checked before any work: nothing a user has is ever written over."""

from __future__ import annotations

import pytest

from atrous.base.errors import AtrousError, AtrousFileExistsError
from atrous.base.outputs import check_output_dir, check_output_file, plan_outputs


def test_a_file_where_a_folder_is_needed(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(AtrousError, match="--out .*f' is a file, not a folder"):
        check_output_dir(tmp_path / "f", "--out")
    with pytest.raises(AtrousError, match="lies under .*f', which is a file"):
        check_output_dir(tmp_path / "f" / "sub", "--out")
    with pytest.raises(AtrousError, match="lies under"):
        check_output_file(tmp_path / "f" / "x.json", "--out")
    with pytest.raises(AtrousError, match="is a folder"):
        check_output_file(tmp_path, "--out")
    assert check_output_dir(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"


def test_existing_outputs_need_overwrite(tmp_path):
    (tmp_path / "x.png").write_text("old")
    with pytest.raises(AtrousFileExistsError, match="--overwrite"):
        check_output_file(tmp_path / "x.png", "--out", overwrite=False)
    assert check_output_file(tmp_path / "x.png", "--out", overwrite=True)


def test_never_an_input_and_never_two_inputs_on_one_output(tmp_path):
    a, b = tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.png"
    with pytest.raises(AtrousError, match="would replace the input"):
        plan_outputs([b], [[tmp_path / "b" / "x.png"]], "--out", overwrite=True)
    with pytest.raises(AtrousError, match=r"x\.jpg' and .*x\.png' would both write"):
        plan_outputs([a, b], [[tmp_path / "o" / "x.png"], [tmp_path / "o" / "x.png"]], "--out",
                     overwrite=True)  # fmt: skip
