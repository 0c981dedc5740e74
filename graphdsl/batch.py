"""Batch evaluation: a model's values and gradients over arrays of parameter values.

Sweeps and plots evaluate one model for hundreds or thousands of parameter
settings. Instead of running the scalar engine once per setting, this module
runs the compiled order once with numpy arrays in place of numbers: each op is
one vectorised call (``Op.np_forward``/``Op.np_partials``), so the cost per op
and per sample is a few nanoseconds instead of a few hundred.

Builtin ops write their results into preallocated rows (numpy ``out=``), and
the backward pass multiplies and adds each partial into the adjoint's row in
place, reusing the forward's values (tanh' = 1 - out², exp' = out): the same
float operations, in the same order, as ``np_forward``/``np_partials``, so the
results are identical, with no new array per op.  Which nodes vary and the
forward steps are worked out once per set of varied params and kept on the
compiled model, with the work rows (fresh memory costs a page fault per 4 KB).

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
            from .text import did_you_mean

            what = "is computed, not a param" if k is not None else "is not in the model"
            raise UsageError(f"cannot vary '{name}': it {what}",
                             hint=did_you_mean(name, model.params) or
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
    n = len(vals)
    named_pos = [index[nm] for nm in c.named]
    # Where each value lives: named nodes in the rows of one block (returned
    # as is: no copy, no aliasing), the rest of the varying nodes in another.
    # Writing every op's result into its row with ``out=`` means no new array
    # per op.  Nodes that depend on no varied param stay plain numbers.
    values_block = np.empty((len(named_pos), size))
    varying, row_of, hidden, steps = _plan(np, c, vals)
    # One work block for hidden values, hidden adjoints and three scratch rows,
    # kept on the compiled model between calls: fresh memory costs a page fault
    # per 4 KB on first touch, about as much as the ops themselves.
    n_adj = n - len(named_pos)
    work = _take_work(np, c, (hidden + n_adj + 3, size))
    hidden_block = work[:hidden]
    try:
        return _passes(np, c, vals, varying, row_of, steps, named_pos, values_block, hidden_block,
                       work[hidden:hidden + n_adj], work[hidden + n_adj:], size, gradients, wrt)
    finally:
        _give_work(c, work)


def _plan(np, c, vals):
    """Which nodes vary, the row of each named node and the forward steps,
    kept on the compiled model for the next call with the same varied params
    (working these out costs about as much as the numpy calls of a small batch)."""
    ops, args, index = c.ops, c.args, c.index
    varying = [type(v) is not float and not isinstance(v, (int, np.floating)) for v in vals]
    key = tuple(k for k, v in enumerate(varying) if v)
    cached = c.__dict__.get("_batch_plan")
    if cached is not None and cached[0] == key:
        return cached[1]
    n = len(vals)
    row_of = [-1] * n
    for r, nm in enumerate(c.named):
        row_of[index[nm]] = r
    hidden = 0
    steps = []  # (node, kernel or None, op, operands, row in the values block, row in hidden)
    for k, op in enumerate(ops):
        if op is None:
            continue
        a = args[k]
        varying[k] = any(varying[j] for j in a)
        if not varying[k]:
            steps.append((k, None, op, a, -1, -1))
        elif row_of[k] >= 0:
            steps.append((k, _FORWARD.get(type(op)), op, a, row_of[k], -1))
        else:
            steps.append((k, _FORWARD.get(type(op)), op, a, -1, hidden))
            hidden += 1
    plan = (varying, row_of, hidden, steps)
    c.__dict__["_batch_plan"] = (key, plan)
    return plan


def _take_work(np, c, shape):
    work = c.__dict__.pop("_batch_work", None)
    if work is None or work.shape != shape:
        work = np.empty(shape)
    return work


def _give_work(c, work):
    if work.nbytes <= _KEEP_WORK_BYTES:
        c.__dict__["_batch_work"] = work


#: the largest work block kept between calls (bigger ones are made afresh)
_KEEP_WORK_BYTES = 64 * 2**20


def _passes(np, c, vals, varying, row_of, steps, named_pos, values_block, hidden_block, adj_block,
            scratch, size, gradients, wrt):
    """The forward (and backward) pass of :func:`evaluate`, into the given rows."""
    ops, args, index = c.ops, c.args, c.index
    n = len(vals)
    with np.errstate(all="ignore"):
        for k in named_pos:
            if varying[k] and ops[k] is None:  # a varied param: its row holds a copy
                values_block[row_of[k]] = vals[k]
                vals[k] = values_block[row_of[k]]
        for k, kernel, op, a, r, hr in steps:
            xs = [vals[j] for j in a]
            if r < 0 and hr < 0:  # depends on no varied param: plain numbers
                f = op.np_forward
                vals[k] = f(*xs) if f is not None else _per_sample(np, op.forward, xs, size)
                continue
            dst = values_block[r] if r >= 0 else hidden_block[hr]
            if kernel is not None:
                kernel(np, dst, *xs)
            else:
                f = op.np_forward
                dst[...] = f(*xs) if f is not None else _per_sample(np, op.forward, xs, size)
            vals[k] = dst
        for k in named_pos:
            if not varying[k]:
                values_block[row_of[k]] = vals[k]
        out = dict(zip(c.named, values_block))
        ok = np.isfinite(values_block).all(axis=0)
        result = BatchResult(size=size, values=out, ok=ok)
        if not gradients:
            return result

        start = c.output if wrt is None else index.get(wrt)
        if start is None:
            raise UsageError(f"'{wrt}' is not a node of the model")
        grad_block = np.empty((len(named_pos), size))
        tmp = scratch[2]
        adj: list = [None] * n  # the row holding node k's adjoint, once one was added
        wanted = [op is not None for op in ops]  # hidden constants need no adjoint
        a_next = 0
        for k in named_pos:
            wanted[k] = True
        adj[start] = grad_block[row_of[start]] if row_of[start] >= 0 else adj_block[0]
        if row_of[start] < 0:
            a_next = 1
        adj[start][...] = 1.0
        for k in range(start, -1, -1):
            op = ops[k]
            g = adj[k]
            if op is None or g is None:
                continue
            a = args[k]
            xs = [vals[j] for j in a]
            kernel = _PARTIALS.get(type(op))
            if kernel is not None:
                ds = kernel(np, scratch, vals[k], *xs)
            else:
                p = op.np_partials
                if p is not None:
                    ds = p(*xs, vals[k])
                else:
                    ds = _per_sample_partials(np, op.partials, xs + [vals[k]], size, len(a))
            for j, d in zip(a, ds):
                if not wanted[j]:
                    continue
                row = adj[j]
                if row is None:
                    # the first contribution is written straight into the adjoint's row
                    if row_of[j] >= 0:
                        row = grad_block[row_of[j]]
                    else:
                        row = adj_block[a_next]
                        a_next += 1
                    adj[j] = row
                    if type(d) is float and d == 1.0:
                        np.copyto(row, g)
                    elif type(d) is float and d == -1.0:
                        np.negative(g, out=row)
                    else:
                        np.multiply(g, d, out=row)
                elif type(d) is float and d == 1.0:
                    np.add(row, g, out=row)
                elif type(d) is float and d == -1.0:
                    np.subtract(row, g, out=row)  # row + g*-1.0, exactly
                else:
                    np.multiply(g, d, out=tmp)
                    np.add(row, tmp, out=row)
        for k in named_pos:
            if adj[k] is None:
                grad_block[row_of[k]] = 0.0
        result.gradients = dict(zip(c.named, grad_block))
        ok &= np.isfinite(grad_block).all(axis=0)
    return result


# Builtin ops written into a given row (``out=``): the same numpy operations,
# in the same order, as their ``np_forward``/``np_partials``, so the results are
# identical, without a new array per op.  Keyed by class, so a plugin op that
# reuses a builtin's name still runs its own code.
def _fw_sigmoid(np, out, x):
    np.negative(x, out=out)
    np.exp(out, out=out)
    np.add(1.0, out, out=out)
    np.divide(1.0, out, out=out)


def _bw_tanh(np, s, out, x):
    t = s[0]
    np.multiply(out, out, out=t)
    np.subtract(1.0, t, out=t)
    return (t,)


def _bw_sigmoid(np, s, out, x):
    t = s[0]
    np.subtract(1.0, out, out=t)
    np.multiply(out, t, out=t)
    return (t,)


def _bw_div(np, s, out, a, b):
    t, u = s[0], s[1]
    np.divide(1.0, b, out=t)
    np.negative(out, out=u)
    np.divide(u, b, out=u)
    return (t, u)


def _kernels():
    from .ops import builtin as b

    fw = {
        b.Add: lambda np, out, x, y: np.add(x, y, out=out),
        b.Sub: lambda np, out, x, y: np.subtract(x, y, out=out),
        b.Mul: lambda np, out, x, y: np.multiply(x, y, out=out),
        b.Div: lambda np, out, x, y: np.divide(x, y, out=out),
        b.Neg: lambda np, out, x: np.negative(x, out=out),
        b.Exp: lambda np, out, x: np.exp(x, out=out),
        b.Tanh: lambda np, out, x: np.tanh(x, out=out),
        b.Sigmoid: _fw_sigmoid,
        b.Identity: lambda np, out, x: np.copyto(out, x),
    }
    bw = {
        b.Add: lambda np, s, out, x, y: (1.0, 1.0),
        b.Sub: lambda np, s, out, x, y: (1.0, -1.0),
        b.Mul: lambda np, s, out, x, y: (y, x),
        b.Div: _bw_div,
        b.Neg: lambda np, s, out, x: (-1.0,),
        b.Exp: lambda np, s, out, x: (out,),
        b.Tanh: _bw_tanh,
        b.Sigmoid: _bw_sigmoid,
        b.Identity: lambda np, s, out, x: (1.0,),
    }
    return fw, bw


_FORWARD, _PARTIALS = _kernels()


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
