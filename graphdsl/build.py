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

import difflib

import networkx as nx

from .errors import ModelError
from .ops import default_registry


def _close(name: str, candidates, n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)


def _did_you_mean(name: str, candidates) -> str | None:
    close = _close(name, candidates)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def build_graph(statements, *, registry=None, file: str | None = None, source: str | None = None):
    """Build the model's DAG from parsed statements (see :mod:`graphdsl.parser`).

    Raises :class:`ModelError` for an empty model, a name defined twice, an
    undefined name, an unknown function or a wrong number of arguments, a
    cycle, or an output that is missing or ambiguous.
    """
    registry = registry if registry is not None else default_registry()

    def err(message, line=None, column=None, width=1, hint=None, notes=()):
        return ModelError(message, file=file, line=line, column=column, source=source,
                          width=width, hint=hint, notes=notes)

    # 1. Definitions, once each; output and target at most once.
    defined: dict[str, tuple] = {}
    output_stmt = target_stmt = None
    for st in statements:
        kind = st[0]
        if kind in ("param", "assign"):
            name, line, col = st[1], st[-2], st[-1]
            if name in defined:
                first = defined[name]
                raise err(f"'{name}' is defined twice", line, col, len(name),
                          hint=f"rename one of them or delete one",
                          notes=[f"first defined at line {first[-2]}, column {first[-1]}"])
            if name in registry and kind == "assign":
                pass  # a node may share a name with an op: calls and names never mix
            defined[name] = st
        elif kind == "output":
            if output_stmt is not None:
                raise err("the output is given twice", st[2], st[3], 6,
                          notes=[f"first `output` at line {output_stmt[2]}"],
                          hint="keep one `output NAME` line")
            output_stmt = st
        elif kind == "target":
            if target_stmt is not None:
                raise err("the target is given twice", st[2], st[3], 6,
                          notes=[f"first `target` at line {target_stmt[2]}"],
                          hint="keep one `target NUMBER` line")
            target_stmt = st
    if not defined:
        raise err("the model is empty: it defines nothing",
                  hint="write at least one statement, e.g. `param w = 3` and `z = 2*w`")

    g = nx.MultiDiGraph()
    counter = 0
    index = 0
    params: list[str] = []

    def add_node(node_id, **attrs):
        nonlocal index
        g.add_node(node_id, index=index, **attrs)
        index += 1

    # 2. Nodes for every statement, expressions flattened without recursion.
    for st in statements:
        kind = st[0]
        if kind == "param":
            _, name, value, line, col = st
            add_node(name, kind="param", value=value, name=name, stmt=name, line=line, column=col)
            params.append(name)
        elif kind == "assign":
            _, name, expr, line, col = st
            if expr[0] == "num":
                add_node(name, kind="const", value=expr[1], name=name, stmt=name,
                         line=line, column=col)
                continue
            if expr[0] == "name":
                expr = ("op", "identity", (expr,), expr[2], expr[3])
            # Iterative post-order: (expr, node id) pairs; children first.
            stack = [(expr, name, False)]
            while stack:
                e, node_id, expanded = stack.pop()
                if e[0] == "num":
                    add_node(node_id, kind="const", value=e[1], name=None, stmt=name,
                             line=e[2], column=e[3])
                    continue
                op_name, args = e[1], e[2]
                if not expanded:
                    if op_name not in registry:
                        hint = _did_you_mean(op_name, registry.names())
                        raise err(f"unknown function '{op_name}'", e[3], e[4], len(op_name),
                                  hint=(hint + " " if hint else "") +
                                  "`graphdsl ops` lists the ops there are",
                                  notes=registry.unavailable(op_name))
                    arity = registry.get(op_name).arity
                    if len(args) != arity:
                        raise err(
                            f"{op_name}() takes {arity} argument{'s' if arity != 1 else ''}, "
                            f"got {len(args)}", e[3], e[4], len(op_name),
                            hint=f"call it as {op_name}(" + ", ".join("xyzuvw"[:arity]) + ")")
                    ids = []
                    children = []
                    for a in args:
                        if a[0] == "name":
                            ref = a[1]
                            if ref not in defined:
                                hint = _did_you_mean(ref, defined)
                                raise err(f"'{ref}' is not defined", a[2], a[3], len(ref),
                                          hint=(hint + " Or d" if hint else "D") +
                                          f"efine it: `{ref} = ...` or `param {ref} = NUMBER`")
                            ids.append(ref)
                        else:
                            counter += 1
                            cid = f"%{counter}"
                            ids.append(cid)
                            children.append((a, cid, False))
                    stack.append((("op", op_name, tuple(ids), e[3], e[4]), node_id, True))
                    stack.extend(reversed(children))
                else:
                    add_node(node_id, kind="op", op=op_name, args=args,
                             name=name if node_id == name else None, stmt=name,
                             line=e[3], column=e[4])

    # 3. Edges, operand order kept as the edge key.
    for node_id, data in list(g.nodes(data=True)):
        if data["kind"] == "op":
            for i, a in enumerate(data["args"]):
                g.add_edge(a, node_id, key=i, arg=i)

    # 4. Cycles, named by their named nodes with lines.
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        names = []
        for u, _v, *_ in cycle:
            st = g.nodes[u]["stmt"]
            if not names or names[-1] != st:
                names.append(st)
        if len(names) > 1 and names[0] == names[-1]:
            names.pop()
        # edges go operand -> user; read the cycle as "uses": x -> y means x uses y
        names.reverse()
        # start the ring at the statement written first, as a reader meets it
        k = min(range(len(names)), key=lambda i: defined[names[i]][-2:])
        names = names[k:] + names[:k]
        ring = names + [names[0]]
        first = defined[names[0]]
        lines = ", ".join(f"{n} at line {defined[n][-2]}" for n in names)
        raise err("these statements depend on each other in a cycle: " + " -> ".join(ring),
                  first[-2], first[-1], len(names[0]),
                  notes=[lines],
                  hint="a model is a set of equations without loops; "
                       "break the cycle by giving one of them a value of its own")

    # 5. The output: given, or the one computed node nothing else uses.
    if output_stmt is not None:
        out = output_stmt[1]
        if out not in defined:
            raise err(f"the output '{out}' is not defined", output_stmt[2], output_stmt[3],
                      len(out), hint=_did_you_mean(out, defined))
    else:
        sinks = [n for n, st in defined.items()
                 if st[0] == "assign" and g.out_degree(n) == 0]
        if len(sinks) == 1:
            out = sinks[0]
        elif not sinks:
            if len(defined) == 1:
                out = next(iter(defined))
            else:
                raise err("there is no output: nothing is computed from the params",
                          hint="add a statement such as `z = 2*w` and `output z`")
        else:
            lines = ", ".join(f"{n} (line {defined[n][-2]})" for n in sinks)
            raise err(f"which is the output? {len(sinks)} results are used by nothing: {lines}",
                      hint=f"add `output {sinks[-1]}` (or whichever you mean)")

    g.graph.update(
        output=out,
        target=target_stmt[1] if target_stmt is not None else None,
        params=params,
        definitions={n: (st[-2], st[-1]) for n, st in defined.items()},
        file=file,
        source=source,
    )
    return g
