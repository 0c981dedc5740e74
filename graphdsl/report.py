"""One self-contained HTML page that steps through a run.

A pure builder: (Model, Trace) in, one HTML string out. The page needs
nothing else (no network, no separate files): the run's data travels inside
it as JSON (``trace.to_json()``, the contract's ``run --json`` object), the
backward-view picture of every iteration as an SVG string drawn by graphviz's
own ``dot`` (built by :mod:`graphdsl.render`, drawn by :mod:`graphdsl.dot`), the chain-rule explanation of
every iteration (through :mod:`graphdsl.explain`) and the plots as inline
SVG. Only the current iteration's picture is put into the DOM, so a run of
hundreds of iterations stays usable; printing puts every frame in, one per
page.

>>> import graphdsl
>>> m = graphdsl.loads("param b = 4\\ny = 2*b + 1")
>>> r = build_report(m, m.solve(target=5), pictures=False, explanations=False, plots=False)
>>> r.html.startswith("<!DOCTYPE html>"), "y = 5" in r.html
(True, True)
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field

from .text import format_number as _f
from .errors import GraphdslError
from .i18n import tr

#: more frames than this are thinned out (evenly, first and last kept): each
#: frame is a `dot` layout and a few KB of SVG
MAX_FRAMES = 500


@dataclass
class Report:
    """A built report: the page, and what the page could not include (and why)."""

    html: str
    iterations: int
    frames: int = 0
    notes: list[str] = field(default_factory=list)

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
                f"iteration(s), {self.frames} frame(s)>")


def build_report(model, trace, *, title: str | None = None, pictures: bool = True,
                 explanations: bool = True, plots: bool = True,
                 max_frames: int = MAX_FRAMES, lang: str = "en") -> Report:
    """Build the HTML page of ``trace``, a run of ``model``.

    ``pictures``, ``explanations`` and ``plots`` switch the parts that need
    graphviz's ``dot``, :mod:`graphdsl.explain` and matplotlib. A part that
    cannot be made (``dot`` missing, a model too big to draw) is left out of
    the page with a sentence saying why, and the reason is added to
    ``Report.notes``; nothing is raised for it. The model is not changed.
    ``lang`` (``"en"`` or ``"zh"``) is the language of the page: its
