"""The textbook's pictures: a model (plus values and gradients) -> graphviz objects.

This module is a pure builder: :func:`build` returns a ``graphviz.Digraph``
and never prints, writes or runs ``dot``. Running ``dot`` and writing files
are in :mod:`graphdsl.dot` (``to_svg``, ``write``, ``write_run``), so
tests can compare ``.source`` byte for byte without ``dot`` installed.

Two kinds of picture of the same DAG:

- the **statement view** (default): one node per named quantity, the
  textbook's figure. Params are rounded boxes (yellow), computed nodes
  ellipses (blue), the output a double ellipse; constants are folded into
  their statement. In the backward view every edge p -> c carries the local
  partial ∂c/∂p as a rule and a number ("∂z/∂x = y = 9").
- the **op view** (``ops=True``): every primitive op (a small circle with
  its symbol) and every constant, as micrograd draws it. A repeated operand
  (``a = x*x``) is two edges.

Three views: ``structure`` (the graph), ``forward`` (values in the nodes) and
``backward`` (values, ∂output/∂node in every node, local partials on the
edges). ``wrt="b"`` highlights every path from the output to b and writes the
sum of the path products under the title (∂z/∂b = 9·3 + 18·2 = 63). A fourth,
``tangent`` (with ``wrt="w"``, a param), is forward mode: every node shows
its tangent ∂node/∂w, every edge its local partial, the edges the tangent
flows along are drawn bold, the nodes that do not depend on w are greyed out
(their tangent is 0), and the output's tangent is written under the title as
the sum over its inputs (∂z/∂w = ∂z/∂x·∂x/∂w + ∂z/∂y·∂y/∂w = 9·2 + 18·0 = 18).
``blank=True`` is the worksheet: the same picture with computed values and
partials left as blanks.

A data model is drawn in plate notation: its data columns and per-sample
nodes in a box labelled with the number of samples. Its forward and backward
views show one sample (``sample=K``, 1-based) inside the box, and the box says
which; outside, every node has its one value and its total ∂output/∂node over
all samples, and a param also what sample K adds to it (the numbers come from
:mod:`graphdsl.onesample`). :func:`epoch_graph` draws one epoch of a fit.

One iteration of a run as a picture (:func:`graphdsl.dot.iteration_svg`
draws it as the SVG text the HTML report embeds)::

    trace = model.solve(target=150)
    graph = render.iteration_graph(model, trace, 0, view="forward")

>>> import graphdsl
>>> m = graphdsl.load("models/linear.bp")
>>> g = build(m, view="backward")
>>> 'label=<∂z/∂x = y = 9>' in g.source
True
"""

from __future__ import annotations

import html
import math
import os

from .errors import UsageError
from .i18n import tr
from .statements import INFIX, Rules, chain_sum, is_number_text, reach, statements, tangent_sum
from .text import did_you_mean, format_number

VIEWS = ("structure", "forward", "backward")
#: every view :func:`build` draws: VIEWS (a run's frames) and forward mode's tangents
ALL_VIEWS = VIEWS + ("tangent",)
FORMATS = ("svg", "png", "pdf", "dot")
#: Past this size (drawn nodes plus labelled edges: dot lays out every edge
#: label as one more node) a render refuses unless forced. Measured with
#: `dot -Tsvg` on generated chains: size 530 ~0.7 s, 900 ~1.5 s, 1050 (op
#: view) ~4 s, 1200 ~6 s, 2100 ~32 s; the time grows faster than linearly.
MAX_SIZE = 800
#: What a worksheet shows where a value or a partial would be.
BLANK = "______"
#: Okabe-Ito colours, told apart by people with colour-blind vision; the path
#: highlight is also drawn bold, so it reads in black and white.
PATH_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: Beyond this many paths the --wrt picture uses one colour and the caption
#: gives the sum only.
MAX_PATHS = len(PATH_COLOURS)

FONT = "Helvetica"
PARAM_STYLE = dict(shape="box", style="rounded,filled", fillcolor="#FFF2CC", color="#B7950B")
CONST_STYLE = dict(shape="box", style="rounded,dashed,filled", fillcolor="#F2F2F2", color="#7F7F7F")
#: a data column: a leaf with one value per sample, drawn as a table's column
DATA_STYLE = dict(shape="note", style="filled", fillcolor="#E2F0D9", color="#548235")
#: the plate (graphviz cluster) around the per-sample nodes of a data model
PLATE_STYLE = dict(style="rounded", color="#548235", fontcolor="#385723", labeljust="r",
                   labelloc="b")
COMPUTED_STYLE = dict(shape="ellipse", style="filled", fillcolor="#DAE8FC", color="#2E5C8A")
OP_STYLE = dict(shape="circle", style="filled", fillcolor="#EEEEEE", color="#555555",
                width="0.35", fixedsize="false", margin="0.02")
GRAD_COLOUR = "#A93226"
#: forward mode's colour (Okabe-Ito blue): the tangents and the edges they flow along
TANGENT_COLOUR = "#0072B2"
GREY_FILL = "#F2F2F2"
DIM_COLOUR = "#9A9A9A"


class PictureTooBig(UsageError):
    """A render that ``dot`` would take seconds to minutes to lay out (exit 2)."""


# --- the numbers -----------------------------------------------------------------

