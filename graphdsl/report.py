"""One self-contained HTML page that steps through a run or a fit.

A pure builder: (Model, Trace) in, one HTML string out. The page needs
nothing else (no network, no separate files): the run's data travels inside
it as JSON (``trace.to_json()``, the contract's ``run --json`` object), the
backward-view picture of every iteration as an SVG string drawn by graphviz's
own ``dot`` (built by :mod:`graphdsl.render`, drawn by :mod:`graphdsl.dot`), the chain-rule explanation of
every iteration (through :mod:`graphdsl.explain`) and the plots as inline
SVG. Only the current iteration's picture is put into the DOM, so a run of
hundreds of iterations stays usable; printing puts every frame in, one per
page. The page's style, script and HTML template are package files
(``graphdsl/assets/report.css``, ``report.js``, ``report.html``), inlined into
every page.

A fit (Model, FitTrace) gets the same page stepping through its epochs
(:func:`build_fit_report`): ``fit --json``'s object, the plate picture and
the chain rule over the samples at one sample for every shown epoch, and
plots whose ring on the loss and curve or boundary on the data are one SVG
layer per shown epoch, shown one at a time by the script.

>>> import graphdsl
>>> m = graphdsl.loads("param b = 4\\ny = 2*b + 1")
>>> r = build_report(m, m.solve(target=5), pictures=False, explanations=False, plots=False)
>>> r.html.startswith("<!DOCTYPE html>"), "y = 5" in r.html
(True, True)
"""

from __future__ import annotations

import functools
import html
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources

from .text import format_number as _f
from .errors import GraphdslError
from .i18n import tr
from .runtable import cell_text, epoch_table, header, iteration_table, node_table
from .trace import FitTrace, Reason, evenly_spaced

#: more frames than this are thinned out (evenly, first and last kept): each
#: frame is a `dot` layout and a few KB of SVG
MAX_FRAMES = 500


@dataclass
class Report:
    """A built report: the page, and what the page could not include (and why)."""

    html: str
    #: the rows the page steps through: a run's iterations or a fit's epochs (``unit``)
    iterations: int
    frames: int = 0
    notes: list[str] = field(default_factory=list)
    unit: str = "iteration"

    def write(self, path, *, protect=()) -> int:
        """Write the page atomically (see :func:`graphdsl.fileio.write_atomic`);
        returns its size in bytes. Raises UsageError when the file cannot be
        written or is protected (the model file)."""
        from .fileio import write_atomic

        data = self.html.encode("utf-8")
        write_atomic(path, data, protect=protect)
        return len(data)

    def __repr__(self) -> str:
        return (f"<Report {len(self.html.encode('utf-8')) / 1024:.0f} KB: {self.iterations} "
                f"{self.unit}(s), {self.frames} frame(s)>")


