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
    explain(data_model, sample=K) -> SampleExplanation   the sum over the samples,
        sample K (1-based) written out; .items -> [SampleParam], .to_dict(), and
        format_text / format_markdown / format_latex take it too
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
from .statements import latex as _latex
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
        d = {f.name: ({f"{p}->{c}": q.to_dict() for (p, c), q in self.partials.items()}
                      if f.name == "partials" else _plain(getattr(self, f.name)))
             for f in fields(self)}
        if d["rules_note"] is None:
            del d["rules_note"]
        return d


def _plain(x):
    """Dataclasses, lists and dicts as plain JSON-ready data (bounded nesting)."""
    if isinstance(x, (Partial, SamplePartial)):
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
            *, path_limit: int = PATH_LIMIT, use_sympy: bool = True, sample: int = 1):
    """Explain ∂output/∂p for every param p (or only ``wrt``) of ``model``.

    For a data model the result is a :class:`SampleExplanation`: ∂loss/∂p as
    the sum over the samples of each sample's chain rule, with sample
    ``sample`` (1-based: the CSV's data row) written out path by path;
    ``sample`` is not used otherwise. Raises UsageError for a sample outside
    the data.

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
    if model.data_names:
        return _explain_samples(model, wrt, values, path_limit, use_sympy, sample)
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
    return _derivatives(sp, expr, params, out, expanded)


def _derivatives(sp, expr, params, out: dict, expand: bool = False) -> dict:
    """sympy's ∂expr/∂p for each param into ``out["d"]`` (text, LaTeX, the
    program that evaluates it); a derivative too long to write is not written
    (nor checked), and ``out["note"]`` says so. Runs in the child process."""
    for p in params:
        d = sp.diff(expr, sp.Symbol(p, real=True))
        if expand:
            d = sp.expand(d)
        if tree_size(d, DERIVATIVE_SIZE) > DERIVATIVE_SIZE:
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


def _step_line(st: Step, out: str) -> str:
    """One node's adjoint, node by node: ∂z/∂x = ∂z/∂u·∂u/∂x + … = numbers = value."""
    syms = " + ".join(f"{d(out, u)}·{d(u, st.node)}" for u, _a, _q in st.terms)
    nums = " + ".join(f"{factor_number(a)}·{factor_number(q.value)}" for _u, a, q in st.terms)
    return f"{d(out, st.node)} = {syms} = {nums} = {format_number(st.value)}"


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

def format_text(e: Explanation | SampleExplanation, lang: str = "en") -> str:
    """The explanation as plain text (what ``graphdsl explain`` prints)."""
    lines = _sample_lines if isinstance(e, SampleExplanation) else _lines
    return "\n".join(lines(e, lang, "text")) + "\n"


def format_markdown(e: Explanation | SampleExplanation, lang: str = "en") -> str:
    """The explanation as Markdown: a heading per param, the sums as code."""
    lines = _sample_lines if isinstance(e, SampleExplanation) else _lines
    return "\n".join(lines(e, lang, "markdown")) + "\n"


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
            lines += [bullet + code(_step_line(st, out)) for st in item.steps]
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


def format_latex(e: Explanation | SampleExplanation, lang: str = "en") -> str:
    """The explanation as a LaTeX fragment (one ``align*`` per param), ready to
    paste into a document that loads amsmath."""
    if isinstance(e, SampleExplanation):
        return _sample_latex(e, lang)
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


# --- the sum over samples, written ------------------------------------------------

def sample_chain(item: SampleParam, out: str, tex: bool = False, head: str | None = None) -> ChainSum:
    """The written-out sample's part of ∂out/∂p as a
    :class:`~graphdsl.statements.ChainSum`, one term per path (a path from a
    given total starts with that total as its first factor).

    >>> import graphdsl
    >>> m = graphdsl.loads("data x = [1, 2, 3]\\nparam w = 2\\nloss = mean((w*x - 1)^2)")
    >>> sample_chain(explain(m, sample=3).items[0], "loss").text()
    '∂loss/∂w = 1/n·2x·(w·x - 1) = 10'
    """
    dd = _tex_d if tex else d
    num = _tex_num if tex else factor_number
    dot = r" \cdot " if tex else "·"
    alone = len(item.paths) == 1 and len(item.paths[0].partials) == 1 \
        and item.paths[0].given is None
    sym, rules, nums = [], [], []
    have_rules = True
    for path in item.paths:
        s = [dd(q.child, q.parent) for q in path.partials]
        ns = [(format_number(q.value) if alone and not tex else num(q.value)) for q in path.partials]
        if any((q.rule_latex if tex else q.rule) is None for q in path.partials):
            have_rules = False
        # each rule a factor: in parentheses when it is a sum or negative
        rs = [(q.rule_latex if tex else q.rule) if alone or q.rule is None
              or factor_rule(q.rule) == q.rule
              else (f"\\left({q.rule_latex}\\right)" if tex else factor_rule(q.rule))
              for q in path.partials]
        if path.given is not None:
            s.insert(0, dd(out, path.nodes[0]))
            ns.insert(0, num(path.given))
            rs.insert(0, num(path.given))       # a number: parenthesised when negative
        sym.append(dot.join(s))
        nums.append(dot.join(ns))
        if have_rules:
            rules.append(dot.join(rs))
    total = _tex_num(item.contribution) if tex else format_number(item.contribution)
    return ChainSum(head=head or dd(out, item.param), symbols=sym,
                    rules=rules if have_rules else None, numbers=nums, total=total)


