"""Lark's parse errors -> graphdsl's messages, in words a learner reads.

Only the parser calls into this module. :func:`syntax_error` turns Lark's
``UnexpectedInput`` family into one :class:`ModelSyntaxError` that says where
(file:line:column, the line, a caret), what is wrong in words ("an expression
is missing after '+'") and what would fix it. The common slips are recognised
by example, with Lark's own ``match_examples``: each label below comes with a
few broken snippets, and an error is given the label of the snippet that
failed in the same parser state. An unclosed parenthesis is found on the
parser's stack and reported where it was opened, not where the file ends.

The transformer's keyword checks (``parm w = 3``, ``ouput z``, ``param w``)
build their messages here too, so every syntax message lives in one file.

>>> from graphdsl.parser import parse
>>> try:
...     parse("param w = 3\\nz = 2 w", "m.bp")
... except ModelSyntaxError as e:
...     print(e.message)
missing operator between '2' and 'w'
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

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
    "LSQB": "'['",
    "RSQB": "']'",
    "$END": "the end of the file",
}

_EXPR_START = {"NAME", "NUMBER", "LPAR", "ADDOP"}
_OPERATORS = {"ADDOP", "MULOP", "POWOP"}
_ENDS = {"_NL", "SEMI", "$END"}

KEYWORDS = ("param", "output", "target", "data")
#: words a learner may reach for instead of a keyword (from other languages)
KEYWORD_SYNONYMS = {
    "let": "param", "var": "param", "const": "param", "def": "param", "parameter": "param",
    "params": "param", "weight": "param", "init": "param",
    "out": "output", "outputs": "output", "return": "output", "print": "output",
    "result": "output", "show": "output",
    "goal": "target", "aim": "target", "targets": "target", "solve": "target",
    "input": "data", "inputs": "data", "column": "data", "columns": "data", "dataset": "data",
    "samples": "data",
}

STATEMENT_FORMS = ("a statement is `NAME = EXPR`, `param NAME = NUMBER`, "
                   "`output NAME`, `target NUMBER` or `data NAME, ...`")

# Labelled broken snippets for Lark's match_examples. Each snippet fails in
# the parser state its label describes; the first statement line is also
# tried after another statement (the parser's stack differs there).
EXAMPLES: dict[str, list[str]] = {
    "missing-operator": ["z = 2 w", "z = w w", "z = 2 3", "z = w 2", "z = (w) w",
                         "z = f(w) w", "z = w^2 w", "z = 2 (w)", "z = (w)(w)",
                         "z = -2 w", "z = f(2 w)", "z = f(w w)"],
    "double-equals": ["z == 2", "z == w"],
    "missing-rhs": ["z =\n", "z =", "z = ;"],
    "param-missing-number": ["param w =\n", "param w =", "param w = ;", "param w = -\n"],
    "param-not-number": ["param w = x", "param w = 2*3", "param w = (3)", "param w = 3 w",
                         "param w = 2^3", "param w = -x", "param w = 1 + 2", "param w = 3)",
                         "param w = 2 3"],
    "missing-operand": ["z = w +\n", "z = w *", "z = w ^ ;", "z = -\n", "z = w + )",
                        "z = w * * 2", "z = w + * 2", "z = w * / 2", "z = (w +)", "z = f(w +)",
                        "z = 2 * = 3", "z = w ^ * 2", "z = - * w", "z = (\n", "z = (*w)",
                        "z = f(w, )x", "z = f(w, *)"],
    "unmatched-close": ["z = w)", "z = (w))", "z = f(w))", "z = 2)"],
    "empty-parens": ["z = ()"],
    "missing-argument": ["z = f(,w)", "z = f(w,,w)"],
    "bad-start": ["2 = w", "= 3", "* w", "(z) = 3", "2*w", "-", ")", ",", "+ +"],
    "two-names": ["output z w", "z w + 1", "z w = 3", "z w(", "a b c"],
    "missing-equals": ["z 2*w", "z 2 w", "z 2 = 3", "target 150 3"],
    "keyword-then-operator": ["z + 1 = w", "z * 2", "z (w)", "z ^ 2", "z , w"],
    "misplaced-equals": ["z = w = 3", "z = 2 = 3", "z = (w = 3)", "param w = 3 = 4",
                         "output z = 3", "target 150 = 3"],
}


def syntax_error(err, text: str, file: str | None) -> ModelSyntaxError:
    """Translate one of Lark's ``UnexpectedInput`` errors into a ModelSyntaxError.

    Never raises anything else: an input Lark cannot describe still gets a
    message with its position.

    >>> from lark.exceptions import UnexpectedInput
    >>> from graphdsl.parser import get_parser
    >>> try:
    ...     get_parser().parse("z = (w +\\n1")
    ... except UnexpectedInput as err:
    ...     print(syntax_error(err, "z = (w +\\n1", "m.bp").message)
    this '(' is never closed
    """
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    def make(message, line, column, width=1, hint=None, notes=()):
        return ModelSyntaxError(message, file=file, line=line, column=column, source=text,
                                width=width, hint=hint, notes=notes)

    if isinstance(err, UnexpectedCharacters):
        return _unexpected_character(err, text, make)
    if not isinstance(err, UnexpectedToken):  # pragma: no cover - LALR raises only these two
        return make(f"the text cannot be read here: {type(err).__name__}",
                    getattr(err, "line", None), getattr(err, "column", None))

    tok = err.token
    expected = set(err.expected or ())
    stack = _value_stack(err)
    at_end = tok.type == "$END"
    if at_end:
        line, column = _end_position(stack, text)
    else:
        line, column = tok.line, tok.column

    unclosed = _open_parens(stack)
    if unclosed and (tok.type in ("$END", "SEMI") or tok.line > unclosed[-1].line
                     or tok.type == "EQUAL"):
        return _unclosed(unclosed, stack, tok, line, column, text, make)

    label = _classify(err)
    prev = _previous_token(stack)
    what = _token_words(tok)
    width = max(1, len(str(tok))) if tok.type not in ("_NL", "$END") else 1
    brackets = [v for v in stack if _is_token(v) and v.type == "LSQB"]
    if brackets:   # inside a data column's list of values
        b = brackets[-1]
        if tok.type in ("$END", "SEMI", "_NL") or tok.line > b.line:
            return make("this '[' is never closed", b.line, b.column, 1,
                        notes=[f"it is still open at line {line}, column {column}, where "
                               f"{what} cannot continue the list"],
                        hint="end the data column's values with ']': `data x = [0, 1, 2]`")
        return make(f"{what} cannot be in a data column's values", line, column, width,
                    hint="the values are numbers separated by ',': `data x = [0, 1.5, -2]` "
                         "(no names, no arithmetic)")
    if tok.type in ("LSQB", "RSQB"):   # brackets belong to data columns only
        return make(f"unexpected character {_char_name(str(tok))}", line, column, 1,
                    hint=CHARACTER_HINTS[str(tok)] + "; square brackets hold a data column's "
                         "values: `data x = [0, 1]`")

    if label == "missing-operator" and tok.type in ("NAME", "NUMBER", "LPAR"):
        left = f"'{prev}'" if prev is not None and prev.type in ("NAME", "NUMBER", "RPAR") else None
        if tok.type == "LPAR":
            message = "missing operator before '('"
            hint = "to multiply, write the '*': 2*(w + 1); graphdsl never multiplies implicitly"
        elif prev is not None and prev.type == "NAME" and str(prev) in _builtin_op_names():
            message = f"missing parentheses: {prev} is a function"
            hint = f"call it as {prev}({tok})"
            line, column, width = prev.line, prev.column, len(prev)
        else:
            message = (f"missing operator between {left} and '{tok}'" if left
                       else f"missing operator before '{tok}'")
            hint = (f"expected an operator between them: to multiply, write {prev or 'x'}*{tok} "
                    f"(graphdsl never multiplies implicitly), or use +, -, / or ^")
        if _in_call(stack):
            hint += "; between a function's arguments write ','"
        return make(message, line, column, width, hint)

    if label == "double-equals" or (tok.type == "EQUAL" and prev is not None
                                    and prev.type == "EQUAL" and _adjacent(prev, tok)):
        return make("'==' is not a statement: a statement has a single '='",
                    prev.line if prev is not None else line,
                    prev.column if prev is not None else column, 2,
                    hint="write `NAME = EXPR`, e.g. `z = 2*w`; graphdsl has no comparisons")

    if label == "param-missing-number" and (at_end or tok.type in ("_NL", "SEMI")):
        name = _stack_names(stack)
        return make(f"`param {name[1] if len(name) > 1 else 'NAME'} =` needs a number: "
                    "its starting value",
                    line, column, 1,
                    hint=f"write `param {name[1] if len(name) > 1 else 'w'} = 3`")

    part = _statement_part(stack)
    param_form = (len(part) >= 3 and _is_token(part[0]) and part[0] == "param"
                  and _is_token(part[2]) and part[2].type == "EQUAL")
    if param_form and tok.type == "COMMA":
        return make("one param per statement", line, column, 1,
                    hint=f"write `param {part[1]} = ...` and the next param on separate lines "
                         "(or separate them with ';')")
    if param_form and (label == "param-not-number"
                       or (label == "param-missing-number" and not at_end)):
        name = str(part[1])
        if len(part) > 3:  # a number (or sign), then more: an expression
            start = part[3]
            vline, vcol = (start.line, start.column) if _is_token(start) else start[1:3]
            message = "a param's starting value must be a plain number, not an expression"
            line, column, width = vline, vcol, 1
        else:
            message = f"a param's starting value must be a plain number, not {what}"
        return make(message, line, column, width,
                    hint=f"write `param {name} = 3`; to compute {name} from other quantities, "
                         f"write `{name} = EXPR` without `param`")
    if label == "param-not-number":
        label = "missing-equals"

    if label == "missing-rhs":
        names = _stack_names(stack)
        name = names[0] if names else "z"
        pos = prev if prev is not None and prev.type == "EQUAL" else None
        return make(f"nothing after '=': `{name} =` needs an expression",
                    pos.line if pos else line, pos.column if pos else column, 1,
                    hint=f"write what {name} is, e.g. `{name} = 2*w + 1`")

    if tok.type == "COMMA" and prev is not None and prev.type in ("LPAR", "COMMA"):
        return make("an argument is missing before ','", line, column, 1,
                    hint="write the argument, e.g. pow(w, 2), or remove the ','")

    if label == "missing-operand" or (prev is not None and prev.type in
                                      ("ADDOP", "MULOP", "POWOP", "LPAR", "COMMA")
                                      and expected >= {"NAME", "NUMBER"}):
        if prev is not None and prev.type in ("ADDOP", "MULOP", "POWOP"):
            if tok.type in ("ADDOP", "MULOP", "POWOP") or tok.type == "EQUAL":
                hint = "remove one of them, or put a number or name between them"
                if str(prev) == "*" and str(tok) == "*":
                    hint = "for a power write ** with no space (or ^); else remove one '*'"
                return make(f"two operators in a row: '{prev}' then '{tok}'", line, column,
                            width, hint)
            where = "the line ends" if tok.type in ("_NL", "SEMI") or at_end else f"{what} follows"
            hint = f"write what comes after '{prev}', e.g. `w {prev} 2`, or remove the '{prev}'"
            if tok.type == "_NL":
                hint += ("; to continue on the next line, end this one with '\\' or put the "
                         "expression in parentheses")
            return make(f"an expression is missing after '{prev}': {where}",
                        prev.line, prev.column, len(str(prev)), hint=hint)
        if prev is not None and prev.type == "LPAR" and tok.type == "RPAR":
            return _empty_parens(prev, stack, make)
        if prev is not None and prev.type == "COMMA":
            return make(f"an argument is missing after ',': {what} follows", prev.line,
                        prev.column, 1, hint="write the argument, or remove the ','")
        return make(f"an expression is missing before {what}", line, column, width,
                    hint="write a number, a name or a parenthesised expression here")

    if label == "empty-parens" and prev is not None and prev.type == "LPAR":
        return _empty_parens(prev, stack, make)

    if label == "missing-argument" and tok.type == "COMMA":
        return make("an argument is missing before ','", line, column, 1,
                    hint="write the argument, e.g. pow(w, 2), or remove the ','")

    if label == "unmatched-close" and tok.type == "RPAR":
        return make("this ')' has no matching '('", line, column, 1,
                    hint="remove it, or add the '(' it should close")

    if label == "misplaced-equals" and tok.type == "EQUAL":
        return make("a second '=' in one statement", line, column, 1,
                    hint="a statement defines one name: `NAME = EXPR`; put each "
                         "definition on its own line")

    if label == "two-names" and tok.type not in _ENDS:
        names = _stack_names(stack)
        if names and names[0] == "output":
            return make(f"{_unexpected(what)} after `output {names[1]}`", line, column, width,
                        hint="`output` takes one name; put the next statement on its own line "
                             "or after ';'")
        first = names[0] if names else "z"
        return make(f"`{' '.join(names[:2])}` is not the start of a statement", line, column,
                    width, hint=f"did you mean `{first} = {' '.join(names[1:2])} ...`? " +
                    STATEMENT_FORMS)

    if label in ("missing-equals", "keyword-then-operator") and tok.type not in _ENDS:
        names = _stack_names(stack)
        first = names[0] if names else "z"
        if first == "target":
            return make(f"{_unexpected(what)} after the target", line, column, width,
                        hint="the target is a plain number: `target 150`")
        return make(f"missing '=' after '{first}'",
                    *_first_token_position(stack, line, column), len(first),
                    hint=f"write `{first} = EXPR`, e.g. `{first} = 2*w`")

    if label == "bad-start" or not _statement_part(stack):
        return make(f"a statement cannot start with {what}", line, column, width,
                    hint=STATEMENT_FORMS)

    # Anything else: say what came and what would fit, in words.
    if at_end:
        return make(f"the file ends where {_describe_expected(expected)} was expected",
                    line, column, 1, hint="finish the last statement")
    hint = None
    if tok.type in ("_NL", "SEMI"):
        hint = "finish the statement before the end of the line"
    return make(f"{_unexpected(what)}: expected {_describe_expected(expected)}",
                line, column, width, hint)


@lru_cache(maxsize=1)
def _builtin_op_names() -> frozenset:
    from .ops.builtin import BUILTIN_OPS

    return frozenset(op.name for op in BUILTIN_OPS)


# --- recognising a slip by example ------------------------------------------

class _Position:
    """A parser state compared by its LALR state only (not by stack depth), so a
    snippet matches the same slip inside parentheses or after other statements."""

    __slots__ = ("position",)

    def __init__(self, position):
        self.position = position

    def __eq__(self, other):
        return self.position == getattr(other, "position", other)

    def __hash__(self):  # pragma: no cover - not hashed, but keep eq/hash consistent
        return hash(self.position)


@lru_cache(maxsize=None)
def _example_error(snippet: str):
    """The UnexpectedInput a snippet raises, its state made depth-free (cached)."""
    from lark.exceptions import UnexpectedInput

    from .errors import GraphdslError
    from .parser import get_parser

    try:
        get_parser().parse(snippet)
    except UnexpectedInput as e:
        if e.state is not None:
            e.state = _Position(e.state.position)
        e.__traceback__ = None
        return e
    except GraphdslError:
        return None
    return None


def _parse_example(snippet: str):
    err = _example_error(snippet)
    if err is not None:
        raise err


def _example_items():
    for label, snippets in EXAMPLES.items():
        yield label, [s for snippet in snippets for s in (snippet, "a = 1\n" + snippet)]


def _classify(err) -> str | None:
    """The label of the example that fails like ``err`` (Lark's match_examples)."""
    if getattr(err, "state", None) is None:
        return None
    return err.match_examples(_parse_example, _example_items(), use_accepts=False)


# --- reading the parser's stack ---------------------------------------------

def _value_stack(err) -> list:
    ip = getattr(err, "interactive_parser", None)
    state = getattr(ip, "parser_state", None) if ip is not None else None
    if state is None:
        state = getattr(err, "state", None)
    return list(getattr(state, "value_stack", None) or ())


def _is_token(v) -> bool:
    return hasattr(v, "type") and isinstance(v, str)


def _in_statement(v) -> bool:
    """True for what the current statement's part of the stack holds: its tokens,
    its expressions and its signed number; False for separators and whole
    statements already reduced (which mark the statement's start)."""
    if _is_token(v):
        return v.type not in ("_NL", "SEMI")
    return isinstance(v, tuple) and bool(v) and v[0] not in ("param", "assign", "output", "target")


def _statement_part(stack) -> list:
    k = len(stack)
    while k > 0 and _in_statement(stack[k - 1]):
        k -= 1
    return stack[k:]


def _previous_token(stack):
    return stack[-1] if stack and _is_token(stack[-1]) else None


def _stack_names(stack) -> list[str]:
    """The NAME tokens of the statement being parsed, in order."""
    return [str(v) for v in _statement_part(stack) if _is_token(v) and v.type == "NAME"]


def _first_token_position(stack, line, column):
    part = _statement_part(stack)
    for v in part:
        if _is_token(v):
            return v.line, v.column
    return line, column


def _in_call(stack) -> bool:
    """True when the innermost open '(' is a call's: f(..."""
    opened = _open_parens(stack)
    if not opened:
        return False
    k = next(i for i in range(len(stack) - 1, -1, -1) if stack[i] is opened[-1])
    return k > 0 and _is_token(stack[k - 1]) and stack[k - 1].type == "NAME"


def _open_parens(stack) -> list:
    """The '(' tokens still open on the stack (a ')' not yet reduced closes one)."""
    opened = []
    for v in stack:
        if _is_token(v):
            if v.type == "LPAR":
                opened.append(v)
            elif v.type == "RPAR" and opened:
                opened.pop()
    return opened


def _end_position(stack, text: str) -> tuple[int, int]:
    """Where the text ends: just after the last token, else after the last character."""
    for v in reversed(stack):
        if _is_token(v) and getattr(v, "end_line", None):
            return v.end_line, v.end_column
        if isinstance(v, tuple) and len(v) >= 4 and isinstance(v[-2], int):
            break
    body = text.rstrip()
    line = body.count("\n") + 1
    return line, len(body) - (body.rfind("\n") + 1) + 1


def _adjacent(a, b) -> bool:
    return a.line == b.line and getattr(a, "end_column", None) == b.column


# --- the messages -------------------------------------------------------------

def _unclosed(unclosed, stack, tok, line, column, text, make):
    lpar = unclosed[-1]
    k = next((i for i in range(len(stack) - 1, -1, -1) if stack[i] is lpar), -1)
    before = stack[k - 1] if k > 0 else None
    call = (f"the '(' of {before}(" if before is not None and _is_token(before)
            and before.type == "NAME" else "this '('")
    if tok.type == "$END":
        notes = ["it is still open when the file ends"]
    elif tok.type == "SEMI":
        notes = [f"it is still open at the ';' on line {line}, column {column}"]
    else:
        notes = [f"it is still open at line {line}, column {column}, where "
                 f"{_token_words(tok)} cannot continue the expression"]
    if tok.type not in ("$END", "SEMI") and tok.line > lpar.line:
        notes.append("inside parentheses a line break does not end a statement, "
                     "so the next line was read as part of this one")
    if len(unclosed) > 1:
        notes.append(f"{len(unclosed)} parentheses are open at that point")
    return make(f"{call} is never closed", lpar.line, lpar.column, 1,
                hint="add the ')' where the parenthesised expression ends", notes=notes)


def _empty_parens(lpar, stack, make):
    # a call's empty parentheses, f(), parse; the op's arity check reports them
    return make("empty parentheses: there is no expression inside '( )'", lpar.line,
                lpar.column, 2, hint="put an expression inside, or remove them")


def _describe_expected(expected: set[str]) -> str:
    expected = set(expected)
    words = []
    if _EXPR_START <= expected or {"NAME", "NUMBER", "LPAR"} <= expected:
        words.append("an expression")
        expected -= _EXPR_START
    if _OPERATORS <= expected:
        words.append("an operator")
        expected -= _OPERATORS
    if {"_NL", "SEMI"} & expected:
        words.append("the end of the statement")
        expected -= {"_NL", "SEMI", "$END"}
    for t in sorted(expected):
        words.append(TERMINAL_WORDS.get(t, t))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _unexpected(what: str) -> str:
    """'unexpected 'x'', or, for the end of a line or file, that it came too soon."""
    return f"{what} came too soon" if what.startswith("the end") else f"unexpected {what}"


def _token_words(tok) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line"
    text = str(tok)
    if len(text) > 30:
        text = text[:27] + "..."
    return f"'{text}'"


# --- characters the lexer cannot read ------------------------------------------

#: characters a learner types by habit, and what graphdsl writes instead
CHARACTER_HINTS = {
    "×": "to multiply write '*'", "·": "to multiply write '*'", "⋅": "to multiply write '*'",
    "∙": "to multiply write '*'", "÷": "to divide write '/'",
    "−": "this is a Unicode minus sign: type the ASCII '-'",
    "–": "this is a dash: type the ASCII '-' for minus",
    "—": "this is a dash: type the ASCII '-' for minus",
    "²": "write a power with ^: x^2", "³": "write a power with ^: x^3",
    "√": "write a square root as sqrt(x)",
    "[": "use round parentheses ( ) for grouping", "]": "use round parentheses ( ) for grouping",
    "{": "use round parentheses ( ) for grouping", "}": "use round parentheses ( ) for grouping",
    "<": "graphdsl has no comparisons: a model is a set of equations",
    ">": "graphdsl has no comparisons: a model is a set of equations",
    "!": "graphdsl has no comparisons or negation: a model is a set of equations",
    ":": "graphdsl has no ':' (and no if/for blocks): " + STATEMENT_FORMS,
    "%": "graphdsl has no remainder operator; comments start with '#'",
    "&": "graphdsl has no logical operators", "|": "graphdsl has no logical operators",
    "@": "graphdsl works with numbers, not matrices: write the products out with '*'",
    '"': "graphdsl has no strings", "'": "graphdsl has no strings",
    "“": "graphdsl has no strings", "”": "graphdsl has no strings",
    "‘": "graphdsl has no strings", "’": "graphdsl has no strings",
    "`": "the backquotes in the docs only mark code: leave them out of the model",
    ".": "a name cannot contain '.'; numbers are written 0.5 or .5",
    "\\": "a backslash continues a statement only at the very end of a line",
    "=": "a statement has one '=': NAME = EXPR",
    "$": "remove it: names are letters, digits and '_'",
    "?": "graphdsl has no conditional expressions",
    "\r": "a lone carriage return (an old Mac line ending): save the file with ordinary "
          "line endings",
}


def _char_name(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return repr(ch) if ch != "'" else '"\'"'
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name.lower()})" if name else "")