def build_report(model, trace, *, title: str | None = None, pictures: bool = True,
                 explanations: bool = True, plots: bool = True,
                 max_frames: int = MAX_FRAMES, lang: str = "en", progress=None,
                 sample: int = 1) -> Report:
    """Build the HTML page of ``trace``, a run of ``model`` (a
    :class:`~graphdsl.trace.Trace`) or a fit of it (a
    :class:`~graphdsl.trace.FitTrace`: see :func:`build_fit_report`, which
    ``sample`` is for).

    ``pictures``, ``explanations`` and ``plots`` switch the parts that need
    graphviz's ``dot``, :mod:`graphdsl.explain` and matplotlib. A part that
    cannot be made (``dot`` missing, a model too big to draw) is left out of
    the page with a sentence saying why, and the reason is added to
    ``Report.notes``; nothing is raised for it. The model is not changed.
    ``lang`` (``"en"`` or ``"zh"``) is the language of the page: its
headings, controls, table headers, notes on the plots and the explanations
(see :mod:`graphdsl.i18n`); the notes on what was left out stay English.
    ``progress`` (a :class:`graphdsl.progress.Progress`, optional) is given
    the number of steps and told of each: a picture built, the pictures
    drawn, an explanation, the plots.

    >>> import graphdsl
    >>> m = graphdsl.loads("param w = 3\\nz = 2*w")
    >>> build_report(m, m.solve(target=4), pictures=False, explanations=False,
    ...              plots=False).iterations
    2
    """
    if isinstance(trace, FitTrace):
        return build_fit_report(model, trace, title=title, pictures=pictures,
                                explanations=explanations, plots=plots, max_frames=max_frames,
                                lang=lang, progress=progress, sample=sample)
    lang = lang if lang in ("en", "zh") else "en"
    notes: list[str] = []
    n = len(trace.iterations)
    # past max_frames iterations, pictures, explanations, panels and the plots'
    # rings are made for an evenly spaced selection: each costs a `dot` layout,
    # a symbolic pass or a few KB, and 20,000 panels made a 62 MB page
    chosen = _shown(n, max_frames, "iteration", notes)
    thinned = len(chosen) < n
    # Steps weighted by what they cost on the seed (measured: 400 iterations):
    # building a picture ~2.5 ms (1 step), `dot` drawing it ~1.2 ms (1 step),
    # an explanation ~6 ms (2 steps), the plots ~0.6 s plus a ring per
    # iteration (200 steps + 1 per iteration), so the time left is about right.
    tick = progress.advance if progress is not None else (lambda k=1: None)
    plot_steps = 200 + n
    if progress is not None:
        progress.total = ((2 * len(chosen) if pictures else 0) + (3 * len(chosen) if explanations else 0)
                          + (plot_steps if plots else 0)) if n else 0
    frames: list[str | None] = [None] * n
    if pictures and n:
        frames = _frames(model, trace, chosen, notes, lang, tick)
    texts: list[str | None] = [None] * n
    forward: list[list[str] | None] = [None] * n
    cost_text = ""
    if explanations and n:
        texts = _explanations(model, trace, chosen, lang, notes, tick)
        forward, cost_text = _forward_texts(model, trace, chosen, lang, notes, tick)
    figures = _plots(model, trace, notes, lang, marks=chosen if thinned else True) if plots and n else []
    if plots and n:
        tick(plot_steps)

    held = [p for p in model.params if p not in trace.params]
    panels = [""] * n
    for i in chosen:
        panels[i] = _panel(trace, i, held, lang)
    data = {
        "trace": _plain(trace.to_json()),
        "frames": [s or "" for s in frames],
        "panels": panels,
        "explanations": [t or "" for t in texts],
        # forward mode: per iteration, one text per param (in "forward_params" order)
        "forward": [f or [] for f in forward],
        "forward_params": list(model.params) if any(forward) else [],
        "lang": lang,
        # the words the page's script writes as it steps
        "words": {"of": tr("r_of", lang), "where": tr("r_where", lang),
                  "showing": tr("r_showing", lang), "noframe": tr("r_no_frame", lang)},
    }
    if thinned:
        data["words"]["nopanel"] = _no_panel("r_heading", "r_no_panel", len(chosen), lang)
    page = _page(model, trace, title=title, data=data, frames=frames, panels=panels,
                 texts=texts, figures=figures, notes=notes, cost_text=cost_text)
    return Report(html=page, iterations=n, frames=sum(1 for s in frames if s), notes=notes)


