"""graphdsl's speed and memory at every size, side by side with reference engines.

    .venv/bin/python benchmarks/bench.py                 # sizes 10^2 .. 10^6 ops
    .venv/bin/python benchmarks/bench.py --sizes 100,1000 --repeat 3

Each size runs in a fresh child process (so one size's garbage does not weigh
on the next and the peak memory is that size's own) on a random scalar DAG:
each statement applies one of ``a*b``, ``(a + b)*0.5``, ``tanh(a - b)``,
``a - 0.5*b``, ``sigmoid(a)*b`` to recent results (about 1.8 ops per
statement). Times are medians of ``--repeat`` runs of CPU time
(``time.process_time``: on a shared machine the wall clock also counts the
time other processes held the core). Columns:

- load: ``graphdsl.loads`` (parse + build), µs per statement, and the same
  for CPython's ``ast.parse`` of the equivalent Python text, as it ships (GC on)
  and with the GC paused as graphdsl's loading does;
- compile: the engine's flat form (tape), and generating straight-line code;
- fwd/bwd: one forward and one backward pass, tape and generated code, µs per op;
- API: ``m.set``, ``m.forward()`` and ``m.gradients()`` from Python (one
  forward pass, one backward, two dicts of the named nodes), µs per op;
- solve: one solver iteration (forward, backward, step, the trace's rows);
- batch: forward + backward over 1,000 parameter sets, ns per op per sample;
- mem: peak memory of load + compile + forward + backward, bytes per op
  (resident-set growth, read from ``resource.getrusage``; meaningless below
  ~10^4 ops, where the allocator's own arenas dominate);
- references in the same run: a micrograd-style ``Value`` engine (written
  below, with an iterative sort so deep graphs do not break it) and
  hand-written straight-line Python, its compile time excluded: "straight",
  one function per chunk of 1,000 nodes with every value a local (see
  :func:`straight_line`), and "one-function", the whole graph as one
  function per pass (the reference of earlier runs).

``bench.py --fit`` measures training instead: one epoch of ``graphdsl fit`` on a
20-op model over 10^4 and 10^6 samples, full batch and mini-batches of 32,
against a micrograd-style per-sample loop, hand-written numpy and PyTorch
(``benchmarks/fit_bench.py``, which it runs).

Ratios printed under the table are the issue's goals: fwd+bwd at least 10x
faster than micrograd and within 2x of straight-line Python, load within 1.5x
of ``ast.parse`` (1x with the GC paused on both sides), the per-statement load
time at most 1.2x that at 556 statements, batch at most 20 ns per op per
sample, memory at most 1.5 KB per op at 10^6 ops.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

OPS_PER_STATEMENT = 1.8
FORMS = ["{a}*{b}", "({a} + {b})*0.5", "tanh({a} - {b})", "{a} - 0.5*{b}", "sigmoid({a})*{b}"]


def random_model(statements: int, seed: int = 1, params: int = 8) -> str:
    """A random scalar DAG as .bp text; values stay in a modest range."""
    r = random.Random(seed)
    lines = [f"param p{i} = {r.uniform(-1, 1):.3f}" for i in range(params)]
    names = [f"p{i}" for i in range(params)]
    for k in range(statements):
        a = names[-1 - min(len(names) - 1, int(r.expovariate(0.05)))]
        b = r.choice(names)
        lines.append(f"s{k} = " + r.choice(FORMS).format(a=a, b=b))
        names.append(f"s{k}")
    lines.append(f"output s{statements - 1}")
    return "\n".join(lines) + "\n"


def as_python(text: str) -> str:
    """The same model as Python text, for ``ast.parse``."""
    return text.replace("param ", "").replace("output ", "# output ")


# -- reference 1: micrograd, as small as it is (karpathy/micrograd engine.py) -----------

class Value:
    __slots__ = ("data", "grad", "_backward", "_prev")

    def __init__(self, data, children=()):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = children

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __sub__(self, other):
        out = Value(self.data - other.data, (self, other))

        def _backward():
            self.grad += out.grad
            other.grad -= out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other))

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,))

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def sigmoid(self):
        s = 1.0 / (1.0 + math.exp(-self.data))
        out = Value(s, (self,))

        def _backward():
            self.grad += s * (1 - s) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        # micrograd's sort is recursive and dies past ~1,000 deep; this one is iterative.
        topo, seen, stack = [], set(), [(self, False)]
        while stack:
            v, done = stack.pop()
            if done:
                topo.append(v)
                continue
            if id(v) in seen:
                continue
            seen.add(id(v))
            stack.append((v, True))
            for c in v._prev:
                if id(c) not in seen:
                    stack.append((c, False))
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


MICRO = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "tanh": lambda a: a.tanh(), "sigmoid": lambda a: a.sigmoid(),
}


def micrograd_forward(c):
    vals = [Value(v) if op is None else None for v, op in zip(c.init, c.ops)]
    for k, op in enumerate(c.ops):
        if op is not None:
            vals[k] = MICRO[op.name](*[vals[j] for j in c.args[k]])
    return vals


# -- reference 2: hand-written straight-line Python ----------------------------------------

PY = {  # forward, then one partial per operand ({o} is the result)
    "add": ("{0} + {1}", ("1.0", "1.0")), "sub": ("{0} - {1}", ("1.0", "-1.0")),
    "mul": ("{0} * {1}", ("{1}", "{0}")),
    "tanh": ("tanh({0})", ("(1.0 - {o} * {o})",)),
    "sigmoid": ("1.0 / (1.0 + exp(-{0}))", ("{o} * (1.0 - {o})",)),
}
#: ops per function of the chunked reference (as the engine's generated code)
REF_CHUNK = 1000


def straight_line(c, chunk=REF_CHUNK):
    """The floor: both passes written out op by op as a person would, one
    function per chunk of ``chunk`` nodes, every value and adjoint a local.

    Inside a chunk there is no list indexing: number literals are written as
    numbers, and a value from outside the chunk (a param, an earlier chunk's
    result) is read once into a local. Chunks hand values on through the one
    list of values (the passes' result, as the engine's): forward writes its
    chunk's values as one slice; backward reads its chunk's values and
    adjoints as slices, adds what it owes earlier nodes into locals and
    stores each once. Literals get no adjoint. Returns (forward, backward,
    leaves): ``backward(forward(leaves))`` gives every node's adjoint.
    """
    ops, args, n = c.ops, c.args, len(c.ops)
    literal = [k == "const" and nm is None for k, nm in zip(c.flat.kind, c.flat.name)]
    leaf = [op is None for op in ops]

    def x(j):
        return repr(c.init[j]) if literal[j] else f"x{j}"

    src, names = [], []
    for ci, s in enumerate(range(0, n, chunk)):
        e = min(n, s + chunk)
        own = [k for k in range(s, e) if ops[k] is not None]
        # forward: values from outside the chunk once each, then one line per op
        reads = sorted({j for k in own for j in args[k] if not literal[j] and (j < s or leaf[j])}
                       | {k for k in range(s, e) if leaf[k] and not literal[k]})
        body = [f"def f{ci}(V):"] + [f"    x{j} = V[{j}]" for j in reads]
        body += [f"    x{k} = " + PY[ops[k].name][0].format(*[x(j) for j in args[k]]) for k in own]
        body.append(f"    V[{s}:{e}] = (" + "".join(f"{x(k)}, " for k in range(s, e)) + ")")
        # backward: the chunk's values and adjoints as locals, each outside adjoint read and written once
        lines = []
        for k in reversed(own):
            xs = [x(j) for j in args[k]]
            for j, d in zip(args[k], PY[ops[k].name][1]):
                if not literal[j]:
                    lines.append(f"    g{j} += g{k} * " + d.format(*xs, o=f"x{k}"))
        used = {int(v) for ln in lines for v in re.findall(r"\bx(\d+)", ln)}
        ext_vals = sorted(j for j in used if j < s)
        ext_adj = sorted({j for k in own for j in args[k] if j < s and not literal[j]})
        body += [f"def b{ci}(V, A):",
                 "    " + "".join(f"x{k}, " for k in range(s, e)) + f"= V[{s}:{e}]",
                 "    " + "".join(f"g{k}, " for k in range(s, e)) + f"= A[{s}:{e}]"]
        body += [f"    x{j} = V[{j}]" for j in ext_vals]
        body += [f"    g{j} = A[{j}]" for j in ext_adj]
        body += lines
        body.append(f"    A[{s}:{e}] = (" + "".join(f"g{k}, " for k in range(s, e)) + ")")
        body += [f"    A[{j}] = g{j}" for j in ext_adj]
        src += body
        names.append(ci)
    src.append("def forward(leaves):\n    V = list(leaves)\n"
               + "".join(f"    f{ci}(V)\n" for ci in names) + "    return V")
    src.append(f"def backward(V):\n    A = [0.0] * {n}\n    A[{c.output}] = 1.0\n"
               + "".join(f"    b{ci}(V, A)\n" for ci in reversed(names)) + "    return A")
    ns = {"tanh": math.tanh, "exp": math.exp}
    exec(compile("\n".join(src) + "\n", "<reference>", "exec"), ns)
    return ns["forward"], ns["backward"], list(c.init)


def straight_line_one_function(c):
    """The reference of earlier runs: the whole graph as one function per pass,
    every value a local, all values in and out as lists."""
    fwd = ["def forward(x):"]
    leaves = [k for k, op in enumerate(c.ops) if op is None]
    fwd.append("    " + ", ".join(f"x{k}" for k in leaves) + ", = x")
    for k, op in enumerate(c.ops):
        if op is not None:
            fwd.append(f"    x{k} = " + PY[op.name][0].format(*[f"x{j}" for j in c.args[k]]))
    fwd.append("    return [" + ", ".join(f"x{k}" for k in range(len(c.ops))) + "]")
    bwd = ["def backward(v):", "    " + ", ".join(f"x{k}" for k in range(len(c.ops))) + ", = v"]
    bwd.append("    " + " = ".join(f"g{k}" for k in range(len(c.ops))) + " = 0.0")
    bwd.append(f"    g{c.output} = 1.0")
    for k in range(len(c.ops) - 1, -1, -1):
        op = c.ops[k]
        if op is None:
            continue
        names = [f"x{j}" for j in c.args[k]]
        for j, d in zip(c.args[k], PY[op.name][1]):
            bwd.append(f"    g{j} += g{k} * " + d.format(*names, o=f"x{k}"))
    bwd.append("    return [" + ", ".join(f"g{k}" for k in range(len(c.ops))) + "]")
    ns = {"tanh": math.tanh, "exp": math.exp}
    exec(compile("\n".join(fwd) + "\n" + "\n".join(bwd) + "\n", "<reference>", "exec"), ns)
    return ns["forward"], ns["backward"], [c.init[k] for k in leaves]


# -- one size, in a child process ----------------------------------------------------------

def _rss_kb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


#: the CPU time of this process: on a shared machine the wall clock also counts
#: the time other processes held the core, which says nothing about graphdsl
clock = time.process_time


def _median(f, repeat):
    times = []
    for _ in range(repeat):
        t = clock()
        f()
        times.append(clock() - t)
    return statistics.median(times)


def one_size(ops: int, repeat: int, batch: int, references: bool, code: bool) -> dict:
    import gc

    import graphdsl
    from graphdsl.engine import Compiled
    from graphdsl.parser import get_parser

    get_parser()
    statements = max(1, round(ops / OPS_PER_STATEMENT))
    base = _rss_kb()
    text = random_model(statements)
    # 1. Peak memory first, before any timing loop leaves garbage behind.
    m = graphdsl.loads(text)
    c = m.compiled
    vals = c.forward()
    c.backward(vals)
    n_ops = c._n_ops
    row = {"ops": n_ops, "statements": statements, "nodes": len(c),
           "mem_per_op": (_rss_kb() - base) * 1024 / n_ops}
    del vals
    # 2. Times.
    rep = repeat if n_ops <= 200_000 else 1
    row["load"] = _median(lambda: graphdsl.loads(text), rep) / statements * 1e6
    # Load growth, measured against a 556-statement model in the same process,
    # interleaved, so both see the same machine (shared machines are noisy).
    small = random_model(556)
    ratios = []
    for _ in range(rep):
        t = clock()
        graphdsl.loads(text)
        big = (clock() - t) / statements
        loops = max(1, min(50, statements // 556))
        t = clock()
        for _ in range(loops):
            graphdsl.loads(small)
        ratios.append(big / ((clock() - t) / loops / 556))
    row["load_growth"] = statistics.median(ratios)
    pytext = as_python(text)
    import ast

    # as CPython ships it (GC on), and with the GC paused as graphdsl's loading does
    row["ast_parse"] = _median(lambda: ast.parse(pytext), rep) / statements * 1e6
    gc.disable()
    try:
        row["ast_parse_nogc"] = _median(lambda: ast.parse(pytext), rep) / statements * 1e6
    finally:
        gc.enable()
    # Load against ast.parse, interleaved (one of each, in turn), as each ships
    # (graphdsl pauses the GC while loading, ast.parse leaves it on) and with
    # the GC paused around both.
    ratios, ratios_nogc = [], []
    for _ in range(max(rep, 5)):
        t0 = clock()
        graphdsl.loads(text)
        t1 = clock()
        ast.parse(pytext)
        t2 = clock()
        ratios.append((t1 - t0) / (t2 - t1))
        gc.disable()
        try:
            t0 = clock()
            graphdsl.loads(text)
            t1 = clock()
            ast.parse(pytext)
            t2 = clock()
        finally:
            gc.enable()
        ratios_nogc.append((t1 - t0) / (t2 - t1))
    row["x_load"] = statistics.median(ratios)
    row["x_load_nogc"] = statistics.median(ratios_nogc)
    row["compile"] = _median(lambda: Compiled(m.flat, m.registry, "tape"), rep) / n_ops * 1e6
    tape = Compiled(m.flat, m.registry, "tape")
    vals = tape.forward()
    row["fwd_tape"] = _median(tape.forward, rep) / n_ops * 1e6
    row["bwd_tape"] = _median(lambda: tape.backward(vals), rep) / n_ops * 1e6
    if code:
        gen = Compiled(m.flat, m.registry, "tape")
        row["generate"] = _median(lambda: (setattr(gen, "_code", None), gen.generate()), 1) / n_ops * 1e6
        row["fwd_code"] = _median(gen.forward, rep) / n_ops * 1e6
        row["bwd_code"] = _median(lambda: gen.backward(vals), rep) / n_ops * 1e6
        assert gen.forward() == vals and gen.backward(vals) == tape.backward(vals)
    # The Python API (m.set, m.forward(), m.gradients()) beside the engine's own
    # passes, on the same compiled form, interleaved; each round sets a param
    # so no pass is reused from the round before.
    engine = gen if code else tape
    if code:
        m.compiled._code = gen._code
    p0 = m.params[0]
    api, eng, ratio = [], [], []
    for i in range(max(rep, 5)):
        t0 = clock()
        m.set_value(p0, 0.5 + i % 2 * 0.01)
        m.forward()
        m.gradients()
        t1 = clock()
        engine.backward(engine.forward({p0: 0.5 + i % 2 * 0.01}))
        t2 = clock()
        api.append(t1 - t0)
        eng.append(t2 - t1)
        ratio.append((t1 - t0) / (t2 - t1))
    row["api"] = statistics.median(api) / n_ops * 1e6
    row["api_engine"] = statistics.median(eng) / n_ops * 1e6
    row["x_api"] = statistics.median(ratio)
    m.set_value(p0, c.init[c.index[p0]])
    target = vals[c.output] + 0.01

    def solve():
        tr = m.solve(target=target, max_iter=2, tol=1e-300)
        return len(tr.iterations)
    iters = solve()
    row["solve_iter"] = _median(solve, rep) / iters * 1e3  # ms
    if batch and n_ops * batch <= 2e7:  # values and adjoints of every node: 16 bytes each
        import numpy as np

        from graphdsl.batch import evaluate

        rng = np.random.default_rng(0)
        xs = {p: rng.uniform(-1, 1, batch) for p in m.params}
        row["batch_fwd"] = _median(lambda: evaluate(m, xs, gradients=False), rep) / n_ops / batch * 1e9
        row["batch"] = _median(lambda: evaluate(m, xs), rep) / n_ops / batch * 1e9
    if references:
        mg = micrograd_forward(c)
        row["micro_fwd"] = _median(lambda: micrograd_forward(c), rep) / n_ops * 1e6

        def micro_bwd():
            vs = micrograd_forward(c)
            t = clock()
            vs[c.output].backward()
            return clock() - t
        row["micro_bwd"] = statistics.median(micro_bwd() for _ in range(rep)) / n_ops * 1e6
        assert abs(mg[c.output].data - vals[c.output]) < 1e-9
        t = clock()
        f, b, leaves = straight_line(c)
        row["ref_compile"] = (clock() - t) / n_ops * 1e6
        f1, b1, leaves1 = straight_line_one_function(c)
        rv, rv1 = f(leaves), f1(leaves1)
        row["ref_fwd"] = _median(lambda: f(leaves), rep) / n_ops * 1e6
        row["ref_bwd"] = _median(lambda: b(rv), rep) / n_ops * 1e6
        row["ref1_fwd"] = _median(lambda: f1(leaves1), rep) / n_ops * 1e6
        row["ref1_bwd"] = _median(lambda: b1(rv1), rep) / n_ops * 1e6
        # The goals' ratios, from runs interleaved one after the other.
        engine = gen if code else tape
        vs_micro, vs_ref, vs_ref1 = [], [], []
        for _ in range(max(rep, 5)):
            t0 = clock()
            engine.backward(engine.forward())
            t1 = clock()
            micrograd_forward(c)[c.output].backward()
            t2 = clock()
            vs_micro.append((t2 - t1) / (t1 - t0))
        # The floor apart from micrograd (whose million small objects leave the
        # heap scattered for whatever runs next), each side first in turn.
        sides = [lambda: engine.backward(engine.forward()), lambda: b(f(leaves)),
                 lambda: b1(f1(leaves1))]
        for i in range(max(rep, 5) * 3):
            took = [0.0, 0.0, 0.0]
            for k in [(i + j) % 3 for j in range(3)]:
                t0 = clock()
                sides[k]()
                took[k] = clock() - t0
            vs_ref.append(took[0] / took[1])
            vs_ref1.append(took[0] / took[2])
        row["x_micrograd"] = statistics.median(vs_micro)
        row["x_straight"] = statistics.median(vs_ref)
        row["x_straight1"] = statistics.median(vs_ref1)
        literal = [k == "const" and nm is None for k, nm in zip(c.flat.kind, c.flat.name)]
        assert max(abs(x - y) for x, y, lit in zip(b(rv), tape.backward(vals), literal)
                   if not lit) < 1e-9
        assert max(abs(x - y) for x, y in zip(b1(rv1), tape.backward(vals))) < 1e-9
    return row


# -- the table ------------------------------------------------------------------------------

COLUMNS = [
    ("ops", "ops", "{:,}"), ("load", "load µs/st", "{:.1f}"), ("ast_parse", "ast.parse", "{:.1f}"),
    ("ast_parse_nogc", "ast.parse no GC", "{:.1f}"),
    ("compile", "compile µs/op", "{:.2f}"), ("generate", "gen µs/op", "{:.0f}"),
    ("fwd_tape", "fwd tape", "{:.3f}"), ("bwd_tape", "bwd tape", "{:.3f}"),
    ("fwd_code", "fwd code", "{:.3f}"), ("bwd_code", "bwd code", "{:.3f}"),
    ("api", "API fwd+bwd", "{:.3f}"), ("solve_iter", "solve ms/it", "{:.2f}"), ("batch", "batch ns/op/s", "{:.1f}"),
    ("mem_per_op", "mem B/op", "{:.0f}"),
    ("micro_fwd", "micrograd fwd", "{:.3f}"), ("micro_bwd", "micrograd bwd", "{:.3f}"),
    ("ref_fwd", "straight fwd", "{:.3f}"), ("ref_bwd", "straight bwd", "{:.3f}"),
    ("ref1_fwd", "one-function fwd", "{:.3f}"), ("ref1_bwd", "one-function bwd", "{:.3f}"),
]


def table(rows) -> list[str]:
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    cells = [[c[1] for c in cols]]
    for r in rows:
        cells.append([c[2].format(r[c[0]]) if c[0] in r else "—" for c in cols])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    out = ["| " + " | ".join(h.rjust(w) for h, w in zip(cells[0], widths)) + " |",
           "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"]
    for row in cells[1:]:
        out.append("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths)) + " |")
    return out


def goals(rows) -> list[str]:
    out = []
    by = {r["ops"]: r for r in rows}
    r5 = min(rows, key=lambda r: abs(math.log10(r["ops"]) - 5))
    best = lambda r: min(r["fwd_tape"] + r["bwd_tape"], r.get("fwd_code", 1e9) + r.get("bwd_code", 1e9))
    if "micro_fwd" in r5:
        out.append(f"fwd+bwd at {r5['ops']:,} ops ({'generated code' if 'fwd_code' in r5 else 'tape'}; "
                   f"median of interleaved runs): {r5['x_micrograd']:.1f}x faster than micrograd "
                   f"(goal >= 10x), {r5['x_straight']:.2f}x the time of straight-line Python in "
                   f"chunks (goal <= 2x), {r5['x_straight1']:.2f}x that of one function")
        ours = best(r5)
        micro = r5["micro_fwd"] + r5["micro_bwd"]
        ref = r5["ref_fwd"] + r5["ref_bwd"]
        ref1 = r5["ref1_fwd"] + r5["ref1_bwd"]
        out.append(f"  from the table's medians: {ours:.3f} µs/op; micrograd {micro:.3f} "
                   f"({micro / ours:.1f}x); straight-line {ref:.3f} ({ours / ref:.2f}x), one "
                   f"function {ref1:.3f} ({ours / ref1:.2f}x); tape alone "
                   f"{micro / (r5['fwd_tape'] + r5['bwd_tape']):.1f}x faster than micrograd, "
                   f"{(r5['fwd_tape'] + r5['bwd_tape']) / ref:.2f}x of straight-line")
        for r in rows:
            if "x_micrograd" in r and r is not r5:
                out.append(f"  at {r['ops']:,} ops: {r['x_micrograd']:.1f}x faster than micrograd, "
                           f"{r['x_straight']:.2f}x of straight-line, {r['x_straight1']:.2f}x of "
                           f"one function")
    for r in rows:
        if "x_api" in r:
            out.append(f"Python API at {r['ops']:,} ops: m.set, m.forward() and m.gradients() "
                       f"{r['api']:.3f} µs/op, the engine's forward and backward "
                       f"{r['api_engine']:.3f}: {r['x_api']:.2f}x (interleaved)")
    for r in rows:
        out.append(f"load at {r['statements']:,} statements (interleaved with ast.parse of the "
                   f"same statements): {r['x_load']:.2f}x ast.parse as each ships (goal <= 1.5x), "
                   f"{r['x_load_nogc']:.2f}x with the GC paused on both sides (goal <= 1x); "
                   f"from the medians {r['load']:.1f} µs/st vs {r['ast_parse']:.1f} and "
                   f"{r['ast_parse_nogc']:.1f}")
    for r in rows:
        if r["statements"] > 556:
            out.append(f"load growth: per statement at {r['statements']:,} statements, "
                       f"{r['load_growth']:.2f}x that at 556 (interleaved; goal <= 1.2x at 10^5 ops)")
    r3 = [r for r in rows if "batch" in r]
    if r3:
        rb = min(r3, key=lambda r: abs(math.log10(r["ops"]) - 3))
        out.append(f"batch of 1,000 at {rb['ops']:,} ops: {rb['batch']:.1f} ns per op per sample "
                   f"forward+backward ({rb['batch_fwd']:.1f} forward only) (goal <= 20)")
    big = max(rows, key=lambda r: r["ops"])
    out.append(f"peak memory at {big['ops']:,} ops: {big['mem_per_op']:.0f} B/op (goal <= 1,536)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,1000,10000,100000,1000000",
                    help="op counts, comma-separated")
    ap.add_argument("--repeat", type=int, default=5, help="runs per timing (median)")
    ap.add_argument("--batch", type=int, default=1000, help="samples for the batch column")
    ap.add_argument("--references-up-to", type=int, default=200_000,
                    help="run micrograd and straight-line Python up to this many ops")
    ap.add_argument("--code-up-to", type=int, default=200_000,
                    help="generate straight-line code up to this many ops (it costs ~20-80 µs/op)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON too")
    ap.add_argument("--fit", action="store_true",
                    help="measure one epoch of `graphdsl fit` instead (benchmarks/fit_bench.py; "
                         "--sizes are then sample counts, default 10000,1000000)")
    args = ap.parse_args(argv)
    if args.fit:
        sys.path.insert(0, HERE)
        from fit_bench import main as fit_main

        sizes = [] if args.sizes == ap.get_default("sizes") else ["--sizes", args.sizes]
        return fit_main(sizes + ["--repeat", str(args.repeat)] + (["--json"] if args.json else []))
    if args.one:
        row = one_size(args.one, args.repeat, args.batch, args.one <= args.references_up_to,
                       args.one <= args.code_up_to)
        print(json.dumps(row))
        return 0
    from graphdsl.progress import progress

    rows = []
    sizes = [int(s) for s in args.sizes.split(",")]
    # A size costs about a fixed part (a process, the small-model references)
    # plus a part that grows with its ops: weighting each by ops + 50,000 keeps
    # the estimate of the time left roughly right from the first size on.
    weight = {size: size + 50_000 for size in sizes}
    with progress(sum(weight.values()), "bench", sys.stderr) as bar:
        for size in sizes:
            bar.label = f"bench {size:,} ops"
            t = time.perf_counter()
            cmd = [sys.executable, os.path.abspath(__file__), "--one", str(size),
                   "--repeat", str(args.repeat), "--batch", str(args.batch),
                   "--references-up-to", str(args.references_up_to),
                   "--code-up-to", str(args.code_up_to)]
            p = subprocess.run(cmd, capture_output=True, text=True)
            bar.advance(weight[size])
            if p.returncode != 0:
                print(f"\rsize {size}: failed\n{p.stderr}", file=sys.stderr)
                continue
            rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
            if not bar.enabled:   # on a terminal the line says it; in a log, one line per size
                print(f"# {size:,} ops done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; times are medians of "
          f"{args.repeat} runs (1 above 200,000 ops); µs per op unless said")
    print()
    for line in table(rows):
        print(line)
    print()
    for line in goals(rows):
        print(line)
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
