"""Text -> statements: the Lark LALR parser and the translation of its errors.

The grammar lives in ``grammars/graphdsl.lark`` (shipped inside the package as
``graphdsl/grammars/graphdsl.lark``). The parser is built once, lazily, with an
inline transformer, so no parse tree is ever kept: each grammar rule directly
returns a statement or an expression of :mod:`graphdsl.syntax` (named
tuples: ``st.kind``, ``st.name``, ``st.line``...). A ``data`` line declares
one :class:`~graphdsl.syntax.Data` statement per column. The transformer
holds no state, so one parser serves every parse.

>>> parse("param w = 3\\nz = 2*w")[1]
Assign(name='z', expr=Call(op='mul', args=(Num(value=2.0, line=2, column=5), Name(name='w', line=2, column=7)), line=2, column=6), line=2, column=1)
"""

from __future__ import annotations

import gc
import math
import unicodedata
from contextlib import contextmanager
from functools import lru_cache
from sys import intern
from importlib import resources
from pathlib import Path

from . import diagnostics
from .errors import ModelSyntaxError, GraphdslError
from .names import normalize
from .syntax import Assign, Call, Data, Name, Num, Output, Param, Signed, Target

BINARY_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow", "^": "pow"}


def grammar_text() -> str:
    """The text of the ``.bp`` grammar, from the installed package or the source tree."""
    res = resources.files("graphdsl") / "grammars" / "graphdsl.lark"
    if res.is_file():   # an installed wheel carries it inside the package
        return res.read_text(encoding="utf-8")
    src = Path(__file__).resolve().parent.parent / "grammars" / "graphdsl.lark"
    return src.read_text(encoding="utf-8")


def _number(tok, sign=None) -> float:
    """The value of a NUMBER token. Raises ModelSyntaxError for a literal a
    float cannot hold: too large (``1e999``), or so small that it would be read
    as 0 (``1e-400``). A subnormal (``1e-320``) is kept: it is a number, with
    fewer digits."""
    value = float(tok)
    if not math.isfinite(value):
        raise ModelSyntaxError(
            f"the number {tok} is too large to represent",
            line=tok.line, column=tok.column, width=len(tok),
            hint="numbers must be below about 1.8e308",
        )
    if value == 0.0 and any(ch in "123456789" for ch in tok.split("e")[0].split("E")[0]):
        raise ModelSyntaxError(
            f"the number {tok} is too small to represent: it would be read as 0",
            line=tok.line, column=tok.column, width=len(tok),
            hint="the smallest number above 0 is about 4.9e-324; write 0 if you mean zero",
        )
    if sign is not None and sign == "-":
        value = -value
    return value


def _make_transformer():
    from lark import Transformer

    # tuple.__new__ makes a named tuple without the Python-level __new__ of
    # its class: a third of the cost, for the millions of nodes a big model has
    new = tuple.__new__

    class ToStatements(Transformer):
        """Inline transformer: every rule returns a statement or an expression."""

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
                return Signed(_number(tok, str(sign)), sign.line, sign.column)
            (tok,) = items
            return Signed(_number(tok), tok.line, tok.column)

        def keyword_assign(self, items):
            kw, name, _eq, signed = items
            if normalize(kw) != "param":
                raise diagnostics.keyword_assign_error(kw, name, signed.value)
            return Param(normalize(name), signed.value, name.line, name.column)

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
            if normalize(kw) != "data":
                raise diagnostics.keyword_columns_error(kw, columns)
            return [Data(normalize(tok), values, tok.line, tok.column) for tok, values in columns]

        def column(self, items):
            if len(items) == 1:
                return (items[0], None)
            return (items[0], items[2])

        def number_list(self, items):
            return tuple(item.value for item in items if item is not None)

        def keyword_number(self, items):
            kw, signed = items
            if normalize(kw) != "target":
                raise diagnostics.keyword_number_error(kw, signed.value)
            return Target(signed.value, kw.line, kw.column)

        def keyword_name(self, items):
            kw, name = items
            if normalize(kw) == "data":
                return Data(normalize(name), None, name.line, name.column)
            if normalize(kw) != "output":
                raise diagnostics.keyword_name_error(kw, name)
            return Output(normalize(name), name.line, name.column)

        def assign(self, items):
            name, _eq, expr = items
            return Assign(normalize(name), expr, name.line, name.column)

        def number(self, items):
            (tok,) = items
            return new(Num, (_number(tok), tok.line, tok.column))

        def name(self, items):
            (tok,) = items
            # the common case inline: an ASCII name needs no NFKC
            s = intern(str(tok))
            return new(Name, (s if s.isascii() else normalize(s), tok.line, tok.column))

        def call(self, items):
            tok, args = items
            args = tuple(args) if args is not None else ()
            return new(Call, (normalize(tok), args, tok.line, tok.column))

        def arguments(self, items):
            return list(items)

        def binary(self, items):
            a, op, b = items
            return new(Call, (BINARY_OPS[str(op)], (a, b), op.line, op.column))

        def unary(self, items):
            sign, a = items
            if sign == "+":
                return a
            if a.kind == "num":
                return new(Num, (-a.value, sign.line, sign.column))
            return new(Call, ("neg", (a,), sign.line, sign.column))

    return ToStatements()