def build_fit_report(model, trace, *, title: str | None = None, pictures: bool = True,
                     explanations: bool = True, plots: bool = True,
                     max_frames: int = MAX_FRAMES, lang: str = "en", progress=None,
                     sample: int = 1) -> Report:
    """Build the HTML page of ``trace``, a fit of ``model`` (a
    :class:`~graphdsl.trace.FitTrace`), which steps through its epochs: the
    table of every epoch, and for each shown epoch (every one up to
    ``max_frames``, evenly spaced beyond) its values and gradients, the plate
    picture of the epoch for the data's ``sample`` (1-based, the CSV's row),
    the chain rule over the samples written out for that sample, and a ring
    on the loss curve and the model's curve (or decision boundary) on the
    data plot. The switches, ``lang``, ``progress`` and the notes on parts
    left out are :func:`build_report`'s. The model is not changed.

    Raises UsageError when the data has no sample ``sample``.

    >>> import graphdsl
    >>> m = graphdsl.loads("data x = [0, 1, 2]\\ndata y = [1, 3, 5]\\nparam w = 0\\n"
    ...                    "pred = w*x\\nloss = mean((pred - y)^2)")
    >>> r = build_report(m, m.fit(epochs=3), pictures=False, explanations=False, plots=False)
    >>> r.iterations, "Epoch 0 of 3" in r.html
    (4, True)
    """
    lang = lang if lang in ("en", "zh") else "en"
    check_sample(model, sample)
    notes: list[str] = []
    n = len(trace.epochs)
    chosen = _shown(n, max_frames, "epoch", notes)
    thinned = len(chosen) < n
    tick = progress.advance if progress is not None else (lambda k=1: None)
    # the plots cost ~0.7 s for a small fit plus a layer per shown epoch
    plot_steps = 200 + len(chosen)
    if progress is not None:
        progress.total = ((2 * len(chosen) if pictures else 0)
                          + (2 * len(chosen) if explanations else 0)
                          + (plot_steps if plots else 0)) if n else 0
    frames: list[str | None] = [None] * n
    if pictures and n:
        frames = _epoch_frames(model, trace, chosen, sample, notes, lang, tick)
    texts: list[str | None] = [None] * n
    if explanations and n:
        texts = _epoch_explanations(model, trace, chosen, sample, lang, notes, tick)
    figures = _fit_plots(model, trace, notes, lang, chosen, sample) if plots and n else []
    if plots and n:
        tick(plot_steps)
    panels = [""] * n
    for i in chosen:
        panels[i] = _fit_panel(trace, i, lang, samples=bool(model.data_names))
    data = {
        "trace": _plain(trace.to_json()),
        "frames": [s or "" for s in frames],
        "panels": panels,
        "explanations": [t or "" for t in texts],
        "forward": [[] for _ in range(n)],
        "forward_params": [],
        "lang": lang,
        "sample": sample,
        # the rows are epochs: the words the page's script writes, and its address
        "unit": "epoch",
        "words": {"of": tr("rf_of", lang), "where": tr("rf_at", lang),
                  "showing": tr("r_showing", lang), "noframe": tr("rf_no_frame", lang)},
    }
    if thinned:
        data["words"]["nopanel"] = _no_panel("rf_heading", "rf_no_panel", len(chosen), lang)
    last = max(n - 1, 0)
    r = trace.result()
    final = ", ".join(f"{k} = {_f(v)}" for k, v in r["values"].items())
    sub = _sub(_fit_headline(trace, lang), _fit_ending(trace, lang), final, lang)
    page = _fill(model, trace.model, n=n, title=title or tr("rf_title", lang, name=trace.model),
                 sub=sub, status=trace.status, data=data, frames=frames, panels=panels,
                 texts=texts, figures=figures, notes=notes, words=FIT_WORDS,
                 table=_fit_table(trace, lang=lang),
                 first_label=(tr("rf_of", lang, i=trace.epochs[0].epoch,
                                 n=trace.epochs[last].epoch) if n else tr("rf_none", lang)),
                 empty=tr("rf_empty", lang), plots_first=True)
    return Report(html=page, iterations=n, frames=sum(1 for s in frames if s), notes=notes,
                  unit="epoch")


def _shown(n: int, max_frames: int, row: str, notes: list[str]) -> list[int]:
    """The rows (of ``n``) the page shows in full: every one up to
    ``max_frames``, evenly spaced beyond (first and last kept), said in ``notes``."""
    chosen = evenly_spaced(n, max_frames)
    if len(chosen) < n:
        notes.append(f"pictures, values and explanations made for {len(chosen)} of {n} {row}s "
                     f"(evenly spaced, first and last included; at most {max_frames}); the table "
                     f"has every {row}")
    return chosen


def check_sample(model, sample) -> None:
    """Raise UsageError unless ``sample`` is a sample number (1-based) of
    ``model``'s data: what a fit's report draws and explains. A model without
    data has one sample, 1.

    >>> import graphdsl
    >>> from graphdsl.errors import UsageError
    >>> try:
    ...     check_sample(graphdsl.loads("data x = [1, 2]\\nparam w = 1\\nloss = mean(w*x)"), 3)
    ... except UsageError as e:
    ...     print(e.message)
    --sample 3: the data has 2 samples
    """
    from .onesample import sample_of

    if model.data_names or sample != 1:
        sample_of(model, sample)


# --- the parts ------------------------------------------------------------------

def _frames(model, trace, chosen, notes, lang="en", tick=lambda k=1: None) -> list[str | None]:
    """One backward-view SVG per chosen iteration (None where none was drawn);
    ``tick(k)`` is told of each picture built and of the ones ``dot`` drew."""
    from . import render

    return _drawn(len(trace.iterations), chosen, notes, tick, lambda i: render.iteration_graph(
        model, trace, i, "backward", lang=lang))


def _epoch_frames(model, trace, chosen, sample, notes, lang="en",
                  tick=lambda k=1: None) -> list[str | None]:
    """The plate picture, backward view, of every chosen epoch at the data's
    ``sample`` (None where none was drawn); ``tick(k)`` as for :func:`_frames`."""
    from . import render

    return _drawn(len(trace.epochs), chosen, notes, tick, lambda i: render.epoch_graph(
        model, trace, i, "backward", sample=sample, lang=lang))