class _Numbers:
    """Values and gradients of every node (hidden ones too), computed once.

    For a data model (``one`` is then a :class:`~graphdsl.onesample.OneSample`)
    they are those of the 1-based ``sample``: a per-sample node's value and
    ∂output/∂node at that sample, every other node's one value and its total
    over all samples."""

    def __init__(self, model, view, values, gradients, wrt=None, sample=None):
        c = model.compiled
        self.c = c
        self.vals = self.adj = self.tan = None
        self.one = self.samples = None
        self.shown_values: dict[str, float] = {}
        self.shown_grads: dict[str, float] = {}
        if view == "structure":
            return
        overrides = dict(model.param_values)
        if values:
            fg = model.flat
            for k, v in values.items():
                if k in fg.pos and fg.kind[fg.pos[k]] in ("param", "const"):
                    overrides[k] = v
        if model.data_names:
            self._one_sample(model, view, values, gradients, overrides, sample)
            return
        self.vals = c.forward(overrides)
        self.shown_values = {n: self.vals[c.index[n]] for n in c.named}
        if values:
            self.shown_values.update({k: v for k, v in values.items() if k in self.shown_values})
        if view == "backward":
            self.adj = c.backward(self.vals)
            self.shown_grads = {n: self.adj[c.index[n]] for n in c.named}
            if gradients:
                self.shown_grads.update(
                    {k: v for k, v in gradients.items() if k in self.shown_grads})
        if view == "tangent":
            self.tan = c.tangents(self.vals, c.index[wrt])

    def _one_sample(self, model, view, values, gradients, overrides, sample):
        from .onesample import SampleView

        self.samples = SampleView(model, params=overrides)
        self.one = one = self.samples.at(self.samples.check_sample(1 if sample is None else sample))
        self.vals = one.value_at
        self.shown_values = dict(one.values)
        if view == "backward":
            self.adj = one.adjoint_at
            self.shown_grads = dict(one.adjoints)
        # a fit's row gives the single-number nodes (never a per-sample one)
        for given, shown in ((values, self.shown_values), (gradients, self.shown_grads)):
            for k, v in (given or {}).items():
                if k in shown and k not in one.per_sample:
                    shown[k] = v

    def edge_partials(self) -> dict:
        """The statement view's edge labels, (parent, child) -> ∂child/∂parent
        (at the sample, for a data model: a reduction's own partial is its weight)."""
        return self.one.partials if self.one is not None else self.c.local_partials(self.vals)

    def op_partials(self, k) -> list:
        """The local partials of the op at position ``k``, one per operand."""
        if self.one is not None:
            return self.samples.local_partials_at(self.one, k)
        return self.c.ops[k].partials(*[self.vals[j] for j in self.c.args[k]], self.vals[k])

    def per(self, k) -> bool:
        """Whether the node at position ``k`` has one value per sample."""
        return self.one is not None and bool(self.one.is_per[k])

    def weight(self, child):
        """The one weight of the reductions inside the statement of ``child``
        (1/n for ``mean``), or None when it has none or several different ones."""
        c = self.c
        fg = c.flat
        found = set()
        stack = [c.index[child]]
        while stack:
            k = stack.pop()
            op = c.ops[k]
            if op is None:
                continue
            if op.reduces:
                found.add(op.weight(self.one.n))
            stack.extend(j for j in c.args[k] if fg.name[j] is None and fg.kind[j] == "op")
        return found.pop() if len(found) == 1 else None

    def value(self, node):
        if node in self.shown_values:
            return self.shown_values[node]
        return self.vals[self.c.index[node]]

    def grad(self, node):
        if node in self.shown_grads:
            return self.shown_grads[node]
        return self.adj[self.c.index[node]]

    def tangent(self, node):
        return self.tan[self.c.index[node]]


# --- the graphs the views draw ----------------------------------------------------------

def _neighbourhood(parents, children, focus, depth) -> set:
    """``focus`` and what lies up to ``depth`` steps above and below it."""
    keep = {focus}
    for links in (parents, children):
        frontier = [focus]
        for _ in range(depth):
            nxt = []
            for n in frontier:
                for m in links.get(n, ()):
                    if m not in keep:
                        keep.add(m)
                        nxt.append(m)
            frontier = nxt
    return keep


# --- labels --------------------------------------------------------------------------

def _h(text) -> str:
    """The one place text is escaped for graphviz's HTML-like labels."""
    return html.escape(str(text), quote=False)


def _html(*lines) -> str:
    return "<" + "<BR/>".join(x for x in lines if x) + ">"


def _grad_line(out, node, text) -> str:
    return f'<FONT COLOR="{GRAD_COLOUR}">∂{_h(out)}/∂{_h(node)} = {_h(text)}</FONT>'


def _tangent_line(node, wrt, text, dim=False) -> str:
    return (f'<FONT COLOR="{DIM_COLOUR if dim else TANGENT_COLOUR}">'
            f'∂{_h(node)}/∂{_h(wrt)} = {_h(text)}</FONT>')


def _check_name(model, name, what) -> str:
    fg = model.flat
    if name in fg.pos and fg.name[fg.pos[name]] is not None:
        return name

    named = [n for n in model.compiled.named]
    raise UsageError(f"{what}: '{name}' is not a named node of the model",
                     hint=did_you_mean(name, named) or "named nodes: " + ", ".join(named))


# --- the builder ---------------------------------------------------------------------