class _ParenNewlines:
    """Post-lexer: newlines inside parentheses (or a data column's brackets)
    do not end a statement."""

    always_accept = ("_NL",)
    # the terminals that open and close brackets, and the statement separator
    # (graphdsl.fastparse applies the same rule from these)
    opening, closing, separator = ("LPAR", "LSQB"), ("RPAR", "RSQB"), "SEMI"

    def process(self, stream):
        depth = 0
        opening, closing, separator = self.opening, self.closing, self.separator
        for tok in stream:
            if tok.type in opening:
                depth += 1
            elif tok.type in closing and depth:
                depth -= 1
            elif tok.type == "_NL" and depth:
                continue
            elif tok.type == "_NL" or tok.type == separator:
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


@lru_cache(maxsize=None)
def get_fast_parser():
    """The fast path over :func:`get_parser`'s tables (see :mod:`graphdsl.fastparse`),
    or None when that parser is of a shape it does not know."""
    from .fastparse import FastParser, NotTaken

    try:
        return FastParser(get_parser())
    except NotTaken:
        return None


@contextmanager
def paused_gc():
    """The garbage collector paused for the block, then as it was.

    Loading allocates a few small objects per token that all stay alive; the
    collector's passes over them would make loading superlinear (measured at
    10^5 statements: 126 µs per statement with it on, 67 with it off) while
    freeing nothing. Nested pauses are fine: only the outermost turns it back on.

    >>> with paused_gc():
    ...     gc.isenabled()
    False
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def source_text(text: str) -> str:
    """The text as the parser reads it: in Unicode's NFC form, so that an
    ``é`` typed as ``e`` and a combining accent is the letter ``é``. Positions
    in messages count the characters of this text. ASCII text is returned as
    it is, at no cost."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def parse(text: str, file: str | None = None) -> list[tuple]:
    """Parse model text into a list of statements (see :mod:`graphdsl.syntax`).
    Names are read in NFKC form, as Python reads identifiers (``ﬁ`` is ``fi``);
    the text is first put in NFC form (:func:`source_text`).

    Raises :class:`ModelSyntaxError` (with file, line, column and a caret)
    for text that is not valid ``.bp``.
    """
    from lark.exceptions import UnexpectedInput, VisitError

    text = source_text(text)
    parser = get_parser()
    fast = get_fast_parser()
    try:
        with paused_gc():
            if fast is not None:
                try:
                    return fast.parse(text)
                except Exception:
                    pass  # not taken by the fast path: Lark parses it again, and says what is wrong
            return parser.parse(text)
    except GraphdslError as e:
        raise e.with_file(file, text) from None
    except VisitError as e:  # an error raised inside a transformer callback
        inner = e.orig_exc
        if isinstance(inner, GraphdslError):
            raise inner.with_file(file, text) from None
        raise
    except UnexpectedInput as e:
        raise diagnostics.syntax_error(e, text, file, parser.parse) from None