def _sample_path_line(path: SamplePath, out: str) -> str:
    """loss → pred → w:  ∂loss/∂pred·∂pred/∂w = (-0.04796)·1.046143 = -0.05017304"""
    qs = path.partials
    sy = [d(q.child, q.parent) for q in qs]
    ns = [factor_number(q.value) for q in qs]
    if path.given is not None:
        sy.insert(0, d(out, path.nodes[0]))
        ns.insert(0, factor_number(path.given))
    head = f"{' → '.join(path.nodes)}:  {'·'.join(sy)}"
    if len(ns) <= 1:
        return f"{head} = {format_number(path.product)}"
    return f"{head} = {'·'.join(ns)} = {format_number(path.product)}"


def _sample_partial_line(q: SamplePartial, n: int) -> str:
    """∂loss/∂pred = ∂/∂pred(mean((pred - y)²)) = 1/n·2·(pred - y) = 1/100·(-4.796002) = -0.04796002"""
    head = d(q.child, q.parent)
    value = format_number(q.value)
    if q.weight is not None and q.weight != 1.0:
        w = f"1/{n}" if math.isclose(q.weight, 1.0 / n, rel_tol=1e-12) else format_number(q.weight)
        value = f"{w}·{factor_number(q.value / q.weight)} = {value}"
    if q.rule is None:
        return f"{head} = {value}"
    if q.constant:
        return f"{head} = ∂/∂{q.parent}({q.expression}) = {value}"
    return f"{head} = ∂/∂{q.parent}({q.expression}) = {q.rule} = {value}"


def sum_terms(e: SampleExplanation, item: SampleParam, lang: str = "en",
              number=None) -> list[str]:
    """The terms of the sum over samples as text: the first samples' parts,
    "…" for the rest, the direct part when there is one.

    >>> import graphdsl
    >>> m = graphdsl.loads("data x = [1, 2, 3, 4]\\nparam w = 2\\nloss = sum(w*x) + w^2")
    >>> e = explain(m)
    >>> sum_terms(e, e.items[0])
    ['1 (sample 1)', '2 (sample 2)', '3 (sample 3)', '…', '4 (direct)']
    """
    number = number or factor_number
    terms = [f"{number(t.value)} ({tr('s_term', lang, k=t.row)})" for t in item.terms]
    if e.n > len(item.terms):
        terms.append("…")
    if item.direct != 0.0:
        terms.append(f"{number(item.direct)} ({tr('s_term_direct', lang)})")
    return terms


def _sample_lines(e: SampleExplanation, lang: str, style: str) -> list[str]:
    md = style == "markdown"
    out = e.output
    code = (lambda s: f"`{s}`") if md else (lambda s: s)
    bullet = "- " if md else "    "
    ind = "" if md else "  "
    lines = [("# " if md else "") + tr("s_title", lang, model=e.model, out=out), ""]
    values = ", ".join(f"{p} = {format_number(v)}" for p, v in e.params.items())
    lines.append(tr("s_at_values", lang, values=values or tr("no_params", lang), out=out,
                    value=format_number(e.values[out]), n=e.n))
    data = ", ".join(f"{nm} = {format_number(v)}" for nm, v in e.data.items())
    lines.append(tr("s_intro", lang, out=out, k=e.sample, where=_origin(e.source, lang), data=data))
    if e.sympy_missing:
        lines += ["", tr("no_sympy", lang)]
    for item in e.items:
        p = item.param
        lines += ["", ("## " if md else "") + d(out, p) + ("" if md else ":")]
        if md:
            lines.append("")
        lines += [ind + text for text in _given_sentences(e, item, lang)]
        if item.mode == "none":
            lines.append(ind + tr("s_no_path", lang, out=out, p=p))
        elif item.mode == "nodes":
            lines.append(ind + tr("s_many", lang, n=item.path_count, out=out, p=p, k=e.sample,
                                  limit=e.path_limit))
            if md:
                lines.append("")
            lines += [bullet + code(_step_line(st, out)) for st in item.steps]
        else:
            s = "" if item.path_count == 1 or lang == "zh" else "s"
            lines.append(ind + tr("s_n_paths", lang, n=item.path_count, s=s, out=out, p=p,
                                  k=e.sample))
            if md:
                lines.append("")
            for path in item.paths:
                lines.append(bullet + code(_sample_path_line(path, out)))
            head = tr("s_part", lang, k=e.sample, out=out, p=p)
            lines += ["", ind + code(sample_chain(item, out, head=head).text())]
            lines += ["", ind + tr("s_where", lang, k=e.sample, n=e.n, n_name=e.n_name)]
            if md:
                lines.append("")
            for q in item.used_partials:
                lines.append(bullet + code(_sample_partial_line(q, e.n)))
        lines.append("")
        if item.contribution != item.expected and item.mode == "paths" and not item.agrees:
            lines.append(ind + tr("s_part_differs", lang, k=e.sample,
                                  s=format_number(item.contribution),
                                  v=format_number(item.expected)))
        if item.direct != 0.0:
            lines.append(ind + tr("s_direct", lang, v=format_number(item.direct), out=out, p=p))
        total = item.total if item.total is not None else item.gradient
        line = f"{d(out, p)} = {' + '.join(sum_terms(e, item, lang))} = {format_number(total)}"
        lines.append(ind + tr("s_sum", lang, n=e.n, line=code(line)))
        g = format_number(item.gradient)
        if item.total is None:
            lines.append(ind + tr("s_engine_unchecked", lang, out=out, p=p, g=g, why=e.sum_note))
        else:
            key = "s_engine_agrees" if item.agrees else "s_engine_differs"
            lines.append(ind + tr(key, lang, out=out, p=p, g=g, s=format_number(item.total)))
        if item.symbolic is not None:
            lines.append(ind + _symbolic_sentence(e, item, total, lang))
    for note in _sample_notes(e, lang):
        lines += ["", note]
    return lines


