"""The Python API's model: a parsed, built and compiled ``.bp`` file.

>>> import graphdsl
>>> m = graphdsl.loads("param w = 3\\nparam b = 4\\nz = x*y\\nx = 2*w + 3*b\\ny = 2*b + 1")
>>> m.forward()
{'w': 3.0, 'b': 4.0, 'x': 18.0, 'y': 9.0, 'z': 162.0}
>>> m.gradients()["b"]
63.0
"""

from __future__ import annotations

import os
from functools import cached_property

from .errors import ModelError, ModelWarning, UsageError

#: the largest model file graphdsl reads (a 10^6-statement model is about 25 MB)
MAX_MODEL_BYTES = 256 * 2**20


class Model:
    """A model: its graph (networkx), its output, its params and their current values."""

    def __init__(self, graph, registry, name: str = "<string>"):
        from .flat import FlatGraph

        # Loading hands over the compact FlatGraph; the networkx DAG is made
        # from it only when ``.graph`` is asked for (it costs ~1 KB per node).
        if isinstance(graph, FlatGraph):
            self.flat, self._graph = graph, None
        else:
            self.flat, self._graph = FlatGraph.from_graph(graph), graph
        self.registry = registry
        self.name = name
        #: what loading found allowed but suspicious (:class:`ModelWarning`), for
        #: the command line to print on stderr
        self.warnings: list[ModelWarning] = []
        info = self.flat.graph
        self.output: str = info["output"]
        self.target: float | None = info["target"]
        self.params: list[str] = list(info["params"])
        pos, value = self.flat.pos, self.flat.value
        self.param_values: dict[str, float] = {p: float(value[pos[p]]) for p in self.params}
        #: (the params' items, the values) of the last forward pass (see _values)
        self._last_pass = None
        #: the declared data columns (``data x, y``), in order; empty for a model without data
        self.data_names: list[str] = list(info.get("data") or {})
        self._data = None

    @property
    def graph(self):
        """The model as a networkx ``MultiDiGraph`` (see :mod:`graphdsl.build`), made on first use."""
        if self._graph is None:
            self._graph = self.flat.to_graph()
        return self._graph

    @cached_property
    def compiled(self):
        """The graph compiled once into flat lists (see :mod:`graphdsl.engine`)."""
        from .engine import compile_graph

        return compile_graph(self.flat, self.registry)

    @cached_property
    def samples(self):
        """The data model compiled for evaluation over samples (see :mod:`graphdsl.samples`)."""
        from .samples import SamplePlan

        self._no_data_needed_check()
        return SamplePlan(self.compiled)

    def _no_data_needed_check(self):
        if not self.data_names:
            raise UsageError(f"{self.name} has no data columns: evaluate it with forward()")

    # -- data ------------------------------------------------------------------
    @property
    def data(self):
        """The data set (a :class:`~graphdsl.data.DataSet`): the columns given with
        :meth:`set_data` or ``load(..., data=...)``, else the model's inline ones.
        None for a model without data. Raises UsageError when a declared column
        has no values."""
        if not self.data_names:
            return None
        if self._data is None:
            from .data import bind

            self._data = bind(self)
        return self._data

    def set_data(self, source=None, /, **columns) -> "Model":
        """Give the data columns their values: a CSV file's path, a mapping of
        column name -> array, or the columns as keywords (``set_data(x=xs, y=ys)``).
        Columns not given keep the model's inline values.

        Raises UsageError for a file that cannot be read, a column the model
        does not declare, a declared column with no values, or columns of
        different lengths.

        >>> import graphdsl
        >>> m = graphdsl.loads("data x, y\\nparam w = 1\\nloss = mean((w*x - y)^2)")
        >>> m.set_data(x=[1, 2], y=[2, 4]).forward()["loss"]
        2.5
        """
        from .data import bind

        path = None
        if source is not None:
            if isinstance(source, (str, os.PathLike)):
                path = source
            else:
                columns = {**dict(source), **columns}
        self._data = bind(self, path, columns or None)
        return self

    @property
    def source(self) -> str | None:
        return self.flat.graph.get("source")

    @property
    def names(self) -> list[str]:
        """Every named node, params first, in topological order."""
        return list(self.compiled.named)

    # -- evaluation ------------------------------------------------------------
    def _values(self):
        """Every node's value at the current params, in the engine's order
        (see :meth:`values_at`)."""
        return self.values_at(self._overrides())

    def values_at(self, overrides: dict):
        """Every node's value with the params at ``overrides`` (every param
        named), in the engine's order.

        A forward pass runs only when a value changed since the last one:
        ``forward()`` then ``gradients()`` evaluate the graph once, and so do
        the explanations of one iteration in reverse and forward mode. The params
        are compared by identity with those of the last pass (a float is
        immutable, and the snapshot keeps it alive, so ``is`` never confuses
        two values, not even 0.0 and -0.0), and :meth:`set_value` forgets the
        pass, which also covers named constants. Raises what
        :meth:`Compiled.forward <graphdsl.engine.Compiled.forward>` raises.
        """
        snapshot = tuple(overrides.items())
        last = self._last_pass
        if last is not None and len(last[0]) == len(snapshot) and all(
                a[0] == b[0] and a[1] is b[1] for a, b in zip(last[0], snapshot)):
            return last[1]
        vals = self.compiled.forward(overrides)
        self._last_pass = (snapshot, vals)
        return vals

    def _overrides(self):
        return self.param_values

    def forward(self) -> dict[str, float]:
        """The value of every named node. Raises NumericError outside an op's domain.

        For a data model a per-sample node's value is a numpy array, one entry
        per sample; the other nodes are single numbers."""
        c = self.compiled
        if self.data_names:
            r = self.samples.evaluate(self.param_values, self.data, gradients=False,
                                      per_sample=True)
            both = {**r.values, **r.per_sample}
            return {n: both[n] for n in c.named if n in both}
        return c.by_name(self._values())

    def gradients(self, wrt: str | None = None) -> dict[str, float]:
        """∂output/∂node for every named node (or ∂wrt/∂node when ``wrt`` is given).

        For a data model: every single-number node, each gradient summed over
        the samples (per-sample nodes are left out; ``wrt`` is not available)."""
        c = self.compiled
        if self.data_names:
            if wrt is not None:
                raise UsageError("gradients(wrt=...) is not available for a data model",
                                 hint="gradients() gives ∂output/∂node, summed over the samples")
            return self.samples.evaluate(self.param_values, self.data).gradients
        vals = self._values()
        if wrt is not None and wrt not in c.index:
            raise UsageError(f"'{wrt}' is not a node of the model")
        adj = c.backward(vals, None if wrt is None else c.index[wrt])
        return c.by_name(adj)

    def tangents(self, wrt: str) -> dict[str, float]:
        """∂node/∂wrt for every named node: forward mode, one pass from ``wrt``
        (a param or a named constant) towards the output. ``tangents(wrt=p)[output]``
        equals ``gradients()[p]``, which reverse mode gets for every p at once.

        Raises UsageError when ``wrt`` is not in the model or is computed, or
        for a data model.

        >>> import graphdsl
        >>> graphdsl.loads("param b = 4\\nx = 3*b\\ny = 2*b + 1\\nz = x*y").tangents(wrt="b")
        {'b': 1.0, 'x': 3.0, 'y': 2.0, 'z': 51.0}
        """
        self.refuse_data("tangents (forward mode)")
        self.check_seed(wrt)
        c = self.compiled
        tan = c.tangents(self._values(), c.index[wrt])
        return {n: tan[c.index[n]] for n in c.named}

    def check_seed(self, wrt: str, option: str = "--wrt") -> None:
        """Raise UsageError unless forward mode can start from ``wrt``: a param
        or a named constant (``option`` is how the message names it)."""
        fg = self.flat
        k = fg.pos.get(wrt)
        if k is None or fg.name[k] is None:
            from .text import did_you_mean, shorten

            hint = did_you_mean(wrt, self.params)
            listing = ("the params are: " + ", ".join(self.params)) if self.params else \
                "the model has no params"
            raise UsageError(f"{option} {shorten(wrt)}: the model has no such name",
                             hint=(hint + " " if hint else "") + listing)
        if fg.kind[k] == "op":
            raise UsageError(f"{option} {wrt}: '{wrt}' is computed, not a param (line {fg.line[k]})",
                             hint="forward mode starts from a param: "
                                  + (", ".join(self.params) if self.params else "declare one"))

    def local_partials(self) -> dict[tuple[str, str], float]:
        """The statement view's edge labels: (parent, child) -> ∂child/∂parent."""
        self.refuse_data("local partials")
        return self.compiled.local_partials(self._values())

    def refuse_data(self, what: str) -> None:
        """Raise UsageError when this is a data model: ``what`` works on models
        whose every node is one number."""
        if self.data_names:
            names = ", ".join(self.data_names)
            raise UsageError(f"{what} is not available for a data model yet: {self.name} has "
                             f"one value per sample for the data column"
                             f"{'s' if len(self.data_names) > 1 else ''} {names}",
                             hint="`graphdsl run` evaluates its loss and gradients, `graphdsl "
                                  "fit` trains it, and `graphdsl render --view structure` "
                                  "draws its graph")

    def batch_forward(self, values=None) -> dict:
        """Every named node's value for each sample of ``values`` (param -> array);
        numpy arrays out. See :func:`graphdsl.batch.evaluate`."""
        from .batch import evaluate

        self.refuse_data("batch evaluation")
        return evaluate(self, values, gradients=False).values

    def batch_gradients(self, values=None, wrt: str | None = None) -> dict:
        """∂output/∂node (or ∂wrt/∂node) of every named node for each sample of
        ``values`` (param -> array). See :func:`graphdsl.batch.evaluate`."""
        from .batch import evaluate

        self.refuse_data("batch evaluation")
        return evaluate(self, values, wrt=wrt).gradients

    def set(self, **values: float) -> "Model":
        """Give params (or named constants) new values. Raises UsageError for
        a name that is neither."""
        for name, v in values.items():
            self.set_value(name, v)
        return self

    def set_value(self, name: str, value: float) -> None:
        fg = self.flat
        k = fg.pos.get(name)
        if k is None or fg.name[k] is None:
            from .text import did_you_mean, shorten

            settable = [n for n in fg.graph.get("definitions", {})
                        if fg.kind[fg.pos[n]] in ("param", "const")]
            hint = did_you_mean(name, settable)
            listing = ("it can set: " + ", ".join(shorten(n) for n in settable[:10])
                       + (" ..." if len(settable) > 10 else "")) if settable else \
                "the model has no param to set"
            raise UsageError(f"--set {shorten(name)}: the model has no such name",
                             hint=(hint + " " if hint else "") + listing)
        kind = fg.kind[k]
        self._last_pass = None
        if kind == "data":
            raise UsageError(f"--set {name}: '{name}' is a data column, with one value per sample",
                             hint="its values come from --data FILE.csv (set_data(...) in Python)")
        if kind == "param":
            self.param_values[name] = float(value)
        elif kind == "const":
            # a named constant: change it in the compiled form only
            self.compiled.init[self.compiled.index[name]] = float(value)
        else:
            line = fg.line[k]
            raise UsageError(f"--set {name}: '{name}' is computed (line {line}), not a param",
                             hint="only params (and named constants) can be set; to start from "
                                  "another value, set the params it is computed from")

    def check_params(self, params=None) -> list[str]:
        """The params a run adjusts: all of them, or the ones named (validated)."""
        if params is None:
            if not self.params:
                g = self.graph
                consts = [n for n in g.graph.get("definitions", {})
                          if g.nodes[n]["kind"] == "const"]
                hint = "declare one with `param NAME = NUMBER`"
                if consts:
                    c = consts[0]
                    hint = (f"`{c} = {g.nodes[c]['value']:g}` is a constant; write "
                            f"`param {c} = {g.nodes[c]['value']:g}` to let the run adjust it")
                raise UsageError("the model has no param to adjust", hint=hint)
            return list(self.params)
        chosen = []
        for p in params:
            if p not in self.param_values:
                from .text import did_you_mean

                what = self.not_a_param(p)
                close = did_you_mean(p, self.params)
                listing = ("the params are: " + ", ".join(self.params)) if self.params else \
                    "the model has no params"
                raise UsageError(f"--params: '{p}' {what}",
                                 hint=(close + " " if close else "") + listing)
            if p not in chosen:
                chosen.append(p)
        if not chosen:
            raise UsageError("--params names no param")
        return chosen

    def not_a_param(self, name: str) -> str:
        """Why ``name`` is not a param, as the end of a message ("is computed, not a param").

        >>> import graphdsl
        >>> m = graphdsl.loads("param w = 3\\nc = 2\\nz = c*w")
        >>> m.not_a_param("z"), m.not_a_param("c"), m.not_a_param("q")
        ('is computed, not a param', 'is a constant, not a param', 'is not in the model')
        """
        fg = self.flat
        k = fg.pos.get(name)
        if k is None:
            return "is not in the model"
        if fg.kind[k] == "op":
            return "is computed, not a param"
        if fg.kind[k] == "data":
            return "is a data column, not a param"
        return "is a constant, not a param" if fg.name[k] is not None else "is not in the model"

    # -- pictures --------------------------------------------------------------
    def render(self, view: str = "structure", **options):
        """The model drawn as a ``graphviz.Digraph`` (it shows itself in Jupyter).

        ``view``: structure, forward, backward or tangent (forward mode's
        ∂node/∂wrt, with ``wrt`` a param); options: ops, wrt, blank,
        values, gradients, focus, depth, title, force, and for a data model
        ``sample`` (1-based: the numbers inside the plate are that sample's;
        see :func:`graphdsl.render.build`). Raises UsageError for an unknown
        view or node, a sample the data does not have, the tangent view of a
        data model, or a picture too big to lay out quickly.

        >>> import graphdsl
        >>> g = graphdsl.loads("param b = 4\\ny = 2*b + 1").render("backward")
        >>> "∂y/∂b = 2" in g.source
        True
        """
        from .render import build

        return build(self, view, **options)

    # -- solving ---------------------------------------------------------------
    def solve(self, target=None, **options):
        """Run towards ``target`` (default: the model's own ``target``); returns a Trace.

        Options: method, params, tol, max_iter, lr, minimize, stop_below
        (see :func:`graphdsl.solve.solve`).
        """
        from .solve import solve

        if target is None and not options.get("minimize"):
            target = self.target
        if self.data_names:
            from .fit import evaluate_once

            return evaluate_once(self, target, **options)
        return solve(self, target, **options)

    def fit(self, **options):
        """Train the params on the data (see :func:`graphdsl.fit.fit`); returns a
        :class:`~graphdsl.trace.FitTrace`, plain data (``to_json()`` is
        ``fit --json``).

        Options: epochs, batch_size, lr, optimizer ("sgd", "momentum",
        "adam"), seed, tol, on_epoch (called with each epoch's row)."""
        from .fit import fit

        return fit(self, **options)

    def _repr_html_(self) -> str:
        """Jupyter's view: the backward picture and a table of values and
        gradients (see :func:`graphdsl.notebook.model_html`)."""
        from .notebook import model_html

        return model_html(self)

    def __repr__(self) -> str:
        return (f"<Model {self.name}: {len(self.flat)} nodes, params "
                f"{', '.join(self.params) or '-'}, output {self.output}>")


