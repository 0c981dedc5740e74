"""Training the params of a model on its data: epochs of mini-batch steps.

Each epoch goes through the samples in mini-batches (in the order of
``numpy.random.default_rng(seed).permutation(n)``, a new permutation each
epoch; the whole set in its own order when the batch holds every sample). Each
step evaluates the loss on the batch (``mean`` then averages over the batch)
and moves the params with the optimizer, as ``torch.optim`` does with its
defaults, so a learner can compare number for number:

- ``sgd``: p ← p − lr·g
- ``momentum`` (``torch.optim.SGD(momentum=0.9)``): b ← 0.9·b + g (b = g at
  the first step), p ← p − lr·b
- ``adam`` (``torch.optim.Adam``, β = 0.9, 0.999, ε = 1e-8): m ← m + 0.1·(g − m),
  v ← 0.999·v + 0.001·g², p ← p − (lr / (1 − 0.9ᵗ))·m / (√v / √(1 − 0.999ᵗ) + ε)

Every epoch ends with one row measured on the whole data set (the loss, the
params and the full-data gradient ∂loss/∂p); epoch 0 is the start. The fit
stops after ``epochs``, or as soon as the largest full-data |∂loss/∂p| is
below ``tol`` (converged). It never raises for a numeric failure: it stops
and keeps the failure in the trace, so the rows so far can still be shown.

The model is compiled once (:class:`graphdsl.samples.SamplePlan`) and that
plan serves every step and every row.

>>> import graphdsl
>>> m = graphdsl.loads("data x = [0, 1, 2, 3]\\ndata y = [1, 3, 5, 7]\\nparam w = 0\\n"
...                    "param b = 0\\nloss = mean((w*x + b - y)^2)")
>>> t = fit(m, epochs=2000, lr=0.1)
>>> t.status, round(t.result()["values"]["w"], 4), round(t.result()["values"]["b"], 4)
('converged', 2.0, 1.0)
"""

from __future__ import annotations

import math

from .errors import GraphdslError, NumericError, UsageError
from .trace import Epoch, FitTrace, Iteration, Reason, Trace

OPTIMIZERS = ("sgd", "momentum", "adam")
MOMENTUM = 0.9
BETAS = (0.9, 0.999)
EPS = 1e-8


class Optimizer:
    """One optimizer's state over the params (a numpy vector); ``step(p, g)``
    returns the params after one step with gradient ``g``."""

    def __init__(self, name: str, lr: float, np):
        self.name, self.lr, self.np = name, lr, np
        self.t = 0
        self.buf = None
        self.m = self.v = None

    def step(self, p, g):
        np = self.np
        self.t += 1
        lr = self.lr
        if self.name == "sgd":
            return p - lr * g
        if self.name == "momentum":
            self.buf = g.copy() if self.buf is None else MOMENTUM * self.buf + g
            return p - lr * self.buf
        b1, b2 = BETAS
        if self.m is None:
            self.m = np.zeros_like(p)
            self.v = np.zeros_like(p)
        # in torch's order of operations (lerp, then the bias corrections), so
        # the numbers agree with torch.optim.Adam to the last bits or nearly
        self.m = self.m + (1.0 - b1) * (g - self.m)
        self.v = self.v * b2 + (1.0 - b2) * g * g
        bc1 = 1.0 - b1 ** self.t
        bc2 = 1.0 - b2 ** self.t
        denom = np.sqrt(self.v) / math.sqrt(bc2) + EPS
        return p - (lr / bc1) * (self.m / denom)


def check_options(epochs, batch_size, lr, optimizer, tol, seed) -> None:
    """Raise UsageError for options a fit cannot use."""
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer '{optimizer}'",
                         hint="use one of: " + ", ".join(OPTIMIZERS))
    if epochs is None or epochs < 0 or int(epochs) != epochs:
        raise UsageError(f"--epochs must be a whole number, 0 or more, got {epochs}")
    if batch_size is not None and (batch_size < 1 or int(batch_size) != batch_size):
        raise UsageError(f"--batch-size must be a whole number, 1 or more, got {batch_size}",
                         hint="leave it out to use every sample in each step")
    if lr is None or not (lr > 0 and math.isfinite(lr)):
        raise UsageError(f"--lr must be a positive number, got {lr}", hint="for example --lr 0.1")
    if tol is None or not tol >= 0:
        raise UsageError(f"--tol must be a non-negative number, got {tol}")
    if seed is None or int(seed) != seed:
        raise UsageError(f"--seed must be a whole number, got {seed}")