headings, controls, table headers, notes on the plots and the explanations
(see :mod:`graphdsl.i18n`); the notes on what was left out stay English.

    >>> import graphdsl
    >>> m = graphdsl.loads("param w = 3\\nz = 2*w")
    >>> build_report(m, m.solve(target=4), pictures=False, explanations=False,
    ...              plots=False).iterations
    2
    """
    lang = lang if lang in ("en", "zh") else "en"
    notes: list[str] = []
    n = len(trace.iterations)
    # past max_frames iterations, pictures and explanations are made for an
    # evenly spaced selection: each costs a `dot` layout or a symbolic pass
    chosen = _thin(n, max_frames)
    if len(chosen) < n and (pictures or explanations):
        notes.append(f"pictures and explanations made for {len(chosen)} of {n} iterations "
                     f"(evenly spaced, first and last included; at most {max_frames})")
    frames: list[str | None] = [None] * n
    if pictures and n:
        frames = _frames(model, trace, chosen, notes, lang)
    texts: list[str | None] = [None] * n
    if explanations and n:
        texts = _explanations(model, trace, chosen, lang, notes)
    figures = _plots(model, trace, notes, lang) if plots and n else []

    held = [p for p in model.params if p not in trace.params]
    panels = [_panel(trace, i, held, lang) for i in range(n)]
    data = {
        "trace": _plain(trace.to_json()),
        "frames": [s or "" for s in frames],
        "panels": panels,
        "explanations": [t or "" for t in texts],
        "lang": lang,
        # the words the page's script writes as it steps
        "words": {"of": tr("r_of", lang), "where": tr("r_where", lang),
                  "showing": tr("r_showing", lang), "noframe": tr("r_no_frame", lang)},
    }
    page = _page(model, trace, title=title, data=data, frames=frames, panels=panels,
                 texts=texts, figures=figures, notes=notes)
    return Report(html=page, iterations=n, frames=sum(1 for s in frames if s), notes=notes)


# --- the parts ------------------------------------------------------------------

def _frames(model, trace, chosen, notes, lang="en") -> list[str | None]:
    """One backward-view SVG per chosen iteration (None where none was drawn)."""
    n = len(trace.iterations)
    from . import dot, render

    try:
        # one `dot` process draws every frame (see graphdsl.dot.to_svgs)
        svgs = dot.to_svgs(render.iteration_graph(model, trace, i, "backward", lang=lang)
                           for i in chosen)
    except GraphdslError as e:
        notes.append(f"pictures left out: {e.message}")
        return [None] * n
    out: list[str | None] = [None] * n
    for i, svg in zip(chosen, svgs):
        out[i] = svg
    return out


def _explanations(model, trace, chosen, lang, notes) -> list[str | None]:
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
    except GraphdslError as e:
        notes.append(f"chain-rule explanation left out: {e.message}")
        return [None] * n
    return out


def _plots(model, trace, notes, lang="en") -> list[tuple[str, str]]:
    """(caption, inline SVG) for each plot of the run (graphdsl.plot, matplotlib)."""
    try:
        from . import plot
    except ImportError:
        notes.append("plots left out: this graphdsl has no plotting module (graphdsl.plot)")
        return []
    try:
        fig = plot.run_figure(trace, model, marks=True)
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


def _thin(n: int, limit: int) -> list[int]:
    """At most ``limit`` indices of range(n), evenly spaced, first and last kept.

    >>> _thin(5, 10), _thin(10, 4)
    ([0, 1, 2, 3, 4], [0, 3, 6, 9])
    """
    if n <= limit:
        return list(range(n))
    if limit <= 1:
        return [0][:limit]
    return sorted({round(k * (n - 1) / (limit - 1)) for k in range(limit)})


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
    rows = []
    steps = it.steps or {}
    for name, value in it.values.items():
        kind = (tr("r_param", lang) if name in trace.params else tr("r_held", lang) if name in held
                else tr("r_output", lang) if name == out else "")
        if name in steps:
            step = _f(steps[name])
        elif name in it.skipped:
            step = tr("r_skipped", lang, why=it.skipped[name])
        else:
            step = ""
        # full-width brackets bring their own space
        gap = "" if lang == "zh" else " "
        rows.append(f"<tr><th scope=\"row\">{_e(name)}"
                    + (f'{gap}<span class="kind">{_e(tr("r_kind", lang, kind=kind))}</span>'
                       if kind else "")
                    + f"</th><td>{_e(_f(value))}</td><td>{_e(_f(it.gradients.get(name)))}</td>"
                    f"<td>{_e(step)}</td></tr>")
    parts.append(f'<table class="nodes"><caption class="vh">{_e(tr("r_caption", lang, i=it.iteration))}'
                 f'</caption><thead><tr><th scope="col">{_e(tr("node", lang))}</th>'
                 f'<th scope="col">{_e(tr("value", lang))}</th>'
                 f'<th scope="col">{_e(tr("r_grad_node", lang, out=out))}</th>'
                 f'<th scope="col">{_e(tr("r_step", lang))}</th></tr></thead>'
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
    why = trace.message or (str(trace.failure).splitlines()[0] if trace.failure else trace.status)
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
    """The run's table (the CLI's columns), one row per iteration, the current
    row marked by text (▶) and aria-current, not by colour alone."""
    ps, out = trace.params, trace.output
    head = ["", tr("iter", lang)] + ps + [out]
    show_error = any(it.error is not None for it in trace.iterations)
    if show_error:
        head.append(tr("error", lang))
    head += [f"∂{out}/∂{p}" for p in ps] + [f"Δ{p}" for p in ps]
    current_th = f'<span class=vh>{_e(tr("r_current", lang))}</span>'
    ths = "".join(f'<th scope="col">{_e(h) if h else current_th}</th>' for h in head)
    body = []
    for k, it in enumerate(trace.iterations):
        steps = it.steps or {}
        cells = [_f(it.values[p]) for p in ps] + [_f(it.values[out])]
        if show_error:
            cells.append(_f(it.error))
        cells += [_f(it.gradients[p]) for p in ps]
        cells += [_f(steps[p]) if p in steps else (tr("r_skip", lang) if p in it.skipped else "") for p in ps]
        mark = k == current
        body.append(
            f'<tr data-i="{k}"' + (' class="current" aria-current="step"' if mark else "") + ">"
            f'<td class="mark" aria-hidden="true">{"▶" if mark else ""}</td>'
            f'<th scope="row"><button type="button" class="go" data-i="{k}" '
            f'aria-label="{_e(tr("r_show", lang, i=it.iteration))}">{it.iteration}</button></th>'
            + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
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


def _page(model, trace, *, title, data, frames, panels, texts, figures, notes) -> str:
    n = len(trace.iterations)
    name = trace.model
    lang = data["lang"]
    # the template's fields for the page's fixed words
    w = {field: _e(tr(key, lang)) for field, key in (
        ("nav", "r_nav"), ("first", "r_first"), ("prev", "r_prev"), ("next", "r_next"),
        ("last_button", "r_last"), ("slider", "r_slider"), ("keys", "r_keys"),
        ("noscript", "r_noscript"), ("frame_label", "r_frame"), ("h_explain", "r_h_explain"),
        ("h_table", "r_h_table"), ("table_label", "r_table"), ("h_plots", "r_h_plots"),
        ("h_source", "r_h_source"))}
    title = title or tr("r_title", lang, name=name)
    last = max(n - 1, 0)
    first_frame = frames[0] if n and frames[0] else _no_frame(lang)
    first_panel = panels[0] if n else f"<p>{_e(tr('r_empty_run', lang))}</p>"
    first_text = texts[0] if n and texts[0] else ""
    plots_html = "".join(
        f'<figure class="plot">{svg}<figcaption>{_e(caption)}</figcaption></figure>'
        for caption, svg in figures)
    notes_html = ("<ul class=\"notes\">" + "".join(f"<li>{_e(x)}</li>" for x in notes) + "</ul>"
                  if notes else "")
    r = trace.result()
    final = ", ".join(f"{k} = {_f(v)}" for k, v in r["values"].items())
    sub = tr("r_sub", lang, headline=_headline(trace, lang), ending=_ending(trace, lang), final=final)
    return _TEMPLATE.format(
        title=_e(title), name=_e(name), sub=_e(sub), status=_e(trace.status),
        last=last, n=n,
        frame=first_frame, panel=first_panel,
        explain=_e(first_text),
        explain_hidden="" if first_text else " hidden", lang=lang,
        table=_table(trace, lang=lang), source=_source(model),
        plots=plots_html or f"<p>{_e(tr('r_no_plot', lang))}</p>",
        notes=notes_html, css=_CSS, js=_JS, data=script_json(data),
        first_label=_e(tr("r_of", lang, i=trace.iterations[0].iteration,
                          n=trace.iterations[last].iteration) if n else tr("r_no_iteration", lang)),
        **w,
    )


def _no_frame(lang: str = "en") -> str:
    return f'<p class="noframe">{_e(tr("r_no_frame", lang))}</p>'


_CSS = """
:root { --ink: #111; --paper: #fff; --mute: #555; --line: #999; --mark: #fff1b8;
        --focus: #0b57d0; font-family: system-ui, -apple-system, "Segoe UI", Roboto,
        "Noto Sans", "Noto Sans CJK SC", sans-serif; color: var(--ink); background: var(--paper); }
