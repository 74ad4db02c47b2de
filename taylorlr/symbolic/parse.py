"""Safe reading of a loss typed as text into an exact SymPy expression.

>>> parse("x^2 + 0.1*y")
x**2 + y/10
>>> parse("2^3^2"), parse("-x^2"), parse("1e-3")
(512, -x**2, 1/1000)

The grammar is the arithmetic part of Python's expression syntax: numbers,
names, ``+ - * / **``, unary ``+``/``-``, parentheses and calls of whitelisted
functions (:data:`ALLOWED_FUNCTIONS`). ``^`` is a power, exactly like ``**``.
A bare name is a real variable (``sympy.Symbol(name, real=True)``), except the
constants ``pi`` and ``E``; the names of :data:`SYMPY_NAMES` (``I``, ``S``, ``oo``,
``zoo``, ``nan`` and SymPy's capitalised names such as ``Integral``) are variables too,
with a :class:`SymPyNameWarning`; ``beta``, ``gamma`` and ``theta`` are variables,
not SymPy's functions. Decimal literals are exact: ``0.1`` is ``1/10``.

Security model
--------------
The text never reaches ``eval``, ``exec``, ``sympify`` or ``parse_expr``:
those run arbitrary Python (``sympify("__import__('os')...")`` is code
execution). Instead the text goes through three gates, each a whitelist:

1. Characters: printable ASCII, tab and newline only. Non-ASCII is refused
   because Python folds identifiers by NFKC (``ｅｖａｌ`` *is* ``eval``), and
   quotes, ``#`` and backslashes are refused because no loss needs strings,
   comments or line continuations.
2. Tokens (the ``tokenize`` module): only numbers, names that are not Python
   keywords (nor private or dunder names), the operators
   ``+ - * / ** ^ ( ) ,`` and whitespace. Characters and tokens are checked
   together in reading order, so the leftmost fault is the one reported; no
   text reaches Python's parser unless every character passed. Parentheses
   are counted here, *before* Python's parser sees the text, because the
   parser's own stack can be exhausted by deep nesting. ``^`` is rewritten to
   ``**`` on these tokens: doing it on the syntax tree (mapping xor to power)
   would give ``^`` the precedence of xor (``x^2+1`` would read as
   ``x^(2+1)``), and a textual regex could touch text that is not an operator.
3. Syntax tree (``ast.parse(..., mode="eval")``, which only parses): every node
   type is checked against a whitelist and turned into SymPy objects with
   SymPy's constructors (``Add``, ``Mul``, ``Pow``, ``Integer``,
   ``Rational``, ``Symbol``...). Calls must name a whitelisted function
   directly, with the right number of positional arguments.

Errors are :class:`~taylorlr.errors.ParseError` (a ``ValueError``) whose
``column`` is the 0-based offset of the fault in the text as given, even
though the text handed to Python's parser differs (wrapped in parentheses,
``^`` spelled ``**``).

Limits
------
SymPy evaluates eagerly: ``Pow(2, 10**9)`` would compute a billion-bit
integer, and ``sqrt`` of a huge integer searches for perfect powers. So sizes
are bounded *before* SymPy is asked to build anything large:

- :data:`MAX_LENGTH` characters of text and :data:`MAX_DEPTH` levels of
  nesting (parentheses, calls, unary signs, powers; a chain such as
  ``a + b - c + ...`` counts as one level).
- :data:`MAX_NAME_LENGTH` characters per name.
- :data:`MAX_LITERAL_DIGITS` digits per number (3,011: as many as the largest number
  :data:`MAX_NUMBER_BITS` allows, so a printed expression always reads back; Python reads and
  prints integers up to ``sys.get_int_max_str_digits()``, 4300 by default, and a lower setting
  is named in the error) and decimal exponents within ``+-``:data:`MAX_DECIMAL_EXPONENT`
  (``1e-999999999`` is an error, not 0), also as written with digits (``0.000...1`` with 2000
  zeros is 1e-2001, refused like ``1e-2001``).
- :data:`MAX_NUMBER_BITS`: a conservative bound on the bits of every exact
  number SymPy would materialise (estimated bottom-up: bits add under
  products, multiply under powers). It also keeps every number printable
  under Python's default limit of 4300 digits.
- :data:`MAX_MAGNITUDE_BITS`: a bound on ``|log2 |v||`` for every value ``v``
  (variables counted as 1). SymPy settles signs by evaluating numbers
  numerically, and ``exp(exp(exp(10)))`` has more digits than memory holds;
  so ``exp`` (and ``sinh``, ``cosh``, powers) of large values are refused.
- :data:`MAX_DEGREE`: a bound on the total degree of powers of expressions
  that contain variables (``x**100000`` is refused: fine to differentiate,
  but a Taylor polynomial at a rational point would build a huge number).
- :data:`MAX_ROOT_BITS`: fractional powers (roots) only of numbers this small
  (summed over a product, since SymPy merges ``sqrt(2)*sqrt(3)`` into
  ``sqrt(6)`` and then searches it for perfect powers).
- :data:`MAX_EXPONENT_DENOMINATOR`: the denominator of a rational exponent
  (``0.012**0.37e-100`` asks SymPy for a root of degree 10**102, which it
  computes exactly until memory runs out).
- :data:`MAX_MIN_MAX_CALLS` calls and :data:`MAX_MIN_MAX_ARGUMENTS` flattened
  arguments for ``min``/``max``/``relu``, whose automatic simplification in
  SymPy grows quickly with nesting.

A constant that a function gives (``erfc(1e300)``) is evaluated numerically once,
as soon as it is built: if that fails the text is refused, so whether it is
accepted never depends on the order in which SymPy asks about its sign (which
varies with ``PYTHONHASHSEED``).

Exponents that are symbolic or irrational (``2**x``, ``x**pi``) stay
unevaluated in SymPy; they count only towards :data:`MAX_MAGNITUDE_BITS`.
Python's own parser refuses chains of about 3000 operands (``x+x+...``);
that, too, is reported as a :class:`~taylorlr.errors.ParseError`.
"""

from __future__ import annotations

import ast
import difflib
import io
import keyword
import math
import re
import tokenize
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import sympy

from taylorlr.errors import ParseError
from taylorlr.symbolic.functions import GROWTH_OF_CLASS, SPELLINGS, Growth, Spelling
from taylorlr.symbolic.functions import MAX_MIN_MAX_ARGUMENTS as _MAX_MIN_MAX_ARGUMENTS

