"""Faults of the folder dataset (atrous.data.folder) from a bug report: every bad class file,
image folder, split file and example-folder argument is an AtrousError naming the file or the
parameter, before any work; and a fuzz test of classes.toml and classes.txt."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image

from atrous.base.errors import AtrousError
from atrous.cli import main
from atrous.data.files import check_class_count
from atrous.data.folder import FolderDataset, read_classes, write_example_folder
from atrous.data.palette import IGNORE_COLOUR, voc_palette
from atrous.recipe.config import load_config
from atrous.training.loop import train
from tests.test_data_folder import _folder

CONFIGS = Path(__file__).resolve().parent.parent / "atrous" / "configs"
torch.set_num_threads(1)


def _classes(*tables: str) -> str:
    return "".join(f"[[class]]\n{t}\n" for t in tables)


# --- classes.toml ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        _classes('name = "sky"\ncolor = [0, 0, 255]', 'name = "tree"\ncolor = [0, 0, 255]'),
        # the first class's colour is VOC's black by default
        _classes('name = "sky"', 'name = "tree"\ncolor = [0, 0, 0]'),
    ],
)
def test_two_classes_of_one_colour_are_refused(tmp_path, text):
    root = _folder(tmp_path / "d", classes=text)
    with pytest.raises(AtrousError, match=r"classes.toml.*'sky'.*'tree'") as info:
        read_classes(root)
    assert str(root / "classes.toml") in str(info.value)


def test_an_unknown_key_in_classes_toml_is_refused(tmp_path):
    root = _folder(tmp_path / "d", classes=_classes('name = "sky"\ncolour = [0, 0, 255]'))
    with pytest.raises(AtrousError, match=r"classes.toml.*'colour'.*'color'.*'name'"):
        read_classes(root)
    (root / "classes.toml").write_text("version = 1\n" + _classes('name = "sky"'))
    with pytest.raises(AtrousError, match=r"classes.toml.*'version'.*\[\[class\]\]"):
        read_classes(root)


def test_colours_must_be_three_integers_not_booleans(tmp_path):
    root = _folder(tmp_path / "d", classes=_classes('name = "sky"\ncolor = [true, false, true]'))
    with pytest.raises(AtrousError, match=r"classes.toml: class 'sky' color must be \[R, G, B\]"):
        read_classes(root)


def test_the_ignore_colour_is_255_in_rgb_masks_and_no_class_may_take_it(tmp_path):
    root = _folder(tmp_path / "d", n=2, rgb_masks=True)
    mask = np.array(Image.open(root / "labels" / "p0.png"))
    mask[0] = IGNORE_COLOUR
    Image.fromarray(mask).save(root / "labels" / "p0.png")
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("p0\n")
    _, label = FolderDataset(root, "train")[0]
    assert (label[0] == 255).all() and set(np.unique(label[1:])) <= {0, 1}
    (root / "classes.toml").write_text(_classes('name = "sky"\ncolor = [224, 224, 192]'))
    with pytest.raises(AtrousError, match=r"classes.toml: class 'sky'.*\(224, 224, 192\).*255"):
        read_classes(root)


# --- classes.txt -------------------------------------------------------------------------------


def test_classes_txt_names_are_one_word_with_an_optional_colour(tmp_path):
    root = _folder(tmp_path / "d")
    (root / "classes.toml").unlink()
    (root / "classes.txt").write_text("\ufeffsky 0 0 255\n\ntree\n", encoding="utf-8")
    names, colours = read_classes(root)
    assert names == ("sky", "tree") and colours.tolist() == [[0, 0, 255], [128, 0, 0]]
    for line, what in [("traffic light", "one word"), ("traffic light 1 2 3", "one word"),
                       ("car 1 2 x", "R G B"), ("car 1 2 300", "R G B"),
                       ("car 255 0", "one word")]:  # fmt: skip
        (root / "classes.txt").write_text(f"sky\n{line}\n")
        with pytest.raises(AtrousError, match=rf"classes.txt line 2: {line!r}.*{what}"):
            read_classes(root)


# --- images/, labels/ and splits/ --------------------------------------------------------------


def test_two_images_of_one_stem_are_refused_naming_both(tmp_path):
    root = _folder(tmp_path / "d")
    Image.open(root / "images" / "p1.jpg").save(root / "images" / "p1.png")
    with pytest.raises(AtrousError, match=r"p1.jpg and .*p1.png"):
        FolderDataset(root, "train", 0.25)


def test_hidden_files_are_skipped_and_png_may_be_upper_case(tmp_path):
    root = _folder(tmp_path / "d", n=4)
    for folder in ("images", "labels"):
        (root / folder / "._p0.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
        (root / folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "labels" / "p2.png").rename(root / "labels" / "p2.PNG")
    train, val = FolderDataset(root, "train", 0.25), FolderDataset(root, "val", 0.25)
    assert sorted(p.name for p in train.images + val.images) == [f"p{i}.jpg" for i in range(4)]
    for ds in (train, val):
        for i in range(len(ds)):
            assert ds[i][1].shape == (12, 10)
    Image.open(root / "labels" / "p2.PNG").save(root / "labels" / "p2.png")
    with pytest.raises(AtrousError, match=r"p2.PNG and .*p2.png|p2.png and .*p2.PNG"):
        FolderDataset(root, "train", 0.25)


def test_a_split_file_may_start_with_a_utf8_bom(tmp_path):
    root = _folder(tmp_path / "d")
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("\ufeffp0\r\np1\r\n", encoding="utf-8")
    assert [p.stem for p in FolderDataset(root, "train").images] == ["p0", "p1"]


# --- the example folder ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--train", "0"], "--train"),
        (["--val", "-1"], "--val"),
        (["--size", "16"], "--size"),
        (["--size", "100000"], "--size"),
    ],  # fmt: skip
)
def test_example_folder_checks_its_arguments_before_writing(tmp_path, capsys, args, flag):
    folder = tmp_path / "example"
    with pytest.raises(SystemExit) as info:
        main(["example-folder", str(folder), *args])
    assert info.value.code == 2 and flag in capsys.readouterr().err
    assert not folder.exists()
    with pytest.raises(AtrousError, match=flag.lstrip("-")):
        write_example_folder(folder, **{flag.lstrip("-"): int(args[1])})
    assert not folder.exists()
    assert main(["example-folder", str(folder), "--train", "1", "--val", "1", "--size", "32"]) == 0


# --- model.num_classes against the class file ---------------------------------------------------


def test_a_model_with_more_classes_than_the_class_file_is_refused_before_training(tmp_path):
    """Was: training ran, then eval crashed at its end ('zip() argument 2 is longer')."""
    root = _folder(tmp_path / "d", n=4)
    overrides = [f"data.root={root}", "model.num_classes=5", 'train.init=""', "data.cache=false",
                 "data.crop_size=33", "train.batch_size=2", "train.iterations=1"]  # fmt: skip
    config = load_config(CONFIGS / "own_data.toml", overrides)
    with pytest.raises(AtrousError, match=r"model.num_classes is 5 .*classes.toml.* 2 classes"):
        train(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    check_class_count(FolderDataset(root, "val", 0.25), 2, "folder")  # equal: fine
    with pytest.raises(AtrousError, match=r"model.num_classes is 3 .*classes.toml"):
        check_class_count(FolderDataset(root, "val", 0.25), 3, "folder")  # as eval checks


# --- the fuzz test of the class files ---------------------------------------------------------

#: Text that TOML's basic strings hold without escapes (no control characters, no surrogates).
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=6)
NAMES = st.sampled_from(["sky", "tree", "a"]) | TEXT.filter(bool) | TEXT.filter(bool)
COLOURS = st.sampled_from([[0, 0, 0], [128, 0, 0], [0, 0, 255], IGNORE_COLOUR.tolist()]) | st.lists(
    st.integers(0, 255), min_size=3, max_size=3
)
BAD_COLOURS = st.lists(st.integers(-2, 258), max_size=4)
SCALARS = st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.floats() | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
KEYS = st.sampled_from(["name", "color", "colour", "Name", "colors"]) | st.from_regex(
    r"\A[A-Za-z_][A-Za-z0-9_-]{0,5}\Z"
)


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # inf, -inf, 1e+100: TOML too
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


@st.composite
def class_tables(draw):
    """(top-level dict, its TOML text): [[class]] tables of random keys and values, often
    the real ones, with repeated names and colours, empty tables and a stray top-level key."""
    tables = []
    for _ in range(draw(st.integers(1, 3)) if draw(st.integers(0, 9)) else 0):
        table = {}
        if draw(st.integers(0, 9)):  # 1 in 10: wrong types
            table["name"] = draw(NAMES if draw(st.integers(0, 9)) else VALUES)
        if draw(st.booleans()):
            table["color"] = draw(COLOURS if draw(st.integers(0, 4)) else BAD_COLOURS | VALUES)
        if not draw(st.integers(0, 4)):  # 1 in 5: another key
            table.setdefault(draw(KEYS), draw(VALUES))
        tables.append(table)
    top = {"class": tables} if draw(st.integers(0, 9)) else {"class": draw(VALUES)}
    if not draw(st.integers(0, 9)):
        top[draw(KEYS)] = draw(VALUES)
    lines = [f"{json.dumps(k)} = {_toml(v)}" for k, v in top.items() if k != "class"]
    if isinstance(top.get("class"), list) and all(isinstance(t, dict) for t in top["class"]):
        for table in top["class"]:
            lines += ["[[class]]", *(f"{json.dumps(k)} = {_toml(v)}" for k, v in table.items())]
    elif "class" in top:
        lines.insert(0, f"class = {_toml(top['class'])}")
    return top, "\n".join(lines) + "\n"


def _expected(top: dict) -> tuple[tuple[str, ...], list[list[int]]] | None:
    """What a valid class file gives: (names, colours); None if it must be refused."""
    tables = top.get("class")
    if set(top) != {"class"} or not isinstance(tables, list) or not 1 <= len(tables) <= 255:
        return None
    names, colours = [], voc_palette(len(tables)).tolist()
    for k, table in enumerate(tables):
        if not isinstance(table, dict):  # class = [0]
            return None
        name, colour = table.get("name"), table.get("color")
        if set(table) - {"name", "color"} or not isinstance(name, str) or not name:
            return None
        if colour is not None:
            if not (isinstance(colour, list) and len(colour) == 3 and all(
                    type(v) is int and 0 <= v <= 255 for v in colour)):  # fmt: skip
                return None
            colours[k] = colour
        names.append(name)
    unique = {tuple(c) for c in colours}
    if len(set(names)) < len(names) or len(unique) < len(colours):
        return None
    return None if tuple(IGNORE_COLOUR.tolist()) in unique else (tuple(names), colours)


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("classes")


@given(case=class_tables())
def test_fuzz_classes_toml_loads_exactly_the_valid_files_or_names_the_file(class_folder, case):
    top, text = case
    path = class_folder / "classes.toml"
    path.write_text(text, encoding="utf-8")
    expected = _expected(top)
    try:
        names, colours = read_classes(class_folder)
    except AtrousError as error:
        assert str(path) in str(error)
        assert expected is None, f"valid file refused: {error}"
        event("refused")
        return
    assert expected is not None, f"invalid file accepted: {text!r}"
    assert (names, colours.tolist()) == expected and colours.dtype == np.uint8
    event("loaded")


FILE_BYTES = st.binary(max_size=80) | st.text(max_size=80).map(
    lambda t: t.encode("utf-8", "replace")
)


@given(data=FILE_BYTES, name=st.sampled_from(["classes.toml", "classes.txt"]))
def test_fuzz_any_class_file_loads_or_names_the_file(class_folder, data, name):
    for old in ("classes.toml", "classes.txt"):
        (class_folder / old).unlink(missing_ok=True)
    path = class_folder / name
    path.write_bytes(data)
    try:
        names, colours = read_classes(class_folder)
    except AtrousError as error:
        assert str(path) in str(error)
        return
    assert 1 <= len(names) == len(set(names)) == len(colours) <= 255
    assert len({tuple(c) for c in colours.tolist()}) == len(names)


@given(lines=st.lists(st.lists(NAMES | st.integers(-1, 256).map(str), max_size=5), max_size=5))
def test_fuzz_classes_txt_loads_or_names_the_file(class_folder, lines):
    for old in ("classes.toml", "classes.txt"):
        (class_folder / old).unlink(missing_ok=True)
    path = class_folder / "classes.txt"
    path.write_text("\n".join(" ".join(words) for words in lines), encoding="utf-8")
    try:
        names, colours = read_classes(class_folder)
    except AtrousError as error:
        assert str(path) in str(error)
        return
    assert all(name and len(name.split()) == 1 for name in names)
    assert len(names) == len(set(names)) == len({tuple(c) for c in colours.tolist()})
