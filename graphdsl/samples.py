"""Evaluation over the samples of a data model: every sample at once, with numpy.

A data model declares columns (``data x, y``) and reduces over them with
``mean``/``sum``. A node that depends on a data column outside a reduction is
*per-sample* (one value per sample, a numpy row); every other node is a single
number. :class:`SamplePlan` is made once per model: it works out which nodes
are per-sample, the order of the reductions, and straight-line code for each
pass (built from node positions and each op's array forms, as
:func:`graphdsl.batch.op_arrays` chooses them; no text from the model ever
appears in it). It then evaluates the loss and its
gradient over any set of samples: the whole data set or a mini-batch, without
compiling again.

The scalar engine keeps the meaning per sample: a value outside an op's
domain is an error that names the statement and the sample (the CSV's line),
with the scalar engine's own words. ∂output/∂param is the sum over the samples
of each sample's contribution; a reduction's result is ``weight(n)·Σ xᵢ``
(``mean``: 1/n, ``sum``: 1), so ∂result/∂xᵢ = weight(n).

Large data sets are evaluated in chunks of :data:`CHUNK` samples, so memory
stays a small multiple of the data (each chunk's per-sample values are made,
used and dropped); a pass whose samples fit in one chunk keeps its forward
values for the backward pass instead of computing them again.

numpy is imported here, lazily, only when a data model is evaluated.

>>> import graphdsl
>>> m = graphdsl.loads("data x = [1, 2, 3]\\nparam w = 2\\nloss = mean((w*x - 3)^2)")
>>> r = m.samples.evaluate({"w": 2.0}, m.data)
>>> r.values["loss"], r.gradients["w"]             # mean(1, 1, 9); mean(2·(2x - 3)·x)
(3.6666666666666665, 6.666666666666667)
"""

from __future__ import annotations

import math
import re

from .errors import NUMERIC_ERRORS, NumericError, UsageError
from . import batch
from .ops import forms

#: samples per chunk when a pass covers more samples than this
CHUNK = 16384



def per_sample_flags(kinds, ops, args) -> list[bool]:
    """Which nodes hold one value per sample, for nodes in topological order:
    a data column, or an op over a per-sample operand that is not a reduction.

    ``ops[k]`` is the op object (or anything with a ``reduces`` attribute) of
    node k, None for a leaf.

    >>> class R: reduces = True
    >>> class A: reduces = False
    >>> per_sample_flags(["data", "param", "op", "op"], [None, None, A(), R()],
    ...                  [(), (), (0, 1), (2,)])
    [True, False, True, False]
    """
    flags = [False] * len(kinds)
    for k, kind in enumerate(kinds):
        if kind == "data":
            flags[k] = True
        elif ops[k] is not None and not getattr(ops[k], "reduces", False):
            flags[k] = any(flags[j] for j in args[k])
    return flags


class Roles:
    """What a data model's parts are for, as :func:`find_roles` reads them from
    the graph: ``prediction`` (a named per-sample node), ``inputs`` (the data
    columns it depends on), ``target`` (the one other column), ``kind``
    ("curve": one input; "classifier": two inputs and a target of two values;
    None when no picture fits) and ``reason`` (why not, for the plot);
    ``reduced`` names a prediction that was left out only because it depends
    on a reduction (``c = x - mean(x)``)."""

    __slots__ = ("prediction", "inputs", "target", "kind", "reason", "reduced")

    def __init__(self, prediction=None, inputs=(), target=None, kind=None, reason=None,
                 reduced=None):
        self.prediction, self.inputs, self.target = prediction, list(inputs), target
        self.kind, self.reason, self.reduced = kind, reason, reduced

    def __repr__(self) -> str:
        return (f"<Roles {self.kind}: {self.prediction}({', '.join(self.inputs)}) "
                f"vs {self.target}>" if self.kind else f"<Roles none: {self.reason}>")