def _given_sentences(e: SampleExplanation, item: SampleParam, lang: str) -> list[str]:
    """One sentence per given total the param's paths (or steps) start from."""
    starts = list(dict.fromkeys([path.nodes[0] for path in item.paths if path.given is not None]
                                + [u for st in item.steps for u, _a, _q in st.terms
                                   if u in e.given]))
    return [tr("s_given", lang, out=e.output, node=node, n=e.n, g=format_number(e.given[node]))
            for node in starts]


def _symbolic_sentence(e: SampleExplanation, item: SampleParam, total, lang: str) -> str:
    """sympy's ∂loss/∂p over all the samples, and whether it equals the chain rule's."""
    sy = item.symbolic
    text = tr("s_symbolic", lang, out=e.output, p=item.param, n=e.n,
              v=format_number(sy.value) if sy.value is not None else "?")
    if sy.agrees is not None:
        text += " — " + tr("symbolic_agrees" if sy.agrees else "symbolic_differs", lang,
                           s=format_number(total))
    return text


def _sample_notes(e: SampleExplanation, lang: str) -> list[str]:
    """What was left out of the explanation, and why (rules, the symbolic check)."""
    notes = []
    if e.rules_note:
        notes.append(tr("rules_left_out", lang, why=e.rules_note))
    if e.symbolic_note and not e.sympy_missing:
        notes.append(tr("symbolic_unavailable", lang, why=e.symbolic_note))
    return notes


#: where data comes from when it is not a file, in words of the explanation's language
_ORIGINS = {"inline in the model": "s_inline", "from the caller": "s_caller"}


def _origin(source: str, lang: str) -> str:
    key = _ORIGINS.get(source)
    return tr(key, lang) if key else source


def _sample_latex(e: SampleExplanation, lang: str) -> str:
    """One ``align*`` per param: the written-out sample's chain rule, each
    factor's rule, then the sum over the samples and the total."""
    out = e.output
    lines = [rf"% {tr('s_title', lang, model=e.model, out=out)}",
             "% " + tr("s_intro", lang, out=out, k=e.sample, where=_origin(e.source, lang),
                       data=", ".join(f"{nm} = {format_number(v)}"
                                      for nm, v in e.data.items())).replace("\n", "\n% ")]
    if e.sympy_missing:
        lines.append("% " + tr("no_sympy", lang))
    for item in e.items:
        p = item.param
        lines += ["% " + text for text in _given_sentences(e, item, lang)]
        lines.append(r"\begin{align*}")
        rows = []
        if item.mode == "paths":
            chain = sample_chain(item, out, tex=True,
                                 head=rf"\left.{_tex_d(out, p)}\right|_{{i={e.sample}}}")
            first, *rest = chain.pieces()
            rows.append(f"{chain.head} &= {' + '.join(first)}")
            rows += [f"&= {' + '.join(piece)}" for piece in rest]
            for q in item.used_partials:
                value = _tex_num(q.value)
                if q.weight is not None and q.weight != 1.0:
                    w = (rf"\frac{{1}}{{{e.n}}}" if math.isclose(q.weight, 1.0 / e.n, rel_tol=1e-12)
                         else _tex_num(q.weight))
                    value = rf"{w} \cdot {_tex_num(q.value / q.weight)} = {value}"
                if q.rule_latex is not None:
                    rule = "" if q.constant else f" = {q.rule_latex}"
                    rows.append(f"{_tex_d(q.child, q.parent)} &= "
                                rf"\frac{{\partial}}{{\partial {_tex_name(q.parent)}}}"
                                rf"\left({q.expression_latex}\right){rule} = {value}")
                else:
                    rows.append(f"{_tex_d(q.child, q.parent)} &= {value}")
        for st in item.steps:
            sym = " + ".join(f"{_tex_d(out, u)} {_tex_d(u, st.node)}" for u, _a, _q in st.terms)
            nums = " + ".join(rf"{_tex_num(a)} \cdot {_tex_num(q.value)}" for _u, a, q in st.terms)
            rows.append(f"{_tex_d(out, st.node)} &= {sym} = {nums} = {_tex_num(st.value)}")
        total = item.total if item.total is not None else item.gradient
        terms = [_tex_num(t.value) for t in item.terms]
        if e.n > len(item.terms):
            terms.append(r"\dots")
        if item.direct != 0.0:
            terms.append(_tex_num(item.direct))
        rows.append(rf"\sum_{{i=1}}^{{{e.n}}} {_tex_d(out, p)}\Big|_{{i}}"
                    + (" + \\text{direct}" if item.direct != 0.0 else "")
                    + f" &= {' + '.join(terms)} = {_tex_num(total)}")
        lines.append(" \\\\\n".join(rows))
        lines.append(r"\end{align*}")
        g = format_number(item.gradient)
        if item.total is None:
            lines.append("% " + tr("s_engine_unchecked", lang, out=out, p=p, g=g, why=e.sum_note))
        else:
            key = "s_engine_agrees" if item.agrees else "s_engine_differs"
            lines.append("% " + tr(key, lang, out=out, p=p, g=g, s=format_number(item.total)))
        if item.symbolic is not None:
            lines.append("% " + _symbolic_sentence(e, item, total, lang))
    lines += ["% " + note for note in _sample_notes(e, lang)]
    return "\n".join(lines) + "\n"


