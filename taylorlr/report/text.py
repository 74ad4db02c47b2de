"""Rendering of results: plain text, rich tables, JSON-ready data and LaTeX.

One place decides how an expression, a vector, a matrix or a result record is
shown, so the CLI's text, ``--json`` and ``--latex`` outputs agree with each
other. Each command's text is built from the same JSON-ready payload that
``--json`` prints, so the two cannot drift apart. rich is imported only by the
functions that build tables.

>>> import taylorlr as tl
>>> data = symbolic_summary(tl.Loss("x**2 + 3*x*y**2"))
>>> data["gradient"], data["hessian"]
(['2*x + 3*y**2', '6*x*y'], [['2', '6*y'], ['6*y', '6*x']])
"""

from __future__ import annotations

import contextvars
import json
import math
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

import sympy

from taylorlr._display import EXACT_LIMIT, fmt, folded
from taylorlr._display import vector as vector_text
from taylorlr._json import json_ready
from taylorlr.solution import symbolic_summary

if TYPE_CHECKING:
    from taylorlr.alpha.engine import Run
    from taylorlr.analysis.critical_points import CriticalPoint
    from taylorlr.analysis.onestep import OneStepDemo
    from taylorlr.comparison import Comparison
    from taylorlr.loss import Loss
    from taylorlr.numerics.newton import NewtonRun
    from taylorlr.solution import Solution


def exact_number(value: sympy.Expr) -> dict[str, Any]:
    """A number as JSON: its float value and, when exact, its exact text."""
    number = sympy.sympify(value)
    return {"value": float(sympy.N(number, 17)), "exact": str(number)}


def symbolic_latex(loss: Loss) -> dict[str, str]:
    """LaTeX of f, its gradient (column vector) and Hessian."""
    return {
        "expression": sympy.latex(loss.expr),
        "gradient": sympy.latex(loss.gradient),
        "hessian": sympy.latex(loss.hessian),
    }


