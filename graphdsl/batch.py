"""Batch evaluation: a model's values and gradients over arrays of parameter values.

Sweeps and plots evaluate one model for hundreds or thousands of parameter
settings. Instead of running the scalar engine once per setting, this module
runs the compiled order once with numpy arrays in place of numbers: each op is
one vectorised call (``Op.np_forward``/``Op.np_partials``), so the cost per op
and per sample is a few nanoseconds instead of a few hundred.

An op without the numpy forms (a plugin's op, say) still works: it is
evaluated sample by sample with its ``forward``/``partials``, slower but
exactly as the scalar engine does.

A sample outside an op's domain (``log`` of a negative number) gives NaN for
that sample instead of an error, so one bad corner of a sweep does not lose
the rest; :attr:`BatchResult.ok` says which samples are finite throughout.

numpy is imported here, lazily: ``graphdsl run`` never loads it. It comes with
the ``batch`` extra (``pip install graphdsl[batch]``).

>>> import graphdsl
>>> from graphdsl.batch import evaluate
>>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = (2*w + 3*b) * (2*b + 1)")
>>> r = evaluate(m, {"b": [4.0, 5.0]})
>>> r.values["z"].tolist(), r.gradients["b"].tolist()
([162.0, 231.0], [63.0, 75.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UsageError

_NUMERIC = (ValueError, ZeroDivisionError, OverflowError, TypeError)


@dataclass
class BatchResult:
    """Values (and gradients) of every named node, one array entry per sample."""

    size: int
    values: dict = field(default_factory=dict)
    #: ∂output/∂node (or ∂wrt/∂node) per named node; None when not asked for
    gradients: dict | None = None
    #: True where every named value (and gradient) of the sample is finite
    ok: object = None

    def __repr__(self) -> str:
        bad = int(self.size - self.ok.sum()) if self.ok is not None else 0
        return (f"<BatchResult {self.size} samples, {len(self.values)} named nodes"
                + (f", {bad} not finite" if bad else "") + ">")


def _np():
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a dependency of the batch extra
        raise UsageError("batch evaluation needs numpy",
                         hint="pip install 'graphdsl[batch]' (or pip install numpy)") from None
    return numpy


def evaluate(model, values=None, *, gradients: bool = True, wrt: str | None = None) -> BatchResult:
    """Evaluate ``model`` once per sample, all samples at once.

    ``values`` maps params (or named constants) to arrays (or numbers) of the
    same length, one entry per sample; params not given keep the model's
    current value. Returns a :class:`BatchResult` whose ``values`` (and
    ``gradients``, unless ``gradients=False``) hold one array per named node.

    Raises :class:`UsageError` for a name that is not a param or named
    constant, or arrays of different lengths.

    >>> import graphdsl
    >>> m = graphdsl.loads("param x = 1\\ny = x*x")
    >>> evaluate(m, {"x": [1.0, 2.0, 3.0]}).gradients["x"].tolist()
    [2.0, 4.0, 6.0]
    """
    np = _np()
    c = model.compiled
    fg = c.flat
    index = c.index
    vals: list = list(c.init)
    for p, v in model.param_values.items():
        vals[index[p]] = float(v)
    size = None
    for name, arr in (values or {}).items():
        k = index.get(name)
        if k is None or fg.name[k] is None or c.ops[k] is not None:
            from .build import _did_you_mean

            what = "is computed, not a param" if k is not None else "is not in the model"
            raise UsageError(f"cannot vary '{name}': it {what}",
                             hint=_did_you_mean(name, model.params) or
                             ("params: " + ", ".join(model.params) if model.params else None))
        a = np.array(arr, dtype=float)  # a copy: results never alias the caller's arrays
        if a.ndim == 0:
            vals[k] = float(a)
            continue
        a = a.reshape(-1)
        if size is not None and a.shape[0] != size:
            raise UsageError(f"'{name}' has {a.shape[0]} values, but another param has {size}",
                             hint="give every varied param the same number of values")
        size = a.shape[0]
        vals[k] = a
    size = 1 if size is None else size

    ops, args = c.ops, c.args
    with np.errstate(all="ignore"):
        for k, op in enumerate(ops):
            if op is None:
                continue
            xs = [vals[j] for j in args[k]]
            f = op.np_forward
            vals[k] = f(*xs) if f is not None else _per_sample(np, op.forward, xs, size)
        named_pos = [index[n] for n in c.named]
        out = _rows(np, c.named, [vals[k] for k in named_pos], size)
        ok = np.ones(size, dtype=bool)
        for a in out.values():
            ok &= np.isfinite(a)
        result = BatchResult(size=size, values=out, ok=ok)
        if not gradients:
            return result

        start = c.output if wrt is None else index.get(wrt)
        if start is None:
            raise UsageError(f"'{wrt}' is not a node of the model")
        adj: list = [None] * len(vals)
        adj[start] = 1.0
        # owned[j]: adj[j] is an array made here for j alone, safe to add into in place
        owned = [False] * len(vals)
        for k in range(start, -1, -1):
            op = ops[k]
            g = adj[k]
            if op is None or g is None:
                continue
            a = args[k]
            xs = [vals[j] for j in a]
            p = op.np_partials
            if p is not None:
                ds = p(*xs, vals[k])
            else:
                ds = _per_sample_partials(np, op.partials, xs + [vals[k]], size, len(a))
            for j, d in zip(a, ds):
                if type(d) is float and d == 1.0:
                    contribution = g  # shared, so never to be changed in place
                else:
                    contribution = g * d
                prev = adj[j]
                if prev is None:
                    adj[j] = contribution
                    owned[j] = contribution is not g and _is_full(np, contribution, size)
                elif owned[j]:
                    # an array only this adjoint holds: add in place, no new array
                    np.add(prev, contribution, out=prev)
                else:
                    adj[j] = prev + contribution
                    owned[j] = _is_full(np, adj[j], size)
        grads = _rows(np, c.named, [adj[k] for k in named_pos], size)
        for a in grads.values():
            ok &= np.isfinite(a)
        result.gradients = grads
    return result


def _is_full(np, x, size) -> bool:
    return isinstance(x, np.ndarray) and x.shape == (size,) and x.dtype == float


def _rows(np, names, xs, size) -> dict:
    """One array per name, each a row of one new block: the results never alias
    each other (``y = x``) or anything the pass used; None stands for zeros."""
    block = np.empty((len(names), size))
    for i, x in enumerate(xs):
        block[i] = 0.0 if x is None else x
    return dict(zip(names, block))


def _columns(np, xs, size):
    return [np.broadcast_to(np.asarray(x, dtype=float), (size,)).tolist() for x in xs]


def _per_sample(np, f, xs, size):
    """An op with no numpy form: call it once per sample (NaN where it fails)."""
    out = np.empty(size)
    for i, row in enumerate(zip(*_columns(np, xs, size))):
        try:
            out[i] = f(*row)
        except _NUMERIC:
            out[i] = np.nan
    return out


def _per_sample_partials(np, p, xs, size, arity):
    out = np.empty((arity, size))
    for i, row in enumerate(zip(*_columns(np, xs, size))):
        try:
            ds = p(*row)
            for r in range(arity):
                out[r, i] = ds[r]
        except _NUMERIC:
            out[:, i] = np.nan
    return list(out)