__all__ = [
    "ALLOWED_FUNCTIONS",
    "CONSTANTS",
    "FUNCTION_ARITIES",
    "MAX_DECIMAL_EXPONENT",
    "MAX_DEGREE",
    "MAX_DEPTH",
    "MAX_EXPONENT_DENOMINATOR",
    "MAX_LENGTH",
    "MAX_LITERAL_DIGITS",
    "MAX_MAGNITUDE_BITS",
    "MAX_MIN_MAX_ARGUMENTS",
    "MAX_MIN_MAX_CALLS",
    "MAX_NAME_LENGTH",
    "MAX_NUMBER_BITS",
    "MAX_ROOT_BITS",
    "SYMPY_NAMES",
    "SymPyNameWarning",
    "magnitude_bits",
    "parse",
]

MAX_LENGTH = 10_000
"""Most characters a text may have."""

MAX_DEPTH = 100
"""Most levels of nesting (parentheses, calls, signs, powers)."""

MAX_NAME_LENGTH = 64
"""Most characters in one variable name."""

MAX_LITERAL_DIGITS = 3_011
"""Most digits in one number literal: those of ``2**MAX_NUMBER_BITS``, the largest number the
parser builds, so that every printed expression (``str`` of a loss, the JSON's strings) reads back."""

MAX_DECIMAL_EXPONENT = 1_000
"""Largest absolute decimal exponent in a literal such as ``1e-3``."""

MAX_NUMBER_BITS = 10_000
"""Largest (estimated) size in bits of an exact number SymPy would build."""

MAX_DEGREE = 1_000
"""Largest (estimated) total degree of powers of non-constant expressions."""

MAX_MAGNITUDE_BITS = 10_000
"""Largest (estimated) ``|log2 |v||`` of any value: no value beyond ``2**10000`` or below ``2**-10000``."""

MAX_ROOT_BITS = 512
"""Largest size in bits of the numbers under fractional powers in one product."""

MAX_EXPONENT_DENOMINATOR = 1_000
"""Largest denominator of a rational exponent (``x**0.37`` is ``x**(37/100)``)."""

MAX_MIN_MAX_CALLS = 32
"""Most calls of ``min``, ``max`` and ``relu`` in one text."""

MAX_MIN_MAX_ARGUMENTS = _MAX_MIN_MAX_ARGUMENTS
"""Most arguments of one ``min``/``max`` once nested ones are flattened."""

_FILENAME = "<taylorlr expression>"

# Factors above this are "infinite" for size estimates (and below float's overflow).
_FLOAT_SAFE_FACTOR = 2**64

CONSTANTS: Mapping[str, sympy.Expr] = MappingProxyType({"pi": sympy.pi, "E": sympy.E})
"""Names that mean a constant rather than a variable."""

SYMPY_NAMES: frozenset[str] = frozenset(
    {"I", "S", "oo", "zoo", "nan"}
    | {name for name in dir(sympy) if name[:1].isupper() and len(name) > 1 and name not in CONSTANTS}
)
"""Bare names that read as SymPy's objects (``I``, ``oo``, ``Integral``, ``EulerGamma``...).

A text that says ``x + Integral`` or ``I*x`` may mean SymPy's object, not a new variable: these
names stay variables, as every bare name is, but :func:`parse` warns (:class:`SymPyNameWarning`)
with a hint to rename.
"""


class SymPyNameWarning(UserWarning):
    """A bare name of the text is also a SymPy name (``I``, ``oo``...): it was read as a variable.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     expr = parse("I*x + 1")
    >>> sorted(str(name) for name in expr.free_symbols), caught[0].category is SymPyNameWarning
    (['I', 'x'], True)
    >>> str(caught[0].message).split(":")[0]
    "'I' is read as a real variable, not as SymPy's"
    """


# --------------------------------------------------------------------------
# Whitelisted functions: the catalogue's spellings (taylorlr.symbolic.functions)
# --------------------------------------------------------------------------

_PRESERVING, _EXPONENTIAL, _LOGARITHMIC = Growth.PRESERVING, Growth.EXPONENTIAL, Growth.LOGARITHMIC
_GROWTH_OF_CLASS: Mapping[type, Growth] = GROWTH_OF_CLASS
_FUNCTIONS: Mapping[str, Spelling] = SPELLINGS

ALLOWED_FUNCTIONS: Mapping[str, Callable[..., sympy.Expr]] = MappingProxyType(
    {name: spec.build for name, spec in _FUNCTIONS.items()}
)
"""The functions a text may call, by name."""

FUNCTION_ARITIES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {name: spec.arity for name, spec in _FUNCTIONS.items()}
)
"""Fewest and most positional arguments of each function in ALLOWED_FUNCTIONS."""


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def parse(text: str) -> sympy.Expr:
    """Read ``text`` as an exact SymPy expression, safely.

    Raises:
        ParseError: the text is not an allowed expression or exceeds a limit;
            ``.column`` locates the fault in ``text``.
        TypeError: ``text`` is not a ``str``.

    >>> parse("sin(theta)^2 + 1/3")
    sin(theta)**2 + 1/3
    >>> parse("x.real")
    Traceback (most recent call last):
    ...
    taylorlr.errors.ParseError: attribute access is not allowed at column 1
      x.real
       ^
    """
    if not isinstance(text, str):
        raise TypeError(f"parse expects a str, got {type(text).__name__}")
    _check_length(text)
    _check_not_blank(text)
    carets = _plain_carets(text)
    if carets is None:
        carets = _TokenScanner(text).scan()
    source = _rewrite(text, carets)
    tree = _syntax_tree(source)
    _check_depth(tree, source)
    builder = _Builder(source)
    result = builder.build_root(tree)
    if builder.sympy_names:
        _warn_sympy_names(sorted(builder.sympy_names))
    return result


def _warn_sympy_names(names: Sequence[str]) -> None:
    quoted = ", ".join(map(repr, names))
    warnings.warn(
        f"{quoted} {'is read as a real variable' if len(names) == 1 else 'are read as real variables'},"
        " not as SymPy's:"
        f" write a number for a constant (losses are real and finite), or rename (e.g. '{names[0]}_')"
        " to silence this warning",
        SymPyNameWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------
# Gate 1: characters
# --------------------------------------------------------------------------

_CHARACTER_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "'": "strings are not allowed",
        '"': "strings are not allowed",
        "#": "comments are not allowed",
        "\\": "backslashes are not allowed",
        # Never valid; refused here because tokenizers differ across Python versions.
        "$": "unexpected character '$'",
        "?": "unexpected character '?'",
        "!": "unexpected character '!' (comparisons are not supported)",
        "`": "unexpected character '`'",
    }
)