def build(model, view: str = "structure", *, ops: bool = False, wrt: str | None = None,
          blank: bool = False, values: dict | None = None, gradients: dict | None = None,
          focus: str | None = None, depth: int = 2, title: str | None = None,
          force: bool = False, max_size: int = MAX_SIZE, lang: str = "en",
          sample: int | None = None):
    """The picture of ``model`` as a ``graphviz.Digraph`` (nothing is written or run).

    ``view`` is ``structure``, ``forward``, ``backward`` or ``tangent``
    (forward mode from the param ``wrt``); ``ops`` draws the op view; ``wrt``
    highlights every path from the output to that node;
    ``blank`` leaves computed values and partials as blanks (a worksheet);
    ``values``/``gradients`` (named node -> number, e.g. an Iteration's) give
    the numbers to show, else the model's current params are used; ``focus``
    and ``depth`` draw only the nodes up to ``depth`` steps above and below
    ``focus``; ``title`` replaces the caption's bold head (newlines split it);
    ``lang`` ("en" or "zh") is the language of the words in the title and
    caption (see :mod:`graphdsl.i18n`; the maths stays as it is, and "en"
    gives the same bytes as before there was a choice).

    A data model is drawn in plate notation: its per-sample nodes in a box.
    The forward and backward views show the 1-based ``sample`` (1 by
    default, the CSV's first data row) inside the box: its values, and
    ∂output/∂node at that sample; every node outside shows its one value and
    its total over all samples, and a param also what this sample adds to
    it. The structure view shows no numbers and ignores ``sample``.

    Raises :class:`UsageError` for an unknown view or node, a tangent view
    without a param or named constant as ``wrt`` (or of a data model), a
    ``sample`` the data does not have (or any but 1 for a model without
    data columns), or when the
    picture would be bigger than ``max_size`` (nodes plus labelled edges) unless ``force``, and
    :class:`NumericError` when the model cannot be evaluated at these values.

    >>> import graphdsl
    >>> g = build(graphdsl.loads("param x = 3\\na = x*x"), "forward", ops=True)
    >>> g.source.count("x -> ")
    2
    """
    if view not in ALL_VIEWS:
        raise UsageError(f"unknown view '{view}'", hint="use one of: " + ", ".join(ALL_VIEWS))
    if depth is None or depth < 0:
        raise UsageError(f"--depth must be 0 or more, got {depth}")
    if focus is not None:
        focus = _check_name(model, focus, "--focus")
    if wrt is not None:
        wrt = _check_name(model, wrt, "--wrt")
    if view == "tangent":
        _check_seed(model, wrt)
    _check_sample(model, view, sample)
    import graphviz

    nums = _Numbers(model, view, values, gradients, wrt, sample)
    nums.lang = lang if lang in ("en", "zh") else "en"  # the drawing helpers' words
    g = graphviz.Digraph(name=_graph_name(model.name))
    g.attr("graph", rankdir="LR", fontname=FONT, nodesep="0.45", ranksep="0.9",
           labelloc="t", labeljust="l", fontsize="13")
    g.attr("node", fontname=FONT, fontsize="13", penwidth="1.2")
    g.attr("edge", fontname=FONT, fontsize="11", color="#444444", arrowsize="0.8")
    draw = _draw_ops if ops else _draw_statements
    caption = draw(g, model, view, nums, wrt=wrt, blank=blank, focus=focus, depth=depth,
                   force=force, max_size=max_size)
    head = title if title is not None else _default_title(model, view, nums, ops, nums.lang)
    # each line ends in a left-aligned break: labeljust alone centres the lines
    first, *rest = head.split("\n")
    lines = [f"<B>{_h(first)}</B>"] + [_h(t) for t in rest] + ([caption] if caption else [])
    g.attr("graph", label="<" + "".join(x + '<BR ALIGN="LEFT"/>' for x in lines) + ">")
    return g


def _check_sample(model, view, sample) -> None:
    """A sample is a data model's, and forward mode is not drawn over samples."""
    if not model.data_names:
        if sample not in (None, 1):        # 1: a fit's frames of a model without data
            from .onesample import sample_of

            sample_of(model, sample)
        return
    if view == "tangent":
        raise UsageError("--view tangent is not available for a data model: forward mode "
                         f"from a param would need one pass per sample ({model.name} has one "
                         f"value per sample for {', '.join(model.data_names)})",
                         hint="--view backward --sample K shows sample K's partials, and "
                              "`graphdsl explain` the chain rule")


def _check_seed(model, wrt) -> None:
    """The tangent view starts from a param (or a named constant): ``wrt``."""
    params = ", ".join(model.params) or "the model has no param"
    if wrt is None:
        raise UsageError("--view tangent needs --wrt PARAM: the param forward mode starts from",
                         hint=f"for example --wrt {model.params[0]}" if model.params else params)
    model.check_seed(wrt, "--view tangent --wrt")


def _default_title(model, view, nums, ops, lang="en") -> str:
    text = (f"{os.path.basename(model.name)} · {tr('v_' + view, lang)}"
            + (" · " + tr("v_ops", lang) if ops else ""))
    if view != "structure" and model.params:
        text += " · " + ", ".join(f"{p} = {format_number(nums.value(p))}" for p in model.params)
    return text


def _too_big(n_nodes, n_edges, n_labels, max_size, ops):
    hint = ["draw a part with --focus NODE --depth K"]
    if ops:
        hint.append("drop --ops (the statement view is smaller)")
    hint.append("or pass --force to wait for dot anyway")
    return PictureTooBig(
        f"the picture would have {n_nodes} nodes and {n_edges} edges ({n_labels} labelled): "
        f"past a size of {max_size} (nodes + labelled edges) graphviz's dot takes "
        "seconds to minutes to lay it out",
        hint=", ".join(hint))


def _node_label(name, formula, value_text, grad_text, out, extra=()) -> str:
    """A statement-view node: 'w = 3' for a leaf; 'x = 2·w + 3·b' over its
    value for a computed node; the gradient under both, then the ``extra``
    lines (HTML-like label markup)."""
    if formula is None:
        lines = [f"<B>{_h(name)}</B>" + (f" = {_h(value_text)}" if value_text is not None else "")]
    else:
        lines = [f"<B>{_h(name)}</B> = {_h(formula)}"]
        if value_text is not None:
            lines.append(f'<FONT POINT-SIZE="15"><B>{_h(value_text)}</B></FONT>')
    if grad_text is not None:
        lines.append(_grad_line(out, name, grad_text))
    return _html(*lines, *extra)