def _drawn(n, chosen, notes, tick, graph_of) -> list[str | None]:
    """``graph_of(i)`` drawn for every chosen row of ``n``, as SVG (None for
    the others). When one cannot be made (no ``dot``, a model too big to
    draw), none is, and ``notes`` says why."""
    from . import dot

    try:
        # one `dot` process draws many frames (see graphdsl.dot.to_svgs)
        graphs = []
        for i in chosen:
            graphs.append(graph_of(i))
            tick()
        svgs = dot.to_svgs(graphs)
        tick(len(graphs))
    except GraphdslError as e:
        notes.append(f"pictures left out: {e.message}")
        return [None] * n
    out: list[str | None] = [None] * n
    for i, svg in zip(chosen, svgs):
        out[i] = svg
    return out


def _epoch_explanations(model, trace, chosen, sample, lang, notes,
                        tick=lambda k=1: None) -> list[str | None]:
    """The chain rule over the samples at every chosen epoch, with the data's
    ``sample`` written out (graphdsl.explain), as plain text; ``tick(2)`` is
    told of each."""
    from . import explain

    n = len(trace.epochs)
    out: list[str | None] = [None] * n
    try:
        for i in chosen:
            values = trace.epochs[i].values
            e = explain.explain(model, values={p: values[p] for p in model.params},
                                sample=sample)
            out[i] = explain.format_text(e, lang)
            tick(2)
    except GraphdslError as e:
        notes.append(f"chain-rule explanation left out: {e.message}")
        return [None] * n
    return out


def _explanations(model, trace, chosen, lang, notes, tick=lambda k=1: None) -> list[str | None]:
    """The chain rule at every chosen iteration, as plain text (graphdsl.explain)."""
    n = len(trace.iterations)
    try:
        from . import explain
    except ImportError:
        notes.append("chain-rule explanation left out: this graphdsl has no graphdsl.explain")
        return [None] * n
    # a run that moves one param is about that param; otherwise explain them all
    wrt = trace.params[0] if len(trace.params) == 1 and len(model.params) > 1 else None
    out: list[str | None] = [None] * n
    try:
        for i in chosen:
            it = trace.iterations[i]
            e = explain.explain(model, wrt=wrt, values={p: it.values[p] for p in trace.params})
            out[i] = explain.format_text(e, lang)
            tick(2)
    except GraphdslError as e:
        notes.append(f"chain-rule explanation left out: {e.message}")
        return [None] * n
    return out


def _forward_texts(model, trace, chosen, lang, notes, tick=lambda k=1: None):
    """Forward mode at every chosen iteration: for each param, its tangents as
    text (graphdsl.forward); and the cost of both modes, which depends on the
    graph only. ``tick()`` is told of each iteration done."""
    n = len(trace.iterations)
    from . import forward
    from .statements import Rules

    out: list[list[str] | None] = [None] * n
    rules = Rules(model)  # the local rules do not change between iterations: worked out once
    try:
        for i in chosen:
            it = trace.iterations[i]
            e = forward.explain_forward(model, values={p: it.values[p] for p in trace.params},
                                        count=False, rules=rules)
            out[i] = [forward.format_item_text(e, item, lang) for item in e.items]
            tick()
        cost_text = "\n".join([tr("cost_title", lang)] + forward.cost_lines(forward.cost(model), lang))
    except GraphdslError as e:
        notes.append(f"forward mode left out: {e.message}")
        return [None] * n, ""
    return out, cost_text


def _plots(model, trace, notes, lang="en", marks=True) -> list[tuple[str, str]]:
    """(caption, inline SVG) for each plot of the run (graphdsl.plot, matplotlib),
    with a ring for every iteration in ``marks`` (True: every one)."""
    try:
        from . import plot
    except ImportError:
        notes.append("plots left out: this graphdsl has no plotting module (graphdsl.plot)")
        return []
    try:
        fig = plot.run_figure(trace, model, marks=marks, lang=lang)
        svg = plot.figure_bytes(fig, "svg").decode("utf-8")
    except GraphdslError as e:
        if trace.method is not None:  # one pass of a many-param model has nothing to plot
            notes.append(f"plots left out: {e.message}")
        return []
    what = (tr("r_plot_minimise", lang, out=trace.output) if trace.minimize
            else tr("r_plot_error", lang))
    if len(trace.params) == 1 and trace.method is not None:
        what += tr("r_plot_curve", lang, out=trace.output, p=trace.params[0])
    if trace.method is not None:
        what += tr("r_plot_ring", lang)
    return [(what, strip_prolog(svg))]