def find_roles(plan, data=None) -> Roles:
    """The prediction, its input columns and its target in a data model (a
    :class:`SamplePlan`), read from the graph: the prediction is the last
    named per-sample node (in the order of the model) that depends on a param
    and on data columns but on no reduction, such that exactly one data column
    is left over: that column is the target. One input gives a ``curve``; two
    inputs and a target with two distinct values in ``data`` give a
    ``classifier``. Otherwise ``kind`` is None and ``reason`` says why. Never
    raises.

    >>> import graphdsl
    >>> m = graphdsl.loads("data x = [0, 1]\\ndata y = [1, 3]\\nparam w = 0\\n"
    ...                    "pred = w*x\\nloss = mean((pred - y)^2)")
    >>> find_roles(m.samples, m.data)
    <Roles curve: pred(x) vs y>
    """
    c = plan.c
    fg = c.flat
    ops, args, per, lvl = c.ops, c.args, plan.per, plan.lvl
    columns = {k: name for name, k in plan.data_pos.items()}
    n = len(ops)
    # per node: the data columns it depends on (per-sample nodes only) and whether a param reaches it
    deps = [frozenset()] * n
    has_param = [False] * n
    for k in range(n):
        if k in columns:
            deps[k] = frozenset([columns[k]])
        elif fg.kind[k] == "param":
            has_param[k] = True
        elif ops[k] is not None:
            has_param[k] = any(has_param[j] for j in args[k])
            if per[k]:
                deps[k] = frozenset().union(*(deps[j] for j in args[k]))
    every = set(columns.values())
    reduced = None
    for k in range(n - 1, -1, -1):
        if fg.name[k] is None or not per[k] or ops[k] is None or not has_param[k]:
            continue
        left = every - deps[k]
        if len(left) != 1:
            continue
        if lvl[k]:          # a prediction but for a mean or sum over all samples in it
            reduced = reduced or fg.name[k]
            continue
        target = next(iter(left))
        inputs = [nm for nm in plan.data_pos if nm in deps[k]]
        roles = Roles(fg.name[k], inputs, target)
        if len(inputs) == 1:
            roles.kind = "curve"
        elif len(inputs) == 2:
            labels = set() if data is None else set(plan.np.unique(data.columns[target]).tolist())
            if len(labels) == 2:
                roles.kind = "classifier"
            else:
                roles.reason = (f"{target} has {len(labels)} distinct values, not two labels: "
                                f"no decision boundary to draw")
        else:
            roles.reason = f"{fg.name[k]} depends on {len(inputs)} data columns: too many to draw"
        return roles
    if reduced is not None:
        return Roles(reduced=reduced,
                     reason=f"{reduced} depends on a mean or sum over all the samples, so it is "
                            "not a curve of its own inputs: there is no data plot to draw")
    return Roles(reason="no named per-sample prediction that depends on the params and on every "
                        "data column but one (the target): name it, e.g. pred = w*x + b")


# -- the plan --------------------------------------------------------------------

_ARITHMETIC = re.compile(r"[0-9.+\-*/() ]*")


def _arithmetic(template: str | None) -> bool:
    """True for an op template made of operands, numbers and + - * / only: it
    means the same on numpy arrays as on numbers, so it can be written inline.
    Templates that call functions or branch (relu's ``if``) go through the op's
    ``np_forward``/``np_partials`` instead."""
    if template is None:
        return False
    return _ARITHMETIC.fullmatch(re.sub(r"\{(\d+|out)\}", "", template)) is not None


class SampleResult:
    """One evaluation over a set of samples: ``values`` and ``gradients`` of the
    single-number named nodes (floats; ∂output/∂node, summed over the samples),
    ``per_sample`` the per-sample named nodes' values (arrays) when asked for,
    and ``n`` the number of samples."""

    __slots__ = ("values", "gradients", "per_sample", "n")

    def __init__(self, values, gradients, per_sample, n):
        self.values, self.gradients, self.per_sample, self.n = values, gradients, per_sample, n

    def __repr__(self) -> str:
        return f"<SampleResult over {self.n} samples: {self.values}>"