def fit(model, *, epochs=100, batch_size=None, lr=0.1, optimizer="sgd", seed=0, tol=1e-6,
        params=None, on_epoch=None) -> FitTrace:
    """Train ``model``'s params on its data (see the module doc); returns a
    :class:`~graphdsl.trace.FitTrace`. The model's own param values are left
    as they were: the trained values are in the trace's result.

    ``on_epoch(row, trace)`` is called after each row (a progress bar, say).
    A model without data columns is trained on its output as it is: every
    step is a full step.

    Raises :class:`UsageError` for options that cannot work, a model with no
    param, or a data model whose columns have no values.
    """
    from .batch import require_numpy

    np = require_numpy()
    check_options(epochs, batch_size, lr, optimizer, tol, seed)
    chosen = model.check_params(params)
    data = model.data            # raises when a declared column has no values
    n = data.n if data is not None else 1
    bs = n if batch_size is None or batch_size >= n else int(batch_size)
    names = model.params
    trace = FitTrace(model=model.name, output=model.output, params=list(chosen),
                     optimizer=optimizer, lr=float(lr), batch_size=bs, samples=n, seed=int(seed),
                     tol=float(tol), data=data.file if data is not None else None)
    moving = np.array([p in chosen for p in names])
    every = bool(moving.all())
    p = np.array([model.param_values[q] for q in names], dtype=float)
    opt = Optimizer(optimizer, float(lr), np)
    rng = np.random.default_rng(int(seed))
    if data is not None:
        plan = model.samples
        full = {plan.data_pos[c]: col for c, col in data.columns.items()}
    else:
        plan = full = None
    out = model.output

    def row(epoch, p):
        values_now = dict(zip(names, p.tolist()))
        if plan is not None:
            r = plan.evaluate(values_now, data)
            values, grads = r.values, r.gradients
        else:
            c = model.compiled
            vals = c.forward(values_now)
            adj = c.backward(vals)
            values, grads = c.by_name(vals), c.by_name(adj)
        ordered = {q: values[q] for q in names}
        ordered.update((k, v) for k, v in values.items() if k not in ordered)
        return Epoch(epoch, values[out], ordered, {k: grads[k] for k in ordered})

    def step_gradient(p, idx):
        """The loss and gradient (a vector over the params) on the samples idx."""
        if plan is None:
            c = model.compiled
            vals = c.forward(dict(zip(names, p.tolist())))
            adj = c.backward(vals)
            return vals[c.output], [adj[c.index[q]] for q in names]
        if idx is None:
            cols, m = full, n
        else:
            cols, m = {k: col[idx] for k, col in full.items()}, len(idx)
        return plan.loss_and_gradient(p, cols, m)

    # a value that is not finite is checked for, not warned about
    with np.errstate(all="ignore"):
        for epoch in range(int(epochs) + 1):
            try:
                r = row(epoch, p)
            except NumericError as e:
                _numeric(trace, e, epoch, lr)
                return trace
            trace.epochs.append(r)
            if on_epoch is not None:
                on_epoch(r, trace)
            worst = max((abs(r.gradients[q]) for q in chosen), default=0.0)
            if worst < tol:
                trace.status, trace.converged = "converged", True
                trace.stop = Reason("gradient-small", {"out": out, "tol": tol})
                return trace
            if epoch == epochs:
                trace.status = "max-epochs"
                trace.stop = Reason("max-epochs", {"n": epoch, "out": out, "gradient": worst,
                                                   "tol": tol})
                trace.failure = _stop(model, trace.message,
                                      f"allow more with --epochs (now {epochs}), loosen --tol (now "
                                      f"{tol:g}), or take bigger steps with a larger --lr (now {lr:g})")
                return trace
            order = rng.permutation(n) if bs < n else None
            for s, start in enumerate(range(0, n, bs)):
                idx = order[start:start + bs] if order is not None else None
                try:
                    loss, g = step_gradient(p, idx)
                except NumericError as e:   # a single-number op outside its domain
                    _numeric(trace, e, epoch + 1, lr, step=s + 1)
                    return trace
                if not (math.isfinite(loss) and all(map(math.isfinite, g))):
                    # the checked evaluation of the same samples names what went wrong
                    try:
                        if plan is not None:
                            plan.evaluate(dict(zip(names, p.tolist())), data, idx)
                        e = NumericError(f"the loss of a mini-batch is {loss}")
                    except NumericError as err:
                        e = err
                    _numeric(trace, e, epoch + 1, lr, step=s + 1)
                    return trace
                p = opt.step(p, np.array(g)) if every else np.where(moving, opt.step(p, np.array(g)), p)
                trace.steps += 1
                if not all(map(math.isfinite, p.tolist())):
                    q = names[int(np.flatnonzero(~np.isfinite(p))[0])]
                    e = NumericError(f"the step made {q} {p[names.index(q)]}: beyond the largest float")
                    _numeric(trace, e, epoch + 1, lr, step=s + 1)
                    return trace
    return trace  # pragma: no cover - the loop always returns


