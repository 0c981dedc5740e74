"""Lark's parse errors -> graphdsl's messages, in words a learner reads.

Only the parser calls into this module, and this module imports nothing of
the parser: the parse function it needs for the examples is passed in.
:func:`syntax_error` turns Lark's ``UnexpectedInput`` family into one
:class:`ModelSyntaxError` that says where (file:line:column, the line, a
caret), what is wrong in words ("an expression is missing after '+'") and
what would fix it. The common slips are recognised by example, with Lark's
own ``match_examples``: each label below comes with a few broken snippets,
and an error is given the label of the snippet that failed in the same parser
state. Each slip then has one small handler (:data:`HANDLERS`), tried in
order; the first that recognises the error writes its message. An unclosed
parenthesis is found on the parser's stack and reported where it was opened,
not where the file ends.

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
from functools import cached_property, lru_cache

from .errors import GraphdslError, ModelSyntaxError
from .syntax import EXPRESSIONS, STATEMENTS

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


def syntax_error(err, text: str, file: str | None, parse) -> ModelSyntaxError:
    """Translate one of Lark's ``UnexpectedInput`` errors into a ModelSyntaxError.

    ``parse`` is the parser's own parse function (text -> result, raising
    ``UnexpectedInput``): the labelled examples are run through it to learn in
    which parser state each slip fails, as Lark's ``match_examples`` does.
    Never raises anything else: an input Lark cannot describe still gets a
    message with its position.

    >>> from lark.exceptions import UnexpectedInput
    >>> from graphdsl.parser import get_parser
    >>> try:
    ...     get_parser().parse("z = (w +\\n1")
    ... except UnexpectedInput as err:
    ...     print(syntax_error(err, "z = (w +\\n1", "m.bp", get_parser().parse).message)
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
    slip = _Slip(err, text, make, parse)
    for handler in HANDLERS:
        found = handler(slip)
        if found is not None:
            return found
    raise AssertionError("the last handler always answers")  # pragma: no cover


class _Slip:
    """What is known where the parse stopped: the token that did not fit, the
    tokens and values before it on the parser's stack, and (computed when first
    asked, since it parses the examples) the label of the slip."""

    def __init__(self, err, text, make, parse):
        self.err, self.text, self.make, self.parse = err, text, make, parse
        self.tok = tok = err.token
        self.expected = set(err.expected or ())
        self.stack = _value_stack(err)
        self.at_end = tok.type == "$END"
        if self.at_end:
            self.line, self.column = _end_position(self.stack, text)
        else:
            self.line, self.column = tok.line, tok.column
        self.prev = _previous_token(self.stack)
        self.what = _token_words(tok)
        self.width = max(1, len(str(tok))) if tok.type not in ("_NL", "$END") else 1

    @cached_property
    def label(self) -> str | None:
        return _classify(self.err, self.parse)

    @cached_property
    def part(self) -> list:
        """The current statement's part of the stack."""
        return _statement_part(self.stack)

    @cached_property
    def names(self) -> list[str]:
        """The NAME tokens of the current statement, in order."""
        return [str(v) for v in self.part if _is_token(v) and v.type == "NAME"]

    @cached_property
    def param_form(self) -> bool:
        """True inside ``param NAME = ...``."""
        part = self.part
        return (len(part) >= 3 and _is_token(part[0]) and part[0] == "param"
                and _is_token(part[2]) and part[2].type == "EQUAL")

    def prev_is(self, *types) -> bool:
        return self.prev is not None and self.prev.type in types


# --- the handlers: one per slip, tried in order; each answers or passes (None) ---

def _unclosed_paren(s: _Slip):
    """A '(' still open where the statement ends or a line or '=' comes."""
    unclosed = _open_parens(s.stack)
    tok = s.tok
    if not unclosed or not (tok.type in ("$END", "SEMI") or tok.line > unclosed[-1].line
                            or tok.type == "EQUAL"):
        return None
    lpar = unclosed[-1]
    stack = s.stack
    k = next((i for i in range(len(stack) - 1, -1, -1) if stack[i] is lpar), -1)
    before = stack[k - 1] if k > 0 else None
    call = (f"the '(' of {before}(" if before is not None and _is_token(before)
            and before.type == "NAME" else "this '('")
    if tok.type == "$END":
        notes = ["it is still open when the file ends"]
    elif tok.type == "SEMI":
        notes = [f"it is still open at the ';' on line {s.line}, column {s.column}"]
    else:
        notes = [f"it is still open at line {s.line}, column {s.column}, where "
                 f"{_token_words(tok)} cannot continue the expression"]
    if tok.type not in ("$END", "SEMI") and tok.line > lpar.line:
        notes.append("inside parentheses a line break does not end a statement, "
                     "so the next line was read as part of this one")
    if len(unclosed) > 1:
        notes.append(f"{len(unclosed)} parentheses are open at that point")
    return s.make(f"{call} is never closed", lpar.line, lpar.column, 1,
                  hint="add the ')' where the parenthesised expression ends", notes=notes)


