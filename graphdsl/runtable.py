"""A run's tables as plain data, built once from a Trace: ``run`` prints them
as text, the HTML report as HTML, and both show the same cells.

A :class:`Table` is a list of :class:`Column` and a list of rows of cells.
A column is a kind and, for a per-param column, the param's name; its
header is chosen where it is printed (:func:`header`), in the reader's
language. A cell is plain data:

- a number (a value, an error, a gradient, a step, an iteration number),
- a name (the node column),
- ``None`` (nothing to show: the last iteration's steps),
- a :class:`~graphdsl.trace.Reason` (a param that skipped its step, and why).

:func:`cell_text` turns a cell into the text both forms show.

Two kinds of table come from a run: :func:`iteration_table` (one row per
iteration: the params, the output, the error, the partials and the steps)
and :func:`node_table` (one row per named node at one iteration); a fit
gives :func:`epoch_table` (one row per epoch). Another kind of trace adds a
builder of its own and, for a new kind of column, an entry in
:data:`HEADERS`; the printers need no change.

>>> import graphdsl
>>> t = graphdsl.loads("param b = 4\\ny = 2*b + 1").solve(target=5)
>>> table = iteration_table(t)
>>> [header(c, table.output) for c in table.columns]
['iter', 'b', 'y', 'error', '∂y/∂b', 'Δb']
>>> [cell_text(c) for c in table.rows[0]]
['0', '4', '9', '4', '2', '2']
>>> print("\\n".join(text_lines(table)))
iter  b  y  error  ∂y/∂b  Δb
----  -  -  -----  -----  --
0     4  9      4      2   2
1     2  5      0      2
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .i18n import tr
from .text import format_number, table as text_table
from .trace import Reason


@dataclass(frozen=True)
class Column:
    """One column: its ``kind`` ("iter", "node", "value", "error",
    "gradient", "step", ...) and the param or node it is about, if any."""

    kind: str
    name: str | None = None


@dataclass
class Table:
    """Columns and rows of plain cells; ``output`` names the node that the
    gradient headers (∂out/∂p) are about."""

    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    output: str = ""


def _value(col: Column, out: str, lang: str) -> str:
    return col.name if col.name is not None else tr("value", lang)


def _gradient(col: Column, out: str, lang: str) -> str:
    return f"∂{out}/∂{col.name}" if col.name is not None else tr("grad_node", lang, out=out)


def _step(col: Column, out: str, lang: str) -> str:
    return f"Δ{col.name}" if col.name is not None else tr("step_node", lang)


#: kind -> header(column, output, lang); a new kind of column adds its entry here
HEADERS = {
    "iter": lambda col, out, lang: tr("iter", lang),
    "epoch": lambda col, out, lang: tr("epoch", lang),
    "node": lambda col, out, lang: tr("node", lang),
    "value": _value,
    "error": lambda col, out, lang: tr("error", lang),
    "gradient": _gradient,
    "step": _step,
}


def header(col: Column, output: str, lang: str = "en") -> str:
    """The header of ``col`` in ``lang``. Raises KeyError for a kind with no
    entry in :data:`HEADERS` (a programming error)."""
    return HEADERS[col.kind](col, output, lang)


def cell_text(cell, lang: str = "en") -> str:
    """A cell as both tables show it: numbers as the seed prints them
    (:func:`graphdsl.text.format_number`), a skipped step as the word "skip".

    >>> cell_text(150.00004), cell_text(None), cell_text(Reason("zero-partial"), "zh")
    ('150.0000', '', '跳过')
    """
    if cell is None:
        return ""
    if isinstance(cell, Reason):
        return tr("skip", lang)
    if isinstance(cell, str):
        return cell
    return format_number(cell)


def iteration_table(trace) -> Table:
    """One row per iteration of ``trace``: iter, each param, the output, the
    error (when the run has a target), ∂out/∂p and Δp for each param. A step
    is None on the last row and the param's Reason where it was skipped."""
    ps, out = list(trace.params), trace.output
    with_error = trace.target is not None
    columns = ([Column("iter")] + [Column("value", p) for p in ps] + [Column("value", out)]
               + ([Column("error")] if with_error else [])
               + [Column("gradient", p) for p in ps] + [Column("step", p) for p in ps])
    rows = []
    for it in trace.iterations:
        steps = it.steps or {}
        row = [it.iteration] + [it.values[p] for p in ps] + [it.values[out]]
        if with_error:
            row.append(it.error)
        row += [it.gradients[p] for p in ps]
        row += [steps[p] if p in steps else it.skipped.get(p) for p in ps]
        rows.append(row)
    return Table(columns, rows, out)


def epoch_table(trace, rows=None) -> Table:
    """One row per epoch of a fit (a :class:`~graphdsl.trace.FitTrace`), or per
    epoch index in ``rows``: the epoch, the loss over the whole data set, each
    param and ∂loss/∂p over the whole data set.

    >>> from graphdsl.trace import Epoch, FitTrace
    >>> t = FitTrace(model="m.bp", output="loss", params=["w"], optimizer="sgd", lr=0.1,
    ...              batch_size=4, samples=4, seed=0, tol=1e-6)
    >>> t.epochs.append(Epoch(0, 2.5, {"w": 0.0, "loss": 2.5}, {"w": -5.0, "loss": 1.0}))
    >>> print("\\n".join(text_lines(epoch_table(t), "zh")))
    轮  loss  w  ∂loss/∂w
    --  ----  -  --------
    0    2.5  0        -5
    """
    ps, out = list(trace.params), trace.output
    columns = ([Column("epoch"), Column("value", out)] + [Column("value", p) for p in ps]
               + [Column("gradient", p) for p in ps])
    epochs = trace.epochs if rows is None else [trace.epochs[i] for i in rows]
    return Table(columns, [[e.epoch, e.loss] + [e.values[p] for p in ps]
                           + [e.gradients[p] for p in ps] for e in epochs], out)


def node_table(trace, i: int = -1, *, steps: bool = False) -> Table:
    """One row per named node at iteration ``i`` of ``trace``: its name, value
    and ∂out/∂node, and with ``steps`` the step it takes (a number, its
    Reason when it was skipped, or None)."""
    it = trace.iterations[i]
    columns = [Column("node"), Column("value"), Column("gradient")]
    if steps:
        columns.append(Column("step"))
    taken = it.steps or {}
    rows = []
    for name, value in it.values.items():
        row = [name, value, it.gradients.get(name)]
        if steps:
            row.append(taken[name] if name in taken else it.skipped.get(name))
        rows.append(row)
    return Table(columns, rows, trace.output)


def text_lines(table: Table, lang: str = "en") -> list[str]:
    """The table as aligned plain text (:func:`graphdsl.text.table`)."""
    return text_table([header(c, table.output, lang) for c in table.columns],
                      [[cell_text(c, lang) for c in row] for row in table.rows])
