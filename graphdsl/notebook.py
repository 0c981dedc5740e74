"""graphdsl in Jupyter: how a model and a run show themselves, and the
``%%bp`` cell magic.

- A :class:`~graphdsl.model.Model` shows the backward picture (values,
  ∂output/∂node and the local partial on every edge, as SVG drawn by
  graphviz's ``dot``) and a table of every named node's value and gradient.
  Without ``dot``, or for a picture too big to lay out, the table alone.
- A run's :class:`~graphdsl.trace.Trace` shows its table (the lines
  ``graphdsl run`` prints) and its plot (matplotlib, when installed).
- ``%load_ext graphdsl`` then a cell that starts with ``%%bp [run options]``
  builds the model in the cell, runs it as ``graphdsl run`` would, and shows
  the result; a mistake shows its message (with the caret), never a
  traceback.

Everything here builds HTML text; nothing is printed. The heavy parts
(graphviz, matplotlib, IPython) are imported only when something is shown.

>>> import graphdsl
>>> html = model_html(graphdsl.loads("param b = 4\\ny = 2*b + 1"), picture=False)
>>> "<td>9</td><td>1</td>" in html        # y = 9, ∂y/∂y = 1
True
"""

from __future__ import annotations

import html as _html
import shlex

from .errors import GraphdslError
from .text import format_number

#: a table longer than this shows its first rows and says how many are left out
MAX_ROWS = 200


def _e(text) -> str:
    return _html.escape(str(text), quote=True)


def _message(text: str) -> str:
    """A graphdsl message (with its caret) as HTML that keeps its columns."""
    return (f'<pre class="graphdsl-error" style="color:#b00020;white-space:pre-wrap">'
            f"{_e(text)}</pre>")


def _note(text: str) -> str:
    return f'<p class="graphdsl-note" style="color:#666;font-size:90%">{_e(text)}</p>'


def _picture(graph_of) -> tuple[str, str]:
    """(inline SVG, '') from ``graph_of()``, or ('', why not) when the picture
    cannot be made (no ``dot``, a picture too big)."""
    try:
        from .dot import to_svg

        return to_svg(graph_of(), inline=True), ""
    except GraphdslError as e:
        return "", f"no picture: {e.message}"
    except ImportError as e:
        return "", f"no picture: {e}"


def model_html(model, *, picture: bool = True, lang: str | None = None) -> str:
    """The model as HTML: the backward picture and a table of every named
    node's value and ∂output/∂node, at the params' current values.

    A model that cannot be evaluated there (outside an op's domain) shows the
    message instead. Raises nothing.
    """
    from .i18n import default_lang, tr

    lang = lang or default_lang()
    try:
        values = model.forward()
        grads = model.gradients()
    except GraphdslError as e:
        return f'<div class="graphdsl">{_message(str(e))}</div>'
    parts = ['<div class="graphdsl">']
    if picture:
        svg, why = _picture(lambda: model.render("backward", lang=lang))
        parts.append(svg or _note(why))
    out = model.output
    rows = [f"<tr><th>{_e(n)}</th><td>{_e(_value_text(v))}</td>"
            f"<td>{_e(format_number(grads.get(n)))}</td></tr>"
            for n, v in list(values.items())[:MAX_ROWS]]
    parts.append(f'<table class="graphdsl-nodes"><thead><tr><th>{_e(tr("node", lang))}</th>'
                 f'<th>{_e(tr("value", lang))}</th><th>{_e(tr("grad_node", lang, out=out))}</th></tr></thead>'
                 f'<tbody>{"".join(rows)}</tbody></table>')
    if len(values) > MAX_ROWS:
        parts.append(_note(f"… and {len(values) - MAX_ROWS:,} more nodes"))
    parts.append("</div>")
    return "".join(parts)


def _value_text(v) -> str:
    """A value for the table: a number, or for a data model's per-sample node
    (an array) how many values it has."""
    if getattr(v, "ndim", 0):
        return f"{len(v):,} values, one per sample"
    return format_number(v)


def _cut(lines: list[str], tail: int) -> list[str]:
    """A long table's first :data:`MAX_ROWS` lines, a line saying how many are
    left out, and its last ``tail`` lines (how it ended)."""
    if len(lines) <= MAX_ROWS + 8:
        return lines
    return lines[:MAX_ROWS] + [f"… {len(lines) - MAX_ROWS:,} more lines"] + lines[-tail:]


def trace_text(trace, lang: str | None = None) -> str:
    """The run as ``graphdsl run`` prints it: the table and the summary, then
    the reason it stopped when it did not converge."""
    from .cli import format_trace
    from .i18n import default_lang

    lines = _cut(format_trace(trace, lang or default_lang()), tail=4)
    if trace.failure is not None:
        lines += ["", str(trace.failure)]
    elif not trace.ok and trace.message:
        lines += ["", f"error: {trace.message}"]
    return "\n".join(lines)