def loads(text: str, name: str = "<string>", *, registry=None, plugins=(), data=None) -> Model:
    """Parse and build a model from text. ``data``: the data columns, as for
    :meth:`Model.set_data` (a CSV file's path or a mapping of name -> array).

    Raises ModelSyntaxError or ModelError (with line, column and a caret).
    """
    from .build import build_flat
    from .ops import default_registry
    from .parser import parse, paused_gc, source_text

    registry = registry if registry is not None else default_registry(plugins)
    text = source_text(text)
    # one pause over both: a collection between them would walk every statement
    with paused_gc():
        statements = parse(text, name)
        flat = build_flat(statements, registry=registry, file=name, source=text)
        del statements  # garbage now: freed (by reference counts) before compiling
    model = Model(flat, registry, name)
    if not text.isascii():
        model.warnings = lookalike_warnings(flat.graph["definitions"], name, text)
    if data is not None:
        model.set_data(data)
    return model


def lookalike_warnings(definitions, file, source) -> list[ModelWarning]:
    """A warning for each name that looks exactly like one defined before it
    (``а`` in Cyrillic and ``a`` in Latin), at its definition.

    >>> [w.message for w in lookalike_warnings({"a": (1, 7), "а": (2, 1)}, "m.bp", None)]
    ["'а' looks like 'a' but is another name"]
    """
    from .names import difference, lookalike_groups
    from .text import shorten

    found = []
    for group in lookalike_groups(definitions):
        first = group[0]
        for other in group[1:]:
            line, column = definitions[other]
            found.append(ModelWarning(
                f"'{shorten(other)}' looks like '{shorten(first)}' but is another name",
                file=file, line=line, column=column, source=source, width=len(other),
                notes=[difference(other, first),
                       f"'{shorten(first)}' is defined at line {definitions[first][0]}"],
                hint="to mean one quantity, type its name the same way each time; "
                     "else rename one of them so the two look different"))
    return found