def _fit_plots(model, trace, notes, lang, chosen, sample) -> list[tuple[str, str]]:
    """(caption, inline SVG) of a fit's plots (graphdsl.plot.fit_report_figure):
    a ring on the loss and the data plot's layer for every epoch in ``chosen``."""
    from . import plot
    from .batch import require_numpy

    try:
        # a loss near the largest float overflows the log axis's own arithmetic: numpy's
        # warning about it would reach the reader as a line of matplotlib's source
        with require_numpy().errstate(over="ignore"):
            fig = plot.fit_report_figure(trace, model, marks=chosen, sample=sample, lang=lang)
            svg = plot.figure_bytes(fig, "svg").decode("utf-8")
    except GraphdslError as e:
        notes.append(f"plots left out: {e.message}")
        return []
    what = tr("rf_plot", lang, out=trace.output)
    if model.data_names:
        from .samples import find_roles

        roles = find_roles(model.samples, model.data)
        if roles.kind == "curve":
            what += tr("rf_plot_curve", lang, pred=roles.prediction, k=sample)
        elif roles.kind == "classifier":
            labels = sorted(set(model.samples.np.unique(model.data.columns[roles.target]).tolist()))
            what += tr("rf_plot_boundary", lang, t=roles.target, pred=roles.prediction,
                       level=_f(sum(labels) / 2), k=sample)
    return [(what, strip_prolog(svg))]


def _fit_batch(trace, lang: str) -> str:
    return (tr("full_batch", lang) if trace.batch_size >= trace.samples
            else tr("mini_batches", lang, size=trace.batch_size, seed=trace.seed))


def _fit_headline(trace, lang: str = "en") -> str:
    """'fit loss over 100 samples of FILE · sgd, lr 0.1, full batch', as `fit` says it."""
    n = trace.samples
    return tr("rf_headline", lang, out=trace.output, n=n, s="s" if n != 1 else "",
              where=tr("fit_of", lang, data=trace.data) if trace.data else "",
              optimizer=trace.optimizer, lr=_f(trace.lr), batch=_fit_batch(trace, lang))


def _fit_ending(trace, lang: str = "en") -> str:
    """How the fit ended, in ``lang``: converged, or not and why."""
    why = (trace.stop.text(lang) if trace.stop is not None else None) or trace.status
    last = trace.last
    if last is None:
        return tr("rf_no_epoch", lang, why=why)
    n = last.epoch
    if trace.converged:
        return tr("rf_converged", lang, n=n, s="s" if n != 1 else "")
    if trace.status == "numeric":
        return tr("rf_stopped", lang, n=n + 1, why=why)
    return tr("rf_not_converged", lang, n=n, s="s" if n != 1 else "", why=why)