def _data_brackets(s: _Slip):
    """Inside a data column's ``[...]`` (``data x = [0, 1``, ``data x = [w]``), or a
    bracket outside one."""
    brackets = _open_parens(s.stack, "LSQB", "RSQB")
    tok = s.tok
    if brackets:
        b = brackets[-1]
        if tok.type in ("$END", "SEMI", "_NL") or tok.line > b.line:
            return s.make("this '[' is never closed", b.line, b.column, 1,
                          notes=[f"it is still open at line {s.line}, column {s.column}, where "
                                 f"{s.what} cannot continue the list"],
                          hint="end the data column's values with ']': `data x = [0, 1, 2]`")
        return s.make(f"{s.what} cannot be in a data column's values", s.line, s.column, s.width,
                      hint="the values are numbers separated by ',': `data x = [0, 1.5, -2]` "
                           "(no names, no arithmetic)")
    if tok.type in ("LSQB", "RSQB"):   # brackets belong to data columns only
        return s.make(f"unexpected character {_char_name(str(tok))}", s.line, s.column, 1,
                      hint=CHARACTER_HINTS[str(tok)] + "; square brackets hold a data "
                           "column's values: `data x = [0, 1]`")
    return None


def _missing_operator(s: _Slip):
    """missing-operator: two operands side by side (``2 w``, ``log x``, ``2 (w)``)."""
    tok, prev = s.tok, s.prev
    if s.label != "missing-operator" or tok.type not in ("NAME", "NUMBER", "LPAR"):
        return None
    line, column, width = s.line, s.column, s.width
    left = f"'{prev}'" if s.prev_is("NAME", "NUMBER", "RPAR") else None
    if tok.type == "LPAR":
        message = "missing operator before '('"
        hint = "to multiply, write the '*': 2*(w + 1); graphdsl never multiplies implicitly"
    elif s.prev_is("NAME") and str(prev) in _builtin_op_names():
        message = f"missing parentheses: {prev} is a function"
        hint = f"call it as {prev}({tok})"
        line, column, width = prev.line, prev.column, len(prev)
    else:
        message = (f"missing operator between {left} and '{tok}'" if left
                   else f"missing operator before '{tok}'")
        hint = (f"expected an operator between them: to multiply, write {prev or 'x'}*{tok} "
                f"(graphdsl never multiplies implicitly), or use +, -, / or ^")
    if _in_call(s.stack):
        hint += "; between a function's arguments write ','"
    return s.make(message, line, column, width, hint)


def _double_equals(s: _Slip):
    """double-equals: ``z == 2``."""
    tok, prev = s.tok, s.prev
    if not (s.label == "double-equals" or (tok.type == "EQUAL" and s.prev_is("EQUAL")
                                           and _adjacent(prev, tok))):
        return None
    return s.make("'==' is not a statement: a statement has a single '='",
                  prev.line if prev is not None else s.line,
                  prev.column if prev is not None else s.column, 2,
                  hint="write `NAME = EXPR`, e.g. `z = 2*w`; graphdsl has no comparisons")


def _param_without_number(s: _Slip):
    """param-missing-number, where the statement ends: ``param w =``."""
    if s.label != "param-missing-number" or not (s.at_end or s.tok.type in ("_NL", "SEMI")):
        return None
    name = s.names
    return s.make(f"`param {name[1] if len(name) > 1 else 'NAME'} =` needs a number: "
                  "its starting value",
                  s.line, s.column, 1,
                  hint=f"write `param {name[1] if len(name) > 1 else 'w'} = 3`")


def _two_params(s: _Slip):
    """``param w = 3, b = 4``."""
    if not (s.param_form and s.tok.type == "COMMA"):
        return None
    return s.make("one param per statement", s.line, s.column, 1,
                  hint=f"write `param {s.part[1]} = ...` and the next param on separate lines "
                       "(or separate them with ';')")


def _param_not_number(s: _Slip):
    """param-not-number: ``param w = 2*b``, ``param w = b``."""
    if not (s.param_form and (s.label == "param-not-number"
                              or (s.label == "param-missing-number" and not s.at_end))):
        return None
    part = s.part
    name = str(part[1])
    line, column, width = s.line, s.column, s.width
    if len(part) > 3:  # a number (or sign), then more: an expression
        start = part[3]
        vline, vcol = start.line, start.column   # a sign token or a Signed number
        message = "a param's starting value must be a plain number, not an expression"
        line, column, width = vline, vcol, 1
    else:
        message = f"a param's starting value must be a plain number, not {s.what}"
    return s.make(message, line, column, width,
                  hint=f"write `param {name} = 3`; to compute {name} from other quantities, "
                       f"write `{name} = EXPR` without `param`")


