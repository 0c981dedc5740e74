"""A data model's columns: read from a CSV file, given as arrays, or inline.

A model declares its per-sample inputs with ``data x, y``. Their values come
from a CSV file (``--data FILE.csv``: a header row names the columns, the
other columns are ignored), from arrays given to the Python API, or from the
model itself (``data x = [0, 0, 1, 1]``). The model file never reads a file:
the command line or the caller hands the columns over.

:func:`read_csv` reads a file with Python's ``csv`` module (quoted fields,
CRLF, a byte-order mark; tabs for a ``.tsv``) and converts each column the
model declares with numpy in one call, so 10⁶ rows take about a second.
Every mistake in the file is a :class:`~graphdsl.errors.UsageError` (exit 2)
that names the file, the line and the column, with the line and a caret.

:class:`DataSet` keeps, besides the columns, where each sample came from, so a
message can say "sample 17 (line 18 of data.csv)".

>>> import graphdsl
>>> m = graphdsl.loads("data x = [1, 2]\\ndata y\\nz = mean(x*y)")
>>> d = bind(m, arrays={"y": [3, 4]})
>>> d.n, d.columns["x"].tolist(), d.describe(1)
(2, [1.0, 2.0], 'sample 2 (x inline in the model, y from the caller)')
"""

from __future__ import annotations

import csv
import io
import operator
import os
from dataclasses import dataclass, field

from .errors import UsageError
from .text import did_you_mean, shorten

#: the largest data file read (a CSV of 10^6 rows and a few columns is about 30 MB)
MAX_DATA_BYTES = 2 * 2**30


@dataclass
class DataSet:
    """The columns of a data model, one numpy array of floats per declared column,
    all of length ``n``.

    ``lines`` gives the file line of each sample when the columns come from a
    file (None otherwise); ``origin`` says where the values came from, for
    messages."""

    columns: dict
    n: int
    lines: object = None
    origin: str = "the data"
    file: str | None = None
    #: column name -> "inline in the model", "from the caller", "data.csv"
    sources: dict = field(default_factory=dict)

    def describe(self, i: int) -> str:
        """Where sample ``i`` (from 0) came from, for a message.

        >>> DataSet({"x": None}, 3, origin="from the caller").describe(0)
        'sample 1 (from the caller)'
        """
        if self.lines is not None:
            return f"sample {i + 1} (line {int(self.lines[i])} of {self.file})"
        return f"sample {i + 1} ({self.origin})"

    @property
    def nbytes(self) -> int:
        """The memory the columns take."""
        return sum(int(c.nbytes) for c in self.columns.values())


def _np():
    from .batch import require_numpy

    return require_numpy()


def read_csv(path, names, optional=()) -> DataSet:
    """Read the columns ``names`` from the CSV (or ``.tsv``) file at ``path``,
    and those of ``optional`` that the file has.

    Raises :class:`UsageError` for a file that is missing, empty, not text,
    with no sample rows, without a declared column (listing the columns there,
    with a did-you-mean), with a row of the wrong length, or with a cell that
    is not a finite number (naming the file, line and column).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write("x,label,y\\n1,a,2\\n3,b,4\\n")
    >>> d = read_csv(p, ["y", "x"])
    >>> d.columns["x"].tolist(), d.columns["y"].tolist(), d.lines.tolist()
    ([1.0, 3.0], [2.0, 4.0], [2, 3])
    """
    np = _np()
    path = os.fspath(path)
    text = _read_text(path)
    delimiter = "\t" if path.lower().endswith((".tsv", ".tab")) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)   # blank lines before the header
    except csv.Error as e:
        raise _csv_error(path, text, reader.line_num, e) from None
    if header is None:
        raise UsageError(f"{path} is empty",
                         hint="a data file starts with a header row naming the columns "
                              "(`x,y`), then one row per sample (`0.5,1.2`)")
    header_line = reader.line_num
    heads = [h.strip() for h in header]
    where = []
    names = list(names) + [n for n in optional if n in heads]
    for name in names:
        found = [i for i, h in enumerate(heads) if h == name]
        if not found:
            raise _missing_column(path, text, header_line, name, heads, delimiter)
        if len(found) > 1:
            raise UsageError(f"{path}: the column '{shorten(name)}' appears {len(found)} times "
                             f"in the header", file=path, line=header_line,
                             column=_cell_column(_line(text, header_line), found[1], delimiter),
                             source=_line(text, header_line), width=len(name),
                             hint="give each column its own name")
        where.append(found[0])
    width = len(heads)
    pick = operator.itemgetter(*where, 0)   # a tuple even for one column
    picked = []
    add = picked.append
    lines = []
    add_line = lines.append
    try:
        before = reader.line_num
        for row in reader:
            # a record starts on the line after the last one: a quoted cell may span lines
            start, before = before + 1, reader.line_num
            if len(row) != width:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue   # a blank line
                raise _ragged(path, text, reader.line_num, len(row), width, header_line)
            add_line(start)
            add(pick(row))
    except csv.Error as e:
        raise _csv_error(path, text, reader.line_num, e) from None
    if not lines:
        raise UsageError(f"{path} has a header but no samples",
                         file=path, line=header_line, column=1, source=_line(text, header_line),
                         hint="add one row per sample under the header")
    cells = list(zip(*picked))[:len(names)]   # one tuple of cells per column
    del picked
    columns = {}
    for name, i, col in zip(names, where, cells):
        columns[name] = _floats(np, col, path, text, lines, name, i, delimiter)
    return DataSet(columns, len(lines), lines=np.array(lines, dtype=np.int64),
                   origin=path, file=path, sources={n: path for n in names})


