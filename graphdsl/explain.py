"""The chain rule, path by path: what reverse mode adds up, written out.

:func:`explain` is a pure function from a model (and param values) to plain
data, an :class:`Explanation`; :func:`format_text`, :func:`format_markdown`
and :func:`format_latex` turn that data into text (the HTML report walks the
same data). For each param p it holds every path from the output to p over
the statement view (named nodes only), each local partial on it as a rule and
a number, the product along each path, their sum, the engine's reverse-mode
gradient and whether the two agree, the branches that are absent because
they do not depend on p, and a symbolic cross-check by sympy (the output
expanded in the params, its derivative evaluated). Past
:data:`PATH_LIMIT` paths it explains node by node instead, as reverse mode
accumulates.

The statement view itself (named inputs, users, paths, the local rules and
their printer, the chain-rule sum line) is :mod:`graphdsl.statements`, which
the pictures read too; this module adds the reverse-mode explanation and its
formats. The symbolic work is bounded by its size (:func:`symbolic_cost`) and
by the clock (:data:`SYMBOLIC_SECONDS`, in a child process).

Stable API (the HTML report builds on it)::

    explain(model, wrt=None, values=None) -> Explanation
    Explanation.items -> [ParamExplanation]   one per param explained
    Explanation.to_dict() -> JSON-ready dict
    format_text(e, lang) / format_markdown(e, lang) / format_latex(e, lang) -> str
    chain_of(item, out) -> ChainSum            the seed's line (graphdsl.statements)
    sum_line(item, out) -> (symbols, rules, numbers, total) pieces of the seed's line

sympy is optional (``pip install 'graphdsl[explain]'``): without it the
numbers are all there, rules are None and ``Explanation.sympy_missing`` says so.

>>> import graphdsl
>>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = x*y\\nx = 2*w + 3*b\\ny = 2*b + 1")
>>> e = explain(m, wrt="b")
>>> [(p.nodes, p.product) for p in e.items[0].paths]
[(('z', 'x', 'b'), 27.0), (('z', 'y', 'b'), 36.0)]
>>> e.items[0].total, e.items[0].gradient, e.items[0].agrees
(63.0, 63.0, True)
"""

from __future__ import annotations

import math
import weakref
from fractions import Fraction
from dataclasses import dataclass, field, fields, is_dataclass

from .i18n import tr
from .statements import (ChainSum, Rules, StatementRules, chain_sum, chosen_params, d, exact_number, passes,
                         factor_number, factor_rule, pretty, statements,
                         sympy_op)
from .statements import tex_d as _tex_d, tex_name as _tex_name, tex_number as _tex_num
from .text import format_number

#: more paths than this and the explanation goes node by node
PATH_LIMIT = 20
#: The symbolic check is skipped when the output, written out in full (a node
#: used twice is written twice), has more ops and leaves than this: sympy's
#: work grows with that size, and a chain of diamonds doubles it at each step.
#: Measured on random DAGs of 250-300: 1.4-3 s on 2 busy cores (and 2.6-10 s at 500).
SYMBOLIC_SIZE = 400
#: ... or when it is nested deeper than this: sympy's own walks recurse.
SYMBOLIC_DEPTH = 150
#: A derivative of the output longer than this (ops and leaves, written out)
#: is neither printed nor checked: a chain rule's products grow with depth.
DERIVATIVE_SIZE = 4000
#: sympy has no timeout: the symbolic check runs in a child process that is
#: stopped after this many seconds (the check is then skipped with a sentence).
SYMBOLIC_SECONDS = 10.0
#: A polynomial output is expanded (6b² + 4b·w + 3b + 2w) only when its
#: expansion has at most this many terms ((a+b+c+d+e+f)^40 has 1.2 million);
#: otherwise it is checked as written.
EXPAND_TERMS = 200


@dataclass
class Partial:
    """One edge of the statement view: ∂child/∂parent at the current values.

    ``rule`` is the derivative in the child's statement inputs as text
    (``"y"`` for ∂z/∂x with z = x*y), ``expression`` the child's statement
    (``"x·y"``); both None without sympy, for an op with no sympy form, or
    past the bounds of :class:`~graphdsl.statements.Rules`. The ``*_latex``
    properties are the same in LaTeX. All four are printed on first use from
    ``source``, the statement's rules (:mod:`graphdsl.statements`).
    """

    child: str
    parent: str
    value: float
    source: StatementRules | None = field(default=None, repr=False, compare=False)

    @property
    def rule(self) -> str | None:
        return self.source[self.parent].text if self.source else None

    @property
    def rule_latex(self) -> str | None:
        return self.source[self.parent].latex if self.source else None

    @property
    def expression(self) -> str | None:
        return self.source.statement.text if self.source else None

    @property
    def expression_latex(self) -> str | None:
        return self.source.statement.latex if self.source else None

    @property
    def constant(self) -> bool:
        """True when the rule is just a number (∂x/∂b = 3): print it once."""
        return self.source is not None and self.source[self.parent].constant

    def to_dict(self) -> dict:
        return {"child": self.child, "parent": self.parent, "value": self.value,
                "rule": self.rule, "expression": self.expression,
                "rule_latex": self.rule_latex, "expression_latex": self.expression_latex}