def trace_html(trace, model=None, *, lang: str | None = None, plot: bool = True,
               picture: bool = False) -> str:
    """The run as HTML: its table (as ``graphdsl run`` prints it) and its plot.

    With ``model``, the plot of a one-param run adds the curve of the output,
    and ``picture=True`` adds the backward picture of the last iteration.
    A part that cannot be made (no matplotlib, no ``dot``) is left out with a
    note. Raises nothing.
    """
    parts = ['<div class="graphdsl">',
             f'<pre class="graphdsl-run">{_e(trace_text(trace, lang))}</pre>']
    if picture and model is not None and trace.iterations:
        from .i18n import default_lang

        svg, why = _picture(lambda: _last_graph(model, trace, lang or default_lang()))
        parts.append(svg or _note(why))
    if plot and trace.iterations and (trace.method is not None
                                      or (model is not None and len(trace.params) == 1)):
        from .i18n import default_lang
        from .plot import run_figure

        parts.append(_plot_svg(lambda: run_figure(trace, model, lang=lang or default_lang())))
    parts.append("</div>")
    return "".join(parts)


def _plot_svg(make) -> str:
    """The figure ``make()`` draws, as inline SVG, or a note saying why not."""
    try:
        from .plot import figure_bytes
        from .report import strip_prolog

        return strip_prolog(figure_bytes(make(), "svg").decode("utf-8"))
    except GraphdslError as e:
        return _note(f"no plot: {e.message}")


def _fit_lines(trace, lang: str | None = None) -> list[str]:
    """The fit as ``graphdsl fit`` prints it (long tables cut), then why it
    stopped when it did not converge."""
    from .cli import format_fit
    from .i18n import default_lang

    lines = _cut(format_fit(trace, lang or default_lang()), tail=2)
    if trace.failure is not None:
        lines += ["", str(trace.failure)]
    return lines


def fit_html(trace, model=None, *, lang: str | None = None, plot: bool = True) -> str:
    """A fit (a :class:`~graphdsl.trace.FitTrace`) as HTML: its table as
    ``graphdsl fit`` prints it, why it stopped when it did not converge, and
    its plot (the loss per epoch; with ``model``, also the data with the
    model's curve). A plot that cannot be made is left out with a note.
    Raises nothing."""
    from .i18n import default_lang

    lang = lang or default_lang()
    lines = _fit_lines(trace, lang)
    parts = ['<div class="graphdsl">', f'<pre class="graphdsl-run">{_e(chr(10).join(lines))}</pre>']
    if plot and trace.epochs:
        from .plot import fit_figure

        parts.append(_plot_svg(lambda: fit_figure(trace, model, lang=lang)))
    parts.append("</div>")
    return "".join(parts)


def _last_graph(model, trace, lang):
    from .render import iteration_graph

    return iteration_graph(model, trace, len(trace.iterations) - 1, "backward", lang=lang)


class Result:
    """What a ``%%bp`` cell gives back (and shows): the model and its run.

    ``result.model`` and ``result.trace`` are there for the next cell.
    """

    def __init__(self, model, trace, lang: str = "en"):
        self.model, self.trace, self.lang = model, trace, lang

    def _repr_html_(self) -> str:
        if self._fitted:
            return fit_html(self.trace, self.model, lang=self.lang)
        if self.trace.method is None:   # no target: one pass, the model is the result
            return model_html(self.model, lang=self.lang)
        return trace_html(self.trace, self.model, lang=self.lang, picture=True)

    def __repr__(self) -> str:
        if self._fitted:
            return "\n".join(_fit_lines(self.trace, self.lang))
        return trace_text(self.trace, self.lang)

    @property
    def _fitted(self) -> bool:
        from .trace import FitTrace

        return isinstance(self.trace, FitTrace)


def bp(line: str, cell: str):
    """The ``%%bp`` cell magic: the cell is a model, the line ``run``'s options
    (or ``fit`` and fit's options: the cell's model is trained on its data).

    Returns a :class:`Result` (shown as the cell's output), or None after
    showing the message of a mistake in the model or the options.

    >>> r = bp("--target 150", "param w = 3\\nparam b = 4\\nz = (2*w + 3*b)*(2*b + 1)")
    >>> r.trace.status, len(r.trace.iterations)
    ('converged', 3)
    """
    from .cli import fit_text, run_text

    try:
        words = shlex.split(line)
        if words[:1] == ["fit"]:
            model, trace, lang = fit_text(cell, words[1:], name="<cell>")
        else:
            model, trace, lang = run_text(cell, words, name="<cell>")
    except GraphdslError as e:
        _show_message(str(e))
        return None
    except ValueError as e:      # shlex: an unclosed quote on the magic's line
        _show_message(f"error: %%bp {line}: {e}")
        return None
    except SystemExit:           # --help has printed the options
        return None
    return Result(model, trace, lang)


def _show_message(text: str) -> None:
    """Show a message as the cell's output (the magic runs inside IPython)."""
    from IPython.display import display

    display({"text/plain": text, "text/html": _message(text)}, raw=True)


def load_ipython_extension(ipython) -> None:
    """``%load_ext graphdsl``: register the ``%%bp`` cell magic."""
    ipython.register_magic_function(bp, magic_kind="cell", magic_name="bp")
