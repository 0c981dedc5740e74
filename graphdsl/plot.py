"""Plots of a run, for a learner who would rather look than read (matplotlib).

- :func:`run_figure`: |error| per iteration of a run on a log scale (for
  ``--minimize``: the output per iteration). When the run moves exactly one
  param, two more panels show the output as a function of that param with the
  iterates marked and each step drawn (the course's figure of the nonlinear
  game), and the derivative under it.
- :func:`compare_figure`: |error| per iteration of several runs (methods), log scale.
- :func:`fit_figure`: a fit's loss per epoch, log scale, and with the model
  the data with its prediction (a curve over the epochs, or a decision boundary).
- :func:`fit_report_figure`: the same for the HTML report, with a ring and
  the data panel as one layer per shown epoch, for a page that steps through them.
- :func:`save_figure`: SVG, PNG or PDF by the file's extension, written whole
  through :func:`graphdsl.fileio.write_atomic`. SVG output is deterministic
  (fixed hash salt, no date), so the same run gives the same bytes.

Every figure takes ``lang`` ("en" or "zh"): its words come from
:mod:`graphdsl.i18n` (the ``p_*`` keys), the model's names stay as they are.
In Chinese an installed CJK font (:func:`cjk_font`) goes after the default
family, for PNG and PDF; without one, :func:`font_note` is the warning to give.

matplotlib is imported only here and only when a plot is asked for (it takes
~0.6 s); it is an optional dependency: ``pip install 'graphdsl[plot]'``.

>>> import graphdsl
>>> m = graphdsl.load("models/nonlinear.bp")
>>> fig = run_figure(m.solve(), m)        # doctest: +SKIP
>>> save_figure(fig, "run.svg")           # doctest: +SKIP
"""

from __future__ import annotations

import functools
import io
import math
import os
import warnings

from .errors import NumericError, UsageError
from .i18n import tr

FORMATS = ("svg", "png", "pdf")
#: colours per method, the same in every plot
COLOURS = {"split": "#1f77b4", "frozen": "#d62728", "gd": "#2ca02c"}
#: the run states compare's legend has words for (i18n keys "p_state_<state>")
STATES = ("numeric", "diverging", "max-iter", "stopped")
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


#: families known to cover Chinese, looked for among the installed fonts (by the start of the name)
CJK_FAMILIES = ("Noto Sans CJK", "Noto Serif CJK", "Noto Sans SC", "Noto Sans TC", "Source Han Sans",
                "Source Han Serif", "WenQuanYi", "AR PL", "Droid Sans Fallback", "Sarasa",
                "Microsoft YaHei", "SimHei", "SimSun", "PingFang", "Hiragino Sans GB", "Heiti")
#: the Debian package that gives a font with Chinese glyphs
CJK_PACKAGE = "fonts-noto-cjk"


