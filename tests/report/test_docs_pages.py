"""Docs that cannot drift: the API page's docstrings render without literal Sphinx roles or grouped
parameters, and the signatures the pages quote are the code's."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import griffe  # noqa: F401  (in the test extra, so these checks never skip)

import taylorlr as tl

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "hooks"))
import griffe_doctests as hook  # noqa: E402


def documented_docstrings():
    for module_name in sorted(hook.documented_modules()):
        module = importlib.import_module(module_name)
        yield module_name, module.__doc__ or ""
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(
                obj, "__module__", ""
            ) == module_name:
                yield f"{module_name}.{name}", obj.__doc__ or ""
                for member, value in vars(obj).items() if inspect.isclass(obj) else ():
                    doc = getattr(value, "__doc__", None) if not member.startswith("__") else None
                    if isinstance(doc, str):
                        yield f"{module_name}.{name}.{member}", doc


def test_no_sphinx_role_survives_and_every_link_target_is_documented():
    targets = set()
    for where, doc in documented_docstrings():
        shown = hook.roles_to_references(doc)
        assert not re.search(r":(class|func|meth|attr|data|mod|exc|obj):`", shown), where
        targets |= set(re.findall(r"\]\[(taylorlr[\w.]*)\]", shown))
    assert "taylorlr.loss.Loss" in targets
    for target in targets:  # each a module the page renders, or a public object of one
        module = target if target in hook.documented_modules() else target.rsplit(".", 1)[0]
        while module not in hook.documented_modules():
            module = module.rsplit(".", 1)[0]
        assert module in hook.documented_modules(), target


def test_grouped_parameters_become_one_entry_per_signature_parameter():
    doc = hook.split_grouped_parameters(inspect.getdoc(tl.run))
    signature = inspect.signature(tl.run).parameters
    args = doc[doc.index("Args:") : doc.index("Returns:")]
    entries = re.findall(r"^    (\w+): ", args, flags=re.M)
    assert {"alpha0", "gamma", "steps", "tol", "backend", "dtype"} <= set(entries)
    assert set(entries) <= set(signature)


def test_the_run_signature_quoted_in_the_rules_page_is_the_codes():
    text = (ROOT / "docs" / "rules.md").read_text()
    quoted = re.search(r"`tl\.run\((.*?)\) -> Run`", text, flags=re.S).group(1)
    defaults = dict(re.findall(r"(\w+)=([^,\s)]+)", quoted.replace("\n", " ")))
    for name, parameter in inspect.signature(tl.run).parameters.items():
        if parameter.default is inspect.Parameter.empty:
            continue
        assert name in defaults, name
        assert ast.literal_eval(defaults[name]) == parameter.default, (name, defaults[name])