def _numeric(trace, e: NumericError, epoch: int, lr, step=None) -> None:
    trace.stop = (Reason("numeric-epoch", {"detail": str(e.message), "epoch": epoch})
                  if step is None else
                  Reason("numeric-step", {"detail": str(e.message), "epoch": epoch, "step": step}))
    e.message = trace.message
    if epoch > 0:
        last = trace.last
        if last is not None:
            shown = ", ".join(f"{q} = {_f(last.values[q])}" for q in trace.params)
            e.notes.append(f"at the end of epoch {last.epoch}: {shown}, {trace.output} = "
                           f"{_f(last.loss)}")
        e.hint = (f"the steps took the params where a value is not a finite number: try a "
                  f"smaller --lr (now {_f(lr)}), or start from other values (--set NAME=VALUE)")
    trace.status, trace.failure = "numeric", e


def _f(v):
    from .text import format_number

    return format_number(v)


def _stop(model, message, hint) -> NumericError:
    e = NumericError(message, file=model.name, hint=hint)
    e.kind = "error"   # the fit ended without converging, but no number went wrong
    return e


def evaluate_once(model, target=None, *, method="split", params=None, tol=1e-4, max_iter=100,
                  lr=0.1, minimize=False, stop_below=None) -> Trace:
    """``run`` on a data model: one forward and one backward pass over all the
    samples, as a :class:`~graphdsl.trace.Trace` of one iteration with the
    single-number nodes (per-sample nodes have no one value to show).

    Raises UsageError when asked to solve for a target or to minimise: that is
    what ``graphdsl fit`` does for a data model.
    """
    if target is not None or minimize:
        raise UsageError(f"{model.name} is a data model: `run` evaluates it once, and `fit` "
                         f"trains it", hint=f"graphdsl fit {model.name} --data FILE.csv "
                                            f"(--lr, --epochs, --optimizer sgd|momentum|adam)")
    chosen = model.check_params(params) if model.params else []
    trace = Trace(model=model.name, output=model.output, target=None, method=None,
                  params=list(chosen))
    try:
        r = model.samples.evaluate(model.param_values, model.data)
    except NumericError as e:
        trace.status, trace.failure = "numeric", e
        trace.stop = Reason("numeric", {"detail": str(e.message), "iteration": 0})
        return trace
    trace.iterations.append(Iteration(0, dict(r.values), None, dict(r.gradients)))
    trace.status, trace.converged, trace.stop = "evaluated", True, Reason("evaluated")
    return trace


__all__ = ["fit", "evaluate_once", "OPTIMIZERS", "GraphdslError"]
