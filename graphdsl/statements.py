"""The statement view of a model, the one source that pictures, ``explain`` and
the report read.

The statement view has one node per *named* quantity (a param, a named
constant, or the left side of a statement); each statement's hidden
sub-expressions and constants are folded into it. This module holds what that
view is, in four layers kept apart so that another way of writing the chain
rule (forward mode: each tangent a sum over a statement's inputs) or another
shape of model (per-sample nodes) reuses the first three and adds only its own
writer:

1. **structure** — :class:`Statements` (from :func:`statements`): the named
   nodes in topological order, each computed node's named inputs in order of
   first use, the statements that use each node, and walks over them: what a
   node reaches, how many paths lead from one node to another, and those paths
   (counted first, walked only when few; never recursive, so a model 10^6
   statements deep is fine);
2. **text** — :meth:`Statements.text`: a statement as written (``2·w + 3·b``),
   built for every statement in one pass and cut at a length, so a statement
   nested 10^5 levels deep costs linear time, not quadratic;
3. **local rules** — :class:`Rules`: ∂statement/∂input as text and LaTeX from
   sympy (optional), printed by the one printer, :func:`pretty`. Statements of
   the same shape share one derivative; the work is bounded (statement size,
   number of shapes) so that a big model never waits on sympy;
4. **the reverse sum** — :func:`chain_sum` and :class:`ChainSum`: ∂out/∂p as
   the sum over paths of the products of local partials, in the pieces
   (symbols, rules, numbers, total) that render's caption and explain both
   write, never repeating a piece (``∂a/∂x = ∂a/∂x = …``);
5. **the forward sum** — :func:`tangent_sum`: forward mode's ∂node/∂p as the
   sum over the statement's inputs of local partial × the input's tangent,
   in the same :class:`ChainSum` pieces (``∂z/∂w = ∂z/∂x·∂x/∂w + ∂z/∂y·∂y/∂w
   = y·2 + x·0 = 9·2 + 18·0 = 18``); and the LaTeX pieces both sums share
   (:func:`tex_d`, :func:`tex_number`).

The local partials' *numbers* are the engine's
(:meth:`graphdsl.engine.Compiled.local_partials`); this module holds no
numbers of its own.

>>> import graphdsl
>>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = x*y\\nx = 2*w + 3*b\\ny = 2*b + 1")
>>> s = statements(m)
>>> s.inputs["x"], s.users["b"], s.path_counts("b")["z"], s.paths("z", "b", 10)
(['w', 'b'], ['x', 'y'], 2, [('z', 'x', 'b'), ('z', 'y', 'b')])
>>> s.text("x"), Rules(m).of("z")["x"].text
('2·w + 3·b', 'y')
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from functools import cached_property

from .text import format_number

#: A statement's text is cut to this many characters (what a picture shows).
TEXT_LIMIT = 40
#: Statements with more ops and constants than this get no symbolic rule: the
#: rule would not be readable (at 60 ops rules run to thousands of
#: characters), and sympy can take seconds over one (measured up to 3 s at
#: 200-290 ops of tanh and sigmoid).
MAX_RULE_SIZE = 40
#: ... and the shapes worked out by one picture or explanation hold at most this
#: many ops and constants in all, so the sympy work stays a few seconds at most.
MAX_RULE_WORK = 1000
#: Rules are worked out by sympy for at most this many differently shaped
#: statements per picture or explanation (each costs ~10 ms of sympy, more for
#: big ones); past it the edges show numbers only. Statements of one shape
#: share one derivative.
MAX_RULE_SHAPES = 60
#: ... and printed for at most this many statements (printing one rule costs
#: ~1.5 ms; a picture small enough for dot has fewer statements than this).
MAX_RULE_STATEMENTS = 400


# --- 1. structure -----------------------------------------------------------------

@dataclass
class Statements:
    """The statement view's structure (plain data; see the module doc).

    ``named`` holds every named node in topological order (inputs first);
    ``inputs[c]`` the named inputs of computed node ``c`` in order of first use
    (leaves have no entry); ``users[n]`` the computed nodes whose statements
    use ``n``, in topological order; ``size[c]`` the ops and constants in
    ``c``'s statement; ``kind[n]`` is "param", "const" or "op".
    """

    named: list[str]
    output: str
    params: list[str]
    inputs: dict[str, list[str]]
    users: dict[str, list[str]]
    size: dict[str, int]
    kind: dict[str, str]
    #: the flat graph it was read from (for the statements' text and rules)
    flat: object = field(repr=False, default=None)
    #: what is worked out from the structure once, for every picture and explanation
    cache: dict = field(repr=False, default_factory=dict)

    def reach_up(self, start: str) -> set[str]:
        """``start`` and every node its value depends on."""
        return reach(self.inputs, start)

    def reach_down(self, start: str) -> set[str]:
        """``start`` and every node whose value depends on it."""
        return reach(self.users, start)

    def path_counts(self, to: str) -> dict[str, int]:
        """For every named node n, how many paths lead from n down to ``to``
        (through statements' inputs); 0 where n does not depend on ``to``.
        Exact, however many (each diamond doubles them), in one pass."""
        count = {n: 0 for n in self.named}
        count[to] = 1
        inputs = self.inputs
        for n in self.named:
            ins = inputs.get(n)
            if ins and n != to:
                count[n] = sum(count[i] for i in ins)
        return count

    def paths(self, frm: str, to: str, limit: int,
              counts: dict[str, int] | None = None) -> list[tuple[str, ...]] | None:
        """Every path ``frm`` → … → ``to`` (each from ``frm`` down), first
        inputs first; None when there are more than ``limit``. Only nodes that
        lead to ``to`` are walked, so the work is the paths' own length."""
        counts = counts if counts is not None else self.path_counts(to)
        n_paths = counts.get(frm, 0)
        if n_paths > limit:
            return None
        found: list[tuple[str, ...]] = []
        # each step is (node, index of the step it came from): no path is copied while walking
        steps: list[tuple[str, int]] = []
        stack = [(frm, -1)]
        while stack:
            node, up = stack.pop()
            steps.append((node, up))
            here = len(steps) - 1
            if node == to:
                trail = []
                k = here
                while k >= 0:
                    trail.append(steps[k][0])
                    k = steps[k][1]
                found.append(tuple(reversed(trail)))
                continue
            for i in reversed(self.inputs.get(node, ())):
                if counts.get(i, 0) > 0:
                    stack.append((i, here))
        return found

    def text(self, node: str) -> str:
        """The statement of computed node ``node`` as written (``2·w + 3·b``),
        cut to :data:`TEXT_LIMIT` characters with "…"."""
        return self.hidden_text(node, TEXT_LIMIT)

    def hidden_text(self, node_id: str, limit: int) -> str:
        """The sub-expression at any node (hidden ones too), cut to ``limit`` ≤
        :data:`TEXT_LIMIT` characters with "…"."""
        texts = self.cache.get("texts")
        if texts is None:
            texts = self.cache["texts"] = _statement_texts(self.flat, TEXT_LIMIT + 1)
        t = texts[self.flat.pos[node_id]][0]
        return t if len(t) <= limit else t[:limit - 1] + "…"


_VIEWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def chosen_params(model, wrt: str | None) -> list[str]:
    """The params an explanation covers: ``[wrt]``, or every param when ``wrt`` is None.

    Raises UsageError (with a did-you-mean) when ``wrt`` is not a param.

    >>> import graphdsl
    >>> chosen_params(graphdsl.loads("param w = 3\\nparam b = 4\\nz = w*b"), None)
    ['w', 'b']
    """
    params = list(model.params)
    if wrt is None:
        return params
    if wrt not in params:
        from .errors import UsageError
        from .text import did_you_mean

        raise UsageError(f"--wrt: '{wrt}' {model.not_a_param(wrt)}",
                         hint=did_you_mean(wrt, params) or
                         ("params: " + ", ".join(params) if params else
                          "the model has no param; declare one with `param NAME = NUMBER`"))
    return [wrt]


def passes(model, values=None):
    """One forward and one backward pass at the model's params, some of them
    replaced by ``values``: (values, adjoints, local partials), by node position."""
    c = model.compiled
    current = dict(model.param_values)
    for k, v in (values or {}).items():
        current[k] = float(v)
    vals = model.values_at(current)   # the model's last pass when the params are the same
    return vals, c.backward(vals), c.local_partials(vals)


def statements(model) -> Statements:
    """The statement view of ``model`` (made once per compiled model).

    >>> import graphdsl
    >>> statements(graphdsl.loads("param x = 3; a = x*x + 1/x")).inputs
    {'a': ['x']}
    """
    c = model.compiled
    found = _VIEWS.get(c)
    if found is None:
        found = _VIEWS[c] = _build(c.flat, model.output, list(model.params))
    return found


def _build(fg, output, params) -> Statements:
    ids, name, kind, args = fg.ids, fg.name, fg.kind, fg.args
    named = [n for n, nm in zip(ids, name) if nm is not None]
    inputs: dict[str, list[str]] = {}
    size: dict[str, int] = {}
    for k, nid in enumerate(ids):
        if name[k] is None or kind[k] != "op":
            continue
        seen: dict[str, None] = {}     # an ordered set: order of first use
        visited = set()
        n = 1
        stack = list(reversed(args[k]))
        while stack:
            j = stack.pop()
            if name[j] is not None:
                seen.setdefault(ids[j])
            elif j not in visited:
                visited.add(j)
                n += 1
                if kind[j] == "op":
                    stack.extend(reversed(args[j]))
        inputs[nid] = list(seen)
        size[nid] = n
    users: dict[str, list[str]] = {n: [] for n in named}
    for c in named:
        for p in inputs.get(c, ()):
            users[p].append(c)
    kinds = {n: kind[fg.pos[n]] for n in named}
    return Statements(named=named, output=output, params=params, inputs=inputs, users=users,
                      size=size, kind=kinds, flat=fg)


def reach(links: dict, start) -> set:
    """``start`` and every node reached from it through ``links`` (node -> list
    of nodes), without recursion.

    >>> sorted(reach({"z": ["x", "y"], "x": ["w"]}, "z"))
    ['w', 'x', 'y', 'z']
    """
    seen = {start}
    stack = [start]
    while stack:
        n = stack.pop()
        for m in links.get(n, ()):
            if m not in seen:
                seen.add(m)
                stack.append(m)
    return seen


# --- 2. text -----------------------------------------------------------------------

#: op -> (symbol, precedence) for the ops written between their operands
INFIX = {"add": ("+", 1), "sub": ("-", 1), "mul": ("·", 2), "div": ("/", 2), "pow": ("^", 4)}


def _statement_texts(fg, cap: int) -> list:
    """(text, precedence) of the sub-expression at every node, named operands
    written by name, each text cut to its first ``cap`` characters. One pass in
    topological order: cutting every part keeps each step short, so the whole
    costs time linear in the model however deeply it nests, and the first
    ``cap`` characters are exactly those of the full text."""
    name, kind, op, args, value = fg.name, fg.kind, fg.op, fg.args, fg.value
    out: list = [None] * len(fg.ids)
    for k in range(len(fg.ids)):
        if kind[k] != "op":
            out[k] = (name[k] or format_number(value[k]), 9)
            continue
        parts = [(name[j], 9) if name[j] is not None else out[j] for j in args[k]]
        text, prec = text_of(op[k], parts)
        out[k] = (text[:cap], prec)
    return out


def text_of(op, parts) -> tuple[str, int]:
    """One op written with its operands' (text, precedence) pairs; (text, precedence).

    >>> text_of("mul", [("2", 9), ("w + b", 1)]), text_of("pow", [("x", 9), ("2", 9)])
    (('2·(w + b)', 2), ('x^2', 4))
    """
    if op in INFIX:
        sym, prec = INFIX[op]
        right = op == "pow"
        (lt, lp), (rt, rp) = parts
        lt = f"({lt})" if lp < prec or (right and lp == prec) else lt
        rt = f"({rt})" if rp < prec or (not right and rp == prec and op in ("sub", "div")) else rt
        return (f"{lt} {sym} {rt}" if prec == 1 else f"{lt}{sym}{rt}", prec)
    if op == "neg":
        t, p = parts[0]
        return ("-" + (f"({t})" if p < 3 else t), 3)
    if op == "identity":
        return parts[0]
    return (f"{op}(" + ", ".join(t for t, _p in parts) + ")", 9)


# --- 3. local rules -----------------------------------------------------------------

_SUPER = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def pretty(expr) -> str:
    """The one printer of rules and expressions: sympy's text with the
    textbook's marks (6b² + 3b, x·y, a^(1/2)); a float inside a plugin's
    sympy form prints as the seed prints numbers.

    >>> import sympy
    >>> b, w = sympy.symbols("b w")
    >>> pretty(6*b**2 + 4*w*b), pretty(2*w - 1/w**2), pretty(sympy.Float(0.044715) * w)
    ('6b² + 4b·w', '2w - 1/w²', '0.044715w')
    """
    text = _printer().doprint(expr)
    text = re.sub(r"\*\*(\d+)\b(?!\.)", lambda m: m.group(1).translate(_SUPER), text)
    text = text.replace("**", "^")
    # a number times a name reads as 6b, not 6*b
    text = re.sub(r"(?<![\w.])(?<!e-)(\d+(?:\.\d+)?)\*([^\W\d]\w*)(?![\w(])", r"\1\2", text)
    return text.replace("*", "·")


def latex(expr) -> str:
    """The same expression in LaTeX (sympy's printer)."""
    import sympy

    return sympy.latex(expr)


_PRINTER = None


def _printer():
    global _PRINTER
    if _PRINTER is None:
        from sympy.printing.str import StrPrinter

        class _Printer(StrPrinter):
            def _print_Float(self, expr):
                return format_number(float(expr))

        _PRINTER = _Printer()
    return _PRINTER


def is_number_text(text: str) -> bool:
    """True for a rule that is just a number (3, -2, 1/10, 0.5): print it once.

    >>> is_number_text("3/10"), is_number_text("2x")
    (True, False)
    """
    return re.fullmatch(r"-?\d+(/\d+)?(\.\d+)?", text) is not None


def exact_number(sp, v: float):
    """A constant as an exact sympy number: 2 for 2.0, 1/10 for 0.1 (as written)."""
    if v == int(v) and abs(v) < 1e15:
        return sp.Integer(int(v))
    return sp.Rational(repr(v))


#: an integer power of an exact number with more bits than this is left as a float
MAX_EXACT_BITS = 4096


def sympy_op(sp, op, args):
    """``op`` applied to sympy expressions (raises NotImplementedError without a
    sympy form). An integer power of a number whose exact value would be huge
    (1.0001^1000000 has 13 million digits) is computed as a float instead.

    >>> import sympy
    >>> from graphdsl.ops import default_registry
    >>> pow_ = default_registry(entry_points=False).get("pow")
    >>> sympy_op(sympy, pow_, [sympy.Rational(1, 2), sympy.Integer(3)])
    1/8
    >>> sympy_op(sympy, pow_, [sympy.Rational(10001, 10000), sympy.Integer(10**6)])
    2.67471099311269e+43
    """
    if (getattr(op, "name", None) == "pow" and len(args) == 2
            and all(isinstance(a, sp.Rational) for a in args) and args[1].is_Integer):
        base, n = args[0], int(args[1])
        if (abs(base.p).bit_length() + abs(base.q).bit_length()) * abs(n) > MAX_EXACT_BITS:
            try:
                return sp.Float(float(base) ** n)
            except (OverflowError, ZeroDivisionError):
                raise ValueError("a power too large to write") from None
    return op.sympy(*args)


@dataclass
class Rule:
    """A sympy expression (a statement, or ∂statement/∂input) printed on
    first use: ``text`` by :func:`pretty`, ``latex`` by :func:`latex`."""

    expr: object

    @cached_property
    def text(self) -> str:
        return pretty(self.expr)

    @cached_property
    def latex(self) -> str:
        return latex(self.expr)

    @property
    def constant(self) -> bool:
        """True when the rule is just a number (∂x/∂b = 3)."""
        return is_number_text(self.text)


@dataclass
class StatementRules:
    """A statement as sympy writes it (``statement.text`` "3b + 2w") and its
    rule per named input (``partials["b"].text`` "3")."""

    statement: Rule
    partials: dict[str, Rule]

    def __getitem__(self, name: str) -> Rule:
        return self.partials[name]


_RULE_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class Rules:
    """Local rules of a model's statements, worked out by sympy on demand.

    One derivative per statement *shape*: the statement is written with its
    named inputs as placeholders, so ``n7 = 0.5*tanh(n6)`` and
    ``n8 = 0.5*tanh(n7)`` cost one derivative, then each is printed with its
    own names (the result is the same as deriving with the names). The
    derivatives are shared by every Rules object of one op registry (the
    frames of a run, the iterations of a report). Symbols are real, constants
    exact (0.1 is 1/10).

    Bounded: a statement of more than ``max_size`` ops and constants gets no
    rule; one Rules object works out at most ``max_shapes`` shapes holding at
    most ``max_work`` ops in all, and gives rules to at most ``max_statements``
    statements (``skipped`` counts the statements refused). :meth:`of` returns None
    without sympy, for an op with no sympy form, or past a bound; the caller
    then shows numbers only.

    >>> import graphdsl
    >>> r = Rules(graphdsl.loads("param x = 3; a = x*x + 1/x")).of("a")
    >>> r.statement.text, r["x"].text, r["x"].latex
    ('x² + 1/x', '2x - 1/x²', '2 x - \\\\frac{1}{x^{2}}')
    """

    def __init__(self, model, *, max_size: int = MAX_RULE_SIZE,
                 max_shapes: int = MAX_RULE_SHAPES, max_statements: int = MAX_RULE_STATEMENTS,
                 max_work: int = MAX_RULE_WORK):
        self.model = model
        self.view = statements(model)
        self.max_size = max_size
        self.max_shapes = max_shapes
        self.max_statements = max_statements
        self.max_work = max_work
        self.work = 0
        self.cache: dict = _RULE_CACHE.setdefault(model.registry, {})
        self.seen: set[str] = set()
        self.given: set[str] = set()
        #: statements left without a rule because of a bound
        self.skipped = 0
        try:
            import sympy
            self.sp = sympy
        except ImportError:
            self.sp = None

    @property
    def available(self) -> bool:
        """True when sympy is installed."""
        return self.sp is not None

    def of(self, node: str) -> StatementRules | None:
        """The rules of computed node ``node``'s statement, or None (see above)."""
        view = self.view
        inputs = view.inputs.get(node)
        if self.sp is None or inputs is None:
            return None
        if view.size[node] > self.max_size:
            self.skipped += 1
            return None
        # the caps count this object's work, cached or not: same model, same output;
        # the statement cap first, since it needs no shape
        if node not in self.given and len(self.given) >= self.max_statements:
            self.skipped += 1
            return None
        key = view.cache.get(("shape", node))
        if key is None:
            key = view.cache[("shape", node)] = self._shape(node, inputs)
        if key not in self.seen:
            if len(self.seen) >= self.max_shapes or self.work + view.size[node] > self.max_work:
                self.skipped += 1
                return None
            self.seen.add(key)
            self.work += view.size[node]
        self.given.add(node)
        if key not in self.cache:
            self.cache[key] = self._derive(node, inputs)
        derived = self.cache[key]
        if derived is None:
            return None
        named = (key, tuple(inputs))
        printed = self.cache.get(named)
        if printed is None:
            printed = self.cache[named] = self._print(derived, inputs)
        return printed

    def _shape(self, node, inputs) -> str:
        """A text key of the statement with input i written as ⟦i⟧."""
        slot = {p: i for i, p in enumerate(inputs)}
        fg = self.view.flat
        return _fold(fg, fg.pos[node],
                     lambda j: f"⟦{slot[fg.ids[j]]}⟧" if fg.ids[j] in slot else repr(float(fg.value[j])),
                     lambda k, parts: fg.op[k] + "(" + ",".join(parts) + ")")

    def _derive(self, node, inputs):
        sp = self.sp
        fg = self.view.flat
        ops = self.model.compiled.ops
        slot = {p: i for i, p in enumerate(inputs)}
        syms = [sp.Symbol(f"⟦{i}⟧", real=True) for i in range(len(inputs))]
        try:
            expr = _fold(fg, fg.pos[node],
                         lambda j: syms[slot[fg.ids[j]]] if fg.ids[j] in slot
                         else exact_number(sp, float(fg.value[j])),
                         lambda k, parts: sympy_op(sp, ops[k], parts))
            return syms, expr, [sp.diff(expr, s) for s in syms]
        except (NotImplementedError, TypeError, ValueError, AttributeError, RecursionError):
            # an op without a sympy form, or one sympy cannot differentiate
            return None

    def _print(self, derived, inputs) -> StatementRules:
        sp = self.sp
        syms, expr, partials = derived
        names = {s: sp.Symbol(p, real=True) for s, p in zip(syms, inputs)}
        return StatementRules(Rule(expr.xreplace(names)),
                              {p: Rule(q.xreplace(names)) for p, q in zip(inputs, partials)})


def _fold(fg, top, leaf, combine):
    """Fold the statement at position ``top`` bottom-up without recursion.
    Leaves are constants, params and the statement's named operands:
    ``leaf(j)``; every op inside is ``combine(k, [its operands' results])``."""
    name, kind, args = fg.name, fg.kind, fg.args
    done: dict = {}
    stack = [(top, False)]
    while stack:
        k, expanded = stack.pop()
        if k in done:
            continue
        if kind[k] != "op" or (k != top and name[k] is not None):
            done[k] = leaf(k)
        elif not expanded:
            stack.append((k, True))
            stack.extend((a, False) for a in reversed(args[k]) if a not in done)
        else:
            done[k] = combine(k, [done[a] for a in args[k]])
    return done[top]


# --- 4. the reverse sum ---------------------------------------------------------------

def d(num: str, den: str) -> str:
    """∂num/∂den as text."""
    return f"∂{num}/∂{den}"


def factor_number(v: float) -> str:
    """A number as a factor of a product: negative ones in parentheses."""
    s = format_number(v)
    return f"({s})" if s.startswith("-") else s


def factor_rule(text: str) -> str:
    """A rule as a factor of a product: parenthesised when it is a sum or negative."""
    if re.search(r"[+/]|(?<!^)-|^-", text) and not is_number_text(text.lstrip("-")):
        return f"({text})"
    if text.startswith("-"):
        return f"({text})"
    return text


@dataclass
class ChainSum:
    """∂out/∂p written as the chain rule: one term per path, each the product
    of the local partials along it, in four pieces: ``symbols``
    (∂z/∂x·∂x/∂b), ``rules`` (y·3, None when a rule is missing), ``numbers``
    (9·3) and the ``total``."""

    head: str
    symbols: list[str]
    rules: list[str] | None
    numbers: list[str]
    total: str

    def pieces(self, *, rules: bool = True, numbers: bool = True) -> list[list[str]]:
        """The pieces to write after the head, each a list of terms, leaving out
        any piece that would repeat the one before it (one path of one edge
        gives ∂a/∂x = 2x - 1/x² = 5.888889, not ∂a/∂x = ∂a/∂x = …)."""
        out: list[list[str]] = []
        last = [self.head]
        for piece in (self.symbols, self.rules if rules else None,
                      self.numbers if numbers else None, [self.total] if numbers else None):
            if piece is None or piece == last:
                continue
            out.append(piece)
            last = piece
        return out

    def text(self, *, rules: bool = True, numbers: bool = True, term=None, plain=None) -> str:
        """The line as text. ``term(i, text)`` wraps path i's term (render
        colours it), ``plain(text)`` the rest (render escapes it)."""
        term = term or (lambda _i, t: t)
        plain = plain or (lambda t: t)
        parts = [plain(self.head)]
        for piece in self.pieces(rules=rules, numbers=numbers):
            if piece is self.symbols or piece is self.rules or piece is self.numbers:
                parts.append(" + ".join(term(i, t) for i, t in enumerate(piece)))
            else:
                parts.append(plain(" + ".join(piece)))
        return " = ".join(parts)


def chain_sum(out: str, wrt: str, paths, number, rule=None, total: str = "") -> ChainSum:
    """The :class:`ChainSum` of ``paths`` (each a tuple of nodes, ``out`` first).

    ``number(p, c)`` gives the local partial ∂c/∂p (a float, or text such as a
    worksheet's blank), ``rule(p, c)`` its rule text or None (then the line has
    no rules piece), ``total`` the sum as text. A negative number is put in
    parentheses as a factor, not when it is the whole line.

    >>> q = {("x", "z"): 9.0, ("b", "x"): 3.0, ("y", "z"): 18.0, ("b", "y"): -2.0}
    >>> chain_sum("z", "b", [("z", "x", "b"), ("z", "y", "b")], lambda p, c: q[(p, c)],
    ...           total="-9").text()
    '∂z/∂b = ∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b = 9·3 + 18·(-2) = -9'
    >>> chain_sum("y", "b", [("y", "b")], lambda p, c: -2.0, lambda p, c: "-2", "-2").text()
    '∂y/∂b = -2'
    """
    alone = len(paths) == 1 and len(paths[0]) == 2

    def num(p, c):
        v = number(p, c)
        if isinstance(v, str):
            return v
        return format_number(v) if alone else factor_number(v)

    sym, nums, rules = [], [], []
    have_rules = rule is not None
    for path in paths:
        edges = list(zip(path[1:], path))     # (parent, child) from the output down
        if not edges:
            sym.append(d(out, out))
            nums.append("1")
            rules.append("1")
            continue
        sym.append("·".join(d(c, p) for p, c in edges))
        nums.append("·".join(num(p, c) for p, c in edges))
        if have_rules:
            rs = [rule(p, c) for p, c in edges]
            if any(r is None for r in rs):
                have_rules = False
            else:
                # alone, a rule needs no parentheses
                rules.append(rs[0] if alone else "·".join(factor_rule(r) for r in rs))
    return ChainSum(head=d(out, wrt), symbols=sym, rules=rules if have_rules else None,
                    numbers=nums, total=total)


# --- 5. the forward sum -------------------------------------------------------------------

def tangent_sum(node: str, wrt: str, terms, total: str = "") -> ChainSum:
    """Forward mode's ∂node/∂wrt as a :class:`ChainSum`: one term per input of
    the node's statement, the local partial ∂node/∂input times the input's
    tangent ∂input/∂wrt (already found, since inputs come first).

    ``terms`` holds (input, partial, tangent, rule): ``partial`` and
    ``tangent`` are floats, ``rule`` the partial's rule text or None (then
    the line has no rules piece).

    >>> tangent_sum("z", "w", [("x", 9.0, 2.0, "y"), ("y", 18.0, 0.0, "x")], "18").text()
    '∂z/∂w = ∂z/∂x·∂x/∂w + ∂z/∂y·∂y/∂w = y·2 + x·0 = 9·2 + 18·0 = 18'
    >>> tangent_sum("y", "b", [("b", 2.0, 1.0, "2")], "2").text()
    '∂y/∂b = ∂y/∂b·∂b/∂b = 2·1 = 2'
    """
    terms = list(terms)
    sym = [f"{d(node, i)}·{d(i, wrt)}" for i, _q, _t, _r in terms]
    nums = [f"{factor_number(q)}·{factor_number(t)}" for _i, q, t, _r in terms]
    rules = None
    if terms and all(r is not None for _i, _q, _t, r in terms):
        rules = [f"{factor_rule(r)}·{factor_number(t)}" for _i, _q, t, r in terms]
    return ChainSum(head=d(node, wrt), symbols=sym, rules=rules, numbers=nums, total=total)


def tex_name(name: str) -> str:
    """A node's name in LaTeX, as sympy writes a symbol (x_1 is x_{1})."""
    try:
        import sympy

        return sympy.latex(sympy.Symbol(name))
    except ImportError:
        return re.sub(r"([_#%&$])", r"\\\1", name)


def tex_d(num: str, den: str) -> str:
    r"""∂num/∂den in LaTeX: ``\frac{\partial z}{\partial b}``."""
    return rf"\frac{{\partial {tex_name(num)}}}{{\partial {tex_name(den)}}}"


def tex_number(v: float) -> str:
    r"""A number in LaTeX as a factor: 1.5 \times 10^{-7}, negative ones in parentheses."""
    s = format_number(v)
    if "e" in s:
        m, _, ex = s.partition("e")
        s = rf"{m} \times 10^{{{int(ex)}}}"
    return f"({s})" if s.startswith("-") else s
