"""Lark's parse errors -> graphdsl's messages, in words a learner reads.

Only the parser calls :func:`syntax_error`; it turns Lark's
``UnexpectedInput`` family into one :class:`ModelSyntaxError` saying where,
what was expected ("an expression after '*'") and what would fix it.
"""

from __future__ import annotations

from .errors import ModelSyntaxError

# Terminal names of the grammar, said in words.
TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "ADDOP": "'+' or '-'",
    "MULOP": "'*' or '/'",
    "POWOP": "'^'",
    "EQUAL": "'='",
    "SEMI": "';'",
    "_NL": "the end of the line",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "$END": "the end of the file",
}

_EXPR_START = {"NAME", "NUMBER", "LPAR", "ADDOP"}
_OPERATORS = {"ADDOP", "MULOP", "POWOP"}


def _describe_expected(expected: set[str]) -> str:
    expected = set(expected)
    words = []
    if _EXPR_START <= expected or {"NAME", "NUMBER", "LPAR"} <= expected:
        words.append("an expression")
        expected -= _EXPR_START
    if _OPERATORS <= expected:
        words.append("an operator")
        expected -= _OPERATORS
    for t in sorted(expected):
        words.append(TERMINAL_WORDS.get(t, t))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _token_words(tok) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line"
    return f"'{tok}'"


def syntax_error(err, text: str, file: str | None) -> ModelSyntaxError:
    """Translate one of Lark's ``UnexpectedInput`` errors."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    lines = text.split("\n")
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        hint = "remove it; names are letters, digits and '_', operators are + - * / ^"
        if ch == "=":
            hint = "'==' is not needed: a statement is `NAME = EXPR` with one '='"
        if ch in "[{":
            hint = "use round parentheses ( ) for grouping"
        return ModelSyntaxError(
            f"unexpected character {ch!r}",
            file=file, line=err.line, column=err.column, source=text, hint=hint,
        )
    if isinstance(err, UnexpectedEOF) or (
        isinstance(err, UnexpectedToken) and err.token.type == "$END"
    ):
        line = len(lines)
        column = len(lines[-1]) + 1 if lines else 1
        expected = getattr(err, "expected", set()) or set()
        return ModelSyntaxError(
            f"the file ends where {_describe_expected(expected)} was expected",
            file=file, line=line, column=column, source=text,
            hint="finish the last statement",
        )
    if isinstance(err, UnexpectedToken):
        tok = err.token
        expected = set(err.expected)
        want = _describe_expected(expected)
        line, column = tok.line, tok.column
        what = _token_words(tok)
        hint = None
        if tok.type == "_NL" and "RPAR" in expected:
            hint = "close the parenthesis with ')'"
        elif tok.type == "_NL":
            hint = "finish the expression before the end of the line"
        elif {"NAME", "NUMBER"} & {tok.type} and _OPERATORS & expected:
            hint = "put an operator between the two terms, for instance 2*w"
        elif tok.type == "EQUAL":
            hint = "a statement has one '=': NAME = EXPR"
        return ModelSyntaxError(
            f"unexpected {what}: expected {want}",
            file=file, line=line, column=column, source=text,
            width=max(1, len(str(tok))) if tok.type not in ("_NL", "$END") else 1,
            hint=hint,
        )
    return ModelSyntaxError(str(err), file=file, source=text)  # pragma: no cover
