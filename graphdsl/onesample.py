"""A data model seen from one of its samples: the numbers a plate picture and
the chain rule over samples show.

The loss of a data model is a sum over its samples (``mean``: each sample
weighted 1/n, ``sum``: 1), so ∂loss/∂param is a sum too: each sample adds its
own chain rule, through its own copies of the per-sample nodes. For sample k:

- a per-sample node's *value* is sample k's, every other node's is its one
  value over the whole data set (a reduction's value needs every sample);
- a per-sample node's *adjoint* is ∂loss/∂(that node at sample k): it starts
  at each reduction over it as the reduction's adjoint × weight(n) (the local
  partial ∂mean/∂xₖ = 1/n), and flows back through sample k's nodes only.
  This holds for every loss shape, also when a reduction's result is used
  again per sample (``x - mean(x)``): the reduction's adjoint is its total
  over all samples, computed first;
- a single-number node's *contribution* from sample k is what sample k's
  nodes add to its adjoint; a param's total is the sum of the contributions
  of every sample plus its *direct* part (paths from the output that meet no
  per-sample node, such as a penalty ``+ w^2``).

:class:`SampleView` computes the totals once for a param point (the sample
evaluator with every adjoint kept); :meth:`SampleView.at` then looks at any
sample with plain scalar arithmetic, each op's own ``forward`` and
``partials`` (the scalar engine's meaning), in time proportional to the graph.

>>> import graphdsl
>>> m = graphdsl.loads("data x = [1, 2, 3]\\nparam w = 2\\npred = w*x\\nloss = mean((pred - 3)^2)")
>>> s = SampleView(m).at(2)                            # the third sample: x = 3
>>> s.values["pred"], s.adjoints["pred"]               # 6; (1/3)·2·(6 - 3)
(6.0, 2.0)
>>> s.contributions["w"], s.totals["w"]                # 2·3; -2/3·1 + 2/3·2 + 2·3
(6.0, 6.666666666666667)
"""

from __future__ import annotations

from .errors import NUMERIC_ERRORS, UsageError


def check_sample(n: int, k: int, option: str = "--sample") -> int:
    """The 0-based index of the 1-based sample number ``k`` of ``n`` samples;
    UsageError when there is no such sample.

    >>> check_sample(100, 3)
    2
    """
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= n:
        raise UsageError(f"{option} {k}: the data has {n} sample{'s' if n != 1 else ''}",
                         hint=f"give a sample number from 1 to {n} (a CSV's data rows "
                              "are numbered from 1, after the header)")
    return k - 1


def sample_of(model, k: int, option: str = "--sample") -> int:
    """The 0-based index of the 1-based sample ``k`` of ``model``'s data.
    Raises UsageError for a model without data columns (every node has one
    value: there is no sample to choose) or a sample its data does not have."""
    if not model.data_names:
        raise UsageError(f"{option} {k}: {model.name} has no data columns, so every node has "
                         "one value and there is no sample to choose",
                         hint=f"leave out {option}: it picks a sample of a data model")
    return check_sample(model.data.n, k, option)


class OneSample:
    """Sample ``k`` (0-based; ``row`` is its 1-based number) of ``n``, by name:

    ``values``: every named node (per-sample ones at this sample);
    ``adjoints``: ∂output/∂node, for a per-sample node at this sample, for a
    single-number node its total over all samples (``totals`` as well);
    ``partials``: the statement view's edge labels at this sample, (parent,
    child) -> ∂child/∂parent, with ∂reduction/∂operand = weight(n) (a
    reduction hidden in a per-sample statement is a total over all samples:
    the edge does not pass through it);
    ``contributions``: what this sample adds to each single-number named
    node's adjoint (0.0 for a node no per-sample node uses);
    ``direct``: the part of a single-number node's adjoint that comes through
    no sample; ``per_sample``: the per-sample named nodes.

    The same numbers for every node of the flat graph (hidden ones too, as
    ``render --ops`` draws them), by position in the engine's order:
    ``value_at``, ``adjoint_at``, ``contribution_at``, ``direct_at``; and
    ``is_per``, whether a position is per-sample.
    """

    __slots__ = ("k", "row", "n", "values", "adjoints", "totals", "partials",
                 "contributions", "direct", "per_sample",
                 "value_at", "adjoint_at", "contribution_at", "direct_at", "is_per")

    def __init__(self, **fields):
        for name in self.__slots__:
            setattr(self, name, fields[name])

    def __repr__(self) -> str:
        return f"<OneSample {self.row} of {self.n}>"