body { margin: 0 auto; max-width: 84rem; padding: 0 1rem 3rem; line-height: 1.45; }
h1 { font-size: 1.5rem; margin: 1rem 0 .2rem; }
h2 { font-size: 1.15rem; margin: 1.2rem 0 .4rem; }
.sub { margin: 0 0 .6rem; color: var(--mute); }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
      white-space: nowrap; }
.controls { position: sticky; top: 0; z-index: 2; background: var(--paper);
            border-bottom: 2px solid var(--ink); padding: .5rem 0; display: flex;
            flex-wrap: wrap; gap: .5rem; align-items: center; }
.controls button { font: inherit; padding: .3rem .7rem; border: 2px solid var(--ink);
                   border-radius: .3rem; background: var(--paper); color: var(--ink); cursor: pointer; }
.controls button[aria-disabled="true"] { opacity: .45; cursor: default; }
.controls input[type=range] { flex: 1 1 12rem; min-width: 8rem; }
#where { font-weight: bold; min-width: 9rem; }
.keys { color: var(--mute); font-size: .9rem; }
kbd { border: 1px solid var(--line); border-bottom-width: 2px; border-radius: .2rem;
      padding: 0 .25rem; font: .85rem ui-monospace, monospace; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
button:focus-visible { outline: 3px dashed var(--ink); box-shadow: 0 0 0 6px var(--focus); }
/* the picture gets the full width unless the screen has room beside it:
   on a 1024- or 1280-pixel projector its labels must stay readable */
.stage { display: grid; grid-template-columns: 1fr; gap: .5rem 1rem; align-items: start; }
@media (min-width: 90rem) { .stage { grid-template-columns: minmax(0, 1fr) auto; }
                            #panel { max-width: 30rem; } }
#panel { overflow-x: auto; }
#panel h2 { margin-top: 0; }
#frame { border: 1px solid var(--line); padding: .5rem; margin: 0; min-height: 8rem; overflow: auto; }
#frame svg { width: 100%; max-height: 60vh; }
#frame svg, .print-frame svg, .plot svg { max-width: 100%; height: auto; display: block;
                                           margin: 0 auto; }
.noframe { color: var(--mute); font-style: italic; }
.summary { font-size: 1.15rem; margin: .2rem 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .15rem .5rem; border-bottom: 1px solid var(--line); text-align: right; }
th[scope=row], thead th { text-align: left; }
.nodes { font-size: .92rem; }
.nodes th, .nodes td { padding: .1rem .35rem; white-space: nowrap; }
.kind { color: var(--mute); font-weight: normal; font-size: .85rem; }
.step { margin: .4rem 0; }
#explain { white-space: pre-wrap; font: .9rem/1.4 ui-monospace, "DejaVu Sans Mono", monospace;
           border-left: 4px solid var(--line); padding: .3rem .6rem; margin: .4rem 0; }
