"""The iteration loop: forward, backward, step.

Methods, for each adjusted param p (n of them):

- ``split`` (default): Δp = (error / n) / (∂out/∂p), partials recomputed each
  iteration. With one param it is Newton's method.
- ``frozen``: the same with the partials of the first iteration kept.
- ``gd``: Δp = lr · error · ∂out/∂p (gradient descent on ½ error²).
- ``minimize=True``: gradient descent on the output itself, Δp = lr · ∂out/∂p.

``error`` is ``output - target``; p ← p − Δp. The loop never raises for a
numeric failure: it stops and keeps the failure in the trace, so the rows so
far can still be shown. Why it stopped is data (``Trace.stop``, a
:class:`~graphdsl.trace.Reason`); the words are chosen where they are printed.
"""

from __future__ import annotations

import math

from .errors import GraphdslError, NumericError, UsageError
from .text import format_number as _f
from .trace import Iteration, Reason, Trace

METHODS = ("split", "frozen", "gd")
#: consecutive iterations of growing |error| after which a run is called diverging
DIVERGING_AFTER = 6
#: a run that comes back to the params of one of its last this-many iterations
#: has stalled (it would repeat itself for ever)
STALL_WINDOW = 64
#: params that stay within this relative spread over a cycle differ only by rounding
ROUNDING = 1e-12
#: the most steps a run may take: every iteration is kept (the table, the JSON,
#: the report), about 1 KB for the seed's five nodes and more for bigger models
MAX_ITER_LIMIT = 100_000


