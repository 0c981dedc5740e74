"""An op's formulas, written once as templates, and every other form derived from them.

A *template* is a Python expression over the operands ``{0}``, ``{1}``...
and, in a partial, the op's value ``{out}``. It may use numbers, ``+ - * /``,
comparisons, ``and``/``or``/``not``, ``A if C else B`` and the functions of
:data:`FUNCTIONS` (``_exp``, ``_pow``, ``_sigmoid``...). Nothing else: no
other name, no attribute, no ``**`` (``_pow`` raises where ``**`` would give a
complex number). An op gives ``py_forward`` (one template) and
``py_partials`` (one per operand); from them this module derives:

- the scalar ``forward``/``partials`` methods (:func:`derive_methods`, run
  for every :class:`~graphdsl.ops.Op` subclass that gives a template and not
  the method), so the two cannot drift apart;
- the lines the engine writes into its generated code (:meth:`Formulas.python`);
- numpy forms, in place (:meth:`Formulas.numpy_kernels`, writing into rows
  given by the caller, as batch evaluation wants) and plain
  (:func:`numpy_forms`), made from the same expressions with each function
  swapped for its numpy ufunc.

A sub-expression used twice outside a branch is computed once (``_sech(x)``
in ``_sech(x) * _sech(x)``), and in the Python text a call of ``_sigmoid`` or
``_sech`` on a name or a number is written out on its common side (the same
float operations: see :func:`_inline`). Nothing here imports numpy; the numpy forms are
compiled when first asked for. Templates are checked when parsed, so the code
made from them can only do arithmetic.

>>> f = formulas("({0} * {1})", ("{1}", "{0}"), 2)
>>> f.python("forward", ["v3", "v4"])
([], ['(v3 * v4)'])
>>> f.python("partials", ["v3", "v4"], out="v5")
([], ['v4', 'v3'])
"""

from __future__ import annotations

import ast
import math
import re
from functools import lru_cache


def _sigmoid(x):
    # two branches so that exp never overflows: exp(-x) for x >= 0, exp(x) below
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _sech(x):
    try:
        return 1.0 / math.cosh(x)
    except OverflowError:  # cosh beyond the largest float: 1/cosh underflows to 0
        return 0.0


#: the functions a template may call, as the scalar engine runs them
FUNCTIONS = {
    "_exp": math.exp, "_log": math.log, "_sqrt": math.sqrt, "_sin": math.sin,
    "_cos": math.cos, "_tan": math.tan, "_tanh": math.tanh, "_cosh": math.cosh,
    "_pow": math.pow, "_abs": abs, "_sigmoid": _sigmoid, "_sech": _sech,
}
_ARITY = {"_pow": 2}
# The same functions over arrays: a numpy ufunc, or a template of other functions.
# Each gives NaN or ±inf (and raises a floating-point flag) where the scalar one raises.
_UFUNC = {
    "_exp": "exp", "_log": "log", "_sqrt": "sqrt", "_sin": "sin", "_cos": "cos",
    "_tan": "tan", "_tanh": "tanh", "_cosh": "cosh", "_pow": "power", "_abs": "absolute",
}
_MACRO = {
    "_sigmoid": "1.0 / (1.0 + _exp(-{0}))",  # exp(-x) = inf for x < -709 gives the right 0
    "_sech": "1.0 / _cosh({0})",              # cosh = inf for |x| > 710 gives the right 0
}
_BINARY = {ast.Add: ("+", "add"), ast.Sub: ("-", "subtract"), ast.Mult: ("*", "multiply"),
           ast.Div: ("/", "divide")}
_COMPARE = {ast.Gt: "greater", ast.GtE: "greater_equal", ast.Lt: "less",
            ast.LtE: "less_equal", ast.Eq: "equal", ast.NotEq: "not_equal"}


#: the longest template accepted (the built-in ones are under 60 characters)
MAX_TEMPLATE = 2000


