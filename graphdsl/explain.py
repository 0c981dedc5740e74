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

Stable API (the HTML report builds on it)::

    explain(model, wrt=None, values=None) -> Explanation
    Explanation.items -> [ParamExplanation]   one per param explained
    Explanation.to_dict() -> JSON-ready dict
    format_text(e, lang) / format_markdown(e, lang) / format_latex(e, lang) -> str
    sum_line(item, style) -> (symbols, rules, numbers, total) pieces of the seed's line

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
import re
from dataclasses import asdict, dataclass, field

from .text import format_number
from .errors import UsageError
from .i18n import tr

#: more paths than this and the explanation goes node by node
PATH_LIMIT = 20
#: op nodes above which the symbolic cross-check is skipped (expansion can explode)
SYMBOLIC_LIMIT = 150


@dataclass
class Partial:
    """One edge of the statement view: ∂child/∂parent at the current values.

    ``rule`` is the derivative in the child's statement inputs as text
    (``"y"`` for ∂z/∂x with z = x*y), ``expression`` the child's statement
    (``"x·y"``); both None without sympy or for an op with no sympy form.
    The ``*_latex`` fields are the same in LaTeX.
    """

    child: str
    parent: str
    value: float
    rule: str | None = None
    expression: str | None = None
    rule_latex: str | None = None
    expression_latex: str | None = None

    @property
    def constant(self) -> bool:
        """True when the rule is just a number (∂x/∂b = 3): print it once."""
        return self.rule is not None and _is_number_text(self.rule)


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

    def to_dict(self) -> dict:
        """JSON-ready: partials keyed "parent->child"."""
        d = asdict(self)
        d["partials"] = {f"{p}->{c}": asdict(q) for (p, c), q in self.partials.items()}
        return d


# --- building the explanation -----------------------------------------------------

def explain(model, wrt: str | None = None, values: dict[str, float] | None = None,
            *, path_limit: int = PATH_LIMIT, use_sympy: bool = True) -> Explanation:
    """Explain ∂output/∂p for every param p (or only ``wrt``) of ``model``.

    ``values`` overrides param values (default: the model's current ones).
    Pure: the model is not changed. Raises :class:`UsageError` when ``wrt``
    is not a param, :class:`~graphdsl.errors.NumericError` when the model
    cannot be evaluated at these values.

    >>> import graphdsl
    >>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = x*y\\nx = 2*w + 3*b\\ny = 2*b + 1")
    >>> item = explain(m, wrt="w").items[0]
    >>> [p.nodes for p in item.paths], [(a.node, a.input) for a in item.absent]
    ([('z', 'x', 'w')], [('z', 'y')])
    """
    c = model.compiled
    g = model.graph
    nodes = g.nodes
    params = list(model.params)
    if wrt is not None:
        if wrt not in params:
            from .text import did_you_mean

            what = "is computed, not a param" if wrt in nodes else "is not in the model"
            raise UsageError(f"--wrt: '{wrt}' {what}",
                             hint=did_you_mean(wrt, params) or
                             ("params: " + ", ".join(params) if params else
                              "the model has no param; declare one with `param NAME = NUMBER`"))
        chosen = [wrt]
    else:
        chosen = params
    current = dict(model.param_values)
    for k, v in (values or {}).items():
        current[k] = float(v)
    vals = c.forward(current)
    adj = c.backward(vals)
    local = c.local_partials(vals)
    named = list(c.named)
    value_of = {n: vals[c.index[n]] for n in named}
    out = model.output

    inputs = _statement_inputs(c, nodes)
    users: dict[str, list[str]] = {n: [] for n in named}
    for child in named:
        for parent in inputs.get(child, ()):
            users[parent].append(child)

    sp = None
    if use_sympy:
        try:
            import sympy as sp  # noqa: F811 - optional, imported only here
        except ImportError:
            sp = None
    deep = False
    try:
        rules = _rules(sp, c, nodes, inputs, value_of) if sp is not None else {}
    except RecursionError:
        # sympy's own tree walks recurse: a statement nested thousands deep has
        # numbers but no printable rule
        rules, deep = {}, True

    partials: dict[tuple[str, str], Partial] = {}
    for child in named:
        for parent in inputs.get(child, ()):
            r = rules.get((parent, child), {})
            partials[(parent, child)] = Partial(child=child, parent=parent,
                                                value=local.get((parent, child), 0.0), **r)

    # reached from the output going down the statement view
    reached = {n: False for n in named}
    reached[out] = True
    for n in reversed(named):
        if reached[n]:
            for i in inputs.get(n, ()):
                reached[i] = True

    items = []
    for p in chosen:
        items.append(_explain_param(p, out, named, inputs, users, partials, reached,
                                    adj[c.index[p]], path_limit, nodes))

    e = Explanation(model=model.name, output=out, values=value_of,
                    params={p: current[p] for p in params}, partials=partials, items=items,
                    path_limit=path_limit)
    if sp is None:
        e.sympy_missing = use_sympy
        e.symbolic_note = "sympy is not installed" if use_sympy else "not asked for"
    elif deep:
        e.symbolic_note = "the expressions are nested too deeply for sympy to print them"
    else:
        try:
            _symbolic(sp, e, c, nodes, current, vals)
        except RecursionError:
            e.expression = e.expression_latex = None
            for item in e.items:
                item.symbolic = None
            e.symbolic_note = "the expressions are nested too deeply for sympy to expand them"
    return e