def _draw_statements(g, model, view, nums, *, wrt, blank, focus, depth, force, max_size):
    st = statements(model)
    out = model.output
    parents = st.inputs
    children = st.users
    shown = list(st.named)
    if focus is not None:
        keep = _neighbourhood(parents, children, focus, depth)
        shown = [n for n in st.named if n in keep]
    shown_set = set(shown)
    n_edges = sum(1 for ch in shown for p in parents.get(ch, ()) if p in shown_set)
    n_labels = n_edges if view in ("backward", "tangent") else 0
    if len(shown) + n_labels > max_size and not force:
        raise _too_big(len(shown), n_edges, n_labels, max_size, False)

    # which edges lie on a path output -> wrt, and in which colours
    colours: dict[tuple[str, str], list[str]] = {}
    paths = None
    tangent = view == "tangent"
    # forward mode: the nodes whose tangent can be other than 0
    moved = st.reach_down(wrt) if tangent else set()
    if wrt is not None and not tangent:
        paths = st.paths(out, wrt, MAX_PATHS)
        if paths is None:
            down = st.reach_down(wrt)
            up = st.reach_up(out)
            for ch in st.named:
                for p in parents.get(ch, ()):
                    if p in down and ch in up:
                        colours[(p, ch)] = [PATH_COLOURS[0]]
        else:
            for i, path in enumerate(paths):
                for ch, p in zip(path, path[1:]):
                    colours.setdefault((p, ch), []).append(PATH_COLOURS[i])

    values_on = view in ("forward", "backward", "tangent")
    grads_on = view == "backward"
    edges_on = grads_on or tangent     # the local partials on the edges
    partials = nums.edge_partials() if edges_on else {}
    rules: dict[tuple[str, str], str] = {}
    if edges_on and not blank:
        maker = Rules(model)
        if maker.available:
            for ch in shown:
                found = maker.of(ch) if ch in parents else None
                if found is not None:
                    for p in parents[ch]:
                        rules[(p, ch)] = found[p].text

    params = [p for p in model.params if p in shown_set]
    # a data model's per-sample nodes go in a plate: a box labelled with the number of samples
    plate = _plate(model, nums.lang, nums.one, out if grads_on else None) \
        if model.data_names else None
    per = model.samples.per if plate is not None else None
    for n in shown:
        kind = st.kind[n]
        computed = kind == "op"
        formula = st.text(n) if computed else None
        value_text = grad_text = None
        if values_on:
            value_text = BLANK if (blank and computed) else format_number(nums.value(n))
        elif kind == "const":
            value_text = format_number(st.flat.value[st.flat.pos[n]])
        if grads_on:
            grad_text = BLANK if blank else format_number(nums.grad(n))
        style = dict(PARAM_STYLE if kind == "param" else CONST_STYLE if kind == "const"
                     else DATA_STYLE if kind == "data" else COMPUTED_STYLE)
        if n == out:
            style["peripheries"] = "2"
        if n == wrt:
            style["penwidth"] = "3"
        extra = []
        if grads_on and kind == "param" and nums.one is not None:
            extra.append(_adds_line(nums, n, blank))
        if tangent:
            dim = n not in moved
            if dim:
                style.update(fillcolor=GREY_FILL, color=DIM_COLOUR, fontcolor=DIM_COLOUR)
            t = BLANK if (blank and computed and not dim) else format_number(nums.tangent(n))
            extra.append(_tangent_line(n, wrt, t, dim))
        label = _node_label(n, formula, value_text, grad_text, out, extra)
        inside = plate is not None and per[st.flat.pos[n]]
        (plate if inside else g).node(n, label, **style)
        for p in parents.get(n, ()):
            if p not in shown_set:
                continue
            attrs = {}
            if edges_on:
                weight = (nums.weight(n) if nums.one is not None and per[st.flat.pos[p]]
                          and not per[st.flat.pos[n]] else None)
                text = _partial_text(p, n, partials.get((p, n)), rules.get((p, n)), blank,
                                     weight)
                # a worksheet's blank sits on its baseline: pad it off the edge line
                attrs["label"] = (f'<<TABLE BORDER="0" CELLPADDING="4"><TR><TD>{text}</TD></TR></TABLE>>'
                                  if blank else _html(text))
            if tangent:
                # the tangent flows along the edges out of every node that depends on wrt
                if p in moved:
                    attrs.update(color=TANGENT_COLOUR, penwidth="2.5", fontcolor=TANGENT_COLOUR)
                else:
                    attrs.update(color=DIM_COLOUR, fontcolor=DIM_COLOUR, style="dashed")
            elif wrt is not None:
                if (p, n) in colours:
                    attrs.update(color=":".join(colours[(p, n)]), penwidth="2.5",
                                 fontcolor=colours[(p, n)][0])
                else:
                    attrs.update(color=DIM_COLOUR, fontcolor=DIM_COLOUR, style="dashed")
            g.edge(p, n, **attrs)
    if plate is not None:
        g.subgraph(plate)
    if focus is not None:
        _stubs(g, shown, parents, children, shown_set, nums.lang)
    _ranks(g, params, out if out in shown_set else None)
    if wrt is None:
        return None
    if tangent:
        return _tangent_caption(model, wrt, st, partials, rules, nums, blank)
    return _wrt_caption(model, wrt, paths, partials, nums, view, blank)


