"""Statements -> a networkx DAG: names resolved, cycles refused, positions kept.

The graph is a :class:`networkx.MultiDiGraph` (a repeated operand, as in
``x*x``, is two edges). Node attributes are plain data:

- ``kind``: ``"param"``, ``"const"`` or ``"op"``
- ``op``: the op's registry name (ops only)
- ``args``: the operand node ids, in order (ops only)
- ``value``: the initial value (params and constants only)
- ``name``: the user's name for a named node, else None
- ``stmt``: the named node whose statement this node belongs to
- ``line``, ``column``: where it came from in the source
- ``index``: creation order, for stable ordering everywhere

Named nodes use their name as node id; hidden sub-expression nodes use
``"%1"``, ``"%2"``, ... (``%`` cannot start a name). Each edge goes from an
operand to the op that uses it and carries ``arg``, the operand position.
Graph attributes: ``output``, ``target``, ``params`` (source order),
``definitions`` (name -> (line, column) of its statement), ``file``, ``source``.

>>> from graphdsl.parser import parse
>>> g = build_graph(parse("param w = 3\\nz = w * w"))
>>> g.nodes["z"]["op"], g.nodes["z"]["args"], g.number_of_edges("w", "z")
('mul', ('w', 'w'), 2)
"""

from __future__ import annotations

import re

from .errors import ModelError
from .flat import FlatGraph
from .names import difference, lookalikes
from .parser import paused_gc
from .ops import default_registry
from .syntax import Call
from .text import did_you_mean, shorten


#: names a learner may try for a built-in op
OP_ALIASES = {"ln": "log", "log_e": "log", "power": "pow", "sqr": "square", "sigma": "sigmoid",
              "logistic": "sigmoid", "ReLU": "relu", "fabs": "abs", "id": "identity"}
#: constants a learner may expect to exist, and what to write instead
CONSTANT_HINTS = {"e": "there is no built-in e: write exp(x) for e^x, or define `e = 2.718281828459045`",
                  "pi": "there is no built-in pi: define `pi = 3.141592653589793`",
                  "π": "there is no built-in π: define `π = 3.141592653589793`"}


def _source_line(source: str | None, line: int) -> str | None:
    if source is None:
        return None
    lines = source.split("\n")
    if 1 <= line <= len(lines):
        text = lines[line - 1].strip()
        return text if len(text) <= 60 else text[:57] + "..."
    return None


def _stmt_where(st, source) -> str:
    """'line 3: y = x * 2' for a statement."""
    text = _source_line(source, st.line)
    return f"line {st.line}" + (f": {text}" if text else "")


def build_graph(statements, *, registry=None, file: str | None = None, source: str | None = None):
    """Build the model's DAG from parsed statements (see :mod:`graphdsl.parser`).

    Raises :class:`ModelError` for an empty model, a name defined twice, an
    undefined name, an unknown function or a wrong number of arguments, a
    cycle, or an output that is missing or ambiguous.
    """
    return build_flat(statements, registry=registry, file=file, source=source).to_graph()


def build_flat(statements, *, registry=None, file: str | None = None, source: str | None = None):
    """Like :func:`build_graph`, but returns the compact :class:`~graphdsl.flat.FlatGraph`
    (topologically sorted) that loading and the engine use; no networkx involved.

    The garbage collector is paused meanwhile (:func:`graphdsl.parser.paused_gc`):
    the build allocates millions of small containers that all stay alive.
    """
    with paused_gc():
        return _build_flat(statements, registry, file, source)


