"""Audit of issue 15: every reproducer the issue lists, each in a child process with a wall limit.

Each case runs in its own ``python`` child (API cases: a setup that is not timed, then the
call that is; CLI cases: ``python -m taylorlr ...``), under a 6 GiB address-space limit, and is
judged by the issue's rule:

- API: the outcome is a value or a typed error (a ``TaylorLRError``), never another exception,
  and the timed call ends within its budget + 1 s;
- CLI: the exit code is one docs/cli.md documents for the case, stderr has no traceback and no
  "internal error", and under ``--json`` stdout is exactly one JSON object, success or error.

Cases owned by the compile work (the SIMD generator) are listed with their owner and judged
like the others, but fixed there. Run from the repository root::

    python bench/audit_issue15.py            # every case, the table on stdout
    python bench/audit_issue15.py --only plot  # the cases whose label contains "plot"
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MEMORY_LIMIT = 6 * 2**30
#: seconds a child may take beyond its case's limit for starting Python, importing taylorlr and
#: building its input (a 10^5-term SymPy sum takes SymPy a minute on a loaded machine)
STARTUP_S = 240.0

RUNNER = r"""
import json, os, resource, sys, threading, time, warnings
setup, body, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
ns = {}
exec("import taylorlr as tl, sympy, numpy as np\n" + setup, ns)
started = time.monotonic()

def watchdog():
    print(json.dumps({"kind": "killed", "text": "no answer", "seconds": time.monotonic() - started,
                      "warnings": [], "rss_mb": 0}), flush=True)
    os._exit(124)

timer = threading.Timer(limit + 5, watchdog)
timer.daemon = True
timer.start()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        exec(body, ns)
        kind, text = "value", repr(ns.get("result"))
    except BaseException as error:
        from taylorlr.errors import TaylorLRError
        kind = "typed" if isinstance(error, TaylorLRError) else "untyped"
        text = f"{type(error).__name__}: {error}"