def solve(model, target=None, *, method="split", params=None, tol=1e-4, max_iter=100,
          lr=0.1, minimize=False, stop_below=None) -> Trace:
    """Run the model towards ``target`` (or down, with ``minimize``).

    Returns a :class:`~graphdsl.trace.Trace`. Raises :class:`UsageError` for
    arguments that cannot work (unknown method, a ``params`` entry that is not
    a param, a tolerance or a learning rate that is not above 0).
    """
    if method not in METHODS:
        raise UsageError(f"unknown method '{method}'",
                         hint="use one of: " + ", ".join(METHODS))
    if tol is None or not tol > 0:
        raise UsageError(f"--tol must be greater than 0, got {tol}",
                         hint="an error of exactly 0 is out of reach in floats (about 16 "
                              "significant digits): use e.g. 1e-12")
    if (minimize or method == "gd") and not (lr is not None and lr > 0):
        raise UsageError(f"--lr must be greater than 0, got {lr}",
                         hint="a learning rate is a positive step size, e.g. 0.1")
    if max_iter is None or not 0 <= max_iter <= MAX_ITER_LIMIT:
        raise UsageError(f"--max-iter must be between 0 and {MAX_ITER_LIMIT:,}, got {max_iter}",
                         hint="every iteration is kept for the table and the JSON; a run that "
                              "needs more steps needs another method or a larger --lr")
    if minimize and method == "frozen":
        raise UsageError("--minimize runs gradient descent on the output; --method frozen "
                         "does not apply to it", hint="drop --method, or drop --minimize")
    if stop_below is not None and not minimize:
        raise UsageError("--stop-below only applies with --minimize",
                         hint="add --minimize, or use --target to reach a value")
    if minimize and target is not None:
        raise UsageError("--minimize and a target exclude each other",
                         hint="drop --target to minimise the output, or drop --minimize")
    chosen = model.check_params(params)
    c = model.compiled
    out_name = model.output
    solving = target is not None or minimize
    trace = Trace(model=model.name, output=out_name,
                  target=float(target) if target is not None else None,
                  method=("gd" if minimize else method) if solving else None,
                  params=list(chosen), minimize=minimize,
                  lr=lr if (minimize or method == "gd") else None, tol=tol)
    current = dict(model.param_values)
    frozen = None
    growing = 0
    previous = None
    recent: dict[tuple, int] = {}   # the params of the last STALL_WINDOW iterations -> iteration
    for it in range(max_iter + 1):
        try:
            vals = c.forward(current)
            adj = c.backward(vals)
        except NumericError as e:
            trace.stop = Reason("numeric", {"detail": str(e.message), "iteration": it})
            e.message = trace.message
            if trace.iterations and trace.iterations[-1].steps:
                before = trace.iterations[-1]
                moved = ", ".join(f"{p} from {_f(before.values[p])} to {_f(current[p])}"
                                  for p in before.steps)
                e.notes.append(f"the step of iteration {before.iteration} moved {moved}")
            if growing >= 2:
                e.notes.append(f"|error| had grown {growing} iterations in a row: "
                               "the run was diverging")
                if method == "gd" or minimize:
                    e.hint = "try a smaller --lr"
            trace.status, trace.failure = "numeric", e
            return trace
        values = c.by_name(vals)
        grads = c.by_name(adj)
        out = values[out_name]
        error = (out - target) if target is not None else None
        row = Iteration(it, values, error, grads)
        trace.iterations.append(row)
        if not solving:
            trace.status, trace.stop = "evaluated", Reason("evaluated")
            trace.converged = True
            return trace
        partial = {p: grads[p] for p in chosen}
        if minimize:
            if stop_below is not None and out < stop_below:
                trace.status, trace.converged = "converged", True
                trace.stop = Reason("below", {"out": out_name, "value": out, "limit": stop_below})
                return trace
            if max(abs(v) for v in partial.values()) < tol:
                trace.status, trace.converged = "converged", True
                trace.stop = Reason("gradient-small", {"out": out_name, "tol": tol})
                return trace
        else:
            if abs(error) < tol:
                trace.status, trace.converged = "converged", True
                trace.stop = Reason("reached", {"error": error, "tol": tol})
                return trace
            if previous is not None and abs(error) > abs(previous):
                growing += 1
                if growing >= DIVERGING_AFTER:
                    trace.status = "diverging"
                    trace.stop = Reason("diverging-gd" if method == "gd" else "diverging",
                                        {"n": growing, "error": abs(error)})
                    trace.failure = _stop(model, trace, hint=(
                        "try a smaller --lr" if method == "gd" else
                        "try --method gd with a small --lr, a target within reach, or other "
                        "starting values (--set NAME=VALUE)"))
                    return trace
            else:
                growing = 0
            previous = error
        # The params decide the next iteration (frozen's partials are fixed from
        # iteration 0 on), so params seen before mean the run would go round
        # the same iterations for ever: near the target, rounding swings the
        # error by a few units in the last place (±3e-14 at 150), and no --tol
        # below that can ever be met.
        state = tuple(current[p] for p in chosen)
        again = recent.get(state)
        if again is not None:
            trace.status = "stalled"
            trace.stop = _stalled(trace, again, it, error, partial)
            learning = method == "gd" or minimize
            trace.failure = _stop(model, trace, hint=(
                ("try a smaller --lr" if learning else
                 "start from other values (--set NAME=VALUE) or try --method gd")
                if trace.stop.code == "cycling" else
                f"loosen --tol (now {tol:g})" + (", or take bigger steps with a larger --lr"
                                                 if learning else "")))
            return trace
        recent[state] = it   # new (a repeat has returned), so the dict keeps arrival order
        if len(recent) > STALL_WINDOW:
            del recent[next(iter(recent))]
        if it == max_iter:
            trace.status = "max-iter"
            rows = len(trace.iterations)
            if error is not None:
                trace.stop = Reason("max-iter", {"n": rows, "error": error})
            else:
                trace.stop = Reason("max-iter-minimize", {
                    "n": rows, "out": out_name,
                    "gradient": max(abs(v) for v in partial.values())})
            trace.failure = _stop(model, trace, hint=(
                f"allow more with --max-iter (now {max_iter}), or loosen --tol (now {tol:g})"
                + ("; a larger --lr takes bigger steps" if method == "gd" or minimize else "")))
            return trace
        if method == "frozen" and frozen is None:
            frozen = dict(partial)
        use = frozen if method == "frozen" else partial
        steps: dict[str, float] = {}
        movable = [p for p in chosen if use[p] != 0.0]
        if not movable and not minimize:
            # a flat spot: no method can move the output towards the target
            # (--minimize is done there: every |∂out/∂p| is 0 < tol)
            trace.status = "stopped"
            trace.stop = Reason("zero-partials", {"out": out_name, "iteration": it})
            if method != "gd":
                row.skipped.update({p: Reason("zero-partial", {"out": out_name, "p": p})
                                    for p in chosen})
            trace.failure = _stop(model, trace, at=chosen[0], hint=(
                f"{out_name} does not change when the params move a little (a flat spot, "
                f"e.g. relu below 0 or the bottom of x^2): start from other values "
                f"(--set {chosen[0]}=...), or the target may be out of reach"))
            return trace
        if minimize:
            steps = {p: lr * use[p] for p in chosen}
        elif method == "gd":
            steps = {p: lr * error * use[p] for p in chosen}
        else:
            for p in chosen:
                if use[p] == 0.0:
                    row.skipped[p] = Reason("zero-partial", {"out": out_name, "p": p})
            n = len(movable)
            steps = {p: (error / n) / use[p] for p in movable}
        bad = [p for p, s in steps.items() if not math.isfinite(s)]
        if bad:
            # a partial so small (or a rate so large) that the step is infinite:
            # stop here rather than carry inf into the next pass and the JSON
            p = bad[0]
            trace.status = "numeric"
            fields = {"p": p, "iteration": it, "out": out_name, "partial": use[p]}
            if error is not None:
                trace.stop = Reason("infinite-step", {**fields, "error": error})
            else:
                trace.stop = Reason("infinite-step-minimize", fields)
            trace.failure = _stop(model, trace, at=p, hint=(
                "a partial this close to 0 cannot carry the error: start from other values "
                f"(--set {p}=...)" if method == "split" and not minimize else
                "use a smaller --lr"))
            trace.failure.kind = "numeric error"
            return trace
        row.steps = steps
        for p, s in steps.items():
            current[p] = current[p] - s
    return trace  # pragma: no cover - the loop always returns