class SamplePlan:
    """A data model compiled once for evaluation over samples (see the module doc).

    ``evaluate`` gives values and gradients over the whole data set or some of
    its samples; ``loss_and_gradient`` is the lean form the fit's steps use.
    Raises :class:`~graphdsl.errors.NumericError` naming the statement and the
    sample when a value or a derivative is not a finite number.
    """

    def __init__(self, compiled, *, every_adjoint: bool = False):
        self.np = batch.require_numpy()
        c = self.c = compiled
        fg = c.flat
        ops, args = c.ops, c.args
        n = len(ops)
        self.per = per = per_sample_flags(fg.kind, ops, args)
        # the level of a single-number node is how many reductions deep it is;
        # a per-sample node's stage is the level of the reductions it needs first
        lvl = [0] * n
        for k in range(n):
            op = ops[k]
            if op is not None:
                a = args[k]
                lvl[k] = lvl[a[0]] + 1 if op.reduces else max((lvl[j] for j in a), default=0)
        self.lvl = lvl
        self.data_pos = {name: fg.pos[name] for name in (fg.graph.get("data") or {})}
        self.param_pos = [fg.pos[p] for p in c.params]
        # which single-number nodes need an adjoint: named ones, and those a param
        # reaches (every one of them with ``every_adjoint``: the pictures' totals)
        has_param = [False] * n
        for k in range(n):
            if fg.kind[k] == "param":
                has_param[k] = True
            elif ops[k] is not None:
                has_param[k] = any(has_param[j] for j in args[k])
        self.need = [(not per[k]) and (every_adjoint or has_param[k] or fg.name[k] is not None)
                     for k in range(n)]
        # a per-sample node whose adjoint can reach a node that needs one
        reach = [False] * n
        for k in range(n):
            if ops[k] is not None and per[k]:
                reach[k] = any((self.need[j] if not per[j] else reach[j]) for j in args[k])
        self.reach = reach
        self._stages: dict = {}
        self._every = None if not every_adjoint else self
        self._base = list(c.init)
        self._arrays: dict = {}
        self._rows = 1
        self._scratch: dict = {}

    # -- how each op runs over arrays --------------------------------------------
    def arrays(self, op):
        """The op's array forms, as :func:`graphdsl.batch.op_arrays` (the one rule
        for every evaluation over arrays) chooses them; made once per op."""
        arr = self._arrays.get(id(op))
        if arr is None:
            arr = self._arrays[id(op)] = batch.op_arrays(op)
            self._rows = max(self._rows, arr.rows)
        return arr

    def inline(self, op, which: str, xs, out=None):
        """The op's ``which`` ("forward" or "partials") as expressions over the
        names ``xs`` (and ``out``) to write straight into the generated code,
        or None. Only code made from templates of plain arithmetic qualifies:
        it means the same on arrays as on numbers, and a call saved is most of
        a small batch's cost."""
        arr = self.arrays(op)
        # exact: the code was made from the op's templates (batch's choice)
        if not (arr.exact_forward if which == "forward" else arr.exact_partials):
            return None
        f = forms.of(op)
        texts = [f.text_forward] if which == "forward" else f.text_partials
        if texts is None or not all(_arithmetic(t) for t in texts):
            return None
        lines, exprs = f.python(which, xs, out=out)
        return None if lines else exprs

    def scratch(self, m: int):
        """Work rows of m values for the ops' array forms (kept per batch size)."""
        s = self._scratch.get(m)
        if s is None or len(s) < self._rows:
            if len(self._scratch) > 8:
                self._scratch.clear()
            s = self._scratch[m] = [self.np.empty(m) for _ in range(self._rows)]
        return s

    def predict(self, node: str, params=None, columns=None):
        """The values of the per-sample node ``node`` for the columns ``columns``
        (name -> array, all one length; only those ``node`` depends on are
        needed) with ``params`` (the model's values otherwise): a curve or a
        grid to draw, not data to train on, so nothing is checked and a value
        outside an op's domain is NaN or inf. Raises UsageError when ``node``
        is not a per-sample node or depends on a reduction.

        >>> import graphdsl
        >>> m = graphdsl.loads("data x = [0]\\nparam w = 2\\npred = w*x + 1\\nloss = mean(pred)")
        >>> m.samples.predict("pred", {"w": 3}, {"x": [0.0, 1.0]}).tolist()
        [1.0, 4.0]
        """
        np = self.np
        c = self.c
        k0 = c.index.get(node)
        if k0 is None or not self.per[k0] or self.lvl[k0]:
            raise UsageError(f"'{node}' is not a per-sample node that depends on no reduction")
        need = [False] * len(c.ops)
        need[k0] = True
        for k in range(k0, -1, -1):
            if need[k]:
                for j in c.args[k]:
                    need[j] = True
        names = {k: nm for nm, k in self.data_pos.items()}
        cols = {nm: np.asarray(v, dtype=float) for nm, v in (columns or {}).items()}
        m = len(next(iter(cols.values()))) if cols else 1
        V = list(self._base)
        for p, v in (params or {}).items():
            V[c.index[p]] = float(v)
        with np.errstate(all="ignore"):
            for k in range(k0 + 1):
                if not need[k]:
                    continue
                if k in names:
                    if names[k] not in cols:
                        raise UsageError(f"'{node}' needs the column {names[k]}")
                    V[k] = cols[names[k]]
                elif c.ops[k] is not None:
                    xs = [V[j] if self.per[j] else np.full(m, V[j]) for j in c.args[k]]
                    if self.per[k]:
                        out = np.empty(m)
                        self.arrays(c.ops[k]).forward(out, self.scratch(m), *xs)
                        V[k] = out
                    else:
                        V[k] = c.ops[k].forward(*[V[j] for j in c.args[k]])
        return V[k0]

    # -- structure --------------------------------------------------------------
    def _stage(self, everything: bool):
        """What to compute, in order, for the output (or for every node), with the
        generated code of each pass; made once per choice and kept."""
        st = self._stages.get(everything)
        if st is not None:
            return st
        c, per, lvl = self.c, self.per, self.lvl
        ops, args = c.ops, c.args
        n = len(ops)
        if everything:
            want = [True] * n
        else:
            want = [False] * n
            want[c.output] = True
            for k in range(n - 1, -1, -1):
                if want[k]:
                    for j in args[k]:
                        want[j] = True
        top = max((lvl[k] for k in range(n) if want[k] and not per[k]), default=0)
        scalar = [[] for _ in range(top + 1)]     # single-number ops by level (no reductions)
        reductions = [[] for _ in range(top + 1)]
        for k in range(n):
            if want[k] and ops[k] is not None and not per[k]:
                (reductions if ops[k].reduces else scalar)[lvl[k]].append(k)
        levels = []
        done = set()
        for L in range(top + 1):
            ps = None
            if L:
                red = reductions[L]
                inpass = [False] * n
                for r in red:
                    j = args[r][0]
                    if ops[j] is not None:
                        inpass[j] = True
                for k in range(n - 1, -1, -1):
                    if inpass[k]:
                        for j in args[k]:
                            if per[j] and ops[j] is not None:
                                inpass[j] = True
                nodes = [k for k in range(n) if inpass[k]]
                ps = _Pass(self, red, nodes)
                done.update(nodes)
            levels.append((ps, [(k, ops[k].forward, ops[k].partials, args[k]) for k in scalar[L]]))
        # per-sample nodes no reduction uses (a named per-sample value shown on
        # its own): computed last, when every single number is known
        rest = [k for k in range(n) if want[k] and per[k] and ops[k] is not None and k not in done]
        st = _Stage(levels, _Pass(self, [], rest) if rest else None)
        self._stages[everything] = st
        return st

    # -- evaluation -------------------------------------------------------------
    def evaluate(self, params=None, data=None, idx=None, *, gradients=True, everything=True,
                 per_sample=False) -> SampleResult:
        """Values (and gradients) over the samples of ``data`` (a
        :class:`~graphdsl.data.DataSet`), or over the samples ``idx`` of it.

        ``params`` maps params to values (the model's defaults otherwise).
        Every value is checked: a value or derivative that is not finite
        raises :class:`NumericError` naming the statement and the sample.
        """
        np = self.np
        c = self.c
        V = list(self._base)
        for p, v in (params or {}).items():
            V[c.index[p]] = float(v)
        cols = self._columns(data, idx)
        m = len(next(iter(cols.values()))) if cols else 1
        stage = self._stage(everything)
        keep = {}
        if per_sample:
            for k, nm in enumerate(c.flat.name):
                if nm is not None and self.per[k] and c.ops[k] is not None:
                    keep[k] = np.empty(m)
        fused = [0.0] * len(V) if gradients else None
        with np.errstate(all="ignore"):
            self._forward(V, cols, m, stage, True, keep, data, idx, fused)
            G = self._backward(V, cols, m, stage, data, idx, fused) if gradients else None
        fg = c.flat
        values = {nm: float(V[k]) for k, nm in enumerate(fg.name)
                  if nm is not None and not self.per[k]}
        grads = None
        if gradients:
            grads = {nm: float(G[c.index[nm]]) for nm in values}
        per_vals = None
        if per_sample:
            per_vals = {fg.name[k]: cols[k].copy() for k in self.data_pos.values()}
            per_vals.update((fg.name[k], a) for k, a in keep.items())
        return SampleResult(values, grads, per_vals, m)

    def every_adjoint(self) -> "SamplePlan":
        """This plan's twin that keeps the adjoint of every single-number node
        (the pictures' and explanations' totals), made once and kept."""
        if self._every is None:
            self._every = SamplePlan(self.c, every_adjoint=True)
        return self._every

    def totals(self, params=None, data=None):
        """Every single-number node's value and adjoint (∂output/∂node, summed
        over the samples) over the whole of ``data``, as two lists in the
        engine's order; a per-sample node's entries are not meaningful. Checked
        as :meth:`evaluate` is. Only nodes this plan ``need``s get an adjoint
        (all of them in a plan made with ``every_adjoint``)."""
        np = self.np
        c = self.c
        V = list(self._base)
        for p, v in (params or {}).items():
            V[c.index[p]] = float(v)
        cols = self._columns(data, None)
        m = len(next(iter(cols.values()))) if cols else 1
        stage = self._stage(True)
        with np.errstate(all="ignore"):
            self._forward(V, cols, m, stage, True, {}, data, None, None)
            G = self._backward(V, cols, m, stage, data, None, None)
        return V, G

    def loss_and_gradient(self, pvec, cols, m):
        """The output and ∂output/∂param (a list, in the order of the model's
        params) over the m samples of ``cols`` (data position -> array); the
        lean form a fit's step calls. Values are not checked one by one (the
        caller checks the two results, and :meth:`evaluate` says what went
        wrong), and numpy's warnings are the caller's to silence
        (``numpy.errstate``)."""
        V = self._base[:]
        for k, v in zip(self.param_pos, pvec.tolist()):
            V[k] = v
        stage = self._stage(False)
        fused = [0.0] * len(V)
        self._forward(V, cols, m, stage, False, None, None, None, fused)
        G = self._backward(V, cols, m, stage, None, None, fused)
        return float(V[self.c.output]), [float(G[k]) for k in self.param_pos]

    def _columns(self, data, idx):
        """Data position -> the column (or its samples ``idx``)."""
        if data is None:
            raise UsageError("this model has data columns, and no data was given",
                             hint="give --data FILE.csv (or set_data(...) in Python)")
        out = {}
        for name, k in self.data_pos.items():
            col = data.columns[name]
            out[k] = col if idx is None else col[idx]
        return out

    def _run_pass(self, ps, V, cols, m, check, keep, data, idx, fused=None):
        """One pass over all m samples (in chunks when they are many): its
        reductions' sums. With ``fused`` (a list of adjoints), each chunk's
        backward runs right after its forward, seeded as if the one reduction's
        adjoint were 1: the gradient is linear in that adjoint, so the caller
        scales it later, and no chunk is computed twice."""
        if m <= CHUNK and not check and not keep:
            for k, col in cols.items():
                V[k] = col
            sums = ps.fwd(V, m)
            if fused is not None:
                ps.bwd(V, fused, [ps.weights[0][1](m)], m)
            return sums
        totals = [0.0] * len(ps.red)
        many = m > CHUNK
        for lo in range(0, m, CHUNK):
            hi = min(m, lo + CHUNK)
            for k, col in cols.items():
                V[k] = col[lo:hi] if many else col
            if check:
                sums, ck = ps.fwd_checked(V, hi - lo)
                if not math.isfinite(ck):
                    failure = self._locate(V, ps, data, idx, lo)
                    if failure is not None:
                        raise failure
            else:
                sums = ps.fwd(V, hi - lo)
            for i, s in enumerate(sums):
                totals[i] += s
            if fused is not None:
                ps.bwd(V, fused, [ps.weights[0][1](m)], hi - lo)
            if keep:
                for k, arr in keep.items():
                    if k in ps.stored:
                        arr[lo:hi] = V[k]
        return totals

    def _forward(self, V, cols, m, stage, check, keep, data, idx, fused=None):
        top = len(stage.levels) - 1
        for L, (ps, steps) in enumerate(stage.levels):
            if ps is not None:
                fuse = fused if (L == top and fused is not None and len(ps.red) == 1
                                 and ps.backprop) else None
                totals = self._run_pass(ps, V, cols, m, check, keep, data, idx, fuse)
                for (r, weight), t in zip(ps.weights, totals):
                    V[r] = weight(m) * t
                    if check and not math.isfinite(V[r]):
                        raise self._reduction_failure(r, V, t, m)
            for k, f, _p, a in steps:
                try:
                    V[k] = f(*[V[j] for j in a])
                except NUMERIC_ERRORS as e:
                    raise self._scalar_failure(k, V, e) from None
                if check and not math.isfinite(V[k]):
                    raise self._scalar_failure(k, V, None)
        if stage.tail is not None and (check or keep):
            self._run_pass(stage.tail, V, cols, m, check, keep, data, idx)

    def _backward(self, V, cols, m, stage, data, idx, fused=None):
        """The adjoints of every node, given the forward's values in V; ``fused``
        holds the top pass's backward already run during the forward (see
        :meth:`_run_pass`), or is None."""
        need = self.need
        G = [0.0] * len(V)
        G[self.c.output] = 1.0
        top = len(stage.levels) - 1
        for L, (ps, steps) in reversed(list(enumerate(stage.levels))):
            for k, _f, p, a in reversed(steps):
                g = G[k]
                if g == 0.0:
                    continue
                try:
                    ds = p(*[V[j] for j in a], V[k])
                except NUMERIC_ERRORS as e:
                    raise self._scalar_failure(k, V, e, backward=True) from None
                for j, d in zip(a, ds):
                    if need[j]:
                        G[j] += g * d
            if ps is None or not ps.backprop:
                continue
            if L == top and fused is not None and len(ps.red) == 1:
                g = G[ps.red[0]]
                for j in ps.sinks:
                    G[j] += g * fused[j]
                continue
            seeds = [G[r] * weight(m) for r, weight in ps.weights]
            if not any(seeds):
                continue
            if m <= CHUNK:
                ps.bwd(V, G, seeds, m)      # the forward's values are still in V
                continue
            for lo in range(0, m, CHUNK):
                hi = min(m, lo + CHUNK)
                for k, col in cols.items():
                    V[k] = col[lo:hi]
                ps.fwd(V, hi - lo)
                ps.bwd(V, G, seeds, hi - lo)
        if data is not None:       # a checked evaluation: every gradient finite
            bad = [k for k in self.param_pos if not math.isfinite(G[k])]
            if bad:
                raise self._locate_backward(V, cols, m, stage, data, idx, bad[0])
        return G

    # -- failures --------------------------------------------------------------
    def _scalar_failure(self, k, V, exc, backward=False) -> NumericError:
        vals = [v if isinstance(v, float) else 0.0 for v in V]
        return self.c.describe_failure(k, vals, exc, backward=backward)

    def _reduction_failure(self, r, V, total, m) -> NumericError:
        """A reduction whose sum over the samples is not finite although every
        sample's value is: the sum overflowed (each term below 1.8e308)."""
        e = self._scalar_failure(r, V, None)
        op = self.c.ops[r]
        e.message = (f"{op.name} over the {m} samples in statement '{self.c.flat.stmt[r]}' is "
                     f"{total}: the sum of the samples' values is beyond the largest float "
                     "(about 1.8e308), though each value is not")
        return e

    def _locate(self, V, ps, data, idx, lo) -> NumericError | None:
        """The first per-sample value of this chunk that is not finite, as the
        scalar engine would report it, naming the sample; None when every value
        is finite (the checksum overflowed, not a value: a reduction's sum that
        overflows is found where the reductions are summed)."""
        np = self.np
        ops, args = self.c.ops, self.c.args
        for k in ps.nodes:
            row = V[k]
            bad = np.flatnonzero(~np.isfinite(row)) if np.ndim(row) else \
                (np.array([0]) if not math.isfinite(row) else ())
            if len(bad):
                i = int(bad[0])
                vals = self._sample_values(V, i)
                exc = None
                try:
                    ops[k].forward(*[vals[j] for j in args[k]])
                except NUMERIC_ERRORS as e:
                    exc = e
                vals[k] = float(row[i]) if np.ndim(row) else float(row)
                return self._name_sample(self.c.describe_failure(k, vals, exc), data, idx, lo + i)
        return None

    def _locate_backward(self, V, cols, m, stage, data, idx, p) -> NumericError:
        """A derivative that is not finite: the first op (backwards) whose local
        partial is not finite at some sample, named with the sample."""
        np = self.np
        ops, args = self.c.ops, self.c.args
        for ps in reversed([ps for ps, _steps in stage.levels if ps is not None]):
            for lo in range(0, m, CHUNK):
                hi = min(m, lo + CHUNK)
                for k, col in cols.items():
                    V[k] = col[lo:hi] if m > CHUNK else col
                with np.errstate(all="ignore"):
                    ps.fwd(V, hi - lo)
                for k in reversed(ps.nodes):
                    xs = [V[j] for j in args[k]]
                    with np.errstate(all="ignore"):
                        ds = self.arrays(ops[k]).partials(self.scratch(hi - lo), V[k], *xs)
                    for d in ds:
                        d = np.broadcast_to(np.asarray(d, dtype=float), (hi - lo,))
                        bad = np.flatnonzero(~np.isfinite(d))
                        if len(bad):
                            i = int(bad[0])
                            vals = self._sample_values(V, i)
                            e = self.c.describe_failure(k, vals, None, backward=True)
                            return self._name_sample(e, data, idx, lo + i)
        k = p
        return self.c.describe_failure(k, [v if isinstance(v, float) else 0.0 for v in V],
                                       None, backward=True)

    def _sample_values(self, V, i):
        np = self.np
        out = []
        for v in V:
            if isinstance(v, float):
                out.append(v)
            elif v is None:
                out.append(0.0)
            elif np.ndim(v):
                out.append(float(v[i]) if i < len(v) else 0.0)
            else:
                out.append(float(v))
        return out

    def _name_sample(self, e: NumericError, data, idx, i) -> NumericError:
        if data is not None:
            j = int(idx[i]) if idx is not None else i
            e.message = f"{e.message}, at {data.describe(j)}"
        else:
            e.message = f"{e.message}, at sample {i + 1} of the batch"
        return e