def _style(lang):
    """The plots' rc settings for ``lang``: in Chinese, an installed CJK font
    after the default family, so Latin text keeps its font and a Chinese
    glyph comes from the CJK one (matplotlib falls back glyph by glyph)."""
    font = cjk_font() if lang == "zh" else None
    if font is None:
        return _STYLE
    from matplotlib import rcParams

    return {**_STYLE, "font.family": [*rcParams["font.family"], font]}


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs that
    matplotlib can use (one of :data:`CJK_FAMILIES` that holds 中), or None.
    Raises UsageError when matplotlib is missing.

    >>> cjk_font()          # doctest: +SKIP
    'Noto Sans CJK JP'
    """
    _mpl()
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    for entry in sorted(font_manager.fontManager.ttflist, key=lambda f: (f.name, f.fname)):
        if not entry.name.startswith(CJK_FAMILIES):
            continue
        try:
            if FT2Font(entry.fname).get_char_index(ord("中")):
                return entry.name
        except (OSError, RuntimeError, ValueError):  # an unreadable font file: try the next
            continue
    return None


def font_note(path, lang: str) -> str | None:
    """What a user should know before opening the plot ``path`` drawn in
    ``lang``: a PNG or PDF in Chinese shows its Chinese as boxes when no
    installed font has Chinese glyphs (an SVG keeps its text as text, and the
    browser draws it with its own fonts). None when all is well.
    Raises UsageError for a path with no plot format.

    >>> font_note("fit.svg", "zh") is None
    True
    """
    if lang != "zh" or plot_format(path) == "svg" or cjk_font() is not None:
        return None
    return (f"no installed font has Chinese glyphs, so the Chinese text in {path} shows as "
            f"boxes (an .svg plot does not need one): install one, e.g. on Debian "
            f"`apt install {CJK_PACKAGE}`")


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


def _error_panel(ax, trace, label=None, colour=None, marker="o", clip=None, zorder=2, lang="en"):
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
        ax.set_ylabel(tr("p_minimised", lang, out=trace.output))
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
        ax.annotate(tr("p_diverges", lang, method=trace.method, worst=worst),
                    (its[cut], clip), xytext=(10, -4), textcoords="offset points",
                    ha="left", va="top", fontsize=8, color=colour,
                    arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 0.8})
    for i, y, it in zip(its, ys, trace.iterations):
        if y is None and it.error == 0.0:  # reached the target exactly: a log axis has no 0
            ax.annotate(tr("p_error_zero", lang), (i, min(v for v in ys if v) if any(ys) else 1.0),
                        color=colour, fontsize=8, ha="center", va="top")
    ax.set_ylabel(tr("p_abs_error", lang, out=trace.output))
    return [None if y is None or math.isnan(y) else y for y in shown] + [None] * (len(its) - len(shown))


def _tol_line(ax, trace, lang="en"):
    if trace.tol and not trace.minimize:
        ax.axhline(trace.tol, color="grey", linestyle=":", linewidth=1)
        ax.annotate(tr("p_tol", lang, tol=trace.tol), (0, trace.tol), xycoords=("axes fraction", "data"),
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


def run_figure(trace, model=None, *, marks: bool = False, lang: str = "en"):
    """The figure of one run (a matplotlib Figure, not yet written).

    With ``model`` given and exactly one param moved, it adds the curve panel
    (output against that param, iterates and steps marked) and the derivative
    panel. ``marks`` adds a ring around every iterate (True) or around the
    rows in a given set, one SVG element per iteration with the id
    ``gdmark-e-K`` (error plot) or ``gdmark-c-K`` (curve), all drawn: the HTML
    report's script shows only the current one. ``lang`` ("en" or "zh") is
    the language of the plot's words; the model's names stay as they are.
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
    with mpl.rc_context(_style(lang)):
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
            shown = _error_panel(ax, trace, colour=COLOURS.get(method, "#1f77b4"), lang=lang)
            rows = None if marks is True else set(marks or ())
            if marks:
                _rings(ax, [it.iteration for it in trace.iterations], shown, "e", rows)
            _tol_line(ax, trace, lang)
            ax.set_xlabel(tr("p_iteration", lang))
            ax.xaxis.get_major_locator().set_params(integer=True)
            goal = (tr("p_minimise", lang, out=trace.output) if trace.minimize
                    else f"{trace.output} → {trace.target:g}")
            ax.set_title(tr("p_run_title", lang, model=os.path.basename(trace.model), goal=goal,
                            method=method), fontsize=10)
        if one:
            _curve_panels(curve, deriv, trace, model, lang)
            if marks and not evaluated:
                p, out = trace.params[0], trace.output
                _rings(curve, [it.values[p] for it in trace.iterations],
                       [it.values[out] for it in trace.iterations], "c",
                       None if marks is True else set(marks))
    return fig