def _stalled(trace, again: int, it: int, error, partial) -> Reason:
    """Why a run that is back at the params of iteration ``again`` stopped:
    ``stalled`` when the params went round by rounding only (the limit of
    float precision), ``cycling`` when the run jumps between distinct points."""
    spread = 0.0
    for p in trace.params:
        seen = [row.values[p] for row in trace.iterations[again:it + 1]]
        size = max(abs(v) for v in seen)
        if size > 0:
            spread = max(spread, (max(seen) - min(seen)) / size)
    fields = {"iteration": it, "again": again, "out": trace.output}
    if spread > ROUNDING:
        return Reason("cycling", {**fields, "period": it - again})
    if error is None:
        return Reason("stalled-minimize", {**fields, "gradient": max(abs(v) for v in partial.values())})
    return Reason("stalled", {**fields, "error": abs(error)})


def _stop(model, trace, hint, at=None) -> NumericError:
    """The one message for a run that stopped without converging (exit 1).

    ``at`` names a param whose statement the message points at."""
    info = model.flat.graph    # the same data as model.graph.graph, without building networkx
    pos = info.get("definitions", {}).get(at) if at is not None else None
    e = NumericError(trace.message, file=model.name,
                     line=pos[0] if pos else None, column=pos[1] if pos else None,
                     source=info.get("source") if pos else None, hint=hint)
    e.kind = "error"  # the run ended without a result, but no number went wrong
    return e


__all__ = ["solve", "METHODS", "GraphdslError"]
