"""Notebook display of records: one small card (a title, fields, a table) as HTML or Markdown.

Every record a user holds (a Loss, a Solution, the critical points, a Newton step, a Run, a
Comparison) says what it wants shown as a :class:`Card`; this module alone turns it into
HTML (``_repr_html_``) or Markdown (``_repr_markdown_``), escaping every text it is given,
so a variable named ``a<b`` or ``x&y`` shows as written. It sits at the bottom of the layers
(beside ``_json``) and imports nothing heavy: the records of ``alpha`` and ``numerics`` use it
without loading SymPy.

>>> card = Card(title="Run", fields=(("best f", fmt(1 / 3)),), header=("t", "f"), rows=(("0", "1"),))
>>> print(card.markdown())
**Run**
<BLANKLINE>
- best f: 0.333333
<BLANKLINE>
| t | f |
| --- | --- |
| 0 | 1 |
>>> "<th>t</th>" in card.html()
True
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

#: the most table rows a card shows before it says how many it left out
ROW_LIMIT = 32
#: an exact form longer than this is folded behind its decimal value
EXACT_LIMIT = 40


def fmt(value: Any) -> str:
    """A float for people: 6 significant digits; None as "n/a", NaN as "nan".

    >>> fmt(1 / 3), fmt(None), fmt(float("inf")), fmt(2.0), fmt(-0.0), fmt(6.16e-11)
    ('0.333333', 'n/a', 'inf', '2', '0', '6.16e-11')
    """
    return "n/a" if value is None else f"{float(value) + 0.0:.6g}"  # + 0.0 turns -0.0 into 0.0


def vector(values: Iterable[Any]) -> str:
    """A vector as "(a, b)" (one entry bare), numbers through :func:`fmt`, strings as they are.

    >>> vector([0.5, "1/3"]), vector([2.0])
    ('(0.5, 1/3)', '2')
    """
    shown = [v if isinstance(v, str) else fmt(v) for v in values]
    return shown[0] if len(shown) == 1 else "(" + ", ".join(shown) + ")"


def folded(value: float | None, exact: str | None, limit: int = EXACT_LIMIT) -> str:
    """An exact number for people: short exact forms as they are (with the decimal beside a
    non-integer), long ones as the decimal with the form folded, and a root of a polynomial
    (``CRootOf``) as its decimal, its polynomial and an interval that holds it.

    >>> folded(0.7071067811865476, "sqrt(2)/2"), folded(2.0, "2"), folded(0.25, None)
    ('sqrt(2)/2 ≈ 0.707107', '2', '0.25')
    >>> folded(0.5873021, "CRootOf(x**9 - 3*x**7 + 2*x**5 - 17*x**3 + x - 1, 2)")
    '0.587302 (root of x**9 - 3*x**7 + 2*x**5 - 17*x**3 + x - 1 in [0.587302, 0.587303])'
    >>> folded(1.1, "sqrt(2 + sqrt(3 + sqrt(5 + sqrt(7 + sqrt(11 + sqrt(13))))))/7")
    '1.1 (exact: sqrt(2 + sqrt(3 + sqrt(5 + sqrt(7 + ...)'
    """
    if exact is None:
        return fmt(value)
    exact = exact.strip()
    if exact.lstrip("-").isdigit():
        return exact
    root = re.fullmatch(r"CRootOf\((.*), (-?\d+)\)", exact)
    if len(exact) <= limit and not root:
        return f"{exact} ≈ {fmt(value)}"
    if root and value is not None:
        polynomial = root.group(1)
        shown = polynomial if len(polynomial) <= limit else polynomial[: limit - 4].rstrip() + " ..."
        return f"{fmt(value)} (root of {shown} in {enclosure(value)})"
    return f"{fmt(value)} (exact: {exact[: limit - 4].rstrip()} ...)"


def enclosure(value: float) -> str:
    """An interval of 6-digit decimals around ``value`` (widened by 4 ulp on each side first, so
    the true number a float was rounded from is inside too).

    >>> enclosure(0.5873021049), enclosure(-2.0)
    ('[0.587302, 0.587303]', '[-2.00001, -1.99999]')
    """
    low = Decimal(math.nextafter(math.nextafter(value, -math.inf), -math.inf) - 2 * math.ulp(value))
    high = Decimal(math.nextafter(math.nextafter(value, math.inf), math.inf) + 2 * math.ulp(value))
    return f"[{_rounded(low, ROUND_FLOOR)}, {_rounded(high, ROUND_CEILING)}]"


def _rounded(number: Decimal, rounding: str) -> str:
    if number == 0:
        return "0"
    quantum = Decimal(1).scaleb(number.adjusted() - 5)
    return f"{number.quantize(quantum, rounding=rounding).normalize():g}"


def counts_text(counts: dict[str, int]) -> str:
    """ "converged 3, max_steps 1" from a mapping of labels to counts (zeros left out).

    >>> counts_text({"converged": 3, "rose": 0, "max_steps": 1})
    'converged 3, max_steps 1'
    """
    return ", ".join(f"{label} {count}" for label, count in counts.items() if count) or "none"


@dataclass(frozen=True, kw_only=True)
class Card:
    """What a record shows in a notebook: a title, ``(name, value)`` fields, and a table.

    Every string is plain text: :meth:`html` and :meth:`markdown` escape it.

    Attributes:
        title: the heading.
        fields: (name, value) lines under it.
        header, rows: the table's column names and rows (each row as many cells as the header).
        note: a last line (e.g. what the table left out).
    """

    title: str
    fields: Sequence[tuple[str, str]] = ()
    header: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()
    note: str = ""

    def shown_rows(self) -> tuple[list[Sequence[str]], str]:
        """The rows shown (at most :data:`ROW_LIMIT`) and the note, with what was left out."""
        rows = list(self.rows)
        notes = [self.note] if self.note else []
        if len(rows) > ROW_LIMIT:
            more = len(rows) - ROW_LIMIT
            notes.append(f"{more} more row{'s' if more > 1 else ''} not shown")
            rows = rows[:ROW_LIMIT]
        return rows, "; ".join(notes)

    def html(self) -> str:
        """The card as an HTML fragment (a heading, a definition table, a table)."""
        e = html.escape
        parts = [f"<div class='taylorlr'><strong>{e(self.title)}</strong>"]
        if self.fields:
            cells = "".join(
                f"<tr><th style='text-align:left'>{e(k)}</th><td style='text-align:left'>{e(v)}</td></tr>"
                for k, v in self.fields
            )
            parts.append(f"<table>{cells}</table>")
        rows, note = self.shown_rows()
        if self.header:
            head = "".join(f"<th>{e(h)}</th>" for h in self.header)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if note:
            parts.append(f"<p><em>{e(note)}</em></p>")
        return "".join(parts) + "</div>"

    def markdown(self) -> str:
        """The card as Markdown (cells escaped for a table: ``|`` and the HTML specials)."""
        lines = [f"**{_md(self.title)}**", ""]
        lines += [f"- {_md(k)}: {_md(v)}" for k, v in self.fields]
        rows, note = self.shown_rows()
        if self.header:
            lines += [""] if self.fields else []
            lines.append("| " + " | ".join(_md(h) for h in self.header) + " |")
            lines.append("|" + " --- |" * len(self.header))
            lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
        if note:
            lines += ["", f"*{_md(note)}*"]
        return "\n".join(lines)


def _md(text: str) -> str:
    """Text safe in Markdown: HTML specials escaped, and the characters that start markup."""
    escaped = html.escape(str(text), quote=False)
    for special in ("\\", "|", "*", "_", "`", "$"):
        escaped = escaped.replace(special, "\\" + special)
    return escaped
