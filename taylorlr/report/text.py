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

import json
import math
from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

import sympy

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


def fmt(value: Any) -> str:
    """A float for people: 6 significant digits; None as "n/a".

    >>> fmt(1 / 3), fmt(None), fmt(float("inf")), fmt(2.0), fmt(-0.0)
    ('0.333333', 'n/a', 'inf', '2', '0')
    """
    return "n/a" if value is None else f"{value + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0


def vector_text(values: Sequence[Any]) -> str:
    """A vector as "(a, b)" (a single entry bare): strings as they are, numbers through :func:`fmt`.

    >>> vector_text([0.5, "1/3"]), vector_text([2.0])
    ('(0.5, 1/3)', '2')
    """
    shown = [v if isinstance(v, str) else fmt(v) for v in values]
    return shown[0] if len(shown) == 1 else "(" + ", ".join(shown) + ")"


def exact_or_float(floats: Sequence[float], exact: Sequence[str] | None) -> str:
    """A vector shown exactly when its exact form is known, with floats beside non-integers.

    >>> exact_or_float([0.5, 2.0], ["1/2", "2"]), exact_or_float([0.5, 1.0], None)
    ('(1/2, 2) ≈ (0.5, 2)', '(0.5, 1)')
    """
    if exact is None:
        return vector_text(floats)
    shown = vector_text(list(exact))
    return shown if all(_is_integer_text(e) for e in exact) else f"{shown} ≈ {vector_text(floats)}"


def number_text(value: float | None, exact: str | None = None) -> str:
    """A number shown exactly when its exact form is known, with its float beside a non-integer.

    >>> number_text(13.0, "13"), number_text(0.7071067811865476, "sqrt(2)/2"), number_text(0.25)
    ('13', 'sqrt(2)/2 ≈ 0.707107', '0.25')
    """
    if exact is None:
        return fmt(value)
    return exact if _is_integer_text(exact) else f"{exact} ≈ {fmt(value)}"


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
    lines += _more(len(points))
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
        f"  eigenvalues    {', '.join(map(fmt, data['eigenvalues']))}  (condition {fmt(data['condition'])}"
        f"{_ill_conditioned(data)})",
        f"  {eta_name:<14} {eta}",
        f"  step           {exact_or_float(data['step'], exact.get('step'))}",
        f"  new point      {exact_or_float(data['point'], exact.get('point'))}",
        f"  f before       {number_text(data['f_before'], exact.get('f_before'))}",
        f"  f after        {number_text(data['f_after'], exact.get('f_after'))}",
        f"  heads for      {data['curvature']}: {data['heads_for']}",
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
    from rich.table import Table

    table = Table(title=f"Newton iterations ({payload['method']})")
    for column in ("k", "start point", "f", "||g||", "curvature", "new point"):
        table.add_column(column, justify="right" if column in ("k", "f", "||g||") else "left")
    for k, step in enumerate(payload["steps"]):
        norm = math.sqrt(sum(g * g for g in step["gradient"]))
        table.add_row(
            str(k), vector_text(step["start"]), fmt(step["f_before"]), fmt(norm), step["curvature"],
            vector_text(step["point"]),
        )  # fmt: skip
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
    """The ``--latex`` block of a text report (nothing when LaTeX was not asked for)."""
    if not latex:
        return []
    return ["LaTeX"] + [f"  {name}: {text}" for name, text in latex.items()]


def points_latex(points: Sequence[CriticalPoint]) -> list[str]:
    """LaTeX of each critical point's coordinates (exact where known)."""
    return [sympy.latex(sympy.Tuple(*p.point)) for p in points]


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
    last = int(run.stopped_at)
    return {
        "expression": str(loss.expr),
        "variables": list(loss.names),
        **record,
        "final": {
            "status": record["status"][0],
            "message": run.messages()[0],
            "step": last,
            "point": record["points"][last],
            "loss": record["losses"][last],
            "grad_norm": record["grad_norms"][last],
            "alpha": record["alphas"][last],
        },
    }


def run_table(payload: dict[str, Any]) -> Any:
    """The iterations of a run as a rich table (the middle elided when long)."""
    from rich.table import Table

    table = Table(title=f"{payload['optimizer']} with the {payload['rule']} rule")
    for column in ("t", "loss", "||g||", "alpha", "oracle alpha"):
        table.add_column(column, justify="right")
    last = payload["final"]["step"]
    for t in _shown_steps(last):
        if t is None:
            table.add_row("...", "", "", "", "")
            continue
        oracle = payload["oracle_alphas"][t] if t < len(payload["oracle_alphas"]) else None
        table.add_row(
            str(t), fmt(payload["losses"][t]), fmt(payload["grad_norms"][t]), fmt(payload["alphas"][t]),
            fmt(oracle),
        )  # fmt: skip
    return table


def _shown_steps(last: int) -> list[int | None]:
    if last < 2 * RUN_TABLE_ENDS:
        return list(range(last + 1))
    return [*range(RUN_TABLE_ENDS), None, *range(last + 1 - RUN_TABLE_ENDS, last + 1)]


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
    ]


def comparison_data(loss: Loss, comparison: Comparison, settings: dict[str, Any]) -> dict[str, Any]:
    """A comparison as JSON-ready data: the loss, the settings, the reference and its verdict, the rows."""
    return {
        "expression": str(loss.expr),
        "variables": list(loss.names),
        "settings": settings,
        **comparison.to_dict(),
    }


COMPARISON_COLUMNS = (
    "#", "rule", "optimizer", "status", "steps to tol", "final f", "final gap", "distance", "alpha error",
    "evaluations",
)  # fmt: skip


def comparison_table(payload: dict[str, Any]) -> Any:
    """The ranked comparison as a rich table, best first ("alpha error" is the mean relative error
    of the alphas used against the line-search oracle's; "-" where there is nothing to measure from)."""
    from rich.table import Table

    against = "the global minimum" if payload["verdict"] == "global minimum (proved)" else "the reference"
    table = Table(title=f"every rule x optimizer against {against} (best first)")
    for column in COMPARISON_COLUMNS:
        text = column in ("rule", "optimizer", "status")
        table.add_column(column, justify="left" if text else "right", no_wrap=True)
    for rank, row in enumerate(payload["rows"], start=1):
        reached = row["iterations_to_tol"]
        table.add_row(
            str(rank), row["rule"], row["optimizer"], row["status"],
            "never" if reached is None else str(reached), fmt(row["final_value"]),
            _measured(row["final_gap"]), _measured(row["distance"]), fmt(row["alpha_error_mean"]),
            str(sum(row["evaluations"].values())),
        )  # fmt: skip
    return table


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