def _statement_inputs(c, nodes) -> dict[str, list[str]]:
    """For each named op node, its statement's named inputs in order of first use
    (one pass over the topological order, no recursion)."""
    hidden: dict[int, list[str]] = {}
    inputs: dict[str, list[str]] = {}
    for k, nid in enumerate(c.order):
        if c.ops[k] is None:
            continue
        found: list[str] = []
        for j in c.args[k]:
            aid = c.order[j]
            if nodes[aid]["name"] is not None:
                if aid not in found:
                    found.append(aid)
            else:
                for x in hidden.get(j, ()):
                    if x not in found:
                        found.append(x)
        if nodes[nid]["name"] is not None:
            inputs[nid] = found
        else:
            hidden[k] = found
    return inputs


def _explain_param(p, out, named, inputs, users, partials, reached, gradient, limit, nodes):
    # depends[n]: n's value changes with p (topological order: inputs first)
    depends = {n: False for n in named}
    count = {n: 0 for n in named}
    depends[p] = True
    count[p] = 1
    for n in named:
        if n == p:
            continue
        ins = inputs.get(n, ())
        if ins:
            count[n] = sum(count[i] for i in ins)
            depends[n] = count[n] > 0
    on_path = [n for n in named if depends[n] and reached[n]]
    on = set(on_path)
    absent = []
    for n in on_path:
        for i in inputs.get(n, ()):
            if not depends[i] and nodes[i]["kind"] == "op":
                absent.append(Absent(node=n, input=i, partial=partials[(i, n)]))
    n_paths = count[out]
    if n_paths == 0:
        return ParamExplanation(param=p, mode="none", path_count=0, paths=[], total=0.0,
                                gradient=gradient, agrees=gradient == 0.0, absent=absent)
    if n_paths <= limit:
        paths = []
        # iterative depth-first walk; inputs pushed reversed so the first input is walked first
        stack = [(out,)]
        while stack:
            trail = stack.pop()
            last = trail[-1]
            if last == p:
                qs = tuple(partials[(trail[k + 1], trail[k])] for k in range(len(trail) - 1))
                prod = 1.0
                for q in qs:
                    prod *= q.value
                paths.append(Path(nodes=trail, partials=qs, product=prod))
                continue
            for i in reversed(inputs.get(last, ())):
                if count[i] > 0:
                    stack.append(trail + (i,))
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

def _number(sp, v: float):
    """A constant as an exact sympy number: 2 for 2.0, 1/10 for 0.1 (as written)."""
    if v == int(v) and abs(v) < 1e15:
        return sp.Integer(int(v))
    return sp.Rational(repr(v))