class TemplateError(ValueError):
    """A template that is not an expression of the allowed kind; the message
    says what is wrong in it."""


def _operand(i: int) -> str:
    return f"_a{i}"


_OUT = "_out"


def parse(text, arity: int, partial: bool) -> ast.expr:
    """The checked expression of one template; operands become the names
    ``_a0``, ``_a1``..., the op's value ``_out``.

    Raises :class:`TemplateError` naming what is not allowed.

    >>> ast.unparse(parse("_exp(-{0}) * {out}", 1, partial=True))
    '_exp(-_a0) * _out'
    """
    if not isinstance(text, str):
        raise TemplateError(f"{text!r} is not a string")
    if len(text) > MAX_TEMPLATE:
        raise TemplateError(f"is {len(text):,} characters long, more than {MAX_TEMPLATE:,}")
    names = [_operand(i) for i in range(arity)]
    try:
        src = text.format(*names, **({"out": _OUT} if partial else {}))
    except (IndexError, KeyError, ValueError) as e:
        places = ", ".join("{%d}" % i for i in range(arity)) or "no operand"
        raise TemplateError(
            f"{text!r} uses a placeholder it cannot have ({type(e).__name__}: {e}); "
            f"it may use {places}" + (" and {out}" if partial else "")) from None
    try:
        tree = ast.parse(src.strip(), mode="eval")
    except SyntaxError as e:
        raise TemplateError(f"{text!r} is not a Python expression ({e.msg})") from None
    except (RecursionError, MemoryError):
        raise TemplateError("is nested too deeply to be read") from None
    allowed = set(names) | ({_OUT} if partial else set())
    stack = [tree.body]
    while stack:
        node = stack.pop()
        what = _disallowed(node, allowed)
        if what:
            raise TemplateError(f"{text!r}: {what}")
        # a function's name only where it is called
        stack.extend(node.args if isinstance(node, ast.Call) else ast.iter_child_nodes(node))
    return tree.body


def _disallowed(node, allowed) -> str | None:
    """Why ``node`` may not be in a template, or None."""
    if isinstance(node, (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)):
        if isinstance(node, ast.operator) and type(node) not in _BINARY:
            return ("'**' is not allowed (use _pow(a, b))" if isinstance(node, ast.Pow)
                    else f"the operator {type(node).__name__} is not allowed")
        return None
    if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.IfExp, ast.Compare)):
        return None
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return f"{v!r} is not a finite number"
        return None
    if isinstance(node, ast.Name):
        if node.id in allowed:
            return None
        if node.id in FUNCTIONS:
            return f"{node.id} is a function: call it, {node.id}(...)"
        return f"the name {node.id!r} is not allowed (operands are {{0}}, {{1}}..., functions: " \
               + ", ".join(FUNCTIONS) + ")"
    if isinstance(node, ast.Call):
        f = node.func
        if not (isinstance(f, ast.Name) and f.id in FUNCTIONS):
            return "only the functions " + ", ".join(FUNCTIONS) + " may be called"
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            return f"{f.id} takes plain operands"
        want = _ARITY.get(f.id, 1)
        if len(node.args) != want:
            return f"{f.id} takes {want} operand{'s' if want != 1 else ''}, not {len(node.args)}"
        return None
    return f"{type(node).__name__} is not allowed in a template"


# --- common sub-expressions ---------------------------------------------------------

def _trivial(node) -> bool:
    return isinstance(node, (ast.Name, ast.Constant)) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant))


def _unconditional_children(node):
    """Children always evaluated when ``node`` is (a branch or a short-circuit
    operand may not be)."""
    if isinstance(node, ast.IfExp):
        return [node.test]
    if isinstance(node, ast.BoolOp):
        return node.values[:1]
    return list(ast.iter_child_nodes(node))