FORMATS = {"text": format_text, "markdown": format_markdown, "latex": format_latex}


# --- over the samples of a data model ------------------------------------------------
#
# The loss of a data model is a sum over its samples, so ∂loss/∂p is too: each
# sample adds its own chain rule (graphdsl.onesample computes the numbers). One
# sample is written out path by path. A path starts at the output, or at a
# reduction whose result is used again per sample (``c = x - mean(x)``): that
# reduction's adjoint gathers every sample, so it is a given total and a path
# of one sample cannot pass through it. Every other reduction is crossed with
# its weight (1/n for mean, 1 for sum), once per path.

#: The contributions of every sample are added up one by one (a walk over the
#: graph per sample) while samples × graph positions stay below this; past it
#: the sum is not redone and a sentence says so. benchmarks/explain_samples.py
#: measures about 2 µs per position and sample: this is about 1.2 s.
SAMPLE_SUM_WORK = 600_000
#: how many terms of the sum over samples are written before "…"
SAMPLE_TERMS = 3


@dataclass
class SamplePartial:
    """One factor of a path at one sample: ∂child/∂parent there, with its rule
    (text and LaTeX; None without sympy or past the bounds). ``crossing`` is
    True when the factor passes a reduction (it holds that reduction's weight);
    ``child`` is a node name or the text of a reduction inside a statement."""

    child: str
    parent: str
    value: float
    crossing: bool = False
    rule: str | None = None
    expression: str | None = None
    rule_latex: str | None = None
    expression_latex: str | None = None
    #: the weight of the reduction a crossing factor passes (1/n for mean, 1
    #: for sum), written as a factor of its own; None when it passes none or several
    weight: float | None = None
    #: (child, parent) as positions of the flat graph, for the rules
    positions: tuple = field(default=(), repr=False, compare=False)

    @property
    def constant(self) -> bool:
        from .statements import is_number_text

        return self.rule is not None and is_number_text(self.rule)

    def to_dict(self) -> dict:
        return {"child": self.child, "parent": self.parent, "value": self.value,
                "crossing": self.crossing, "weight": self.weight,
                "rule": self.rule, "expression": self.expression,
                "rule_latex": self.rule_latex, "expression_latex": self.expression_latex}


@dataclass
class SamplePath:
    """A path of one sample: ``nodes`` from its start down to the param;
    ``given`` is the start's adjoint when the start is not the output (a total
    over all samples), None when it is; ``product`` includes it."""

    nodes: tuple[str, ...]
    partials: tuple[SamplePartial, ...]
    product: float
    given: float | None = None


@dataclass
class SampleTerm:
    """One term of the sum over samples: sample ``row`` (1-based) adds ``value``."""

    row: int
    value: float


@dataclass
class SampleParam:
    """∂output/∂param of a data model as a sum over its samples.

    ``mode`` is "paths" (the written-out sample's paths listed), "nodes"
    (more than the path limit: node by node in ``steps``) or "none" (no
    sample's path reaches the param). ``contribution`` is the written-out sample's part (the sum of its
    paths), ``expected`` the same part from :mod:`graphdsl.onesample`;
    ``terms`` the first samples' parts; ``direct`` the part through no sample;
    ``total`` = Σ every sample's part + ``direct`` (None past
    :data:`SAMPLE_SUM_WORK`); ``gradient`` the engine's."""

    param: str
    mode: str
    path_count: int
    paths: list[SamplePath]
    contribution: float
    expected: float
    terms: list[SampleTerm]
    direct: float
    total: float | None
    gradient: float
    agrees: bool
    symbolic: Symbolic | None = None
    #: "nodes" mode: sample ``row``'s adjoints node by node, the param's last
    steps: list[Step] = field(default_factory=list)

    @property
    def used_partials(self) -> list[SamplePartial]:
        seen, out = set(), []
        for path in self.paths:
            for q in path.partials:
                if (q.parent, q.child, q.crossing) not in seen:
                    seen.add((q.parent, q.child, q.crossing))
                    out.append(q)
        return out