def _read_text(path: str) -> str:
    from .fileio import other_encoding, read_input

    data = read_input(path, MAX_DATA_BYTES, kind="data file", prefix="--data: ",
                      example="a CSV file, e.g. models/data/regression.csv")
    if len(data) > MAX_DATA_BYTES:
        raise UsageError(f"--data: {path} is larger than {MAX_DATA_BYTES // 2**30} GB",
                         hint="use a sample of the rows")
    encoding = other_encoding(data)
    if encoding is not None:   # a spreadsheet's "Unicode text" export
        raise UsageError(f"--data: {path} is {encoding}, not UTF-8",
                         hint="save the file as UTF-8 (most spreadsheets: CSV UTF-8)")
    if b"\0" in data[:8192]:
        raise UsageError(f"--data: {path} is a binary file, not a CSV (it contains NUL bytes)",
                         hint="give a text file: a header row, then one row per sample")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UsageError(f"--data: {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at "
                         f"line {line})",
                         hint="save the file as UTF-8 (most spreadsheets: CSV UTF-8)") from None
    if text.startswith("\ufeff"):
        text = text[1:]   # the byte-order mark spreadsheets put first
    return text


def _line(text: str, line: int) -> str | None:
    """The text of a line of the file (1-based), without its line ending."""
    start = 0
    for _ in range(line - 1):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    end = text.find("\n", start)
    return text[start:end if end >= 0 else len(text)].rstrip("\r")


def _cell_column(line_text: str | None, index: int, delimiter: str) -> int:
    """The 1-based character column where cell ``index`` starts on a line
    (exact when the line has no quotes; the line's start otherwise)."""
    if line_text is None or '"' in line_text:
        return 1
    parts = line_text.split(delimiter)
    if index >= len(parts):
        return len(line_text) + 1
    return sum(len(p) + 1 for p in parts[:index]) + 1 + (len(parts[index]) - len(parts[index].lstrip()))


def _floats(np, col, path, text, lines, name, index, delimiter):
    """The cells of one column as floats; raises UsageError at the first cell
    that is not a finite number."""
    try:
        arr = np.array(col, dtype=float)
    except ValueError:
        arr = None
    if arr is not None:
        bad = np.flatnonzero(~np.isfinite(arr))
        if not len(bad):
            return arr
        k = int(bad[0])
        why = f"'{col[k].strip()}' is not a finite number"
    else:
        k = next(k for k, cell in enumerate(col) if not _is_number(cell))
        cell = col[k].strip()
        why = (f"the cell of column '{shorten(name)}' is empty" if not cell else
               f"'{shorten(cell)}' in column '{shorten(name)}' is not a number")
    line = lines[k]
    src = _line(text, line)
    raise UsageError(
        f"{path}: {why}", file=path, line=line, column=_cell_column(src, index, delimiter),
        source=src, width=max(1, len(col[k].strip())),
        hint=(f"every value of a declared column must be a number (a decimal point, not a "
              f"comma: 0.5); fix line {line} or delete that row"))


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _missing_column(path, text, header_line, name, heads, delimiter):
    shown = ", ".join(f"'{shorten(h)}'" for h in heads[:12]) + (" ..." if len(heads) > 12 else "")
    hint = did_you_mean(name, [h for h in heads if h])
    if hint is None and len(heads) == 1 and ("\t" in heads[0] or ";" in heads[0]):
        sep = "tabs" if "\t" in heads[0] else "semicolons"
        hint = (f"the header looks separated by {sep}, but only commas separate CSV columns"
                + ("; name the file .tsv" if sep == "tabs" else "; save it with commas"))
    return UsageError(f"{path} has no column '{shorten(name)}' (the model declares `data "
                      f"{shorten(name)}`)", file=path, line=header_line, column=1,
                      source=_line(text, header_line),
                      notes=[f"its columns are: {shown}"],
                      hint=hint or f"add a column named {shorten(name)}, or rename the data "
                                   f"column in the model")