def _plate(model, lang, one=None, out=None):
    """The cluster a data model's per-sample nodes are drawn in, labelled with
    the number of samples when the data is known (inline or given); with
    ``one`` (a OneSample), labelled with the sample its numbers are, and with
    ``out`` too, saying its gradients are that sample's."""
    import graphviz

    from .errors import GraphdslError

    plate = graphviz.Digraph(name="cluster_samples")
    if one is not None:
        key = "v_plate_k_grad" if out is not None else "v_plate_k"
        plate.attr("graph", label=_html(_h(tr(key, lang, k=one.row, n=one.n, out=out))),
                   **PLATE_STYLE)
        return plate
    try:
        n = model.data.n
    except GraphdslError:   # the structure needs no data: the plate says "each sample"
        n = None
    text = (tr("v_plate", lang) if n is None else tr("v_plate_one", lang) if n == 1
            else tr("v_plate_n", lang, n=n))
    plate.attr("graph", label=_html(_h(text)), **PLATE_STYLE)
    return plate


def _adds_line(nums, param, blank) -> str:
    """Under a param's total ∂out/∂param, smaller: what the drawn sample adds to it."""
    v = BLANK if blank else format_number(nums.one.contributions.get(param, 0.0))
    return (f'<FONT POINT-SIZE="10" COLOR="{GRAD_COLOUR}">'
            f'{_h(tr("v_sample_adds", nums.lang, k=nums.one.row, v=v))}</FONT>')


def _weight_text(w) -> str:
    """A reduction's weight as the textbook writes it: 1/100 for mean over 100 samples."""
    if 0 < w < 1 and abs(1 / w - round(1 / w)) < 1e-9 * (1 / w):
        return f"1/{round(1 / w)}"
    return format_number(w)


def _partial_text(p, ch, number, rule, blank, weight=None) -> str:
    """An edge's label: ∂ch/∂p, its rule and its number; ``weight``, when the
    edge goes into a reduction, written as its own factor (∂loss/∂pred = 1/100 · …)."""
    head = f"∂{_h(ch)}/∂{_h(p)} = "
    if blank:
        return head + BLANK
    num = format_number(number) if number is not None else "?"
    if weight and weight != 1 and number is not None:
        rest = number / weight
        if rest == 1.0:
            return head + f"{_h(_weight_text(weight))} = {_h(num)}"
        factor = format_number(rest)
        if rest < 0:    # a negative factor in parentheses, as the chain rule writes it
            factor = f"({factor})"
        return head + f"{_h(_weight_text(weight))} · {_h(factor)} = {_h(num)}"
    if rule is None or rule == num or len(rule) > 40 or is_number_text(rule):
        return head + _h(num)  # a constant rule: the number says it all
    try:
        float(rule)
        return head + _h(num)
    except ValueError:
        return head + f"{_h(rule)} = {_h(num)}"


def _wrt_caption(model, wrt, paths, partials, nums, view, blank) -> str:
    """The chain rule under the title, written by the statement view's one
    writer (:func:`graphdsl.statements.chain_sum`), each path's term in its colour."""
    out = model.output
    total = None if view != "backward" else (
        BLANK if blank else format_number(nums.adj[nums.c.index[wrt]] if nums.adj else 0.0))
    head = f"∂{_h(out)}/∂{_h(wrt)}"
    if wrt == out:
        return head + " = 1"
    if nums.one is not None and paths:
        return _sample_wrt_caption(model, wrt, paths, partials, nums, view, blank)
    if paths is None:
        return head + (f" = {total}" if total else "") + \
            _h(tr("v_many_paths", nums.lang, n=MAX_PATHS))
    if not paths:
        return head + tr("v_no_path", nums.lang, p=_h(wrt), out=_h(out))
    # the numbers are shown in the backward view only (a worksheet leaves them blank)
    line = chain_sum(out, wrt, paths, lambda p, c: partials[(p, c)] if partials and not blank
                     else BLANK, total=total or "")
    return line.text(numbers=view == "backward", rules=False, plain=_h,
                     term=lambda i, t: f'<FONT COLOR="{PATH_COLOURS[i]}">{_h(t)}</FONT>')


def _sample_wrt_caption(model, wrt, paths, partials, nums, view, blank) -> str:
    """The chain rule of the drawn sample under the title: the paths through
    its own copies of the per-sample nodes, whose products add up to what that
    sample gives ∂out/∂wrt (a path that meets no per-sample node, a penalty
    ``+ w^2``, is the part through no sample: it is counted once, on the total's
    line); for a single-number ``wrt`` in the backward view the total over all
    samples on a line of its own. When the paths cannot be written edge by edge
    (an edge mixes this sample's part with a total over all samples), the
    sample's part is given as a number and `explain --sample K` is named."""
    out, one = model.output, nums.one
    numbers = view == "backward"
    per = set(one.per_sample)
    kept = [i for i, path in enumerate(paths) if per.intersection(path)]
    true = one.adjoints[wrt] if wrt in per else one.contributions.get(wrt, 0.0)
    terms = []
    for i in kept:
        term = 1.0
        for ch, p in zip(paths[i], paths[i][1:]):
            term *= one.partials[(p, ch)]
        terms.append(term)
    head = f"∂{_h(out)}/∂{_h(wrt)}"
    v = BLANK if blank else format_number(true)
    if not kept and true == 0.0:
        text = head + (f" = {v}" if numbers else "") + _h(
            tr("v_wrt_sample_none", nums.lang, k=one.row, p=wrt))
        return _sample_total_line(text, model, wrt, nums, numbers, blank)
    if not kept or not math.isclose(math.fsum(terms), true, rel_tol=1e-9,
                                    abs_tol=1e-12 * max([1.0] + [abs(t) for t in terms])):
        text = head + (f" = {v}" if numbers else "") + _h(
            tr("v_wrt_sample_given", nums.lang, k=one.row))
        return _sample_total_line(text, model, wrt, nums, numbers, blank)
    total = (BLANK if blank else format_number(math.fsum(terms))) if numbers else ""
    line = chain_sum(out, wrt, [paths[i] for i in kept],
                     lambda p, c: one.partials[(p, c)] if numbers and not blank else BLANK,
                     total=total)
    text = line.text(numbers=numbers, rules=False, plain=_h,
                     term=lambda i, t: f'<FONT COLOR="{PATH_COLOURS[kept[i]]}">{_h(t)}</FONT>')
    text += _h(tr("v_wrt_sample", nums.lang, k=one.row))
    return _sample_total_line(text, model, wrt, nums, numbers, blank)