def _hoist(exprs: list[ast.expr]) -> tuple[list[ast.expr], list[ast.expr]]:
    """(temps, exprs): each sub-expression that occurs twice or more where it is
    always evaluated becomes a temp ``_t0``, ``_t1``... computed once, before
    the expressions, in an order where each temp's own temps come first."""
    count: dict[str, int] = {}
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if not _trivial(node):
            key = ast.dump(node)
            count[key] = count.get(key, 0) + 1
        stack.extend(_unconditional_children(node))
    shared = {k for k, n in count.items() if n > 1}
    temps: list[ast.expr] = []
    slot: dict[str, int] = {}

    def rewrite(node, conditional):  # templates are a few nodes deep: recursion is fine here
        key = None if _trivial(node) else ast.dump(node)
        if key in slot:
            return ast.Name(f"_t{slot[key]}", ast.Load())
        hoist = key in shared and not conditional
        always = {id(c) for c in _unconditional_children(node)}
        for field, value in ast.iter_fields(node):
            if isinstance(value, ast.AST) and isinstance(value, ast.expr):
                setattr(node, field, rewrite(value, conditional or id(value) not in always))
            elif isinstance(value, list):
                setattr(node, field, [rewrite(v, conditional or id(v) not in always)
                                      if isinstance(v, ast.expr) else v for v in value])
        if hoist:
            slot[key] = len(temps)
            temps.append(node)
            return ast.Name(f"_t{slot[key]}", ast.Load())
        return node

    import copy

    out = [rewrite(copy.deepcopy(e), False) for e in exprs]
    return temps, out


# --- functions written out where they are called -----------------------------------

# A call of a function written in Python costs about as much as the arithmetic
# of a whole op: on one side of a test these give the same float operations,
# in the same order, as _sigmoid and _sech, inline; the other side is the call.
_INLINE = {
    "_sigmoid": "(1.0 / (1.0 + _exp(-_x)) if _x >= 0.0 else _sigmoid(_x))",
    # cosh overflows (raises) only beyond |x| = 710.47...: there _sech itself says 0.0
    "_sech": "(1.0 / _cosh(_x) if -710.0 < _x < 710.0 else _sech(_x))",
}


