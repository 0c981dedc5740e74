"""What the parser hands the builder: statements and expressions with named fields.

Each is a ``NamedTuple`` (as small and as fast to make as a plain tuple), and
each class has a ``kind``, a class attribute, so it costs nothing per
instance: ``st.kind == "assign"``. Every statement and expression ends with
``line`` and ``column``, where it starts in the source (for an operator, where
the operator is).

Statements: :class:`Param`, :class:`Assign`, :class:`Output`, :class:`Target`,
:class:`Data`.
Expressions: :class:`Num`, :class:`Name`, :class:`Call` (an operator is a call
of its op: ``2*w`` is ``Call("mul", (Num(2.0, ...), Name("w", ...)), ...)``).
A new kind of statement is one more class here, added to :data:`STATEMENTS`.

>>> st = Assign("z", Call("mul", (Num(2.0, 1, 5), Name("w", 1, 7)), 1, 6), 1, 1)
>>> st.kind, st.name, st.expr.op, [a.kind for a in st.expr.args], st.line
('assign', 'z', 'mul', ['num', 'name'], 1)

This module imports nothing, so every layer may use it.
"""

from __future__ import annotations

from typing import NamedTuple


# --- expressions ---------------------------------------------------------------

class Num(NamedTuple):
    """A number literal."""

    value: float
    line: int
    column: int
    kind = "num"


class Name(NamedTuple):
    """A reference to a named quantity."""

    name: str
    line: int
    column: int
    kind = "name"


class Call(NamedTuple):
    """An op applied to operands: a call ``f(a, b)``, an operator or a unary minus.
    ``op`` is the registry name (``mul`` for ``*``)."""

    op: str
    args: tuple
    line: int
    column: int
    kind = "op"


# --- statements ------------------------------------------------------------------

class Param(NamedTuple):
    """``param NAME = NUMBER``: a trainable leaf and its starting value."""

    name: str
    value: float
    line: int
    column: int
    kind = "param"


class Assign(NamedTuple):
    """``NAME = EXPR``."""

    name: str
    expr: tuple
    line: int
    column: int
    kind = "assign"


class Output(NamedTuple):
    """``output NAME``."""

    name: str
    line: int
    column: int
    kind = "output"


class Target(NamedTuple):
    """``target NUMBER``."""

    value: float
    line: int
    column: int
    kind = "target"


class Data(NamedTuple):
    """``data NAME, ...``: one declared data column (a ``data`` line gives one per
    column). ``values`` is a tuple of numbers for an inline column
    (``data x = [0, 1]``), else None: they come from a CSV."""

    name: str
    values: tuple | None
    line: int
    column: int
    kind = "data"


class Signed(NamedTuple):
    """A signed number while it is parsed (``-1.5e-3``), before it becomes a
    param's value or a target: never in a finished statement."""

    value: float
    line: int
    column: int
    kind = "signed"


EXPRESSIONS = (Num, Name, Call)
STATEMENTS = (Param, Assign, Output, Target, Data)
