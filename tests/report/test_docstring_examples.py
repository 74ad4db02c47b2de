"""Every public name has a docstring example that runs (pytest's --doctest-modules runs them).

``tl.__all__`` has no exception. For the rest of the API page (every public class and function of
the modules ``docs/api.md`` renders) the names still without an example are listed below: the
list may only shrink (a new public name needs an example, and a name that gains one must leave it).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import taylorlr as tl

API_PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"

#: documented names without an example yet: none is left (it may only stay empty)
WITHOUT_EXAMPLE: frozenset[str] = frozenset()


def has_example(obj: object) -> bool:
    return ">>>" in (inspect.getdoc(obj) or "")


def documented_names() -> dict[str, object]:
    names = {}
    for module_name in re.findall(r"^::: (\S+)", API_PAGE.read_text(), flags=re.M):
        module = importlib.import_module(module_name)
        public = getattr(module, "__all__", None)
        for name, obj in vars(module).items():
            if name.startswith("_") or (public is not None and name not in public):
                continue
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(
                obj, "__module__", ""
            ) == module_name:
                names[f"{module_name}.{name}"] = obj
    return names


def test_every_name_of_tl_all_has_an_example():
    missing = [name for name in tl.__all__ if name != "__version__" and not has_example(getattr(tl, name))]
    assert missing == []


def test_documented_names_without_an_example_are_only_the_listed_ones():
    names = documented_names()
    missing = {name for name, obj in names.items() if not has_example(obj)}
    assert missing <= WITHOUT_EXAMPLE, sorted(missing - WITHOUT_EXAMPLE)  # a new name without an example
    assert not (WITHOUT_EXAMPLE - missing), sorted(WITHOUT_EXAMPLE - missing)  # gained one: drop it here