def _curve_panels(ax, dax, trace, model, lang="en"):
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
        ax.annotate(tr("p_target", lang, target=trace.target), (xs[0], trace.target), fontsize=8,
                    color="grey", va="bottom")
    # each step: from the iterate along the line the method used to the next x
    for k in range(len(xs_it) - 1):
        if newton:
            how = tr("p_step_split" if trace.method == "split" else "p_step_frozen", lang)
            ax.plot([xs_it[k], xs_it[k + 1]], [ys_it[k], trace.target], color=colour,
                    linewidth=0.9, alpha=0.8, label=how if k == 0 else None)
            ax.plot([xs_it[k + 1], xs_it[k + 1]], [trace.target, ys_it[k + 1]], color=colour,
                    linewidth=0.7, linestyle=":")
        else:
            ax.annotate("", (xs_it[k + 1], ys_it[k + 1]), (xs_it[k], ys_it[k]),
                        arrowprops={"arrowstyle": "->", "color": colour, "lw": 0.9})
    single = len(xs_it) == 1
    ax.plot(xs_it, ys_it, "o", color=colour, markersize=5, zorder=3,
            label=f"{p} = {xs_it[0]:g}" if single else tr("p_iterates", lang))
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
    ax.set_title(tr("p_curve_one" if single else "p_curve", lang, out=out, p=p), fontsize=10)
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


def compare_figure(traces: dict, *, lang: str = "en"):
    """|error| per iteration of each run in ``traces`` (method -> Trace), log
    scale, its words in ``lang`` ("en" or "zh").
    Raises UsageError when matplotlib is missing.

    >>> m = graphdsl.load("models/linear.bp")                                             # doctest: +SKIP
    >>> fig = compare_figure({k: m.solve(target=150, method=k) for k in ("split", "gd")})  # doctest: +SKIP
    """
    mpl = _mpl()
    with mpl.rc_context(_style(lang)):
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
            state = ("converged" if trace.converged else
                     trace.status if trace.status in STATES else None)
            state = (tr("p_state_" + state.replace("-", "_"), lang) if state is not None
                     else trace.status)
            _error_panel(ax, trace, label=tr("p_compare_run", lang, method=method, n=n, state=state),
                         colour=COLOURS.get(method), marker=markers.get(method, "o"), clip=clip,
                         zorder=10 - rank, lang=lang)
        if first is not None:
            _tol_line(ax, first, lang)
        ax.set_xlabel(tr("p_iteration", lang))
        ax.xaxis.get_major_locator().set_params(integer=True)
        if first is not None:
            ax.set_title(tr("p_compare_title", lang, model=os.path.basename(first.model),
                            out=first.output, target=first.target), fontsize=10)
        ax.legend(fontsize=8)
    return fig


#: how many epochs' curves the data panel of a fit shows at most (start and end included)
FIT_CURVES = 5
#: points along a fitted curve; a side of the grid a decision boundary is found on
FIT_POINTS = 200


def fit_epochs(count: int, shown: int = FIT_CURVES) -> list[int]:
    """Which rows of a fit (0 .. count-1) get a curve: the start, evenly spaced
    epochs between, and the end.

    >>> fit_epochs(101), fit_epochs(3), fit_epochs(1)
    ([0, 25, 50, 75, 100], [0, 1, 2], [0])
    """
    from .trace import evenly_spaced

    return evenly_spaced(count, shown)


def fit_figure(trace, model=None, *, lang: str = "en"):
    """The figure of a fit (a :class:`~graphdsl.trace.FitTrace`): the loss on
    the whole data set per epoch, log scale when every loss is positive; a
    loss that stopped being finite ends the line with a note.

    With the ``model`` (and its data) a second panel shows the data with the
    model's prediction, its roles found by :func:`graphdsl.samples.find_roles`:
    one input column gives the samples as points and the prediction as a
    curve at the start, a few epochs and the end; two input columns and a
    target of two labels give the samples coloured by label and the decision
    boundary at the end (where the prediction crosses the middle of the two
    labels). When no role fits, the panel says why. SVG groups carry ids for
    tests and pages: ``gd-data`` (``gd-data-<label>``), ``gd-curve-<epoch>``,
    ``gd-boundary``. ``lang`` ("en" or "zh") is the language of the plot's
    words; the model's and the data's names stay as they are.
    Raises UsageError when matplotlib is missing.

    >>> m = graphdsl.load("models/regression.bp", data="models/data/regression.csv")  # doctest: +SKIP
    >>> save_figure(fit_figure(m.fit(), m), "fit.svg")                                 # doctest: +SKIP
    """
    mpl = _mpl()
    data = None
    if model is not None and model.data_names:
        data = model.data
    with mpl.rc_context(_style(lang)):
        fig, ax, dax = _fit_axes(data)
        _loss_panel(ax, trace, lang)
        if data is not None:
            _data_panel(dax, trace, model, data, lang)
    return fig


