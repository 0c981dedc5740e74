"""Forward and reverse passes over a compiled order.

:func:`compile_graph` turns the model into flat lists once (a topological
order, operand positions, the op objects); :class:`Compiled` then runs forward
and backward passes over those lists with no recursion and no networkx calls,
so solver iterations reuse it. Gradients add up along every path (a value used
twice gets both contributions) and every pass starts from zero. Besides the
reverse pass (:meth:`Compiled.backward`, ∂output/∂node for every node at once)
there is forward mode (:meth:`Compiled.tangents`, ∂node/∂p for one leaf p),
made from the same ``partials`` and templates.

Two ways to run a pass, chosen by measuring (``benchmarks/bench.py``):

- the *tape*: a loop over the flat lists calling each op's ``forward`` and
  ``partials`` (~0.2 µs per op, nothing to prepare);
- *generated code*: straight-line Python made from the graph, each op inlined
  from its ``py_forward``/``py_partials`` templates (the text
  :mod:`graphdsl.ops.forms` makes from them) or called as a local
  (~2-3x faster per pass, but compiling costs ~50-110 µs per op).

In ``mode="auto"`` a model starts on the tape and switches to generated code
once the time spent on the tape has reached the estimated cost of compiling
(the ski-rental rule: never more than twice the better choice's time). The
generated text is built from node *positions* and op templates only: no name,
number or other text from the ``.bp`` file ever appears in it, so nothing in a
model can execute code.

>>> import graphdsl
>>> m = graphdsl.loads("param b = 4\\ny = b*b + 3*b")
>>> c = m.compiled
>>> vals = c.forward()
>>> c.backward(vals)[c.index["b"]]
11.0
"""

from __future__ import annotations

import bisect
import math
import operator
import re
import time

from .errors import NUMERIC_ERRORS, NumericError
from .ops import forms
from .text import format_number

#: ops per generated function; keeps each compile() small (its cost is linear per chunk)
CHUNK = 1000
#: estimated seconds to generate and compile the code of one op (forward and backward),
#: measured on a 2-core machine; used only to decide when generating pays off
COMPILE_SECONDS_PER_OP = 80e-6


