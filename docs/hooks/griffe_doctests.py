"""A Griffe extension for the API pages: doctest blocks in docstrings become ``pycon`` code blocks.

taylorlr's docstrings carry their examples as doctests in free text (pytest runs them
with ``--doctest-modules``). Read as Markdown, ``>>>`` would start a quote and an output
such as ``[('exact', True)]`` would look like a link; fenced, they render as code.
Loaded by mkdocstrings through ``extensions:`` in mkdocs.yml.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

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
            obj.docstring.value = fence_doctests(obj.docstring.value)