def _fit_axes(data):
    """A fit's figure: (figure, the loss's axes, the data's axes or None)."""
    if data is None:
        fig = _new_figure(6.4, 3.6)
        return fig, fig.add_subplot(), None
    fig = _new_figure(11.5, 4.2)
    ax, dax = fig.subplots(1, 2)
    return fig, ax, dax


def _loss_panel(ax, trace, lang="en"):
    epochs = [e.epoch for e in trace.epochs]
    losses = [e.loss for e in trace.epochs]
    size = 6 if len(epochs) <= 15 else (3.5 if len(epochs) <= 40 else 2)
    if losses and all(v > 0 for v in losses):
        ax.set_yscale("log")
    ax.plot(epochs, losses, marker="o", markersize=size, color=COLOURS["gd"],
            label=tr("p_optimizer", lang, optimizer=trace.optimizer, lr=trace.lr))
    ax.set_xlabel(tr("p_epoch", lang))
    ax.set_ylabel(tr("p_loss_axis", lang, out=trace.output, n=trace.samples))
    batch = (tr("p_full_batch", lang) if trace.batch_size >= trace.samples
             else tr("p_batch", lang, size=trace.batch_size))
    ax.set_title(tr("p_loss_title", lang, model=os.path.basename(trace.model), out=trace.output,
                    batch=batch))
    if trace.status == "numeric" and epochs:
        ax.annotate(tr("p_not_finite", lang), (epochs[-1], losses[-1]),
                    xytext=(10, 0), textcoords="offset points", color="#d62728")
    ax.legend(loc="upper right")


def _data_panel(ax, trace, model, data, lang="en"):
    from .samples import find_roles

    plan = model.samples
    roles = find_roles(plan, data)
    if roles.kind is None or not trace.epochs:
        ax.set_axis_off()
        ax.set_title(tr("p_data_title", lang))
        why = _no_roles_reason(roles, plan, data, lang) if trace.epochs else tr("p_no_epoch", lang)
        ax.text(0.5, 0.5, tr("p_no_roles", lang, why=why),
                transform=ax.transAxes, ha="center", va="center", wrap=True, fontsize=9,
                gid="gd-no-roles")
        return
    if roles.kind == "curve":
        _curve_data_panel(ax, trace, plan, data, roles, lang)
    else:
        _classifier_panel(ax, trace, plan, data, roles, lang)


def _no_roles_reason(roles, plan, data, lang):
    """Why :func:`graphdsl.samples.find_roles` found nothing to draw, in
    ``lang``: its ``reason`` told again from the roles it did find (in
    English, the reason's very words)."""
    if roles.prediction is None:
        return (tr("p_why_reduced", lang, pred=roles.reduced) if roles.reduced
                else tr("p_why_none", lang))
    if len(roles.inputs) == 2:
        n = len(set(plan.np.unique(data.columns[roles.target]).tolist()))
        return tr("p_why_labels", lang, target=roles.target, n=n)
    return tr("p_why_columns", lang, pred=roles.prediction, n=len(roles.inputs))


#: at most this many samples are drawn as points; a larger data set is thinned
#: evenly (every k-th row), and the legend says how many are shown
SCATTER_LIMIT = 2000