def matrix_lines(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """A matrix of strings as aligned bracketed rows.

    >>> print("\\n".join(matrix_lines([["2", "6*y"], ["6*y", "6*x"]])))
      [  2  6*y ]
      [ 6*y 6*x ]
    """
    widths = [max(len(row[j]) for row in rows) for j in range(len(rows[0]))] if rows else []
    return [
        indent + "[ " + " ".join(cell.center(w) for cell, w in zip(row, widths, strict=True)) + " ]"
        for row in rows
    ]


def symbolic_lines(summary: dict[str, Any]) -> list[str]:
    """The loss, variables, gradient and Hessian of a :func:`symbolic_summary` as lines of text."""
    lines = [f"loss       f = {summary['expression']}", f"variables  {', '.join(summary['variables'])}"]
    if summary["data"]:
        lines.append(f"data       {', '.join(summary['data'])}")
    lines.append("gradient")
    lines += [
        f"  df/d{name} = {g}" for name, g in zip(summary["variables"], summary["gradient"], strict=True)
    ]
    lines.append("Hessian")
    lines += matrix_lines(summary["hessian"])
    return lines


def symbolic_text(loss: Loss) -> list[str]:
    """The loss, variables, gradient and Hessian as lines of plain text."""
    return symbolic_lines(symbolic_summary(loss))


# numbers and JSON -----------------------------------------------------------------------------


#: bumped whenever a key of any command's ``--json`` output changes meaning or goes away
SCHEMA_VERSION = 1


def schema_name(command: str) -> str:
    """The ``schema`` key of a command's JSON output.

    >>> schema_name("solve")
    'taylorlr.solve/1'
    """
    return f"taylorlr.{command}/{SCHEMA_VERSION}"


def to_json(payload: dict[str, Any]) -> str:
    """The one JSON text of a command's payload (indented, strict: no NaN or Infinity)."""
    return json.dumps(json_ready(payload), indent=2, allow_nan=False)


def exact_or_float(floats: Sequence[float], exact: Sequence[str] | None) -> str:
    """A vector shown exactly when its exact form is known, with floats beside non-integers.

    >>> exact_or_float([0.5, 2.0], ["1/2", "2"]), exact_or_float([0.5, 1.0], None)
    ('(1/2, 2) ≈ (0.5, 2)', '(0.5, 1)')
    """
    if exact is None:
        return vector_text(floats)
    if not FULL_EXACT.get() and any(_long(e) for e in exact):
        if len(exact) == 1:
            return folded(floats[0], exact[0])
        return f"{vector_text(floats)} ({_algebraic(exact)})"
    shown = vector_text(list(exact))
    return shown if all(_is_integer_text(e) for e in exact) else f"{shown} ≈ {vector_text(floats)}"


def number_text(value: float | None, exact: str | None = None) -> str:
    """A number shown exactly when its exact form is known, with its float beside a non-integer.

    >>> number_text(13.0, "13"), number_text(0.7071067811865476, "sqrt(2)/2"), number_text(0.25)
    ('13', 'sqrt(2)/2 ≈ 0.707107', '0.25')
    """
    if exact is None:
        return fmt(value)
    if not FULL_EXACT.get() and _long(exact):
        return folded(value, exact) if _ROOT.fullmatch(exact) else f"{fmt(value)} (algebraic)"
    return exact if _is_integer_text(exact) else f"{exact} ≈ {fmt(value)}"


#: set (``FULL_EXACT.set(True)``, the CLI's ``--exact``) to print long exact forms whole instead of
#: folding them behind their decimal values
FULL_EXACT: contextvars.ContextVar[bool] = contextvars.ContextVar("full_exact", default=False)
_ROOT = re.compile(r"CRootOf\((.+?), -?\d+\)")


def _long(text: str) -> bool:
    """An exact form folded in text: longer than the notebook limit, or an algebraic root."""
    return len(text) > EXACT_LIMIT or "CRootOf" in text


def _algebraic(exact: Sequence[str]) -> str:
    """What a folded exact vector is: algebraic, in roots of which polynomials.

    >>> _algebraic(["-2*CRootOf(8*x**3 - x - 1, 1)", "CRootOf(8*x**3 - x - 1, 1)"])
    'algebraic, in roots of 8*x**3 - x - 1'
    """
    polynomials = list(dict.fromkeys(m.group(1) for e in exact for m in _ROOT.finditer(e)))
    if not polynomials:
        return "exact form folded"
    shown = "; ".join(p if len(p) <= EXACT_LIMIT else p[: EXACT_LIMIT - 4] + " ..." for p in polynomials)
    return f"algebraic, in roots of {shown}"


def folded_note(points: Sequence[dict[str, Any]]) -> list[str]:
    """The line that says exact forms were folded, and how to see them (nothing when none were)."""
    texts = [t for p in points for t in [*(p.get("point_exact") or []), p.get("value_exact") or ""]]
    if FULL_EXACT.get() or not any(_long(t) for t in texts):
        return []
    return ["  (long exact forms are folded behind their decimals: --exact prints them, --json holds them)"]


def _is_integer_text(text: str) -> bool:
    return text.lstrip("-").isdigit()


def point_label(names: Sequence[str]) -> str:
    """ "x" for one variable, "(x, y)" for several."""
    return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


# critical points and bounded below (solve) -----------------------------------------------------


#: the most critical points (and degenerate points) that the text of ``solve`` lists
TEXT_POINT_LIMIT = 12


def critical_point_lines(payload: dict[str, Any]) -> list[str]:
    """Each critical point with its kind, eigenvalues, exactness and value."""
    info, points = payload["analysis"], payload["critical_points"]
    elapsed = f", {info['elapsed_s']:.2f} s" if info["status"] != "skipped" else ""
    lines = [f"critical points  [{info['status']}: {info['note']}{elapsed}]"]
    names = point_label(payload["variables"])
    for p in points[:TEXT_POINT_LIMIT]:
        value = number_text(p["value"], p.get("value_exact"))
        flags = ("exact" if p["exact"] else "numeric") + (", degenerate" if p["degenerate"] else "")
        eigenvalues = ", ".join(fmt(e) for e in p["eigenvalues"])
        lines.append(
            f"  {names} = {exact_or_float(p['point'], p.get('point_exact'))}: {p['kind']}  "
            f"(eigenvalues {eigenvalues}; {flags}; f = {value})"
        )
    lines += _more(len(points)) + folded_note(points[:TEXT_POINT_LIMIT])
    if not points and info["status"] != "skipped":
        lines.append("  none")
    return lines


def degenerate_lines(payload: dict[str, Any]) -> list[str]:
    """The degenerate critical points (singular Hessian) and what settled their kind."""
    degenerate = [p for p in payload["critical_points"] if p["degenerate"]]
    if not degenerate:
        return ["degenerate points  none"]
    lines = ["degenerate points  (singular Hessian: the eigenvalues alone do not settle the kind)"]
    names = point_label(payload["variables"])
    for p in degenerate[:TEXT_POINT_LIMIT]:
        where = exact_or_float(p["point"], p.get("point_exact"))
        lines.append(f"  {names} = {where}: {p['kind']}, because {p['reason']}")
    return lines + _more(len(degenerate))


def _more(count: int) -> list[str]:
    """The line that says how many points the text left out."""
    if count <= TEXT_POINT_LIMIT:
        return []
    return [f"  ... and {count - TEXT_POINT_LIMIT} more (all of them in --json)"]


def bounded_below_lines(payload: dict[str, Any]) -> list[str]:
    """Whether f looked bounded below, with the evidence."""
    evidence = payload["bounded_below"]
    if evidence is None:
        return ["bounded below  not examined"]
    where = f"f({', '.join(map(fmt, evidence['point']))}) = {fmt(evidence['value'])}"
    if evidence["verdict"] == "bounded below (proved)":
        return bounded_lines(evidence, point_label(payload["variables"]), where)
    if evidence["verdict"] == "unbounded":
        return [
            "bounded below  NO: f is unbounded below (proved)",
            f"  f -> -inf along the direction {vector_text(evidence['direction'])}, "
            f"an exact polynomial in t along that line; e.g. {where}",
        ]
    return [
        f"bounded below  {evidence['verdict']}",
        f"  {evidence['probes']} lines probed; lowest value seen {where} (evidence, not proof)",
    ]


def bounded_lines(evidence: dict[str, Any], names: str, where: str) -> list[str]:
    """The proof that f is bounded below, with min f where a critical point attains the bound exactly."""
    bound = number_text(evidence["bound"], evidence["bound_exact"])
    if evidence["attained"]:
        at = f"{names} = {exact_or_float(evidence['point'], evidence['point_exact'])}"
        head = f"min f = {bound}, attained exactly at {at}: a global minimiser"
        return [f"bounded below  YES (proved): {head}", f"  {evidence['reason']}"]
    return [
        f"bounded below  YES (proved): f >= {bound}",
        f"  {evidence['reason']}",
        f"  lowest value seen, in float64: {where} (not proved to attain the bound)",
    ]


# Newton steps --------------------------------------------------------------------------------


def newton_step_lines(data: dict[str, Any], names: Sequence[str]) -> list[str]:
    """One Newton step for people: eta, the new point, f before and after, what the eigenvalues say."""
    exact = data["exact"] or {}
    eta_name = "eta = 1/f''" if len(names) == 1 else "eta = H^-1"
    eta = _matrix_text(exact.get("eta") or data["eta"])
    if data["curvature"] == "singular" and data["fallback"] is None:
        eta = "does not exist (H is singular): no step taken"
    return [
        f"{data['method'].capitalize()} step from {point_label(names)} = "
        f"{exact_or_float(data['start'], exact.get('start'))}",
        f"  gradient       {vector_text(data['gradient'])}",
        *_kink_lines(data.get("kinks") or []),
        f"  eigenvalues    {', '.join(map(fmt, data['eigenvalues']))}  (condition {fmt(data['condition'])}"
        f"{_ill_conditioned(data)})",
        f"  {eta_name:<14} {eta}",
        f"  step           {exact_or_float(data['step'], exact.get('step'))}",
        f"  new point      {exact_or_float(data['point'], exact.get('point'))}",
        f"  f before       {number_text(data['f_before'], exact.get('f_before'))}",
        f"  f after        {number_text(data['f_after'], exact.get('f_after'))}",
        f"  heads for      {data['curvature']}: {data['heads_for']}",
    ]


def _kink_lines(kinks: Sequence[str]) -> list[str]:
    """The warning that the point is on a kink of f (nothing where it is not)."""
    if not kinks:
        return []
    verb = "switches" if len(kinks) == 1 else "switch"
    return [
        f"  on a kink      {', '.join(kinks)} {verb} here: the numbers shown follow the kink convention",
        "                 (sign(0) = 0, a step's value 1/2) and need not be f's derivatives",
    ]


def _ill_conditioned(data: dict[str, Any]) -> str:
    """The note that H is ill-conditioned but the step was taken (empty otherwise)."""
    if data.get("conditioning") != "ill-conditioned":
        return ""
    backward = fmt(data["backward_error"])
    return f"; ill-conditioned, not singular: the step was taken, backward error {backward}"


def _matrix_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_matrix_text(v) for v in value) + "]"
    return value if isinstance(value, str) else fmt(value)