def _build_flat(statements, registry, file, source):
    registry = registry if registry is not None else default_registry()

    def err(message, line=None, column=None, width=1, hint=None, notes=()):
        return ModelError(message, file=file, line=line, column=column, source=source,
                          width=width, hint=hint, notes=notes)

    # 1. Definitions, once each; output and target at most once.
    defined: dict[str, tuple] = {}
    output_stmt = target_stmt = None
    for st in statements:
        kind = st.kind
        if kind in ("param", "assign", "data"):
            name = st.name
            if name in defined:
                first = defined[name]
                if "data" in (kind, first.kind):
                    raise _data_twice(err, name, first, st, source)
                notes = [f"first defined at {_stmt_where(first, source)}",
                         f"defined again at {_stmt_where(st, source)}"]
                spelt = (_spelling(source, first.line, first.column),
                         _spelling(source, st.line, st.column))
                if None not in spelt and spelt[0] != spelt[1]:
                    notes.append(f"'{shorten(spelt[0])}' and '{shorten(spelt[1])}' are one name: "
                                 "names are compared in Unicode's NFKC form, as Python "
                                 "compares identifiers")
                raise err(f"'{shorten(name)}' is defined twice", st.line, st.column, len(name),
                          hint="a name has one definition: rename one of them or delete one",
                          notes=notes)
            # a node may share a name with an op: calls and names never mix
            defined[name] = st
        elif kind == "output":
            if output_stmt is not None:
                raise err("the output is given twice", st.line, st.column, 6,
                          notes=[f"first `output` at line {output_stmt.line}"],
                          hint="keep one `output NAME` line")
            output_stmt = st
        elif kind == "target":
            if target_stmt is not None:
                raise err("the target is given twice", st.line, st.column, 6,
                          notes=[f"first `target` at line {target_stmt.line}"],
                          hint="keep one `target NUMBER` line")
            target_stmt = st
    if not defined:
        raise err("the model is empty: it defines nothing", 1, 1,
                  hint="write at least one statement, e.g. `param w = 3` and `z = 2*w`")

    g = FlatGraph()
    counter = 0
    params: list[str] = []
    columns: dict[str, tuple | None] = {}
    add_node = g.add
    arities: dict[str, int] = {}     # op name -> arity, asked of the registry once per op

    # 2. Nodes for every statement, expressions flattened without recursion.
    for st in statements:
        kind = st.kind
        if kind == "param":
            name = st.name
            add_node(name, kind="param", value=st.value, name=name, stmt=name, line=st.line,
                     column=st.column)
            params.append(name)
        elif kind == "data":
            name = st.name
            add_node(name, kind="data", name=name, stmt=name, line=st.line, column=st.column)
            columns[name] = st.values
        elif kind == "assign":
            name, expr = st.name, st.expr
            if expr.kind == "num":
                add_node(name, kind="const", value=expr.value, name=name, stmt=name,
                         line=st.line, column=st.column)
                continue
            if expr.kind == "name":
                expr = Call("identity", (expr,), expr.line, expr.column)
            # Iterative post-order: (expr, node id, expanded) triples; children first.
            # Once expanded, an op's args are its operands' node ids.
            stack = [(expr, name, False)]
            while stack:
                e, node_id, expanded = stack.pop()
                ekind = e.kind
                if ekind == "name":          # an undefined name, met in reading order
                    raise _undefined(err, e.name, e, defined, registry)
                if ekind == "num":
                    add_node(node_id, kind="const", value=e.value, name=None, stmt=name,
                             line=e.line, column=e.column)
                    continue
                op_name, args = e.op, e.args
                if not expanded:
                    arity = arities.get(op_name)
                    if arity is None:
                        if op_name not in registry:
                            raise _unknown_function(err, op_name, e, defined, registry)
                        arity = arities[op_name] = registry.get(op_name).arity
                    if len(args) != arity:
                        raise err(
                            f"{op_name}() takes {arity} argument{'s' if arity != 1 else ''}, "
                            f"got {len(args)}", e.line, e.column, len(op_name),
                            hint=f"call it as {op_name}(" + ", ".join("xyzuvw"[:arity]) + ")")
                    ids = []
                    children = []
                    for a in args:
                        if a.kind == "name":
                            ref = a.name
                            if ref not in defined:
                                # reported when reached, so that a mistake further
                                # left (an unknown function) is reported first
                                children.append((a, None, False))
                            ids.append(ref)
                        else:
                            counter += 1
                            cid = f"%{counter}"
                            ids.append(cid)
                            children.append((a, cid, False))
                    stack.append((Call(op_name, tuple(ids), e.line, e.column), node_id, True))
                    stack.extend(reversed(children))
                else:
                    add_node(node_id, kind="op", op=op_name, args=args,
                             name=name if node_id == name else None, stmt=name,
                             line=e.line, column=e.column)

    # 3. Operands as positions (the edges, operand order kept).
    g.resolve()

    # 4. Cycles, named by their named nodes with lines.
    order = g.topological_order()
    cycle = _find_cycle(g) if order is None else None
    if cycle:
        names = []
        for u, _v, *_ in cycle:
            st = g.stmt[g.pos[u]]
            if not names or names[-1] != st:
                names.append(st)
        if len(names) > 1 and names[0] == names[-1]:
            names.pop()
        # edges go operand -> user; read the cycle as "uses": x -> y means x uses y
        names.reverse()
        # start the ring at the statement written first, as a reader meets it
        k = min(range(len(names)), key=lambda i: (defined[names[i]].line,
                                                  defined[names[i]].column))
        names = names[k:] + names[:k]
        ring = names + [names[0]]
        first = defined[names[0]]
        # a ring of thousands of statements: show its ends, count the middle
        shown = names if len(names) <= 12 else names[:6] + names[-5:]
        notes = [_stmt_where(defined[n], source) for n in shown]
        if len(shown) < len(names):
            notes.insert(6, f"... {len(names) - len(shown)} more statements of the cycle ...")
        if len(names) == 1:
            n0 = shorten(names[0])
            raise err(f"'{n0}' is defined in terms of itself: {n0} -> {n0}",
                      first.line, first.column, len(names[0]), notes=notes,
                      hint=f"a model is a set of equations, not a program: `{n0} = {n0} + ...` "
                           f"cannot be computed; give the new value a new name "
                           f"(`{n0}2 = {n0} + 1`)")
        shown_ring = ring if len(ring) <= 13 else ring[:6] + ["..."] + ring[-6:]
        raise err(f"these {len(names)} statements depend on each other in a cycle: "
                  + " -> ".join(n if n == "..." else shorten(n) for n in shown_ring),
                  first.line, first.column, len(names[0]),
                  notes=notes,
                  hint="a model is a set of equations without loops; "
                       "break the cycle by giving one of them a value of its own")

    # 5. The output: given, or the one computed node nothing else uses.
    if output_stmt is not None:
        out = output_stmt.name
        if out not in defined:
            raise err(f"the output '{shorten(out)}' is not defined", output_stmt.line,
                      output_stmt.column, len(out), hint=did_you_mean(out, defined)
                      or "name a quantity the model defines: `output z`")
    else:
        used = set()
        for a in g.args:
            used.update(a)
        sinks = [n for n, st in defined.items()
                 if st.kind == "assign" and g.pos[n] not in used]
        if len(sinks) == 1:
            out = sinks[0]
        elif not sinks:
            if len(defined) == 1:
                out = next(iter(defined))
            else:
                st = next(iter(defined.values()))
                raise err("there is no output: nothing is computed from the params",
                          st.line, st.column, len(st.name),
                          hint="add a statement such as `z = 2*w` and `output z`")
        else:
            raise _several_sinks(err, sinks, defined, source)

    g.sort(order)
    g.graph.update(
        output=out,
        target=target_stmt.value if target_stmt is not None else None,
        params=params,
        definitions={n: (st.line, st.column) for n, st in defined.items()},
        file=file,
        source=source,
    )
    _check_samples(g, registry, err, columns, defined, output_stmt)
    if columns:
        g.graph["data"] = columns
    return g


