"""Plots of a run, for a learner who would rather look than read (matplotlib).

- :func:`run_figure`: |error| per iteration of a run on a log scale (for
  ``--minimize``: the output per iteration). When the run moves exactly one
  param, two more panels show the output as a function of that param with the
  iterates marked and each step drawn (the course's figure of the nonlinear
  game), and the derivative under it.
- :func:`compare_figure`: |error| per iteration of several runs (methods), log scale.
- :func:`fit_figure`: a fit's loss per epoch, log scale.
- :func:`save_figure`: SVG, PNG or PDF by the file's extension, written whole
  through :func:`graphdsl.fileio.write_atomic`. SVG output is deterministic
  (fixed hash salt, no date), so the same run gives the same bytes.

matplotlib is imported only here and only when a plot is asked for (it takes
~0.6 s); it is an optional dependency: ``pip install 'graphdsl[plot]'``.

>>> import graphdsl
>>> m = graphdsl.load("models/nonlinear.bp")
>>> fig = run_figure(m.solve(), m)        # doctest: +SKIP
>>> save_figure(fig, "run.svg")           # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
import os

from .errors import NumericError, UsageError

FORMATS = ("svg", "png", "pdf")
#: colours per method, the same in every plot
COLOURS = {"split": "#1f77b4", "frozen": "#d62728", "gd": "#2ca02c"}
#: the legend's words for a run that did not converge
STATES = {"numeric": "numeric failure", "diverging": "diverging", "max-iter": "max-iter reached",
          "stopped": "stopped"}
#: points on the curve of the one-param panel
CURVE_POINTS = 400


def _mpl():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plots need matplotlib, which is not installed",
                         hint="install it with: pip install 'graphdsl[plot]'") from None
    matplotlib.use("Agg", force=False)
    return matplotlib


_STYLE = {
    "svg.hashsalt": "graphdsl",     # deterministic ids in SVG
    "svg.fonttype": "none",         # text stays text: smaller files, searchable labels
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def plot_format(path) -> str:
    """The format a plot file's extension asks for; raises UsageError for another."""
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise UsageError(f"cannot tell the plot format of '{path}'",
                         hint="end the file name with .svg, .png or .pdf")
    return ext


def prepare(path) -> str:
    """Check, before any work, that ``path`` can get a plot: a known extension
    and matplotlib installed. Returns the format; raises UsageError otherwise."""
    fmt = plot_format(path)
    _mpl()
    return fmt


def _new_figure(width, height):
    mpl = _mpl()
    from matplotlib.figure import Figure

    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _positive(values):
    """|v| for a log axis; exact zeros become None (a log axis has no 0)."""
    return [abs(v) if v not in (None, 0.0) and math.isfinite(v) else None for v in values]


def _error_panel(ax, trace, label=None, colour=None, marker="o", clip=None, zorder=2):
    """One run's |error| (or output, for --minimize) per iteration on ``ax``.
    Values above ``clip`` are drawn at the clip with an arrow: a diverging run
    must not squash the others into a flat line. Returns the y drawn for each
    iteration (None where no point is drawn)."""
    its = [it.iteration for it in trace.iterations]
    # dozens of full-size markers merge into a thick band: shrink them on long runs
    size = 6 if len(its) <= 15 else (3.5 if len(its) <= 40 else 2)
    if trace.minimize:
        ys = [it.values[trace.output] for it in trace.iterations]
        if all(y > 0 for y in ys):
            ax.set_yscale("log")
        ax.plot(its, ys, marker=marker, markersize=size, color=colour, label=label)
        ax.set_ylabel(f"{trace.output} (minimised)")
        return ys
    ys = _positive([it.error for it in trace.iterations])
    ax.set_yscale("log")
    shown = [y if y is not None else math.nan for y in ys]
    cut = None
    if clip is not None and any(y is not None and y > clip for y in ys):
        cut = next(k for k, y in enumerate(ys) if y is not None and y > clip)
        shown = shown[:cut + 1]
        shown[cut] = clip
    ax.plot(its[:len(shown)], shown, marker=marker, markersize=size, color=colour, label=label,
            zorder=zorder)
    if cut is not None:
        worst = max(y for y in ys if y is not None)
        ax.annotate(f"{trace.method} diverges: |error| reaches {worst:.3g}",
                    (its[cut], clip), xytext=(10, -4), textcoords="offset points",
                    ha="left", va="top", fontsize=8, color=colour,
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.8})
    for i, y, it in zip(its, ys, trace.iterations):
        if y is None and it.error == 0.0:  # reached the target exactly: a log axis has no 0
            ax.annotate("error 0", (i, min(v for v in ys if v) if any(ys) else 1.0),
                        color=colour, fontsize=8, ha="center", va="top")
    ax.set_ylabel(f"|error| = |{trace.output} − target|")
    return [None if y is None or math.isnan(y) else y for y in shown] + [None] * (len(its) - len(shown))