def newton_run_data(run: NewtonRun, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Iterated Newton: method, status, last point and the data of each step (a NewtonReport)."""
    return {"method": steps[0]["method"], "fallback": steps[0]["fallback"], **run.to_dict(), "steps": steps}


def newton_table(payload: dict[str, Any]) -> Any:
    """The Newton iterations as a rich table: k, point, f, ||g||, curvature."""
    return newton_tables(payload)[0]


def newton_tables(payload: dict[str, Any], width: int | None = None) -> list[Any]:
    """The Newton iterations as rich tables that fit ``width`` columns (see :func:`fitted_tables`)."""
    rows = []
    for k, step in enumerate(payload["steps"]):
        norm = math.sqrt(sum(g * g for g in step["gradient"]))
        rows.append((
            str(k), vector_text(step["start"]), fmt(step["f_before"]), fmt(norm), step["curvature"],
            vector_text(step["point"]),
        ))  # fmt: skip
    columns = ("k", "start point", "f", "||g||", "curvature", "new point")
    return fitted_tables(f"Newton iterations ({payload['method']})", columns, rows, width, right={0, 2, 3})


# tables that fit the terminal ----------------------------------------------------------------


def table_width(widths: Sequence[int]) -> int:
    """The width rich gives a table (heavy head box, one space of padding each side) of these columns.

    >>> table_width([3, 5])
    15
    """
    return sum(w + 2 for w in widths) + len(widths) + 1


def fitted_tables(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], width: int | None,
    *, right: AbstractSet[int] = frozenset(), key: int = 1,
) -> list[Any]:  # fmt: skip
    """One rich table, or (when it is wider than ``width``) several, each repeating the first ``key``
    columns, so that no cell is ever cut: every column is as wide as its longest cell (numbers
    keep every digit and exponent), headers wrap between words, and no table is wider than
    ``width`` unless a single column group cannot be narrower.

    >>> [len(t.columns) for t in fitted_tables("t", ("#", "a", "b"), [("1", "x" * 30, "y" * 30)], 50)]
    [2, 2]
    """
    cells = [max([len(row[j]) for row in rows] or [0]) for j in range(len(columns))]
    needed = [max(c, len(column)) for c, column in zip(cells, columns, strict=True)]
    groups: list[list[int]] = [list(range(len(columns)))]
    if width is not None and table_width(needed) > width:  # headers wrap between words, cells never
        needed = [max(c, *map(len, column.split())) for c, column in zip(cells, columns, strict=True)]
    if width is not None and table_width(needed) > width:
        groups, current = [], list(range(key))
        for j in range(key, len(columns)):
            if len(current) > key and table_width([needed[i] for i in [*current, j]]) > width:
                groups.append(current)
                current = list(range(key))
            current.append(j)
        groups.append(current)
    return [_rich_table(title if g == 0 else f"{title} (continued)", columns, rows, group, needed, right)
            for g, group in enumerate(groups)]  # fmt: skip


def _rich_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], group: Sequence[int],
    needed: Sequence[int], right: AbstractSet[int],
) -> Any:  # fmt: skip
    from rich.table import Table

    table = Table(title=title)
    for j in group:
        table.add_column(columns[j], justify="right" if j in right else "left", width=needed[j],
                         overflow="fold")  # fmt: skip
    for row in rows:
        table.add_row(*(row[j] for j in group))
    return table


# step-size bounds (solve --at) ---------------------------------------------------------------


def step_size_lines(data: dict[str, Any]) -> list[str]:
    """The step-size bounds for people: each sentence says "guarantees" only where the record proves it."""
    limit, smooth = data["descent_limit"], data["smoothness"]
    box = " x ".join(f"[{fmt(lo)}, {fmt(hi)}]" for lo, hi in smooth["box"])
    certified = "certified" if smooth["certified"] else "an estimate, not certified"
    return [
        "step-size bounds there",
        f"  descent limit  {_descent_text(limit)} (g'g = {fmt(limit['gTg'])}, g'Hg = {fmt(limit['gHg'])})",
        f"  curvature      lambda_max(H) = {fmt(data['lambda_max'])}, "
        f"1/lambda_max = {fmt(data['inverse_lambda_max'])}",
        f"  smoothness     L = {fmt(smooth['L'])} on {box} ({smooth['method']}, {certified})",
        *_step_lines(smooth, limit["gTg"]),
    ]


def _descent_text(limit: dict[str, Any]) -> str:
    """What the second-order model along -g does (source 001's descent condition)."""
    eps_max, gTg, gHg = limit["eps_max"], limit["gTg"], limit["gHg"]
    if not (gTg is not None and gHg is not None and math.isfinite(gTg) and math.isfinite(gHg)):
        return "g'g or g'Hg is not a finite float here: no descent limit"
    if gTg == 0:
        return "g = 0: w is a critical point, and no step along -g changes the model"
    if eps_max is not None and math.isfinite(eps_max):
        return (
            f"eps_max = 2 g'g / g'Hg = {fmt(eps_max)}: the second-order model descends for 0 < eps < eps_max"
        )
    return "g'Hg <= 0: the second-order model descends for every eps > 0"


def _step_lines(smooth: dict[str, Any], gTg: float) -> list[str]:
    """The step eps = 1/L: a guarantee when proved, else an estimate with its reason."""
    indent = " " * 17
    if smooth["status"] != "guaranteed":
        if smooth["eps"] is None:
            return [f"{indent}no step 1/L: {smooth['reason']}"]
        return [
            f"{indent}eps = 1/L = {fmt(smooth['eps'])} is an estimate: no decrease is guaranteed, "
            f"because {smooth['reason']}"
        ]
    lines = [
        f"{indent}eps = 1/L = {fmt(smooth['eps'])} guarantees f(w+) <= f(w) - ||g||^2/(2L) "
        f"= f(w) - {fmt_below(smooth['guaranteed_decrease'])}"
    ]
    if gTg > 0:
        lines.append(
            f"{indent}and every eps in (0, 2/L) = (0, {fmt_below(smooth['eps_limit'])}) gives f(w+) < f(w) "
            "(L holds on the whole step)"
        )
    return lines


def fmt_below(value: float) -> str:
    """A non-negative float to 6 significant digits, rounded down (so a bound it states stays true).

    >>> fmt_below(5.666666666666667), fmt_below(0.009999999999999998), fmt_below(0.0), fmt_below(2.0)
    ('5.66666', '0.00999999', '0', '2')
    """
    if value == 0 or not math.isfinite(value):
        return fmt(value)
    exact = Decimal(value)
    rounded = exact.quantize(Decimal(1).scaleb(exact.adjusted() - 5), rounding=ROUND_FLOOR)
    return f"{rounded.normalize():g}"


def solve_lines(payload: dict[str, Any]) -> list[str]:
    """The whole ``solve`` report, in the documented order."""
    lines = symbolic_lines(payload) + critical_point_lines(payload)
    lines += degenerate_lines(payload) + bounded_below_lines(payload)
    if "newton" in payload:
        lines += newton_step_lines(payload["newton"], payload["variables"])
        lines += step_size_lines(payload["step_size"])
    return lines + latex_lines(payload.get("latex"))


def solve_latex(solution: Solution) -> dict[str, Any]:
    """The ``--latex`` part of ``solve``: f, gradient, Hessian and the critical points."""
    return {**symbolic_latex(solution.loss), "critical_points": points_latex(solution.critical_points or [])}


def latex_lines(latex: dict[str, Any] | None) -> list[str]:
    """The ``--latex`` block of a text report (nothing when LaTeX was not asked for): one LaTeX
    formula a line, a list (the critical points) one formula a line under its name.

    >>> for line in latex_lines({"f": "x^{2}", "critical_points": ["0", "\\frac{1}{2}"]}):
    ...     print(line)
    LaTeX
      f: x^{2}
      critical_points:
        0
        \frac{1}{2}
    """
    if not latex:
        return []
    lines = ["LaTeX"]
    for name, text in latex.items():
        if isinstance(text, list):
            lines += [f"  {name}:", *(f"    {item}" for item in text)]
        else:
            lines.append(f"  {name}: {text}")
    return lines


def points_latex(points: Sequence[CriticalPoint]) -> list[str]:
    """LaTeX of each critical point's coordinates (exact where known): one bare, several in parentheses.

    >>> import taylorlr as tl
    >>> print(*points_latex(tl.Loss("x**2 - y**2 + 2*y").critical_points()))
    \\left(0, 1\\right)
    """
    from taylorlr.analysis.result import point_latex

    return [point_latex(p.point) for p in points]


# taylor --------------------------------------------------------------------------------------


def taylor_data(loss: Loss, at: Sequence[sympy.Expr], order: int, polynomial: sympy.Expr) -> dict[str, Any]:
    """The Taylor polynomial as text and as a list of monomials with float and exact coefficients."""
    terms = sympy.Poly(polynomial, *loss.variables).terms() if polynomial != 0 else []
    return {
        "expression": str(loss.expr),
        "variables": list(loss.names),
        "at": [float(a) for a in at],
        "at_exact": [str(a) for a in at],
        "order": order,
        "taylor": str(polynomial),
        "terms": [
            {"powers": list(powers), "coefficient": float(c), "coefficient_exact": str(c)}
            for powers, c in terms
        ],
    }


def taylor_lines(payload: dict[str, Any]) -> list[str]:
    """The Taylor polynomial for people."""
    names = payload["variables"]
    return [
        f"loss       f = {payload['expression']}",
        f"Taylor polynomial of order {payload['order']} at {point_label(names)} = "
        f"{exact_or_float(payload['at'], payload['at_exact'])}",
        f"  T{payload['order']}({', '.join(names)}) = {payload['taylor']}",
        *latex_lines(payload.get("latex")),
    ]


# runs and comparisons ------------------------------------------------------------------------

#: how many iterations a run table shows at each end before eliding the middle
RUN_TABLE_ENDS = 8


def run_data(loss: Loss, run: Run) -> dict[str, Any]:
    """A run as JSON-ready data: the run's record plus a ``final`` summary and its messages."""
    record = run.to_dict()
    cut = run.history()  # the last row is the final step, also in a thinned record
    return {
        "expression": str(loss.expr),
        "variables": list(loss.names),
        **record,
        "final": {
            "status": record["status"][0],
            "message": run.messages()[0],
            "step": int(run.stopped_at),
            "point": json_ready(cut["points"][-1]),
            "loss": json_ready(cut["losses"][-1]),
            "grad_norm": json_ready(cut["grad_norms"][-1]),
            "alpha": json_ready(cut["alphas"][-1]),
        },
    }


def run_table(payload: dict[str, Any]) -> Any:
    """The iterations of a run as a rich table (the middle elided when long)."""
    return run_tables(payload)[0]


def run_tables(payload: dict[str, Any], width: int | None = None) -> list[Any]:
    """The iterations of a run as rich tables that fit ``width`` columns (see :func:`fitted_tables`)."""
    rows = []
    for shown in _elided(_recorded_rows(payload)):
        if shown is None:
            rows.append(("...", "", "", "", ""))
            continue
        t, row = shown
        oracle = payload["oracle_alphas"][row] if row < len(payload["oracle_alphas"]) else None
        rows.append((
            str(t), fmt(payload["losses"][row]), fmt(payload["grad_norms"][row]),
            fmt(payload["alphas"][row]), fmt(oracle),
        ))  # fmt: skip
    title = f"{payload['optimizer']} with the {payload['rule']} rule"
    return fitted_tables(
        title, ("t", "loss", "||g||", "alpha", "oracle alpha"), rows, width, right=set(range(5))
    )


def _recorded_rows(payload: dict[str, Any]) -> list[tuple[int, int]]:
    """(step, history row) up to the stop: every step, or the rows of a thinned record (``record=k``),
    whose last row holds the final step."""
    last = payload["final"]["step"]
    steps = payload.get("recorded_steps") or range(len(payload["losses"]))
    pairs = []
    for row, step in enumerate(steps):
        pairs.append((min(int(step), last), row))
        if step >= last:
            break
    return pairs


def _elided(rows: list[tuple[int, int]]) -> list[tuple[int, int] | None]:
    if len(rows) <= 2 * RUN_TABLE_ENDS:
        return list(rows)
    return [*rows[:RUN_TABLE_ENDS], None, *rows[-RUN_TABLE_ENDS:]]


def run_lines(payload: dict[str, Any]) -> list[str]:
    """The summary under a run's table."""
    final = payload["final"]
    counts = ", ".join(f"{k} {v}" for k, v in payload["counts"].items())
    fired = {k: v for k, v in payload["safeguard_counts"].items() if v}
    return [
        f"status     {final['message']}",
        f"final      {point_label(payload['variables'])} = {vector_text(final['point'])}, "
        f"f = {fmt(final['loss'])}, ||g|| = {fmt(final['grad_norm'])}",
        f"counts     {counts}",
        "safeguards " + (", ".join(f"{k} fired {v}x" for k, v in fired.items()) or "none fired"),
        *oracle_cost_lines(payload),
    ]


def oracle_cost_lines(payload: dict[str, Any]) -> list[str]:
    """The line-search oracle's part of the run's time (``Run.oracle_seconds`` of ``Run.seconds``);
    no line without an oracle.

    >>> print(*oracle_cost_lines({"oracle_method": "polynomial roots",
    ...                           "timings": {"seconds": 0.5, "oracle_seconds": 0.125}}))
    oracle     polynomial roots: 0.1250 s of the run's 0.5000 s
    >>> oracle_cost_lines({"oracle_method": "none", "timings": {"seconds": 0.5, "oracle_seconds": 0.0}})
    []
    """
    if payload["oracle_method"] == "none":
        return []
    timings = payload["timings"]
    return [
        f"oracle     {payload['oracle_method']}: {timings['oracle_seconds']:.4f} s "
        f"of the run's {timings['seconds']:.4f} s"
    ]


def comparison_data(loss: Loss, comparison: Comparison, settings: dict[str, Any]) -> dict[str, Any]:
    """A comparison as JSON-ready data: the loss, the settings, the reference and its verdict, the rows."""
    return {
        "expression": str(loss.expr),
        "variables": list(loss.names),
        "settings": settings,
        **comparison.to_dict(),
    }


def comparison_columns() -> tuple[str, ...]:
    """The comparison table's columns: the rank, then a row's (imported here: ``taylorlr solve``
    never loads the comparison and the alpha engine behind it)."""
    from taylorlr.comparison import ROW_COLUMNS

    return ("#", *ROW_COLUMNS)


def comparison_table(payload: dict[str, Any]) -> Any:
    """The ranked comparison as a rich table, best first ("alpha error" is the mean relative error
    of the alphas used against the line-search oracle's; "-" where there is nothing to measure from)."""
    return comparison_tables(payload)[0]


def comparison_tables(payload: dict[str, Any], width: int | None = None) -> list[Any]:
    """The ranked comparison as rich tables that fit ``width`` columns (see :func:`fitted_tables`):
    at 80 columns the rank, rule, optimizer and status, then the rank and the measures."""
    rows = []
    for rank, row in enumerate(payload["rows"], start=1):
        reached = row["iterations_to_tol"]
        rows.append((
            str(rank), row["rule"], row["optimizer"], row["status"],
            "never" if reached is None else str(reached), fmt(row["final_value"]),
            _measured(row["final_gap"]), _measured(row["distance"]), fmt(row["alpha_error_mean"]),
            str(sum(row["evaluations"].values())),
        ))  # fmt: skip
    against = "the global minimum" if payload["verdict"] == "global minimum (proved)" else "the reference"
    title = f"every rule x optimizer against {against} (best first)"
    columns = comparison_columns()
    right = {j for j, column in enumerate(columns) if column not in ("rule", "optimizer", "status")}
    return fitted_tables(title, columns, rows, width, right=right)


def _measured(value: float | None) -> str:
    return "-" if value is None else fmt(value)


def comparison_lines(payload: dict[str, Any]) -> list[str]:
    """The reference optimum, the verdict on min f, and what the ranks mean, under a comparison table."""
    pairs = zip(payload["minimisers"], payload["f_star"], strict=True)
    minimisers = "; ".join(f"{vector_text(m)} (f* = {fmt(f)})" for m, f in pairs)
    lines = [
        f"optimum    {minimisers or 'none'}  [{payload['reference']}]",
        f"verdict    {payload['verdict']}: {payload['verdict_reason']}",
        f"           {payload['verdict_message']}",
    ]
    if payload["upper_bound"] is not None:
        lines.append(
            f"bound      best point found {vector_text(payload['best_point'])}, "
            f"f = {fmt(payload['upper_bound'])} (an upper bound on min f, not a proved minimiser)"
        )
    falling = [str(i) for i, row in enumerate(payload["rows"], start=1) if row["standing"] == "falling"]
    if falling:
        rows = ", ".join(falling)
        lines.append(f"falling    rows {rows}: heading to -inf or to an infimum that is not attained")
    lines.append(f"reached    within tol_x = {fmt(payload['tol_x'])} of a reference minimiser, and stayed")
    return lines


# onestep -------------------------------------------------------------------------------------


def onestep_latex(demo: OneStepDemo) -> dict[str, str]:
    """LaTeX of source 000's f, f' and f''."""
    return {"f": sympy.latex(demo.f), "df": sympy.latex(demo.df), "d2f": sympy.latex(demo.d2f)}