#: byte order marks of the encodings a model may be saved in by mistake, longest first
def load(path, *, registry=None, plugins=(), data=None) -> Model:
    """Read a ``.bp`` file and build its model; ``data`` as for :func:`loads`.

    Raises UsageError for a path that is missing, a directory or too large,
    ModelError for a file that is not UTF-8 text (binary, UTF-16, invalid
    bytes; a UTF-8 byte order mark is fine), and the errors of :func:`loads`
    for a wrong model.
    """
    path = os.fspath(path)
    from .fileio import other_encoding, read_input

    raw = read_input(path, MAX_MODEL_BYTES, kind="model file",
                     example="a .bp file, e.g. models/linear.bp")
    if len(raw) > MAX_MODEL_BYTES:
        raise UsageError(f"{path} is larger than {MAX_MODEL_BYTES // 2**20} MB: too large for a model",
                         hint="is this the right file? a model of 10^6 statements is about 25 MB")
    encoding = other_encoding(raw)
    if encoding is not None:
        raise ModelError(f"{path} is {encoding}, not UTF-8", file=path,
                         hint="save the model as UTF-8 (most editors: \"Save with encoding\")")
    if b"\0" in raw[:8192]:
        raise ModelError(f"{path} is a binary file, not a .bp model (it contains NUL bytes)",
                         file=path, line=raw[:raw.index(b"\0")].count(b"\n") + 1,
                         column=raw.index(b"\0") - (raw.rfind(b"\n", 0, raw.index(b"\0")) + 1) + 1,
                         hint="give a text file of statements such as `z = 2*w`")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        line_end = raw.find(b"\n", e.start)
        line_bytes = raw[line_start:line_end if line_end >= 0 else len(raw)]
        shown = line_bytes.decode("utf-8", errors="replace")
        # the column in characters, as an editor counts them
        col = len(raw[line_start:e.start].decode("utf-8", errors="replace")) + 1
        raise ModelError(f"the file is not UTF-8 text (byte 0x{raw[e.start]:02x} at line {line})",
                         file=path, line=line, column=col, source=shown,
                         hint="save the model as UTF-8 (most editors: \"Save with encoding\")") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return loads(text, name=path, registry=registry, plugins=plugins, data=data)
