"""Every command shown with its output in README.md and docs/ prints that output today.

A ```console block holds ``$ taylorlr ...`` lines, each followed by what it prints (stdout and
stderr as a terminal shows them). The test runs each command through click's runner and
compares, with elapsed times masked: the docs cannot drift from the code.
"""

from __future__ import annotations

import doctest
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from taylorlr.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def shown_commands() -> list[tuple[str, str, str]]:
    """(document, command, output) for every ``$ taylorlr`` line of a console block."""
    found = []
    for path in DOCUMENTS:
        for block in re.findall(r"```console\n(.*?)```", path.read_text(), re.S):
            for command, output in re.findall(r"^\$ (taylorlr [^\n]*)\n(.*?)(?=^\$ |\Z)", block, re.S | re.M):
                found.append((path.name, command, output))
    return found


def masked(text: str) -> str:
    """Elapsed times (``0.05 s``) masked; trailing blanks dropped."""
    text = re.sub(r"\b\d+\.\d+ s\b", "_ s", text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


@pytest.mark.parametrize(("document", "command", "output"), shown_commands(), ids=lambda v: str(v)[:60])
def test_a_documented_command_prints_what_the_docs_show(document, command, output):
    result = CliRunner().invoke(cli, shlex.split(command)[1:], terminal_width=100, prog_name="taylorlr")
    assert "internal error" not in result.output
    assert masked(result.output) == masked(output), f"{document}: {command}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_python_prompt_in_the_docs_prints_what_it_shows(document):
    """``>>>`` examples in README.md and docs/ run as doctests: their output is today's."""
    failed, _ = doctest.testfile(str(document), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert failed == 0, f"{document.name}: {failed} example(s) print something else (run doctest on it)"
