"""The alpha step's decisions, written once over an "ops" adapter: arrays or SymEngine.

The safeguards (:func:`taylorlr.alpha.safeguards.next_alpha`) and the accept/status rule
(:func:`settle`) are written against the handful of operations of :class:`ArrayOps`.
The generic path runs them on the batch's arrays (``xp``); the fused path runs the very
same lines on SymEngine symbols (:class:`SymbolOps`), so that they become expressions
that :mod:`taylorlr.compile.simd_codegen` compiles into its loop. In :class:`SymbolOps` a
condition is an indicator expression (1 where it holds, 0 elsewhere; NaN compares false
as in NumPy) and ``where`` is a ``Piecewise``.

Array-only at import: SymEngine is imported by :class:`SymbolOps` itself.

>>> import numpy as np
>>> ops = ArrayOps(np)
>>> ops.where(ops.not_(ops.gt(np.array([1.0, np.nan, -1.0]), 0)), 2.0, 0.0).tolist()
[0.0, 2.0, 2.0]
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from taylorlr.alpha.result import _CONVERGED, _DIVERGED, _NONFINITE, _RUNNING


class ArrayOps:
    """The operations of the step on arrays of one namespace (conditions: boolean arrays)."""

    def __init__(self, xp: Any, dtype: Any = None) -> None:
        self.xp = xp
        self.eps = float(xp.finfo(dtype if dtype is not None else xp.float64).eps)

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        if not hasattr(a, "shape") and not hasattr(b, "shape"):  # two Python numbers
            b = self.xp.full(condition.shape, b)
        return self.xp.where(condition, a, b)

    def lt(self, a: Any, b: Any) -> Any:
        return a < b

    def le(self, a: Any, b: Any) -> Any:
        return a <= b

    def gt(self, a: Any, b: Any) -> Any:
        return a > b

    def eq(self, a: Any, b: Any) -> Any:
        return a == b

    def and_(self, *conditions: Any) -> Any:
        out = conditions[0]
        for c in conditions[1:]:
            out = out & c
        return out

    def or_(self, a: Any, b: Any) -> Any:
        return a | b

    def not_(self, a: Any) -> Any:
        return ~a

    def finite(self, a: Any) -> Any:
        return self.xp.isfinite(a)

    def abs(self, a: Any) -> Any:
        return self.xp.abs(a)

    def sqrt(self, a: Any) -> Any:
        return self.xp.sqrt(a)

    def false(self, like: Any) -> Any:
        return self.xp.zeros(like.shape, dtype=self.xp.bool)

    def scalar(self, value: Any) -> Any:
        return value


class ScalarOps(ArrayOps):
    """The same operations on one member's float64 scalars (conditions: Python bools).

    For a training wrapper (:mod:`taylorlr.torch`) that sets one alpha per parameter group
    every step: NumPy scalars keep the arithmetic IEEE (inf and NaN where Python floats
    would raise), and a Python conditional replaces ``where``, which costs microseconds
    on scalars. The values are those :class:`ArrayOps` gives on 0-d arrays, bit for bit.

    >>> import numpy as np
    >>> ops = ScalarOps(eps=2.0**-52)
    >>> ops.where(ops.not_(ops.gt(np.float64("nan"), 0)), 2.0, 0.0), ops.finite(np.float64("inf"))
    (np.float64(2.0), False)
    """

    def __init__(self, eps: float) -> None:
        import numpy

        self.xp, self.eps = numpy, eps

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        return self.xp.float64(a if condition else b)

    def and_(self, *conditions: Any) -> Any:
        return all(conditions)

    def or_(self, a: Any, b: Any) -> Any:
        return bool(a) or bool(b)

    def not_(self, a: Any) -> Any:
        return not a

    def finite(self, a: Any) -> Any:
        return math.isfinite(a)

    def abs(self, a: Any) -> Any:
        return abs(a)

    def false(self, like: Any) -> Any:
        return False


class SymbolOps:
    """The same operations on SymEngine expressions, for one member (float64).

    Conditions are indicators (1 or 0): ``not_`` is 1 - c, so NaN, which makes every
    ordered comparison false, gives ``not_(gt(nan, 0)) == 1`` as NumPy's ``~(nan > 0)``
    does (SymEngine's own ``Not`` would rewrite ``Not(a <= b)`` as ``b < a``, false on NaN).

    >>> import symengine as se
    >>> ops = SymbolOps()
    >>> x = se.Symbol("x")
    >>> ops.where(ops.gt(x, 0), x, 0).subs({x: -2.0}), ops.not_(ops.finite(x)).subs({x: se.oo})
    (0, 1)
    """

    eps = sys.float_info.epsilon

    def __init__(self) -> None:
        import symengine

        self.se = symengine
        self.one, self.zero = symengine.Integer(1), symengine.Integer(0)
        self.largest = symengine.RealDouble(sys.float_info.max)

    def _indicator(self, relation: Any) -> Any:
        return self.se.Piecewise((self.one, relation), (self.zero, True))

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        se = self.se
        return se.Piecewise((se.sympify(a), condition > se.RealDouble(0.5)), (se.sympify(b), True))

    def lt(self, a: Any, b: Any) -> Any:
        return self._indicator(self.se.sympify(a) < b)

    def le(self, a: Any, b: Any) -> Any:
        return self._indicator(self.se.sympify(a) <= b)

    def gt(self, a: Any, b: Any) -> Any:
        return self._indicator(self.se.sympify(a) > b)

    def eq(self, a: Any, b: Any) -> Any:
        """Equality of whole numbers stored as doubles (status codes)."""
        return self._indicator(self.se.Abs(self.se.sympify(a) - b) < self.se.RealDouble(0.5))

    def and_(self, *conditions: Any) -> Any:
        return self.se.Mul(*conditions)

    def or_(self, a: Any, b: Any) -> Any:
        return a + b - a * b

    def not_(self, a: Any) -> Any:
        return self.one - a

    def finite(self, a: Any) -> Any:
        return self._indicator(self.se.Abs(a) <= self.largest)

    def abs(self, a: Any) -> Any:
        return self.se.Abs(a)

    def sqrt(self, a: Any) -> Any:
        return self.se.sqrt(a)

    def false(self, like: Any) -> Any:
        return self.zero

    def scalar(self, value: Any) -> Any:
        """An expression from what a rule returned (an expression or a 0-d object array)."""
        if hasattr(value, "shape"):
            if value.shape != ():
                raise ValueError("a rule's estimate must be one number per member")
            value = value.item()
        return self.se.sympify(value)


def start_code(ops: Any, value: Any, gg: Any, tol: float) -> Any:
    """The status at theta_0: NONFINITE unless f and ||grad f||^2 are finite, else
    CONVERGED when ||grad f|| <= tol, else running.

    >>> import numpy as np
    >>> start_code(ArrayOps(np), np.array([1.0, np.inf, 1.0]), np.array([0.0, 0.0, 4.0]), 1e-8).tolist()
    [1, 4, 0]
    """
    finite = ops.and_(ops.finite(value), ops.finite(gg))
    converged = ops.le(ops.sqrt(gg), tol)
    return ops.where(ops.not_(finite), _NONFINITE, ops.where(converged, _CONVERGED, _RUNNING))


@dataclass(frozen=True)
class Verdict:
    """What a step decided, per member.

    Attributes:
        accept: the member moves to theta+ (its status may still become a stop).
        counted: the step counts (accepted, or rejected by the rising-loss guard): its
            safeguard firings are counted and its alpha is the new one.
        code: the status code after the step.
        alpha: alpha_{t+1} where the step counted, else alpha_t.
    """

    accept: Any
    counted: Any
    code: Any
    alpha: Any


def settle(
    ops: Any,
    *,
    code: Any,
    alpha: Any,
    update: Any,
    value_next: Any,
    gg_next: Any,
    loss_start: Any,
    tol: float,
    divergence: float,
) -> Verdict:
    """The accept decision and the status rule of one step (both paths).

    A running member whose step the rising-loss guard rejected stays where it is. Else:
    NONFINITE when f or ||grad f||^2 at theta_{t+1} is not finite; DIVERGED when
    f(theta_{t+1}) - f(theta_0) > divergence (|f(theta_0)| + 1); otherwise the step is
    accepted, and the member is CONVERGED when ||grad f(theta_{t+1})|| <= tol, NONFINITE
    when the next alpha is not finite, else still running.

    >>> import numpy as np
    >>> from taylorlr.alpha.safeguards import AlphaUpdate
    >>> no = np.zeros(3, bool)
    >>> update = AlphaUpdate(np.array([0.5, 0.5, np.inf]), {"rising_loss": no})
    >>> v = settle(ArrayOps(np), code=np.zeros(3, int), alpha=np.ones(3), update=update,
    ...            value_next=np.array([1.0, np.nan, 1.0]), gg_next=np.array([0.0, 1.0, 1.0]),
    ...            loss_start=np.ones(3), tol=1e-8, divergence=1e8)
    >>> v.accept.tolist(), v.code.tolist()  # converged, nonfinite f, nonfinite alpha
    ([True, False, True], [1, 4, 4])
    """
    running = ops.eq(code, _RUNNING)
    rejected = ops.and_(running, update.fired["rising_loss"])
    moved = ops.and_(running, ops.not_(rejected))
    finite = ops.and_(ops.finite(value_next), ops.finite(gg_next))
    blown = ops.gt(value_next - loss_start, divergence * (ops.abs(loss_start) + 1))
    accept = ops.and_(moved, finite, ops.not_(blown))
    converged = ops.and_(accept, ops.le(ops.sqrt(gg_next), tol))
    alpha_bad = ops.and_(accept, ops.not_(converged), ops.not_(ops.finite(update.alpha)))
    code = ops.where(ops.and_(moved, ops.not_(finite)), _NONFINITE, code)
    code = ops.where(ops.and_(moved, finite, blown), _DIVERGED, code)
    code = ops.where(converged, _CONVERGED, ops.where(alpha_bad, _NONFINITE, code))
    counted = ops.or_(accept, rejected)
    return Verdict(accept, counted, code, ops.where(counted, update.alpha, alpha))