def _unexpected_character(err, text: str, make):
    pos = err.pos_in_stream
    ch = text[pos] if pos is not None and pos < len(text) else "?"
    shown = _char_name(ch)
    hint = CHARACTER_HINTS.get(ch)
    if hint is None:
        ascii_form = unicodedata.normalize("NFKC", ch)
        if ascii_form != ch and len(ascii_form) == 1 and ascii_form in "+-*/^=()\\,;#.":
            hint = (f"this is a full-width or look-alike '{ascii_form}': "
                    f"type the ASCII '{ascii_form}' (switch the input method to English)")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") or ch == "\ufffd":
            hint = "an invisible or control character: delete it (is this a text file?)"
        else:
            hint = "remove it: names are letters, digits and '_'; operators are + - * / ^"
    return make(f"unexpected character {shown}", err.line, err.column, 1, hint=hint)


# --- the transformer's keyword checks -------------------------------------------

def _closest_keyword(word: str) -> str | None:
    import difflib

    w = word.lower()
    if w in KEYWORDS:
        return w
    if w in KEYWORD_SYNONYMS:
        return KEYWORD_SYNONYMS[w]
    close = difflib.get_close_matches(w, KEYWORDS, n=1, cutoff=0.6)
    return close[0] if close else None


def keyword_assign_error(kw, name, value) -> ModelSyntaxError:
    """``WORD NAME = NUMBER`` where WORD is not ``param`` (``parm w = 3``, ``let w = 3``)."""
    guess = _closest_keyword(kw)
    number = _number_text(value)
    if guess == "param":
        message = f"'{kw}' is not a keyword"
        hint = f"did you mean `param {name} = {number}`?"
    elif guess == "data":
        message = ("a data column holds one value per sample, in brackets" if kw == "data"
                   else f"'{kw}' is not a keyword")
        hint = (f"write `data {name} = [{number}, ...]` with a value per sample, or "
                f"`data {name}` to take its values from --data FILE.csv; a single number "
                f"is `param {name} = {number}` or `{name} = {number}`")
    elif guess in ("output", "target"):
        message = f"`{guess}` does not take '='"
        hint = (f"define it, then name it: `{name} = {number}` and `output {name}`"
                if guess == "output" else f"write `target {number}`")
    else:
        message = f"`{kw} {name} = ...` is not a statement"
        hint = (f"write `param {name} = {number}` for a param (it moves during a run) "
                f"or `{name} = {number}` for a constant")
    return ModelSyntaxError(message, line=kw.line, column=kw.column, width=len(kw), hint=hint)