def _drawn(np, n: int):
    """The rows of n samples to draw as points: all up to :data:`SCATTER_LIMIT`,
    else that many evenly spaced (first and last included); None for all."""
    if n <= SCATTER_LIMIT:
        return None
    return np.unique(np.linspace(0, n - 1, SCATTER_LIMIT).round().astype(int))


def _data_points(ax, np, xs, ys, n, lang):
    """The samples as grey points (thinned past :data:`SCATTER_LIMIT`)."""
    rows = _drawn(np, n)
    label = (tr("p_data", lang, n=n) if rows is None
             else tr("p_data_some", lang, k=len(rows), n=n))
    if rows is not None:
        xs, ys = xs[rows], ys[rows]
    ax.scatter(xs, ys, s=12, color="#7f7f7f", alpha=0.7, label=label, gid="gd-data", zorder=2)


def _curve_data_panel(ax, trace, plan, data, roles, lang="en"):
    np = plan.np
    x, t, pred = roles.inputs[0], roles.target, roles.prediction
    xs, ys = data.columns[x], data.columns[t]
    _data_points(ax, np, xs, ys, data.n, lang)
    lo, hi = float(np.min(xs)), float(np.max(xs))
    grid = np.linspace(lo, hi, FIT_POINTS + 1) if hi > lo else np.array([lo - 1, lo + 1])
    rows = fit_epochs(len(trace.epochs))
    cmap = _cmap("viridis")
    for i, r in enumerate(rows):
        e = trace.epochs[r]
        curve = plan.predict(pred, e.values, {x: grid})
        last = i == len(rows) - 1
        colour = "#d62728" if last else cmap(0.15 + 0.6 * i / max(1, len(rows) - 1))
        ax.plot(grid, curve, color=colour, linewidth=2.0 if last else 1.1,
                linestyle="-" if last or i else "--", label=tr("p_epoch_n", lang, i=e.epoch),
                gid=f"gd-curve-{e.epoch}", zorder=3 if last else 2)
    ax.set_xlabel(x)
    ax.set_ylabel(t)
    ax.set_title(tr("p_curves_title", lang, pred=pred))
    ax.legend(fontsize=8, loc="best")


def _labelled_samples(ax, plan, data, roles, points, lang="en"):
    """The samples of a 2-D classifier on ``ax``, coloured by label; returns
    the level between the two labels and the grid (``points`` a side) that
    spans the samples with a margin, where the prediction is looked at."""
    np = plan.np
    (x1, x2), t = roles.inputs, roles.target
    a, b, lab = data.columns[x1], data.columns[x2], data.columns[t]
    labels = sorted(set(np.unique(lab).tolist()))
    rows = _drawn(np, data.n)
    da, db, dlab = (a, b, lab) if rows is None else (a[rows], b[rows], lab[rows])
    for colour, v in zip(("#1f77b4", "#ff7f0e"), labels):
        sel = dlab == v
        shown = "" if rows is None else tr("p_some", lang, k=int(sel.sum()), n=int((lab == v).sum()))
        ax.scatter(da[sel], db[sel], s=30 if data.n <= 50 else 12, color=colour,
                   edgecolors="black", linewidths=0.4, label=f"{t} = {v:g}{shown}",
                   gid=f"gd-data-{v:g}", zorder=3)
    level = (labels[0] + labels[1]) / 2
    # a margin around the samples, so a point on the edge is not cut in half
    alo, ahi = float(np.min(a)), float(np.max(a))
    blo, bhi = float(np.min(b)), float(np.max(b))
    pa, pb = max((ahi - alo) * 0.1, 0.25), max((bhi - blo) * 0.1, 0.25)
    ga = np.linspace(alo - pa, ahi + pa, points)
    gb = np.linspace(blo - pb, bhi + pb, points)
    return level, ga, gb