def _fit_panel(trace, i: int, lang: str = "en", samples: bool = True) -> str:
    """The current epoch's panel: the params and the loss, every single-number
    named node's value and ∂loss/∂node over the whole data set (``samples``:
    the model has data columns), and how the next epoch moves the params, as
    HTML."""
    e = trace.epochs[i]
    last = len(trace.epochs) - 1
    out = trace.output
    where = tr("r_start", lang) if i == 0 and last else (tr("r_end", lang) if i == last and last else "")
    heading = tr("rf_heading", lang, i=e.epoch, n=trace.epochs[last].epoch)
    summary = ", ".join(f"{p} = {_f(e.values[p])}" for p in trace.params)
    # a model without data columns is fitted on its output alone: no samples to speak of
    loss = (tr("rf_loss_is", lang, out=out, n=trace.samples, loss=_f(e.loss)) if samples
            else f"{out} = {_f(e.loss)}")
    parts = [f'<h2 id="cur-title">{_e(heading + where)}</h2>',
             f'<p class="summary"><strong>{_e(summary)}</strong></p>',
             f'<p>{_e(loss)}</p>']
    gap = "" if lang == "zh" else " "
    rows = []
    for name, value in e.values.items():
        kind = (tr("r_param", lang) if name in trace.params else
                tr("r_output", lang) if name == out else "")
        rows.append(f'<tr><th scope="row">{_e(name)}'
                    + (f'{gap}<span class="kind">{_e(tr("r_kind", lang, kind=kind))}</span>'
                       if kind else "")
                    + f"</th><td>{_e(cell_text(value, lang))}</td>"
                    f"<td>{_e(cell_text(e.gradients.get(name), lang))}</td></tr>")
    heads = "".join(f'<th scope="col">{_e(h)}</th>'
                    for h in (tr("node", lang), tr("value", lang), tr("grad_node", lang, out=out)))
    parts.append(f'<table class="nodes"><caption class="vh">{_e(tr("rf_caption", lang, i=e.epoch))}'
                 f'</caption><thead><tr>{heads}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    if i < last:
        after = trace.epochs[i + 1].values
        k = -(-trace.samples // max(trace.batch_size, 1))
        moves = ", ".join(f"{p}: {_f(e.values[p])} → {_f(after[p])}" for p in trace.params)
        parts.append(f'<p class="step">{_e(tr("rf_next", lang, k=k, s="s" if k != 1 else "", batch=_fit_batch(trace, lang), moves=moves))}</p>')
    else:
        parts.append(f'<p class="step">{_e(_fit_ending(trace, lang))}</p>')
    return "".join(parts)


def _fit_table(trace, current: int = 0, lang: str = "en") -> str:
    """The fit's table (the CLI's cells: :func:`graphdsl.runtable.epoch_table`),
    one row per epoch, marked as :func:`_table` marks a run's."""
    return _html_table(epoch_table(trace), [e.epoch for e in trace.epochs], "rf_show",
                       current, lang)


_PROLOG = re.compile(r"<svg\b.*</svg>", re.S)


def strip_prolog(svg: str) -> str:
    """The ``<svg>…</svg>`` element of an SVG document, without the XML
    prolog, DOCTYPE and leading comments that do not belong inside HTML.

    Raises ValueError when there is no ``<svg>`` element.

    >>> strip_prolog('<?xml version="1.0"?>\\n<!DOCTYPE svg>\\n<svg x="1"></svg>\\n')
    '<svg x="1"></svg>'
    """
    m = _PROLOG.search(svg)
    if m is None:
        raise ValueError("not an SVG document: no <svg> element")
    return m.group(0)


# --- HTML -----------------------------------------------------------------------

def _no_panel(heading: str, words: str, m: int, lang: str) -> str:
    """What a row without a panel shows (past the limit of ``m`` drawn rows);
    the page's script fills in {i} and {n}."""
    return (f'<h2 id="cur-title">{_e(tr(heading, lang, i="{i}", n="{n}"))}</h2>'
            f'<p class="noframe">{_e(tr(words, lang, m=m))}</p>')


def _sub(headline, ending, final, lang) -> str:
    """The line under the page's title: what ran, how it ended, and the final
    values (none when it stopped before its first row)."""
    if not final:
        return tr("r_sub_nothing", lang, headline=headline, ending=ending)
    return tr("r_sub", lang, headline=headline, ending=ending, final=final)


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def script_json(obj) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``,
    ``>`` or ``&`` appears literally, so neither ``</script>`` nor ``<!--`` can
    end or confuse the element; ``JSON.parse`` reads it back unchanged.

    >>> script_json({"a": "</script><!--"})
    '{"a": "\\\\u003c/script\\\\u003e\\\\u003c!--"}'
    """
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _plain(obj):
    """The trace's JSON with non-finite numbers (a run that blew up) as strings,
    since JSON has no NaN or infinity."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _summary(trace, it) -> str:
    """'w = 2.661519, b = 3.903263, z = 150.0000': the params and the output."""
    names = list(trace.params) + ([trace.output] if trace.output not in trace.params else [])
    return ", ".join(f"{n} = {_f(it.values[n])}" for n in names if n in it.values)


def _panel(trace, i: int, held=(), lang: str = "en") -> str:
    """The current-iteration panel: summary line, error, and every named node's
    value, gradient and step, as HTML. ``held`` are params the run does not move."""
    it = trace.iterations[i]
    last = len(trace.iterations) - 1
    out = trace.output
    where = tr("r_start", lang) if i == 0 and last else (tr("r_end", lang) if i == last and last else "")
    heading = tr("r_heading", lang, i=it.iteration, n=trace.iterations[last].iteration)
    parts = [f'<h2 id="cur-title">{_e(heading + where)}</h2>',
             f'<p class="summary"><strong>{_e(_summary(trace, it))}</strong></p>']
    if it.error is not None:
        parts.append(f'<p>{_e(tr("r_error_is", lang, out=out, e=_f(it.error)))}</p>')
    table = node_table(trace, i, steps=True)
    rows = []
    # full-width brackets bring their own space
    gap = "" if lang == "zh" else " "
    for name, value, gradient, step in table.rows:
        kind = (tr("r_param", lang) if name in trace.params else tr("r_held", lang) if name in held
                else tr("r_output", lang) if name == out else "")
        # here a skipped step says why, not only "skip"
        step = (tr("r_skipped", lang, why=step.text(lang)) if isinstance(step, Reason)
                else cell_text(step, lang))
        rows.append(f"<tr><th scope=\"row\">{_e(name)}"
                    + (f'{gap}<span class="kind">{_e(tr("r_kind", lang, kind=kind))}</span>'
                       if kind else "")
                    + f"</th><td>{_e(cell_text(value, lang))}</td>"
                    f"<td>{_e(cell_text(gradient, lang))}</td><td>{_e(step)}</td></tr>")
    heads = "".join(f'<th scope="col">{_e(header(c, out, lang))}</th>' for c in table.columns)
    parts.append(f'<table class="nodes"><caption class="vh">{_e(tr("r_caption", lang, i=it.iteration))}'
                 f'</caption><thead><tr>{heads}</tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>')
    if it.steps:
        moves = ", ".join(f"{p} ← {_f(it.values[p])} − {_f(s)} = {_f(it.values[p] - s)}"
                          for p, s in it.steps.items())
        parts.append(f'<p class="step">{_e(tr("r_next_move", lang, moves=moves))}</p>')
    elif i == last:
        parts.append(f'<p class="step">{_e(_ending(trace, lang))}</p>')
    return "".join(parts)


def _ending(trace, lang: str = "en") -> str:
    n = len(trace.iterations)
    s = "s" if n != 1 else ""
    if trace.status == "converged":
        return tr("r_converged", lang, n=n, s=s)
    if trace.status == "evaluated":
        return tr("r_evaluated", lang)
    why = ((trace.stop.text(lang) if trace.stop is not None else None)
           or (str(trace.failure).splitlines()[0] if trace.failure else trace.status))
    return tr("r_not_converged", lang, n=n, s=s, why=why)


def _headline(trace, lang: str = "en") -> str:
    out = trace.output
    if trace.method is None:
        how = tr("r_how_evaluated", lang, out=out)
    elif trace.minimize:
        how = tr("r_how_minimise", lang, out=out)
    else:
        how = tr("r_how_target", lang, out=out, target=_f(trace.target), method=trace.method)
    if trace.lr is not None:
        how += tr("lr", lang, lr=_f(trace.lr))
    return how


def _table(trace, current: int = 0, lang: str = "en") -> str:
    """The run's table (the CLI's cells: :func:`graphdsl.runtable.iteration_table`),
    one row per iteration, the current row marked by text (▶) and aria-current,
    not by colour alone."""
    return _html_table(iteration_table(trace), [it.iteration for it in trace.iterations],
                       "r_show", current, lang)


def _html_table(table, numbers, show: str, current: int, lang: str) -> str:
    """A runtable Table as the page's #iters table: the first cell of each row,
    its number (an iteration's or an epoch's), is the button that shows it,
    labelled with the i18n key ``show``; row ``current`` is marked."""
    current_th = f'<span class=vh>{_e(tr("r_current", lang))}</span>'
    ths = f'<th scope="col">{current_th}</th>' + "".join(
        f'<th scope="col">{_e(header(c, table.output, lang))}</th>' for c in table.columns)
    body = []
    for k, (number, row) in enumerate(zip(numbers, table.rows)):
        mark = k == current
        body.append(
            f'<tr data-i="{k}"' + (' class="current" aria-current="step"' if mark else "") + ">"
            f'<td class="mark" aria-hidden="true">{"▶" if mark else ""}</td>'
            f'<th scope="row"><button type="button" class="go" data-i="{k}" '
            f'aria-label="{_e(tr(show, lang, i=number))}">{number}</button></th>'
            + "".join(f"<td>{_e(cell_text(c, lang))}</td>" for c in row[1:]) + "</tr>")
    return (f'<table id="iters"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _source(model) -> str:
    text = model.source or ""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    width = len(str(len(lines)))
    numbered = "\n".join(f'<span class="ln" aria-hidden="true">{k:>{width}}</span> {_e(line)}'
                         for k, line in enumerate(lines, 1))
    return f'<pre class="source"><code>{numbered}</code></pre>'


#: the template's fields for the page's fixed words, and their keys in
#: graphdsl.i18n for a run's page; a fit's page takes some from FIT_WORDS
PAGE_WORDS = {"nav": "r_nav", "first": "r_first", "prev": "r_prev", "next": "r_next",
              "last_button": "r_last", "slider": "r_slider", "keys": "r_keys",
              "noscript": "r_noscript", "frame_label": "r_frame", "h_explain": "r_h_explain",
              "h_table": "r_h_table", "table_label": "r_table", "h_plots": "r_h_plots",
              "h_source": "r_h_source", "h_forward": "r_h_forward", "fwd_param": "r_fwd_param"}
FIT_WORDS = {**PAGE_WORDS, "nav": "rf_nav", "slider": "rf_slider", "noscript": "rf_noscript",
             "frame_label": "rf_frame", "h_explain": "rf_h_explain", "h_table": "rf_h_table",
             "table_label": "rf_table"}


def _page(model, trace, *, title, data, frames, panels, texts, figures, notes,
          cost_text="") -> str:
    n = len(trace.iterations)
    lang = data["lang"]
    last = max(n - 1, 0)
    fparams = data.get("forward_params") or []
    # the param the page starts on: the one the run moves, when it moves one
    start = trace.params[0] if len(trace.params) == 1 and trace.params[0] in fparams else \
        (fparams[0] if fparams else None)
    options = "".join(f'<option value="{k}"{" selected" if p == start else ""}>{_e(p)}</option>'
                      for k, p in enumerate(fparams))
    first_forward = (data["forward"][0][fparams.index(start)]
                     if n and fparams and data["forward"][0] else "")
    r = trace.result()
    final = ", ".join(f"{k} = {_f(v)}" for k, v in r["values"].items())
    sub = _sub(_headline(trace, lang), _ending(trace, lang), final, lang)
    return _fill(model, trace.model, n=n, title=title or tr("r_title", lang, name=trace.model),
                 sub=sub, status=trace.status, data=data, frames=frames, panels=panels,
                 texts=texts, figures=figures, notes=notes, words=PAGE_WORDS,
                 table=_table(trace, lang=lang),
                 first_label=(tr("r_of", lang, i=trace.iterations[0].iteration,
                                 n=trace.iterations[last].iteration) if n
                              else tr("r_no_iteration", lang)),
                 empty=tr("r_empty_run", lang), forward=first_forward, forward_options=options,
                 cost_text=cost_text, forward_shown=bool(fparams))


def _fill(model, name, *, n, title, sub, status, data, frames, panels, texts, figures, notes,
          words, table, first_label, empty, forward="", forward_options="", cost_text="",
          forward_shown=False, plots_first=False) -> str:
    """The page's HTML: the template filled with the parts of a run or a fit.
    The plots come after the table, or with ``plots_first`` (a fit's, whose
    data plot moves with the slider) right under the current step."""
    lang = data["lang"]
    w = {field: _e(tr(key, lang)) for field, key in words.items()}
    plots_html = "".join(
        f'<figure class="plot">{svg}<figcaption>{_e(caption)}</figcaption></figure>'
        for caption, svg in figures)
    notes_html = ("<ul class=\"notes\">" + "".join(f"<li>{_e(x)}</li>" for x in notes) + "</ul>"
                  if notes else "")
    first_frame = frames[0] if n and frames[0] else _no_frame(lang, data["words"]["noframe"])
    first_panel = panels[0] if n else f"<p>{_e(empty)}</p>"
    first_text = texts[0] if n and texts[0] else ""
    inside = plots_html or f"<p>{_e(tr('r_no_plot', lang))}</p>"
    plots = (f'<section aria-labelledby="h-plots">\n<h2 id="h-plots">{w["h_plots"]}</h2>\n'
             f'<div class="plots">{inside}</div>\n</section>\n')
    css, js, template = _assets()
    return template.format(
        title=_e(title), name=_e(name), sub=_e(sub), status=_e(status),
        last=max(n - 1, 0), n=n,
        frame=first_frame, panel=first_panel,
        explain=_e(first_text),
        explain_hidden="" if first_text else " hidden", lang=lang,
        forward=_e(forward), forward_options=forward_options, cost=_e(cost_text),
        forward_hidden="" if forward_shown else " hidden",
        table=table, source=_source(model),
        plots_first=plots if plots_first else "", plots_last="" if plots_first else plots,
        notes=notes_html, css=css, js=js, data=script_json(data),
        first_label=_e(first_label),
        **w,
    )


def _no_frame(lang: str = "en", text: str | None = None) -> str:
    return f'<p class="noframe">{_e(text or tr("r_no_frame", lang))}</p>'


def _asset(name: str) -> str:
    """The text of a file shipped in ``graphdsl/assets`` (in the wheel and in
    the source tree alike). Raises FileNotFoundError when it is missing (a
    broken install)."""
    return (resources.files("graphdsl") / "assets" / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _assets() -> tuple[str, str, str]:
    """The page's style, script and HTML template (a ``str.format`` text), read
    once. The script puts only the current frame in the DOM; printing puts
    every chosen frame in, then takes them out again, so a long run stays light
    while it is browsed."""
    # the style and the script start on their own line inside <style> and <script>
    return ("\n" + _asset("report.css"), "\n" + _asset("report.js"), _asset("report.html"))
