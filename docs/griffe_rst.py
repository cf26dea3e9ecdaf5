"""A griffe extension: the few reStructuredText constructs of our docstrings, as Markdown.

The docstrings are Google style with some reST in them, which mkdocstrings would show
verbatim. Before they are parsed, this rewrites:

- roles ``:func:`name```, ``:class:`~pkg.Name``` (and mod, meth, attr, data, exc, obj) to
  code spans (``~`` keeps the last component, as in Sphinx);
- ``:math:`x``` to ``$x$`` and a ``.. math::`` directive with its indented body to a
  ``$$ ... $$`` block, which ``pymdownx.arithmatex`` picks up (docs/hooks.py renders it);
- a paragraph ending in ``::`` (a literal block follows) to one ending in ``:``.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, GriffeLoader, Module, Object

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj):`(~?)([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_LITERAL = re.compile(r"(?m)(\S)::$")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _math_blocks(text: str) -> str:
    """Each ``.. math::`` directive and its indented body as a ``$$`` block."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.strip() != ".. math::":
            out.append(line)
            continue
        pad = " " * _indent(line)
        body = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(pad)):
            if lines[i].strip():
                body.append(pad + lines[i].strip())
            i += 1
        out += [pad + "$$", *body, pad + "$$", ""]
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with its reST roles, math and literal markers as Markdown."""
    text = _math_blocks(text)
    text = _MATH_ROLE.sub(r"$\1$", text)
    text = _ROLE.sub(_role, text)
    return _LITERAL.sub(r"\1:", text)


def _rewrite(obj: Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = rst_to_markdown(obj.docstring.value)


class RstToMarkdown(Extension):
    """Rewrites every docstring with :func:`rst_to_markdown` once the tree is loaded."""

    def on_object(self, *, obj: Object, loader: GriffeLoader, **kwargs: Any) -> None:
        _rewrite(obj)

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        _rewrite(pkg)  # a top-level package gets no on_object
