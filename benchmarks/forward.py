"""Forward mode against reverse mode, measured: one pass each, and all params.

    .venv/bin/python benchmarks/forward.py                      # 10^2 .. 10^5 ops
    .venv/bin/python benchmarks/forward.py --sizes 100,1000 --repeat 3

On the random scalar DAG of ``benchmarks/bench.py`` (8 params, about 1.8 ops
per statement), for each size, medians of ``--repeat`` runs:

- bwd / tan, tape and code: one reverse pass (``Compiled.backward``) and one
  tangent pass from one param (``Compiled.tangents``), µs per op;
- all params: the gradient of the output with respect to every param, by one
  reverse pass, and by forward mode (one tangent pass per param), µs per op;
- counted: the multiply-adds :func:`graphdsl.forward.cost` counts for each
  mode, and the time that count takes, µs per op.

A tangent pass skips ops whose operands all have tangent 0, so its cost
depends on how much of the model the param reaches; the table prints that
share ("reach").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bench import OPS_PER_STATEMENT, random_model  # noqa: E402

import graphdsl  # noqa: E402
from graphdsl.engine import Compiled  # noqa: E402
from graphdsl.forward import cost  # noqa: E402


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(ops: int, repeat: int) -> dict:
    m = graphdsl.loads(random_model(max(1, int(ops / OPS_PER_STATEMENT))))
    tape = Compiled(m.flat, m.registry, "tape")
    code = Compiled(m.flat, m.registry, "code")
    code.generate_tangents()
    n_ops = sum(1 for op in tape.ops if op is not None)
    vals = tape.forward()
    k0 = tape.index[m.params[0]]
    seeds = [tape.index[p] for p in m.params]
    row = {"ops": n_ops, "params": len(seeds)}
    us = 1e6 / n_ops
    row["bwd tape"] = median_time(lambda: tape.backward(vals), repeat) * us
    row["tan tape"] = median_time(lambda: tape.tangents(vals, k0), repeat) * us
    row["bwd code"] = median_time(lambda: code.backward(vals), repeat) * us
    row["tan code"] = median_time(lambda: code.tangents(vals, k0), repeat) * us
    row["all: reverse"] = row["bwd code"]
    row["all: forward"] = median_time(lambda: [code.tangents(vals, k) for k in seeds], repeat) * us
    t = tape.tangents(vals, k0)
    row["reach"] = sum(1 for k, op in enumerate(tape.ops) if op is not None and t[k] != 0.0) / n_ops
    c = None

    def count():
        nonlocal c
        c = cost(m)

    row["count µs/op"] = median_time(count, repeat) * us
    row["madds fwd"] = c.gradient.forward_total
    row["madds rev"] = c.gradient.reverse_total
    return row


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    rows = [measure(int(s), a.repeat) for s in a.sizes.split(",")]
    cols = ["ops", "params", "reach", "bwd tape", "tan tape", "bwd code", "tan code",
            "all: reverse", "all: forward", "madds fwd", "madds rev", "count µs/op"]
    print(f"python {sys.version.split()[0]}, medians of {a.repeat}; times in µs per op")
    print()
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("-" * (len(h) + 1) + ":" for h in cols) + "|")
    for r in rows:
        cells = []
        for h in cols:
            v = r[h]
            cells.append(f"{v:,}" if isinstance(v, int) else f"{v:.0%}" if h == "reach"
                         else f"{v:.3f}")
        print("| " + " | ".join(cells) + " |")
    print()
    for r in rows:
        print(f"{r['ops']:,} ops: forward mode for all {r['params']} params takes "
              f"{r['all: forward'] / r['all: reverse']:.1f}x the time of one reverse pass; "
              f"counted multiply-adds {r['madds fwd'] / r['madds rev']:.2f}x")


if __name__ == "__main__":
    main()
