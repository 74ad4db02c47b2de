"""The ``taylorlr`` command line.

Built on click (small, well kept, already a dependency of much of the
scientific stack). Exit codes: 0 success, 2 bad input (a parse error with a
caret under the fault, an unknown option), 3 a mathematical failure the user
asked to be an error. No traceback reaches a user.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from .errors import ParseError, TaylorLRError

EXIT_BAD_INPUT = 2
EXIT_MATH_FAILURE = 3

_SOLVE_EXAMPLE = """
\b
Example:
  taylorlr solve "x**2 + 3*x*y**2"
  taylorlr solve "x^2 + 3*x*y^2" --json
  taylorlr solve "(w*x - y)**2" --vars w --data x,y --latex
"""


def _split_names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(name.strip() for name in text.split(",") if name.strip())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taylorlr")
def cli() -> None:
    """taylorlr: exact second-order knowledge and fast numbers for analytic losses.

    \b
    Example:
      taylorlr solve "x**2 + 3*x*y**2"
    """


@cli.command(epilog=_SOLVE_EXAMPLE)
@click.argument("expression")
@click.option(
    "--vars", "variables", help="Variables in order, comma-separated (default: all, natural order)."
)
@click.option("--data", "data", help="Data symbols, comma-separated (minibatch inputs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (schema in docs/cli.md).")
@click.option("--latex", is_flag=True, help="Print LaTeX for the symbolic parts.")
def solve(expression: str, variables: str | None, data: str | None, as_json: bool, latex: bool) -> None:
    """Differentiate EXPRESSION exactly: variables, gradient and Hessian."""
    from .loss import Loss
    from .report import symbolic_latex, symbolic_summary, symbolic_text

    loss = Loss(expression, variables=_split_names(variables), data=_split_names(data) or ())
    if as_json:
        payload = symbolic_summary(loss)
        if latex:
            payload["latex"] = symbolic_latex(loss)
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo("\n".join(symbolic_text(loss)))
    if latex:
        click.echo("LaTeX")
        for name, text in symbolic_latex(loss).items():
            click.echo(f"  {name}: {text}")


def _run_guarded(command: Callable[[], Any]) -> None:
    try:
        command()
    except ParseError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except TaylorLRError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(getattr(error, "exit_code", EXIT_BAD_INPUT))
    except RecursionError:
        click.echo("error: the expression is too deeply nested", err=True)
        sys.exit(EXIT_BAD_INPUT)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``taylorlr`` console script and ``python -m taylorlr``."""
    _run_guarded(lambda: cli.main(args=argv, prog_name="taylorlr", standalone_mode=True))