def _simple(node) -> bool:
    """A name or number, possibly negated: cheap to evaluate more than once."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, (ast.Name, ast.Constant))


def _inline(node: ast.expr) -> ast.expr:
    """``node`` with each call of a function of :data:`_INLINE` on a simple
    operand written out as its expression (the result is bit for bit the
    call's). A template is a few nodes deep: recursion is fine here.

    >>> ast.unparse(_inline(ast.parse("_sigmoid(-_a0)", mode="eval").body))
    '1.0 / (1.0 + _exp(_a0)) if -_a0 >= 0.0 else _sigmoid(-_a0)'
    """
    import copy

    for field, value in ast.iter_fields(node):
        if isinstance(value, ast.expr):
            setattr(node, field, _inline(value))
        elif isinstance(value, list):
            setattr(node, field, [_inline(v) if isinstance(v, ast.expr) else v for v in value])
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in _INLINE and len(node.args) == 1 and _simple(node.args[0])):
        arg = node.args[0]
        body = ast.parse(_INLINE[node.func.id], mode="eval").body

        def put(n):
            if isinstance(n, ast.Name) and n.id == "_x":
                return copy.deepcopy(arg)
            if (isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub)
                    and isinstance(n.operand, ast.Name) and n.operand.id == "_x"
                    and isinstance(arg, ast.UnaryOp) and isinstance(arg.op, ast.USub)):
                return copy.deepcopy(arg.operand)  # -(-a) is a, exactly
            for f, v in ast.iter_fields(n):
                if isinstance(v, ast.expr):
                    setattr(n, f, put(v))
                elif isinstance(v, list):
                    setattr(n, f, [put(x) if isinstance(x, ast.expr) else x for x in v])
            return n
        return put(body)
    return node


# --- the parsed templates of one op -------------------------------------------------

class Formulas:
    """One op's templates, parsed and checked, with the code derived from them.

    ``forward`` is the value's expression, ``partials`` one expression per
    operand (or None when the op gives no ``py_partials``).
    """

    def __init__(self, py_forward, py_partials, arity: int):
        self.arity = arity
        self.text_forward = py_forward
        self.text_partials = tuple(py_partials) if py_partials is not None else None
        self.forward = self.partials = None
        if py_forward is not None:
            try:
                self.forward = parse(py_forward, arity, False)
            except TemplateError as e:
                raise TemplateError(f"the template py_forward {e}") from None
        if py_partials is not None:
            if isinstance(py_partials, str) or len(self.text_partials) != arity:
                n = 1 if isinstance(py_partials, str) else len(self.text_partials)
                raise TemplateError(f"py_partials gives {n} template{'s' if n != 1 else ''} "
                                    f"for {arity} operand{'s' if arity != 1 else ''}")
            parsed = []
            for i, t in enumerate(self.text_partials):
                try:
                    parsed.append(parse(t, arity, True))
                except TemplateError as e:
                    raise TemplateError(f"the template py_partials[{i}] {e}") from None
            self.partials = tuple(parsed)
        self._hoisted = {}

    def python(self, which: str, args, out: str | None = None, temp: str = "_t"):
        """(lines, expressions) of Python for ``which`` ("forward" or
        "partials"), over the operand names ``args`` (and ``out``): the lines
        assign the shared sub-expressions to ``temp0``, ``temp1``..., the
        expressions then use them. Only the names given and :data:`FUNCTIONS`
        appear in the text."""
        lines, exprs = self._text(which)
        return ([ln.format(*args, out=out, temp=temp) for ln in lines],
                [e.format(*args, out=out, temp=temp) for e in exprs])

    def _text(self, which: str):
        """The lines and expressions of :meth:`python` as format strings (made
        once: the engine asks for them once per node of a model)."""
        cached = self._hoisted.get(which)
        if cached is not None:
            return cached
        exprs = [self.forward] if which == "forward" else list(self.partials)
        temps, finals = _hoist(exprs)
        temps, finals = [_inline(t) for t in temps], [_inline(e) for e in finals]
        # A template's text holds no braces (no dict, set or f-string is
        # allowed), so its names can become format fields.
        names = re.compile(r"\b(_a(\d+)|_out|_t(\d+))\b")

        def fields(text: str) -> str:
            return names.sub(lambda m: "{%s}" % m.group(2) if m.group(2) is not None
                             else "{out}" if m.group(1) == _OUT else "{temp}" + m.group(3), text)

        cached = ([f"{{temp}}{i} = {fields(ast.unparse(t))}" for i, t in enumerate(temps)],
                  [fields(_paren(e)) for e in finals])
        self._hoisted[which] = cached
        return cached

    def method(self, which: str, params, qualname: str):
        """``forward(self, *operands)`` or ``partials(self, *operands, out)`` as
        a function compiled from the template (what :func:`derive_methods` sets)."""
        out = "out" if which == "partials" else None
        lines, exprs = self.python(which, params, out=out)
        sig = ", ".join(["self", *params] + ([out] if out else []))
        result = exprs[0] if which == "forward" else "(" + "".join(e + ", " for e in exprs) + ")"
        src = "\n".join([f"def {which}({sig}):", *(f"    {ln}" for ln in lines),
                         f"    return {result}"]) + "\n"
        namespace = {"__builtins__": {}, **FUNCTIONS}
        exec(compile(src, f"<{qualname} template>", "exec"), namespace)
        fn = namespace[which]
        fn.__qualname__ = qualname
        fn.__doc__ = f"Derived from the op's template: {self.text_forward if out is None else self.text_partials}"
        return fn

    # -- numpy ---------------------------------------------------------------
    def numpy_kernels(self):
        """(forward, partials, rows): numpy code made from the templates,
        writing into rows given by the caller.

        ``forward(dst, s, *operands)`` writes the value into the array ``dst``;
        ``partials(s, out, *operands)`` returns one partial per operand: a
        float for a constant, an operand or ``out`` itself, or a row of ``s``.
        ``s`` is a list of at least ``rows`` arrays of dst's shape. Either is
        None when its template is missing. Every result that is not finite
        comes with a numpy floating-point flag (invalid, divide or overflow)
        when the operands are finite.
        """
        return _kernels(self.text_forward, self.text_partials, self.arity)


def _paren(node) -> str:
    """The expression's text, in parentheses unless it is one name, number or call."""
    text = ast.unparse(node)
    if isinstance(node, (ast.Name, ast.Constant, ast.Call)) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant)):
        return text
    return f"({text})"