def _rules(sp, c, nodes, inputs, value_of) -> dict:
    """(parent, child) -> rule/expression fields, from each statement's sympy form
    in its named inputs. Statements with an op that has no sympy form get none."""
    hidden: dict[int, object] = {}
    out: dict[tuple[str, str], dict] = {}
    sym = {}

    def symbol(name):
        s = sym.get(name)
        if s is None:
            s = sym[name] = sp.Symbol(name, real=True)
        return s

    for k, nid in enumerate(c.order):
        op = c.ops[k]
        if op is None:
            if nodes[nid]["name"] is None:
                hidden[k] = _number(sp, c.init[k])
            continue
        args = []
        for j in c.args[k]:
            aid = c.order[j]
            args.append(symbol(aid) if nodes[aid]["name"] is not None else hidden.get(j))
        expr = None
        if all(a is not None for a in args):
            try:
                expr = op.sympy(*args)
            except NotImplementedError:
                expr = None
        if nodes[nid]["name"] is None:
            hidden[k] = expr
            continue
        if expr is None:
            continue
        text, tex = pretty(expr), sp.latex(expr)
        for parent in inputs.get(nid, ()):
            d = sp.diff(expr, symbol(parent))
            out[(parent, nid)] = {"rule": pretty(d), "rule_latex": sp.latex(d),
                                  "expression": text, "expression_latex": tex}
    return out


def _symbolic(sp, e: Explanation, c, nodes, current, vals) -> None:
    """Fill ``e.expression`` and each item's ``symbolic`` from sympy, built over the
    whole graph in topological order (no recursion)."""
    n_ops = sum(1 for op in c.ops if op is not None)
    if n_ops > SYMBOLIC_LIMIT:
        e.symbolic_note = (f"the model has {n_ops} ops, more than {SYMBOLIC_LIMIT}: "
                           "expanding it symbolically could take very long")
        return
    full: list = [None] * len(c.order)
    for k, nid in enumerate(c.order):
        op = c.ops[k]
        d = nodes[nid]
        if op is None:
            full[k] = (sp.Symbol(nid, real=True) if d["kind"] == "param"
                       else _number(sp, vals[k]))
            continue
        try:
            full[k] = op.sympy(*[full[j] for j in c.args[k]])
        except NotImplementedError:
            e.symbolic_note = f"the op '{op.name}' has no sympy form"
            return
    expr = full[c.output]
    symbols = [sp.Symbol(p, real=True) for p in current]
    # expand polynomials only (the chapter's 6b² + 3b + 4wb + 2w); expanding a
    # sigmoid's powers makes it longer, not clearer
    if expr.is_polynomial(*symbols):
        expr, e.expanded = sp.expand(expr), True
    e.expression, e.expression_latex = pretty(expr), sp.latex(expr)
    subs = {sp.Symbol(p, real=True): _number(sp, v) for p, v in current.items()}
    for item in e.items:
        d = sp.diff(expr, sp.Symbol(item.param, real=True))
        if e.expanded:
            d = sp.expand(d)
        value = None
        try:
            value = float(d.subs(subs).evalf())
        except (TypeError, ValueError, ZeroDivisionError):
            value = None
        if value is not None and not math.isfinite(value):
            value = None
        agrees = None
        if value is not None:
            agrees = math.isclose(value, item.gradient, rel_tol=1e-7,
                                  abs_tol=1e-9 * max(1.0, abs(item.gradient)))
        item.symbolic = Symbolic(derivative=pretty(d), derivative_latex=sp.latex(d),
                                 value=value, agrees=agrees)


_SUPER = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def pretty(expr) -> str:
    """sympy's text with the textbook's marks: 6b² + 3b, x·y, a^(1/2).

    >>> import sympy
    >>> b, w = sympy.symbols("b w")
    >>> pretty(6*b**2 + 4*w*b)
    '6b² + 4b·w'
    """
    text = str(expr)
    text = re.sub(r"\*\*(\d+)\b(?!\.)", lambda m: m.group(1).translate(_SUPER), text)
    text = text.replace("**", "^")
    # a number times a name reads as 6b, not 6*b
    text = re.sub(r"(?<![\w.])(\d+)\*([^\W\d]\w*)(?![\w(])", r"\1\2", text)
    return text.replace("*", "·")


def _is_number_text(text: str) -> bool:
    return re.fullmatch(r"-?\d+(/\d+)?(\.\d+)?", text) is not None


# --- text pieces -----------------------------------------------------------------

def _num(v: float) -> str:
    s = format_number(v)
    return f"({s})" if s.startswith("-") else s