class Compiled:
    """A model's graph as flat lists, ready to evaluate.

    Attributes: ``order`` (node ids, topological), ``index`` (node id ->
    position), ``ops`` (op object or None for leaves), ``args`` (operand
    positions), ``init`` (initial values, 0.0 for ops), ``output`` (position
    of the output), ``named`` (named node ids in order), ``params``.
    ``mode`` is "auto" (tape first, generated code once it pays), "tape" or
    "code".

    ``graph`` may be a :class:`~graphdsl.flat.FlatGraph` or the networkx graph
    :func:`graphdsl.build.build_graph` makes.
    """

    def __init__(self, graph, registry, mode: str = "auto"):
        from .flat import FlatGraph

        if mode not in ("auto", "tape", "code"):
            raise ValueError(f"mode must be auto, tape or code, not {mode!r}")
        fg = graph if isinstance(graph, FlatGraph) else FlatGraph.from_graph(graph)
        self.flat = fg
        self.order = fg.ids
        self.index = fg.pos
        cache: dict = {}
        ops = []
        for name in fg.op:
            if name is None:
                ops.append(None)
            else:
                op = cache.get(name)
                if op is None:
                    op = cache[name] = registry.get(name)
                ops.append(op)
        self.ops = ops
        self.args = fg.args
        self.init = [0.0 if k in ("op", "data") else float(v) for k, v in zip(fg.kind, fg.value)]
        self.output = fg.pos[fg.graph["output"]]
        self.named = [n for n, nm in zip(fg.ids, fg.name) if nm is not None]
        # A literal's adjoint is never shown or asked for: it is not checked
        # (batch evaluation does not compute it either).
        self.checked = [not (k == "const" and nm is None) for k, nm in zip(fg.kind, fg.name)]
        self.params = list(fg.graph["params"])
        self.mode = mode
        self._steps = None
        self._code = None
        self._pick = None
        self._tape_seconds = 0.0
        self._tcode = None
        self._tsteps = None
        self._tangent_seconds = 0.0
        self._n_ops = sum(1 for op in ops if op is not None)
        if mode == "code":
            self.generate()

    def __len__(self):
        return len(self.order)

    def by_name(self, vals: list[float]) -> dict[str, float]:
        """``{name: vals[position]}`` for every named node, in ``named`` order:
        what the Python API and the solver show of a pass.

        >>> import graphdsl
        >>> c = graphdsl.loads("param b = 4\\ny = 2*b + 1").compiled
        >>> c.by_name(c.forward())
        {'b': 4.0, 'y': 9.0}
        """
        pick = self._pick
        if pick is None:
            # itemgetter picks the positions in C; with one position it gives a value, not a tuple
            pos = [self.index[n] for n in self.named]
            pick = self._pick = operator.itemgetter(*pos) if len(pos) != 1 else \
                (lambda v, k=pos[0]: (v[k],))
        return dict(zip(self.named, pick(vals)))

    @property
    def graph(self):
        """The networkx graph (made on first use)."""
        return self.flat.to_graph()

    # -- passes ----------------------------------------------------------------
    def forward(self, overrides: dict[str, float] | None = None) -> list[float]:
        """Values of every node, in ``order``. ``overrides`` sets leaf values by id.

        Raises :class:`NumericError` naming the statement when an op is outside
        its domain or a value becomes NaN or infinite.
        """
        vals = list(self.init)
        if overrides:
            index = self.index
            for name, v in overrides.items():
                vals[index[name]] = float(v)
        code = self._code
        if code is None:
            if self.mode == "auto":
                t = time.perf_counter()
                self._forward_tape(vals)
                self._spent(time.perf_counter() - t)
            else:
                self._forward_tape(vals)
        else:
            try:
                for chunk in code[0]:
                    chunk(vals)
            except NUMERIC_ERRORS:
                # The tape says exactly which op failed, and why.
                vals = list(self.init)
                if overrides:
                    for name, v in overrides.items():
                        vals[self.index[name]] = float(v)
                self._forward_tape(vals)
        total = sum(vals)
        if total - total != 0.0:  # NaN or infinite somewhere (a finite sum means all finite)
            if not all(map(math.isfinite, vals)):
                first = next(k for k, v in enumerate(vals) if not math.isfinite(v))
                raise self._failure(first, vals, None)
        return vals

    def backward(self, vals: list[float], wrt: int | None = None) -> list[float]:
        """d(output)/d(node) for every node, in ``order`` (reverse mode).

        ``wrt`` picks another node to differentiate instead of the output.
        Raises :class:`NumericError` naming the op and operand when a
        derivative of a param or of a computed node is not finite (a number
        written in the model may get an infinite one: nothing asks for it).
        """
        adj = [0.0] * len(vals)
        start = self.output if wrt is None else wrt
        adj[start] = 1.0
        code = self._code
        if code is None:
            if self.mode == "auto":
                t = time.perf_counter()
                self._backward_tape(vals, adj, start)
                self._spent(time.perf_counter() - t)
            else:
                self._backward_tape(vals, adj, start)
        else:
            try:
                for chunk in code[1]:
                    chunk(vals, adj)
            except NUMERIC_ERRORS:
                adj = [0.0] * len(vals)
                adj[start] = 1.0
                self._backward_tape(vals, adj, start)
        total = sum(adj)
        if total - total != 0.0:
            checked = self.checked
            if any(not math.isfinite(v) and checked[k] for k, v in enumerate(adj)):
                raise self._derivative_failure(vals, adj, start)
        return adj

    def _spent(self, seconds: float) -> None:
        """Ski rental: generate code once the tape has cost what compiling would."""
        self._tape_seconds += seconds
        if self._tape_seconds >= self._n_ops * COMPILE_SECONDS_PER_OP:
            self.generate()

    # -- the tape ----------------------------------------------------------------
    def _tape(self):
        steps = self._steps
        if steps is None:
            fwd: dict = {}
            par: dict = {}
            steps = []
            for k, op in enumerate(self.ops):
                if op is not None:
                    f = fwd.get(id(op))
                    if f is None:
                        f = fwd[id(op)] = op.forward
                        par[id(op)] = op.partials
                    steps.append((k, f, par[id(op)], self.args[k]))
            self._steps = steps
        return steps

    def _forward_tape(self, vals) -> None:
        i = -1
        try:
            for i, f, _p, a in self._tape():
                n = len(a)
                if n == 2:
                    vals[i] = f(vals[a[0]], vals[a[1]])
                elif n == 1:
                    vals[i] = f(vals[a[0]])
                else:
                    vals[i] = f(*[vals[j] for j in a])
        except NUMERIC_ERRORS as e:
            raise self._failure(i, vals, e) from None

    def _backward_tape(self, vals, adj, start) -> None:
        i = -1
        try:
            for i, _f, p, a in reversed(self._tape()):
                g = adj[i]
                if g == 0.0 or i > start:
                    continue
                ps = p(*[vals[j] for j in a], vals[i])
                for j, d in zip(a, ps):
                    adj[j] += g * d
        except NUMERIC_ERRORS as e:
            raise self._derivative_failure(vals, adj, start, raised=(i, e)) from None

    # -- generated code ------------------------------------------------------------
    def generate(self) -> None:
        """Generate and compile straight-line code for both passes (idempotent)."""
        if self._code is not None:
            return
        namespace = {"__builtins__": {}, **forms.FUNCTIONS}
        op_slot = self._op_slots()
        for op in self.ops:
            if op is not None:
                namespace[f"_f{op_slot[id(op)]}"] = op.forward
                namespace[f"_p{op_slot[id(op)]}"] = op.partials
        fwd, bwd = [], []
        for src in self._sources(op_slot):
            exec(compile(src, "<graphdsl generated>", "exec"), namespace)
            if "_F" in namespace:
                fwd.append(namespace.pop("_F"))
            else:
                bwd.append(namespace.pop("_B"))
        bwd.reverse()
        self._code = (fwd, bwd)

    def generated_source(self) -> str:
        """The text :meth:`generate` compiles (for reading and for tests)."""
        return "\n".join(self._sources(self._op_slots()))

    def _sources(self, op_slot):
        """Yield one function's source per chunk: ``_F(V)`` forward and ``_B(V, A)``
        backward over positions [s, e). Inside, node k's value is the local
        ``vk`` and its adjoint ``gk``; only integers and the ops' templates are
        written, never text from the model.

        Values and adjoints cross chunks through the lists ``V`` and ``A``, each
        once per chunk: forward reads the leaves of its range and the earlier
        values it uses, then writes its range as one slice; backward reads its
        range's values and adjoints as slices, reads each earlier node it owes
        an adjoint once into a local, adds into it in the tape's order and
        writes it back once, so the sums are the tape's bit for bit.
        """
        n = len(self.ops)
        ops, args = self.ops, self.args
        templates = self._templates()
        local = re.compile(r"\bv(\d+)\b")
        for s in range(0, n, CHUNK):
            e = min(n, s + CHUNK)
            mine = [k for k in range(s, e) if ops[k] is not None]
            # forward
            reads = sorted({j for k in mine for j in args[k] if j < s}
                           | {k for k in range(s, e) if ops[k] is None})
            lines = ["def _F(V):"] + [f"    v{j} = V[{j}]" for j in reads]
            for k in mine:
                op = ops[k]
                names = [f"v{j}" for j in args[k]]
                f = templates[id(op)]
                if f is not None and f.forward is not None and len(names) == op.arity:
                    pre, (expr,) = f.python("forward", names, temp="_c")
                    lines += [f"    {line}" for line in pre]
                else:
                    expr = f"_f{op_slot[id(op)]}({', '.join(names)})"
                lines.append(f"    v{k} = {expr}")
            lines.append(f"    V[{s}:{e}] = ({''.join(f'v{k}, ' for k in range(s, e))})")
            yield "\n".join(lines) + "\n"
            # backward
            body = []
            owed = set()
            for k in reversed(mine):
                op = ops[k]
                a = args[k]
                names = [f"v{j}" for j in a]
                body.append(f"    if g{k}:")
                pre, ds = _partials_text(templates[id(op)], op, op_slot, names, k)
                body += [f"        {line}" for line in pre]
                for j, d in zip(a, ds):
                    if j < s:
                        owed.add(j)
                    if d == "1.0":
                        body.append(f"        g{j} += g{k}")
                    elif d == "-1.0":
                        body.append(f"        g{j} -= g{k}")
                    else:
                        body.append(f"        g{j} += g{k} * {d}")
            owed = sorted(owed)
            used = sorted({int(x) for line in body for x in local.findall(line)})
            lines = ["def _B(V, A):"]
            if any(j >= s for j in used):
                lines.append(f"    {''.join(f'v{k}, ' for k in range(s, e))}= V[{s}:{e}]")
            lines += [f"    v{j} = V[{j}]" for j in used if j < s]
            lines.append(f"    {''.join(f'g{k}, ' for k in range(s, e))}= A[{s}:{e}]")
            lines += [f"    g{j} = A[{j}]" for j in owed]
            lines += body
            lines.append(f"    A[{s}:{e}] = ({''.join(f'g{k}, ' for k in range(s, e))})")
            lines += [f"    A[{j}] = g{j}" for j in owed]
            yield "\n".join(lines) + "\n"

    # -- forward mode: tangents -------------------------------------------------------
    def tangents(self, vals: list[float], wrt: int) -> list[float]:
        """d(node)/d(leaf ``wrt``) for every node, in ``order`` (forward mode).

        One pass in topological order: a node's tangent is the sum, over its
        operands, of the op's local partial times the operand's tangent, the
        partials coming from the op's own ``partials`` (or its ``py_partials``
        template in generated code). An op whose operands all have tangent 0
        is skipped, so nothing before ``wrt`` or beside it is differentiated.
        Number literals (unnamed leaves) never carry a tangent.

        Raises ValueError when ``wrt`` is not a named leaf (a param or a
        named constant), :class:`NumericError` when a tangent is not finite.

        >>> import graphdsl
        >>> c = graphdsl.loads("param b = 4\\ny = b*b + 3*b").compiled
        >>> c.tangents(c.forward(), c.index["b"])[c.index["y"]]
        11.0
        """
        if self.ops[wrt] is not None or self.flat.name[wrt] is None:
            raise ValueError(f"wrt must be the position of a param or named constant, not {wrt}")
        tan = [0.0] * len(vals)
        tan[wrt] = 1.0
        code = self._tcode
        if code is None and self.mode == "code":
            code = self.generate_tangents()
        if code is None:
            t = time.perf_counter()
            self._tangent_tape(vals, tan, wrt)
            if self.mode == "auto":
                # ski rental again, against the compile cost of the one pass
                self._tangent_seconds += time.perf_counter() - t
                if self._tangent_seconds >= self._n_ops * COMPILE_SECONDS_PER_OP / 2:
                    self.generate_tangents()
        else:
            try:
                for chunk in code:
                    chunk(vals, tan)
            except NUMERIC_ERRORS:
                tan = [0.0] * len(vals)
                tan[wrt] = 1.0
                self._tangent_tape(vals, tan, wrt)
        total = sum(tan)
        if total - total != 0.0:
            raise self._tangent_failure(vals, tan, wrt)
        return tan

    def _live(self, k: int) -> list[int]:
        """Which operand slots of op ``k`` can carry a tangent (not number literals)."""
        kind, name = self.flat.kind, self.flat.name
        return [i for i, j in enumerate(self.args[k]) if kind[j] == "op" or name[j] is not None]

    def _tangent_tape(self, vals, tan, wrt) -> None:
        steps = self._tsteps
        if steps is None:
            # (position, partials, operands, live slots); unary and binary ops
            # with every operand live, the common case, take the short ways below
            steps = []
            for k, _f, p, a in self._tape():
                live = self._live(k)
                if live:
                    steps.append((k, p, a, None if len(live) == len(a) <= 2 else live))
            self._tsteps = steps
            self._tstart = [st[0] for st in steps]
        i = -1
        try:
            for i, p, a, live in steps[bisect.bisect_left(self._tstart, wrt):]:
                if live is None:
                    if len(a) == 2:
                        x, y = a
                        tx, ty = tan[x], tan[y]
                        if tx or ty:
                            px, py = p(vals[x], vals[y], vals[i])
                            tan[i] = px * tx + py * ty
                    else:
                        tx = tan[a[0]]
                        if tx:
                            tan[i] = p(vals[a[0]], vals[i])[0] * tx
                    continue
                if not any(tan[a[s]] for s in live):
                    continue
                ps = p(*[vals[j] for j in a], vals[i])
                t = 0.0
                for s in live:
                    t += ps[s] * tan[a[s]]
                tan[i] = t
        except NUMERIC_ERRORS as e:
            raise self._tangent_failure(vals, tan, wrt, raised=(i, e)) from None

    def _tangent_failure(self, vals, tan, wrt, raised=None) -> NumericError:
        """The error for a tangent pass with a derivative that is not finite: the
        first op (in the pass's order) whose local derivative raised (``raised``
        is (node, exception)) or is infinite or NaN where a tangent flows in,
        else the first tangent that overflowed."""
        hint = ("the op has no finite slope at this point (e.g. log or sqrt at 0): start "
                "from other params (--set NAME=VALUE) or change the model")
        for k in range(wrt + 1, len(tan)):
            op = self.ops[k]
            if op is None:
                continue
            a = self.args[k]
            live = [s for s in self._live(k) if tan[a[s]]]
            if raised is not None and raised[0] == k:
                ds = None
            elif not live:
                continue
            else:
                try:
                    ds = op.partials(*[vals[j] for j in a], vals[k])
                except NUMERIC_ERRORS as e:
                    ds, raised = None, (k, e)
            where = (f"{op.name}({', '.join(_short(vals[j]) for j in a)}) "
                     f"in statement '{self.flat.stmt[k]}'")
            if ds is None:
                e = raised[1]
                why = "division by zero" if isinstance(e, ZeroDivisionError) else str(e)
                return self._error(k, f"the derivative of {where} is not a finite number ({why})",
                                   hint, vals)
            for s in live:
                if not math.isfinite(ds[s]):
                    return self._error(
                        k, f"the derivative of {where} with respect to {self._operand(k, s)} "
                           f"is not a finite number: {_describe_nonfinite(ds[s])}", hint, vals)
            if not math.isfinite(tan[k]):
                return self._error(
                    k, f"∂{self._label(k)}/∂{self._label(wrt)} is {_describe_nonfinite(tan[k])}: "
                       f"the tangent grew beyond the largest float",
                    "the derivatives grew too large; start from smaller params (--set NAME=VALUE)",
                    vals)
        return self._error(wrt, f"a tangent from '{self._label(wrt)}' is not finite", hint, vals)

    def generate_tangents(self):
        """Generate and compile the straight-line tangent pass (idempotent); the
        chunk functions ``_T(V, T)``, in order."""
        if self._tcode is None:
            namespace = {"__builtins__": {}, **forms.FUNCTIONS}
            op_slot = self._op_slots()
            for op in self.ops:
                if op is not None:
                    namespace[f"_p{op_slot[id(op)]}"] = op.partials
            chunks = []
            for src in self._tangent_sources(op_slot):
                exec(compile(src, "<graphdsl generated>", "exec"), namespace)
                chunks.append(namespace.pop("_T"))
            self._tcode = chunks
        return self._tcode

    def generated_tangent_source(self) -> str:
        """The text :meth:`generate_tangents` compiles (for reading and for tests)."""
        return "\n".join(self._tangent_sources(self._op_slots()))

    def _templates(self) -> dict:
        """``{id(op): forms.of(op)}`` for every op of the graph (None for an op
        whose templates cannot be read; a registered op's were checked when it
        was registered, so this is for safety only)."""
        templates = {}
        for op in self.ops:
            if op is not None and id(op) not in templates:
                try:
                    templates[id(op)] = forms.of(op)
                except forms.TemplateError:
                    templates[id(op)] = None
        return templates

    def _op_slots(self) -> dict:
        op_slot: dict = {}
        for op in self.ops:
            if op is not None and id(op) not in op_slot:
                op_slot[id(op)] = len(op_slot)
        return op_slot

    def _tangent_sources(self, op_slot):
        """Yield one ``_T(V, T)`` per chunk of positions [s, e): node k's value is
        ``vk``, its tangent ``tk``; as in :meth:`_sources`, only integers and the
        ops' templates are written, never text from the model."""
        n = len(self.ops)
        ops, args = self.ops, self.args
        templates = self._templates()
        for s in range(0, n, CHUNK):
            e = min(n, s + CHUNK)
            comma = "," if e - s == 1 else ""
            own = ", ".join(f"v{k}" for k in range(s, e)) + comma
            town = ", ".join(f"t{k}" for k in range(s, e)) + comma
            ext = sorted({j for k in range(s, e) if ops[k] is not None for j in args[k] if j < s})
            lines = ["def _T(V, T):", f"    {own} = V[{s}:{e}]", f"    {town} = T[{s}:{e}]"]
            lines += [f"    v{j} = V[{j}]\n    t{j} = T[{j}]" for j in ext]
            for k in range(s, e):
                op = ops[k]
                if op is None:
                    continue
                a = args[k]
                live = self._live(k)
                if not live:
                    continue
                names = [f"v{j}" for j in a]
                lines.append(f"    if {' or '.join(f't{a[i]}' for i in live)}:")
                pre, ds = _partials_text(templates[id(op)], op, op_slot, names, k)
                lines += [f"        {line}" for line in pre]
                terms = []
                for i in live:
                    d = ds[i]
                    terms.append(f"t{a[i]}" if d == "1.0" else f"-t{a[i]}" if d == "-1.0"
                                 else f"{d} * t{a[i]}")
                lines.append(f"        t{k} = {' + '.join(terms)}")
            lines.append(f"    T[{s}:{e}] = [{town.rstrip(',')}]")
            yield "\n".join(lines) + "\n"

    # -- the statement view ----------------------------------------------------------
    def local_partials(self, vals: list[float], partials=None) -> dict[tuple[str, str], float]:
        """The statement view's edge labels: for each named node c and each
        named input p of its statement, dc/dp through the hidden sub-expression
        (constants folded). Keys are (p, c). ``partials(k, vals, ci)`` gives
        node k's local partials, inside the statement of node ci, when the op's
        own are not meant (a reduction's, per sample, is its weight)."""
        fg = self.flat
        names, kinds = fg.name, fg.kind
        out: dict[tuple[str, str], float] = {}
        for c in self.named:
            ci = self.index[c]
            if self.ops[ci] is None:
                continue
            stack = [(ci, 1.0)]
            while stack:
                k, g = stack.pop()
                a = self.args[k]
                ps = (self.ops[k].partials(*[vals[j] for j in a], vals[k]) if partials is None
                      else partials(k, vals, ci))
                for j, d in zip(a, ps):
                    nid = self.order[j]
                    if names[j] is not None:
                        out[(nid, c)] = out.get((nid, c), 0.0) + g * d
                    elif kinds[j] == "op":
                        stack.append((j, g * d))
        return out

    # -- failures --------------------------------------------------------------
    def describe_failure(self, i: int, vals, exc=None, backward: bool = False) -> NumericError:
        """The NumericError for node ``i`` failing at the values ``vals`` (one per
        node, in order), in the engine's words: the op, its operands, the
        statement, why (from ``exc`` or the op's domain) and the params; with
        ``backward``, that its local derivative is not finite there. The sample
        evaluator uses it so a failure at one sample reads like a failure of
        the scalar engine."""
        if not backward:
            return self._failure(i, vals, exc)
        adj = [0.0] * len(vals)
        adj[i] = 1.0
        return self._derivative_failure(vals, adj, i)

    def _failure(self, i: int, vals, exc) -> NumericError:
        """The error for a forward pass that failed at node ``i`` (``exc`` raised
        by its op, or None when its value is not finite)."""
        node = self.order[i]
        stmt = self.flat.stmt[i]
        op = self.ops[i]
        args = [vals[j] for j in self.args[i]]
        shown = ", ".join(_short(v) for v in args)
        reason = None
        if op is not None:
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
        return self._error(i, what, hint, vals)

    def _derivative_failure(self, vals, adj, start, raised=None) -> NumericError:
        """The error for a backward pass with a derivative that is not finite:
        the op whose local derivative is infinite or NaN (or raised: ``raised``
        is (node, exception)), else the gradient whose sum overflowed.

        Works on the finished pass: only when something failed does it look
        again at the ops, from the output down, for the first one to blame.
        """
        wrt = self._label(start)
        hint = ("the op has no finite slope at this point (e.g. log or sqrt at 0, or a "
                "number too close to 0 for its reciprocal): start from other params "
                "(--set NAME=VALUE) or change the model")
        checked = self.checked
        for k in range(start, -1, -1):
            op = self.ops[k]
            g = adj[k]
            if op is None or g == 0.0 or not math.isfinite(g):
                continue
            a = self.args[k]
            xs = [vals[j] for j in a]
            shown = ", ".join(_short(v) for v in xs)
            where = f"{op.name}({shown}) in statement '{self.flat.stmt[k]}'"
            try:
                ds = op.partials(*xs, vals[k]) if raised is None or raised[0] != k else None
            except NUMERIC_ERRORS as e:
                ds, raised = None, (k, e)
            if ds is None:
                e = raised[1]
                why = "division by zero" if isinstance(e, ZeroDivisionError) else str(e)
                return self._error(k, f"the derivative of {where} is not a finite number ({why})",
                                   hint, vals)
            for pos, (j, d) in enumerate(zip(a, ds)):
                if not checked[j]:
                    continue
                if not math.isfinite(d):
                    return self._error(
                        k, f"the derivative of {where} with respect to {self._operand(k, pos)} "
                           f"is not a finite number: {_describe_nonfinite(d)}", hint, vals)
                if not math.isfinite(g * d):
                    return self._error(
                        k, f"∂{wrt}/∂{self._label(j)} overflows at {where}: ∂{wrt}/∂"
                           f"{self._label(k)} = {_short(g)} times the local derivative "
                           f"{_short(d)} is beyond the largest float", hint, vals)
        # every contribution was finite: a sum of them overflowed
        k = next((k for k in range(len(adj)) if checked[k] and not math.isfinite(adj[k])), None)
        if k is None:   # the scalar op finds every derivative finite after all
            return self._error(start, f"a derivative in statement '{self.flat.stmt[start]}' is "
                                      f"not a finite number",
                               "start from other params (--set NAME=VALUE)", vals)
        return self._error(
            k, f"∂{wrt}/∂{self._label(k)} is {_describe_nonfinite(adj[k])}: the sum of "
               f"its paths' contributions is beyond the largest float",
            "the gradients grew too large; start from smaller params (--set NAME=VALUE)", vals)

    def _label(self, k: int) -> str:
        name = self.flat.name[k]
        return name if name is not None else f"({self.flat.stmt[k]})"

    def _operand(self, k: int, pos: int) -> str:
        """Operand ``pos`` of node ``k`` as a reader knows it: its name, or which one."""
        j = self.args[k][pos]
        name = self.flat.name[j]
        if name is not None:
            return name
        nth = ("first", "second", "third")[pos] if pos < 3 else f"operand {pos + 1}"
        return f"its {nth} operand" if len(self.args[k]) > 1 else "its operand"

    def _error(self, i: int, what: str, hint: str, vals) -> NumericError:
        fg = self.flat
        params = ", ".join(f"{p} = {_short(vals[self.index[p]])}" for p in self.params)
        return NumericError(
            what, file=fg.graph.get("file"), line=fg.line[i], column=fg.column[i],
            source=fg.graph.get("source"),
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


def _partials_text(form, op, op_slot, names, k):
    """The generated code's local partials of node ``k`` (operands ``names``):
    (lines to run first, one expression per operand). From the op's templates
    when it has them, else a call of its own ``partials`` (slot ``_pN``).
    Reverse and forward mode both write partials this way."""
    if form is not None and form.partials is not None and len(names) == op.arity:
        return form.python("partials", names, out=f"v{k}", temp="_c")
    return ([f"_d = _p{op_slot[id(op)]}({', '.join(names + [f'v{k}'])})"],
            [f"_d[{i}]" for i in range(len(names))])


def compile_graph(graph, registry, mode: str = "auto") -> Compiled:
    """Compile a model's DAG (networkx or flat) once; reuse the result for every pass."""
    return Compiled(graph, registry, mode)
