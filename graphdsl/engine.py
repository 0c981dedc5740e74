"""Forward and reverse passes over a compiled order.

:func:`compile_graph` turns the DAG into flat lists once (a topological order,
operand positions, the op objects); :class:`Compiled` then runs forward and
backward passes over those lists with no recursion and no networkx calls, so
solver iterations reuse it. Gradients add up along every path (a value used
twice gets both contributions) and every pass starts from zero.

>>> import graphdsl
>>> m = graphdsl.loads("param b = 4\\ny = b*b + 3*b")
>>> c = m.compiled
>>> vals = c.forward()
>>> c.backward(vals)[c.index["b"]]
11.0
"""

from __future__ import annotations

import math

import networkx as nx

from .errors import NumericError


class Compiled:
    """A model's graph as flat lists, ready to evaluate.

    Attributes: ``order`` (node ids, topological), ``index`` (node id ->
    position), ``ops`` (op object or None for leaves), ``args`` (operand
    positions), ``init`` (initial values, None for ops), ``output`` (position
    of the output), ``named`` (named node ids in order).
    """

    def __init__(self, graph, registry):
        order = list(nx.lexicographical_topological_sort(
            graph, key=lambda n: graph.nodes[n]["index"]))
        index = {n: i for i, n in enumerate(order)}
        nodes = graph.nodes
        self.graph = graph
        self.order = order
        self.index = index
        self.ops = []
        self.args = []
        self.init = []
        steps = []
        for i, n in enumerate(order):
            d = nodes[n]
            if d["kind"] == "op":
                op = registry.get(d["op"])
                a = tuple(index[x] for x in d["args"])
                self.ops.append(op)
                self.args.append(a)
                self.init.append(0.0)
                steps.append((i, op.forward, op.partials, a))
            else:
                self.ops.append(None)
                self.args.append(())
                self.init.append(float(d["value"]))
        self._steps = steps
        self.output = index[graph.graph["output"]]
        self.named = [n for n in order if nodes[n]["name"] is not None]
        self.params = list(graph.graph["params"])

    def __len__(self):
        return len(self.order)

    # -- passes ----------------------------------------------------------------
    def forward(self, overrides: dict[str, float] | None = None) -> list[float]:
        """Values of every node, in ``order``. ``overrides`` sets leaf values by id.

        Raises :class:`NumericError` naming the statement when an op is outside
        its domain or a value becomes NaN or infinite.
        """
        vals = list(self.init)
        if overrides:
            for name, v in overrides.items():
                vals[self.index[name]] = float(v)
        i = -1
        try:
            for i, f, _p, a in self._steps:
                vals[i] = f(*[vals[j] for j in a])
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as e:
            raise self._failure(i, vals, e) from None
        if not all(map(math.isfinite, vals)):
            first = next(k for k, v in enumerate(vals) if not math.isfinite(v))
            raise self._failure(first, vals, None)
        return vals

    def backward(self, vals: list[float], wrt: int | None = None) -> list[float]:
        """d(output)/d(node) for every node, in ``order`` (reverse mode).

        ``wrt`` picks another node to differentiate instead of the output.
        """
        adj = [0.0] * len(vals)
        start = self.output if wrt is None else wrt
        adj[start] = 1.0
        i = -1
        try:
            for i, _f, p, a in reversed(self._steps):
                g = adj[i]
                if g == 0.0 or i > start:
                    continue
                ps = p(*[vals[j] for j in a], vals[i])
                for j, d in zip(a, ps):
                    adj[j] += g * d
        except (ValueError, ZeroDivisionError, OverflowError, TypeError) as e:
            raise self._failure(i, vals, e, backward=True) from None
        if not all(map(math.isfinite, adj)):
            first = next(k for k, v in enumerate(adj) if not math.isfinite(v))
            raise self._failure(first, vals, None, backward=True)
        return adj

    def local_partials(self, vals: list[float]) -> dict[tuple[str, str], float]:
        """The statement view's edge labels: for each named node c and each
        named input p of its statement, dc/dp through the hidden sub-expression
        (constants folded). Keys are (p, c)."""
        nodes = self.graph.nodes
        out: dict[tuple[str, str], float] = {}
        for c in self.named:
            ci = self.index[c]
            if self.ops[ci] is None:
                continue
            stack = [(ci, 1.0)]
            while stack:
                k, g = stack.pop()
                a = self.args[k]
                ps = self.ops[k].partials(*[vals[j] for j in a], vals[k])
                for j, d in zip(a, ps):
                    nid = self.order[j]
                    nd = nodes[nid]
                    if nd["name"] is not None:
                        out[(nid, c)] = out.get((nid, c), 0.0) + g * d
                    elif nd["kind"] == "op":
                        stack.append((j, g * d))
        return out

    # -- failures --------------------------------------------------------------
    def _failure(self, i: int, vals, exc, backward: bool = False) -> NumericError:
        g = self.graph
        node = self.order[i]
        d = g.nodes[node]
        stmt = d["stmt"]
        op = self.ops[i]
        args = [vals[j] for j in self.args[i]]
        shown = ", ".join(_short(v) for v in args)
        reason = None
        if op is not None and not backward:
            try:
                reason = op.domain(*args)
            except Exception:  # a plugin's domain check failing is no excuse to crash
                reason = None
        hint = ("keep every value inside its op's domain: start from other params "
                "(--set NAME=VALUE) or change the model")
        if op is None:
            what = f"the value of '{node}' is {_describe_nonfinite(vals[i])}"
            hint = ("a param became too large: the steps grew without bound; try a smaller "
                    "--lr, another --method, or other starting values (--set)")
        elif backward:
            what = (f"the derivative of {op.name}({shown}) in statement '{stmt}' "
                    f"is not a finite number" + (f" ({exc})" if exc else ""))
            hint = ("the op has no finite slope at this point (e.g. sqrt at 0); start from "
                    "other params (--set NAME=VALUE)")
        elif reason:
            what = f"{op.name}({shown}) in statement '{stmt}': {reason}"
        elif isinstance(exc, OverflowError):
            what = (f"{op.name}({shown}) in statement '{stmt}' overflows: the result is "
                    f"beyond the largest float (about 1.8e308)")
            hint = ("the values grew too large; start from smaller params (--set NAME=VALUE), "
                    "or use a smaller --lr")
        elif isinstance(exc, ZeroDivisionError):
            what = f"{op.name}({shown}) in statement '{stmt}': division by zero"
        elif isinstance(exc, ValueError):
            what = f"{op.name}({shown}) in statement '{stmt}' is undefined ({exc})"
        elif exc is not None:
            what = f"{op.name}({shown}) in statement '{stmt}' fails: {exc}"
        else:
            what = (f"{op.name}({shown}) in statement '{stmt}' gives "
                    f"{_describe_nonfinite(vals[i])}")
        params = ", ".join(f"{p} = {_short(vals[self.index[p]])}" for p in self.params)
        return NumericError(
            what, file=g.graph.get("file"), line=d["line"], column=d["column"],
            source=g.graph.get("source"),
            notes=[f"with {params}"] if params else (),
            hint=hint,
        )


def _describe_nonfinite(v: float) -> str:
    if v != v:
        return "nan (not a number)"
    if v in (math.inf, -math.inf):
        return f"{v} (beyond the largest float)"
    return _short(v)


def _short(v: float) -> str:
    return format_number(v)


def format_number(v: float, digits: int = 7) -> str:
    """A number short but exact enough to follow the seed: 18, 9, 63, 150.2177.

    >>> format_number(162.0), format_number(3.8059371), format_number(150.0000443)
    ('162', '3.805937', '150.0000')
    """
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.{digits}g}"
    if "." not in text and "e" not in text and "inf" not in text:
        # rounded to a whole number but not one: keep the decimals visible (150.0000)
        text = f"{v:.{max(1, digits - len(text.lstrip('-')))}f}"
    return text


def compile_graph(graph, registry) -> Compiled:
    """Compile a model's DAG once; reuse the result for every pass."""
    return Compiled(graph, registry)
