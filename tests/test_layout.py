"""The package's layout (atrous/__init__.py): one sub-package a layer, imports running one way.

Every import of an atrous module anywhere in a module (at the top or inside a function) is an
edge; an edge must go to the module's own layer or one that :data:`ALLOWED` lists for it, and
the edges must form no circle. Modules stay under 300 lines and functions under 60.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "atrous"
LAYERS = ("base", "model", "data", "recipe", "training", "inference", "experiments", "tools")
#: Which layers each layer may import (its own is always allowed).
ALLOWED = {
    "base": set(),
    "model": {"base"},
    "data": {"base", "model"},
    "recipe": {"base", "model", "data"},
    "training": {"base", "model", "data", "recipe"},
    "inference": {"base", "model", "data", "recipe"},
    "experiments": {"base", "model", "data", "recipe", "training", "inference"},
    "tools": {"base", "model", "data", "recipe", "training", "inference", "experiments"},
}
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    """``atrous.model.aspp`` -> ``model``; top-level modules and :mod:`atrous.cli` are tools."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS[:-1] else "tools"


def imports(module: str) -> set[str]:
    """Every atrous module that ``module`` imports, anywhere in its code."""
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "atrous"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "atrous":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: imports(m) for m in MODULES}


def test_the_walk_sees_imports_inside_functions():
    assert "atrous.training.loop" in GRAPH["atrous.cli.train_eval"]  # imported in _train
    assert "atrous.model.aspp" in GRAPH["atrous.model.head"]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    own = layer(module)
    upward = sorted(m for m in GRAPH[module] if layer(m) not in ALLOWED[own] | {own})
    assert not upward, f"{module} ({own}) imports {upward}, which {own} may not"


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports in ``graph`` (as the list of its modules), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (circle := visit(nxt)):
                return circle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (circle := visit(node)):
            return circle
    return None


def test_no_import_circles():
    circle = find_circle(GRAPH)
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_the_circle_finder_finds_one():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_small(module):
    text = MODULES[module].read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{module} is over {MAX_MODULE_LINES} lines"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{module}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("package", [f"atrous.{name}" for name in LAYERS[:-1]] + ["atrous.cli"])
def test_every_sub_package_says_what_it_may_import(package):
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text())) or ""
    assert "May import" in doc, f"{package}'s docstring"


def test_import_atrous_is_light_and_its_names_load_lazily():
    code = (
        "import sys, atrous; light = 'torch' not in sys.modules; "
        "from atrous import DeepLabV3, AtrousError, DeepLabV3Config, get_preset, from_torchvision; "
        "print(light, DeepLabV3.__module__, sorted(atrous.__all__) == atrous.__all__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "atrous.model.deeplabv3", "True"]


def test_the_layout_page_lists_every_module_of_every_layer():
    """docs/src/layout.md names each layer's modules; they must be the ones that exist."""
    import re

    page = (ROOT / "docs" / "src" / "layout.md").read_text()
    for layer in LAYERS[:-1]:
        row = re.search(rf"^\| `atrous/{layer}` \| (.*?) \|", page, re.M)
        assert row, f"docs/src/layout.md has no row for atrous/{layer}"
        listed = set(re.findall(r"`(\w+)`", row[1]))
        actual = {m.rsplit(".", 1)[1] for m in MODULES if m.startswith(f"atrous.{layer}.")}
        assert listed == actual, f"atrous/{layer}: page {sorted(listed)}, code {sorted(actual)}"