def _check_samples(g, registry, err, columns, defined, output_stmt):
    """The per-sample rule (see :mod:`graphdsl.samples`): inline columns of one
    length, every reduction over something per-sample, a single-number output."""
    from .samples import per_sample_flags

    inline = [(n, v) for n, v in columns.items() if v is not None]
    for n, v in inline:
        if not v:
            line, col = defined[n].line, defined[n].column
            raise err(f"the data column '{shorten(n)}' has no values", line, col, len(n),
                      hint=f"give one value per sample, `data {shorten(n)} = [0, 1, 2]`, or "
                           f"leave out the brackets to take its values from --data FILE.csv")
    for n, v in inline[1:]:
        first, values = inline[0]
        if len(v) != len(values):
            line, col = defined[n].line, defined[n].column
            flines = defined[first].line
            raise err(f"the data column '{shorten(n)}' has {len(v)} value"
                      f"{'s' if len(v) != 1 else ''}, but '{shorten(first)}' has {len(values)}",
                      line, col, len(n),
                      notes=[f"'{shorten(first)}' is declared at line {flines}"],
                      hint="every data column has one value per sample: give them the same "
                           "number of values")
    # asked of the registry once per op, not once per node (a model has few ops)
    by_name = {op: registry.get(op) for op in set(g.op) if op is not None}
    reducing = {op for op, found in by_name.items() if found.reduces}
    if not columns and not reducing:
        return
    flags = per_sample_flags(g.kind, [by_name.get(op) for op in g.op], g.args)
    for k, op in enumerate(g.op):
        if op in reducing and not flags[g.args[k][0]]:
            hint = (f"{op} reduces over the samples, so its argument must depend on a data "
                    f"column; this one is one number for all of them: drop the {op}(...)")
            if not columns:
                hint = (f"{op} reduces over the samples of the data: declare them with "
                        f"`data x, y` (their values come from --data FILE.csv) and use them "
                        f"inside {op}(...)")
            raise err(f"{op}(...) here does not depend on any data column: it is the same "
                      f"for every sample", g.line[k], g.column[k], len(op), hint=hint)
    out = g.graph["output"]
    k = g.pos[out]
    if flags[k]:
        used = [g.ids[j] for j in _data_behind(g, k)]
        at = output_stmt if output_stmt is not None else defined[out]
        where = (at.line, at.column)
        o = shorten(out)
        raise err(f"the output '{o}' has one value per sample: it depends on the data "
                  f"column{'s' if len(used) > 1 else ''} " + ", ".join(f"'{shorten(u)}'" for u in used),
                  where[0], where[1], len(out),
                  hint=f"the output must be a single number: wrap it in mean(...) or sum(...), "
                       f"e.g. `loss = mean({o})` and `output loss`")