def _check_length(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise ParseError(
            f"text too long: {len(text)} characters (limit {MAX_LENGTH})",
            text=text,
            column=MAX_LENGTH,
        )


def _check_not_blank(text: str) -> None:
    if not text.strip():
        raise ParseError("empty expression", text=text, column=0)


#: the characters :func:`_character_reason` refuses: any but tab, newline and printable ASCII, and
#: the printable ones it names (one search in C, not a Python call per character)
_FORBIDDEN_CHARACTER = re.compile(r"[^\t\n\x20-\x7e]|[" + re.escape("".join(_CHARACTER_REASONS)) + "]")


def _first_forbidden_character(text: str) -> int | None:
    found = _FORBIDDEN_CHARACTER.search(text)
    return None if found is None else found.start()


def _character_reason(character: str) -> str | None:
    if character in "\t\n":
        return None
    code = ord(character)
    if code > 0x7E:
        return (
            f"non-ASCII character {character!r} (U+{code:04X}) is not allowed;"
            " names and operators must be plain ASCII"
        )
    if code < 0x20:
        return f"control character U+{code:04X} is not allowed"
    return _CHARACTER_REASONS.get(character)


# --------------------------------------------------------------------------
# Gate 2: tokens
# --------------------------------------------------------------------------

_ALLOWED_OPERATORS = frozenset({"+", "-", "*", "/", "**", "^", "(", ")", ","})

_COMPARISON = "comparisons are not supported"
_BITWISE = "bitwise operators are not supported (use '^' or '**' for powers)"
_ASSIGNMENT = "assignments are not allowed"

_OPERATOR_REASONS: Mapping[str, str] = MappingProxyType(
    {
        ".": "attribute access is not allowed",
        "[": "square brackets are not allowed (no subscripts or lists)",
        "]": "square brackets are not allowed (no subscripts or lists)",
        "{": "braces are not allowed (no sets or dicts)",
        "}": "braces are not allowed (no sets or dicts)",
        "=": "'=' is not allowed (no assignments or keyword arguments)",
        ":=": "assignment expressions (:=) are not allowed",
        ":": "':' is not allowed",
        ";": "';' is not allowed: write a single expression",
        "//": "floor division '//' is not supported",
        "%": "'%' (modulo) is not supported",
        "@": "'@' (matrix product) is not supported",
        "...": "'...' is not allowed",
        "->": "'->' is not allowed",
        "&": _BITWISE,
        "|": _BITWISE,
        "~": _BITWISE,
        "<<": _BITWISE,
        ">>": _BITWISE,
        "<": _COMPARISON,
        ">": _COMPARISON,
        "<=": _COMPARISON,
        ">=": _COMPARISON,
        "==": _COMPARISON,
        "!=": _COMPARISON,
    }
)

_IGNORED_TOKENS = frozenset(
    {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
)


def _wrap(text: str) -> str:
    # Parentheses let the text span lines and start with blanks; the newline
    # keeps the closing one out of any trailing construct.
    return "(" + text + "\n)"


def _line_starts(text: str) -> tuple[int, ...]:
    return (0, *(index + 1 for index, character in enumerate(text) if character == "\n"))


class _TokenScanner:
    """Checks characters and tokens in reading order, so the leftmost fault is reported.

    The text is tokenized inside the same wrapper that ``ast.parse`` will see.
    The tokenizer never sees a forbidden character: only the text before the
    first one is tokenized (tokenizers of different Python versions fail on
    them in different ways), and the scan then ends with that character's
    error, unless a fault came earlier.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._forbidden = _first_forbidden_character(text)
        self._wrapped = _wrap(text if self._forbidden is None else text[: self._forbidden])
        self._line_starts = _line_starts(self._wrapped)
        self._open_parentheses: list[int] = []
        self._carets: set[int] = set()
        self._previous: tokenize.TokenInfo | None = None

    def scan(self) -> frozenset[int]:
        """Check every token; return the offsets (in the text) of the ``^`` operators."""
        try:
            for token in tokenize.generate_tokens(io.StringIO(self._wrapped).readline):
                self._visit(token)
        except (tokenize.TokenError, SyntaxError):
            if self._forbidden is not None:
                raise self._character_error(self._forbidden) from None
            raise ParseError("cannot read the text", text=self._text, column=len(self._text)) from None
        if self._forbidden is not None:
            raise self._character_error(self._forbidden)
        return frozenset(self._carets)

    def _visit(self, token: tokenize.TokenInfo) -> None:
        # Offsets here are in the wrapped text, one past those of the text.
        start = self._offset(token.start)
        if self._forbidden is not None and self._offset(token.end) >= self._forbidden + 1:
            # The token reaches the cut: the forbidden character may have
            # been part of it, so it is not judged on its own.
            raise self._character_error(self._forbidden)
        if token.type in _IGNORED_TOKENS or _is_blank_error_token(token) or start == 0:
            return  # layout, or the wrapper's own '('
        if start == len(self._wrapped) - 1:
            _check_all_closed(self._open_parentheses, self._text)  # the wrapper's ')'
            return
        column = start - 1
        _check_token(token, self._text, column)
        _check_adjacent_operands(self._previous, token, self._text, column)
        _track_parenthesis(token.string, column, self._open_parentheses, self._text)
        if token.string == "^":
            self._carets.add(column)
        self._previous = token

    def _offset(self, position: tuple[int, int]) -> int:
        """Offset in the wrapped text of a tokenizer (row, column) position."""
        row, column = position
        row = min(max(row, 1), len(self._line_starts))
        return min(self._line_starts[row - 1] + column, len(self._wrapped))

    def _character_error(self, column: int) -> ParseError:
        reason = _character_reason(self._text[column]) or "forbidden character"
        return ParseError(reason, text=self._text, column=column)


def _is_blank_error_token(token: tokenize.TokenInfo) -> bool:
    # The pure-Python tokenizer reports the blank before a stray character too.
    return token.type == tokenize.ERRORTOKEN and not token.string.strip()


def _check_token(token: tokenize.TokenInfo, text: str, column: int) -> None:
    if token.type == tokenize.NAME:
        _check_name(token.string, text, column)
    elif token.type == tokenize.NUMBER:
        _number_digits(token.string, text, column)
    elif token.type == tokenize.OP:
        _check_operator(token.string, text, column)
    elif token.type in (tokenize.STRING, tokenize.COMMENT):
        raise ParseError("strings and comments are not allowed", text=text, column=column)
    else:
        raise ParseError(f"unexpected character {token.string[:1]!r}", text=text, column=column)


def _check_operator(operator: str, text: str, column: int) -> None:
    if operator in _ALLOWED_OPERATORS:
        return
    if operator.endswith("=") and operator not in _OPERATOR_REASONS:
        raise ParseError(_ASSIGNMENT, text=text, column=column)
    reason = _OPERATOR_REASONS.get(operator, f"{operator!r} is not allowed")
    raise ParseError(reason, text=text, column=column)


_OPERAND_TOKENS = frozenset({tokenize.NAME, tokenize.NUMBER})


def _check_adjacent_operands(
    previous: tokenize.TokenInfo | None, token: tokenize.TokenInfo, text: str, column: int
) -> None:
    # Python's own message here ("invalid decimal literal", "forgot a comma?")
    # points elsewhere; name the likely cause at the second operand.
    if previous is None or token.type not in _OPERAND_TOKENS:
        return
    if previous.type in _OPERAND_TOKENS or previous.string == ")":
        raise ParseError(
            f"missing operator between {previous.string!r} and {token.string!r} (write '*' to multiply)",
            text=text,
            column=column,
        )


def _track_parenthesis(operator: str, column: int, stack: list[int], text: str) -> None:
    if operator == "(":
        stack.append(column)
        if len(stack) > MAX_DEPTH:
            raise ParseError(f"parentheses nested too deeply (limit {MAX_DEPTH})", text=text, column=column)
    elif operator == ")":
        if not stack:
            raise ParseError("unmatched ')'", text=text, column=column)
        stack.pop()


def _check_all_closed(stack: list[int], text: str) -> None:
    if stack:
        raise ParseError("'(' was never closed", text=text, column=stack[-1])


#: the tokens of a plain text, in shapes that Python's tokenizer reads alike: blanks, names, decimal
#: numbers without ``_`` (an integer without leading zeros, as Python's), and ``** + - * / ^ ( ) ,``
_PLAIN_TOKEN = re.compile(
    r"(?P<blank>[ \t\n]+)"
    r"|(?P<name>[A-Za-z][A-Za-z0-9_]*)"
    r"|(?P<number>(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+|0|[1-9][0-9]*)"
    r"|(?P<operator>\*\*|[-+*/^(),])"
)
#: what may not follow a number in a plain text (Python would read more of it, or something else)
_AFTER_NUMBER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")


def _plain_carets(text: str) -> frozenset[int] | None:
    """The scanner's answer for a plain text that every check passes, in one pass of a regular
    expression (a tenth of the tokenizer's time); None for any other text, which
    :class:`_TokenScanner` then reads (and names its fault), so no text is judged here.

    >>> sorted(_plain_carets("x^2 + 3*y^2")), _plain_carets("x // y"), _plain_carets("2x")
    ([1, 9], None, None)
    """
    if "//" in text:  # one operator to Python, two here
        return None
    carets: list[int] = []
    open_parentheses, operand_before, position = 0, False, 0
    while position < len(text):
        token = _PLAIN_TOKEN.match(text, position)
        if token is None:
            return None
        kind, value, position = token.lastgroup, token.group(), token.end()
        if kind == "blank":
            continue
        if kind in ("name", "number"):
            if operand_before:
                return None
            if kind == "name" and _name_reason(value) is not None:
                return None
            if kind == "number" and not _plain_number(value, text, position):
                return None
        elif value == "(":
            open_parentheses += 1
            if open_parentheses > MAX_DEPTH:
                return None
        elif value == ")":
            open_parentheses -= 1
            if open_parentheses < 0:
                return None
        elif value == "^":
            carets.append(token.start())
        operand_before = kind in ("name", "number") or value == ")"
    return frozenset(carets) if open_parentheses == 0 else None


def _plain_number(literal: str, text: str, end: int) -> bool:
    """Whether a plain text's number passes the scanner's checks and ends where Python's would."""
    if end < len(text) and text[end] in _AFTER_NUMBER:
        return False
    try:
        _number_digits(literal, text, end - len(literal))
    except ParseError:
        return False
    return True


_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def _name_reason(name: str) -> str | None:
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword and cannot be a name; rename it, e.g. '{name}_'"
    if name.startswith("_"):
        return f"names may not start with '_': {name!r}"
    if "__" in name:
        return f"names may not contain '__': {name!r}"
    if len(name) > MAX_NAME_LENGTH:
        return f"name longer than {MAX_NAME_LENGTH} characters"
    if not _NAME_PATTERN.match(name):
        return f"invalid name {name!r}: use letters, digits and '_'"
    return None


def _check_name(name: str, text: str, column: int) -> None:
    reason = _name_reason(name)
    if reason is not None:
        raise ParseError(reason, text=text, column=column)


# --------------------------------------------------------------------------
# Exact numbers from their digits
# --------------------------------------------------------------------------

_DECIMAL_LITERAL = re.compile(
    r"(?P<whole>[0-9_]*)(?:\.(?P<fraction>[0-9_]*))?(?:[eE](?P<exponent>[+-]?[0-9_]+))?\Z"
)


def _exact_number(literal: str, text: str, column: int) -> sympy.Rational:
    """The exact value of a decimal literal; Python's float is never consulted."""
    mantissa, exponent = _number_digits(literal, text, column)
    if exponent >= 0:
        return sympy.Integer(mantissa * 10**exponent)
    return sympy.Rational(mantissa, 10**-exponent)


def _number_digits(literal: str, text: str, column: int) -> tuple[int, int]:
    """A decimal literal as ``(mantissa, exponent)``, its value ``mantissa * 10**exponent``, every
    limit on its digits and exponent checked (the scanner checks each number with this, before
    Python's parser reads the text; the builder makes its SymPy number)."""
    reason = _literal_form_reason(literal)
    match = _DECIMAL_LITERAL.match(literal)
    if reason is None and match is None:
        reason = f"malformed number {literal!r}"
    if reason is not None or match is None:
        raise ParseError(str(reason), text=text, column=column)
    whole = match["whole"].replace("_", "")
    fraction = (match["fraction"] or "").replace("_", "")
    if len(whole) + len(fraction) > MAX_LITERAL_DIGITS:
        raise ParseError(f"number has more than {MAX_LITERAL_DIGITS} digits", text=text, column=column)
    exponent = _decimal_exponent(match["exponent"], text, column) - len(fraction)
    significant = (whole + fraction).lstrip("0")
    if (match["fraction"] is not None or match["exponent"]) and significant:
        # a decimal's size as written: 0.000...1 is 1e-2001, as far out of range as 1e-2001 itself
        leading = exponent + len(significant) - 1
        if abs(leading) > MAX_DECIMAL_EXPONENT:
            raise ParseError(
                f"number out of range: about 1e{leading} (limit 1e+-{MAX_DECIMAL_EXPONENT})",
                text=text,
                column=column,
            )
    try:
        mantissa = int(whole + fraction or "0")
    except ValueError as error:  # sys.set_int_max_str_digits() set below the literal's length
        raise ParseError(f"cannot read the number: {error}", text=text, column=column) from None
    return mantissa, exponent


def _literal_form_reason(literal: str) -> str | None:
    if literal[-1:] in ("j", "J"):
        return "complex numbers are not supported"
    if literal[:2].lower() in ("0x", "0o", "0b"):
        return "only decimal numbers are supported"
    return None


def _decimal_exponent(written: str | None, text: str, column: int) -> int:
    if written is None:
        return 0
    digits = written.lstrip("+-").replace("_", "").lstrip("0")
    # Compare lengths first: int() of a long digit string is itself slow.
    if len(digits) > len(str(MAX_DECIMAL_EXPONENT)) or int(digits or "0") > MAX_DECIMAL_EXPONENT:
        raise ParseError(f"exponent too large (limit {MAX_DECIMAL_EXPONENT})", text=text, column=column)
    value = int(digits or "0")
    return -value if written.startswith("-") else value


# --------------------------------------------------------------------------
# The text handed to Python's parser, and the way back to original columns
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """The original text, the rewritten text parsed by ``ast``, and the map between."""

    original: str
    rewritten: str
    original_offsets: tuple[int, ...]  # for each rewritten offset, plus its end
    line_starts: tuple[int, ...]

    def offset(self, lineno: int, col_offset: int) -> int:
        """Offset in the rewritten text of an ``ast`` (line, column) position."""
        line = min(max(lineno, 1), len(self.line_starts))
        return min(max(self.line_starts[line - 1] + col_offset, 0), len(self.rewritten))

    def column(self, lineno: int, col_offset: int) -> int:
        """Column in the original text of an ``ast`` (line, column) position."""
        return self.original_offsets[self.offset(lineno, col_offset)]

    def error(self, reason: str, column: int) -> ParseError:
        return ParseError(reason, text=self.original, column=column)


def _rewrite(text: str, carets: frozenset[int]) -> _Source:
    pieces = ["("]
    offsets = [0]
    for offset, character in enumerate(text):
        if offset in carets:
            pieces.append("**")
            offsets.extend((offset, offset))
        else:
            pieces.append(character)
            offsets.append(offset)
    pieces.append("\n)")
    offsets.extend((len(text), len(text), len(text)))
    rewritten = "".join(pieces)
    return _Source(text, rewritten, tuple(offsets), _line_starts(rewritten))


# --------------------------------------------------------------------------
# Gate 3: the syntax tree
# --------------------------------------------------------------------------


def _syntax_tree(source: _Source) -> ast.Expression:
    try:
        return ast.parse(source.rewritten, filename=_FILENAME, mode="eval")
    except SyntaxError as error:
        column = source.column(error.lineno or 1, (error.offset or 1) - 1)
        raise source.error(f"syntax error: {error.msg}", column) from None
    except (RecursionError, MemoryError):
        raise source.error("expression too long or too deeply nested for Python's parser", 0) from None
    except (ValueError, OverflowError) as error:
        raise source.error(f"cannot parse: {error}", 0) from None


_ADDITIVE = (ast.Add, ast.Sub)
_MULTIPLICATIVE = (ast.Mult, ast.Div)


def _continues_chain(parent: ast.AST, child: ast.AST) -> bool:
    """True when ``child`` is the left part of a ``a + b - c`` or ``a * b / c`` chain."""
    if not (isinstance(parent, ast.BinOp) and isinstance(child, ast.BinOp)):
        return False
    if child is not parent.left:
        return False
    for family in (_ADDITIVE, _MULTIPLICATIVE):
        if isinstance(parent.op, family) and isinstance(child.op, family):
            return True
    return False


def _child_depth(parent: ast.AST, child: ast.AST, depth: int) -> int:
    # Operator and context nodes (Add, Load) are not levels of nesting.
    if not isinstance(child, ast.expr) or _continues_chain(parent, child):
        return depth
    return depth + 1


def _check_depth(tree: ast.Expression, source: _Source) -> None:
    """Refuse deep trees without recursing, so that the builder's recursion is bounded."""
    # (node, its depth, the nearest node at or above it that has a position: the error's column)
    stack: list[tuple[ast.AST, int, ast.AST | None]] = [(tree.body, 1, None)]
    while stack:
        node, depth, placed = stack.pop()
        if getattr(node, "lineno", None) is not None and getattr(node, "col_offset", None) is not None:
            placed = node
        if depth > MAX_DEPTH:
            column = 0 if placed is None else source.column(placed.lineno, placed.col_offset)  # type: ignore[attr-defined]
            raise source.error(f"expression nested too deeply (limit {MAX_DEPTH})", column)
        for child in ast.iter_child_nodes(node):
            stack.append((child, _child_depth(node, child, depth), placed))


_NODE_REASONS: Mapping[type[ast.AST], str] = MappingProxyType(
    {
        ast.Attribute: "attribute access is not allowed",
        ast.Subscript: "subscripts are not allowed",
        ast.Slice: "slices are not allowed",
        ast.Lambda: "lambda expressions are not allowed",
        ast.ListComp: "comprehensions are not allowed",
        ast.SetComp: "comprehensions are not allowed",
        ast.DictComp: "comprehensions are not allowed",
        ast.GeneratorExp: "generator expressions are not allowed",
        ast.JoinedStr: "strings are not allowed",
        ast.FormattedValue: "strings are not allowed",
        ast.Compare: _COMPARISON,
        ast.BoolOp: "boolean operators are not supported",
        ast.NamedExpr: "assignment expressions (:=) are not allowed",
        ast.IfExp: "conditional expressions are not allowed",
        ast.Tuple: "tuples are not allowed",
        ast.List: "lists are not allowed",
        ast.Dict: "dicts are not allowed",
        ast.Set: "sets are not allowed",
        ast.Starred: "starred arguments are not allowed",
        ast.Await: "'await' is not allowed",
        ast.Yield: "'yield' is not allowed",
        ast.YieldFrom: "'yield' is not allowed",
    }
)

_BINARY_OPERATOR_REASONS: Mapping[type[ast.operator], str] = MappingProxyType(
    {
        ast.FloorDiv: "floor division '//' is not supported",
        ast.Mod: "'%' (modulo) is not supported",
        ast.MatMult: "'@' (matrix product) is not supported",
        ast.BitXor: _BITWISE,
        ast.BitAnd: _BITWISE,
        ast.BitOr: _BITWISE,
        ast.LShift: _BITWISE,
        ast.RShift: _BITWISE,
    }
)

_CALL_OPENING = re.compile(r"[ \t\n]*\(")

# Values SymPy uses for undefined or non-real results (1/0, log(0), sqrt(-1)).
_UNDEFINED = (sympy.zoo, sympy.nan, sympy.oo, sympy.S.NegativeInfinity, sympy.I)


class _Builder:
    """Turns a checked syntax tree into SymPy, refusing anything off the whitelist."""

    def __init__(self, source: _Source) -> None:
        self._source = source
        self._sizes = _SizeEstimator()
        self._min_max_calls = 0
        self.sympy_names: set[str] = set()  # bare names that are also SymPy's (warned about)
        self._handlers: dict[type[ast.AST], Callable[[ast.expr], sympy.Expr]] = {
            ast.Constant: self._constant,
            ast.Name: self._name,
            ast.UnaryOp: self._unary,
            ast.BinOp: self._binary,
            ast.Call: self._call,
        }

    # -- dispatch ----------------------------------------------------------

    def build_root(self, tree: ast.Expression) -> sympy.Expr:
        try:
            return self.build(tree.body)
        except RecursionError:
            raise self._source.error("expression nested too deeply", 0) from None

    def build(self, node: ast.expr) -> sympy.Expr:
        handler = self._handlers.get(type(node))
        if handler is None:
            reason = _NODE_REASONS.get(type(node), f"{type(node).__name__} is not allowed")
            raise self._error(reason, node)
        result = handler(node)
        self._check_size(result, node)
        return result

    def _column(self, node: ast.expr) -> int:
        return self._source.column(node.lineno, node.col_offset)

    def _error(self, reason: str, node: ast.expr) -> ParseError:
        return self._source.error(reason, self._column(node))

    # -- leaves ------------------------------------------------------------

    def _constant(self, node: ast.expr) -> sympy.Expr:
        assert isinstance(node, ast.Constant)
        value = node.value
        if isinstance(value, complex):
            raise self._error("complex numbers are not supported", node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._error(f"the constant {value!r} is not allowed", node)
        return _exact_number(self._literal(node), self._source.original, self._column(node))

    def _literal(self, node: ast.expr) -> str:
        # The float in the tree has lost digits; read the digits as written.
        start = self._column(node)
        end = self._source.column(node.end_lineno or node.lineno, node.end_col_offset or 0)
        return self._source.original[start:end]

    def _name(self, node: ast.expr) -> sympy.Expr:
        assert isinstance(node, ast.Name)
        name = node.id
        reason = _name_reason(name)
        if reason is not None:
            raise self._error(reason, node)
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in _FUNCTIONS:
            raise self._error(f"{name!r} is a function: call it, as in {name}(x)", node)
        if name in SYMPY_NAMES:
            self.sympy_names.add(name)
        return sympy.Symbol(name, real=True)

    # -- operators ---------------------------------------------------------

    def _unary(self, node: ast.expr) -> sympy.Expr:
        assert isinstance(node, ast.UnaryOp)
        if isinstance(node.op, ast.USub):
            return _negated(self.build(node.operand))
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        raise self._error(f"unary {type(node.op).__name__} is not supported", node)

    def _binary(self, node: ast.expr) -> sympy.Expr:
        assert isinstance(node, ast.BinOp)
        if isinstance(node.op, _ADDITIVE):
            return self._sum(node)
        if isinstance(node.op, _MULTIPLICATIVE):
            return self._product(node)
        if isinstance(node.op, ast.Pow):
            return self._power(self.build(node.left), self.build(node.right), node)
        reason = _BINARY_OPERATOR_REASONS.get(type(node.op), "operator not supported")
        raise self._error(reason, node)

    def _sum(self, node: ast.BinOp) -> sympy.Expr:
        first, rest = _flatten_chain(node, _ADDITIVE)
        terms = [self.build(first)]
        for operator, operand in rest:
            term = self.build(operand)
            terms.append(term if isinstance(operator, ast.Add) else _negated(term))
        return sympy.Add(*terms)

    def _product(self, node: ast.BinOp) -> sympy.Expr:
        first, rest = _flatten_chain(node, _MULTIPLICATIVE)
        factors = [self.build(first)]
        for operator, operand in rest:
            factor = self.build(operand)
            if isinstance(operator, ast.Div):
                factor = self._power(factor, sympy.S.NegativeOne, operand)
            factors.append(factor)
        self._check_estimate(self._sizes.of_product(factors), node)
        return sympy.Mul(*factors)

    def _power(self, base: sympy.Expr, exponent: sympy.Expr, node: ast.expr) -> sympy.Expr:
        self._check_power(base, exponent, node)
        result = sympy.Pow(base, exponent)
        self._check_result(result, node, "the power")
        return result

    # -- calls -------------------------------------------------------------

    def _call(self, node: ast.expr) -> sympy.Expr:
        assert isinstance(node, ast.Call)
        name = self._called_name(node)
        spec = _FUNCTIONS[name]
        self._check_arguments(node, name, spec)
        arguments = [self.build(argument) for argument in node.args]
        if spec.root is not None:
            self._check_power(arguments[0], spec.root, node)
        else:
            self._check_estimate(self._sizes.of_call(spec.growth, arguments), node)
        if spec.lattice:
            self._check_min_max(name, arguments, node)
        result = spec.build(*arguments)
        self._check_result(result, node, f"{name}(...)")
        return result

    def _called_name(self, node: ast.Call) -> str:
        function = node.func
        if not isinstance(function, ast.Name) or not self._is_bare(function):
            raise self._error(
                "only a function name can be called, as in sin(x); write '*' to multiply",
                function,
            )
        reason = _name_reason(function.id)
        if reason is not None:
            raise self._error(reason, function)
        if function.id not in _FUNCTIONS:
            allowed = ", ".join(sorted(_FUNCTIONS))
            close = difflib.get_close_matches(function.id, sorted(_FUNCTIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self._error(f"unknown function {function.id!r}{hint}; allowed: {allowed}", function)
        return function.id

    def _is_bare(self, function: ast.Name) -> bool:
        # "(f)(x)" parses like "f(x)"; only a name directly followed by "(" is a call.
        end = self._source.offset(function.end_lineno or function.lineno, function.end_col_offset or 0)
        return _CALL_OPENING.match(self._source.rewritten, end) is not None

    def _check_arguments(self, node: ast.Call, name: str, spec: Spelling) -> None:
        if node.keywords:
            keyword_node = node.keywords[0]
            column = self._source.column(keyword_node.lineno, keyword_node.col_offset)
            raise self._source.error("keyword arguments are not allowed", column)
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self._error("starred arguments are not allowed", argument)
        count = len(node.args)
        if not spec.arity[0] <= count <= spec.arity[1]:
            raise self._error(_arity_reason(name, spec, count), node)

    def _check_min_max(self, name: str, arguments: Sequence[sympy.Expr], node: ast.expr) -> None:
        self._min_max_calls += 1
        if self._min_max_calls > MAX_MIN_MAX_CALLS:
            raise self._error(f"too many min/max/relu calls (limit {MAX_MIN_MAX_CALLS})", node)
        flattened = sum(
            len(argument.args) if isinstance(argument, (sympy.Min, sympy.Max)) else 1
            for argument in arguments
        )
        if flattened > MAX_MIN_MAX_ARGUMENTS:
            raise self._error(
                f"{name}(...) of too many arguments once nested calls are merged"
                f" (limit {MAX_MIN_MAX_ARGUMENTS})",
                node,
            )

    # -- size and definedness checks ----------------------------------------

    def _check_power(self, base: sympy.Expr, exponent: sympy.Expr, node: ast.expr) -> None:
        if isinstance(exponent, sympy.Rational) and exponent.q > MAX_EXPONENT_DENOMINATOR:
            raise self._error(
                f"exponent {_abbreviated(exponent)} has a denominator too large"
                f" (limit {MAX_EXPONENT_DENOMINATOR}): write it with fewer decimals",
                node,
            )
        # the exponent first: a number's sign is cheap, a base's zeroness costs SymPy's assumptions
        if exponent.is_extended_negative is True and base.is_zero is True:
            raise self._error("division by zero", node)
        if _is_root_of_negative(base, exponent):
            raise self._error(
                "complex numbers are not supported (fractional power of a negative number)", node
            )
        self._check_estimate(self._sizes.of_power(base, exponent), node)

    def _check_size(self, result: sympy.Expr, node: ast.expr) -> None:
        self._check_estimate(self._sizes.of(result), node)

    def _check_estimate(self, size: _Size, node: ast.expr) -> None:
        if size.bits > MAX_NUMBER_BITS:
            raise self._error(f"number too large: about {size.bits:.3g} bits (limit {MAX_NUMBER_BITS})", node)
        if size.degree > MAX_DEGREE:
            raise self._error(
                f"exponent too large: degree about {size.degree:.3g} (limit {MAX_DEGREE})", node
            )
        if size.magnitude > MAX_MAGNITUDE_BITS:
            raise self._error(
                f"value too large or too small (estimated beyond 2**±{MAX_MAGNITUDE_BITS})", node
            )
        if size.root_bits > MAX_ROOT_BITS:
            raise self._error(
                f"fractional powers of numbers too large: about {size.root_bits:.3g} bits"
                f" (limit {MAX_ROOT_BITS})",
                node,
            )

    def _check_result(self, result: sympy.Expr, node: ast.expr, what: str) -> None:
        # Size first: asking whether a number is real may evaluate it numerically.
        self._check_size(result, node)
        if _numeric_failure(result):
            raise self._error(f"{what} cannot be evaluated numerically ({_abbreviated(result)})", node)
        if result.has(*_UNDEFINED) or _is_non_real_number(result):
            raise self._error(f"{what} is undefined or not real here ({_abbreviated(result)})", node)


def magnitude_bits(expr: sympy.Basic) -> float:
    """The parser's bound on ``|log2 |v||`` for the values of ``expr`` (variables counted as 1).

    For expressions built without the parser (SymPy input): a constant beyond
    :data:`MAX_MAGNITUDE_BITS` is not worth evaluating (``exp(exp(exp(100)))`` would not finish).

    >>> magnitude_bits(sympy.Integer(2) ** 100)
    100.0
    >>> magnitude_bits(sympy.exp(sympy.exp(100))) > MAX_MAGNITUDE_BITS
    True
    """
    try:
        return _SizeEstimator().of(expr).magnitude
    except RecursionError:
        return math.inf


class _Size(NamedTuple):
    """Conservative estimates of what SymPy may build or evaluate from an expression.

    ``bits``: bits of the exact numbers (they add under products and scale
    under powers). ``degree``: total degree in the non-constant parts.
    ``root_bits``: bits of the numbers under fractional powers, which SymPy
    multiplies together (``sqrt(2)*sqrt(3)`` is ``sqrt(6)``) and then tests for
    perfect powers, at a cost that grows fast with their size.
    ``magnitude``: ``|log2 |v||`` of the value, counting variables as 1: SymPy
    evaluates numbers numerically to settle signs, and ``exp(exp(exp(9)))``
    would not fit in memory.
    """

    bits: float
    degree: float
    root_bits: float
    magnitude: float


_NOTHING = _Size(0.0, 0.0, 0.0, 0.0)
_LOG2_E = math.log2(math.e)
_NUMBER_SYMBOL_MAGNITUDE = 2.0  # pi and E lie between 2**1 and 2**2


class _SizeEstimator:
    """Memoised :class:`_Size` of SymPy expressions, computed bottom-up."""

    def __init__(self) -> None:
        self._known: dict[sympy.Basic, _Size] = {}

    def of(self, expr: sympy.Basic) -> _Size:
        known = self._known.get(expr)
        if known is None:
            known = self._known[expr] = self._compute(expr)
        return known

    def of_product(self, factors: Sequence[sympy.Basic]) -> _Size:
        sizes = [self.of(factor) for factor in factors]
        return _Size(
            sum(size.bits for size in sizes),
            sum(size.degree for size in sizes),
            sum(size.root_bits for size in sizes),
            sum(size.magnitude for size in sizes),
        )

    def of_power(self, base: sympy.Basic, exponent: sympy.Basic) -> _Size:
        base_size = self.of(base)
        if not isinstance(exponent, sympy.Rational):
            # Symbolic and irrational exponents stay unevaluated, but scale the value.
            exponent_size = self.of(exponent)
            return _Size(
                base_size.bits,
                max(base_size.degree, exponent_size.degree),
                max(base_size.root_bits, exponent_size.root_bits),
                base_size.magnitude * _power_of_two(exponent_size.magnitude),
            )
        factor = _factor(exponent)
        root_bits = base_size.root_bits
        if isinstance(base, sympy.Rational) and not exponent.is_integer:
            root_bits += _rational_bits(base)
        return _Size(
            _scaled(base_size.bits, factor),
            _scaled(base_size.degree, factor),
            root_bits,
            _scaled(base_size.magnitude, factor),
        )

    def of_call(self, growth: str, arguments: Sequence[sympy.Basic]) -> _Size:
        # A call keeps its arguments apart: no exact number grows through it,
        # and a non-constant call counts as one unknown (sqrt(x)**n at x=4).
        sizes = [self.of(argument) for argument in arguments]
        degree = min(max(size.degree for size in sizes), 1.0)
        magnitude = _grown(max(size.magnitude for size in sizes), growth)
        return _Size(0.0, degree, 0.0, magnitude)

    def _compute(self, expr: sympy.Basic) -> _Size:
        if isinstance(expr, sympy.Rational):
            return _Size(_rational_bits(expr), 0.0, 0.0, _rational_magnitude(expr))
        if isinstance(expr, sympy.Symbol):
            return _Size(0.0, 1.0, 0.0, 0.0)
        if isinstance(expr, sympy.Pow):
            return self.of_power(expr.base, expr.exp)
        if isinstance(expr, sympy.Mul):
            return self.of_product(expr.args)
        if isinstance(expr, sympy.Add):
            return self._of_sum(expr.args)
        if not expr.args:
            return _Size(0.0, 0.0, 0.0, _NUMBER_SYMBOL_MAGNITUDE)  # pi, E
        return self.of_call(_GROWTH_OF_CLASS.get(type(expr), _PRESERVING), expr.args)

    def _of_sum(self, terms: Sequence[sympy.Basic]) -> _Size:
        sizes = [self.of(term) for term in terms]
        spread = math.log2(len(sizes))
        return _Size(
            max(size.bits for size in sizes) + spread,
            max(size.degree for size in sizes),
            0.0,  # roots in different terms are never multiplied together
            max(size.magnitude for size in sizes) + spread,
        )


def _grown(magnitude: float, growth: str) -> float:
    """Bound on ``|log2 |f(v)||`` given ``magnitude``, a bound on ``|log2 |v||``."""
    if growth == _EXPONENTIAL:
        return _LOG2_E * _power_of_two(magnitude) + 1.0
    if growth == _LOGARITHMIC:
        return math.log2(magnitude + 2.0) + 1.0
    return magnitude


def _power_of_two(exponent: float) -> float:
    return math.inf if exponent > 1_000 else 2.0**exponent


def _flatten_chain(
    node: ast.BinOp, family: tuple[type[ast.operator], ...]
) -> tuple[ast.expr, list[tuple[ast.operator, ast.expr]]]:
    """Split ``a - b + c`` into ``a`` and ``[(-, b), (+, c)]`` without recursion."""
    rest: list[tuple[ast.operator, ast.expr]] = []
    current: ast.expr = node
    while isinstance(current, ast.BinOp) and isinstance(current.op, family):
        rest.append((current.op, current.right))
        current = current.left
    rest.reverse()
    return current, rest


def _negated(term: sympy.Expr) -> sympy.Expr:
    """``-term`` as SymPy's own negation builds it (``Mul(-1, term)`` without flattening it again,
    the same expression: a tenth of a cold parse of the 10-variable Rosenbrock text less)."""
    return -term


def _rational_magnitude(number: sympy.Rational) -> float:
    if number.is_zero:
        return 0.0
    return abs(math.log2(abs(int(number.p))) - math.log2(int(number.q)))


def _rational_bits(number: sympy.Rational) -> float:
    """log2 of the larger of numerator and denominator: the bits a power of it scales."""
    return math.log2(max(abs(int(number.p)), int(number.q)))


def _factor(exponent: sympy.Rational) -> float:
    """``|exponent|`` as a float, infinite beyond ``_FLOAT_SAFE_FACTOR`` (compared once, as integers:
    SymPy's own comparison of numbers costs more than the rest of the estimate).

    >>> _factor(sympy.Rational(-3, 2)), _factor(sympy.Integer(2) ** 70)
    (1.5, inf)
    """
    p, q = abs(int(exponent.p)), int(exponent.q)
    return math.inf if p > _FLOAT_SAFE_FACTOR * q else p / q


def _scaled(size: float, factor: float) -> float:
    """``size * factor`` (a size is never negative; 0 stays 0, even times an infinite factor)."""
    return 0.0 if size == 0 else size * factor


def _is_root_of_negative(base: sympy.Expr, exponent: sympy.Expr) -> bool:
    return (
        isinstance(base, sympy.Rational)
        and isinstance(exponent, sympy.Rational)
        and bool(base.is_negative)
        and not exponent.is_integer
    )


def _numeric_failure(result: sympy.Expr) -> bool:
    """Whether a constant that is not a plain number fails to evaluate (mpmath's erfc(1e300) overflows).

    Evaluated here once, before SymPy asks for its sign in an order that depends on the hash seed.
    """
    if isinstance(result, sympy.Number) or result.free_symbols or not result.args:
        return False
    try:
        result.evalf(15)
    except (ArithmeticError, ValueError, TypeError):
        return True
    return False


def _is_non_real_number(result: sympy.Expr) -> bool:
    return bool(result.is_number) and result.is_extended_real is False


def _abbreviated(expr: sympy.Basic, limit: int = 60) -> str:
    shown = str(expr)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _arity_reason(name: str, spec: Spelling, count: int) -> str:
    fewest, most = spec.arity
    if fewest == most:
        expected = f"{fewest} argument" + ("s" if fewest != 1 else "")
    else:
        expected = f"{fewest} to {most} arguments"
    return f"{name}() takes {expected}, got {count}"