def _classifier_panel(ax, trace, plan, data, roles, lang="en"):
    np = plan.np
    (x1, x2), t, pred = roles.inputs, roles.target, roles.prediction
    level, ga, gb = _labelled_samples(ax, plan, data, roles, FIT_POINTS, lang)
    A, B = np.meshgrid(ga, gb)
    last = trace.epochs[-1]
    Z = plan.predict(pred, last.values, {x1: A.ravel(), x2: B.ravel()}).reshape(A.shape)
    finite = np.isfinite(Z)
    note = f"{pred} = {level:g}"
    if finite.any() and np.nanmin(np.where(finite, Z, np.nan)) < level < np.nanmax(
            np.where(finite, Z, np.nan)):
        ax.contourf(A, B, np.where(finite, Z, np.nan), levels=[-np.inf, level, np.inf],
                    colors=["#1f77b4", "#ff7f0e"], alpha=0.12)
        cs = ax.contour(A, B, np.where(finite, Z, np.nan), levels=[level], colors="black",
                        linewidths=1.5)
        cs.set_gid("gd-boundary")
        ax.plot([], [], color="black", label=tr("p_boundary", lang, note=note))
    else:
        ax.text(0.5, 0.02, tr("p_never_crosses", lang, pred=pred, level=level),
                transform=ax.transAxes, ha="center", va="bottom", fontsize=8, gid="gd-no-boundary")
    ax.set_xlim(ga[0], ga[-1])
    ax.set_ylim(gb[0], gb[-1])
    ax.set_xlabel(x1)
    ax.set_ylabel(x2)
    ax.set_title(tr("p_classifier_title", lang, t=t, note=note, epoch=last.epoch))
    ax.legend(fontsize=8, loc="best")


def _cmap(name):
    from matplotlib import colormaps

    return colormaps[name]


def figure_bytes(fig, fmt: str) -> bytes:
    """The figure encoded as ``fmt`` (svg, png or pdf); SVG and PDF carry no date."""
    mpl = _mpl()
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else ({"CreationDate": None} if fmt == "pdf" else {})
    with mpl.rc_context(_STYLE), warnings.catch_warnings():
        # Chinese text with no CJK font installed: matplotlib warns once per missing glyph,
        # which would reach the user as lines of its source; font_note says it once instead
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        fig.savefig(buf, format=fmt, metadata=meta, dpi=150 if fmt == "png" else "figure")
    return buf.getvalue()


def save_figure(fig, path, *, protect=()) -> None:
    """Write ``fig`` to ``path`` (format from the extension) atomically.

    Raises UsageError for an unknown extension or a path that cannot be written.
    """
    from .fileio import write_atomic

    write_atomic(path, figure_bytes(fig, plot_format(path)), protect=protect)


#: a side of the grid a decision boundary is found on in the report, one per
#: shown epoch: coarser than fit_figure's, so 500 epochs' boundaries stay small
REPORT_GRID = 60


def fit_report_figure(trace, model=None, *, marks=True, sample: int | None = None,
                      lang: str = "en"):
    """The plots of a fit for the HTML report, which steps through its epochs:
    the loss per epoch (as :func:`fit_figure` draws it) with a red ring on
    every epoch in ``marks`` (True: every one), and, with the ``model`` and
    its data, the data with the model's prediction *at each such epoch* as a
    layer of its own: the curve (one input) or the decision boundary with its
    shaded sides (a 2-D classifier). Every ring and layer is its own SVG
    group, ``gdmark-l-K`` (the ring), ``gdmark-d-K`` (the curve or boundary)
    and ``gdmark-s-K`` (the shading), K the row of the trace, all drawn: the
    page's script shows only the current epoch's. The start's curve stays
    in view, dashed, and the data's ``sample`` (1-based) is ringed, the one
    the page's chain rule is about. Without a role to draw, the data panel
    says why, as :func:`fit_figure` does. ``lang`` ("en" or "zh") is the
    language of the plot's words.

    Raises UsageError when matplotlib is missing or the fit has no epoch.

    >>> m = graphdsl.load("models/regression.bp", data="models/data/regression.csv")  # doctest: +SKIP
    >>> svg = figure_bytes(fit_report_figure(m.fit(), m, sample=1), "svg")             # doctest: +SKIP
    """
    if not trace.epochs:
        raise UsageError("the fit has no epoch to plot")
    mpl = _mpl()
    data = model.data if model is not None and model.data_names else None
    rows = list(range(len(trace.epochs))) if marks is True else sorted(set(marks or ()))
    with mpl.rc_context(_style(lang)):
        fig, ax, dax = _fit_axes(data)
        _loss_panel(ax, trace, lang)
        _rings(ax, [e.epoch for e in trace.epochs], [e.loss for e in trace.epochs], "l", set(rows))
        if data is not None:
            from .samples import find_roles

            roles = find_roles(model.samples, data)
            if roles.kind is None:
                _data_panel(dax, trace, model, data, lang)
            elif roles.kind == "curve":
                _curve_layers(dax, trace, model.samples, data, roles, rows, sample, lang)
            else:
                _boundary_layers(dax, trace, model.samples, data, roles, rows, sample, lang)
    return fig