@dataclass
class Path:
    """A path from the output down to a param: ``nodes`` output first, param last."""

    nodes: tuple[str, ...]
    partials: tuple[Partial, ...]
    product: float

    @property
    def zero_factors(self) -> list[Partial]:
        return [q for q in self.partials if q.value == 0.0]


@dataclass
class Absent:
    """A branch with no path: ``node`` (on a path to the param) uses ``input``,
    but ``input`` does not depend on the param, so ∂input/∂param = 0 identically."""

    node: str
    input: str
    partial: Partial


@dataclass
class Step:
    """Node-by-node mode: ∂output/∂node = Σ ∂output/∂c · ∂c/∂node over ``terms``
    (c, ∂output/∂c, the partial ∂c/∂node)."""

    node: str
    terms: list[tuple[str, float, Partial]]
    value: float


@dataclass
class Symbolic:
    """sympy's derivative of the output (expanded in the params) w.r.t. one param."""

    derivative: str
    derivative_latex: str
    value: float | None
    agrees: bool | None


@dataclass
class ParamExplanation:
    """Everything about ∂output/∂param. ``mode`` is ``"paths"`` (listed),
    ``"nodes"`` (too many paths: node by node in ``steps``) or ``"none"``
    (the output does not depend on the param)."""

    param: str
    mode: str
    path_count: int
    paths: list[Path]
    total: float
    gradient: float
    agrees: bool
    absent: list[Absent] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    symbolic: Symbolic | None = None

    @property
    def zero_paths(self) -> list[Path]:
        return [p for p in self.paths if p.zero_factors]

    @property
    def used_partials(self) -> list[Partial]:
        """The local partials on the listed paths, each once, in path order."""
        seen, out = set(), []
        for path in self.paths:
            for q in path.partials:
                if (q.parent, q.child) not in seen:
                    seen.add((q.parent, q.child))
                    out.append(q)
        return out


