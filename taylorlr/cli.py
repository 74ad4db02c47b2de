"""The ``taylorlr`` command line.

Built on click (small, well kept, already a dependency of much of the
scientific stack); tables and the progress bar come from rich. Exit codes: 0
success, 1 an internal error (a bug: please report it), 2 bad input (a parse
error with a caret under the fault, an unknown option, a bad ``--at``, a value
out of range, a plot that cannot be written), 3 a mathematical failure the user
asked to be an error (``--strict``), 130 interrupted, 141 stdout closed early
(``| head``: the command stops quietly). No traceback reaches a user (set
``TAYLORLR_DEBUG=1`` to see one for an internal error). Every option is checked
before any work; under ``--json`` stdout holds exactly one JSON object, an error
included (``{"error": ..., "exit_code": ...}``).

The CLI must start fast: this module imports only click at import time; SymPy,
NumPy and rich are imported by the commands that need them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

import click

from taylorlr import __version__
from taylorlr.errors import MissingDependencyError, OptionError, ParseError, TaylorLRError

if TYPE_CHECKING:
    import sympy

    from taylorlr.loss import Loss
    from taylorlr.numerics.newton import NewtonStep
    from taylorlr.solution import ExactNewtonStep

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_MATH_FAILURE = 3
EXIT_INTERRUPTED = 130
#: stdout was closed by its reader (``taylorlr solve ... | head``): 128 + SIGPIPE, as shells report
EXIT_CLOSED_PIPE = 141
#: the largest magnitude float64 holds (numbers beyond it are refused at the boundary)
FLOAT64_MAX = sys.float_info.max
#: the longest --budget accepted, in seconds (about 11.6 days)
BUDGET_MAX = 1e6
#: set this environment variable to see the traceback of an internal error
DEBUG_ENV = "TAYLORLR_DEBUG"


class StrictFailure(TaylorLRError):
    """A mathematical failure that ``--strict`` turned into an error (exit 3)."""

    exit_code = EXIT_MATH_FAILURE


# reading the user's text ------------------------------------------------------------------------


def split_top_level(text: str, separator: str = ",") -> list[tuple[int, str]]:
    """Split at separators outside parentheses, keeping each piece's offset in ``text``.

    >>> split_top_level("x=1, y=atan2(1, 2)")
    [(0, 'x=1'), (4, ' y=atan2(1, 2)')]
    """
    pieces, depth, start = [], 0, 0
    for index, character in enumerate(text):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == separator and depth == 0:
            pieces.append((start, text[start:index]))
            start = index + 1
    return [*pieces, (start, text[start:])]


def parse_number(text: str, *, whole: str | None = None, offset: int = 0) -> sympy.Expr:
    """An exact number from text, through the safe parser (never ``eval``).

    Args:
        text: the number, e.g. "1/3", "-2.5", "pi/4", "sqrt(2)".
        whole, offset: the text the number was cut from and where, so that a
            :class:`~taylorlr.ParseError` points its caret into the whole text.

    Raises:
        ParseError: the text is not a number.

    >>> parse_number("0.1 + 1/3")
    13/30
    """
    from taylorlr.symbolic.parse import parse

    whole = text if whole is None else whole
    try:
        value = parse(text)
    except ParseError as error:
        raise ParseError(error.reason, text=whole, column=offset + error.column) from None
    if value.free_symbols:
        names = ", ".join(sorted(str(s) for s in value.free_symbols))
        raise ParseError(
            f"{text.strip()!r} is not a number (unknown name {names})", text=whole, column=offset
        )
    if not _finite_real(value):
        raise ParseError(
            f"{text.strip()!r} is not a finite real number (float64 holds magnitudes up to 1.8e308)",
            text=whole,
            column=offset,
        )
    return value


def _finite_real(value: sympy.Expr) -> bool:
    """Whether an exact number is real and within float64's range (1e999 and I are not)."""
    if value.is_real is not True:
        return False
    try:
        return math.isfinite(float(value))
    except (OverflowError, TypeError, ValueError):
        return False


def parse_point(text: str) -> dict[str, sympy.Expr]:
    """``--at`` text such as "x=1, y=-1/2" as a mapping of names to exact numbers.

    >>> parse_point("x=1, y=-1/2")
    {'x': 1, 'y': -1/2}
    """
    point: dict[str, sympy.Expr] = {}
    for start, piece in split_top_level(text):
        name, equals, value = piece.partition("=")
        if not equals or not name.strip().isidentifier():
            raise ParseError(
                "expected name=value", text=text, column=start + len(piece) - len(piece.lstrip())
            )
        if name.strip() in point:
            raise ParseError(f"{name.strip()!r} is given twice", text=text, column=start)
        column = start + len(name) + 1 + len(value) - len(value.lstrip())
        point[name.strip()] = parse_number(value, whole=text, offset=column)
    return point


class _TextParam(click.ParamType):
    """A click type that reads text with a parser and turns a ParseError into a usage error (exit 2)."""

    def __init__(self, name: str, read: Callable[[str], Any]) -> None:
        self.name = name
        self.read = read

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.read(value)
        except ParseError as error:
            self.fail(f"{error}", param, ctx)


POINT = _TextParam("x=1,y=2", parse_point)
NUMBER = _TextParam("number", parse_number)


class Real(click.ParamType):
    """A finite float in an interval; nan, inf and values outside it are usage errors naming the interval.

    >>> Real(0, 1, low_open=True).interval()
    '(0, 1]'
    >>> Real(0).convert("1e-3", None, None)
    0.001
    """

    name = "float"

    def __init__(
        self,
        low: float | None = None,
        high: float | None = None,
        *,
        low_open: bool = False,
        high_open: bool = False,
    ) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def interval(self) -> str:
        left = "(-inf" if self.low is None else f"{'(' if self.low_open else '['}{self.low:g}"
        right = "inf)" if self.high is None else f"{self.high:g}{')' if self.high_open else ']'}"
        return f"{left}, {right}"

    def contains(self, number: float) -> bool:
        above = self.low is None or (number > self.low if self.low_open else number >= self.low)
        below = self.high is None or (number < self.high if self.high_open else number <= self.high)
        return above and below

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number: give one in {self.interval()}", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number: give one in {self.interval()}", param, ctx)
        if not self.contains(number):
            self.fail(f"{value!r} is out of range: give a number in {self.interval()}", param, ctx)
        return number