def _missing_rhs(s: _Slip):
    """missing-rhs: ``z =`` and nothing after it."""
    if s.label != "missing-rhs":
        return None
    name = s.names[0] if s.names else "z"
    pos = s.prev if s.prev_is("EQUAL") else None
    return s.make(f"nothing after '=': `{name} =` needs an expression",
                  pos.line if pos else s.line, pos.column if pos else s.column, 1,
                  hint=f"write what {name} is, e.g. `{name} = 2*w + 1`")


def _comma_without_argument(s: _Slip):
    """``f(,w)``, ``f(w,,w)``: a ',' right after '(' or ','."""
    if not (s.tok.type == "COMMA" and s.prev_is("LPAR", "COMMA")):
        return None
    return _argument_missing(s)


def _missing_argument(s: _Slip):
    """missing-argument: any other ',' that starts an argument."""
    if s.label != "missing-argument" or s.tok.type != "COMMA":
        return None
    return _argument_missing(s)


def _argument_missing(s: _Slip):
    return s.make("an argument is missing before ','", s.line, s.column, 1,
                  hint="write the argument, e.g. pow(w, 2), or remove the ','")


def _missing_operand(s: _Slip):
    """missing-operand: an operator, '(' or ',' with nothing usable after it."""
    tok, prev = s.tok, s.prev
    if not (s.label == "missing-operand"
            or (s.prev_is("ADDOP", "MULOP", "POWOP", "LPAR", "COMMA")
                and s.expected >= {"NAME", "NUMBER"})):
        return None
    if s.prev_is("ADDOP", "MULOP", "POWOP"):
        if tok.type in ("ADDOP", "MULOP", "POWOP") or tok.type == "EQUAL":
            hint = "remove one of them, or put a number or name between them"
            if str(prev) == "*" and str(tok) == "*":
                hint = "for a power write ** with no space (or ^); else remove one '*'"
            return s.make(f"two operators in a row: '{prev}' then '{tok}'", s.line, s.column,
                          s.width, hint)
        where = ("the line ends" if tok.type in ("_NL", "SEMI") or s.at_end
                 else f"{s.what} follows")
        hint = f"write what comes after '{prev}', e.g. `w {prev} 2`, or remove the '{prev}'"
        if tok.type == "_NL":
            hint += ("; to continue on the next line, end this one with '\\' or put the "
                     "expression in parentheses")
        return s.make(f"an expression is missing after '{prev}': {where}",
                      prev.line, prev.column, len(str(prev)), hint=hint)
    if s.prev_is("LPAR") and tok.type == "RPAR":
        return _empty(s)
    if s.prev_is("COMMA"):
        return s.make(f"an argument is missing after ',': {s.what} follows", prev.line,
                      prev.column, 1, hint="write the argument, or remove the ','")
    return s.make(f"an expression is missing before {s.what}", s.line, s.column, s.width,
                  hint="write a number, a name or a parenthesised expression here")


def _empty_parens(s: _Slip):
    """empty-parens: ``w * ()``."""
    if s.label != "empty-parens" or not s.prev_is("LPAR"):
        return None
    return _empty(s)


def _empty(s: _Slip):
    # a call's empty parentheses, f(), parse; the op's arity check reports them
    return s.make("empty parentheses: there is no expression inside '( )'", s.prev.line,
                  s.prev.column, 2, hint="put an expression inside, or remove them")


def _unmatched_close(s: _Slip):
    """unmatched-close: ``z = w)``."""
    if s.label != "unmatched-close" or s.tok.type != "RPAR":
        return None
    return s.make("this ')' has no matching '('", s.line, s.column, 1,
                  hint="remove it, or add the '(' it should close")


def _misplaced_equals(s: _Slip):
    """misplaced-equals: ``z = w = 3``."""
    if s.label != "misplaced-equals" or s.tok.type != "EQUAL":
        return None
    return s.make("a second '=' in one statement", s.line, s.column, 1,
                  hint="a statement defines one name: `NAME = EXPR`; put each "
                       "definition on its own line")


def _two_names(s: _Slip):
    """two-names: ``z w + 1``, ``output z w``."""
    if s.label != "two-names" or s.tok.type in _ENDS:
        return None
    names = s.names
    if names and names[0] == "output":
        return s.make(f"{_unexpected(s.what)} after `output {names[1]}`", s.line, s.column,
                      s.width, hint="`output` takes one name; put the next statement on its "
                                    "own line or after ';'")
    first = names[0] if names else "z"
    return s.make(f"`{' '.join(names[:2])}` is not the start of a statement", s.line, s.column,
                  s.width, hint=f"did you mean `{first} = {' '.join(names[1:2])} ...`? " +
                  STATEMENT_FORMS)