def keyword_number_error(kw, value) -> ModelSyntaxError:
    """``WORD NUMBER`` where WORD is not ``target`` (``tagret 150``, ``z 3``)."""
    guess = _closest_keyword(kw)
    number = _number_text(value)
    if guess == "target":
        return ModelSyntaxError(f"'{kw}' is not a keyword", line=kw.line, column=kw.column,
                                width=len(kw), hint=f"did you mean `target {number}`?")
    if guess == "param":
        return ModelSyntaxError("`param` needs a name: `param NAME = NUMBER`", line=kw.line,
                                column=kw.column, width=len(kw),
                                hint=f"write `param w = {number}`")
    return ModelSyntaxError(f"missing '=' between '{kw}' and {number}", line=kw.line,
                            column=kw.column + len(kw), width=1,
                            hint=f"write `{kw} = {number}`, or `target {number}` for the "
                                 "run's target")


def keyword_name_error(kw, name) -> ModelSyntaxError:
    """``WORD NAME`` where WORD is not ``output`` (``ouput z``, ``param w``, ``z w``)."""
    guess = _closest_keyword(kw)
    if guess == "param":
        return ModelSyntaxError(f"`param {name}` needs a starting value", line=name.line,
                                column=name.column + len(name), width=1,
                                hint=f"write `param {name} = NUMBER`, e.g. `param {name} = 3`")
    if guess == "output":
        return ModelSyntaxError(f"'{kw}' is not a keyword", line=kw.line, column=kw.column,
                                width=len(kw), hint=f"did you mean `output {name}`?")
    if guess == "target":
        return ModelSyntaxError("`target` takes a number, not a name", line=name.line,
                                column=name.column, width=len(name),
                                hint="write `target 150`; the target is the value the output "
                                     "should reach")
    return ModelSyntaxError(f"missing operator or '=' between '{kw}' and '{name}'",
                            line=name.line, column=name.column, width=len(name),
                            hint=f"write `{kw} = {name}` to define {kw}; inside an expression "
                                 f"two names need an operator: {kw}*{name}")


