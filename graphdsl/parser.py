"""Text -> statements: the Lark LALR parser and the translation of its errors.

The grammar lives in ``grammars/graphdsl.lark`` (shipped inside the package as
``graphdsl/grammars/graphdsl.lark``). The parser is built once, lazily, with an
inline transformer, so no parse tree is ever kept: each grammar rule directly
returns a small tuple. The transformer holds no state, so one parser serves
every parse.

The result of :func:`parse` is a list of statements, each a plain tuple:

- ``("param", name, value, line, column)``
- ``("assign", name, expr, line, column)``
- ``("output", name, line, column)``
- ``("target", value, line, column)``
- ``("data", name, values, line, column)``: one per declared column; ``values``
  is a tuple of numbers for an inline column, else None (they come from a CSV)

and an expression is one of

- ``("num", value, line, column)``
- ``("name", name, line, column)``
- ``("op", op_name, (expr, ...), line, column)`` (position of the operator or call)

>>> parse("param w = 3\\nz = 2*w")[1]
('assign', 'z', ('op', 'mul', (('num', 2.0, 2, 5), ('name', 'w', 2, 7)), 2, 6), 2, 1)
"""

from __future__ import annotations

import gc
import math
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import ModelSyntaxError, GraphdslError

KEYWORDS_WITH_NAME_AND_NUMBER = ("param",)
KEYWORDS_WITH_NAME = ("output",)
KEYWORDS_WITH_NUMBER = ("target",)
KEYWORDS_WITH_COLUMNS = ("data",)

BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "^": "pow"}


def grammar_text() -> str:
    """The text of the ``.bp`` grammar, from the installed package or the source tree."""
    try:
        res = resources.files("graphdsl") / "grammars" / "graphdsl.lark"
        if res.is_file():
            return res.read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError):  # pragma: no cover
        pass
    src = Path(__file__).resolve().parent.parent / "grammars" / "graphdsl.lark"
    return src.read_text(encoding="utf-8")


def _number(tok, sign=None) -> float:
    value = float(tok)
    if not math.isfinite(value):
        raise ModelSyntaxError(
            f"the number {tok} is too large to represent",
            line=tok.line, column=tok.column, width=len(tok),
            hint="numbers must be below about 1.8e308",
        )
    if sign is not None and sign == "-":
        value = -value
    return value


def _make_transformer():
    from lark import Transformer

    from . import diagnostics

    class ToStatements(Transformer):
        """Inline transformer: every rule returns a plain tuple (see module doc)."""

        def start(self, items):
            out = []
            for s in items:
                if isinstance(s, tuple):
                    out.append(s)
                elif isinstance(s, list):  # a `data` line declares several columns
                    out.extend(s)
            return out

        def signed_number(self, items):
            if len(items) == 2:
                sign, tok = items
                return (_number(tok, str(sign)), sign.line, sign.column)
            (tok,) = items
            return (_number(tok), tok.line, tok.column)

        def keyword_assign(self, items):
            kw, name, _eq, (value, _l, _c) = items
            if kw != "param":
                raise diagnostics.keyword_assign_error(kw, name, value)
            return ("param", str(name), value, name.line, name.column)

        def keyword_columns(self, items):
            kw, name = items[0], items[1]
            rest = items[2:]
            columns = []
            if rest and not isinstance(rest[0], tuple):   # data x = [...], ...
                columns.append((name, rest[1]))
                rest = rest[2:]
            else:
                columns.append((name, None))
            columns += rest
            if kw != "data":
                raise diagnostics.keyword_columns_error(kw, columns)
            return [("data", str(tok), values, tok.line, tok.column) for tok, values in columns]

        def column(self, items):
            if len(items) == 1:
                return (items[0], None)
            return (items[0], items[2])

        def number_list(self, items):
            return tuple(item[0] for item in items if item is not None)

        def keyword_number(self, items):
            kw, (value, _l, _c) = items
            if kw != "target":
                raise diagnostics.keyword_number_error(kw, value)
            return ("target", value, kw.line, kw.column)

        def keyword_name(self, items):
            kw, name = items
            if kw == "data":
                return ("data", str(name), None, name.line, name.column)
            if kw != "output":
                raise diagnostics.keyword_name_error(kw, name)
            return ("output", str(name), name.line, name.column)

        def assign(self, items):
            name, _eq, expr = items
            return ("assign", str(name), expr, name.line, name.column)

        def number(self, items):
            (tok,) = items
            return ("num", _number(tok), tok.line, tok.column)

        def name(self, items):
            (tok,) = items
            return ("name", str(tok), tok.line, tok.column)

        def call(self, items):
            tok, args = items
            args = tuple(args) if args is not None else ()
            return ("op", str(tok), args, tok.line, tok.column)

        def arguments(self, items):
            return list(items)

        def binary(self, items):
            a, op, b = items
            return ("op", BINARY_OPS[str(op)], (a, b), op.line, op.column)

        def unary(self, items):
            sign, a = items
            if sign == "+":
                return a
            if a[0] == "num":
                return ("num", -a[1], sign.line, sign.column)
            return ("op", "neg", (a,), sign.line, sign.column)

    return ToStatements()


class _ParenNewlines:
    """Post-lexer: newlines inside parentheses (or a data column's brackets)
    do not end a statement."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        for tok in stream:
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB") and depth:
                depth -= 1
            elif tok.type == "_NL" and depth:
                continue
            elif tok.type in ("_NL", "SEMI"):
                depth = 0
            yield tok


@lru_cache(maxsize=None)
def get_parser():
    """The one Lark LALR parser, built on first use."""
    from lark import Lark

    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        transformer=_make_transformer(),
        postlex=_ParenNewlines(),
        maybe_placeholders=True,
        # Lark's cache would save ~30 ms of start-up, but it unpickles a file
        # from the shared temp folder: whoever can write there could run code
        cache=False,
    )


def parse(text: str, file: str | None = None) -> list[tuple]:
    """Parse model text into a list of statement tuples.

    Raises :class:`ModelSyntaxError` (with file, line, column and a caret)
    for text that is not valid ``.bp``.
    """
    from lark.exceptions import UnexpectedInput, VisitError

    from .diagnostics import syntax_error

    parser = get_parser()
    # The parse allocates a few small objects per token that all stay alive;
    # the garbage collector's passes over them would make loading superlinear
    # (NOTES.md: 126 µs per statement at 10^5 with it on, 67 with it off).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return parser.parse(text)
    except GraphdslError as e:
        raise e.with_file(file, text) from None
    except VisitError as e:  # an error raised inside a transformer callback
        inner = e.orig_exc
        if isinstance(inner, GraphdslError):
            raise inner.with_file(file, text) from None
        raise
    except UnexpectedInput as e:
        raise syntax_error(e, text, file) from None
    finally:
        if gc_was_enabled:
            gc.enable()