def _missing_equals(s: _Slip):
    """missing-equals and keyword-then-operator: ``z 2*w``, ``z + 1 = w``, ``target 150 3``;
    also param-not-number outside a param statement."""
    if (s.label not in ("missing-equals", "keyword-then-operator", "param-not-number")
            or s.tok.type in _ENDS):
        return None
    first = s.names[0] if s.names else "z"
    if first == "target":
        return s.make(f"{_unexpected(s.what)} after the target", s.line, s.column, s.width,
                      hint="the target is a plain number: `target 150`")
    return s.make(f"missing '=' after '{first}'",
                  *_first_token_position(s.part, s.line, s.column), len(first),
                  hint=f"write `{first} = EXPR`, e.g. `{first} = 2*w`")


def _bad_start(s: _Slip):
    """bad-start: ``2 = w``, ``* w``; or any slip at the start of a statement."""
    if s.label != "bad-start" and s.part:
        return None
    return s.make(f"a statement cannot start with {s.what}", s.line, s.column, s.width,
                  hint=STATEMENT_FORMS)


def _anything_else(s: _Slip):
    """Anything else: say what came and what would fit, in words."""
    if s.at_end:
        return s.make(f"the file ends where {_describe_expected(s.expected)} was expected",
                      s.line, s.column, 1, hint="finish the last statement")
    hint = None
    if s.tok.type in ("_NL", "SEMI"):
        hint = "finish the statement before the end of the line"
    return s.make(f"{_unexpected(s.what)}: expected {_describe_expected(s.expected)}",
                  s.line, s.column, s.width, hint)


#: the handlers in the order they are tried; the first that answers gives the message
HANDLERS = (_unclosed_paren, _data_brackets, _missing_operator, _double_equals,
            _param_without_number, _two_params, _param_not_number, _missing_rhs,
            _comma_without_argument, _missing_operand, _empty_parens, _missing_argument,
            _unmatched_close, _misplaced_equals, _two_names, _missing_equals, _bad_start,
            _anything_else)


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
def _example_error(parse, snippet: str):
    """The UnexpectedInput ``parse(snippet)`` raises, its state made depth-free
    (cached: each example is parsed once per parser)."""
    from lark.exceptions import UnexpectedInput

    try:
        parse(snippet)
    except UnexpectedInput as e:
        if e.state is not None:
            e.state = _Position(e.state.position)
        e.__traceback__ = None
        return e
    except GraphdslError:
        return None
    return None


def _example_items():
    for label, snippets in EXAMPLES.items():
        yield label, [s for snippet in snippets for s in (snippet, "a = 1\n" + snippet)]


def _classify(err, parse) -> str | None:
    """The label of the example that fails like ``err`` (Lark's match_examples)."""
    if getattr(err, "state", None) is None:
        return None

    def parse_example(snippet: str):
        found = _example_error(parse, snippet)
        if found is not None:
            raise found

    return err.match_examples(parse_example, _example_items(), use_accepts=False)


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
    return isinstance(v, tuple) and bool(v) and not isinstance(v, STATEMENTS)


def _statement_part(stack) -> list:
    k = len(stack)
    while k > 0 and _in_statement(stack[k - 1]):
        k -= 1
    return stack[k:]


def _previous_token(stack):
    return stack[-1] if stack and _is_token(stack[-1]) else None


def _first_token_position(part, line, column):
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


def _open_parens(stack, opening: str = "LPAR", closing: str = "RPAR") -> list:
    """The '(' tokens (or ``opening`` ones) still open on the stack: a ')' (a
    ``closing`` one) not yet reduced closes one."""
    opened = []
    for v in stack:
        if _is_token(v):
            if v.type == opening:
                opened.append(v)
            elif v.type == closing and opened:
                opened.pop()
    return opened


def _end_position(stack, text: str) -> tuple[int, int]:
    """Where the text ends: just after the last token, else after the last character."""
    for v in reversed(stack):
        if _is_token(v) and getattr(v, "end_line", None):
            return v.end_line, v.end_column
        if isinstance(v, EXPRESSIONS + STATEMENTS):
            break
    body = text.rstrip()
    line = body.count("\n") + 1
    return line, len(body) - (body.rfind("\n") + 1) + 1


def _adjacent(a, b) -> bool:
    return a.line == b.line and getattr(a, "end_column", None) == b.column


# --- the messages -------------------------------------------------------------

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


def _number_text(value: float) -> str:
    v = float(value)
    return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)