@dataclass
class SampleExplanation:
    """A data model's explanation: sample ``sample`` (1-based) of ``n`` written
    out, every param's sum over the samples. ``values`` holds the named nodes
    (per-sample ones at that sample), ``data`` that sample's data columns,
    ``given`` the starts that are totals over all samples (name -> adjoint).

    >>> import graphdsl
    >>> m = graphdsl.loads("data x = [1, 2, 3]\\nparam w = 2\\nloss = mean((w*x - 1)^2)")
    >>> item = explain(m, sample=3).items[0]          # x = 3: (1/3)·2·(2·3 - 1)·3
    >>> [(p.nodes, p.product) for p in item.paths], item.total == m.gradients()["w"]
    ([(('loss', 'w'), 10.0)], True)
    """

    model: str
    output: str
    sample: int
    n: int
    source: str | None
    values: dict[str, float]
    params: dict[str, float]
    data: dict[str, float]
    given: dict[str, float]
    items: list[SampleParam]
    symbolic_note: str | None = None
    sympy_missing: bool = False
    path_limit: int = PATH_LIMIT
    #: why the sum over samples was not redone one by one (None when it was)
    sum_note: str | None = None
    #: why some shown factors have numbers but no rule (None when all have one)
    rules_note: str | None = None
    #: the rules' name for the number of samples (n, unless a node is called n)
    n_name: str = "n"

    def to_dict(self) -> dict:
        """JSON-ready: the sample, each param's paths, terms, direct part and total."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


class _SampleGraph:
    """The statement view seen from one sample (see the comment above): which
    flat positions are starts, and each visible node's edges at a sample,
    split into the part that crosses a reduction and the part that does not."""

    def __init__(self, sview):
        # (no reference to the compiled model: it is the key this is cached under)
        c = sview.c
        fg = c.flat
        per = sview.per
        n = len(c.ops)
        # below[j]: some path from the output down to j passes a per-sample node
        below = [False] * n
        reached = [False] * n
        reached[c.output] = True
        for k in range(n - 1, -1, -1):
            if not reached[k] or c.ops[k] is None:
                continue
            for j in c.args[k]:
                reached[j] = True
                below[j] = below[j] or below[k] or per[k]
        self.given = [bool(reached[k] and c.ops[k] is not None and c.ops[k].reduces and below[k])
                      for k in range(n)]
        self.named = [fg.name[k] is not None for k in range(n)]
        self.visible = [k for k in range(n) if c.ops[k] is not None
                        and (self.named[k] or self.given[k]) and reached[k]]
        self.label = {k: (fg.name[k] if self.named[k] else _view_text(sview.model, fg.ids[k]))
                      for k in range(n) if self.named[k] or self.given[k]}

    def edges(self, sview, s, v):
        """{input position: [plain, crossing, weights]} of visible node ``v``
        at sample ``s``: the values (None where no such route exists) and the
        weights of the reductions the crossing routes pass."""
        c = sview.c
        ops, args, kind = c.ops, c.args, c.flat.kind
        out: dict[int, list] = {}
        stack = [(v, 1.0, None)]
        while stack:
            k, g, weight = stack.pop()
            op = ops[k]
            if op.reduces:
                weight = op.weight(sview.n)
            for j, dj in zip(args[k], sview.local_partials_at(s, k)):
                if self.given[j]:
                    continue        # a start of its own: its total holds this route
                if self.named[j]:
                    slot = out.setdefault(j, [None, None, set()])
                    b = 0 if weight is None else 1
                    slot[b] = (slot[b] or 0.0) + g * dj
                    if weight is not None:
                        slot[2].add(weight)
                elif kind[j] == "op":
                    stack.append((j, g * dj, weight))
        return out


def _view_text(model, node_id):
    return statements(model).hidden_text(node_id, 40)


def _explain_samples(model, wrt, values, path_limit, use_sympy, sample) -> SampleExplanation:
    from .onesample import SampleView

    chosen = chosen_params(model, wrt)
    sview = SampleView(model, params=_params_with(model, values))
    k = sview.check_sample(sample)
    s = sview.at(k)
    c = sview.c
    graph = _sample_graph(model, sview)
    rules = _SampleRules(model, graph) if use_sympy else None
    have_sympy = rules is not None and rules.available
    # every visible node's edges at this sample
    edges = {v: graph.edges(sview, s, v) for v in graph.visible}
    starts = [c.output] + [v for v in graph.visible if graph.given[v]]
    given = {graph.label[v]: float(s.adjoint_at[v]) for v in starts[1:]}
    # the other samples' contributions: the first few, and all of them for the total
    firsts = [s if j == k else sview.at(j) for j in range(min(SAMPLE_TERMS, sview.n))]
    sums = {p: None for p in chosen}
    largest = {p: 0.0 for p in chosen}     # the largest term: the scale of the sum's rounding
    sum_note = None
    if sview.n * len(c.ops) <= SAMPLE_SUM_WORK:
        parts = {p: [] for p in chosen}
        for j in range(sview.n):
            one = s if j == k else (firsts[j] if j < len(firsts) else sview.at(j))
            for p in chosen:
                parts[p].append(one.contributions[p])
        sums = {p: math.fsum(parts[p]) for p in chosen}
        largest = {p: max(map(abs, parts[p]), default=0.0) for p in chosen}
    else:
        sum_note = (f"{sview.n} samples of a graph of {len(c.ops)} nodes are more than "
                    f"{SAMPLE_SUM_WORK:,} sample-nodes: their contributions are not added up "
                    "one by one here")
    # the engine's gradient, as Model.gradients() computes it (at these params)
    engine = model.samples.evaluate(sview.params, sview.data).gradients
    items = []
    for p in chosen:
        pos = c.index[p]
        paths, count, steps = _sample_paths(graph, edges, starts, pos, s, path_limit)
        contribution = (math.fsum(path.product for path in paths) if paths is not None
                        else steps[-1].value if steps else 0.0)
        expected = s.contributions[p]
        direct = s.direct[p]
        total = sums[p] + direct if sums[p] is not None else None
        gradient = float(engine[p])
        scale = max([abs(x.product) for x in paths or ()] + [abs(expected), 1e-300])
        ok = math.isclose(contribution, expected, rel_tol=1e-9, abs_tol=1e-12 * scale)
        if total is not None:
            # a gradient that is 0 up to rounding is a sum of terms that cancel: the
            # rounding is that of the largest term, not of the (tiny) total
            scale = max(abs(total), abs(gradient), largest[p], abs(direct), 1e-300)
            ok = ok and math.isclose(total, gradient, rel_tol=1e-9, abs_tol=1e-12 * scale)
        mode = "none" if count == 0 else ("paths" if paths is not None else "nodes")
        terms = [SampleTerm(row=o.row, value=o.contributions[p]) for o in firsts]
        items.append(SampleParam(param=p, mode=mode, path_count=count, paths=paths or [],
                                 contribution=contribution, expected=expected, terms=terms,
                                 direct=direct, total=total, gradient=gradient, agrees=ok,
                                 steps=steps))
    e = SampleExplanation(
        model=model.name, output=model.output, sample=s.row, n=sview.n,
        source=_where(sview.data, k),
        values=s.values, params={p: sview.params[p] for p in model.params},
        data={nm: s.values[nm] for nm in model.data_names}, given=given, items=items,
        path_limit=path_limit, sum_note=sum_note, n_name=n_name(model))
    if not have_sympy:
        e.sympy_missing = use_sympy
        e.symbolic_note = "sympy is not installed" if use_sympy else "not asked for"
        return e
    shown, left_out = set(), set()
    for item in items:
        for path in item.paths:
            for q in path.partials:
                shown.add(q.positions[0])
                if not rules.fill(q):
                    left_out.add(q.positions[0])
    if left_out:
        from .statements import MAX_RULE_SHAPES, MAX_RULE_SIZE

        e.rules_note = (f"{len(left_out)} of the {len(shown)} statements shown have numbers but "
                        f"no rule: rules are worked out for statements of at most {MAX_RULE_SIZE} "
                        f"ops, {MAX_RULE_SHAPES} statements per explanation")
    _symbolic_samples(e, model, sview)
    return e


def _where(data, k) -> str:
    """Where sample ``k`` (0-based) came from: ``file:line`` or the data's origin."""
    if data.lines is not None and data.file:
        return f"{data.file}:{int(data.lines[k])}"
    return data.origin