@lru_cache(maxsize=256)
def _formulas(py_forward, py_partials, arity) -> Formulas:
    return Formulas(py_forward, py_partials, arity)


def formulas(py_forward, py_partials, arity: int) -> Formulas:
    """The parsed templates (cached: one parse per distinct text).

    Raises :class:`TemplateError` for a template that is not allowed.

    >>> formulas("_exp({0})", ("{out}",), 1).python("partials", ["v0"], out="v1")
    ([], ['v1'])
    """
    key = tuple(py_partials) if py_partials is not None and not isinstance(py_partials, str) \
        else py_partials
    return _formulas(py_forward, key, arity)


def of(op) -> Formulas | None:
    """The :class:`Formulas` of ``op``'s templates that apply to it (see
    :func:`applicable`), or None when it gives none.

    Raises :class:`TemplateError` for a template that is not allowed.

    >>> from graphdsl.ops.builtin import Div
    >>> of(Div()).text_partials
    ('1.0 / {1}', '-{out} / {1}')
    """
    f = applicable(op, "py_forward", "forward")
    p = applicable(op, "py_partials", "partials")
    if f is None and p is None:
        return None
    return formulas(f, p, op.arity)


def applicable(op, form: str, method: str):
    """``op``'s attribute ``form`` (a template or numpy form) when it is a form of
    the op's own ``method``, else None: a form inherited from a class whose
    ``method`` a subclass overrode describes the parent's arithmetic, not
    this op's.

    >>> from graphdsl.ops.builtin import Tanh
    >>> class Twice(Tanh):
    ...     name = "twice"
    ...     def forward(self, x): return 2.0 * x
    >>> applicable(Twice(), "py_forward", "forward") is None
    True
    >>> applicable(Tanh(), "py_forward", "forward")
    '_tanh({0})'
    """
    value = getattr(op, form, None)
    if value is None:
        return None
    inst = vars(op) if hasattr(op, "__dict__") else {}
    if form in inst:
        return value
    if method in inst:
        return None
    mro = type(op).__mro__
    owner_form = next((k for k, c in enumerate(mro) if form in vars(c)), None)
    owner_method = next((k for k, c in enumerate(mro) if method in vars(c)), len(mro))
    if owner_form is None or owner_form > owner_method:
        return None
    return value


def operand_params(cls, arity: int) -> list[str]:
    """The parameter names of derived methods: the class's ``operands`` when
    it gives them, else x (one operand), a and b (two), x1, x2... (more).

    >>> operand_params(object, 3)
    ['x1', 'x2', 'x3']
    """
    names = getattr(cls, "operands", None)
    if names is not None and len(names) == arity:
        return list(names)
    return ["x"] if arity == 1 else ["a", "b"] if arity == 2 else [f"x{i + 1}" for i in range(arity)]


