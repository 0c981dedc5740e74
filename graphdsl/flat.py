"""The model's graph as parallel flat lists: what loading builds and the engine reads.

A networkx ``MultiDiGraph`` costs about a kilobyte per node and takes a few
microseconds per node and edge to build. Loading therefore builds this compact
form instead (a few hundred bytes per node, no networkx import), and
:attr:`graphdsl.Model.graph` turns it into the documented networkx DAG only
when someone asks for it (:meth:`FlatGraph.to_graph`).

Node ``k`` of a :class:`FlatGraph` has ``ids[k]`` (its networkx node id),
``kind[k]`` ("param", "const", "op"), ``op[k]`` (registry name or None),
``args[k]`` (operand *positions*, in order), ``value[k]`` (leaves), ``name[k]``
(user name or None), ``stmt[k]``, ``line[k]``, ``column[k]``; ``created[k]`` is
its creation index (the networkx ``index`` attribute). After :meth:`sort` the
lists are in the topological order the engine uses (operands before users,
ties broken by creation order), so ``pos[id]`` is also the engine's index.

>>> from graphdsl.parser import parse
>>> from graphdsl.build import build_flat
>>> fg = build_flat(parse("param w = 3\\nz = w * w"))
>>> fg.ids, fg.args[fg.pos["z"]]
(['w', 'z'], (0, 0))
"""

from __future__ import annotations

import heapq


class FlatGraph:
    """Parallel lists, one entry per node (see the module doc)."""

    __slots__ = ("ids", "kind", "op", "args", "value", "name", "stmt", "line", "column",
                 "created", "pos", "graph", "_nx")

    def __init__(self):
        self.ids: list[str] = []
        self.kind: list[str] = []
        self.op: list = []
        self.args: list[tuple] = []
        self.value: list = []
        self.name: list = []
        self.stmt: list[str] = []
        self.line: list = []
        self.column: list = []
        #: creation index of each node; None while it equals the position
        self.created: list[int] | None = None
        self.pos: dict[str, int] = {}
        #: output, target, params, definitions, file, source (as on the networkx graph)
        self.graph: dict = {}
        self._nx = None

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, node_id, kind, op=None, args=(), value=None, name=None, stmt=None,
            line=None, column=None) -> int:
        """Append a node; ``args`` may hold operand ids until :meth:`resolve`."""
        k = len(self.ids)
        self.pos[node_id] = k
        self.ids.append(node_id)
        self.kind.append(kind)
        self.op.append(op)
        self.args.append(args)
        self.value.append(value)
        self.name.append(name)
        self.stmt.append(stmt)
        self.line.append(line)
        self.column.append(column)
        return k

    def resolve(self) -> None:
        """Turn operand ids into operand positions (every id must exist)."""
        pos = self.pos
        args = self.args
        for k, a in enumerate(args):
            if a:
                args[k] = tuple([pos[x] for x in a])

    # -- order ------------------------------------------------------------------
    def topological_order(self):
        """Positions in topological order (ties by creation order), or None on a cycle.

        Kahn's algorithm with a heap: iterative, O(n log n) at worst and O(n)
        when the statements already come in dependency order.
        """
        n = len(self.ids)
        args = self.args
        indeg = [0] * n
        users: list = [None] * n
        for k in range(n):
            a = args[k]
            if a:
                indeg[k] = len(a)
                for j in a:
                    u = users[j]
                    if u is None:
                        users[j] = [k]
                    else:
                        u.append(k)
        order = []
        append = order.append
        # Fast path: consume in creation order while every operand is ready.
        ready = [k for k in range(n) if indeg[k] == 0]
        heapq.heapify(ready)
        pop, push = heapq.heappop, heapq.heappush
        while ready:
            k = pop(ready)
            append(k)
            u = users[k]
            if u is not None:
                for v in u:
                    indeg[v] -= 1
                    if indeg[v] == 0:
                        push(ready, v)
        if len(order) != n:
            return None
        return order

    def remaining_after_sort(self) -> list[int]:
        """Positions Kahn's algorithm cannot order: the cycles and what depends on them."""
        n = len(self.ids)
        args = self.args
        indeg = [len(a) for a in args]
        users: list[list[int]] = [[] for _ in range(n)]
        for k in range(n):
            for j in args[k]:
                users[j].append(k)
        stack = [k for k in range(n) if indeg[k] == 0]
        done = [False] * n
        while stack:
            k = stack.pop()
            done[k] = True
            for v in users[k]:
                indeg[v] -= 1
                if indeg[v] == 0:
                    stack.append(v)
        return [k for k in range(n) if not done[k]]

    def sort(self, order) -> None:
        """Reorder every list to ``order`` (a permutation of positions)."""
        n = len(order)
        if all(k == i for i, k in enumerate(order)):
            return
        new_pos = [0] * n
        for i, k in enumerate(order):
            new_pos[k] = i
        created = self.created
        self.created = [k if created is None else created[k] for k in order]
        for attr in ("ids", "kind", "op", "value", "name", "stmt", "line", "column"):
            old = getattr(self, attr)
            setattr(self, attr, [old[k] for k in order])
        old = self.args
        self.args = [tuple([new_pos[j] for j in old[k]]) if old[k] else () for k in order]
        pos = self.pos
        for i, node_id in enumerate(self.ids):
            pos[node_id] = i

    # -- networkx ---------------------------------------------------------------
    def to_graph(self):
        """The documented networkx ``MultiDiGraph`` (built once, then cached).

        Node attributes: kind, op, args (operand ids), value, name, stmt, line,
        column, index; edges operand -> user with key and ``arg`` = operand
        position. See :mod:`graphdsl.build`.
        """
        if self._nx is not None:
            return self._nx
        import networkx as nx

        g = nx.MultiDiGraph()
        ids = self.ids
        created = self.created
        n = len(ids)
        # networkx iterates nodes in insertion order: insert in creation order,
        # as the builder always has.
        by_creation = range(n) if created is None else sorted(range(n), key=created.__getitem__)
        for k in by_creation:
            kind = self.kind[k]
            attrs = {"kind": kind}
            if kind == "op":
                attrs["op"] = self.op[k]
                attrs["args"] = tuple(ids[j] for j in self.args[k])
            else:
                attrs["value"] = self.value[k]
            attrs.update(name=self.name[k], stmt=self.stmt[k], line=self.line[k],
                         column=self.column[k], index=k if created is None else created[k])
            g.add_node(ids[k], **attrs)
        for k in by_creation:
            a = self.args[k]
            if a:
                v = ids[k]
                for i, j in enumerate(a):
                    g.add_edge(ids[j], v, key=i, arg=i)
        g.graph.update(self.graph)
        self._nx = g
        return g

    @classmethod
    def from_graph(cls, g) -> "FlatGraph":
        """The flat form of a networkx graph made by :func:`graphdsl.build.build_graph`
        (or one built by hand with the same attributes), sorted topologically.

        Raises ValueError when the graph has a cycle.
        """
        fg = cls()
        nodes = sorted(g.nodes(data=True), key=lambda nd: nd[1].get("index", 0))
        for node_id, d in nodes:
            fg.add(node_id, d["kind"], op=d.get("op"), args=tuple(d.get("args") or ()),
                   value=d.get("value"), name=d.get("name"), stmt=d.get("stmt"),
                   line=d.get("line"), column=d.get("column"))
        fg.created = [d.get("index", k) for k, (_n, d) in enumerate(nodes)]
        fg.resolve()
        order = fg.topological_order()
        if order is None:
            raise ValueError("the graph has a cycle")
        fg.sort(order)
        fg.graph.update(g.graph)
        fg._nx = g
        return fg