def _params_with(model, values):
    current = dict(model.param_values)
    for name, v in (values or {}).items():
        current[name] = float(v)
    return current


_SAMPLE_GRAPHS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _sample_graph(model, sview) -> _SampleGraph:
    """The structure is the model's: worked out once per compiled model."""
    found = _SAMPLE_GRAPHS.get(sview.c)
    if found is None:
        found = _SAMPLE_GRAPHS[sview.c] = _SampleGraph(sview)
    return found


def _sample_paths(graph, edges, starts, p, s, limit):
    """(paths, count, steps): sample ``s``'s paths to position ``p``, each
    crossing exactly one reduction (a given start counts as crossed), and how
    many there are; past ``limit`` paths, paths is None and ``steps`` goes
    node by node instead, as reverse mode does. States are (position, crossed)."""
    visible = graph.visible
    count: dict = {(p, True): 1}

    def moves(v, crossed):
        for j, (plain, cross, weights) in edges.get(v, {}).items():
            if plain is not None:
                yield j, crossed, plain, None
            if cross is not None and not crossed:
                # the reduction's weight as a factor of its own, when there is one weight
                yield j, True, cross, (next(iter(weights)) if len(weights) == 1 else 0.0)

    for v in visible:                      # inputs first: the engine's order
        for crossed in (False, True):
            n = sum(count.get((j, c2), 0) for j, c2, _val, _x in moves(v, crossed))
            if n:
                count[(v, crossed)] = n
    # a given start crosses its own reduction first: it begins "not crossed"
    total = sum(count.get((v, False), 0) for v in starts)
    label = graph.label
    if total > limit:
        return None, total, _sample_steps(graph, starts, p, s, count, moves)
    paths = []
    for v in starts:
        if not count.get((v, False)):
            continue
        head = None if v == starts[0] else float(s.adjoint_at[v])
        # each step: (position, crossed, the factor that led here, the step before);
        # a path is read back from its last step, so no path is copied while walking
        steps: list = []
        stack = [(v, False, None, -1)]
        while stack:
            here, crossed, q, up = stack.pop()
            steps.append((here, q, up))
            at = len(steps) - 1
            if here == p and crossed:
                trail, qs = [], []
                while at >= 0:
                    pos, q_, at = steps[at]
                    trail.append(label[pos])
                    if q_ is not None:
                        qs.append(q_)
                trail.reverse()
                qs.reverse()
                product = head if head is not None else 1.0
                for q_ in qs:
                    product *= q_.value
                paths.append(SamplePath(nodes=tuple(trail), partials=tuple(qs),
                                        product=product, given=head))
                continue
            for j, c2, val, x in reversed(list(moves(here, crossed))):
                if count.get((j, c2)):
                    stack.append((j, c2, SamplePartial(child=label[here], parent=label[j],
                                                       value=val, crossing=x is not None,
                                                       weight=x or None,
                                                       positions=(here, j)), at))
    return paths, total, []