def _sample_total_line(text, model, wrt, nums, numbers, blank) -> str:
    """The caption ``text`` and, for a single-number ``wrt`` in the backward
    view, the total over all samples on a line of its own."""
    out, one = model.output, nums.one
    if numbers and wrt not in one.per_sample:
        v = BLANK if blank else format_number(nums.grad(wrt))
        direct = one.direct.get(wrt, 0.0)
        # a part through no sample (a penalty + w^2) is in no sample's chain rule:
        # the total has it once
        words = (tr("v_wrt_total_direct", nums.lang, n=one.n, out=out, p=wrt, v=v,
                    d=BLANK if blank else format_number(direct)) if direct
                 else tr("v_wrt_total", nums.lang, n=one.n, out=out, p=wrt, v=v))
        text += '<BR ALIGN="LEFT"/>' + _h(words)
    return text


def _tangent_caption(model, wrt, st, partials, rules, nums, blank) -> str:
    """Forward mode's line for the output under the title, written by the statement
    view's writer (:func:`graphdsl.statements.tangent_sum`): ∂out/∂wrt as the sum
    over the output's inputs of local partial × tangent (a worksheet: symbols only)."""
    out = model.output
    inputs = st.inputs.get(out)
    if not inputs:
        return f"∂{_h(out)}/∂{_h(wrt)} = {format_number(nums.tangent(out))}"
    line = tangent_sum(out, wrt, [(i, partials.get((i, out), 0.0), nums.tangent(i),
                                   rules.get((i, out))) for i in inputs],
                       format_number(nums.tangent(out)))
    if blank:
        return _h(line.text(rules=False, numbers=False) + " = " + BLANK)
    return _h(line.text())


def _stubs(g, shown, parents, children, shown_set, lang="en"):
    """Mark where a focused picture was cut: '… 2 more inputs', '… used by 1 more'."""
    for n in shown:
        up = [p for p in parents.get(n, ()) if p not in shown_set]
        down = [c for c in children.get(n, ()) if c not in shown_set]
        if up:
            g.node(_id(n) + "#in", tr("v_more_inputs" if len(up) > 1 else "v_more_input", lang, n=len(up)), shape="plaintext", fontcolor=DIM_COLOUR)
            g.edge(_id(n) + "#in", _id(n), style="dashed", color=DIM_COLOUR)
        if down:
            g.node(_id(n) + "#out", tr("v_used_by", lang, n=len(down)), shape="plaintext", fontcolor=DIM_COLOUR)
            g.edge(_id(n), _id(n) + "#out", style="dashed", color=DIM_COLOUR)


def _ranks(g, params, output):
    """Params on the left, the output on the right, as the textbook draws them."""
    if params:
        with g.subgraph(name="params") as s:
            s.attr(rank="min")
            for p in params:
                s.node(p)
    if output is not None:
        with g.subgraph(name="output") as s:
            s.attr(rank="max")
            s.node(output)