def _ragged(path, text, line, got, width, header_line):
    return UsageError(f"{path}: line {line} has {got} cell{'s' if got != 1 else ''}, but the "
                      f"header has {width}", file=path, line=line, column=1,
                      source=_line(text, line),
                      notes=[f"the header is line {header_line}"],
                      hint="give every row one cell per header column (an empty cell still "
                           "needs its comma); a comma inside a value needs quotes: \"1,5\"")


def _csv_error(path, text, line, e):
    return UsageError(f"{path}: line {line} cannot be read as CSV ({e})", file=path, line=line,
                      column=1, source=_line(text, line),
                      hint="check the quotes on this line: a quoted value ends with a quote")


def bind(model, path=None, arrays=None) -> DataSet:
    """The data set of ``model``: its inline columns, replaced by the columns of
    the file at ``path`` or of ``arrays`` (column name -> sequence of numbers).

    Raises :class:`UsageError` when the model declares no data but some is
    given, a declared column has no values, ``arrays`` names a column the model
    does not declare, or the columns differ in length.
    """
    np = _np()
    declared = model.flat.graph.get("data") or {}
    if not declared:
        if path is not None or arrays:
            what = f"--data {path}" if path is not None else "data"
            raise UsageError(f"{what}: the model {model.name} declares no data columns",
                             hint="declare the columns it uses, e.g. `data x, y`, or drop --data")
        raise UsageError(f"the model {model.name} declares no data columns")
    columns = {}
    sources = {}
    for name, values in declared.items():
        if values is not None:
            columns[name] = np.array(values, dtype=float)
            sources[name] = "inline in the model"
    lines = None
    file = None
    if path is not None:
        # the file's columns replace inline ones; an inline column need not be there
        got = read_csv(path, [n for n in declared if declared[n] is None],
                       optional=[n for n in declared if declared[n] is not None])
        columns.update(got.columns)
        sources.update(got.sources)
        lines, file = got.lines, got.file
    if arrays:
        for name, values in arrays.items():
            if name not in declared:
                raise UsageError(f"'{shorten(name)}' is not a data column of {model.name}",
                                 hint=did_you_mean(name, declared) or
                                 "its data columns are: " + ", ".join(declared))
            a = np.array(values, dtype=float).reshape(-1)
            if not np.isfinite(a).all():
                i = int(np.flatnonzero(~np.isfinite(a))[0])
                raise UsageError(f"the data column '{shorten(name)}' has {a[i]} at sample {i + 1}",
                                 hint="every value must be a finite number")
            columns[name] = a
            sources[name] = "from the caller"
    missing = [n for n in declared if n not in columns]
    if missing:
        names = ", ".join(missing)
        raise UsageError(f"the data column{'s' if len(missing) > 1 else ''} {names} of "
                         f"{model.name} {'have' if len(missing) > 1 else 'has'} no values",
                         hint=f"give --data FILE.csv with a column named {missing[0]} (a header "
                              f"row names the columns), or values in the model: "
                              f"`data {missing[0]} = [0, 1, 2]`")
    sizes = {n: len(c) for n, c in columns.items()}
    first = next(iter(declared))
    for name, size in sizes.items():
        if size != sizes[first]:
            raise UsageError(f"the data column '{shorten(name)}' has {size} values "
                             f"({sources[name]}), but '{shorten(first)}' has {sizes[first]} "
                             f"({sources[first]})",
                             hint="every data column has one value per sample")
    if sizes[first] == 0:
        raise UsageError(f"the data column '{shorten(first)}' has no values",
                         hint="give at least one sample")
    by: dict[str, list[str]] = {}
    for n in declared:
        by.setdefault(sources[n], []).append(n)
    origin = (next(iter(by)) if len(by) == 1
              else ", ".join(f"{', '.join(ns)} {s}" for s, ns in by.items()))
    if lines is not None and any(sources[n] != file for n in declared):
        lines = None
    return DataSet({n: columns[n] for n in declared}, sizes[first], lines=lines, origin=origin,
                   file=file, sources=sources)