def _tol_line(ax, trace):
    if trace.tol and not trace.minimize:
        ax.axhline(trace.tol, color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"tol {trace.tol:g}", (0, trace.tol), xycoords=("axes fraction", "data"),
                    xytext=(4, 2), textcoords="offset points", color="grey", fontsize=8,
                    va="bottom")


def _rings(ax, xs, ys, tag, rows=None):
    """One hollow red ring per iteration (or per row in ``rows``), each its own
    SVG group with the id ``gdmark-<tag>-<k>`` (k = the row of the trace), for
    a page that shows only the current one (the HTML report). The axes' limits
    are not moved."""
    for k, (x, y) in enumerate(zip(xs, ys)):
        if rows is not None and k not in rows:
            continue
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            continue
        ax.plot([x], [y], marker="o", markersize=15, markerfacecolor="none",
                markeredgecolor="#d62728", markeredgewidth=2.5, linestyle="none",
                zorder=6, gid=f"gdmark-{tag}-{k}", scalex=False, scaley=False)


def run_figure(trace, model=None, *, marks: bool = False):
    """The figure of one run (a matplotlib Figure, not yet written).

    With ``model`` given and exactly one param moved, it adds the curve panel
    (output against that param, iterates and steps marked) and the derivative
    panel. ``marks`` adds a ring around every iterate (True) or around the
    rows in a given set, one SVG element per iteration with the id
    ``gdmark-e-K`` (error plot) or ``gdmark-c-K`` (curve), all drawn: the HTML
    report's script shows only the current one.
    Raises UsageError when matplotlib is missing or the trace is empty.
    """
    if not trace.iterations:
        raise UsageError("the run has no iteration to plot")
    mpl = _mpl()
    one = model is not None and len(trace.params) == 1
    evaluated = trace.method is None  # no target: one pass, nothing iterated
    if evaluated and not one:
        raise UsageError("nothing to plot: without a target the run is one pass",
                         hint="give --target T or --minimize (a one-param model also "
                              "gets the curve of its output)")
    with mpl.rc_context(_STYLE):
        if evaluated:
            fig = _new_figure(6.4, 4.6)
            grid = fig.add_gridspec(3, 1)
            curve = fig.add_subplot(grid[:2, 0])
            deriv = fig.add_subplot(grid[2, 0], sharex=curve)
        elif one:
            fig = _new_figure(11, 4.6)
            grid = fig.add_gridspec(3, 2, width_ratios=[1, 1.25])
            ax = fig.add_subplot(grid[:, 0])
            curve = fig.add_subplot(grid[:2, 1])
            deriv = fig.add_subplot(grid[2, 1], sharex=curve)
        else:
            fig = _new_figure(6, 4)
            ax = fig.add_subplot()
        if not evaluated:
            method = trace.method
            shown = _error_panel(ax, trace, colour=COLOURS.get(method, "#1f77b4"))
            rows = None if marks is True else set(marks or ())
            if marks:
                _rings(ax, [it.iteration for it in trace.iterations], shown, "e", rows)
            _tol_line(ax, trace)
            ax.set_xlabel("iteration")
            ax.xaxis.get_major_locator().set_params(integer=True)
            goal = (f"minimise {trace.output}" if trace.minimize
                    else f"{trace.output} → {trace.target:g}")
            ax.set_title(f"{os.path.basename(trace.model)}: {goal}, method {method}",
                         fontsize=10)
        if one:
            _curve_panels(curve, deriv, trace, model)
            if marks and not evaluated:
                p, out = trace.params[0], trace.output
                _rings(curve, [it.values[p] for it in trace.iterations],
                       [it.values[out] for it in trace.iterations], "c",
                       None if marks is True else set(marks))
    return fig


