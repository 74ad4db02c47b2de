"""Feed texts to taylorlr in a forked child that watches itself: an audit hook and resource limits.

The child (``os.fork``, so it starts warm) limits its address space and CPU time
(``RLIMIT_AS``, ``RLIMIT_CPU``), then installs a PEP 578 audit hook that records every
``exec``, ``compile``, ``import``, ``open``, subprocess and socket event raised while an
input is being handled. Two compiles are expected and allowed: the parser's
``ast.parse`` of the checked text (``<taylorlr expression>``, a syntax tree, never code)
and the xp generator's kernel (``<taylorlr kernel>``, generated from renamed symbols).
Each text goes through ``tl.parse`` and ``Loss``; an accepted one of at most
:data:`MAX_DOWNSTREAM_OPS` operations through its gradient and, for the first ``deep``
accepted ones, ``compile()`` and a two-step ``tl.run``. (Larger ones stop after ``Loss`` unless
``max_ops`` says otherwise: the deep nests of issue 15, a 99-level sin chain or a 50-level tower
``x**x**...``, go the whole way in their own test.) Every
outcome is recorded as ``value``, ``typed <Error>`` (a TaylorLRError), ``untyped <Error>:
message`` or ``timeout``; the parent gets the list and the audit events.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import signal
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

#: audit events no input may cause (prefixes of the event names)
FORBIDDEN = (
    "exec",
    "compile",
    "import",
    "open",
    "subprocess",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "socket",
)
#: file names of the two compiles taylorlr itself makes
ALLOWED_COMPILES = ("<taylorlr expression>", "<taylorlr kernel>")
#: seconds one text may take in the child (a hang is an outcome, not a stuck test)
PER_INPUT_S = 20
#: accepted expressions with more operations than this stop after ``Loss`` (see the module docs)
MAX_DOWNSTREAM_OPS = 40
#: extra address space the child may map beyond what it has when it starts
EXTRA_MEMORY = 3 << 30


@dataclass
class Report:
    outcomes: list[tuple[str, str, str]] = field(default_factory=list)  # (text, stage, outcome)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (text, event, arguments)
    crashed: str = ""


class _Timeout(BaseException):
    pass


def feed(
    texts: list[str], deep: int = 20, timeout_s: float = 240.0, max_ops: int = MAX_DOWNSTREAM_OPS
) -> Report:
    """Run ``texts`` through taylorlr in a watched, forked child; the child's :class:`Report`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        try:
            report = _child(texts, deep, max_ops)
        except BaseException:
            report = Report(crashed=traceback.format_exc())
        with os.fdopen(write_end, "wb") as out:
            pickle.dump(report, out)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as source:
        data = source.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        return Report(crashed=f"the child died without a report (wait status {status})")
    return pickle.loads(data)


def _child(texts: list[str], deep: int, max_ops: int) -> Report:
    import taylorlr as tl

    _warm_up(tl)
    _limit_resources()
    report = Report()
    current = {"text": None}

    def hook(event: str, args: tuple) -> None:
        if current["text"] is None or not event.startswith(FORBIDDEN):
            return
        if event == "compile" and len(args) > 1 and args[1] in ALLOWED_COMPILES:
            return
        if event == "exec" and args and getattr(args[0], "co_filename", None) in ALLOWED_COMPILES:
            return
        report.events.append((current["text"], event, repr(args)[:200]))

    sys.addaudithook(hook)
    signal.signal(signal.SIGALRM, _raise_timeout)
    accepted = 0
    for text in texts:
        current["text"] = text
        stage, outcome = _handle(tl, text, deep=accepted < deep, max_ops=max_ops)
        current["text"] = None
        accepted += stage != "parse"
        report.outcomes.append((text, stage, outcome))
    return report


def _handle(tl: Any, text: str, *, deep: bool, max_ops: int = MAX_DOWNSTREAM_OPS) -> tuple[str, str]:
    """(the last stage reached, its outcome) for one text."""
    stage = "parse"
    signal.alarm(PER_INPUT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expr = tl.parse(text)
            stage = "loss"
            loss = tl.Loss(expr)
            if expr.count_ops() > max_ops:
                return stage, "value"
            stage = "gradient"
            loss.gradient
            if deep:
                stage = "compile"
                compiled = loss.compile()
                compiled.grad([[1.0] * loss.n])
                stage = "run"
                tl.run(loss, [0.5] * loss.n, steps=2)
        return stage, "value"
    except _Timeout:
        return stage, "timeout"
    except tl.TaylorLRError as error:
        return stage, f"typed {type(error).__name__}"
    except (MemoryError, RecursionError, Exception) as error:
        return stage, f"untyped {type(error).__name__}: {str(error)[:200]}"
    finally:
        signal.alarm(0)


def _raise_timeout(signum: int, frame: Any) -> None:
    raise _Timeout


def _warm_up(tl: Any) -> None:
    """Load, once and unwatched, everything a benign input loads lazily (SymPy, the generators)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for text in ("x**2 + sin(y) - 0.1*x*y + max(x, y) + abs(x) + log(1 + x**2)", "x**4 + y**2 + x*y"):
            loss = tl.Loss(text)
            loss.gradient
            loss.compile().grad([[1.0, 2.0]])
            tl.run(loss, [0.5, 0.5], steps=2)
        for text in ("x y", "__import__", "1/0", "x**10**10"):
            with contextlib.suppress(tl.TaylorLRError):
                tl.parse(text)


def _limit_resources() -> None:
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + EXTRA_MEMORY, mapped + EXTRA_MEMORY))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + 300
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 10))
