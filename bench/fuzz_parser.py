"""Nightly-style coverage-guided fuzzing of the parser with atheris (not part of the test suite).

Run by hand, for as long as you like (``-max_total_time`` in seconds):

    python bench/fuzz_parser.py -atheris_runs=0 -max_total_time=300 -print_final_stats=1
    python bench/fuzz_parser.py -max_total_time=3600 corpus_dir/    # keep and grow a corpus

Each input is decoded as text and handed to ``taylorlr.parse``; an accepted expression goes on
to ``Loss`` (validation) and its gradient. Every outcome must be a value or a
:class:`~taylorlr.TaylorLRError`: any other exception is a crash that atheris reports with
its reproducer. An audit hook (PEP 578), installed after a warm-up, turns every
``exec``/``compile``/``import``/``open``/``subprocess``/``socket`` event into a crash: no input may
make the parser run, import or open anything. The figures of a run here are in
``docs/security.md``.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

import atheris

with atheris.instrument_imports(include=["taylorlr"]):
    import taylorlr.loss
    import taylorlr.symbolic.derivatives
    import taylorlr.symbolic.parse
    from taylorlr.errors import TaylorLRError

#: audit events no input may cause (prefixes)
FORBIDDEN = ("exec", "compile", "import", "open", "subprocess", "os.system", "os.exec", "os.spawn", "socket")


class AuditEvent(Exception):
    """An input caused an event the parser must never cause."""


#: the one compile the parser does: ``ast.parse`` of the checked text (a syntax tree, never code)
PARSER_FILENAME = "<taylorlr expression>"


def _hook(event: str, args: tuple) -> None:
    if not _armed or not event.startswith(FORBIDDEN):
        return
    if event == "compile" and len(args) > 1 and args[1] == PARSER_FILENAME:
        return
    raise AuditEvent(f"{event} {args!r:.200}")


_armed = False


def check(text: str) -> None:
    """Parse ``text``, then validate and differentiate what was accepted; TaylorLRError is fine."""
    global _armed
    _armed = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss = taylorlr.loss.Loss(taylorlr.symbolic.parse.parse(text))
            loss.gradient  # noqa: B018 - derivatives of what was accepted
    except TaylorLRError:
        pass
    finally:
        _armed = False


def one_input(data: bytes) -> None:
    check(atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data)))


def main() -> None:
    for text in ("x**2 + sin(y) - 0.1*x*y", "x^3 + log(1 + x**2)", "max(x, y) + abs(x)", "1/0", "x y"):
        with warnings.catch_warnings():  # warm-up: SymPy's own lazy imports happen here, unwatched
            warnings.simplefilter("ignore")
            with contextlib.suppress(TaylorLRError):
                taylorlr.loss.Loss(taylorlr.symbolic.parse.parse(text)).gradient  # noqa: B018
    sys.addaudithook(_hook)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
