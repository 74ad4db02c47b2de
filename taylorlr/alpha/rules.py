"""Alpha rules: Newton's method on the loss along the step, and their safeguards.

With theta+ = theta_t - alpha_t omega_t and g_t(alpha) = f(theta_t - alpha omega_t),
one Newton step on g_t' from alpha_t gives (source document 003)

    alpha_{t+1} = alpha_t + gamma * <grad f(theta+), omega> / (omega^T H(theta+) omega).

Every adaptive rule is that one formula: a *slope* estimate s ~ <grad f(theta+), omega>
over a *curvature* estimate c ~ omega^T H(theta+) omega, each computed from what the
rule declares it needs (:attr:`Rule.needs`), so the engine evaluates and counts
exactly that:

=========================  ============================================================  ====================
rule                       curvature c (slope s = <grad f(theta+), omega> unless noted)     extra per step
=========================  ============================================================  ====================
exact                      omega^T H(theta+) omega (compiled symbolic HVP)                 1 HVP
retsinas                   <grad f(theta_t) - grad f(theta+), omega> / alpha               none
value-gradient             2 (f(theta_t) - f(theta+) - alpha s) / alpha^2                  none
three-point                (f(theta+) + f(theta_t + alpha omega) - 2 f(theta_t)) / alpha^2  1 value
lagged                     <omega_t - omega_{t+1}, omega_t> / alpha, s = <omega_{t+1}, omega_t>  none
fixed                      (alpha never changes)                                            none
line-search                (alpha_t is the exact minimiser along omega_t: the oracle)        line polynomial
=========================  ============================================================  ====================

"none" means: beyond the value and gradient at theta_{t+1} that every step needs.
In the deterministic form theta+ *is* theta_{t+1}, so f(theta+) and grad f(theta+)
are reused as the next step's value and gradient.

>>> import numpy as np
>>> probe = Probe(alpha=np.array(0.5), omega=np.array([1.0]), value=np.array(1.0),
...               grad=np.array([2.0]), value_plus=np.array(0.25), grad_plus=np.array([1.0]),
...               hvp_plus=np.array([2.0]))
>>> [float(rule.slope(probe) / rule.curvature(probe)) for rule in (exact(), retsinas(), value_gradient())]
[0.5, 0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from taylorlr.alpha._names import from_registry, suggestion
from taylorlr.compile.backends import namespace_of
from taylorlr.errors import OptionError

__all__ = [
    "KINDS",
    "NEEDS",
    "NUMERATORS",
    "RULES",
    "Probe",
    "Rule",
    "dot",
    "exact",
    "fixed",
    "lagged",
    "line_search",
    "resolve_rule",
    "retsinas",
    "three_point",
    "value_gradient",
]

#: what a rule may ask for, beyond f and grad f at theta_t and omega_t, omega_{t+1}
NEEDS = ("value_plus", "grad_plus", "hvp_plus", "value_mirror", "line")

#: how a rule sets alpha: a Newton step on g_t from two estimates, never, or by the exact line search
KINDS = ("adaptive", "fixed", "line-search")

NUMERATORS = ("gradient", "values", "values-as-published")

#: rule options with a closed set of values
OPTION_CHOICES = {"numerator": NUMERATORS}


@dataclass(frozen=True)
class Probe:
    """What a rule can read at step t; fields a rule did not ask for are ``None``.

    Attributes:
        alpha: alpha_t, shape (...).
        omega: omega_t, shape (..., n).
        value, grad: f(theta_t) and grad f(theta_t) (of the step's proxy loss L_t).
        value_plus, grad_plus, hvp_plus: f, grad f and H omega at theta+ = theta_t - alpha_t omega_t.
        value_mirror: f(theta_t + alpha_t omega_t).
        omega_next: omega_{t+1}, the optimizer's next direction (for ``lagged``).

    >>> import numpy as np
    >>> probe = Probe(alpha=np.array(0.1), omega=np.array([1.0, 2.0]))
    >>> probe.value is None, probe.omega.shape
    (True, (2,))
    """

    alpha: Any
    omega: Any
    value: Any = None
    grad: Any = None
    value_plus: Any = None
    grad_plus: Any = None
    hvp_plus: Any = None
    value_mirror: Any = None
    omega_next: Any = None

    @classmethod
    def along(cls, compiled: Any, theta: Any, omega: Any, alphas: Any) -> Probe:
        """Everything a rule can read (but omega_next) at theta, for each alpha in ``alphas``.

        For studying a rule's estimates as alpha shrinks: theta+ = theta - alpha omega
        and the mirror point theta + alpha omega are evaluated for every alpha at once.

        >>> import numpy as np, taylorlr as tl
        >>> f = tl.Loss("x**2 + y**2").compile()
        >>> p = Probe.along(f, np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.array([0.5]))
        >>> p.value_plus.tolist(), p.hvp_plus.tolist()
        ([0.25], [[2.0, 0.0]])
        """
        column = alphas[..., None]
        plus, mirror = theta - column * omega, theta + column * omega
        return cls(
            alpha=alphas,
            omega=omega,
            value=compiled.value(theta),
            grad=compiled.grad(theta),
            value_plus=compiled.value(plus),
            grad_plus=compiled.grad(plus),
            hvp_plus=compiled.hvp(plus, omega),
            value_mirror=compiled.value(mirror),
        )


Estimate = Callable[[Probe], Any]


@dataclass(frozen=True)
class Rule:
    """An alpha rule: alpha_{t+1} = alpha_t + gamma * slope / curvature.

    Built by a factory (:func:`exact`, :func:`three_point`, ...) or by hand for a rule
    of your own; either way it is checked when it is made, and a bad rule is refused
    with a sentence that says what is wrong and how to fix it.

    Attributes:
        name: the registry name ("exact", "three-point", ...).
        kind: "adaptive" (slope / curvature), "fixed" or "line-search" (:data:`KINDS`).
        needs: the evaluations the rule reads at each step (a subset of :data:`NEEDS`);
            the engine evaluates, and counts, exactly these.
        slope: estimate of <grad f(theta+), omega> = -g_t'(alpha_t); None unless adaptive.
        curvature: estimate of omega^T H(theta+) omega = g_t''(alpha_t); None unless adaptive.
        options: rule options, for the record (e.g. the three-point numerator).

    Raises:
        OptionError: an unknown kind or need; an adaptive rule without both estimates, or
            a fixed or line-search rule with one; ``"line"`` needed by a rule that is not
            a line search (or not needed by one); an estimate that reads a
            :class:`Probe` field its ``needs`` do not declare; a bad option.

    >>> mine = Rule("mine", "adaptive", {"grad_plus"}, lambda p: dot(p.grad_plus, p.omega),
    ...             lambda p: dot(p.grad - p.grad_plus, p.omega) / p.alpha)
    >>> sorted(mine.needs)
    ['grad_plus']
    >>> Rule("mine", "adaptive", set(), lambda p: dot(p.grad_plus, p.omega), lambda p: p.alpha)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    taylorlr.errors.OptionError: rule 'mine': its slope estimate reads 'grad_plus', ... to needs ...
    """

    name: str
    kind: str
    needs: frozenset[str]
    slope: Estimate | None = None
    curvature: Estimate | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise OptionError(f"a rule needs a name, a non-empty string; got {self.name!r}")
        if self.kind not in KINDS:
            hint = suggestion(self.kind, KINDS)
            raise OptionError(f"rule {self.name!r}: kind must be one of {KINDS}{hint}, got {self.kind!r}")
        object.__setattr__(self, "needs", _checked_needs(self.name, self.needs))
        _check_estimates(self)
        _check_line(self)
        _check_options(self.name, self.options)

    @property
    def label(self) -> str:
        """The name with its options, e.g. ``three-point(values)``."""
        return self.name + "".join(f"({v})" for v in self.options.values())

    def cost(self, stochastic: bool = False) -> dict[str, int]:
        """Evaluations per step, the value and gradient at theta_{t+1} included.

        Deterministic: f(theta+) and grad f(theta+) are the next step's value and
        gradient, so they cost nothing extra. Stochastic: the next point is
        evaluated on the next minibatch, and theta+ again on this one.

        >>> exact().cost()
        {'values': 1, 'gradients': 1, 'hvps': 1, 'line_searches': 0}
        >>> exact().cost(stochastic=True)["gradients"]
        2
        """
        extra_at_plus = stochastic
        return {
            "values": 1 + ("value_mirror" in self.needs) + (extra_at_plus and "value_plus" in self.needs),
            "gradients": 1 + (extra_at_plus and "grad_plus" in self.needs),
            "hvps": int("hvp_plus" in self.needs),
            "line_searches": int("line" in self.needs),
        }


def _checked_needs(name: str, needs: Any) -> frozenset[str]:
    if isinstance(needs, str) or not all(isinstance(item, str) for item in _iterable(needs)):
        raise OptionError(f"rule {name!r}: needs must be a set of names from {NEEDS}, got {needs!r}")
    unknown = sorted(set(needs) - set(NEEDS))
    if unknown:
        raise OptionError(
            f"rule {name!r} needs {unknown}{suggestion(unknown[0], NEEDS)}, which no step evaluates: "
            f"needs is a subset of {NEEDS} (f and grad f at theta_t, omega_t and omega_{{t+1}} "
            "are always there)"
        )
    return frozenset(needs)


def _iterable(value: Any) -> Any:
    try:
        return list(value)
    except TypeError:
        return [None]


def _check_estimates(rule: Rule) -> None:
    estimates = {"slope": rule.slope, "curvature": rule.curvature}
    if rule.kind != "adaptive":
        given = [which for which, estimate in estimates.items() if estimate is not None]
        if given:
            raise OptionError(
                f"rule {rule.name!r} is {rule.kind}: it sets alpha without a {' or '.join(given)} "
                "estimate; drop it, or make the rule kind='adaptive'"
            )
        return
    for which, estimate in estimates.items():
        if not callable(estimate):
            raise OptionError(
                f"rule {rule.name!r} is adaptive (alpha' = alpha + gamma * slope / curvature) but its "
                f"{which} estimate is {estimate!r}: pass {which}=, a function of a Probe"
            )
        _check_reads(rule, which, estimate)


def _check_reads(rule: Rule, which: str, estimate: Estimate) -> None:
    """Run the estimate once on a small probe holding only what the rule declares."""
    undeclared = [need for need in NEEDS[:4] if need not in rule.needs]
    if _runs_on(estimate, rule.needs):
        return
    for need in undeclared:
        if _runs_on(estimate, rule.needs | {need}):
            raise OptionError(
                f"rule {rule.name!r}: its {which} estimate reads {need!r}, which its needs do not declare: "
                f"add {need!r} to needs (the engine evaluates, and counts, only what a rule declares)"
            )


def _runs_on(estimate: Estimate, needs: frozenset[str]) -> bool:
    import numpy

    one, vector = numpy.array(0.5), numpy.array([1.0, -2.0])
    fields = {"value_plus": one, "grad_plus": vector, "hvp_plus": vector, "value_mirror": one}
    probe = Probe(
        alpha=one,
        omega=vector,
        value=one,
        grad=vector,
        omega_next=vector,
        **{name: value for name, value in fields.items() if name in needs},
    )
    try:
        with numpy.errstate(all="ignore"):
            estimate(probe)
    except (TypeError, AttributeError):  # None in arithmetic, or None.shape
        return False
    return True


def _check_line(rule: Rule) -> None:
    if rule.kind == "line-search" and "line" not in rule.needs:
        raise OptionError(f"rule {rule.name!r} is a line search but does not need 'line': add it to needs")
    if rule.kind == "fixed" and rule.needs:
        raise OptionError(
            f"rule {rule.name!r} is fixed and reads nothing, but needs {sorted(rule.needs)}: "
            "drop them (each would be evaluated and counted for nothing)"
        )
    if rule.kind == "adaptive" and "line" in rule.needs:
        raise OptionError(
            f"rule {rule.name!r} is adaptive but needs 'line', the exact line search: "
            "only kind='line-search' uses it; drop 'line' from needs"
        )


def _check_options(name: str, options: Any) -> None:
    if not isinstance(options, Mapping):
        raise OptionError(f"rule {name!r}: options must be a mapping of names to strings, got {options!r}")
    for key, value in options.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise OptionError(f"rule {name!r}: options are names and strings, got {key!r}: {value!r}")
        _check_choice(key, value)


def _check_choice(key: str, value: str) -> None:
    choices = OPTION_CHOICES.get(key)
    if choices is not None and value not in choices:
        raise OptionError(f"{key} must be one of {choices}{suggestion(value, choices)}, got {value!r}")


def dot(a: Any, b: Any) -> Any:
    """<a, b> over the last axis, batched.

    Column by column for small n: a reduction over a short inner axis is several
    times slower than n fused multiply-adds on whole columns.

    >>> import numpy as np
    >>> dot(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 1.0])).tolist()
    [3.0, 7.0]
    """
    n = max(a.shape[-1], b.shape[-1])
    if n > 16:
        return namespace_of(a, b).sum(a * b, axis=-1)
    total = a[..., 0] * b[..., 0]
    for i in range(1, n):
        total = total + a[..., i] * b[..., i]
    return total


def _slope_plus(p: Probe) -> Any:
    return dot(p.grad_plus, p.omega)


def exact() -> Rule:
    """The Newton step on g_t with the exact curvature omega^T H(theta+) omega (one HVP).

    >>> sorted(exact().needs)
    ['grad_plus', 'hvp_plus']
    """
    return Rule(
        "exact",
        "adaptive",
        frozenset({"grad_plus", "hvp_plus"}),
        _slope_plus,
        lambda p: dot(p.omega, p.hvp_plus),
    )


def retsinas() -> Rule:
    """Retsinas et al.: curvature from the gradient difference, <g_t - g+, omega> / alpha.

    First-order Taylor expansion of grad f around theta+: exact on quadratics,
    error O(alpha) in general (O(alpha^2) where the third derivative is
    symmetric about the step, see docs/rules.md).

    >>> sorted(retsinas().needs)
    ['grad_plus']
    """
    return Rule(
        "retsinas",
        "adaptive",
        frozenset({"grad_plus"}),
        _slope_plus,
        lambda p: dot(p.grad - p.grad_plus, p.omega) / p.alpha,
    )


def value_gradient() -> Rule:
    """Alternative 1 of document 003: curvature from two values and the gradient at theta+.

    c = 2 (f(theta_t) - f(theta+) - alpha <grad f(theta+), omega>) / alpha^2, the
    second-order Taylor expansion of f around theta+ solved for the curvature.

    >>> value_gradient().cost()["values"]
    1
    """

    def curvature(p: Probe) -> Any:
        return 2 * (p.value - p.value_plus - p.alpha * _slope_plus(p)) / (p.alpha * p.alpha)

    return Rule("value-gradient", "adaptive", frozenset({"value_plus", "grad_plus"}), _slope_plus, curvature)


def three_point(numerator: str = "gradient") -> Rule:
    """Alternative 2 of document 003: curvature from three values along the step.

    c = (f(theta+) + f(theta_t + alpha omega) - 2 f(theta_t)) / alpha^2. The slope is

    * ``"gradient"``: <grad f(theta+), omega> (one gradient);
    * ``"values"``: (4 f(theta_t) - 3 f(theta+) - f(theta_t + alpha omega)) / (2 alpha),
      the slope at theta+ of the parabola through the three values (exact on quadratics);
    * ``"values-as-published"``: (f(theta_t + alpha omega) - f(theta+)) / (2 alpha), the
      document's central difference: the slope at theta_t, biased by alpha c.

    Raises:
        OptionError: an unknown numerator.

    >>> three_point("values").label
    'three-point(values)'
    """
    _check_choice("numerator", numerator)
    slopes: dict[str, Estimate] = {
        "gradient": _slope_plus,
        "values": lambda p: (4 * p.value - 3 * p.value_plus - p.value_mirror) / (2 * p.alpha),
        "values-as-published": lambda p: (p.value_mirror - p.value_plus) / (2 * p.alpha),
    }

    def curvature(p: Probe) -> Any:
        return (p.value_plus + p.value_mirror - 2 * p.value) / (p.alpha * p.alpha)

    needs = {"value_plus", "value_mirror"} | ({"grad_plus"} if numerator == "gradient" else set())
    return Rule(
        "three-point", "adaptive", frozenset(needs), slopes[numerator], curvature, {"numerator": numerator}
    )


def lagged() -> Rule:
    """The zero-extra-cost form: the next direction omega_{t+1} stands in for grad f(theta+).

    s = <omega_{t+1}, omega_t>, c = <omega_t - omega_{t+1}, omega_t> / alpha_t: the
    Retsinas formula with both gradients replaced by the optimizer's directions,
    which the run computes anyway. For gradient descent in the deterministic form
    it equals ``retsinas``; for other optimizers, and with minibatches (where
    omega_{t+1} comes from the next batch L_{t+1}), it is an approximation of an
    approximation: the price of costing nothing.

    >>> lagged().needs
    frozenset()
    """
    return Rule(
        "lagged",
        "adaptive",
        frozenset(),
        lambda p: dot(p.omega_next, p.omega),
        lambda p: dot(p.omega - p.omega_next, p.omega) / p.alpha,
    )


def fixed() -> Rule:
    """No adaptation: alpha_t = alpha0 for every step.

    >>> fixed().kind
    'fixed'
    """
    return Rule("fixed", "fixed", frozenset())


def line_search() -> Rule:
    """The exact minimiser of f(theta_t - alpha omega_t) at every step (the oracle as a rule).

    alpha_0 is the oracle's too (``alpha0`` only seeds the bracket when the loss
    is not polynomial); gamma is ignored.

    >>> line_search().cost()["line_searches"]
    1
    """
    return Rule("line-search", "line-search", frozenset({"line"}))


#: name -> factory, for the edges (CLI, ``run(rule="exact")``) only.
RULES: dict[str, Callable[..., Rule]] = {
    "exact": exact,
    "retsinas": retsinas,
    "value-gradient": value_gradient,
    "three-point": three_point,
    "lagged": lagged,
    "fixed": fixed,
    "line-search": line_search,
}


def resolve_rule(rule: str | Rule, **options: Any) -> Rule:
    """A :class:`Rule` from a registry name (with options) or a Rule.

    Raises:
        OptionError: unknown name (the error names the nearest one), or options the
            rule does not take.

    >>> resolve_rule("three-point", numerator="values").label
    'three-point(values)'
    >>> resolve_rule("retsina")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    taylorlr.errors.OptionError: unknown rule 'retsina' (did you mean 'retsinas'?): use one of ...
    """
    if isinstance(rule, Rule):
        if options:
            raise OptionError(f"rule options {sorted(options)} apply only to a registry name")
        return rule
    factory = from_registry(RULES, rule, "rule", " or a tl.rules.Rule")
    try:
        return factory(**options)
    except TypeError as error:
        raise OptionError(f"bad options for rule {rule!r}: {error}") from error