def keyword_columns_error(kw, columns) -> ModelSyntaxError:
    """``WORD NAME, NAME`` or ``WORD NAME = [...]`` where WORD is not ``data``
    (``dta x, y``, ``param w = [1, 2]``); ``columns`` holds (name token, values)."""
    guess = _closest_keyword(kw)
    name = columns[0][0]
    names = ", ".join(str(tok) for tok, _v in columns)
    if guess == "data":
        return ModelSyntaxError(f"'{kw}' is not a keyword", line=kw.line, column=kw.column,
                                width=len(kw), hint=f"did you mean `data {names}`?")
    if guess == "param":
        if columns[0][1] is not None:
            return ModelSyntaxError("a param has one starting value, not a list", line=kw.line,
                                    column=kw.column, width=len(kw),
                                    hint=f"write `param {name} = NUMBER`; for one value per "
                                         f"sample declare a data column: `data {name} = [...]`")
        return ModelSyntaxError("`param` declares one name with its value", line=kw.line,
                                column=kw.column, width=len(kw),
                                hint="one per line: " + "; ".join(
                                    f"`param {tok} = NUMBER`" for tok, _v in columns[:3]))
    return ModelSyntaxError(f"`{kw} {names}` is not a statement", line=kw.line, column=kw.column,
                            width=len(kw),
                            hint=f"to declare data columns write `data {names}`; "
                                 + STATEMENT_FORMS)


def _number_text(value) -> str:
    if isinstance(value, tuple):
        value = value[0]
    v = float(value)
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)