def _sample_steps(graph, starts, p, s, count, moves) -> list[Step]:
    """Node by node from the starts (users before their inputs): each state's
    adjoint at sample ``s`` is Σ the adjoint of a user × the factor between them;
    the last step is the param's, the sample's part."""
    label = graph.label
    adj = {(v, False): (1.0 if v == starts[0] else float(s.adjoint_at[v]))
           for v in starts if count.get((v, False))}
    terms: dict = {}
    for v in reversed(graph.visible):
        for crossed in (False, True):
            here = (v, crossed)
            if here not in adj:
                continue
            for j, c2, val, w in moves(v, crossed):
                if count.get((j, c2)):
                    q = SamplePartial(child=label[v], parent=label[j], value=val,
                                      crossing=w is not None, weight=w or None,
                                      positions=(v, j))
                    adj[(j, c2)] = adj.get((j, c2), 0.0) + adj[here] * val
                    terms.setdefault((j, c2), []).append((label[v], adj[here], q))
    # the states in the order they were finished: users first, the param last
    order = sorted(terms, key=lambda st: (-st[0], st[1]))
    return [Step(node=label[st[0]], terms=terms[st], value=adj[st]) for st in order]


class _SampleRules:
    """The rules of one sample's factors, from sympy: a statement is written
    with every reduction in it as a symbol for its value (a total), so that
    ∂statement/∂input either passes no reduction (``plain``) or passes one,
    ∂statement/∂reduction · weight · ∂operand/∂input (``crossing``; the weight
    is 1/n for mean, 1 for sum, with n a symbol). Statements of more than
    :data:`~graphdsl.statements.MAX_RULE_SIZE` ops get none."""

    def __init__(self, model, graph):
        self.model, self.graph = model, graph
        try:
            import sympy
            self.sp = sympy
        except ImportError:
            self.sp = None
        self.cache = statements(model).cache.setdefault("sample rules", {})
        self.n_name = n_name(model)
        #: statements worked out by this explanation (the cached ones are free)
        self.worked = 0

    @property
    def available(self) -> bool:
        return self.sp is not None

    def fill(self, q: SamplePartial) -> bool:
        """Give ``q`` its rule; False when it is left without one by the bounds."""
        from .statements import MAX_RULE_SHAPES

        v, j = q.positions
        found = self.cache.get(v)
        if found is None:
            if self.worked >= MAX_RULE_SHAPES:
                return False
            self.worked += 1
            found = self.cache[v] = self._work(v)
        if not found:
            return False
        q.expression, q.expression_latex = found["expr"]
        rule = found["rules"].get((j, q.crossing))
        if rule is not None:
            q.rule, q.rule_latex = rule
        return True

    def _work(self, v) -> dict:
        from .statements import MAX_RULE_SIZE

        sp, c, graph = self.sp, self.model.compiled, self.graph
        fg = c.flat
        ops, args = c.ops, c.args
        # the statement's positions, top first (hidden ones and reductions inside)
        inside, stack = [], [v]
        seen = set()
        while stack:
            k = stack.pop()
            if k in seen:
                continue
            seen.add(k)
            inside.append(k)
            for j in args[k]:
                if not graph.named[j] and not graph.given[j] and ops[j] is not None:
                    stack.append(j)
        if len(inside) > MAX_RULE_SIZE:
            return {}
        n = sp.Symbol(self.n_name, positive=True)
        sym: dict = {}
        red: dict = {}            # reduction position -> its symbol

        def leaf(j):
            if graph.named[j] or graph.given[j]:
                return sp.Symbol(graph.label[j], real=True)
            return exact_number(sp, float(fg.value[j]))

        expr: dict = {}
        try:
            for k in sorted(inside):            # operands first
                parts = [expr[j] if j in expr else leaf(j) for j in args[k]]
                if ops[k].reduces:
                    red[k] = sp.Symbol(f"ρ{k}", real=True)
                    expr[k] = red[k]
                    sym[k] = parts[0]
                else:
                    expr[k] = sympy_op(sp, ops[k], parts)
        except (NotImplementedError, TypeError, ValueError, AttributeError):
            return {}
        top = expr[v]
        shown = top.xreplace({r: sp.Function(ops[k].name)(sym[k]) for k, r in red.items()})
        rules = {}
        inputs = {j for k in inside for j in args[k] if graph.named[j] or graph.given[j]}
        back = {r: sp.Function(ops[k].name)(sym[k]) for k, r in red.items()}
        for j in inputs:
            x = sp.Symbol(graph.label[j], real=True)
            plain = sp.diff(top, x)
            rules[(j, False)] = (pretty(plain.xreplace(back)), _latex(plain.xreplace(back)))
            terms = {k: sp.diff(top, r) * sp.diff(sym[k], x) for k, r in red.items()}
            kinds = {ops[k].name for k, term in terms.items() if term != 0}
            if kinds == {"mean"}:
                # the mean's weight as a factor of its own, as the pictures write it
                inner = sp.factor_terms(sp.Add(*terms.values())).xreplace(back)
                rules[(j, True)] = self._over_n(inner, n)
            elif kinds:
                cross = sp.Add(*[term / n if ops[k].name == "mean" else term
                                 for k, term in terms.items()])
                cross = sp.factor_terms(cross).xreplace(back)
                rules[(j, True)] = (pretty(cross), _latex(cross))
        return {"expr": (pretty(shown), _latex(shown)), "rules": rules}

    def _over_n(self, inner, n) -> tuple[str, str]:
        """1/n·inner as text and LaTeX (inner in parentheses when it is a sum or negative)."""
        sp = self.sp
        text, tex = pretty(inner), _latex(inner)
        head, head_tex = f"1/{self.n_name}", rf"\frac{{1}}{{{sp.latex(n)}}}"
        if inner == 1:
            return head, head_tex
        if inner.is_Add or text.startswith("-"):
            text, tex = f"({text})", rf"\left({tex}\right)"
        return f"{head}·{text}", rf"{head_tex} \cdot {tex}"


