"""A Griffe extension for the API pages: doctest blocks in docstrings become ``pycon`` code blocks,
Sphinx roles become cross-references, and grouped parameters are split.

taylorlr's docstrings carry their examples as doctests in free text (pytest runs them
with ``--doctest-modules``). Read as Markdown, ``>>>`` would start a quote and an output
such as ``[('exact', True)]`` would look like a link; fenced, they render as code.
A Sphinx role (``:class:`~taylorlr.Loss```) would show as literal text: it becomes a link to
the object's page entry where the API page documents it, else inline code. A Google-style
entry for two parameters at once (``alpha0, gamma: ...``) matches no parameter of the
signature, so the table would call it "required" without a default: it is split into one
entry per name. Loaded by mkdocstrings through ``extensions:`` in mkdocs.yml.
"""

from __future__ import annotations

import importlib
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj):`(~?)([^`]+)`")
_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Attributes):\s*$")
_GROUPED = re.compile(r"^(\s+)(\w+(?:, \w+)+): (.*)$")
API_PAGE = Path(__file__).resolve().parents[1] / "api.md"


@cache
def documented_modules() -> frozenset[str]:
    """The modules the API page renders (its ``::: module`` lines)."""
    return frozenset(re.findall(r"^::: (\S+)", API_PAGE.read_text(), flags=re.M))


def resolve(target: str) -> str | None:
    """The documented, canonical path of a ``taylorlr...`` target (a re-export followed to where the
    object is defined), or None when the API page does not render it."""
    if not target.startswith("taylorlr"):
        return None
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        break
    else:
        return None
    if inspect.ismodule(obj):
        return obj.__name__ if obj.__name__ in documented_modules() else None
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module not in documented_modules() or not name or name.startswith("_") or "<" in name:
        return None
    public = getattr(importlib.import_module(module), "__all__", None)
    if public is not None and name.split(".")[0] not in public:
        return None
    return f"{module}.{name}"


def roles_to_references(text: str) -> str:
    """``:class:`~taylorlr.Loss``` as ``[`Loss`][taylorlr.loss.Loss]`` (a link) or inline code.

    >>> roles_to_references("a :class:`~taylorlr.Loss` and :func:`compare`")
    'a [`Loss`][taylorlr.loss.Loss] and `compare`'
    """

    def replace(match: re.Match[str]) -> str:
        tilde, target = match.group(1), match.group(2).strip()
        shown = target.rsplit(".", 1)[-1] if tilde else target
        canonical = resolve(target)
        return f"[`{shown}`][{canonical}]" if canonical else f"`{shown}`"

    return _ROLE.sub(replace, text)


def split_grouped_parameters(text: str) -> str:
    r"""In Args/Attributes sections, an entry ``a, b: text`` becomes ``a: text`` and ``b: text``.

    >>> print(split_grouped_parameters("Args:\n    alpha0, gamma: the rates.\n        More.\n"))
    Args:
        alpha0: the rates.
            More.
        gamma: the rates.
            More.
    """
    lines, out, i, in_section = text.splitlines(), [], 0, None
    while i < len(lines):
        line = lines[i]
        section = _SECTION.match(line)
        if section:
            in_section = len(section.group(1))
        elif in_section is not None and line.strip() and len(line) - len(line.lstrip()) <= in_section:
            in_section = None
        grouped = _GROUPED.match(line) if in_section is not None else None
        if grouped is None:
            out.append(line)
            i += 1
            continue
        indent, names, description = grouped.groups()
        body, i = [], i + 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            body.append(lines[i])
            i += 1
        for name in names.split(", "):
            out += [f"{indent}{name}: {description}", *body]
    return "\n".join(out)

_PROMPT = re.compile(r"^(\s*)>>>( |$)")


def fence_doctests(text: str) -> str:
    """Wrap each doctest block (a ``>>>`` line up to the next blank line) in a pycon fence.

    The fence keeps the block's indentation and gets a blank line on either side.
    """
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        match = _PROMPT.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group(1)
        out += ["", f"{indent}```pycon"]
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out += [f"{indent}```", ""]
    return "\n".join(out).rstrip("\n")


class DoctestBlocks(griffe.Extension):
    """Fence the doctests of every object's docstring as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = split_grouped_parameters(roles_to_references(obj.docstring.value))
            obj.docstring.value = fence_doctests(text)
