"""A griffe extension: the few reStructuredText constructs of our docstrings, as Markdown.

The docstrings are Google style with some reST in them, which mkdocstrings would show
verbatim. Before they are parsed, this rewrites:

- roles ``:func:`name```, ``:class:`~pkg.Name``` (and mod, meth, attr, data, exc, obj) to
  links to the object's API page, ``[`Name`][pkg.Name]``, which mkdocs-autorefs resolves and
  the strict build checks (a role naming something that does not exist fails the build);
  ``~`` keeps the last component, as in Sphinx. A name without its package is looked up in
  the docstring's own module; ``:data:`` and ``:attr:`` link to the page of the module or
  class holding them (constants have no anchor of their own). Names outside atrous and
  reference (``torch.nn.Conv2d``, ``os.replace``) and private ones stay code spans;
- ``:math:`x``` to ``$x$`` and a ``.. math::`` directive with its indented body to a
  ``$$ ... $$`` block, which ``pymdownx.arithmatex`` picks up (docs/hooks.py renders it);
- a paragraph ending in ``::`` (a literal block follows) to one ending in ``:``.
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, GriffeLoader, Module, Object

_ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|attr|data|exc|obj):`(~?)([^`]+)`")
_OURS = ("atrous", "reference")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_LITERAL = re.compile(r"(?m)(\S)::$")


def _identifier(kind: str, target: str, obj: Object | None) -> str | None:
    """The full name a role links to, or None to show it as code only."""
    target = target.removesuffix("()")
    if target.split(".")[0] in _OURS:
        full = target
    elif obj is not None and target.split(".")[0] in obj.module.members:
        first, _, rest = target.partition(".")
        member = obj.module.members[first]
        # an imported name links to where it is defined (if that is ours)
        path = member.target_path if member.is_alias else member.path
        full = f"{path}.{rest}" if rest else path
        if full.split(".")[0] not in _OURS:
            return None
    else:
        return None
    if kind in ("data", "attr"):
        full = full.rsplit(".", 1)[0]
    if any(part.startswith("_") for part in full.split(".")):
        return None
    return full


def _role(match: re.Match[str], obj: Object | None = None) -> str:
    kind, tilde, target = match.groups()
    text = f"`{target.rsplit('.', 1)[-1] if tilde else target}`"
    full = _identifier(kind, target, obj)
    return f"[{text}][{full}]" if full else text


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


def rst_to_markdown(text: str, obj: Object | None = None) -> str:
    """The docstring ``text`` (of ``obj``, where its own module's names are looked up) with
    its reST roles, math and literal markers as Markdown."""
    text = _math_blocks(text)
    text = _MATH_ROLE.sub(r"$\1$", text)
    text = _ROLE.sub(lambda m: _role(m, obj), text)
    return _LITERAL.sub(r"\1:", text)


def _rewrite(obj: Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = rst_to_markdown(obj.docstring.value, obj)


class RstToMarkdown(Extension):
    """Rewrites every docstring with :func:`rst_to_markdown` once the tree is loaded."""

    def on_object(self, *, obj: Object, loader: GriffeLoader, **kwargs: Any) -> None:
        _rewrite(obj)

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        _rewrite(pkg)  # a top-level package gets no on_object