def _curve_panels(ax, dax, trace, model):
    p = trace.params[0]
    out = trace.output
    c = model.compiled
    xs_it = [it.values[p] for it in trace.iterations]
    ys_it = [it.values[out] for it in trace.iterations]
    lo, hi = min(xs_it), max(xs_it)
    span = hi - lo
    # wide enough to see the curve's shape, not just the last tiny steps ...
    pad = max(span * 0.3, 0.15 * max(abs(lo), abs(hi), 1.0))
    if len(xs_it) == 1:  # one point (no run): show the curve's shape around it
        pad = max(abs(lo), 1.0)
    first = trace.iterations[0].values
    base = {q: first[q] for q in model.params if q in first}
    xs, ys, ds = _curve(c, base, p, lo - pad, hi + pad)
    # across 0 another branch may start (x² under log and sqrt): when the curve has a
    # gap on the other side of 0, stay on the iterates' side
    if (lo > 0 and lo - pad < 0 or hi < 0 and hi + pad > 0) and any(
            math.isnan(y) for x, y in zip(xs, ys) if (x < 0 if lo > 0 else x > 0)):
        lo, hi = (lo / 2, hi + pad) if lo > 0 else (lo - pad, hi / 2)
        xs, ys, ds = _curve(c, base, p, lo, hi)
    else:
        lo, hi = lo - pad, hi + pad
    colour = COLOURS.get(trace.method or "", "#1f77b4")
    ax.plot(xs, ys, color="black", linewidth=1.4, label=f"{out}({p})")
    newton = trace.target is not None and trace.method in ("split", "frozen")
    if trace.target is not None:
        ax.axhline(trace.target, color="grey", linestyle="--", linewidth=1)
        ax.annotate(f"target {trace.target:g}", (xs[0], trace.target), fontsize=8,
                    color="grey", va="bottom")
    # each step: from the iterate along the line the method used to the next x
    for k in range(len(xs_it) - 1):
        if newton:
            how = ("step: the tangent down to the target" if trace.method == "split"
                   else "step: the first slope, kept, down to the target")
            ax.plot([xs_it[k], xs_it[k + 1]], [ys_it[k], trace.target], color=colour,
                    linewidth=0.9, alpha=0.8, label=how if k == 0 else None)
            ax.plot([xs_it[k + 1], xs_it[k + 1]], [trace.target, ys_it[k + 1]], color=colour,
                    linewidth=0.7, linestyle=":")
        else:
            ax.annotate("", (xs_it[k + 1], ys_it[k + 1]), (xs_it[k], ys_it[k]),
                        arrowprops={"arrowstyle": "->", "color": colour, "lw": 0.9})
    single = len(xs_it) == 1
    ax.plot(xs_it, ys_it, "o", color=colour, markersize=5, zorder=3,
            label=f"{p} = {xs_it[0]:g}" if single else "iterates")
    # number the iterates, skipping those that would sit on the previous label
    yfin = [y for y in ys + ys_it if math.isfinite(y)]
    yspan = (max(yfin) - min(yfin)) or 1.0
    last = None
    for k, (x, y) in enumerate(zip(xs_it, ys_it)):
        if last is None or (abs(x - last[0]) > 0.04 * (hi - lo) or abs(y - last[1]) > 0.06 * yspan):
            ax.annotate(str(k), (x, y), textcoords="offset points", xytext=(-4, 5), fontsize=8,
                        color=colour, ha="right")
            last = (x, y)
    ax.set_ylabel(out)
    ax.set_title(f"{out} as a function of {p}" if single else
                 f"{out} as a function of {p}; the iterates {p}₀, {p}₁, …", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.tick_params(labelbottom=False)
    dax.plot(xs, ds, color="#9467bd", linewidth=1.2)
    dax.plot(xs_it, [it.gradients[p] for it in trace.iterations], "o", color=colour, markersize=4)
    dax.axhline(0, color="grey", linewidth=0.6)
    # near a singularity the derivative shoots off: scale to the bulk and the iterates
    dfin = sorted(v for v in ds if math.isfinite(v))
    if dfin:
        a, b = dfin[len(dfin) // 50], dfin[-1 - len(dfin) // 50]
        pts = [it.gradients[p] for it in trace.iterations] + [0.0, a, b]
        dlo, dhi = min(pts), max(pts)
        m = (dhi - dlo) * 0.12 or 1.0
        dax.set_ylim(dlo - m, dhi + m)
    dax.set_ylabel(f"∂{out}/∂{p}")
    dax.set_xlabel(p)


def _curve(c, base, p, lo, hi):
    """The output and its derivative at CURVE_POINTS + 1 values of p in [lo, hi]."""
    base = dict(base)
    xs, ys, ds = [], [], []
    for k in range(CURVE_POINTS + 1):
        x = lo + (hi - lo) * k / CURVE_POINTS
        base[p] = x
        try:
            vals = c.forward(base)
            adj = c.backward(vals)
            y, dy = vals[c.output], adj[c.index[p]]
        except NumericError:  # outside the domain: a gap in the curve
            y = dy = math.nan
        xs.append(x)
        ys.append(y)
        ds.append(dy)
    return xs, ys, ds


def compare_figure(traces: dict):
    """|error| per iteration of each run in ``traces`` (method -> Trace), log scale."""
    mpl = _mpl()
    with mpl.rc_context(_STYLE):
        fig = _new_figure(6.4, 4.2)
        ax = fig.add_subplot()
        markers = {"split": "o", "frozen": "s", "gd": "^"}
        first = None
        start = [abs(t.iterations[0].error) for t in traces.values()
                 if t.iterations and t.iterations[0].error]
        # runs that blow up are cut at 1000 × the starting error, so the others stay readable
        clip = max(start) * 1e3 if start else None
        for rank, (method, trace) in enumerate(traces.items()):
            first = first or trace
            n = len(trace.iterations)
            state = "converged" if trace.converged else STATES.get(trace.status, trace.status)
            _error_panel(ax, trace, label=f"{method}: {n} iterations, {state}",
                         colour=COLOURS.get(method), marker=markers.get(method, "o"), clip=clip,
                         zorder=10 - rank)
        if first is not None:
            _tol_line(ax, first)
        ax.set_xlabel("iteration")
        ax.xaxis.get_major_locator().set_params(integer=True)
        if first is not None:
            ax.set_title(f"{os.path.basename(first.model)}: {first.output} → "
                         f"{first.target:g}, |error| per iteration", fontsize=10)
        ax.legend(fontsize=8)
    return fig


def fit_figure(trace):
    """The loss on the whole data set per epoch of a fit (a
    :class:`~graphdsl.trace.FitTrace`), log scale when every loss is positive;
    a loss that stopped being finite ends the line with a note."""
    fig = _new_figure(6.4, 3.6)
    ax = fig.add_subplot()
    epochs = [e.epoch for e in trace.epochs]
    losses = [e.loss for e in trace.epochs]
    size = 6 if len(epochs) <= 15 else (3.5 if len(epochs) <= 40 else 2)
    if losses and all(v > 0 for v in losses):
        ax.set_yscale("log")
    ax.plot(epochs, losses, marker="o", markersize=size, color=COLOURS["gd"],
            label=f"{trace.optimizer}, lr {trace.lr:g}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{trace.output} (all {trace.samples} samples)")
    batch = "full batch" if trace.batch_size >= trace.samples else f"batch {trace.batch_size}"
    ax.set_title(f"{os.path.basename(trace.model)}: {trace.output} per epoch ({batch})")
    if trace.status == "numeric" and epochs:
        ax.annotate("the next value is not finite", (epochs[-1], losses[-1]),
                    xytext=(10, 0), textcoords="offset points", color="#d62728")
    ax.legend(loc="upper right")
    return fig


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure encoded as ``fmt`` (svg, png or pdf); SVG and PDF carry no date."""
    mpl = _mpl()
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else ({"CreationDate": None} if fmt == "pdf" else {})
    with mpl.rc_context(_STYLE):
        fig.savefig(buf, format=fmt, metadata=meta, dpi=150 if fmt == "png" else "figure")
    return buf.getvalue()


def save_figure(fig, path, *, protect=()) -> None:
    """Write ``fig`` to ``path`` (format from the extension) atomically.

    Raises UsageError for an unknown extension or a path that cannot be written.
    """
    from .fileio import write_atomic

    write_atomic(path, figure_bytes(fig, plot_format(path)), protect=protect)
