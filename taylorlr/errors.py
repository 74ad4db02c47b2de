"""Typed errors of taylorlr.

Every error that taylorlr raises on purpose is a :class:`TaylorLRError`; each
message names what was wrong, the value received and how to fix it.

>>> import taylorlr as tl
>>> issubclass(tl.ParseError, ValueError) and issubclass(tl.ParseError, tl.TaylorLRError)
True
"""

from __future__ import annotations


class TaylorLRError(Exception):
    """Base class of every error that taylorlr raises on purpose.

    >>> import taylorlr as tl
    >>> try:
    ...     tl.Loss("x +")
    ... except tl.TaylorLRError as error:
    ...     print(type(error).__name__)
    ParseError
    """


class ParseError(TaylorLRError, ValueError):
    """The text of a loss could not be read.

    Attributes:
        text: the whole input text.
        column: 0-based offset of the fault in ``text``.
        reason: the one-line reason, without the caret picture.

    ``str(error)`` renders the reason, the text and a caret under the fault.

    >>> err = ParseError("unexpected ')'", text="x + )", column=4)
    >>> print(err)
    unexpected ')' at column 4
      x + )
          ^
    """

    def __init__(self, reason: str, *, text: str, column: int) -> None:
        self.reason = reason
        self.text = text
        self.column = max(0, min(column, len(text)))
        super().__init__(self._render())

    def _render(self) -> str:
        shown = self.text if len(self.text) <= 200 else self.text[:200] + "..."
        if self.column > 200:
            return f"{self.reason} at column {self.column}"
        first_line = shown.split("\n", 1)[0]
        return f"{self.reason} at column {self.column}\n  {first_line}\n  {' ' * self.column}^"

    def __reduce__(self):  # keep pickling (multiprocessing, pytest-xdist) working
        return (_rebuild_parse_error, (self.reason, self.text, self.column))


def _rebuild_parse_error(reason: str, text: str, column: int) -> ParseError:
    return ParseError(reason, text=text, column=column)


class LossDefinitionError(TaylorLRError, ValueError):
    """A loss is ill-defined: no variable, an undeclared symbol, a complex constant, ...

    >>> import taylorlr as tl
    >>> tl.Loss("1 + 2")
    Traceback (most recent call last):
    ...
    taylorlr.errors.LossDefinitionError: the loss 3 has no variable: nothing to optimise
    """


class OptionError(TaylorLRError, ValueError):
    """An option or hyperparameter is out of range or unknown.

    >>> import taylorlr as tl
    >>> tl.run("x**2", [1.0], alpha0=-1)
    Traceback (most recent call last):
    ...
    taylorlr.errors.OptionError: alpha0 must be finite and in (0, inf), got -1
    """


class PointError(TaylorLRError, ValueError):
    """A point (``at``) has the wrong names, length, shape or non-finite entries.

    >>> import taylorlr as tl
    >>> tl.newton_step(tl.Loss("x**2 + y**2"), [1.0])
    Traceback (most recent call last):
    ...
    taylorlr.errors.PointError: the point has 1 coordinates but the loss has 2 variables ['x', 'y']
    """


class BackendError(TaylorLRError):
    """An array backend is unknown, or its library (e.g. CuPy) or device is missing.

    >>> import taylorlr as tl
    >>> tl.Loss("x**2").compile("tensorflow")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr.errors.BackendError: unknown backend 'tensorflow': use 'numpy', 'cupy', 'array-api-strict' or ...
    """


class MissingDependencyError(TaylorLRError, ImportError):
    """An optional dependency is needed; the message names the extra to install.

    It is an ImportError too, so code that already handles a missing module handles it:

    >>> import taylorlr as tl
    >>> issubclass(tl.MissingDependencyError, ImportError)
    True
    """


class SingularHessianError(TaylorLRError, ArithmeticError):
    """The Hessian is singular at the point, so the Newton step cannot be taken.

    The message suggests ``fallback="pinv"`` or ``fallback="damped"``.

    >>> import taylorlr as tl
    >>> tl.newton_step(tl.Loss("x**4"), [0.0], throw=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr.errors.SingularHessianError: the Hessian is singular at [0.0] ...: no Newton step exists; ...
    """


class BudgetExceededError(TaylorLRError, TimeoutError):
    """A stage (taylor, derivatives, critical points, an exact Newton step, compile) ran out of its budget.

    Attributes:
        stage: the stage that was running.
        option: the option that raises the limit (``budget_s``, ``--budget``, ``max_terms``).
        elapsed_s: seconds the stage had run.

    >>> err = BudgetExceededError("budget exceeded ...", stage="taylor", option="budget_s", elapsed_s=1.0)
    >>> err.stage, err.option, isinstance(err, TimeoutError)
    ('taylor', 'budget_s', True)
    """

    def __init__(self, message: str, *, stage: str = "", option: str = "budget_s", elapsed_s: float = 0.0):
        self.stage = stage
        self.option = option
        self.elapsed_s = elapsed_s
        super().__init__(message)

    def __reduce__(self):  # keep pickling working (keyword-only arguments): a worker process sends it
        return (_rebuild_budget_exceeded, (str(self), self.stage, self.option, self.elapsed_s))


def _rebuild_budget_exceeded(message: str, stage: str, option: str, elapsed_s: float) -> BudgetExceededError:
    return BudgetExceededError(message, stage=stage, option=option, elapsed_s=elapsed_s)


class NotConvergedError(TaylorLRError, ArithmeticError):
    """An iteration asked to raise (``throw=True``) ended without converging (its steps ran out).

    >>> import taylorlr as tl
    >>> tl.newton(tl.Loss("x**4"), [1.0], steps=2, throw=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    taylorlr.errors.NotConvergedError: 1 of 1 member(s) ended ['max_steps']: ...
    """


class RunFailedError(TaylorLRError, ArithmeticError):
    """A run with ``throw=True`` in which some member did not end "converged".

    Attributes:
        run: the whole :class:`~taylorlr.Run` (statuses, histories, counts).

    The message lists the failed members' statuses and advice.

    >>> err = RunFailedError("1 of 1 member(s) did not end 'converged': ...", run=None)
    >>> err.run is None and isinstance(err, TaylorLRError)
    True
    """

    def __init__(self, message: str, *, run: object) -> None:
        self.run = run
        super().__init__(message)

    def __reduce__(self):  # keep pickling working (a keyword-only argument)
        return (_rebuild_run_failed, (str(self), self.run))


def _rebuild_run_failed(message: str, run: object) -> RunFailedError:
    return RunFailedError(message, run=run)


class MemoryBudgetError(TaylorLRError, MemoryError):
    """A computation would allocate more memory than its limit: refused before allocating.

    Attributes:
        needed: the bytes it would hold (an estimate, computed before anything is allocated).
        limit: the limit in bytes.

    The message says what takes the memory and what to change.

    >>> err = MemoryBudgetError("tl.run would hold 9 GiB ...", needed=9 * 2**30, limit=2**30)
    >>> err.needed > err.limit and isinstance(err, MemoryError)
    True
    """

    def __init__(self, message: str, *, needed: int, limit: float) -> None:
        self.needed, self.limit = needed, limit
        super().__init__(message)

    def __reduce__(self):  # keep pickling working (keyword-only arguments)
        return (_rebuild_memory_budget, (str(self), self.needed, self.limit))


def _rebuild_memory_budget(message: str, needed: int, limit: float) -> MemoryBudgetError:
    return MemoryBudgetError(message, needed=needed, limit=limit)