def n_name(model) -> str:
    """The name the rules give the number of samples: ``n``, unless a node
    of the model is called n.

    >>> import graphdsl
    >>> n_name(graphdsl.loads("data x = [1, 2]\\nparam n = 1\\nloss = mean(n*x)"))
    'n_samples'
    """
    return "n_samples" if "n" in statements(model).kind else "n"


def _symbolic_samples(e: SampleExplanation, model, sview) -> None:
    """sympy's check of every total: the output written over all the samples
    (each data value exact), differentiated in each param, evaluated. Skipped,
    with ``e.symbolic_note``, past the size bounds or the clock."""
    c = sview.c
    params = tuple(item.param for item in e.items)
    size, depth = _samples_cost(c, sview.per, sview.n)
    if depth > SYMBOLIC_DEPTH:
        e.symbolic_note = (f"the loss is nested too deeply for sympy ({depth} levels, "
                           f"more than {SYMBOLIC_DEPTH})")
        return
    if size > SYMBOLIC_SIZE:
        e.symbolic_note = (f"the loss written out over all {sview.n} samples would have more "
                           f"than {SYMBOLIC_SIZE} ops and leaves, so sympy could take very long")
        return
    plans = _SYMBOLIC.setdefault(c, {})
    columns = sview.data.columns
    key = ("samples", params, tuple(tuple(float(x) for x in columns[nm]) for nm in model.data_names),
           tuple(sview.V[k] for k in range(len(c.ops)) if c.flat.kind[k] == "const"))
    plan = plans.get(key)
    if plan is None:
        data = {nm: [float(x) for x in columns[nm]] for nm in model.data_names}
        plan = in_child(_samples_work, (c, list(sview.V), list(sview.per), data, sview.n, params),
                        SYMBOLIC_SECONDS)
        if plan is TIMED_OUT:
            plan = {"note": f"sympy took more than {SYMBOLIC_SECONDS:g} s over it and was stopped"}
        elif plan is None:
            plan = {"note": "sympy failed on this model"}
        plans[key] = plan
    e.symbolic_note = plan.get("note")
    for item in e.items:
        found = plan.get("d", {}).get(item.param)
        if found is None:
            continue
        text, tex, program = found
        value = run_program(program, dict(e.params))
        agrees = None
        if value is not None:
            agrees = math.isclose(value, item.gradient, rel_tol=1e-7,
                                  abs_tol=1e-9 * max(1.0, abs(item.gradient)))
        item.symbolic = Symbolic(derivative=text, derivative_latex=tex, value=value, agrees=agrees)


def _samples_cost(c, per, n) -> tuple[int, int]:
    """(size, depth) of the output written out over all ``n`` samples: a
    reduction writes its operand once per sample. Capped past the limits."""
    cap = SYMBOLIC_SIZE + 1
    size = [1] * len(c.ops)
    depth = [1] * len(c.ops)
    for k, op in enumerate(c.ops):
        if op is None:
            continue
        a = c.args[k]
        if op.reduces:
            size[k] = min(cap, 1 + n * size[a[0]])
        else:
            size[k] = min(cap, 1 + sum(size[j] for j in a))
        depth[k] = 1 + max(depth[j] for j in a)
    return size[c.output], depth[c.output]


def _samples_work(c, vals, per, data, n, params) -> dict:
    """The output over all samples as one sympy expression and its derivative
    in each param: texts, LaTeX and a program (plain data, from a child)."""
    import sympy as sp

    kinds, names = c.flat.kind, c.flat.name
    expr: list = []
    for k, op in enumerate(c.ops):
        if kinds[k] == "data":
            e = [exact_number(sp, v) for v in data[names[k]]]
        elif op is None:
            e = (sp.Symbol(c.order[k], real=True) if kinds[k] == "param"
                 else exact_number(sp, vals[k]))
        elif op.reduces:
            total = sp.Add(*expr[c.args[k][0]])
            e = total / n if op.name == "mean" else total
        else:
            try:
                if per[k]:
                    e = [sympy_op(sp, op, [expr[j][i] if per[j] else expr[j] for j in c.args[k]])
                         for i in range(n)]
                else:
                    e = sympy_op(sp, op, [expr[j] for j in c.args[k]])
            except NotImplementedError:
                return {"note": f"the op '{op.name}' has no sympy form"}
            except (TypeError, ValueError):
                return {"note": f"sympy cannot write the op '{op.name}' here"}
        expr.append(e)
    return _derivatives(sp, expr[c.output], params, {"note": None, "d": {}})