class FromTemplate:
    """A ``forward`` or ``partials`` method made from the class's template,
    compiled the first time it is looked up (a process that never calls an
    op does not pay for compiling it); the compiled function then replaces
    this on the class."""

    derived_from_template = True

    def __init__(self, owner, method: str, formulas_: Formulas, params):
        self.owner = owner
        self.method = method
        self.formulas = formulas_
        self.params = params

    def __get__(self, obj, objtype=None):
        fn = self.formulas.method(self.method, self.params,
                                  f"{self.owner.__qualname__}.{self.method}")
        fn.derived_from_template = True
        setattr(self.owner, self.method, fn)
        return fn if obj is None else fn.__get__(obj, objtype)


def own_method(cls, method: str):
    """The ``method`` attribute as the class (or the nearest class above it)
    holds it, without compiling a :class:`FromTemplate`; None if none has it.

    >>> from graphdsl.ops.builtin import Exp
    >>> type(own_method(Exp, "py_forward")).__name__
    'str'
    """
    for c in cls.__mro__:
        if method in vars(c):
            return vars(c)[method]
    return None


def derive_methods(cls) -> None:
    """Give ``cls`` the ``forward`` and ``partials`` its own templates describe,
    where it defines a template and has no method of its own writing (none,
    or one made from a parent's template). A method written by hand is kept,
    and the template is then a second form, compared with it by ``graphdsl
    ops --check``. A template that is not allowed is left for registration
    to report. Raises nothing.

    >>> class Twice:
    ...     arity, py_forward = 1, "2.0 * {0}"
    >>> derive_methods(Twice)
    >>> Twice().forward(3.0)
    6.0
    """
    arity = vars(cls).get("arity", getattr(cls, "arity", None))
    if not isinstance(arity, int) or isinstance(arity, bool) or arity < 0:
        return
    params = operand_params(cls, arity)
    bad = {"self", "out"} | set(FUNCTIONS)
    if any(not p.isidentifier() or p in bad for p in params) or len(set(params)) != arity:
        params = [f"x{i + 1}" for i in range(arity)]
    own = vars(cls)
    for method, form in (("forward", "py_forward"), ("partials", "py_partials")):
        if own.get(form) is None or method in own:
            continue
        inherited = own_method(cls, method)
        if not (inherited is None or getattr(inherited, "derived_from_template", False)
                or getattr(inherited, "__module__", None) == __name__.rsplit(".", 1)[0] + ".base"):
            continue
        try:
            f = formulas(own[form] if form == "py_forward" else None,
                         own[form] if form == "py_partials" else None, arity)
        except TemplateError:
            continue
        setattr(cls, method, FromTemplate(cls, method, f, params))


# --- numpy --------------------------------------------------------------------------
#
# The templates become a small tree of numpy calls: ("x", i) an operand,
# ("out",) the op's value, ("c", v) a number, ("f", ufunc, args) a float result,
# ("b", ufunc, args) a boolean one, ("where", cond, a, b). Equal sub-trees are
# one node (tuples compare by value), so a shared sub-expression is computed once.

def _tree(node, macro_arg=None):
    if isinstance(node, ast.Constant):
        return ("c", float(node.value))
    if isinstance(node, ast.Name):
        if node.id == _OUT:
            return ("out",)
        if macro_arg is not None and node.id == _operand(0):
            return macro_arg
        return ("x", int(node.id[2:]))
    if isinstance(node, ast.BinOp):
        return _fold(("f", _BINARY[type(node.op)][1], (_tree(node.left, macro_arg),
                                                       _tree(node.right, macro_arg))))
    if isinstance(node, ast.UnaryOp):
        x = _tree(node.operand, macro_arg)
        if isinstance(node.op, ast.UAdd):
            return x
        if isinstance(node.op, ast.Not):
            return ("b", "logical_not", (x,))
        if x[0] == "f" and x[1] == "negative":  # --x is x, exactly
            return x[2][0]
        return _fold(("f", "negative", (x,)))
    if isinstance(node, ast.Compare):
        parts = [_tree(node.left, macro_arg)] + [_tree(c, macro_arg) for c in node.comparators]
        terms = [("b", _COMPARE[type(o)], (parts[i], parts[i + 1])) for i, o in enumerate(node.ops)]
        out = terms[0]
        for t in terms[1:]:
            out = ("b", "logical_and", (out, t))
        return out
    if isinstance(node, ast.BoolOp):
        f = "logical_and" if isinstance(node.op, ast.And) else "logical_or"
        vals = [_tree(v, macro_arg) for v in node.values]
        out = vals[0]
        for v in vals[1:]:
            out = ("b", f, (out, v))
        return out
    if isinstance(node, ast.IfExp):
        return ("where", _tree(node.test, macro_arg), _tree(node.body, macro_arg),
                _tree(node.orelse, macro_arg))
    if isinstance(node, ast.Call):
        args = tuple(_tree(a, macro_arg) for a in node.args)
        name = node.func.id
        if name in _MACRO:
            return _tree(parse(_MACRO[name], 1, False), args[0])
        return _fold(("f", _UFUNC[name], args))
    raise TemplateError(f"cannot translate {ast.dump(node)}")  # parse() lets nothing else through


