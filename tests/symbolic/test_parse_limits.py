"""Parse-time limits added by issue 15: exponent denominators, and constants that cannot be evaluated.

Each refusal must come in milliseconds; it is run in a child process with a generous timeout
(no timing assertion here), so that a regression is a failure, not a hung suite.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from taylorlr.errors import ParseError
from taylorlr.symbolic.parse import MAX_EXPONENT_DENOMINATOR, parse

_CHILD = """
import sys
from taylorlr.errors import ParseError
from taylorlr.symbolic.parse import parse
try:
    parse(sys.argv[1])
except ParseError as error:
    print("ParseError:", error.reason)
else:
    print("accepted")
"""


def _parse_in_child(text: str, hash_seed: str = "0") -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, text], capture_output=True, text=True, timeout=10, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("text", ["0.012**0.37e-100", "0.012**3.7e-6", "3.4e-138**3.4e-138"])
def test_an_exponent_with_a_huge_denominator_is_refused_at_once(text: str) -> None:
    out = _parse_in_child(text)
    assert out.startswith("ParseError:") and "denominator too large" in out


def test_the_exponent_denominator_limit_is_exact() -> None:
    assert str(parse(f"x**(1/{MAX_EXPONENT_DENOMINATOR})")) == f"x**(1/{MAX_EXPONENT_DENOMINATOR})"
    with pytest.raises(ParseError, match="denominator too large"):
        parse(f"x**(1/{MAX_EXPONENT_DENOMINATOR + 1})")
    assert str(parse("x**0.37")) == "x**(37/100)"


@pytest.mark.parametrize("text", ["erfc(1e300)*x", "erfc(1.7976931348623157e+308)*x", "x*erfc(1e300)"])
def test_a_constant_mpmath_cannot_evaluate_is_refused_whatever_the_hash_seed(text: str) -> None:
    outcomes = {_parse_in_child(text, seed) for seed in ("1", "4")}
    assert len(outcomes) == 1, outcomes
    (out,) = outcomes
    assert out.startswith("ParseError:") and "cannot be evaluated numerically" in out


def test_a_constant_that_evaluates_is_kept() -> None:
    assert str(parse("erfc(3)*x")) == "x*erfc(3)"