def _draw_ops(g, model, view, nums, *, wrt, blank, focus, depth, force, max_size):
    c = model.compiled
    fg = c.flat
    st = statements(model)
    out = model.output
    order = c.order
    pos = fg.pos
    parents = {n: [order[j] for j in fg.args[pos[n]]] for n in order if fg.kind[pos[n]] == "op"}
    children: dict[str, list[str]] = {}
    for n, ps in parents.items():
        for p in ps:
            if n not in children.setdefault(p, []):
                children[p].append(n)
    shown = list(order)
    if focus is not None:
        keep = _neighbourhood(parents, children, focus, depth)
        shown = [n for n in order if n in keep]
    shown_set = set(shown)
    n_ops = sum(1 for n in shown if fg.kind[pos[n]] == "op")
    n_args = sum(1 for n in shown for p in parents.get(n, ()) if p in shown_set)
    n_labels = n_args if view in ("backward", "tangent") else 0
    if len(shown) + n_ops + n_labels > max_size and not force:
        raise _too_big(len(shown) + n_ops, n_ops + n_args, n_labels, max_size, True)

    on_path = set()
    tangent = view == "tangent"
    moved = reach(children, wrt) if tangent else set()
    if wrt is not None and not tangent:
        down = reach(children, wrt)
        up = reach(parents, out)
        on_path = down & up
    hot = {"color": PATH_COLOURS[0], "penwidth": "2.5", "fontcolor": PATH_COLOURS[0]}
    cold = {"color": DIM_COLOUR, "fontcolor": DIM_COLOUR, "style": "dashed"}
    flow = {"color": TANGENT_COLOUR, "penwidth": "2.5", "fontcolor": TANGENT_COLOUR}

    values_on = view in ("forward", "backward", "tangent")
    grads_on = view == "backward"
    edges_on = grads_on or tangent
    # a data model's numbers are one sample's: its per-sample nodes go in a plate
    # that says which (the structure's op view draws no plate)
    plate = _plate(model, nums.lang, nums.one, out if grads_on else None) \
        if nums.one is not None else None
    for n in shown:
        k = pos[n]
        kind = fg.kind[k]
        named = fg.name[k] is not None
        if kind == "const" and not named:
            g.node(_id(n), _html(_h(format_number(fg.value[k]))), **CONST_STYLE,
                   fontsize="11", height="0.3", width="0.3")
            continue
        head = f"<B>{_h(n)}</B>" if named else (
            f'<FONT COLOR="#555555"><I>{_h(st.hidden_text(n, 18))}</I></FONT>')
        lines = [head]
        if values_on or kind == "const":
            computed = kind == "op"
            lines.append(BLANK if (blank and computed and values_on)
                         else format_number(nums.value(n) if values_on else fg.value[k]))
        if grads_on:
            lines.append(_grad_line(out, n if named else f"({st.hidden_text(n, 18)})",
                                    BLANK if blank else format_number(nums.grad(n))))
        dim = tangent and n not in moved
        if tangent:
            lines.append(_tangent_line(n if named else f"({st.hidden_text(n, 18)})", wrt,
                                       BLANK if (blank and kind == "op" and not dim)
                                       else format_number(nums.tangent(n)), dim))
        style = dict(PARAM_STYLE if kind == "param" else CONST_STYLE if kind == "const"
                     else dict(COMPUTED_STYLE, shape="box", style="rounded,filled"))
        if not named and kind == "op":
            style["fillcolor"] = "#EEF4FC"
        if n == out:
            style["peripheries"] = "2"
        if n == wrt:
            style["penwidth"] = "3"
        if dim:
            style.update(fillcolor=GREY_FILL, color=DIM_COLOUR, fontcolor=DIM_COLOUR)
        if plate is not None and kind == "param" and grads_on:
            lines.append(_adds_line(nums, n, blank))
        if plate is not None and kind == "data":
            style = dict(DATA_STYLE, **({"penwidth": "3"} if n == wrt else {}))
        into = plate if nums.per(k) else g
        into.node(_id(n), _html(*lines), **style)
        if kind != "op":
            continue
        op = c.ops[k]
        op_id = _id(n) + "#op"
        into.node(op_id, _html(_h(_op_symbol(op))), **OP_STYLE)
        if tangent:
            g.edge(op_id, _id(n), arrowsize="0.6", **(flow if n in moved else cold))
        else:
            g.edge(op_id, _id(n), arrowsize="0.6",
                   **(hot if n in on_path and n != wrt else cold if wrt is not None else {}))
        partial = None
        if edges_on and not blank:
            partial = nums.op_partials(k)
        for i, a in enumerate(parents[n]):
            if a not in shown_set:
                continue
            attrs = {}
            if edges_on:
                attrs["label"] = _html("∂ = " + (BLANK if blank else _h(format_number(partial[i]))))
            if tangent:
                attrs.update(flow if a in moved else cold)
            elif wrt is not None:
                attrs.update(hot if (a in on_path and n in on_path) else cold)
            g.edge(_id(a), op_id, **attrs)
    if plate is not None:
        g.subgraph(plate)
    if focus is not None:
        _stubs(g, shown, parents, children, shown_set, nums.lang)
    params = [p for p in model.params if p in shown_set]
    _ranks(g, params, out if out in shown_set else None)
    if wrt is None:
        return None
    if tangent:
        return (f"∂{_h(out)}/∂{_h(wrt)} = "
                + (BLANK if blank else _h(format_number(nums.tangent(out))))
                + _h(tr("v_tangent_along", nums.lang, p=wrt)))
    total = format_number(nums.adj[c.index[wrt]]) if nums.adj and not blank else BLANK
    return f"∂{_h(out)}/∂{_h(wrt)}" + (f" = {total}" if view == "backward" else "") + \
        _h(tr("v_along", nums.lang))


def _id(n: str) -> str:
    """The DOT id of a node. Hidden nodes are "%1", "%2"... in the graph, but
    graphviz names its anonymous objects "%N" itself (an SVG <title> then shows
    another number), so they are drawn as "#1", "#2"...; a user's name can
    never start with "#"."""
    return "#" + n[1:] if n.startswith("%") else n


def _op_symbol(op) -> str:
    # "×" reads better than a centred dot inside a small circle
    if op.name == "mul":
        return "×"
    sym = INFIX.get(op.name, (None,))[0]
    return sym or op.display()


# --- iterations of a run -------------------------------------------------------------

def iteration_graph(model, trace, i: int, view: str = "backward", **options):
    """The picture of row ``i`` of a run's trace (values and gradients of that row).

    Raises :class:`UsageError` when the trace has no row ``i``.

    >>> import graphdsl
    >>> m = graphdsl.load("models/linear.bp")
    >>> t = m.solve(target=150)
    >>> "iteration 1" in iteration_graph(m, t, 1).source
    True
    """
    if not -len(trace.iterations) <= i < len(trace.iterations):
        raise UsageError(f"the run has no iteration {i} (it has {len(trace.iterations)})")
    it = trace.iterations[i]
    lang = options.get("lang", "en")
    extra = []
    if it.error is not None and view != "structure":
        extra.append(tr("v_error", lang, e=format_number(it.error)))
    steps = None
    if it.steps and view == "backward":
        # what the run does next with these gradients, so frames can be followed
        steps = tr("v_next_step", lang) + ", ".join(
            f"{p} ← {format_number(it.values[p])} − {format_number(d)}"
            for p, d in it.steps.items())
    return _row_graph(model, tr("v_iteration", lang, i=it.iteration), it.values, it.gradients,
                      view, extra, steps, options)