def _fold(t):
    """A call on numbers only becomes its number (-1.0, not negative(1.0))."""
    if all(a[0] == "c" for a in t[2]):
        import operator

        vals = [a[1] for a in t[2]]
        fn = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
              "divide": operator.truediv, "negative": operator.neg}.get(t[1])
        if fn is not None:
            try:
                v = float(fn(*vals))
            except (ZeroDivisionError, OverflowError):
                return t
            if math.isfinite(v):
                return ("c", v)
    return t


def _leaf(t) -> bool:
    return t[0] in ("x", "out", "c")


class _Emitter:
    """Writes numpy calls for trees, each result in a row: a row is reused
    once every use of its value is done; "dst" is a row too (forward only)."""

    def __init__(self, roots, first_row=None):
        self.lines: list[str] = []
        self.uses: dict = {}
        self.ref: dict = {}
        self.free: list[str] = [first_row] if first_row else []
        self.rows = 0
        self.held: set = set()
        self.bools = 0
        seen = set()
        stack = list(roots)
        for r in roots:
            self.uses[r] = self.uses.get(r, 0) + 1  # the caller's use
        while stack:
            t = stack.pop()
            if t in seen or _leaf(t):
                continue
            seen.add(t)
            for c in _children(t):
                self.uses[c] = self.uses.get(c, 0) + 1
                stack.append(c)

    def _row(self, prefer=None) -> str:
        if prefer is not None and prefer in self.free:
            self.free.remove(prefer)
            return prefer
        if self.free:
            return self.free.pop(0)
        name = f"s[{self.rows}]"
        self.rows += 1
        return name

    def _done(self, t) -> str | None:
        """Note one use of t; its row when that was the last use."""
        self.uses[t] -= 1
        if self.uses[t] == 0 and t in self.ref and t[0] in ("f", "where"):
            row = self.ref[t]
            self.free.append(row)
            return row
        return None

    def value(self, t, into=None) -> str:
        """The text of t's value, computing it (into ``into`` when given) first."""
        if t[0] == "x":
            return f"x{t[1]}"
        if t[0] == "out":
            return "out"
        if t[0] == "c":
            return repr(t[1])
        if t in self.ref:
            return self.ref[t]
        kids = [self.value(c) for c in _children(t)]
        freed = [self._done(c) for c in _children(t) if not _leaf(c)]
        if t[0] == "b":
            name = f"m{self.bools}"
            self.bools += 1
            self.lines.append(f"{name} = _{t[1]}({', '.join(kids)})")
        else:
            name = into if into is not None else self._row(next((r for r in freed if r), None))
            if into is not None and into in self.free:
                self.free.remove(into)
            if t[0] == "where":
                self.lines.append(f"_copyto({name}, _where({', '.join(kids)}))")
            else:
                self.lines.append(f"_{t[1]}({', '.join(kids)}, out={name})")
        self.ref[t] = name
        return name


