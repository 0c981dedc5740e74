"""Batch evaluation: a model's values and gradients over arrays of parameter values.

Sweeps and plots evaluate one model for hundreds or thousands of parameter
settings. Instead of running the scalar engine once per setting, this module
runs the compiled order once with numpy arrays in place of numbers: each op is
one vectorised call, so the cost per op and per sample is a few nanoseconds
instead of a few hundred.

How an op runs over arrays is decided in one place, :func:`op_arrays`, and
never by the op's class or name: numpy code made from the op's templates
(:mod:`graphdsl.ops.forms`; every built-in op), writing into preallocated
rows; else the op's own ``np_forward``/``np_partials``; else its scalar
``forward``/``partials`` once per sample. The backward pass multiplies and
adds each partial into the adjoint's row in place. Which nodes vary, the
steps and the work rows are kept on the compiled model between calls (fresh
memory costs a page fault per 4 KB).

Each sample means what the scalar engine means. :attr:`BatchResult.ok` is
False exactly for the samples where :meth:`graphdsl.engine.Compiled.forward`
(or ``backward``, when gradients are asked for) would raise: a value outside
an op's domain, a division by zero even when a later op absorbs its ±inf,
a derivative that is not finite. numpy raises a floating-point flag whenever
an op makes a NaN or an infinity from finite numbers; only then are that op's
results looked at, so finding the failing samples costs nothing when there
are none. A sample whose backward pass met a NaN or an infinity (where a zero
adjoint meets an infinite local partial, say, which the scalar engine skips)
is evaluated again by the scalar engine, and its numbers are the engine's.
Where ``ok`` is False the gradients are NaN, and the values are what the
arithmetic gave (NaN or ±inf from the failing op on).

numpy is imported here, lazily: ``graphdsl run`` never loads it. It is one of
graphdsl's dependencies.

>>> import graphdsl
>>> from graphdsl.batch import evaluate
>>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = (2*w + 3*b) * (2*b + 1)")
>>> r = evaluate(m, {"b": [4.0, 5.0]})
>>> r.values["z"].tolist(), r.gradients["b"].tolist()
([162.0, 231.0], [63.0, 75.0])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import NUMERIC_ERRORS, NumericError, UsageError
from .ops import forms



@dataclass
class BatchResult:
    """Values (and gradients) of every named node, one array entry per sample."""

    size: int
    values: dict = field(default_factory=dict)
    #: ∂output/∂node (or ∂wrt/∂node) per named node; None when not asked for
    gradients: dict | None = None
    #: True where the scalar engine evaluates the sample (and its gradients,
    #: when asked for) without an error
    ok: object = None

    def __repr__(self) -> str:
        bad = int(self.size - self.ok.sum()) if self.ok is not None else 0
        return (f"<BatchResult {self.size} samples, {len(self.values)} named nodes"
                + (f", {bad} not finite" if bad else "") + ">")


def require_numpy():
    """numpy, or a UsageError that says how to install it (batch evaluation,
    data models and fits need it; it is one of graphdsl's dependencies)."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a dependency of graphdsl
        raise UsageError("this needs numpy",
                         hint="pip install numpy (it comes with graphdsl)") from None
    return numpy


# --- one op over arrays ----------------------------------------------------------------

class OpArrays:
    """How one op runs over arrays: the only place batch evaluation calls an
    op's numpy forms (or, lacking them, its scalar ones sample by sample).

    ``forward(dst, s, *operands)`` writes the op's value for every sample
    into the array ``dst``; ``partials(s, out, *operands)`` returns one
    partial per operand, each a float, an operand, ``out`` or a row of ``s``
    (valid until the next call). Operands are arrays of the samples' shape or
    floats; ``s`` is a list of at least ``rows`` arrays of that shape.
    ``exact_forward``/``exact_partials`` are True when every NaN or infinity
    the form makes from finite operands raises a numpy floating-point flag
    (code made from templates); otherwise the caller checks every result.
    ``how`` says which form runs: "templates", "numpy" or "per sample".

    >>> import numpy as np
    >>> from graphdsl.ops import default_registry
    >>> tanh = op_arrays(default_registry(entry_points=False).get("tanh"))
    >>> dst, s = np.empty(2), [np.empty(2) for _ in range(tanh.rows)]
    >>> tanh.forward(dst, s, np.array([0.0, 20.0])); tanh.how
    'templates'
    >>> tanh.partials(s, dst, np.array([0.0, 20.0]))[0].tolist()
    [1.0, 1.6993417021166355e-17]
    """

    __slots__ = ("op", "forward", "partials", "rows", "exact_forward", "exact_partials", "how")

    def __init__(self, op, forward, partials, rows, exact_forward, exact_partials, how):
        self.op = op
        self.forward = forward
        self.partials = partials
        self.rows = rows
        self.exact_forward = exact_forward
        self.exact_partials = exact_partials
        self.how = how

    def __repr__(self) -> str:
        return f"<OpArrays {self.op.name} by {self.how}>"


def op_arrays(op) -> OpArrays:
    """The :class:`OpArrays` of ``op``: numpy code made from its templates
    where it gives them, else its own ``np_forward``/``np_partials`` (a
    plugin's, guarded), else its scalar forms sample by sample (a sample
    where they raise a domain error gets NaN). An op's own numpy forms win
    over code made from its templates, direction by direction.

    Raises :class:`~graphdsl.errors.PluginError` (later, when called) for a
    plugin's form that raises or returns the wrong shape.
    """
    np = require_numpy()
    try:
        f = forms.of(op)
    except forms.TemplateError:  # registered ops have checked templates: kept for safety
        f = None
    fw_k, bw_k, rows = f.numpy_kernels() if f is not None else (None, None, 0)
    own_f = forms.applicable(op, "np_forward", "forward")
    own_p = forms.applicable(op, "np_partials", "partials")
    forward, exact_f, how_f = _choose(
        None if own_f is None else (lambda dst, s, *xs: np.copyto(dst, own_f(*xs))),
        fw_k, lambda: _forward_by_sample(np, op.forward))
    partials, exact_p, how_p = _choose(
        None if own_p is None else (lambda s, out, *xs: own_p(*xs, out)),
        bw_k, lambda: _partials_by_sample(np, op.partials, op.arity))
    return OpArrays(op, forward, partials, rows, exact_f, exact_p,
                    how_f if how_f == how_p else f"{how_f} forward, {how_p} partials")


def _choose(own, made, by_sample):
    """(function, exact, how): the op's own numpy form, else the code made
    from its template, else ``by_sample()``."""
    if own is not None:
        return own, False, "numpy"
    if made is not None:
        return made, True, "templates"
    return by_sample(), False, "per sample"


def _forward_by_sample(np, forward):
    """``forward(dst, s, *xs)`` calling the scalar ``forward`` once per sample
    (NaN where it raises a domain error)."""
    def by_sample(dst, s, *xs):
        for i, row in enumerate(zip(*_columns(np, xs, dst.shape[0]))):
            try:
                dst[i] = forward(*row)
            except NUMERIC_ERRORS:
                dst[i] = math.nan
    return by_sample


def _partials_by_sample(np, partials, arity):
    """``partials(s, out, *xs)`` calling the scalar ``partials`` once per
    sample (NaN where it raises a domain error)."""
    def by_sample(s, out, *xs):
        size = out.shape[0] if isinstance(out, np.ndarray) else 1
        ds = np.empty((arity, size))
        for i, row in enumerate(zip(*_columns(np, list(xs) + [out], size))):
            try:
                d = partials(*row)
                for r in range(arity):
                    ds[r, i] = d[r]
            except NUMERIC_ERRORS:
                ds[:, i] = math.nan
        return tuple(ds)
    return by_sample


def _columns(np, xs, size):
    return [np.broadcast_to(np.asarray(x, dtype=float), (size,)).tolist() for x in xs]


# --- evaluation -------------------------------------------------------------------------

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
    np = require_numpy()
    c = model.compiled
    fg = c.flat
    index = c.index
    vals: list = list(c.init)
    for p, v in model.param_values.items():
        vals[index[p]] = float(v)
    size = None
    varied = []
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
        varied.append(k)
    size = 1 if size is None else size
    start = None
    if gradients:
        start = c.output if wrt is None else index.get(wrt)
        if start is None:
            raise UsageError(f"'{wrt}' is not a node of the model")

    named_pos = [index[nm] for nm in c.named]
    varying, row_of, hidden, steps, rows, kern_of, fixed_leaves = _plan(np, c, vals)
    # One work block for hidden values, hidden adjoints and the scratch rows,
    # kept on the compiled model between calls: fresh memory costs a page
    # fault per 4 KB on first touch, about as much as the ops themselves.
    n_adj = len(vals) - len(named_pos)
    work = _take_work(np, c, (hidden + n_adj + rows + 1, size))
    try:
        result, again = _passes(np, c, vals, varying, row_of, steps, kern_of, fixed_leaves,
                                named_pos,
                                np.empty((len(named_pos), size)), work[:hidden],
                                work[hidden:hidden + n_adj], list(work[hidden + n_adj:]),
                                size, start)
    finally:
        _give_work(c, work)
    if again is not None and again.any():
        _by_the_engine(np, c, model, vals, varied, again, result, start)
    if result.gradients is not None:
        for g in result.gradients.values():
            g[~result.ok] = math.nan
    return result


def _plan(np, c, vals):
    """Which nodes vary, the row of each named node, the steps and the scratch
    rows they need, kept on the compiled model for the next call with the
    same varied params (working these out costs about as much as the numpy
    calls of a small batch)."""
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
    rows = 0
    arrays: dict = {}
    kern_of: list = [None] * n
    # (node, OpArrays or None when no operand varies, op, operands, row in the
    # values block, row in the hidden block, exact_forward)
    steps = []
    for k, op in enumerate(ops):
        if op is None:
            continue
        a = args[k]
        varying[k] = any(varying[j] for j in a)
        if not varying[k]:
            steps.append((k, None, op, a, -1, -1, True))
            continue
        kern = arrays.get(id(op))
        if kern is None:
            kern = arrays[id(op)] = op_arrays(op)
            rows = max(rows, kern.rows)
        kern_of[k] = kern
        if row_of[k] >= 0:
            steps.append((k, kern, op, a, row_of[k], -1, kern.exact_forward))
        else:
            steps.append((k, kern, op, a, -1, hidden, kern.exact_forward))
            hidden += 1
    # leaves that no sample varies: a non-finite one fails every sample
    fixed_leaves = [k for k, op in enumerate(ops) if op is None and not varying[k]]
    plan = (varying, row_of, hidden, steps, rows, kern_of, fixed_leaves)
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


def _passes(np, c, vals, varying, row_of, steps, kern_of, fixed_leaves, named_pos, values_block,
            hidden_block, adj_block, scratch, size, start):
    """The forward (and backward, when ``start`` is a node) pass of
    :func:`evaluate`, into the given rows. Returns the result, whose ``ok``
    says which samples failed in the forward pass, and the samples whose
    backward pass met a NaN or an infinity (None without a backward pass)."""
    ops, args = c.ops, c.args
    n = len(vals)
    flag = [False]

    def raised(_kind, _code):  # numpy calls this for every call that made a NaN or an infinity
        flag[0] = True

    bad = np.zeros(size, dtype=bool)
    all_bad = False
    with np.errstate(all="call", call=raised):
        for k in named_pos:
            if varying[k] and ops[k] is None:  # a varied param: its row holds a copy
                values_block[row_of[k]] = vals[k]
                vals[k] = values_block[row_of[k]]
                bad |= ~np.isfinite(vals[k])
        all_bad = not all(math.isfinite(vals[k]) for k in fixed_leaves)
        for k, kern, op, a, r, hr, exact in steps:
            if kern is None:  # depends on no varied param: the scalar op, as the engine runs it
                xs = [vals[j] for j in a]
                try:
                    v = op.forward(*xs)
                except NUMERIC_ERRORS:
                    v = math.nan
                if not math.isfinite(v):
                    all_bad = True
                vals[k] = v
                continue
            dst = values_block[r] if r >= 0 else hidden_block[hr]
            if len(a) == 2:
                kern.forward(dst, scratch, vals[a[0]], vals[a[1]])
            elif len(a) == 1:
                kern.forward(dst, scratch, vals[a[0]])
            else:
                kern.forward(dst, scratch, *[vals[j] for j in a])
            if flag[0] or not exact:
                flag[0] = False
                bad |= ~np.isfinite(dst)
            vals[k] = dst
        for k in named_pos:
            if not varying[k]:
                values_block[row_of[k]] = vals[k]
        if all_bad:
            bad[:] = True
        result = BatchResult(size=size, values=dict(zip(c.named, values_block)), ok=~bad)
        if start is None:
            return result, None

        again = np.zeros(size, dtype=bool)
        grad_block = np.empty((len(named_pos), size))
        tmp = scratch[-1]
        adj: list = [None] * n  # the row holding node k's adjoint, once one was added
        wanted = c.checked  # a literal's adjoint is never asked for (nor checked by the engine)
        a_next = 0
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
            kern = kern_of[k]
            if kern is None:
                try:
                    ds = op.partials(*[vals[j] for j in a], vals[k])
                except NUMERIC_ERRORS:
                    ds = (math.nan,) * len(a)
                if not all(math.isfinite(d) for d in ds):
                    flag[0] = True
            else:
                if len(a) == 2:
                    ds = kern.partials(scratch, vals[k], vals[a[0]], vals[a[1]])
                elif len(a) == 1:
                    ds = kern.partials(scratch, vals[k], vals[a[0]])
                else:
                    ds = kern.partials(scratch, vals[k], *[vals[j] for j in a])
                if not kern.exact_partials:
                    flag[0] = True
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
            if flag[0]:
                # A NaN or an infinity: in a partial (perhaps where the adjoint is
                # 0, which the scalar engine skips) or in an adjoint. Those samples
                # are left to the scalar engine.
                flag[0] = False
                for j, d in zip(a, ds):
                    again |= ~np.isfinite(d)
                    if wanted[j]:
                        again |= ~np.isfinite(adj[j])
        for k in named_pos:
            if adj[k] is None:
                grad_block[row_of[k]] = 0.0
        result.gradients = dict(zip(c.named, grad_block))
    return result, again & ~bad


def _by_the_engine(np, c, model, vals, varied, samples, result, start) -> None:
    """Evaluate ``samples`` again with the scalar engine and put its numbers
    (or ok False, where it raises) into ``result``."""
    base = {p: float(v) for p, v in model.param_values.items()}
    index = c.index
    named = [(r, index[nm]) for r, nm in enumerate(c.named)]
    values = list(result.values.values())
    grads = list(result.gradients.values())
    for i in np.flatnonzero(samples).tolist():
        overrides = dict(base)
        for k in varied:
            overrides[c.order[k]] = float(vals[k][i])
        try:
            v = c.forward(overrides)
            g = c.backward(v, start)
        except NumericError:
            result.ok[i] = False
            continue
        for r, k in named:
            values[r][i] = v[k]
            grads[r][i] = g[k]