def epoch_graph(model, fit_trace, i: int, view: str = "backward", sample: int = 1, **options):
    """The picture of row ``i`` of a fit (``fit_trace.epochs[i]``, negative
    from the end): the params of that epoch, the 1-based ``sample`` inside the
    plate, and on the params the totals over all samples; the title names
    the epoch and its loss. ``options`` are :func:`build`'s.

    Raises :class:`UsageError` when the fit has no row ``i`` or the data no
    such sample.

    >>> import graphdsl
    >>> m = graphdsl.load("models/xor.bp")
    >>> t = m.fit(epochs=3)
    >>> "epoch 2" in epoch_graph(m, t, 2, sample=4).source
    True
    """
    epochs = fit_trace.epochs
    if not -len(epochs) <= i < len(epochs):
        raise UsageError(f"the fit has no epoch row {i} (it has {len(epochs)})")
    ep = epochs[i]
    lang = options.get("lang", "en")
    extra = [] if view == "structure" else [
        f"{fit_trace.output} = {format_number(ep.loss)}"]
    return _row_graph(model, tr("v_epoch", lang, i=ep.epoch), ep.values, ep.gradients, view,
                      extra, None, dict(options, sample=sample))


def _row_graph(model, row, values, gradients, view, extra, below, options):
    """One row of a run or a fit drawn: the title names the model, the row, the
    view, the params' values and ``extra``; ``below`` is a second title line."""
    title = options.pop("title", None)
    if title is None:
        lang = options.get("lang", "en")
        shown = ", ".join(f"{p} = {format_number(values[p])}" for p in model.params
                          if p in values)
        title = f"{os.path.basename(model.name)} · {row} · {tr('v_' + view, lang)}"
        if view != "structure" and shown:
            title += " · " + shown
        for piece in extra:
            title += " · " + piece
        if below:
            title += "\n" + below
    return build(model, view, values=values, gradients=gradients, title=title, **options)


def run_frames(model, trace, **options) -> list[tuple[str, object]]:
    """The pictures of a run as (file stem, Digraph) pairs, in the order to view them:
    ``start-structure``, ``start-forward``, ``start-backward``, one
    ``iter-NNN-backward`` per iteration (numbered so they sort), then the
    same three views as ``end-*``."""
    its = trace.iterations
    frames = []
    if not its:
        return [("start-structure", build(model, "structure", **options))]
    width = max(3, len(str(its[-1].iteration)))
    for view in VIEWS:
        frames.append((f"start-{view}", iteration_graph(model, trace, 0, view, **options)))
    for k, it in enumerate(its):
        frames.append((f"iter-{it.iteration:0{width}d}-backward",
                       iteration_graph(model, trace, k, "backward", **options)))
    for view in VIEWS:
        frames.append((f"end-{view}", iteration_graph(model, trace, -1, view, **options)))
    return frames


#: how many epoch pictures ``fit --render`` draws when not told (--every)
FIT_FRAMES = 100


def fit_frames(model, fit_trace, every: int | None = None, sample: int = 1,
               **options) -> list[tuple[str, object]]:
    """The pictures of a fit as (file stem, Digraph) pairs, in the order to view
    them: ``start-structure``, ``start-forward``, ``start-backward`` (epoch 0),
    one ``epoch-NNN-backward`` for every ``every``-th epoch and the last (numbered
    so they sort), then ``end-forward`` and ``end-backward``. A data model's
    pictures show the 1-based ``sample`` inside the plate. ``every`` defaults to
    the smallest step that keeps the epoch pictures to :data:`FIT_FRAMES`.

    Raises UsageError for ``every`` below 1 or a sample the data does not have.

    >>> import graphdsl
    >>> m = graphdsl.load("models/xor.bp")
    >>> [stem for stem, _g in fit_frames(m, m.fit(epochs=5), every=2)]  # doctest: +NORMALIZE_WHITESPACE
    ['start-structure', 'start-forward', 'start-backward', 'epoch-000-backward',
     'epoch-002-backward', 'epoch-004-backward', 'epoch-005-backward', 'end-forward',
     'end-backward']
    """
    epochs = fit_trace.epochs
    if not epochs:
        return [("start-structure", build(model, "structure", **options))]
    last = epochs[-1].epoch
    if every is None:
        every = max(1, -(-last // FIT_FRAMES))
    if every < 1:
        raise UsageError(f"--every {every}: give 1 or more (1 draws every epoch)")
    width = max(3, len(str(last)))
    frames = [("start-structure", build(model, "structure", **options))]
    for view in ("forward", "backward"):
        frames.append((f"start-{view}", epoch_graph(model, fit_trace, 0, view, sample, **options)))
    for k, ep in enumerate(epochs):
        if ep.epoch % every == 0 or k == len(epochs) - 1:
            frames.append((f"epoch-{ep.epoch:0{width}d}-backward",
                           epoch_graph(model, fit_trace, k, "backward", sample, **options)))
    for view in ("forward", "backward"):
        frames.append((f"end-{view}", epoch_graph(model, fit_trace, -1, view, sample, **options)))
    return frames


def _graph_name(model_name: str):
    """The DOT graph's name: the model file's stem, in a form that always quotes
    to valid DOT. graphviz's library leaves backslashes alone (a stem ending in
    one would end the quoted name early) and passes ``<...>`` through as an
    HTML string, so backslashes become "/" and the name is always plain text.
    A usual stem is unchanged, and so is the DOT text.

    >>> _graph_name("models/linear.bp"), _graph_name("odd\\\\.bp")
    ('linear', 'odd/')
    """
    import graphviz

    stem = os.path.splitext(os.path.basename(model_name))[0] or "model"
    return graphviz.nohtml(stem.replace("\\", "/"))