def _ring_sample(ax, xs, ys, sample, lang="en"):
    """A black ring around the data's ``sample`` (1-based), labelled."""
    if sample is None or not 1 <= sample <= len(xs):
        return
    ax.plot([float(xs[sample - 1])], [float(ys[sample - 1])], marker="o", markersize=13,
            markerfacecolor="none", markeredgecolor="black", markeredgewidth=1.6,
            linestyle="none", zorder=7, label=tr("p_sample", lang, k=sample), gid="gd-sample")


def _curve_layers(ax, trace, plan, data, roles, rows, sample, lang="en"):
    np = plan.np
    x, t, pred = roles.inputs[0], roles.target, roles.prediction
    xs, ys = data.columns[x], data.columns[t]
    _data_points(ax, np, xs, ys, data.n, lang)
    _ring_sample(ax, xs, ys, sample, lang)
    lo, hi = float(np.min(xs)), float(np.max(xs))
    grid = np.linspace(lo, hi, FIT_POINTS + 1) if hi > lo else np.array([lo - 1, lo + 1])
    curves = {r: plan.predict(pred, trace.epochs[r].values, {x: grid}) for r in rows}
    start = plan.predict(pred, trace.epochs[0].values, {x: grid})
    ax.plot(grid, start, color="#7f7f7f", linewidth=1.0, linestyle="--",
            label=tr("p_epoch_start", lang, i=trace.epochs[0].epoch), gid="gd-curve-start",
            zorder=2)
    # the axes hold every shown epoch's curve and the data, so nothing jumps as the page steps
    finite = [c[np.isfinite(c)] for c in curves.values()] + [np.asarray(ys)]
    ylo = min(float(np.min(v)) for v in finite if len(v))
    yhi = max(float(np.max(v)) for v in finite if len(v))
    pad = (yhi - ylo) * 0.05 or 1.0
    ax.set_ylim(ylo - pad, yhi + pad)
    for r, curve in curves.items():
        ax.plot(grid, curve, color="#d62728", linewidth=2.0, gid=f"gdmark-d-{r}", zorder=3,
                scalex=False, scaley=False)
    ax.plot([], [], color="#d62728", linewidth=2.0, label=tr("p_current", lang, pred=pred))
    ax.set_xlabel(x)
    ax.set_ylabel(t)
    ax.set_title(tr("p_current_title", lang, pred=pred))
    ax.legend(fontsize=8, loc="best")