def _children(t):
    if t[0] in ("f", "b"):
        return t[2]
    if t[0] == "where":
        return t[1:]
    return ()


def kernel_sources(f: Formulas) -> tuple[list[tuple[str, str]], int]:
    """The Python text of the numpy code made from ``f`` (("fw", text),
    ("bw", text)) and the scratch rows it needs: for reading and for tests.

    >>> print(kernel_sources(formulas("{0} * {1}", None, 2))[0][0][1], end="")
    def fw(dst, s, x0, x1):
        _multiply(x0, x1, out=dst)
        return None
    """
    xs = ", ".join(f"x{i}" for i in range(f.arity))
    sources = []
    rows = 0
    if f.forward is not None:
        root = _tree(f.forward)
        em = _Emitter([root], first_row="dst")
        if _leaf(root):
            em.lines.append(f"_copyto(dst, {em.value(root)})")
        else:
            name = em.value(root, into="dst")
            if name != "dst":  # a shared value computed before the root (cannot be: kept for safety)
                em.lines.append(f"_copyto(dst, {name})")
        rows = max(rows, em.rows)
        sources.append(("fw", f"def fw(dst, s{', ' if xs else ''}{xs}):\n"
                        + "".join(f"    {ln}\n" for ln in em.lines) + "    return None\n"))
    if f.partials is not None:
        roots = [_tree(p) for p in f.partials]
        em = _Emitter(roots)
        results = [em.value(r) for r in roots]
        rows = max(rows, em.rows)
        sources.append(("bw", f"def bw(s, out{', ' if xs else ''}{xs}):\n"
                        + "".join(f"    {ln}\n" for ln in em.lines)
                        + f"    return ({''.join(r + ', ' for r in results)})\n"))
    return sources, rows


@lru_cache(maxsize=256)
def _kernels(py_forward, py_partials, arity):
    sources, rows = kernel_sources(formulas(py_forward, py_partials, arity))
    import numpy as np

    namespace = {"__builtins__": {}, "_where": np.where, "_copyto": np.copyto}
    for name in set(_UFUNC.values()) | {b[1] for b in _BINARY.values()} | set(_COMPARE.values()) \
            | {"negative", "logical_and", "logical_or", "logical_not"}:
        namespace["_" + name] = getattr(np, name)
    made = {"fw": None, "bw": None}
    for key, src in sources:
        exec(compile(src, "<graphdsl numpy form>", "exec"), namespace)
        made[key] = namespace[key]
    return made["fw"], made["bw"], rows


def numpy_forms(op):
    """(np_forward, np_partials) derived from ``op``'s templates, as plain
    functions of arrays that return new arrays (either None when its template
    is missing); (None, None) for an op without templates.

    >>> import numpy as np
    >>> from graphdsl.ops.builtin import Tanh
    >>> fw, bw = numpy_forms(Tanh())
    >>> bw(np.array([0.0, 20.0]), fw(np.array([0.0, 20.0])))[0].tolist()
    [1.0, 1.6993417021166355e-17]
    """
    f = of(op)
    if f is None:
        return None, None
    fw, bw, rows = f.numpy_kernels()
    import numpy as np

    def scratch(xs):
        shape = np.broadcast(*xs).shape if xs else ()
        return shape, [np.empty(shape) for _ in range(rows)]

    def np_forward(*xs):
        shape, s = scratch(xs)
        dst = np.empty(shape)
        with np.errstate(all="ignore"):
            fw(dst, s, *xs)
        return dst

    def np_partials(*xs_and_out):
        xs, out = xs_and_out[:-1], xs_and_out[-1]
        shape, s = scratch(list(xs) + [out])
        with np.errstate(all="ignore"):
            return tuple(np.array(d, dtype=float) if isinstance(d, np.ndarray) else d
                         for d in bw(s, out, *xs))

    return (np_forward if fw is not None else None), (np_partials if bw is not None else None)