def _data_behind(g, k):
    """The data columns node k depends on, without recursion."""
    seen = {k}
    stack = [k]
    found = []
    while stack:
        j = stack.pop()
        if g.kind[j] == "data":
            found.append(j)
        for a in g.args[j]:
            if a not in seen:
                seen.add(a)
                stack.append(a)
    return sorted(found)


def _data_twice(err, name, first, st, source):
    """A data column that is also a param or computed (or declared twice)."""
    n = shorten(name)
    column, other = (first, st) if first.kind == "data" else (st, first)
    if other.kind == "data":
        hint = f"declare each data column once: delete one `data {n}`"
        what = f"the data column '{n}' is declared twice"
    elif other.kind == "param":
        what = f"'{n}' is a data column, so it cannot also be a param"
        hint = ("a name is either data (one value per sample, from the data) or a param "
                "(one number the fit adjusts): rename one of them")
    else:
        what = f"'{n}' is a data column, so it cannot also be computed"
        hint = (f"a data column takes its values from the data: give the computed "
                f"quantity another name, e.g. `{n}2 = ...`")
    return err(what, st.line, st.column, len(name),
               notes=[f"declared as data at {_stmt_where(column, source)}",
                      f"{'declared again' if other.kind == 'data' else 'defined'} at "
                      f"{_stmt_where(other, source)}"],
               hint=hint)


def _find_cycle(g):
    """One cycle, as a list of (operand id, user id) edges in the direction of
    the data, found in linear time among the nodes a topological sort could not
    order: each of those has an operand that is also unordered, so walking from
    operand to operand must come back to a node already seen."""
    rest = g.remaining_after_sort()
    stuck = set(rest)
    seen: dict[int, int] = {}
    walk: list[int] = []
    k = rest[0]
    while k not in seen:
        seen[k] = len(walk)
        walk.append(k)
        k = next(j for j in g.args[k] if j in stuck)
    ring = walk[seen[k]:] + [k]          # each next one is an operand of the one before
    ring.reverse()                       # now in the direction of the data
    return [(g.ids[u], g.ids[v]) for u, v in zip(ring, ring[1:])]