.table-wrap { max-height: 24rem; overflow: auto; border: 1px solid var(--line); }
#iters thead th { position: sticky; top: 0; background: var(--paper); border-bottom: 2px solid var(--ink); }
#iters tr.current { background: var(--mark); font-weight: bold; outline: 2px solid var(--ink); }
#iters td.mark { width: 1.2rem; text-align: center; }
#iters button.go { font: inherit; border: 0; background: none; text-decoration: underline;
                   cursor: pointer; color: inherit; padding: 0 .2rem; }
.source { border: 1px solid var(--line); padding: .5rem; overflow: auto;
          font: .9rem/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
.source .ln { color: var(--mute); user-select: none; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.plot { margin: 0; flex: 1 1 24rem; max-width: 64rem; }
figcaption { color: var(--mute); font-size: .9rem; text-align: center; }
.notes { color: var(--mute); }
#print-all { display: none; }
/* the rings on the plots: only the current iteration's shows */
.plot [id^="gdmark-"] { display: none; }
.plot [id^="gdmark-"].on { display: inline; }
@page { margin: 1.5cm; }
@media print {
  :root { --mark: #fff; }
  body { max-width: none; padding: 0; }
  .controls, .keys { display: none; }
  #iters button.go { text-decoration: none; }
  body.printing-all .stage, body.printing-all #explain-box { display: none; }
  body.printing-all #print-all { display: block; }
  .print-frame { break-after: page; page-break-after: always; }
  .print-frame .summary { font-size: 1rem; }
  .print-frame pre { white-space: pre-wrap; font: .72rem/1.3 ui-monospace, "DejaVu Sans Mono", monospace; }
  .print-frame svg { max-height: 60vh; width: auto; }
  .table-wrap { max-height: none; overflow: visible; border: 0; }
  #iters tr.current { outline: 0; font-weight: normal; }
  #iters td.mark { visibility: hidden; }
  section { break-inside: avoid-page; }
  .source, #frame { overflow: visible; }
}
"""

# Only the current frame lives in the DOM; print puts every frame in, then
# takes them out again, so a long run stays light while it is browsed.
_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("graphdsl-data").textContent);
  var n = data.panels.length;
  if (!n) return;
  var its = data.trace.iterations;
  var cur = 0;
  var $ = function (id) { return document.getElementById(id); };
  var frame = $("frame"), panel = $("panel"), explain = $("explain"), explainBox = $("explain-box"),
      slider = $("slider"), where = $("where"), live = $("live");
  var rows = document.querySelectorAll("#iters tbody tr");
  var wrap = document.querySelector(".table-wrap");
  var words = data.words;
  var NOFRAME = document.createElement("p");
  NOFRAME.className = "noframe"; NOFRAME.textContent = words.noframe;
  NOFRAME = NOFRAME.outerHTML;
  var lastNo = its[n - 1].iteration;
  function say(text, i) { return text.replace("{i}", its[i].iteration).replace("{n}", lastNo); }
  function label(i) { return say(words.of, i); }

  // The plots carry one ring per iteration and panel (matplotlib gids
  // "gdmark-e-K" on the error plot, "gdmark-c-K" on the curve); the current one shows.
  var marks = document.querySelectorAll('.plot [id^="gdmark-"]');
  function mark(i) {
    for (var k = 0; k < marks.length; k++) {
      var on = /^gdmark-[a-z]+-(\d+)$/.exec(marks[k].id);
      marks[k].classList.toggle("on", !!on && +on[1] === i);
    }
  }

  function show(i, announce) {
    i = Math.max(0, Math.min(n - 1, i | 0));
    var old = rows[cur];
    if (old) { old.classList.remove("current"); old.removeAttribute("aria-current");
               old.firstElementChild.textContent = ""; }
    cur = i;
    frame.innerHTML = data.frames[i] || NOFRAME;
    panel.innerHTML = data.panels[i];
    var t = data.explanations[i];
    explain.textContent = t; explainBox.hidden = !t;
    slider.value = String(i);
    slider.setAttribute("aria-valuetext", label(i));
    where.textContent = say(words.where, i);
    mark(i);
    var row = rows[i];
    if (row) {
      row.classList.add("current"); row.setAttribute("aria-current", "step");
      row.firstElementChild.textContent = "\u25B6";
      // keep the marked row in view inside its own scroll box, not the page
      var top = row.offsetTop, head = row.parentNode.previousElementSibling.offsetHeight;
      if (top - head < wrap.scrollTop) wrap.scrollTop = top - head;
      else if (top + row.offsetHeight > wrap.scrollTop + wrap.clientHeight)
        wrap.scrollTop = top + row.offsetHeight - wrap.clientHeight;
    }
    $("first").setAttribute("aria-disabled", String(i === 0));
    $("prev").setAttribute("aria-disabled", String(i === 0));
    $("next").setAttribute("aria-disabled", String(i === n - 1));
    $("last").setAttribute("aria-disabled", String(i === n - 1));
    if (announce) live.textContent = words.showing.replace("{label}", label(i));
    try { history.replaceState(null, "", "#iteration-" + its[i].iteration); } catch (e) {}
  }

  $("first").addEventListener("click", function () { show(0, true); });
  $("prev").addEventListener("click", function () { show(cur - 1, true); });
  $("next").addEventListener("click", function () { show(cur + 1, true); });
  $("last").addEventListener("click", function () { show(n - 1, true); });
  slider.addEventListener("input", function () { show(+slider.value, true); });
  document.getElementById("iters").addEventListener("click", function (e) {
    var b = e.target.closest("button.go");
    if (b) show(+b.getAttribute("data-i"), true);
  });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (e.target === slider) return;          // the slider moves itself; "input" follows
    var tag = e.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || e.target.isContentEditable) return;
    var to;
    if (e.key === "ArrowRight") to = cur + 1;
    else if (e.key === "ArrowLeft") to = cur - 1;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = n - 1;
    else return;
    e.preventDefault();
    show(to, true);
  });

  // Printing: every iteration on its own page (frame, values, chain rule).
  var printAll = $("print-all");
  function fill() {
    var parts = [];
    for (var i = 0; i < n; i++) {
      parts.push('<section class="print-frame">' + data.panels[i] +
                 '<div class="pf">' + (data.frames[i] || NOFRAME) + '</div>' +
                 '<pre class="pe" lang="' + data.lang + '"></pre></section>');
    }
    printAll.innerHTML = parts.join("");
    var pes = printAll.querySelectorAll("pre.pe");
    for (var k = 0; k < pes.length; k++) {
      pes[k].textContent = data.explanations[k];
      if (!data.explanations[k]) pes[k].hidden = true;
    }
    document.body.classList.add("printing-all");
  }
  function empty() { printAll.innerHTML = ""; document.body.classList.remove("printing-all"); }
  window.addEventListener("beforeprint", fill);
  window.addEventListener("afterprint", empty);
  window.graphdslReport = { show: show, current: function () { return cur; },
                            preparePrint: fill, endPrint: empty };

  var m = /^#iteration-(\d+)$/.exec(location.hash);
  var start = 0;
  if (m) for (var j = 0; j < n; j++) if (its[j].iteration === +m[1]) start = j;
  show(start, false);
})();
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="graphdsl">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{name}</h1>
<p class="sub">{sub}</p>
</header>
<nav class="controls" aria-label="{nav}">
<button type="button" id="first" aria-keyshortcuts="Home">{first}</button>
<button type="button" id="prev" aria-keyshortcuts="ArrowLeft">{prev}</button>
<label class="vh" for="slider">{slider}</label>
<input type="range" id="slider" min="0" max="{last}" step="1" value="0" aria-valuetext="{first_label}">
<button type="button" id="next" aria-keyshortcuts="ArrowRight">{next}</button>
<button type="button" id="last" aria-keyshortcuts="End">{last_button}</button>
<span id="where" aria-hidden="true"></span>
<span class="keys">{keys} <kbd>←</kbd> <kbd>→</kbd> <kbd>Home</kbd> <kbd>End</kbd></span>
</nav>
<p id="live" class="vh" aria-live="polite"></p>
<noscript><p>{noscript}</p></noscript>
<main>
<div class="stage">
<figure id="frame" aria-label="{frame_label}">{frame}</figure>
<section id="panel" aria-labelledby="cur-title">{panel}</section>
</div>
<section id="explain-box" aria-labelledby="h-explain"{explain_hidden}>
<h2 id="h-explain">{h_explain}</h2>
<pre id="explain" lang="{lang}">{explain}</pre>
</section>
<div id="print-all"></div>
<section aria-labelledby="h-table">
<h2 id="h-table">{h_table}</h2>
<div class="table-wrap" tabindex="0" aria-label="{table_label}">{table}</div>
</section>
<section aria-labelledby="h-plots">
<h2 id="h-plots">{h_plots}</h2>
<div class="plots">{plots}</div>
</section>
<section aria-labelledby="h-source">
<h2 id="h-source">{h_source}</h2>
{source}
</section>
{notes}
</main>
<script type="application/json" id="graphdsl-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""