def one_point(ctx: click.Context, param: click.Parameter, values: tuple[Any, ...]) -> Any:
    """The one --at given (click would keep only the last of several, silently)."""
    if len(values) > 1:
        raise click.BadParameter(
            f"given {len(values)} times: give every coordinate in one --at, e.g. --at x=1,y=2", ctx, param
        )
    return values[0] if values else None


def plot_formats() -> tuple[str, ...]:
    """The file extensions matplotlib can write (png, pdf, svg, ...); matplotlib loads now."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError as error:
        from taylorlr.report.plots import INSTALL_HINT

        raise MissingDependencyError(INSTALL_HINT) from error
    return tuple(sorted(FigureCanvasBase.get_supported_filetypes()))


def plot_path_problem(path: str) -> str | None:
    """Why a figure cannot be written to ``path`` (empty, no or unknown extension, not writable), or None.

    Nothing is left behind: writability is probed with a scratch file that is removed at once.
    """
    from pathlib import Path

    if not path.strip():
        return "the file name is empty"
    formats = plot_formats()
    extension = Path(path).suffix.lstrip(".").lower()
    if extension not in formats:
        given = "has no extension" if not extension else f"has the extension .{extension}"
        return f"{path!r} {given}, which matplotlib cannot write: use one of {', '.join(formats)}"
    return write_problem(path)


def write_problem(path: str) -> str | None:
    """Why a file cannot be written to ``path`` (empty, not a regular file, no folder, not writable), or None.

    Nothing is left behind: writability is probed with a scratch file that is removed at once.
    """
    import tempfile
    from pathlib import Path

    if not path.strip():
        return "the file name is empty"
    target = Path(path)
    if target.exists() and not target.is_file():
        return f"{path!r} exists and is not a regular file"
    if not target.parent.is_dir():
        return f"cannot write {path}: the folder {target.parent} does not exist"
    try:
        if target.exists():
            open(target, "ab").close()  # appends nothing: the file is unchanged
        else:
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".taylorlr-probe-"):
                pass
    except OSError as error:
        return f"cannot write {path}: {error.strerror or error}"
    return None


class PlotFile(click.ParamType):
    """--plot FILE: a path matplotlib can write, checked before any work."""

    name = "file"
    check = staticmethod(plot_path_problem)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        problem = self.check(value) if isinstance(value, str) else None
        if problem:
            self.fail(problem, param, ctx)
        return value


class OutputFile(PlotFile):
    """--csv FILE: a path a file can be written to, checked before any work."""

    check = staticmethod(write_problem)


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: into a scratch file beside it, then renamed over it.

    A failure (the disk is full, ...) leaves ``path`` as it was (absent, or its old content).

    Raises:
        OptionError: ``path`` cannot be written, with the reason.
    """
    import tempfile
    from pathlib import Path

    target = Path(path)
    scratch = None
    try:
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".taylorlr-", delete=False) as file:
            scratch = Path(file.name)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if target.exists():
            os.chmod(scratch, target.stat().st_mode & 0o7777)
        else:
            os.chmod(scratch, 0o666 & ~_umask())
        os.replace(scratch, target)
    except OSError as error:
        if scratch is not None:
            scratch.unlink(missing_ok=True)
        raise OptionError(f"cannot write {path}: {error.strerror or error}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class RegistryName(click.ParamType):
    """A name (or comma-separated names) from a registry of the library, looked up only when used.

    Importing the registries at start-up would slow every command down, ``solve`` included.
    """

    def __init__(self, module: str, registry: str, *, many: bool = False) -> None:
        self.module, self.registry, self.many = module, registry, many
        self.name = registry.lower()

    def names(self) -> tuple[str, ...]:
        return tuple(getattr(import_module(f"taylorlr.{self.module}"), self.registry))

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        shown = "|".join(self.names())
        return f"[{shown}],..." if self.many else f"[{shown}]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        spelled = {name.lower(): name for name in self.names()}
        given = tuple(v.strip() for v in value.split(",")) if self.many else (value.strip(),)
        chosen = tuple(spelled.get(v.lower(), v) for v in given)
        unknown = [v for v in chosen if v not in self.names()]
        if unknown:
            from taylorlr.alpha._names import suggestion

            hint = suggestion(unknown[0], self.names())
            self.fail(f"unknown {unknown[0]!r}{hint}: use one of {', '.join(self.names())}", param, ctx)
        return chosen if self.many else chosen[0]


def split_names(text: str | None) -> tuple[str, ...] | None:
    """ "x, y" as ("x", "y"); None stays None."""
    if text is None:
        return None
    return tuple(name.strip() for name in text.split(",") if name.strip())


# output ----------------------------------------------------------------------------------------


def emit(payload: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], list[Any]]) -> None:
    """Print a command's payload: as JSON, or as the text (lines and rich tables) ``render`` makes of it."""
    from taylorlr.report.text import schema_name, to_json

    if as_json:
        ctx = click.get_current_context()
        record = {"schema": schema_name(ctx.info_name or "taylorlr"), **payload}
        group = ctx.find_root().command
        if isinstance(group, GuardedGroup):
            group.held = record  # printed when the command ends: merged with an error if it fails
        else:
            click.echo(to_json(record))
        return
    width = output_width()
    for block in render(payload):
        if isinstance(block, str):
            for line in wrapped(block, width):
                click.echo(line)
        else:
            _console().print(block)