seconds = time.monotonic() - started
names = sorted({w.category.__name__ for w in caught})
print(json.dumps({"kind": kind, "text": text[:300], "seconds": seconds, "warnings": names,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    summary: str
    seconds: float
    ok: bool
    why: str = ""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One reproducer: ``api`` (setup, body) or ``cli`` (argv) or ``shell`` (a bash line)."""

    label: str
    limit_s: float
    api: tuple[str, str] | None = None
    cli: tuple[str, ...] | None = None
    shell: str | None = None
    exit_codes: tuple[int, ...] = (2,)
    accept: tuple[str, ...] = ("value", "typed")
    env: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    extra: Callable[[dict], str] | None = None  # an API case's own check: "" when it holds
    stderr_has: str = ""  # a CLI case's stderr must say this
    stderr_max: int = 4000  # ... in at most this many characters

    def run(self) -> Outcome:
        if self.api is not None:
            return self._run_api()
        return self._run_command()

    def _child(self, argv: list[str]) -> tuple[int | None, str, str, float]:
        env = {**os.environ, "PYTHONPATH": os.getcwd(), "COLUMNS": "100", **self.env}
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                timeout=self.limit_s + STARTUP_S,
                preexec_fn=_limit_memory,
            )
        except subprocess.TimeoutExpired:
            return None, "", "", time.monotonic() - started
        return done.returncode, done.stdout, done.stderr, time.monotonic() - started

    def _run_api(self) -> Outcome:
        assert self.api is not None
        rc, out, err, wall = self._child([sys.executable, "-c", RUNNER, *self.api, str(self.limit_s)])
        if rc is None:
            return Outcome(summary="killed (no answer)", seconds=wall, ok=False, why="hang")
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            last = (err.strip().splitlines() or ["?"])[-1]
            return Outcome(summary=f"child died rc={rc}: {last[:120]}", seconds=wall, ok=False, why="crash")
        summary = f"{report['kind']}: {report['text'][:110]}"
        if report["warnings"]:
            summary += f" [warnings: {', '.join(report['warnings'])}]"
        why = []
        if report["kind"] not in self.accept:
            why.append(f"{report['kind']} outcome")
        if report["seconds"] > self.limit_s:
            why.append(f"over {self.limit_s:g} s")
        if self.extra is not None and (said := self.extra(report)):
            why.append(said)
        return Outcome(summary=summary, seconds=report["seconds"], ok=not why, why="; ".join(why))

    def _run_command(self) -> Outcome:
        if self.shell is not None:
            argv = ["bash", "-c", self.shell.replace("TAYLORLR", f"{sys.executable} -m taylorlr")]
        else:
            assert self.cli is not None
            argv = [sys.executable, "-m", "taylorlr", *self.cli]
        rc, out, err, wall = self._child(argv)
        if rc is None:
            return Outcome(summary="killed (no answer)", seconds=wall, ok=False, why="hang")
        if self.shell is not None:  # the line echoes the exit status of taylorlr last on stderr
            *lines, status = err.strip().splitlines() or ["?"]
            err, rc = "\n".join(lines), int(status) if status.isdigit() else -1
        said = [line for line in err.strip().splitlines() if line.lower().startswith(("error", "warning"))]
        summary = f"exit {rc}: {(said or err.strip().splitlines() or [''])[-1][:100]}"
        why = []
        if rc not in self.exit_codes:
            why.append(f"exit {rc} not in {self.exit_codes}")
        if "Traceback" in err or "internal error" in err:
            why.append("traceback or internal error")
        if "Warning" in err:
            why.append("a warning on stderr")
        if self.stderr_has not in err:
            why.append(f"stderr does not say {self.stderr_has!r}")
        if len(err) > self.stderr_max:
            why.append(f"stderr of {len(err):,} characters")
        if self.cli is not None and "--json" in self.cli and not _one_json_object(out, rc):
            why.append("stdout is not one JSON object")
        if wall > self.limit_s + 3:  # Python's start and taylorlr's import
            why.append(f"over {self.limit_s:g} s (+ startup)")
        return Outcome(summary=summary, seconds=wall, ok=not why, why="; ".join(why))


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _one_json_object(out: str, rc: int) -> bool:
    try:
        obj = json.loads(out)
    except ValueError:
        return False
    return isinstance(obj, dict) and (rc == 0 or obj.get("exit_code") == rc)


def api(label: str, body: str, limit_s: float, setup: str = "", **options: object) -> Case:
    return Case(label=label, api=(setup, body), limit_s=limit_s, **options)  # type: ignore[arg-type]


def cli(
    label: str, *argv: str, limit_s: float = 10.0, exit_codes: tuple[int, ...] = (2,), **options: object
) -> Case:
    return Case(label=label, cli=argv, limit_s=limit_s, exit_codes=exit_codes, **options)  # type: ignore[arg-type]


def _through_every_stage(text: str) -> str:
    """Loss -> gradient -> Hessian -> compile -> value -> Newton step -> a short run, from x = 0.5."""
    return (
        f"L = tl.Loss({text!r}); L.gradient; L.hessian; c = L.compile()\n"
        "w = np.full(L.n, 0.5); c.value(w); c.grad(w)\n"
        "tl.newton_step(L, w); result = tl.run(L, w, steps=5).status"
    )


_SUM_1E5 = "e = sympy.Add(*[sympy.Float(i % 97 + 1.5) * sympy.Symbol(f'x{i}')**2 for i in range(10**5)])"
_SUM_1E4 = "e = sympy.Add(*[sympy.Float(i % 97 + 1.5) * sympy.Symbol(f'x{i}')**2 for i in range(10**4)])"
_ONE_1E4 = "x = sympy.Symbol('x', real=True); e = sympy.Add(*[sympy.sin(k*x)/k for k in range(1, 10**4 + 1)])"
_SQUARES_1000 = "e = sympy.Add(*[sympy.Symbol(f'x{i}')**2 for i in range(1000)])"
_QUARTIC_12 = "'+'.join(f'(x{i}**2 - 1)**2 + x{i}*x{(i + 1) % 12}' for i in range(12))"


def cases() -> list[Case]:
    """Every reproducer of the issue, in its order."""
    hangs = [
        api(
            "taylor exp(sin(x*y)) order 20, budget 5",
            "at = {'x': sympy.Rational(1, 3), 'y': sympy.Rational(1, 7)}\n"
            "result = tl.Loss('exp(sin(x*y))').taylor(at, order=20, budget_s=5)",
            6,
        ),
        api(
            "taylor exp(sin(x*y)) order 50, budget 5",
            "at = {'x': sympy.Rational(1, 3), 'y': sympy.Rational(1, 7)}\n"
            "result = tl.Loss('exp(sin(x*y))').taylor(at, order=50, budget_s=5)",
            6,
        ),
        api(
            "taylor exp(sin(x*y)) order 50 at (0,0), budget 5",
            "result = tl.Loss('exp(sin(x*y))').taylor({'x': 0, 'y': 0}, order=50, budget_s=5)",
            6,
        ),
        api(
            "taylor (x+y+z)**200 order 50, budget 5",
            "result = tl.Loss('(x+y+z)**200').taylor({'x': 1, 'y': 2, 'z': 3}, order=50, budget_s=5)",
            6,
        ),
        api(
            "critical_points x**1000+y**1000 (default 30 s)",
            "result = tl.Loss('x**1000 + y**1000').critical_points().status",
            31,
        ),
        api(
            "critical_points x**1000+y**2, budget 1",
            "result = tl.Loss('x**1000 + y**2').critical_points(budget_s=1).status",
            2,
        ),
        api(
            "critical_points (x+y+z)**200, budget 5",
            "result = tl.Loss('(x+y+z)**200').critical_points(budget_s=5).status",
            6,
        ),
        api("Loss() of a 10^5-term SymPy sum", "result = tl.Loss(e).n", 61, setup=_SUM_1E5),
        api(
            "compile a 10^5-term sum: Loss budget 30, compile budget 10",
            "L = tl.Loss(e, budget_s=30); c = L.compile(budget_s=10); result = float(c.value(np.ones(L.n)))",
            51,  # Loss 30 s, the derivatives 10 s, the value kernel 10 s
            setup=_SUM_1E5,
        ),
        api(
            "compile a 10^4-term sum + value",
            "L = tl.Loss(e); c = L.compile(); result = float(c.value(np.ones(L.n)))",
            30,
            setup=_SUM_1E4,
        ),
        api(
            "10^4-term sum of one variable: grad, hvp",
            "L = tl.Loss(e); c = L.compile(); w = np.array([0.3]); c.grad(w); result = c.hvp(w, w)",
            60,
            setup=_ONE_1E4,
            owner="simd15 (xp prints a long sum inside a product)",
        ),
        api(
            "1000-variable sum of squares: gradient, hvp, compile",
            "L = tl.Loss(e); L.gradient; L.hvp(); c = L.compile(); w = np.ones(1000)\n"
            "result = (float(c.value(w)), float(c.hvp(w, w).sum()))",
            30,
            setup=_SQUARES_1000,
        ),
        api("parse 0.012**0.37e-100", "result = tl.parse('0.012**0.37e-100')", 1),
        api("parse 0.012**3.7e-6", "result = tl.parse('0.012**3.7e-6')", 1),
        api("parse 3.4e-138**3.4e-138", "result = tl.parse('3.4e-138**3.4e-138')", 1),
        cli(
            "cli solve x**2 - 2.3e-308*x**3 --budget 1 (doubling towards inf)",
            "solve",
            "x**2 - 2.3e-308*x**3",
            "--budget",
            "1",
            "--json",
            limit_s=2,
            exit_codes=(0, 2),
        ),
        cli(
            "cli solve x**2 - 1e-310*x**3 --budget 1",
            "solve",
            "x**2 - 1e-310*x**3",
            "--budget",
            "1",
            limit_s=2,
            exit_codes=(0, 2),
        ),
        api(
            "compile max(1, x**943) (default generator)",
            "c = tl.Loss('max(1, x**943)').compile(); result = float(c.value(np.array([1.01])))",
            301,
            owner="simd15",
        ),
        api(
            "compile a 100-level tower x**x**...",
            "c = tl.Loss('**'.join(['x'] * 99)).compile(); result = float(c.value(np.array([1.01])))",
            301,
            owner="simd15",
        ),
    ]
    memory = [
        api(
            "run steps=10**9, one point converging at once",
            "result = tl.run('x**2', [0.0], steps=10**9).status",
            5,
        ),
        api(
            "run 10^7 starts x 200 steps",
            "result = tl.run('x**2', np.zeros((10**7, 1)), steps=200).status",
            60,
        ),
        api(
            "run 10^5 starts x 10^6 steps",
            "result = tl.run('x**2 + 1e-9*x**4', np.ones((10**5, 1)), steps=10**6).status",
            60,
        ),
        api(
            "critical_points of a 12-variable quartic sum",
            f"result = tl.Loss({_QUARTIC_12}).critical_points(budget_s=10).status",
            11,
        ),
        api(
            "run 10^7 steps converging quickly (record='all')",
            "result = tl.run('(x - 1)**2', [0.0], steps=10**7).status",
            5,  # the history ends at the last valid step: 1.6 GB and 1.65 s before, when it was padded
        ),
        api(
            "run 10^7 steps converging quickly, record=1000",
            "result = tl.run('(x - 1)**2', [0.0], steps=10**7, record=1000).status",
            5,
        ),
    ]
    typed = [
        api(f"every stage: {text}", _through_every_stage(text), 30)
        for text in (
            "acot(x)",
            "1e400*x**2",
            "1e-320*x",
            "2**9999*x",
            "exp(1000)*x",
            "erfc(1.7976931348623157e+308)*x",
            "0.0**x + x",
            "(-2)**x",
            "abs(min(-x, y**x))",
            "x**2 - 1e-310*x**3",
        )
    ]
    typed += [
        api(
            f"erfc(1e300)*x, PYTHONHASHSEED={seed}",
            "result = tl.Loss('erfc(1e300)*x').compile().value(np.array([1.0]))",
            10,
            env={"PYTHONHASHSEED": seed},
        )
        for seed in ("0", "1", "12345")
    ]
    typed += [
        api(
            "taylor abs(x) at 1, order 2",
            "result = tl.Loss('abs(x)').taylor({'x': 1}, 2)",
            10,
            accept=("value",),
        ),
        api("taylor sqrt(x) at 0", "result = tl.Loss('sqrt(x)').taylor({'x': 0}, 2)", 10, accept=("typed",)),
        api("taylor 1/x at 0", "result = tl.Loss('1/x').taylor({'x': 0}, 2)", 10, accept=("typed",)),
        api(
            "plain sympy.symbols: Abs compiles",
            "x = sympy.symbols('x'); c = tl.Loss(sympy.Abs(x) + x**2).compile()\n"
            "result = float(c.grad(np.array([-2.0]))[0])",
            10,
            accept=("value",),
        ),
    ]
    typed += [
        api(
            f"SymPy name as a variable: {text}",
            f"result = tl.Loss({text!r}).names",
            5,
            accept=("value",),  # accepted with a SymPyNameWarning (docs/index.md says so)
            extra=lambda report: "" if "SymPyNameWarning" in report["warnings"] else "no SymPyNameWarning",
        )
        for text in ("x + Integral", "x + Symbol", "S", "I", "oo")
    ]
    typed += [
        api(
            "run divergence=nan",
            "result = tl.run('x**2', [1.0], divergence=float('nan'))",
            5,
            accept=("typed",),
        ),
        api("run tol=inf", "result = tl.run('x**2', [1.0], tol=float('inf'))", 5, accept=("typed",)),
    ]
    typed += [
        api(
            f"SymPy constant {name}",
            f"x = sympy.Symbol('x', real=True); result = tl.Loss(x**2 + {name})",
            5,
            accept=("typed",),
        )
        for name in ("sympy.EulerGamma", "sympy.Catalan", "sympy.GoldenRatio", "sympy.Function('sin')(x)")
    ]
    typed += [
        api(
            "a '$' in a Symbol name: plot",
            "import matplotlib; matplotlib.use('Agg'); from taylorlr.report.plots import plot_loss\n"
            "x = sympy.Symbol('a$b', real=True); fig = plot_loss(tl.Loss(x**2))\n"
            "fig.savefig('/tmp/_audit15.png'); result = 'drawn'",
            20,
            accept=("value",),
        ),
        api(
            "a 1000+-digit printed expression reads back",
            "e = tl.parse('2**3000*x**2 + x'); result = tl.parse(str(e)) == e",
            5,
            accept=("value",),
            extra=lambda r: "" if r["text"] == "True" else "not read back equal",
        ),
        api("tl.parse after tl.Loss('x')", "tl.Loss('x'); result = tl.parse('x+1')", 5, accept=("value",)),
    ]
    quartic = ("solve", "x**4 - x**2 + y**2")
    cli_cases = [
        Case(
            label="cli solve | (pipe closed)",
            shell="TAYLORLR solve 'x**4 - x**2 + y**2 + x*y' | true; echo ${PIPESTATUS[0]} >&2",
            limit_s=30,
            exit_codes=(0, 141),
        ),
        cli("cli --plot /sys/x.png", *quartic, "--plot", "/sys/x.png", "--json"),
        cli("cli --plot to a missing folder --json", *quartic, "--plot", "/nonexistent/p.png", "--json"),
        cli("cli --plot '' --json", *quartic, "--plot", "", "--json"),
        cli("cli --plot noext", *quartic, "--plot", "/tmp/_audit15_noext", "--json"),
        cli("cli --plot p.txt --json", *quartic, "--plot", "/tmp/_audit15.txt", "--json"),
        cli("cli --plot /dev/full", *quartic, "--plot", "/dev/full", "--json"),
        cli(
            "cli solve --plot of 3 variables",
            "solve",
            "x**2 + y**2 + z**2",
            "--plot",
            "/tmp/_audit15_3d.png",
            exit_codes=(0, 2),
        ),
        cli(
            "cli solve --plot of 1 variable",
            "solve",
            "x**4 - x**2",
            "--plot",
            "/tmp/_audit15_1d.png",
            exit_codes=(0,),
        ),
        cli("cli --json bad expression", "solve", "x + )", "--json"),
        cli("cli newton log(x) --at x=-1 --json", "newton", "log(x)", "--at", "x=-1", "--json"),
        cli("cli --budget inf --json", "solve", "x**2", "--budget", "inf", "--json"),
        cli("cli --tol nan", "newton", "x**2", "--at", "x=1", "--tol", "nan"),
        cli("cli --tol -1", "newton", "x**2", "--at", "x=1", "--tol", "-1", "--json"),
        cli("cli --tol-x nan", "compare", "x**2", "--at", "x=1", "--tol-x", "nan"),
        cli("cli onestep --w0 1e999 --json", "onestep", "--w0", "1e999", "--json"),
        cli("cli repeated --at", "newton", "x**2 + y**2", "--at", "x=1,y=1", "--at", "x=2,y=2", "--json"),
        cli(
            "cli --optimizer Adam",
            "run",
            "x**2",
            "--at",
            "x=1",
            "--optimizer",
            "Adam",
            "--steps",
            "5",
            exit_codes=(0,),
        ),
        cli(
            "cli mistyped optimizer: suggestion",
            "run",
            "x**2",
            "--at",
            "x=1",
            "--optimizer",
            "adma",
            stderr_has="did you mean",
        ),
        cli(
            "cli mistyped rule: suggestion",
            "run",
            "x**2",
            "--at",
            "x=1",
            "--rule",
            "exactt",
            "--json",
            stderr_has="did you mean",
        ),
        cli("cli mistyped function: suggestion", "solve", "sinn(x)", stderr_has="did you mean"),
        cli(
            "cli 10,000 bad --at names",
            "newton",
            "x**2",
            "--at",
            ",".join(f"q{i}=1" for i in range(10_000)),
            "--json",
            stderr_max=1000,
        ),
        cli(
            "cli run outside the domain: no RuntimeWarning",
            "run",
            "log(x)",
            "--at",
            "x=0.5",
            "--alpha0",
            "10",
            "--steps",
            "20",
            exit_codes=(0,),
        ),
    ]
    return hangs + memory + typed + cli_cases


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="", help="run only the cases whose label contains this text")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON lines")
    args = parser.parse_args()
    rows = []
    for case in cases():
        if args.only not in case.label:
            continue
        outcome = case.run()
        rows.append((case, outcome))
        if args.json:
            print(
                json.dumps(
                    {
                        "case": case.label,
                        "outcome": outcome.summary,
                        "seconds": round(outcome.seconds, 2),
                        "ok": outcome.ok,
                        "why": outcome.why,
                        "owner": case.owner,
                    }
                ),
                flush=True,
            )
        else:
            mark = "ok" if outcome.ok else f"NO ({outcome.why})"
            owner = f" [{case.owner}]" if case.owner else ""
            summary = outcome.summary.replace("|", "/")
            print(
                f"| {case.label}{owner} | {summary} | {outcome.seconds:.1f} | {mark} |",
                flush=True,
            )
    failed = [case.label for case, outcome in rows if not outcome.ok]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} meet the rule; not: {failed}", file=sys.stderr)


if __name__ == "__main__":
    main()