class _Stage:
    """What one evaluation runs: for each level, its pass over the samples (None
    at level 0) and its single-number steps (node, the op's forward, operands);
    then the per-sample nodes no reduction uses."""

    __slots__ = ("levels", "tail")

    def __init__(self, levels, tail):
        self.levels = levels
        self.tail = tail


class _Pass:
    """The per-sample part of one level: the nodes computed for its reductions
    and the generated code that computes them (``fwd``, ``fwd_checked``) and
    carries their adjoints back (``bwd``)."""

    def __init__(self, plan, red, nodes):
        np = plan.np
        c = plan.c
        ops, args, per = c.ops, c.args, plan.per
        self.red = red
        self.nodes = nodes
        self.stored = set(nodes)
        inpass = self.stored
        namespace = {"__builtins__": {}, "_T": _total(np), "_C": _checksum(np),
                     "_full": np.full, "_dot": _dot(np), "_empty": np.empty}
        slots: dict = {}

        def fn(op):
            """The names of the op's array forms in the generated code (the one
            rule of :func:`graphdsl.batch.op_arrays` chooses them)."""
            arr = plan.arrays(op)
            if id(op) not in slots:
                j = len(slots)
                slots[id(op)] = j
                namespace[f"_fw{j}"], namespace[f"_bw{j}"] = arr.forward, arr.partials
            j = slots[id(op)]
            return f"_fw{j}", f"_bw{j}"

        # forward
        loads = sorted({j for k in nodes for j in args[k] if j not in inpass}
                       | {args[r][0] for r in red if args[r][0] not in inpass})
        body = [f"    v{j} = V[{j}]" for j in loads]
        for k in nodes:
            op = ops[k]
            xs = [f"v{j}" for j in args[k]]
            inline = plan.inline(op, "forward", xs)
            if inline is not None:
                body.append(f"    v{k} = {inline[0]}")
            else:
                body.append(f"    v{k} = _empty(m)")
                body.append(f"    {fn(op)[0]}(v{k}, _s, {', '.join(xs)})")
        store = [f"    V[{k}] = v{k}" for k in nodes]
        sums = ", ".join(f"_T(v{args[r][0]}, m)" for r in red) + ("," if len(red) == 1 else "")
        src = ["def _F(V, m, _s):"] + body + store + [f"    return ({sums})"]
        src_chk = (["def _FC(V, m, _s):"] + body + store
                   + [f"    return ({sums}), _C(m, {', '.join(f'v{k}' for k in nodes) or '0.0'})"])
        # backward: every adjoint is a row of m values (a seed is made one), so a
        # contribution to a single number is a sum or a dot product
        reach, need = plan.reach, plan.need
        seeded: dict[int, list[int]] = {}
        for i, r in enumerate(red):
            seeded.setdefault(args[r][0], []).append(i)
        blines = []
        has = set()
        bl = sorted({j for k in nodes for j in args[k]} | set(nodes))
        blines += [f"    v{j} = V[{j}]" for j in bl]
        for j, seeds in seeded.items():
            if j in inpass and reach[j]:
                blines.append(f"    g{j} = _full(m, " + " + ".join(f"S[{i}]" for i in seeds) + ")")
                has.add(j)
        backprop = False
        sinks = set()
        for k in reversed(nodes):
            if k not in has or not reach[k]:
                continue
            op = ops[k]
            a = args[k]
            xs = [f"v{j}" for j in a]
            targets = [(i, j) for i, j in enumerate(a)
                       if (per[j] and j in inpass and reach[j]) or (not per[j] and need[j])]
            if not targets:
                continue
            inline = plan.inline(op, "partials", xs, out=f"v{k}")
            if inline is not None:
                ds = [f"({d})" for d in inline]
                # a partial that mentions a per-sample value is a row; one that
                # mentions only single numbers (or none) is one number
                tmpl = forms.of(op).text_partials
                rows = [("{out}" in t) or any(f"{{{i}}}" in t and per[j] for i, j in enumerate(a))
                        for t in tmpl]
                ds = [d[1:-1] if d[1:-1] in ("1.0", "-1.0") else d for d in ds]
            else:
                blines.append(f"    _d = {fn(op)[1]}(_s, v{k}, {', '.join(xs)})")
                ds = [f"_d[{i}]" for i in range(len(a))]
                rows = [None] * len(a)          # a row or one number: not known here
            for i, j in targets:
                d, row = ds[i], rows[i]
                if per[j]:
                    contrib = (f"g{k}" if d == "1.0" else f"(-g{k})" if d == "-1.0"
                               else f"g{k} * {d}")
                    if j in has:
                        blines.append(f"    g{j} = g{j} + {contrib}")
                    else:
                        blines.append(f"    g{j} = {contrib}")
                        has.add(j)
                else:
                    backprop = True
                    if d == "1.0":
                        total = f"g{k}.sum()"
                    elif d == "-1.0":
                        total = f"(-g{k}.sum())"
                    elif row:
                        total = f"_dot(g{k}, {d})"
                    elif row is False:
                        total = f"g{k}.sum() * {d}"
                    else:
                        total = f"(g{k} * {d}).sum()"
                    blines.append(f"    G[{j}] += {total}")
                    sinks.add(j)
        self.backprop = backprop
        #: the single-number nodes this pass's backward adds to
        self.sinks = sorted(sinks)
        self.weights = [(r, ops[r].weight) for r in red]
        bsrc = ["def _B(V, G, S, m, _s):"] + blines + ["    return None"]
        code = "\n".join(src) + "\n\n" + "\n".join(src_chk) + "\n\n" + "\n".join(bsrc) + "\n"
        self.source = code
        exec(compile(code, "<graphdsl samples>", "exec"), namespace)
        # the caller silences numpy's warnings (numpy.errstate) around a whole evaluation
        F, FC, B = namespace["_F"], namespace["_FC"], namespace["_B"]
        scratch = plan.scratch
        self.fwd = lambda V, m: F(V, m, scratch(m))
        self.fwd_checked = lambda V, m: FC(V, m, scratch(m))
        self.bwd = lambda V, G, S, m: B(V, G, S, m, scratch(m))


def _total(np):
    ndarray = np.ndarray

    def total(x, m):
        """Σ x over the m samples (x may be one number, the same for each)."""
        if type(x) is ndarray and x.ndim:
            return float(x.sum())
        return float(x) * m
    return total


def _dot(np):
    einsum = np.einsum

    def dot(a, b):
        """Σ aᵢ·bᵢ. A long row goes through einsum's own loop rather than BLAS:
        BLAS hands a long dot product to its threads, whose start-up cost
        (and waiting on a busy machine) dwarfs the product itself (measured:
        13 ms for 16,384 values on 2 busy cores, against 6 µs with einsum)."""
        if len(a) < 4096:
            return a.dot(b)
        return einsum("i,i->", a, b)
    return dot


def _checksum(np):
    def checksum(m, *rows):
        """A number that is finite only if every value of every row is (a sum is
        not finite as soon as one term is not, barring overflow of the sum)."""
        total = 0.0
        for r in rows:
            total += float(np.sum(r))
        return total
    return checksum