def output_width() -> int | None:
    """The width text and tables are fitted to: $COLUMNS when set, else the terminal's, else None
    (not a terminal: nothing is wrapped, and tables are as wide as they need)."""
    import shutil

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def wrapped(line: str, width: int | None) -> list[str]:
    """A line of text wrapped to ``width`` between words (never inside a number or a word), continuation
    lines indented under the text after a label ("verdict    global ..." continues under "global"),
    or two more than an indented line.

    >>> wrapped("verdict    aa bb cc dd ee ff", 22)
    ['verdict    aa bb cc dd', '           ee ff']
    >>> wrapped("  (x, y) = (1, 2): minimum", 16)
    ['  (x, y) = (1,', '    2): minimum']
    """
    import re
    import textwrap

    if width is None or len(line) <= width:
        return [line]
    lead = len(line) - len(line.lstrip())
    label = re.match(r"^\S+(?: \S+)?\s{2,}", line) if not lead else None
    indent = " " * min(len(label.group(0)) if label else lead + 2, width // 2)
    return textwrap.wrap(
        line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def _console(stderr: bool = False) -> Any:
    """A rich console on stdout (or stderr), as wide as :func:`output_width` (200 when not a terminal)."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    console.width = output_width() or 200
    return console


@contextlib.contextmanager
def progress(total: int, label: str, enabled: bool) -> Iterator[Callable[[], None]]:
    """A rich progress bar on stderr; yields the function that advances it by one."""
    if not enabled:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def save_plot(path: str, function: str, *subjects: Any, **options: Any) -> None:
    """Draw ``subjects`` with ``taylorlr.report.plots.<function>`` (a Figure) into ``path`` (matplotlib
    loads now).

    The figure is written in a scratch folder and then renamed over ``path``, so a drawing that
    fails leaves nothing at ``path``; the commands save before they print, so an error is never
    preceded by a report.

    Raises:
        OptionError: ``path`` cannot be written (the disk is full, ...).
    """
    import tempfile
    from pathlib import Path

    from taylorlr.report import plots

    figure = getattr(plots, function)(*subjects, **options)
    with tempfile.TemporaryDirectory() as scratch:
        data = plots.save(figure, Path(scratch) / f"plot{Path(path).suffix}").read_bytes()
    write_atomically(path, data)
    click.echo(f"plot written to {path}", err=True)


def save_csv(path: str, columns: dict[str, list[Any]]) -> None:
    """Write a record's columns (``Run.records``, ``Comparison.records``) as CSV, whole or not at all."""
    from taylorlr.report.export import csv_text

    write_atomically(path, csv_text(columns).encode())
    click.echo(f"table written to {path}", err=True)


def check_plot(loss: Loss, plot: str | None) -> None:
    """Before any work: --plot draws f (a curve in 1-D, contours in 2-D, a plane through n-D), which
    needs numbers for every symbol: no data symbols."""
    if plot and loss.data:
        why = f"a figure of f cannot show data symbols ({', '.join(loss.names_of(loss.data))})"
        raise click.BadParameter(why, param_hint="'--plot'")


def check_domain(loss: Loss, at: dict[str, Any], backend: str, dtype: str) -> None:
    """Before any work: f, its gradient and its Hessian must be finite at --at (PointError, exit 2)."""
    from taylorlr.numerics.newton import newton_step

    newton_step(loss, at, fallback="pinv", throw=True, backend=backend, dtype=dtype)


def progress_wanted(as_json: bool) -> bool:
    """A progress bar only for a person watching a terminal, never beside ``--json``."""
    return not as_json and sys.stderr.isatty()


# error handling ------------------------------------------------------------------------------


class CommandError(click.ClickException):
    """How a command ends on an error: ``error: message`` on stderr and its exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _PipeClosed(Exception):
    """stdout's reader went away (not an OSError, so that click does not handle it on its own)."""


def wants_json(arguments: Sequence[str]) -> bool:
    """Whether --json was given (before a ``--``, after which words are EXPRESSIONs)."""
    head = arguments[: arguments.index("--")] if "--" in arguments else arguments
    return "--json" in head


def error_record(error: click.ClickException, held: dict[str, Any] | None) -> str:
    """The one JSON object of a failed command: its result (--strict) or nothing, with the error."""
    record = {"error": error.format_message(), "exit_code": error.exit_code}
    if held is None:
        return json.dumps({"schema": "taylorlr.error/1", **record}, indent=2)
    from taylorlr.report.text import to_json

    return to_json({**held, **record})


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush cannot fail loudly."""
    # not a real file (a test runner's buffer): nothing will flush into a closed pipe
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class GuardedGroup(click.Group):
    """A click group that turns every error into a message and an exit code, never a traceback.

    Under ``--json`` a command's result is held (``held``) and printed when the command ends,
    so that stdout holds one JSON object whatever happens.
    """

    held: dict[str, Any] | None = None

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        arguments = list(sys.argv[1:] if args is None else args)
        self.held = None
        try:
            code = self._run(arguments, prog_name, complete_var, **extra)
            sys.stdout.flush()
        except (_PipeClosed, BrokenPipeError):
            _silence_stdout()
            code = EXIT_CLOSED_PIPE
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self, arguments: list[str], prog_name: str | None, complete_var: str | None, **extra: Any
    ) -> int:
        as_json = wants_json(arguments)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a status says what went non-finite
                warnings.showwarning = _warning_line  # a warning for the user: one line, no source
                code = super().main(arguments, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            if as_json:
                click.echo(error_record(error, self.held))
            error.show()
            return error.exit_code
        except click.exceptions.Abort:
            return self._run_failed(CommandError("interrupted", EXIT_INTERRUPTED), as_json)
        except _PipeClosed:
            raise
        except Exception as error:  # outside any command (click itself)
            if os.environ.get(DEBUG_ENV):
                raise
            return self._run_failed(CommandError(internal_error_message(error), EXIT_INTERNAL), as_json)
        if self.held is not None:
            from taylorlr.report.text import to_json

            click.echo(to_json(self.held))
        return code if isinstance(code, int) else 0

    def _run_failed(self, error: CommandError, as_json: bool) -> int:
        if as_json:
            click.echo(error_record(error, None))
        error.show()
        return error.exit_code

    def invoke(self, ctx: click.Context) -> Any:
        from taylorlr._budget import option_named

        try:
            with option_named("--budget"):  # a budget message names the option the user can raise
                return super().invoke(ctx)
        except click.exceptions.NoSuchOption as error:
            if error.option_name.startswith("--"):
                raise
            # most likely a negative EXPRESSION: say how to pass it
            hint = ' (an EXPRESSION that starts with "-" goes after "--": solve -- "-x**2")'
            raise click.UsageError(error.format_message() + hint, error.ctx) from error
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            raise _PipeClosed from None
        except TaylorLRError as error:
            raise CommandError(str(error), getattr(error, "exit_code", EXIT_BAD_INPUT)) from error
        except RecursionError as error:
            raise CommandError("the expression is too deeply nested", EXIT_BAD_INPUT) from error
        except Exception as error:
            if os.environ.get(DEBUG_ENV):
                raise
            raise CommandError(internal_error_message(error), EXIT_INTERNAL) from error


def _warning_line(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Show a warning as one ``warning: ...`` line on stderr (not Python's file:line form)."""
    click.echo(f"warning: {message}", err=True)


def internal_error_message(error: Exception) -> str:
    """What a user sees instead of a traceback when taylorlr itself fails."""
    return f"internal error: {type(error).__name__}: {error}, please report (rerun with {DEBUG_ENV}=1)"


# shared options ------------------------------------------------------------------------------


def _compose(*decorators: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(function: Any) -> Any:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def expression_options(at: str | None) -> Callable[[Any], Any]:
    """EXPRESSION, --vars and (``at`` = "required" or "optional") --at."""
    decorators = [
        click.argument("expression"),
        click.option(
            "--vars", "variables", help="Variables in order, comma-separated (default: all, natural order)."
        ),
    ]
    if at is not None:
        decorators.append(
            click.option(
                "--at",
                type=POINT,
                multiple=True,
                required=at == "required",
                callback=one_point,
                help="The point, e.g. x=1,y=-1/2 (exact numbers; pi, sqrt(2) allowed); given once.",
            )
        )
    return _compose(*decorators)


def output_options(
    *, latex: bool = False, plot: str | None = None, csv: str | None = None
) -> Callable[[Any], Any]:
    """--json, and where they make sense --latex, --plot FILE and --csv FILE."""
    decorators = [
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object (schema in docs/cli.md).")
    ]
    if latex:
        decorators.append(
            click.option("--latex", is_flag=True, help="Also print LaTeX of the symbolic parts.")
        )
    if plot:
        decorators.append(
            click.option(
                "--plot",
                type=PlotFile(),
                help=f"Write {plot} to this file (png, pdf, svg, ...: the extension names the format).",
            )
        )
    if csv:
        decorators.append(
            click.option(
                "--csv", "csv_path", type=OutputFile(), help=f"Also write {csv} as CSV to this file."
            )
        )
    return _compose(*decorators)


numeric_options = _compose(
    click.option(
        "--backend", type=click.Choice(["numpy", "cupy"]), default="numpy", show_default=True,
        help="Array library for the numeric parts.",
    ),
    click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True),
)  # fmt: skip

exact_option = click.option(
    "--exact", "full_exact", is_flag=True,
    help="Print long exact values (algebraic roots) whole; by default they are folded behind their decimals.",
)  # fmt: skip


def show_exact(exact: bool) -> None:
    """--exact: the text prints long exact forms whole (--json always holds them)."""
    from taylorlr.report.text import FULL_EXACT

    FULL_EXACT.set(exact)


fallback_option = click.option(
    "--fallback", type=click.Choice(["pinv", "damped"]), help="Step anyway where H is singular."
)

run_options = _compose(
    click.option(
        "--alpha0", type=Real(0, low_open=True), default=1e-2, show_default=True,
        help="The first alpha, in (0, inf).",
    ),
    click.option(
        "--gamma", type=Real(0, 1, low_open=True), default=1.0, show_default=True,
        help="Slow adaptation, in (0, 1].",
    ),
    click.option(
        "--steps", type=click.IntRange(min=0), default=200, show_default=True, help="The step budget."
    ),
    click.option(
        "--tol", type=Real(0), default=1e-8, show_default=True,
        help="Gradient norm for 'converged', in [0, inf).",
    ),
    click.option(
        "--safeguards", type=click.Choice(["default", "none"]), default="default", show_default=True,
        help="'none' runs the pure formula of the source document.",
    ),
)  # fmt: skip


def make_loss(expression: str, variables: str | None, data: str | None = None) -> Loss:
    """The :class:`~taylorlr.Loss` of a command's EXPRESSION, --vars and --data."""
    from taylorlr.loss import Loss

    return Loss(expression, variables=split_names(variables), data=split_names(data) or ())


def run_settings(
    *, alpha0: float, gamma: float, steps: int, tol: float, safeguards: str, backend: str, dtype: str
) -> dict[str, Any]:
    """The keyword options of :func:`taylorlr.run` given on the command line."""
    return {
        "alpha0": alpha0, "gamma": gamma, "steps": steps, "tol": tol, "safeguards": safeguards,
        "backend": backend, "dtype": dtype,
    }  # fmt: skip


# the commands ----------------------------------------------------------------------------------


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="taylorlr")
def cli() -> None:
    """taylorlr: exact second-order knowledge and fast numbers for analytic losses.

    \b
    Example:
      taylorlr solve "x**2 + 3*x*y**2"
      (one critical point (0, 0): a degenerate saddle; f is unbounded below)
      taylorlr solve "x**2 + 3*x*y**2" --at x=1,y=2
      taylorlr compare "(x - 1)**2 + 4*y**2" --at x=0,y=1

    Exit codes: 0 success, 1 internal error, 2 bad input, 3 failure under --strict,
    130 interrupted, 141 stdout closed early (| head).
    """


_SOLVE_EXAMPLE = """
\b
Example:
  taylorlr solve "x**2 + 3*x*y**2"
  taylorlr solve "x^2 + 3*x*y^2" --at x=1,y=2 --json
  taylorlr solve "(w*x - y)**2" --vars w --data x,y --latex
"""


@cli.command(epilog=_SOLVE_EXAMPLE)
@expression_options(at="optional")
@click.option("--data", "data", help="Data symbols, comma-separated (minibatch inputs).")
@click.option(
    "--budget", type=Real(0, BUDGET_MAX, low_open=True), default=10.0, show_default=True,
    help=f"Seconds for the critical points (the exact solve stops there: numeric points) and for "
    f"the exact Newton step, each; in (0, {BUDGET_MAX:g}].",
)  # fmt: skip
@fallback_option
@click.option("--strict", is_flag=True, help="Exit 3 when the Hessian at --at is singular (no --fallback).")
@output_options(latex=True, plot="f with its critical points (a curve, contours, or a plane through n-D)")
@exact_option
@numeric_options
def solve(
    expression: str,
    variables: str | None,
    at: dict[str, Any] | None,
    data: str | None,
    budget: float,
    fallback: str | None,
    strict: bool,
    as_json: bool,
    latex: bool,
    plot: str | None,
    full_exact: bool,
    backend: str,
    dtype: str,
) -> None:
    """Analyse EXPRESSION: derivatives, critical points, boundedness and, with --at, a Newton step.

    Prints, in order: the variables; gradient; Hessian; the critical points with
    kind, eigenvalues and whether exact; the degenerate ones and what settled them;
    whether f is bounded below (with the evidence); and with --at one Newton step
    from there and the second-order step-size bounds at that point.
    """
    from taylorlr.report.text import solve_latex, solve_lines
    from taylorlr.solution import solve as analyse

    loss = make_loss(expression, variables, data)
    check_plot(loss, plot)
    show_exact(full_exact)
    solution = analyse(loss, at, budget=budget, fallback=fallback, backend=backend, dtype=dtype)
    payload = solution.to_dict()
    if latex:
        payload["latex"] = solve_latex(solution)
    if plot:
        save_plot(plot, "plot_loss", loss, critical_points=solution.critical_points, at=at)
    emit(payload, as_json, solve_lines)
    if strict and at is not None:
        check_regular([payload["newton"]], fallback)


def _exact_start(loss: Loss, at: dict[str, Any]) -> tuple[sympy.Expr, ...]:
    from taylorlr.symbolic.points import exact_point

    return exact_point(at, loss.variables)


def step_data(
    loss: Loss, step: NewtonStep, exact: ExactNewtonStep | None, backend: str, dtype: str
) -> dict[str, Any]:
    """One step's JSON-ready data, with f evaluated before and after it."""
    from taylorlr.solution import newton_report

    return newton_report(loss, step, exact, backend, dtype).to_dict()


def check_regular(steps: list[dict[str, Any]], fallback: str | None) -> None:
    """Under --strict: raise :class:`StrictFailure` if a step met a singular Hessian without a fallback."""
    singular = next((s for s in steps if s["curvature"] == "singular"), None)
    if singular is not None and fallback is None:
        raise StrictFailure(
            f"the Hessian is singular at {singular['start']} (eigenvalues {singular['eigenvalues']}): "
            "no Newton step exists (--strict); pass --fallback pinv or --fallback damped to step anyway"
        )


def budget_option(default: float, stage: str) -> Callable[[Any], Any]:
    """``--budget SECONDS`` for a command whose ``stage`` can grow (BudgetExceededError, exit 2)."""
    return click.option(
        "--budget", type=Real(0, BUDGET_MAX, low_open=True), default=default, show_default=True,
        help=f"Seconds for {stage}, in (0, {BUDGET_MAX:g}]; past them it stops with an error (exit 2).",
    )  # fmt: skip


_NEWTON_EXAMPLE = """
\b
Example:
  taylorlr newton "x**2 + 3*x*y**2" --at x=1,y=2
  taylorlr newton "x**4 - 2*x**2" --at x=2 --steps 10 --method halley
  taylorlr newton "x**2 + y**4" --at x=0,y=0 --strict      (exit 3: singular Hessian)
"""


@cli.command(epilog=_NEWTON_EXAMPLE)
@expression_options(at="required")
@click.option("--steps", type=click.IntRange(min=1), default=1, show_default=True, help="Newton steps.")
@click.option(
    "--tol", type=Real(0), default=1e-10, show_default=True, help="Stop when ||g|| <= tol, in [0, inf)."
)
@click.option(
    "--method", type=click.Choice(["newton", "halley", "chebyshev"]), default="newton", show_default=True
)
@fallback_option
@click.option("--strict", is_flag=True, help="Exit 3 when a singular Hessian stops a step (no --fallback).")
@budget_option(30.0, "the exact Newton step")
@output_options()
@exact_option
@numeric_options
def newton(
    expression: str,
    variables: str | None,
    at: dict[str, Any],
    steps: int,
    tol: float,
    method: str,
    fallback: str | None,
    strict: bool,
    budget: float,
    as_json: bool,
    full_exact: bool,
    backend: str,
    dtype: str,
) -> None:
    """Newton steps from --at: eta, the new point, f before and after, and what H's eigenvalues say."""
    show_exact(full_exact)
    from taylorlr.numerics.newton import newton as iterate
    from taylorlr.report.text import newton_run_data
    from taylorlr.solution import exact_newton_step

    loss = make_loss(expression, variables)
    check_domain(loss, at, backend, dtype)
    run = iterate(
        loss, at, steps=steps, tol=tol, fallback=fallback, method=method, backend=backend, dtype=dtype
    )
    exact = exact_newton_step(loss, _exact_start(loss, at), budget_s=budget) if method == "newton" else None
    records = [step_data(loss, s, exact if k == 0 else None, backend, dtype) for k, s in enumerate(run.steps)]
    payload = {"expression": str(loss.expr), "variables": list(loss.names), **newton_run_data(run, records)}
    emit(payload, as_json, newton_blocks)
    if strict:
        check_regular(records, fallback)


def newton_blocks(payload: dict[str, Any]) -> list[Any]:
    """One step in detail, or a table of the iterations, then the status."""
    from taylorlr.report.text import newton_step_lines, newton_tables, point_label, vector_text

    steps = payload["steps"]
    body = (
        newton_step_lines(steps[0], payload["variables"])
        if len(steps) == 1
        else newton_tables(payload, output_width())
    )
    status = (
        f"status  {payload['status']} after {payload['iterations']} step(s) at "
        f"{point_label(payload['variables'])} = {vector_text(payload['point'])}"
    )
    return [*body, status]


_TAYLOR_EXAMPLE = """
\b
Example:
  taylorlr taylor "x**2 + 3*x*y**2" --at x=1,y=2 --order 2
  taylorlr taylor "exp(x)*cos(y)" --at x=0,y=0 --order 3 --latex
"""


@cli.command(epilog=_TAYLOR_EXAMPLE)
@expression_options(at="required")
@click.option("--order", type=click.IntRange(0, 50), default=2, show_default=True, help="Polynomial degree.")
@budget_option(60.0, "the Taylor polynomial")
@output_options(latex=True)
@numeric_options
def taylor(
    expression: str,
    variables: str | None,
    at: dict[str, Any],
    order: int,
    budget: float,
    as_json: bool,
    latex: bool,
    backend: str,
    dtype: str,
) -> None:
    """The Taylor polynomial of EXPRESSION at --at, exactly (--backend/--dtype change nothing here)."""
    import sympy

    from taylorlr.report.text import taylor_data, taylor_lines

    loss = make_loss(expression, variables)
    polynomial = loss.taylor(at, order=order, budget_s=budget)
    payload = taylor_data(loss, _exact_start(loss, at), order, polynomial)
    if latex:
        payload["latex"] = {"taylor": sympy.latex(polynomial)}
    emit(payload, as_json, taylor_lines)


_RUN_EXAMPLE = """
\b
Example:
  taylorlr run "x**2 + 10*y**2" --at x=1,y=1 --optimizer adam --rule retsinas
  taylorlr run "x**2 + 10*y**2" --at x=1,y=1 --rule exact --gamma 1 --safeguards none --json
  taylorlr run "(x-1)**2 + 100*(y-x**2)**2" --at x=-1,y=1 --steps 50 --strict   (exit 3 unless 'converged')
"""


@cli.command("run", epilog=_RUN_EXAMPLE)
@expression_options(at="required")
@click.option(
    "--optimizer", type=RegistryName("alpha.optimizers", "OPTIMIZERS"), default="gd", show_default=True
)
@click.option("--rule", type=RegistryName("alpha.rules", "RULES"), default="exact", show_default=True)
@run_options
@click.option(
    "--strict", is_flag=True, help="Exit 3 unless the run ended 'converged' (not a saddle, maximum, ...)."
)
@output_options(
    plot="the loss and alpha against the step",
    csv="one row per step (t, the point, f, ||g||, alpha_t, the oracle's alpha*_t, status)",
)
@numeric_options
def run_command(
    expression: str,
    variables: str | None,
    at: dict[str, Any],
    optimizer: str,
    rule: str,
    strict: bool,
    as_json: bool,
    plot: str | None,
    csv_path: str | None,
    **options: Any,
) -> None:
    """Run an optimizer with an alpha rule from --at, the line-search oracle's alpha beside it."""
    from taylorlr.alpha.engine import run
    from taylorlr.report.text import run_data, run_lines, run_tables

    loss = make_loss(expression, variables)
    settings = run_settings(**options)
    result = run(loss, at, optimizer, rule, **settings)
    payload = run_data(loss, result)
    if plot:
        save_plot(plot, "plot_run", result)
    if csv_path:
        save_csv(csv_path, result.records(variables=loss.names))
    emit(payload, as_json, lambda data: [*run_tables(data, output_width()), *run_lines(data)])
    if strict and payload["final"]["status"] != "converged":
        raise StrictFailure(f"the run did not end 'converged' (--strict): {payload['final']['message']}")


_COMPARE_EXAMPLE = """
\b
Example:
  taylorlr compare "(x - 1)**2 + 4*y**2" --at x=0,y=1
  taylorlr compare "x**4 + y**2 - x*y" --at x=1,y=1 --rules exact,retsinas --optimizers gd,adam --json
"""


@cli.command(epilog=_COMPARE_EXAMPLE)
@expression_options(at="required")
@click.option(
    "--rules", type=RegistryName("alpha.rules", "RULES", many=True), help="Default: all seven rules."
)
@click.option(
    "--optimizers",
    type=RegistryName("alpha.optimizers", "OPTIMIZERS", many=True),
    help="Default: gd, momentum, adam.",
)
@click.option(
    "--tol-x", type=Real(0), default=1e-6, show_default=True,
    help="Distance that counts as reached, in [0, inf).",
)  # fmt: skip
@click.option(
    "--budget", type=Real(0, BUDGET_MAX, low_open=True), default=30.0, show_default=True,
    help="Seconds for the critical points behind the reference optimum; past them the exact solve "
    "stops and the reference rests on the numeric points (the verdict says what is proved).",
)  # fmt: skip
@run_options
@output_options(
    plot="f with the runs' paths, and each run's gap to f* (the best runs in colour)",
    csv="the ranked table, one row per run",
)
@numeric_options
def compare(
    expression: str,
    variables: str | None,
    at: dict[str, Any],
    rules: tuple[str, ...] | None,
    optimizers: tuple[str, ...] | None,
    tol_x: float,
    budget: float,
    as_json: bool,
    plot: str | None,
    csv_path: str | None,
    **options: Any,
) -> None:
    """Every rule x optimizer from --at against the exact optimum, as a table sorted best first."""
    from taylorlr.comparison import DEFAULT_OPTIMIZERS, DEFAULT_RULES
    from taylorlr.report.text import comparison_data, comparison_lines, comparison_tables

    loss = make_loss(expression, variables)
    check_plot(loss, plot)
    settings = run_settings(**options)
    rules, optimizers = rules or DEFAULT_RULES, optimizers or DEFAULT_OPTIMIZERS
    table = sweep(
        loss, at, rules, optimizers, tol_x, {**settings, "budget_s": budget}, progress_wanted(as_json)
    )
    payload = comparison_data(loss, table, {**settings, "rules": list(rules), "optimizers": list(optimizers)})
    if plot:
        points = loss.critical_points(budget_s=budget)
        save_plot(plot, "plot_comparison", loss, table, critical_points=points)
    if csv_path:
        save_csv(csv_path, table.records())
    emit(payload, as_json, lambda data: [*comparison_tables(data, output_width()), *comparison_lines(data)])


def sweep(
    loss: Loss,
    at: dict[str, Any],
    rules: Sequence[str],
    optimizers: Sequence[str],
    tol_x: float,
    settings: dict[str, Any],
    enabled: bool,
) -> Any:
    """:func:`taylorlr.compare` with a progress bar that advances once per run."""
    from taylorlr.comparison import compare as compare_all

    with progress(len(rules) * len(optimizers), "rule x optimizer runs", enabled) as tick:
        return compare_all(
            loss, at, rules, optimizers, tol_x=tol_x, progress=lambda done, total: tick(), **settings
        )


_ONESTEP_EXAMPLE = """
\b
Example:
  taylorlr onestep                       (source 000: f = -w^2 - 2w - 3 from w0 = -4)
  taylorlr onestep --d 0.1 --plot onestep.png
  taylorlr onestep --a 1 --b 0 --c 0 --w0 3 --d 1/10 --json
"""


@cli.command(epilog=_ONESTEP_EXAMPLE)
@click.option("--a", type=NUMBER, default="-1", show_default=True, help="Coefficient of w^2.")
@click.option("--b", type=NUMBER, default="-2", show_default=True, help="Coefficient of w.")
@click.option("--c", type=NUMBER, default="-3", show_default=True, help="Constant term.")
@click.option("--d", type=NUMBER, default="0", show_default=True, help="Coefficient of w^3 (the cubic term).")
@click.option("--w0", type=NUMBER, default="-4", show_default=True, help="The start point.")
@output_options(latex=True, plot="f, the tangent parabola at w0 and the step")
@numeric_options
def onestep(
    a: Any,
    b: Any,
    c: Any,
    d: Any,
    w0: Any,
    as_json: bool,
    latex: bool,
    plot: str | None,
    backend: str,
    dtype: str,
) -> None:
    """Source 000's demonstration: one Newton step on f(w) = d w^3 + a w^2 + b w + c, exactly.

    eta = 1/f''(w0), w1 = w0 - eta f'(w0); on a quadratic (d = 0) w1 is the
    extremum, and the cubic term makes the step miss it. The computation is exact,
    so --backend and --dtype change nothing here.
    """
    from taylorlr.analysis.onestep import one_step_demo
    from taylorlr.report.text import latex_lines, onestep_latex

    demo = one_step_demo(a=a, b=b, c=c, w0=w0, d=d)
    payload = demo.to_dict()
    if latex:
        payload["latex"] = onestep_latex(demo)
    if plot:
        save_plot(plot, "plot_onestep", demo)
    emit(payload, as_json, lambda data: [*demo.lines(), *latex_lines(data.get("latex"))])


# taylorlr bench ---------------------------------------------------------------------------------

_BENCH_EXAMPLE = """
\b
Example:
  taylorlr bench                                   (the 35 MGH problems, default rules, baselines)
  taylorlr bench --problems rosenbrock,beale,mgh7 --rules exact,retsinas --optimizers gd --steps 500
  taylorlr bench --problems zoo --starts 20 --seed 1 --csv zoo.csv --profile zoo.png
  taylorlr bench --problems mgh --scheduler tcp://scheduler:8786 --parquet mgh.parquet
"""


@cli.command("bench", epilog=_BENCH_EXAMPLE)
@click.option(
    "--problems",
    default="mgh",
    show_default=True,
    help="Problem names, comma-separated (mgh7 works), or mgh, zoo, all.",
)
@click.option(
    "--rules",
    type=RegistryName("alpha.rules", "RULES", many=True),
    help="Default: exact, retsinas, value-gradient, three-point, lagged.",
)
@click.option(
    "--optimizers",
    type=RegistryName("alpha.optimizers", "OPTIMIZERS", many=True),
    help="Default: gd, momentum, adam.",
)
@click.option(
    "--baselines",
    default="bfgs,trust-exact,constant",
    show_default=True,
    help="Any of bfgs, trust-exact, constant, comma-separated; 'none' for none.",
)
@click.option(
    "--starts",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seeded starts around each standard start (0: the standard start only).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the starts.")
@click.option(
    "--spread",
    type=Real(0),
    default=0.5,
    show_default=True,
    help="Start k is x0 + spread (1 + |x0|) u, u uniform in [-1, 1]^n.",
)
@click.option(
    "--alpha0",
    type=Real(0, low_open=True),
    default=1e-2,
    show_default=True,
    help="The first alpha (the constant baseline's rate).",
)
@click.option("--gamma", type=Real(0, 1, low_open=True), default=1.0, show_default=True)
@click.option(
    "--steps",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="The step budget (SciPy's maxiter for the baselines).",
)
@click.option("--tol", type=Real(0), default=1e-8, show_default=True, help="Gradient norm for 'converged'.")
@click.option("--safeguards", type=click.Choice(["default", "none"]), default="default", show_default=True)
@click.option("--oracle", is_flag=True, help="Record the line-search oracle's alpha (slow).")
@click.option(
    "--tau",
    type=click.Choice(["1e-1", "1e-3", "1e-5", "1e-7"]),
    default="1e-3",
    show_default=True,
    help="The More-Wild level a run must reach to count as solved.",
)
@click.option(
    "--time-budget",
    type=Real(0, low_open=True),
    default=120.0,
    show_default=True,
    help="Seconds per problem; runs left when it is spent are reported as 'timeout'.",
)
@click.option("--chunk", type=click.IntRange(min=1), help="Start points per engine call (default 4096).")
@click.option("--scheduler", help="A Dask scheduler address: run the sweep on that cluster.")
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False, writable=True), help="Write the table as CSV."
)
@click.option(
    "--parquet",
    "parquet_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the table as Parquet (needs pyarrow).",
)
@click.option("--profile", type=PlotFile(), help="Write the performance and data profiles to this figure.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@output_options()
def bench(
    problems: str,
    rules: tuple[str, ...] | None,
    optimizers: tuple[str, ...] | None,
    baselines: str,
    tau: str,
    time_budget: float,
    scheduler: str | None,
    csv_path: str | None,
    parquet_path: str | None,
    profile: str | None,
    quiet: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Every problem x rule x optimizer x start, and the baselines, judged against the known minimum.

    Prints each solver's record (solved at --tau, converged, failed, wins, median evaluations)
    and, per problem, the best rule against BFGS and trust-exact; writes the full table with
    --csv, --parquet or --json. See docs/benchmark.md.
    """
    from taylorlr.benchmarking import DEFAULT_OPTIMIZERS, DEFAULT_RULES

    for path, option in ((csv_path, "--csv"), (parquet_path, "--parquet")):
        _check_output(path, option)
    if parquet_path and not _has_module("pyarrow"):
        raise MissingDependencyError("--parquet needs pyarrow: pip install pyarrow")
    chosen = split_names(problems) or ()
    names: Any = chosen[0] if len(chosen) == 1 and chosen[0] in ("mgh", "zoo", "all") else chosen
    wanted = () if baselines.strip() == "none" else split_names(baselines) or ()
    enabled = not quiet and progress_wanted(as_json)
    settings = {"rules": rules or DEFAULT_RULES, "optimizers": optimizers or DEFAULT_OPTIMIZERS,
                "baselines": wanted, "time_budget": time_budget, "client": scheduler, **options}  # fmt: skip
    table = _bench_sweep(names, settings, enabled)
    if csv_path:
        table.to_csv(csv_path)
    if parquet_path:
        table.to_parquet(parquet_path)
    if profile:
        table.profiles(profile, tau=float(tau))
        click.echo(f"profile written to {profile}", err=True)
    payload = {**table.to_dict(), "tau": float(tau), "summary": table.summary(float(tau))}
    emit(payload, as_json, lambda data: bench_blocks(table, float(tau)))


def _check_output(path: str | None, option: str) -> None:
    """Before any work: an output file's folder must exist."""
    from pathlib import Path

    if path and not Path(path).resolve().parent.is_dir():
        raise click.BadParameter(f"cannot write {path}: its folder does not exist", param_hint=f"'{option}'")


def _has_module(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


def _bench_sweep(problems: Any, settings: dict[str, Any], enabled: bool) -> Any:
    """tl.benchmark with a progress bar advanced once per task (its total known once planned)."""
    from taylorlr.benchmarking import benchmark

    if not enabled:
        return benchmark(problems, **settings)
    from rich.progress import Progress

    with Progress(console=_console(stderr=True), transient=True) as bar:
        task = bar.add_task("benchmark runs", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return benchmark(problems, progress=advance, **settings)


def bench_blocks(table: Any, tau: float) -> list[Any]:
    """The text of ``taylorlr bench``: the solver table, the per-problem table, timeouts and errors."""
    from rich.table import Table

    solvers = Table(title=f"solvers (solved: f <= f* + {tau:g} (f0 - f*))")
    for name in ("solver", "runs", "solved", "converged", "failed", "wins", "median evals"):
        solvers.add_column(name, justify="left" if name == "solver" else "right")
    for s in table.summary(tau):
        median = "-" if math.isnan(s["median_evaluations"]) else f"{s['median_evaluations']:g}"
        solvers.add_row(
            s["solver"], *(str(s[k]) for k in ("runs", "solved", "converged", "failed", "wins")), median
        )
    winners = table.winners(tau)
    baselines = [s for s in table.solvers if s in ("bfgs", "trust-exact", "constant")]
    problems = Table(title="evals to solve from x0 (-: unsolved)")
    for name in ("#", "problem", "n", "best rule", "evals", *baselines):
        problems.add_column(name, justify="left" if name in ("problem", "best rule") else "right")
    for w in winners:
        cells = [_evals(w.get(b, math.inf)) for b in baselines]
        number = "" if w["number"] < 0 else str(w["number"])
        problems.add_row(number, w["problem"], str(w["n"]), w["best"], _evals(w["best_evaluations"]), *cells)
    lines: list[Any] = [solvers, problems]
    if table.timeouts:
        lines.append(f"time budget spent (runs left as 'timeout'): {', '.join(table.timeouts)}")
    lines.extend(f"error: {line}" for line in table.errors)
    if table.lost:
        lines.append(f"lost chunks (resume them): {len(table.lost)}")
    return lines


def _evals(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:g}"


# taylorlr demo ----------------------------------------------------------------------------------

_DEMO_EXAMPLE = """
\b
Example:
  taylorlr demo                          (opens the page in your browser)
  taylorlr demo --port 8765 --no-browser (prints the URL; Ctrl-C stops it)
"""


@cli.command(epilog=_DEMO_EXAMPLE)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True,
    help="The port on 127.0.0.1; 0 takes a free one.",
)  # fmt: skip
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
def demo(port: int, no_browser: bool) -> None:
    """Source 000's one-step demonstration as a local web page, computed by taylorlr.

    Sliders a, b, c, d, w0 (the source's demo, its misprint beside the right value), a loss
    of two variables typed in (contours, the Newton step, the Hessian's eigen-directions
    and the verdict) and the alpha rules (alpha_t beside the oracle's). A server on
    127.0.0.1 only computes every number; the page draws. Ctrl-C stops it (exit 130).
    """
    import threading
    import webbrowser

    from taylorlr.demo.server import make_server

    server = make_server(port)
    click.echo(f"taylorlr demo at {server.url} (Ctrl-C to stop)")
    if not no_browser:
        threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    finally:
        server.server_close()


#: the youngest generation's collection threshold in a CLI process (Python's default: 700).
#: SymPy's import alone makes about a million objects, and each collection walks the young ones:
#: at 700 ``import sympy`` spends about 30 ms collecting (at 50,000 under 10 ms). The cyclic
#: collector still runs, only less often, so a long command does not grow.
GC_THRESHOLD = 50_000


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``taylorlr`` console script and ``python -m taylorlr``.

    The process ends with the command: before it does, every object is moved out of the
    collector's reach (``gc.freeze``), so that Python's final collection does not walk all of
    SymPy's objects on the way out (about 0.1 s, a quarter of ``import sympy``'s own time).
    """
    import gc

    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    try:
        cli.main(args=argv, prog_name="taylorlr")
    finally:
        gc.freeze()