def _factor(text: str) -> str:
    """A rule as a factor of a product: parenthesised when it is a sum or negative."""
    if re.search(r"[+/]|(?<!^)-|^-", text) and not _is_number_text(text.lstrip("-")):
        return f"({text})"
    if text.startswith("-"):
        return f"({text})"
    return text


def d(num: str, den: str) -> str:
    """∂num/∂den as text."""
    return f"∂{num}/∂{den}"


def sum_line(item: ParamExplanation, out: str) -> tuple[str, str | None, str, str]:
    """The seed's line in four pieces for one param in paths mode:
    symbols (∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b), rules (y·3 + x·2, None without sympy),
    numbers (9·3 + 18·2) and the total (63)."""
    sym, rules, nums = [], [], []
    have_rules = all(q.rule is not None for path in item.paths for q in path.partials)
    for path in item.paths:
        if not path.partials:
            sym.append(d(out, out))
            rules.append("1")
            nums.append("1")
            continue
        sym.append("·".join(d(q.child, q.parent) for q in path.partials))
        nums.append("·".join(_num(q.value) for q in path.partials))
        if have_rules:
            rules.append("·".join(_factor(q.rule) for q in path.partials))
    return (" + ".join(sym), " + ".join(rules) if have_rules else None,
            " + ".join(nums), format_number(item.total))


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
                prod = "·".join(_num(q.value) for q in path.partials) or "1"
                sy = "·".join(d(q.child, q.parent) for q in path.partials) or d(out, out)
                lines.append(bullet + code(f"{' → '.join(path.nodes)}:  {sy} = {prod} = "
                                           f"{format_number(path.product)}"))
            symbols, rules, numbers, total = sum_line(item, out)
            chain = f"{d(out, p)} = {symbols}"
            if rules is not None and rules != numbers:
                chain += f" = {rules}"
            if numbers != total:
                chain += f" = {numbers}"
            chain += f" = {total}"
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
                nums = " + ".join(f"{_num(a)}·{_num(q.value)}" for _u, a, q in st.terms)
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
    if e.symbolic_note and not e.sympy_missing:
        lines += ["", tr("symbolic_unavailable", lang, why=e.symbolic_note)]
    return lines


def _absent_text(e: Explanation, a: Absent, p: str, lang: str) -> str:
    out = e.output
    route = f"{out} → {a.input}" if a.node == out else f"{out} → … → {a.node} → {a.input}"
    return tr("absent", lang, route=route, node=a.node, input=a.input, p=p,
              expr=_statement_of(e, a.input), dq=_num(a.partial.value))


def _statement_of(e: Explanation, name: str) -> str:
    for (_p, c), q in e.partials.items():
        if c == name and q.expression is not None:
            return q.expression
    return "…"


def _tex_name(name: str) -> str:
    try:
        import sympy

        return sympy.latex(sympy.Symbol(name))
    except ImportError:
        return re.sub(r"([_#%&$])", r"\\\1", name)


def _tex_d(num: str, den: str) -> str:
    return rf"\frac{{\partial {_tex_name(num)}}}{{\partial {_tex_name(den)}}}"


def _tex_num(v: float) -> str:
    s = format_number(v)
    if "e" in s:
        m, _, ex = s.partition("e")
        s = rf"{m} \times 10^{{{int(ex)}}}"
    return f"({s})" if s.startswith("-") else s


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
            sym = " + ".join(r" \cdot ".join(_tex_d(q.child, q.parent) for q in path.partials)
                             or "1" for path in item.paths)
            rows.append(f"{_tex_d(out, p)} &= {sym}")
            if all(q.rule_latex is not None for path in item.paths for q in path.partials):
                rules = " + ".join(r" \cdot ".join(
                    (f"\\left({q.rule_latex}\\right)" if _factor(q.rule or "") != (q.rule or "")
                     else q.rule_latex) for q in path.partials) or "1" for path in item.paths)
                rows.append(f"&= {rules}")
            nums = " + ".join(r" \cdot ".join(_tex_num(q.value) for q in path.partials) or "1"
                              for path in item.paths)
            rows.append(f"&= {nums}")
            rows.append(f"&= {_tex_num(item.total)}")
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