@dataclass
class Explanation:
    """The whole explanation: the model, the values, one item per param."""

    model: str
    output: str
    values: dict[str, float]
    params: dict[str, float]
    partials: dict[tuple[str, str], Partial]
    items: list[ParamExplanation]
    #: the output expanded in the params (text and LaTeX), or None
    expression: str | None = None
    expression_latex: str | None = None
    expanded: bool = False
    #: why the symbolic check is missing (no sympy, too large, op without sympy form)
    symbolic_note: str | None = None
    sympy_missing: bool = False
    path_limit: int = PATH_LIMIT
    #: why some shown partials have numbers but no rule (None when all have one)
    rules_note: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready: partials keyed "parent->child"; ``rules_note`` only when set."""
        d = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        d["partials"] = {f"{p}->{c}": q.to_dict() for (p, c), q in self.partials.items()}
        if d["rules_note"] is None:
            del d["rules_note"]
        return d


def _plain(x):
    """Dataclasses, lists and dicts as plain JSON-ready data (bounded nesting)."""
    if isinstance(x, Partial):
        return x.to_dict()
    if is_dataclass(x):
        return {f.name: _plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


# --- building the explanation -----------------------------------------------------

def explain(model, wrt: str | None = None, values: dict[str, float] | None = None,
            *, path_limit: int = PATH_LIMIT, use_sympy: bool = True) -> Explanation:
    """Explain ∂output/∂p for every param p (or only ``wrt``) of ``model``.

    ``values`` overrides param values (default: the model's current ones).
    Pure: the model is not changed. Everything structural (the statement view,
    the rules, the symbolic derivative) is worked out once per model and
    reused, so explaining every iteration of a run costs the numbers only.
    Raises :class:`UsageError` when ``wrt`` is not a param,
    :class:`~graphdsl.errors.NumericError` when the model cannot be evaluated
    at these values.

    >>> import graphdsl
    >>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = x*y\\nx = 2*w + 3*b\\ny = 2*b + 1")
    >>> item = explain(m, wrt="w").items[0]
    >>> [p.nodes for p in item.paths], [(a.node, a.input) for a in item.absent]
    ([('z', 'x', 'w')], [('z', 'y')])
    """
    c = model.compiled
    view = statements(model)
    chosen = chosen_params(model, wrt)
    vals, adj, local = passes(model, values)
    named = view.named
    value_of = {n: vals[c.index[n]] for n in named}
    out = model.output

    partials: dict[tuple[str, str], Partial] = {}
    for child in named:
        for parent in view.inputs.get(child, ()):
            partials[(parent, child)] = Partial(child=child, parent=parent,
                                                value=local.get((parent, child), 0.0))
    reached = view.reach_up(out)
    items = [_explain_param(p, view, partials, reached, adj[c.index[p]], path_limit)
             for p in chosen]
    e = Explanation(model=model.name, output=out, values=value_of,
                    params={p: vals[c.index[p]] for p in model.params}, partials=partials, items=items,
                    path_limit=path_limit)
    rules = Rules(model) if use_sympy else None
    if rules is None or not rules.available:
        e.sympy_missing = use_sympy
        e.symbolic_note = "sympy is not installed" if use_sympy else "not asked for"
        return e
    _attach_rules(e, rules, view)
    _symbolic(e, model, e.params, vals)
    return e


def _explain_param(p, view, partials, reached, gradient, limit):
    inputs, users, named = view.inputs, view.users, view.named
    count = view.path_counts(p)
    on_path = [n for n in named if count[n] > 0 and n in reached]
    on = set(on_path)
    absent = []
    for n in on_path:
        for i in inputs.get(n, ()):
            if count[i] == 0 and view.kind[i] == "op":
                absent.append(Absent(node=n, input=i, partial=partials[(i, n)]))
    out = view.output
    n_paths = count[out]
    if n_paths == 0:
        return ParamExplanation(param=p, mode="none", path_count=0, paths=[], total=0.0,
                                gradient=gradient, agrees=gradient == 0.0, absent=absent)
    if n_paths <= limit:
        paths = []
        for trail in view.paths(out, p, limit, count):
            qs = tuple(partials[(trail[k + 1], trail[k])] for k in range(len(trail) - 1))
            prod = 1.0
            for q in qs:
                prod *= q.value
            paths.append(Path(nodes=trail, partials=qs, product=prod))
        total = 0.0
        for path in paths:
            total += path.product
        scale = max([abs(x.product) for x in paths] + [abs(gradient), 1e-300])
        agrees = math.isclose(total, gradient, rel_tol=1e-9, abs_tol=1e-12 * scale)
        return ParamExplanation(param=p, mode="paths", path_count=n_paths, paths=paths,
                                total=total, gradient=gradient, agrees=agrees, absent=absent)
    # node by node: ∂out/∂v = Σ ∂out/∂c · ∂c/∂v, in reverse topological order
    adjoint = {out: 1.0}
    steps = []
    for v in reversed(on_path):
        if v == out:
            continue
        terms = [(u, adjoint[u], partials[(v, u)]) for u in users[v] if u in on]
        s = 0.0
        for _u, a, q in terms:
            s += a * q.value
        adjoint[v] = s
        steps.append(Step(node=v, terms=terms, value=s))
    total = adjoint.get(p, 0.0)
    scale = max(abs(total), abs(gradient), 1e-300)
    agrees = math.isclose(total, gradient, rel_tol=1e-9, abs_tol=1e-12 * scale)
    return ParamExplanation(param=p, mode="nodes", path_count=n_paths, paths=[], total=total,
                            gradient=gradient, agrees=agrees, absent=absent, steps=steps)


# --- sympy: rules and the symbolic cross-check -------------------------------------

def _attach_rules(e: Explanation, rules, view) -> None:
    """Give each partial its rule, the statements this explanation shows first
    (on the listed paths, then the branches named absent), then the rest while
    the bounds of :class:`~graphdsl.statements.Rules` allow."""
    order: dict[str, None] = {}
    for item in e.items:
        for q in item.used_partials:
            order.setdefault(q.child)
        for a in item.absent:
            order.setdefault(a.input)
    shown = len(order)
    for n in view.named:
        if n in view.inputs:
            order.setdefault(n)
    left_out = 0
    for k, child in enumerate(order):
        before = rules.skipped
        found = rules.of(child)
        if found is None:
            left_out += k < shown and rules.skipped > before
            continue
        for parent in view.inputs[child]:
            e.partials[(parent, child)].source = found
    if left_out:
        e.rules_note = (f"{left_out} of the {shown} statements shown have numbers but no rule: "
                        f"rules are worked out for statements of at most {rules.max_size} ops, "
                        f"for {rules.max_shapes} shapes ({rules.max_work} ops in all) and "
                        f"{rules.max_statements} statements")


def symbolic_cost(c, vals) -> tuple[int, int, int | None]:
    """What the symbolic check would cost, read from the graph before sympy is
    asked anything: (size, depth, terms) of the output written out in full —
    ops and leaves counted with repeats, the nesting depth, and the number of
    terms of its expansion when it is a polynomial in the params (an upper
    bound; None when it is not a polynomial). Sizes stop counting a little
    past the limits, so the numbers stay small however the model grows.

    >>> import graphdsl
    >>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = (2*w + 3*b)*(2*b + 1)")
    >>> symbolic_cost(m.compiled, m.compiled.forward())
    (13, 4, 4)
    """
    from math import comb

    n_params = len(c.params)
    size_cap, terms_cap = SYMBOLIC_SIZE + 1, EXPAND_TERMS + 1
    size = [0] * len(c.order)
    depth = [0] * len(c.order)
    terms: list = [None] * len(c.order)   # None: not a polynomial
    degree = [0] * len(c.order)
    const = [False] * len(c.order)
    kinds = c.flat.kind
    for k, op in enumerate(c.ops):
        if op is None:
            size[k], depth[k], terms[k] = 1, 1, 1
            const[k] = kinds[k] != "param"
            degree[k] = 0 if const[k] else 1
            continue
        a = c.args[k]
        size[k] = min(size_cap, 1 + sum(size[j] for j in a))
        depth[k] = 1 + max(depth[j] for j in a)
        const[k] = all(const[j] for j in a)
        if const[k]:
            terms[k], degree[k] = 1, 0
            continue
        ts = [terms[j] for j in a]
        name = op.name
        if any(t is None for t in ts):
            continue
        if name in ("add", "sub"):
            t, g = ts[0] + ts[1], max(degree[a[0]], degree[a[1]])
        elif name in ("neg", "identity"):
            t, g = ts[0], degree[a[0]]
        elif name == "mul":
            t, g = ts[0] * ts[1], degree[a[0]] + degree[a[1]]
        elif name == "div" and const[a[1]]:
            t, g = ts[0], degree[a[0]]
        elif name == "square":
            t, g = comb(ts[0] + 1, 2), 2 * degree[a[0]]
        elif name == "pow" and const[a[1]] and float(vals[a[1]]).is_integer() and vals[a[1]] >= 0:
            n = int(vals[a[1]])
            if ts[0] > 1 and n >= terms_cap:
                t = terms_cap
            else:
                t = comb(ts[0] + n - 1, n) if ts[0] > 1 else 1
            g = min(n * degree[a[0]], 10 ** 6)
        else:
            continue
        # no more than the monomials of that degree in the params
        if g <= 10 ** 4 and n_params:
            t = min(t, comb(n_params + g, n_params))
        terms[k], degree[k] = min(t, terms_cap), g
    out = c.output
    return size[out], depth[out], terms[out]


_SYMBOLIC: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _symbolic(e: Explanation, model, current, vals) -> None:
    """Fill ``e.expression`` and each item's ``symbolic`` from sympy, or say in
    ``e.symbolic_note`` why not. The expression and the derivatives are
    worked out once per model (and set of params), in a child process given
    :data:`SYMBOLIC_SECONDS`; each call only evaluates them at its values."""
    c = model.compiled
    params = tuple(item.param for item in e.items)
    # named constants can be --set: the work is kept per set of their values
    kinds, names = c.flat.kind, c.flat.name
    key = (tuple(vals[k] for k in range(len(c.order)) if kinds[k] == "const" and names[k]), params)
    plans = _SYMBOLIC.setdefault(c, {})
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _symbolic_plan(c, vals, params)
    if plan["note"] is not None and "expr" not in plan:
        e.symbolic_note = plan["note"]
        return
    e.symbolic_note = plan["note"]
    e.expanded = plan["expanded"]
    e.expression, e.expression_latex = plan["expr"]
    values = dict(current)
    for item in e.items:
        found = plan["d"].get(item.param)
        if found is None:
            continue
        text, tex, program = found
        value = run_program(program, values)
        agrees = None
        if value is not None:
            agrees = math.isclose(value, item.gradient, rel_tol=1e-7,
                                  abs_tol=1e-9 * max(1.0, abs(item.gradient)))
        item.symbolic = Symbolic(derivative=text, derivative_latex=tex, value=value,
                                 agrees=agrees)


def _symbolic_plan(c, vals, params) -> dict:
    """The symbolic work for ``params``, bounded twice: by its size read from
    the graph (deterministic, and free), then by the clock."""
    size, depth, terms = symbolic_cost(c, vals)
    if depth > SYMBOLIC_DEPTH:
        return {"note": f"the expressions are nested too deeply for sympy ({depth} levels, "
                        f"more than {SYMBOLIC_DEPTH})"}
    if size > SYMBOLIC_SIZE:
        return {"note": f"the output written out in full would have more than {SYMBOLIC_SIZE} "
                        "ops and leaves (a node used twice is written twice), so sympy "
                        "could take very long"}
    done = in_child(_symbolic_work, (c, list(vals), params, terms), SYMBOLIC_SECONDS)
    if done is TIMED_OUT:
        return {"note": f"sympy took more than {SYMBOLIC_SECONDS:g} s over it and was stopped"}
    if done is None:
        return {"note": "sympy failed on this model"}
    return done


def _symbolic_work(c, vals, params, terms) -> dict:
    """The output as one sympy expression (expanded when it is a small
    polynomial) and its derivative in each of ``params``: texts, LaTeX and a
    program to evaluate it (plain data, so it can come back from a child)."""
    import sympy as sp

    full: list = [None] * len(c.order)
    kinds = c.flat.kind
    for k, op in enumerate(c.ops):
        if op is None:
            full[k] = (sp.Symbol(c.order[k], real=True) if kinds[k] == "param"
                       else exact_number(sp, vals[k]))
            continue
        try:
            full[k] = sympy_op(sp, op, [full[j] for j in c.args[k]])
        except NotImplementedError:
            return {"note": f"the op '{op.name}' has no sympy form"}
        except (TypeError, ValueError):
            return {"note": f"sympy cannot write the op '{op.name}' here"}
    expr = full[c.output]
    symbols = [sp.Symbol(p, real=True) for p in c.params]
    # expand polynomials only (the chapter's 6b² + 3b + 4wb + 2w); expanding a
    # sigmoid's powers makes it longer, not clearer, and a big power's
    # expansion can have millions of terms
    expanded = False
    if terms is not None and terms <= EXPAND_TERMS and expr.is_polynomial(*symbols):
        expr, expanded = sp.expand(expr), True
    out = {"note": None, "expr": (pretty(expr), sp.latex(expr)), "expanded": expanded, "d": {}}
    for p in params:
        d = sp.diff(expr, sp.Symbol(p, real=True))
        if expanded:
            d = sp.expand(d)
        if tree_size(d, DERIVATIVE_SIZE) > DERIVATIVE_SIZE:
            # a derivative too long to write is not written (nor checked)
            out["note"] = (f"sympy's derivative in {p} would have more than {DERIVATIVE_SIZE} "
                           "ops and leaves written out, too long to write")
            continue
        out["d"][p] = (pretty(d), sp.latex(d), to_program(d))
    return out


#: what :func:`in_child` returns when the time was up
TIMED_OUT = object()


def in_child(fn, args, seconds: float):
    """``fn(*args)`` run in a forked child process, or :data:`TIMED_OUT` when it
    takes longer than ``seconds`` (the child is then killed), or None when the
    child failed. sympy has no timeout of its own, and some small inputs keep
    it busy for minutes. The result must be plain data. Where ``fork`` does not
    exist the call runs here, bounded by the size limits alone.

    >>> in_child(sum, ([1, 2, 3],), 10.0)
    6
    """
    import multiprocessing as mp

    try:
        ctx = mp.get_context("fork")
    except ValueError:
        return fn(*args)
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, args=(send, fn, args), daemon=True)
    child.start()
    send.close()
    try:
        if not recv.poll(seconds):
            return TIMED_OUT
        try:
            ok, result = recv.recv()
        except (EOFError, OSError):
            return None
        return result if ok else None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        recv.close()


def _child_main(send, fn, args) -> None:
    try:
        result = (True, fn(*args))
    except BaseException:  # noqa: BLE001 - the parent only needs to know it failed
        result = (False, None)
    try:
        send.send(result)
    finally:
        send.close()


def tree_size(expr, cap: int) -> int:
    """How many ops and leaves ``expr`` has written out in full (a shared
    sub-expression counted each time it is used), counted over its distinct
    sub-expressions only, and stopping a little past ``cap``.

    >>> import sympy
    >>> x = sympy.Symbol("x")
    >>> tree_size(sympy.sin(x) * sympy.cos(x) + 1, 100)   # +, 1, ·, sin, x, cos, x
    7
    """
    size: dict = {}
    stack = [(expr, False)]
    while stack:
        node, done = stack.pop()
        if node in size:
            continue
        if done or not node.args:
            size[node] = min(cap + 1, 1 + sum(size[a] for a in node.args))
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in size)
    return size[expr]


_MATH = {"exp": math.exp, "log": math.log, "sin": math.sin, "cos": math.cos, "tan": math.tan,
         "tanh": math.tanh, "Abs": abs, "cosh": math.cosh, "sinh": math.sinh,
         "atan": math.atan, "sign": lambda x: float((x > 0) - (x < 0))}
_RELATIONS = {"StrictGreaterThan": float.__gt__, "GreaterThan": float.__ge__,
              "StrictLessThan": float.__lt__, "LessThan": float.__le__,
              "Equality": float.__eq__, "Unequality": float.__ne__}


def to_program(expr) -> list:
    """A sympy expression as a list of steps over its distinct sub-expressions,
    operands first: ("sym", name), ("num", (p, q) or a float), (op, [step indices]) with op
    "Add", "Mul", "Pow", "Piecewise" (operands paired value, condition), a
    relation, "true", "false", a function of :data:`_MATH`, or ("unknown",
    None). Plain data: :func:`run_program` evaluates it in floats.

    >>> import sympy
    >>> x = sympy.Symbol("x", real=True)
    >>> to_program(2 * sympy.sin(x))
    [('sym', 'x'), ('sin', [0]), ('num', (2, 1)), ('Mul', [2, 1])]
    """
    import sympy as sp

    index: dict = {}
    steps: list = []
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in index:
            continue
        if node is sp.true or node is sp.false:
            steps.append((str(node).lower(), None))
        elif getattr(node, "is_Symbol", False):
            steps.append(("sym", node.name))
        elif getattr(node, "is_Number", False):
            # an exact number stays exact (p, q); a float stays a float
            steps.append(("num", (int(node.p), int(node.q)) if node.is_Rational else float(node)))
        else:
            kind = type(node).__name__
            args = node.args
            if kind == "Piecewise":
                args = [part for pair in node.args for part in pair]
            elif kind not in ("Add", "Mul", "Pow") and kind not in _MATH \
                    and kind not in _RELATIONS:
                steps.append(("unknown", None))
                index[node] = len(steps) - 1
                continue
            if not ready:
                stack.append((node, True))
                stack.extend((a, False) for a in args if a not in index)
                continue
            steps.append((kind, [index[a] for a in args]))
        index[node] = len(steps) - 1
    return steps


def run_program(steps: list, values: dict) -> float | None:
    """A :func:`to_program` list evaluated at ``values`` (name -> float); None
    when the result is not a finite real number or a step is unknown.
    Sums, products and small whole powers of exact numbers are worked out
    exactly (a value as written: 0.1 is 1/10), as sympy would; functions in
    floats.

    >>> run_program([('sym', 'x'), ('sin', [0]), ('num', (2, 1)), ('Mul', [2, 1])], {"x": 0.5})
    0.958851077208406
    >>> run_program([('num', (3, 10)), ('sym', 'x'), ('Mul', [0, 1])], {"x": 3.0})
    0.9
    """
    val: list = []
    try:
        for kind, arg in steps:
            if kind == "sym":
                v = Fraction(repr(float(values[arg])))
            elif kind == "num":
                v = Fraction(*arg) if isinstance(arg, tuple) else arg
            elif kind in ("true", "false"):
                v = kind == "true"
            elif kind in ("Add", "Mul"):
                xs = [val[i] for i in arg]
                if all(isinstance(x, Fraction) for x in xs):
                    v = sum(xs) if kind == "Add" else math.prod(xs)
                else:
                    xs = [float(x) for x in xs]
                    v = math.fsum(xs) if kind == "Add" else math.prod(xs)
            elif kind == "Pow":
                b, x = val[arg[0]], val[arg[1]]
                if (isinstance(b, Fraction) and isinstance(x, Fraction) and x.denominator == 1
                        and abs(x) <= 64 and (b != 0 or x > 0)):
                    v = b ** int(x)
                else:
                    v = float(b) ** float(x)
                    if isinstance(v, complex):
                        return None
            elif kind == "Piecewise":
                v = next(val[arg[i]] for i in range(0, len(arg), 2) if val[arg[i + 1]])
            elif kind in _RELATIONS:
                v = _RELATIONS[kind](float(val[arg[0]]), float(val[arg[1]]))
            elif kind in _MATH:
                v = _MATH[kind](*[float(val[i]) for i in arg])
            else:
                return None
            val.append(v)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, KeyError, StopIteration):
        return None
    out = float(val[-1])
    return out if math.isfinite(out) else None


# --- text pieces -----------------------------------------------------------------

def chain_of(item: ParamExplanation, out: str) -> ChainSum:
    """The seed's line for one param in paths mode, as a
    :class:`~graphdsl.statements.ChainSum` (the one writer render's caption uses too)."""
    def rule(p, c):
        return item_partial[(p, c)].rule

    item_partial = {(q.parent, q.child): q for q in item.used_partials}
    return chain_sum(out, item.param, [path.nodes for path in item.paths],
                     lambda p, c: item_partial[(p, c)].value, rule,
                     format_number(item.total))


def sum_line(item: ParamExplanation, out: str) -> tuple[str, str | None, str, str]:
    """The seed's line in four pieces for one param in paths mode:
    symbols (∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b), rules (y·3 + x·2, None without sympy),
    numbers (9·3 + 18·2) and the total (63)."""
    s = chain_of(item, out)
    return (" + ".join(s.symbols), " + ".join(s.rules) if s.rules is not None else None,
            " + ".join(s.numbers), s.total)


def _path_line(path: Path, out: str) -> str:
    """z → x → b:  ∂z/∂x·∂x/∂b = 9·3 = 27 (one factor is not written twice)."""
    qs = path.partials
    sy = "·".join(d(q.child, q.parent) for q in qs) or d(out, out)
    product = format_number(path.product)
    if len(qs) <= 1:
        return f"{' → '.join(path.nodes)}:  {sy} = {product}"
    prod = "·".join(factor_number(q.value) for q in qs)
    return f"{' → '.join(path.nodes)}:  {sy} = {prod} = {product}"


def _partial_line(q: Partial) -> str:
    head = d(q.child, q.parent)
    if q.rule is None:
        return f"{head} = {format_number(q.value)}"
    if q.constant:
        return f"{head} = ∂/∂{q.parent}({q.expression}) = {format_number(q.value)}"
    return f"{head} = ∂/∂{q.parent}({q.expression}) = {q.rule} = {format_number(q.value)}"


def _values_text(e: Explanation) -> str:
    return ", ".join(f"{p} = {format_number(v)}" for p, v in e.params.items())


# --- formatters ------------------------------------------------------------------

def format_text(e: Explanation, lang: str = "en") -> str:
    """The explanation as plain text (what ``graphdsl explain`` prints)."""
    return "\n".join(_lines(e, lang, "text")) + "\n"


def format_markdown(e: Explanation, lang: str = "en") -> str:
    """The explanation as Markdown: a heading per param, the sums as code."""
    return "\n".join(_lines(e, lang, "markdown")) + "\n"


def _lines(e: Explanation, lang: str, style: str) -> list[str]:
    md = style == "markdown"
    out = e.output
    code = (lambda s: f"`{s}`") if md else (lambda s: s)
    bullet = "- " if md else "    "
    sub = "  - " if md else "    "
    lines = [("# " if md else "") + tr("explain_title", lang, model=e.model, out=out), ""]
    lines.append(tr("at_values", lang, values=_values_text(e) or tr("no_params", lang), out=out,
                    value=format_number(e.values[out])))
    if e.sympy_missing:
        lines += ["", tr("no_sympy", lang)]
    for item in e.items:
        p = item.param
        lines += ["", ("## " if md else "") + d(out, p) + ("" if md else ":")]
        if md:
            lines.append("")
        ind = "" if md else "  "
        if item.mode == "none":
            lines.append(ind + tr("no_path", lang, out=out, p=p))
        elif item.mode == "paths":
            s = "" if item.path_count == 1 or lang == "zh" else "s"
            lines.append(ind + tr("n_paths", lang, n=item.path_count, s=s, out=out, p=p))
            if md:
                lines.append("")
            for path in item.paths:
                lines.append(bullet + code(_path_line(path, out)))
            chain = chain_of(item, out).text()
            lines += [""] + ([code(chain)] if md else ["  " + chain])
            used = item.used_partials
            if used:
                lines += ["", ("" if md else "  ") + tr("where", lang)]
                if md:
                    lines.append("")
                for q in used:
                    lines.append((bullet if md else sub) + code(_partial_line(q)))
        else:
            lines.append(ind + tr("too_many_paths", lang, n=item.path_count, out=out, p=p,
                                  limit=e.path_limit))
            if md:
                lines.append("")
            for st in item.steps:
                syms = " + ".join(f"{d(out, u)}·{d(u, st.node)}" for u, _a, _q in st.terms)
                nums = " + ".join(f"{factor_number(a)}·{factor_number(q.value)}"
                                  for _u, a, q in st.terms)
                lines.append(bullet + code(f"{d(out, st.node)} = {syms} = {nums} = "
                                           f"{format_number(st.value)}"))
        lines.append("")
        for a in item.absent:
            lines.append(("" if md else "  ") + _absent_text(e, a, p, lang))
        for path in item.zero_paths:
            factors = ", ".join(f"{d(q.child, q.parent)} = 0" for q in path.zero_factors)
            lines.append(("" if md else "  ") + tr("zero_path", lang, path=" → ".join(path.nodes),
                                                   factors=factors))
        key = "engine_agrees" if item.agrees else "engine_differs"
        if item.mode == "nodes":
            key += "_nodes"
        lines.append(("" if md else "  ") + tr(key, lang, out=out, p=p,
                                               g=format_number(item.gradient),
                                               s=format_number(item.total)))
        if item.symbolic is not None:
            sy = item.symbolic
            v = format_number(sy.value) if sy.value is not None else "?"
            text = tr("symbolic", lang, out=out, expr=e.expression) + "; " + tr(
                "symbolic_d", lang, out=out, p=p, expr=sy.derivative, v=v)
            if sy.agrees is not None:
                text += " — " + tr("symbolic_agrees" if sy.agrees else "symbolic_differs", lang,
                                   s=format_number(item.total))
            lines.append(("" if md else "  ") + text)
    if e.rules_note:
        lines += ["", tr("rules_left_out", lang, why=e.rules_note)]
    if e.symbolic_note and not e.sympy_missing:
        lines += ["", tr("symbolic_unavailable", lang, why=e.symbolic_note)]
    return lines


def _absent_text(e: Explanation, a: Absent, p: str, lang: str) -> str:
    out = e.output
    route = f"{out} → {a.input}" if a.node == out else f"{out} → … → {a.node} → {a.input}"
    return tr("absent", lang, route=route, node=a.node, input=a.input, p=p,
              expr=_statement_of(e, a.input), dq=factor_number(a.partial.value))


def _statement_of(e: Explanation, name: str) -> str:
    for (_p, c), q in e.partials.items():
        if c == name and q.expression is not None:
            return q.expression
    return "…"


def format_latex(e: Explanation, lang: str = "en") -> str:
    """The explanation as a LaTeX fragment (one ``align*`` per param), ready to
    paste into a document that loads amsmath."""
    out = e.output
    lines = [rf"% {tr('explain_title', lang, model=e.model, out=out)}"]
    for item in e.items:
        p = item.param
        lines.append(r"\begin{align*}")
        rows = []
        if item.mode == "paths":
            alone = len(item.paths) == 1 and len(item.paths[0].partials) == 1
            sym = [r" \cdot ".join(_tex_d(q.child, q.parent) for q in path.partials) or "1"
                   for path in item.paths]
            rules = None
            if all(q.rule_latex is not None for path in item.paths for q in path.partials):
                rules = [r" \cdot ".join(
                    (f"\\left({q.rule_latex}\\right)"
                     if not alone and factor_rule(q.rule) != q.rule else q.rule_latex)
                    for q in path.partials) or "1" for path in item.paths]
            nums = [r" \cdot ".join(_tex_num(q.value) for q in path.partials) or "1"
                    for path in item.paths]
            chain = ChainSum(_tex_d(out, p), sym, rules, nums, _tex_num(item.total))
            first, *rest = chain.pieces()
            rows.append(f"{chain.head} &= {' + '.join(first)}")
            rows += [f"&= {' + '.join(piece)}" for piece in rest]
            for q in item.used_partials:
                if q.rule_latex is not None:
                    rule = "" if q.constant else f" = {q.rule_latex}"
                    rows.append(f"{_tex_d(q.child, q.parent)} &= "
                                rf"\frac{{\partial}}{{\partial {_tex_name(q.parent)}}}"
                                rf"\left({q.expression_latex}\right){rule} = "
                                f"{_tex_num(q.value)}")
                else:
                    rows.append(f"{_tex_d(q.child, q.parent)} &= {_tex_num(q.value)}")
        elif item.mode == "nodes":
            for st in item.steps:
                sym = " + ".join(f"{_tex_d(out, u)} {_tex_d(u, st.node)}" for u, _a, _q in st.terms)
                nums = " + ".join(rf"{_tex_num(a)} \cdot {_tex_num(q.value)}"
                                  for _u, a, q in st.terms)
                rows.append(f"{_tex_d(out, st.node)} &= {sym} = {nums} = {_tex_num(st.value)}")
        else:
            rows.append(f"{_tex_d(out, p)} &= 0")
        if item.symbolic is not None and e.expression_latex is not None:
            v = _tex_num(item.symbolic.value) if item.symbolic.value is not None else "?"
            rows.append(rf"{_tex_name(out)} &= {e.expression_latex} \quad\Rightarrow\quad "
                        rf"{_tex_d(out, p)} = {item.symbolic.derivative_latex} = {v}")
        lines.append(" \\\\\n".join(rows))
        lines.append(r"\end{align*}")
        for a in item.absent:
            lines.append("% " + _absent_text(e, a, p, lang))
        lines.append("% " + tr("engine_agrees" if item.agrees else "engine_differs", lang,
                               out=out, p=p, g=format_number(item.gradient),
                               s=format_number(item.total)))
    return "\n".join(lines) + "\n"


FORMATS = {"text": format_text, "markdown": format_markdown, "latex": format_latex}