def _boundary_layers(ax, trace, plan, data, roles, rows, sample, lang="en"):
    np = plan.np
    (x1, x2), t, pred = roles.inputs, roles.target, roles.prediction
    level, ga, gb = _labelled_samples(ax, plan, data, roles, REPORT_GRID, lang)
    _ring_sample(ax, data.columns[x1], data.columns[x2], sample, lang)
    A, B = np.meshgrid(ga, gb)
    # a path is written point by point, so each epoch's line and sides are thinned to
    # the points that move them by more than 1/500 of the view (a straight boundary: 2)
    tol = (ga[-1] - ga[0]) / 500, (gb[-1] - gb[0]) / 500
    note = f"{pred} = {level:g}"
    for r in rows:
        e = trace.epochs[r]
        Z = plan.predict(pred, e.values, {x1: A.ravel(), x2: B.ravel()}).reshape(A.shape)
        Z = np.where(np.isfinite(Z), Z, np.nan)
        if not (np.isfinite(Z).any() and np.nanmin(Z) < level < np.nanmax(Z)):
            ax.text(0.5, 0.02, tr("p_no_cross_at", lang, pred=pred, level=level, epoch=e.epoch),
                    transform=ax.transAxes, ha="center", va="bottom",
                    fontsize=8, gid=f"gdmark-d-{r}")
            continue
        gen = _contours(A, B, Z)
        for side, (lo, hi), colour in (("s", (-np.inf, level), "#1f77b4"),
                                       ("t", (level, np.inf), "#ff7f0e")):
            points, offsets = gen.filled(lo, hi)
            polys = [_thin(pts[a:b], tol) for pts, offs in zip(points, offsets)
                     for a, b in zip(offs[:-1], offs[1:])]
            if polys:
                xs, ys = _joined(polys)
                ax.fill(xs, ys, color=colour, alpha=0.12, linewidth=0, gid=f"gdmark-{side}-{r}",
                        zorder=1)
        xs, ys = _joined([_thin(piece, tol) for piece in gen.lines(level)])
        ax.plot(xs, ys, color="black", linewidth=1.5, gid=f"gdmark-d-{r}",
                scalex=False, scaley=False, zorder=4)
    ax.plot([], [], color="black", label=tr("p_boundary", lang, note=note))
    ax.set_xlim(ga[0], ga[-1])
    ax.set_ylim(gb[0], gb[-1])
    ax.set_xlabel(x1)
    ax.set_ylabel(x2)
    ax.set_title(tr("p_boundary_title", lang, t=t, note=note))
    # beside the axes: inside, "best" is chosen with every epoch's boundary drawn at once
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)


def _contours(A, B, Z):
    """contourpy's generator of Z's level lines and filled regions on the grid
    A, B (NaN masked), each polygon one closed ring of points."""
    import numpy as np
    from contourpy import FillType, LineType, contour_generator

    return contour_generator(A, B, np.ma.masked_invalid(Z), line_type=LineType.Separate,
                             fill_type=FillType.OuterOffset)


def _thin(points, tol):
    """The points of a line that move it by more than ``tol`` (x, y) from the
    straight segments between the kept ones (Ramer-Douglas-Peucker, with a
    stack of segments, not recursion); the ends are kept.

    >>> import numpy as np
    >>> _thin(np.array([[0, 0], [1, 1e-9], [2, 0], [3, 1]]), (0.01, 0.01)).tolist()
    [[0.0, 0.0], [2.0, 0.0], [3.0, 1.0]]
    """
    import numpy as np

    pts = np.asarray(points, dtype=float)
    if len(pts) < 3:
        return pts
    q = pts / np.asarray(tol, dtype=float)      # in units of the tolerance
    keep = np.zeros(len(q), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(q) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        a, b = q[i], q[j]
        d = b - a
        seg = q[i + 1:j] - a
        norm = math.hypot(*d)
        dist = (np.abs(d[0] * seg[:, 1] - d[1] * seg[:, 0]) / norm if norm
                else np.hypot(seg[:, 0], seg[:, 1]))
        k = int(np.argmax(dist))
        if dist[k] > 1.0:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return pts[keep]


def _joined(pieces):
    """Lines (arrays of points) as one (xs, ys) with NaN between them."""
    xs, ys = [], []
    for piece in pieces:
        xs += piece[:, 0].tolist() + [math.nan]
        ys += piece[:, 1].tolist() + [math.nan]
    return xs[:-1], ys[:-1]
