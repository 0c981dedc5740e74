"""Forward mode beside reverse mode: what each costs on a model.

Reverse mode (``Model.gradients``) gets ∂output/∂p for every param p in one
backward pass. Forward mode (``Model.tangents``) gets ∂node/∂p for one param
p per pass, so it needs one pass per param. This module counts the work of
each on a given model, in multiply-adds: one per operand edge j → k that a
pass must cross, ``dk += ∂k/∂j · dj`` going forwards or ``adj_j += adj_k ·
∂k/∂j`` going backwards. A pass crosses an edge when the edge lies on a path
from its seed to its target: forward mode from p crosses the edges whose
operand depends on p and whose user leads to the target; reverse mode from a
target crosses the edges whose user leads to the target and whose operand
depends on some param. Number literals carry no derivative and are never
counted; neither is the value pass, which both modes need once.

A model has one output, so reverse mode needs one pass and forward mode one
per param. The comparison turns around when there are more outputs than
params. A ``.bp`` model cannot have several outputs, so :func:`cost` also
counts, for the Jacobian of the output's named inputs (``z = x*y``: x and y),
forward mode's passes (one per param, each giving every input's tangent)
against reverse mode's (one per input). With one param and many inputs,
forward mode is the cheap way there.

Counts are made over the compiled flat lists with bit sets, without
recursion.

:func:`explain_forward` writes forward mode out for a learner, as plain data
(a :class:`ForwardExplanation`): from a param p, every named node's tangent
∂node/∂p in the order of the graph, each as the sum over its statement's
named inputs of local partial × the input's tangent, with the numbers; the
output's tangent checked against reverse mode's gradient; and the cost of
both modes on the model.

>>> import graphdsl
>>> c = cost(graphdsl.load("models/linear.bp"))
>>> c.gradient.forward, c.gradient.reverse, c.gradient.cheaper
({'w': 3, 'b': 6}, {'z': 8}, 'reverse')
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from .statements import (ChainSum, Rules, chosen_params, d, factor_rule, passes, statements, tangent_sum,
                         tex_d, tex_number)
from .text import format_number

#: a forward explanation lists at most this many steps per param (the last one
#: is always the output's); the rest are counted
STEP_LIMIT = 200


@dataclass(frozen=True)
class Cost:
    """What it costs to differentiate ``targets`` with respect to ``params``.

    ``forward`` holds the multiply-adds of forward mode's pass from each param,
    ``reverse`` those of reverse mode's pass from each target.
    """

    params: tuple[str, ...]
    targets: tuple[str, ...]
    forward: dict[str, int]
    reverse: dict[str, int]

    @property
    def forward_passes(self) -> int:
        return len(self.params)

    @property
    def reverse_passes(self) -> int:
        return len(self.targets)

    @property
    def forward_total(self) -> int:
        return sum(self.forward.values())

    @property
    def reverse_total(self) -> int:
        return sum(self.reverse.values())

    @property
    def ratio(self) -> float | None:
        """Forward mode's multiply-adds over reverse mode's (None when reverse needs none)."""
        return self.forward_total / self.reverse_total if self.reverse_total else None

    @property
    def cheaper(self) -> str:
        """"reverse", "forward" or "same": the mode that needs fewer multiply-adds."""
        f, r = self.forward_total, self.reverse_total
        return "same" if f == r else "reverse" if r < f else "forward"

    def to_dict(self) -> dict:
        return {"params": list(self.params), "targets": list(self.targets),
                "forward": {"passes": self.forward_passes, "multiply_adds": dict(self.forward),
                            "total": self.forward_total},
                "reverse": {"passes": self.reverse_passes, "multiply_adds": dict(self.reverse),
                            "total": self.reverse_total},
                "ratio": self.ratio, "cheaper": self.cheaper}


@dataclass(frozen=True)
class CostCount:
    """The two comparisons :func:`cost` makes.

    ``gradient``: ∂output/∂p for every param (one target). ``jacobian``: ∂u/∂p
    for each named input u of the output's statement and every param, or None
    when that statement has fewer than two named inputs.
    """

    gradient: Cost
    jacobian: Cost | None

    def to_dict(self) -> dict:
        return {"gradient": self.gradient.to_dict(),
                "jacobian": self.jacobian.to_dict() if self.jacobian else None}


def output_inputs(model) -> list[str]:
    """The named nodes the output's statement reads, in the order it reads them
    (``z = x*y + x`` gives ``["x", "y"]``); empty when the output is a leaf.

    >>> import graphdsl
    >>> output_inputs(graphdsl.load("models/linear.bp"))
    ['x', 'y']
    """
    from .statements import statements

    return list(statements(model).inputs.get(model.output, ()))


def cost(model) -> CostCount:
    """Count forward and reverse mode's multiply-adds on ``model`` (see the module doc).

    Raises nothing for a well-built model; a model with no params gives counts
    of zero.

    >>> import graphdsl
    >>> c = cost(graphdsl.load("models/linear.bp"))
    >>> c.jacobian.targets, c.jacobian.forward_total, c.jacobian.reverse_total
    (('x', 'y'), 6, 6)
    """
    c = model.compiled
    params = tuple(model.params)
    grad = _count(c, params, (model.output,))
    inputs = output_inputs(model)
    jac = _count(c, params, tuple(inputs)) if len(inputs) >= 2 else None
    return CostCount(grad, jac)


def _count(c, params: tuple[str, ...], targets: tuple[str, ...]) -> Cost:
    n = len(c.order)
    ops, args, index = c.ops, c.args, c.index
    # dep[k]: bit i set when node k depends on params[i] (or is it)
    dep = [0] * n
    for i, p in enumerate(params):
        dep[index[p]] |= 1 << i
    for k in range(n):
        if ops[k] is not None:
            d = 0
            for j in args[k]:
                d |= dep[j]
            dep[k] = d
    # reach[k]: bit t set when node k is targets[t] or leads to it
    reach = [0] * n
    for t, name in enumerate(targets):
        reach[index[name]] |= 1 << t
    for k in range(n - 1, -1, -1):
        r = reach[k]
        if r and ops[k] is not None:
            for j in args[k]:
                reach[j] |= r
    fwd = [0] * len(params)
    rev = [0] * len(targets)
    for k in range(n):
        r = reach[k]
        if not r or ops[k] is None:
            continue
        for j in args[k]:
            d = dep[j]
            if d:
                _add_bits(fwd, d)
                _add_bits(rev, r)
    return Cost(params, targets, dict(zip(params, fwd)), dict(zip(targets, rev)))


def _add_bits(counts: list[int], bits: int) -> None:
    """Add one to ``counts[i]`` for every bit i set in ``bits``."""
    while bits:
        low = bits & -bits
        counts[low.bit_length() - 1] += 1
        bits ^= low


# --- forward mode written out ----------------------------------------------------------

@dataclass
class TangentTerm:
    """One term of a tangent's sum: ∂node/∂input (the statement's own local
    partial, ``partial``, with its ``rule`` as text and LaTeX when sympy gives
    one) times ∂input/∂param (the input's tangent, found one step earlier)."""

    input: str
    partial: float
    tangent: float
    rule: str | None = None
    rule_latex: str | None = None

    @property
    def product(self) -> float:
        return self.partial * self.tangent


@dataclass
class TangentStep:
    """∂node/∂param = Σ term.partial · term.tangent over the node's statement
    inputs; ``value`` is the engine's tangent (forward mode's pass), ``total``
    the sum written out, and ``agrees`` says they are equal."""

    node: str
    terms: list[TangentTerm]
    value: float
    statement: str | None = None
    statement_latex: str | None = None

    @property
    def total(self) -> float:
        t = 0.0
        for term in self.terms:
            t += term.product
        return t

    @property
    def agrees(self) -> bool:
        scale = max([abs(t.product) for t in self.terms] + [abs(self.value), 1e-300])
        return math.isclose(self.total, self.value, rel_tol=1e-9, abs_tol=1e-12 * scale)


@dataclass
class ForwardItem:
    """Forward mode from one param: ``steps`` in the order of the graph (the
    computed named nodes that depend on the param, at most
    :data:`STEP_LIMIT`, the output's last; ``omitted`` counts the rest),
    ``independent`` the computed named nodes that do not depend on it (their
    tangent is 0 and the pass skips them), ``tangent`` ∂output/∂param by
    forward mode, ``gradient`` by reverse mode, ``agrees`` whether they are
    equal."""

    param: str
    steps: list[TangentStep]
    independent: list[str]
    tangent: float
    gradient: float
    agrees: bool
    omitted: int = 0
    #: every named node's tangent (params included: 1 for this one, 0 for the others)
    tangents: dict[str, float] = field(default_factory=dict)


@dataclass
class ForwardExplanation:
    """Forward mode written out: one :class:`ForwardItem` per param explained,
    and the :class:`CostCount` of both modes on the model."""

    model: str
    output: str
    values: dict[str, float]
    params: dict[str, float]
    items: list[ForwardItem]
    #: None when not asked for (``explain_forward(..., count=False)``)
    cost: CostCount | None
    sympy_missing: bool = False

    def to_dict(self) -> dict:
        """JSON-ready (``explain --mode forward --format json``)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("cost", "items")}
        d["mode"] = "forward"
        d["items"] = []
        for item in self.items:
            it = asdict(item)
            for st, raw in zip(item.steps, it["steps"]):
                raw["total"] = st.total
                raw["agrees"] = st.agrees
                for term, rt in zip(st.terms, raw["terms"]):
                    rt["product"] = term.product
            d["items"].append(it)
        d["cost"] = self.cost.to_dict() if self.cost is not None else None
        return d


def explain_forward(model, wrt: str | None = None, values: dict[str, float] | None = None,
                    *, step_limit: int = STEP_LIMIT, rules=None,
                    count: bool = True) -> ForwardExplanation:
    """Forward mode from every param (or only ``wrt``) of ``model``, written out.

    ``values`` overrides param values (default: the model's current ones);
    ``count=False`` leaves the cost of both modes out (it depends on the
    graph only, not on the values); ``rules`` is the
    :class:`~graphdsl.statements.Rules` to take the local rules from (a
    report passes one for all its iterations; default: a new one).
    Pure: the model is not changed. Raises :class:`UsageError` when ``wrt``
    is not a param or the model has data columns,
    :class:`~graphdsl.errors.NumericError` when the model cannot be evaluated
    at these values.

    >>> import graphdsl
    >>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = x*y\\nx = 2*w + 3*b\\ny = 2*b + 1")
    >>> item = explain_forward(m, wrt="b").items[0]
    >>> [(s.node, s.value) for s in item.steps], item.tangent, item.gradient, item.agrees
    ([('x', 3.0), ('y', 2.0), ('z', 63.0)], 63.0, 63.0, True)
    >>> [(t.input, t.partial, t.tangent) for t in item.steps[-1].terms]
    [('x', 9.0, 3.0), ('y', 18.0, 2.0)]
    """
    model.refuse_data("explain --mode forward")
    c = model.compiled
    chosen = chosen_params(model, wrt)
    vals, adj, local = passes(model, values)
    named = list(c.named)
    out = model.output
    view = statements(model)
    if rules is None:
        rules = Rules(model)
    items = []
    for p in chosen:
        tan = c.tangents(vals, c.index[p])
        depends = view.reach_down(p)
        steps, independent = [], []
        for n in named:
            if n not in view.inputs:
                continue
            (steps if n in depends else independent).append(n)
        omitted = 0
        if len(steps) > step_limit:
            omitted = len(steps) - step_limit
            keep = steps[:step_limit - 1]
            steps = keep + [out] if out in steps[step_limit - 1:] else steps[:step_limit]
        written = []
        for n in steps:
            r = rules.of(n)
            terms = []
            for i in view.inputs[n]:
                rule = r[i] if r is not None else None
                terms.append(TangentTerm(input=i, partial=local.get((i, n), 0.0),
                                         tangent=tan[c.index[i]],
                                         rule=rule.text if rule is not None else None,
                                         rule_latex=rule.latex if rule is not None else None))
            written.append(TangentStep(node=n, terms=terms, value=tan[c.index[n]],
                                       statement=view.text(n),
                                       statement_latex=r.statement.latex if r is not None else None))
        t_out, g = tan[c.output], adj[c.index[p]]
        scale = max(abs(t_out), abs(g), 1e-300)
        items.append(ForwardItem(
            param=p, steps=written, independent=independent, tangent=t_out, gradient=g,
            agrees=math.isclose(t_out, g, rel_tol=1e-9, abs_tol=1e-12 * scale), omitted=omitted,
            tangents={n: tan[c.index[n]] for n in named}))
    return ForwardExplanation(model=model.name, output=out,
                              values={n: vals[c.index[n]] for n in named},
                              params={p: vals[c.index[p]] for p in model.params}, items=items,
                              cost=cost(model) if count else None,
                              sympy_missing=not rules.available)


# --- writing it out ---------------------------------------------------------------------

def tangent_line(step: TangentStep, wrt: str) -> str:
    """The seed's line: ``∂z/∂w = ∂z/∂x·∂x/∂w + ∂z/∂y·∂y/∂w = y·2 + x·0 = 9·2 + 18·0 = 18``
    (a piece equal to the one before it is left out; see
    :func:`graphdsl.statements.tangent_sum`)."""
    return tangent_sum(step.node, wrt, [(t.input, t.partial, t.tangent, t.rule) for t in step.terms],
                       format_number(step.total)).text()


def format_text(e: ForwardExplanation, lang: str = "en") -> str:
    """Forward mode as plain text (what ``graphdsl explain --mode forward`` prints)."""
    return "\n".join(_lines(e, lang, "text")) + "\n"


def format_markdown(e: ForwardExplanation, lang: str = "en") -> str:
    """Forward mode as Markdown: a heading per param, the sums as code."""
    return "\n".join(_lines(e, lang, "markdown")) + "\n"


def format_item_text(e: ForwardExplanation, item: ForwardItem, lang: str = "en") -> str:
    """One param's section of :func:`format_text` (the HTML report shows one at a time)."""
    return "\n".join(_item_lines(e, item, lang, "text")) + "\n"


def _lines(e: ForwardExplanation, lang: str, style: str) -> list[str]:
    from .i18n import tr

    md = style == "markdown"
    out = e.output
    lines = [("# " if md else "") + tr("fwd_title", lang, model=e.model, out=out), ""]
    values = ", ".join(f"{p} = {format_number(v)}" for p, v in e.params.items())
    lines.append(tr("at_values", lang, values=values or tr("no_params", lang), out=out,
                    value=format_number(e.values[out])))
    if e.sympy_missing:
        lines += ["", tr("no_sympy", lang)]
    lines += ["", tr("fwd_intro", lang)]
    for item in e.items:
        lines += [""] + _item_lines(e, item, lang, style)
    if e.cost is not None:
        lines += ["", ("## " if md else "") + tr("cost_title", lang), ""]
        lines += [("- " if md else "  ") + x for x in cost_lines(e.cost, lang)]
    return lines


def _item_lines(e: ForwardExplanation, item: ForwardItem, lang: str, style: str) -> list[str]:
    from .i18n import tr

    md = style == "markdown"
    out = e.output
    code = (lambda s: f"`{s}`") if md else (lambda s: s)
    ind = "" if md else "  "
    p = item.param
    lines = [("## " if md else "") + tr("fwd_from", lang, p=p), ""]
    seeds = ", ".join(f"{d(q, p)} = {1 if q == p else 0}" for q in e.params)
    lines.append(ind + code(tr("fwd_seed", lang, seeds=seeds)))
    if md:
        lines.append("")
    for k, st in enumerate(item.steps):
        if item.omitted and k == len(item.steps) - 1:
            lines.append(ind + ("- " if md else "") + tr("fwd_omitted", lang, n=item.omitted))
        head = f"{st.node} = {st.statement}" if st.statement else st.node
        line = tangent_line(st, p)
        if md:
            lines.append(f"- {code(head)}: {code(line)}")
        else:
            lines += [ind + head, ind + "  " + line]
        if not st.agrees:
            lines.append(ind + "  " + tr("fwd_step_differs", lang, s=format_number(st.total),
                                         v=format_number(st.value)))
    lines.append("")
    if item.independent:
        many = len(item.independent) > 1
        shown = ", ".join(item.independent[:10]) + (" …" if len(item.independent) > 10 else "")
        lines.append(ind + tr("fwd_independents" if many else "fwd_independent", lang,
                              nodes=shown, p=p))
    lines.append(ind + tr("fwd_agrees" if item.agrees else "fwd_differs", lang, out=out, p=p,
                          t=format_number(item.tangent), g=format_number(item.gradient)))
    return lines


def cost_lines(c: CostCount, lang: str = "en") -> list[str]:
    """The cost of both modes in words, one sentence a line."""
    from .i18n import tr

    g = c.gradient
    if not g.params:
        return [tr("no_params", lang)]
    n = g.forward_passes
    each = ", ".join(f"{p}: {v}" for p, v in g.forward.items())
    lines = [tr("cost_forward", lang, n=n, s="" if n == 1 else "es", each=each,
                total=g.forward_total),
             tr("cost_reverse", lang, n=g.reverse_passes, total=g.reverse_total)]
    key = {"reverse": "cost_reverse_cheaper", "forward": "cost_forward_cheaper",
           "same": "cost_same"}[g.cheaper]
    lines.append(tr(key, lang, r=format_number(g.ratio) if g.ratio is not None else "∞"))
    j = c.jacobian
    if j is not None:
        verdict = tr({"forward": "jac_forward", "reverse": "jac_reverse",
                      "same": "jac_same"}[j.cheaper], lang)
        lines.append(tr("cost_jacobian", lang, out=g.targets[0], inputs=", ".join(j.targets),
                        m=j.reverse_passes, n=j.forward_passes,
                        s="" if j.forward_passes == 1 else "es", ft=j.forward_total,
                        rt=j.reverse_total, verdict=verdict,
                        each=", ".join(f"{t}: {v}" for t, v in j.reverse.items())))
    return lines


def format_latex(e: ForwardExplanation, lang: str = "en") -> str:
    """Forward mode as a LaTeX fragment (one ``align*`` per param; needs amsmath)."""
    from .i18n import tr

    out = e.output
    lines = [f"% {tr('fwd_title', lang, model=e.model, out=out)}"]
    for item in e.items:
        p = item.param
        lines.append(r"\begin{align*}")
        rows = []
        for st in item.steps:
            sym = [rf"{tex_d(st.node, t.input)} {tex_d(t.input, p)}" for t in st.terms]
            rules = None
            if st.terms and all(t.rule_latex is not None for t in st.terms):
                rules = [(rf"\left({t.rule_latex}\right)" if factor_rule(t.rule) != t.rule
                          else t.rule_latex) + rf" \cdot {tex_number(t.tangent)}" for t in st.terms]
            nums = [rf"{tex_number(t.partial)} \cdot {tex_number(t.tangent)}" for t in st.terms]
            chain = ChainSum(tex_d(st.node, p), sym, rules, nums, tex_number(st.total))
            first, *rest = chain.pieces()
            rows.append(f"{chain.head} &= " + " = ".join(" + ".join(x) for x in [first, *rest]))
        lines.append(" \\\\\n".join(rows) or f"{tex_d(out, p)} &= 0")
        lines.append(r"\end{align*}")
        lines.append("% " + tr("fwd_agrees" if item.agrees else "fwd_differs", lang, out=out, p=p,
                               t=format_number(item.tangent), g=format_number(item.gradient)))
    if e.cost is not None:
        lines += ["% " + tr("cost_title", lang)] + ["% " + x for x in cost_lines(e.cost, lang)]
    return "\n".join(lines) + "\n"


FORMATS = {"text": format_text, "markdown": format_markdown, "latex": format_latex}