class SampleView:
    """A data model at one param point (``params``, the model's own values by
    default) over its data (``data``, the model's by default): the totals over
    all samples, computed once; :meth:`at` looks at one sample.

    Raises UsageError when the model has no data columns or no data, and
    NumericError (naming the statement and the sample) as an evaluation does.
    """

    def __init__(self, model, params=None, data=None):
        if not model.data_names:
            raise UsageError(f"{model.name} has no data columns: every node is one number")
        self.model = model
        self.c = model.compiled
        plan = self.plan = model.samples
        self.data = data if data is not None else model.data
        self.n = self.data.n
        self.params = dict(model.param_values if params is None else params)
        self.per = plan.per
        self.V, self.G = plan.every_adjoint().totals(self.params, self.data)
        self._direct = self._direct_adjoints()

    # -- the pieces ---------------------------------------------------------------
    def _partials(self, k, vals):
        """Node k's local partials at ``vals``: a reduction's is its weight."""
        op = self.c.ops[k]
        if op.reduces:
            return [op.weight(self.n)]
        xs = [vals[j] for j in self.c.args[k]]
        try:
            return op.partials(*xs, vals[k])
        except NUMERIC_ERRORS:
            # a partial that is not a number here (∂sqrt(x)/∂x at x = 0, which no
            # param needs): inf or nan, as the evaluator over samples gets it
            return self._array_partials(op, xs, vals[k])

    def _array_partials(self, op, xs, out) -> list[float]:
        """The op's partials from its array forms, on one sample (IEEE: inf, nan)."""
        plan = self.plan
        np = plan.np
        with np.errstate(all="ignore"):
            ds = plan.arrays(op).partials(plan.scratch(1), np.array([out]),
                                          *[np.array([x]) for x in xs])
            return [float(np.broadcast_to(np.asarray(d, dtype=float), (1,))[0]) for d in ds]

    def _statement_partials(self, k, vals, root):
        """Node k's local partials inside the statement of node ``root``, for
        the statement view's edges at one sample. A reduction inside a
        per-sample statement (``pred = w*x - mean(w*x)``) is a total over all
        samples, not a part of this sample's copy: the edge stops there (its
        partial is 0), as ``graphdsl explain`` treats it as a given total."""
        op = self.c.ops[k]
        if op.reduces and self.per[root]:
            return [0.0]
        return self._partials(k, vals)

    def _direct_adjoints(self):
        """Adjoints along paths that meet no per-sample node: the scalar part
        of the graph, from the output, not entering any reduction."""
        c, per = self.c, self.per
        D = [0.0] * len(c.ops)
        D[c.output] = 1.0
        for k in range(len(c.ops) - 1, -1, -1):
            op = c.ops[k]
            if op is None or per[k] or op.reduces or D[k] == 0.0:
                continue
            for j, d in zip(c.args[k], self._partials(k, self.V)):
                D[j] += D[k] * d
        return D

    def check_sample(self, k: int, option: str = "--sample") -> int:
        """The 0-based index of the 1-based sample number ``k``; UsageError
        when the data has no such sample (see :func:`check_sample`)."""
        return check_sample(self.n, k, option)

    def at(self, k: int) -> OneSample:
        """Sample ``k`` (0-based) seen through the chain rule (see the module doc)."""
        if not 0 <= k < self.n:
            raise IndexError(k)
        c, per, G = self.c, self.per, self.G
        fg = c.flat
        ops, args = c.ops, c.args
        columns = self.data.columns
        vals = list(self.V)
        for pos in range(len(ops)):
            if fg.kind[pos] == "data":
                vals[pos] = float(columns[fg.name[pos]][k])
            elif per[pos] and ops[pos] is not None:
                vals[pos] = ops[pos].forward(*[vals[j] for j in args[pos]])
        adj = [G[p] if not per[p] else 0.0 for p in range(len(ops))]
        contrib = [0.0] * len(ops)
        for pos in range(len(ops) - 1, -1, -1):
            op = ops[pos]
            if op is None:
                continue
            if op.reduces:
                j = args[pos][0]
                if per[j]:
                    adj[j] += G[pos] * op.weight(self.n)
                continue
            if not per[pos]:
                # what this sample gave a single-number node flows on to its
                # single-number operands (never through a reduction)
                if contrib[pos]:
                    for j, d in zip(args[pos], self._partials(pos, vals)):
                        if not per[j]:
                            contrib[j] += contrib[pos] * d
                continue
            g = adj[pos]
            if g == 0.0:
                continue
            for j, d in zip(args[pos], self._partials(pos, vals)):
                if per[j]:
                    adj[j] += g * d
                else:
                    contrib[j] += g * d
        named = c.named
        index = c.index
        partials = c.local_partials(vals, partials=self._statement_partials)
        scalar = [nm for nm in named if not per[index[nm]]]
        return OneSample(
            k=k, row=k + 1, n=self.n,
            values={nm: float(vals[index[nm]]) for nm in named},
            adjoints={nm: float(adj[index[nm]]) for nm in named},
            totals={nm: float(G[index[nm]]) for nm in scalar},
            partials=partials,
            contributions={nm: float(contrib[index[nm]]) for nm in scalar},
            direct={nm: float(self._direct[index[nm]]) for nm in scalar},
            per_sample=[nm for nm in named if per[index[nm]]],
            value_at=vals, adjoint_at=adj, contribution_at=contrib,
            direct_at=self._direct, is_per=per)

    def local_partials_at(self, s: OneSample, pos: int) -> list[float]:
        """The local partials of the node at position ``pos`` for the sample
        ``s`` (a reduction's: its weight), in the order of its operands."""
        return self._partials(pos, s.value_at)