def _unknown_function(err, op_name, e, defined, registry):
    line, col, width = e.line, e.column, len(op_name)
    name = shorten(op_name)
    if op_name in defined:
        return err(f"'{name}' is a quantity of the model, not a function", line, col, width,
                   hint=f"to multiply, write the '*': {name}*(...)")
    alias = OP_ALIASES.get(op_name) or OP_ALIASES.get(op_name.lower())
    if alias in registry:
        hint = f"did you mean '{alias}'?"
    else:
        hint = (_lookalike_hint(op_name, registry.names())
                or did_you_mean(op_name, registry.names()))
    return err(f"unknown function '{name}'", line, col, width,
               hint=(hint + " " if hint else "") + "`graphdsl ops` lists the ops there are",
               notes=registry.unavailable(op_name))


def _undefined(err, ref, a, defined, registry):
    line, col, width = a.line, a.column, len(ref)
    name = shorten(ref)
    if ref in registry:
        return err(f"'{name}' is a function, used here without its argument", line, col, width,
                   hint=f"call it with parentheses: {name}(x)")
    hint = _lookalike_hint(ref, defined) or did_you_mean(ref, defined)
    define = f"define it: `{name} = ...` or `param {name} = NUMBER`"
    powers = {"²": "2", "³": "3", "¹": "1", "⁰": "0", "⁴": "4"}
    if any(ch in powers for ch in ref):
        base = ref.rstrip("".join(powers))
        exp = "".join(powers.get(ch, "") for ch in ref[len(base):])
        if base and exp:
            return err(f"'{name}' is not defined", line, col, width,
                       hint=f"a superscript is part of a name; for a power write {base}^{exp}")
    if ref in CONSTANT_HINTS and not hint:
        define = CONSTANT_HINTS[ref]
    return err(f"'{name}' is not defined", line, col, width,
               hint=(hint + " Or " if hint else "") + define)


def _lookalike_hint(ref, candidates) -> str | None:
    """"did you mean 'a'? ..." when ``ref`` looks exactly like a candidate
    (a Cyrillic 'а' for a Latin 'a'), naming the characters that differ. Names
    that differ only in case are left to the plain did-you-mean ("W" for "w")."""
    found = [c for c in lookalikes(ref, candidates) if c.casefold() != ref.casefold()]
    if not found:
        return None
    return (f"did you mean '{shorten(found[0])}'? The two look alike but are different "
            f"names: {difference(ref, found[0])}.")


def _spelling(source, line, column) -> str | None:
    """The name as it is written at (line, column) of the source, before NFKC."""
    if source is None:
        return None
    lines = source.split("\n")
    if not 1 <= line <= len(lines):
        return None
    match = re.match(r"[^\W\d]\w*", lines[line - 1][column - 1:])
    return match.group() if match else None


def _several_sinks(err, sinks, defined, source):
    notes = [f"'{shorten(n)}' at {_stmt_where(defined[n], source)}" for n in sinks[:5]]
    if len(sinks) > 5:
        notes.append(f"... and {len(sinks) - 5} more")
    keywordish = [n for n in sinks if n in ("target", "output")]
    if keywordish:
        word = keywordish[0]
        hint = (f"`{word} = ...` defines a quantity named {word}; "
                + ("to give the run's target write `target NUMBER` (no '=')" if word == "target"
                   else "to pick the output write `output NAME` (no '=')"))
    else:
        hint = f"add `output {shorten(sinks[-1])}` (or whichever you mean) on its own line"
    first = defined[sinks[0]]
    return err(f"which is the output? {len(sinks)} results are used by nothing",
               first.line, first.column, len(sinks[0]), notes=notes, hint=hint)
