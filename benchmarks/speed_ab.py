"""Loading, generated code and the Python API, this tree against another copy
of graphdsl, interleaved call by call.

    .venv/bin/python benchmarks/speed_ab.py --other /path/to/old/tree

The other tree's ``graphdsl`` package is imported under another name in the
same process (as ``benchmarks/batch_ab.py`` does), both load bench.py's random
model, and their calls alternate one by one (this, other, this, other...), so
both see the same machine even when a shared machine's speed drifts. Times
are CPU time (``time.process_time``). Printed per size: each side's median
and the median of the paired ratios (this over other) for

- load: ``loads(text)``, µs per statement;
- code: one forward and one backward pass of generated code, ns per op;
- API: ``m.set_value``, ``m.forward()`` and ``m.gradients()``, ns per op.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(1, HERE)

from batch_ab import load_other  # noqa: E402 - after the path is set


def pairs(this, other, calls):
    """Medians of each side's time and of the paired ratios, calls alternating."""
    a, b, r = [], [], []
    for i in range(calls):
        t0 = time.process_time()
        this(i)
        t1 = time.process_time()
        other(i)
        t2 = time.process_time()
        a.append(t1 - t0)
        b.append(t2 - t1)
        r.append((t1 - t0) / (t2 - t1))
    return statistics.median(a), statistics.median(b), statistics.median(r)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--other", required=True, help="the root of the other tree (holds graphdsl/)")
    ap.add_argument("--sizes", default="1000,10000,100000", help="op counts, comma-separated")
    ap.add_argument("--calls", type=int, default=15, help="calls per side")
    args = ap.parse_args(argv)
    os.environ.setdefault("GRAPHDSL_NO_ENTRY_POINTS", "1")
    import bench

    import graphdsl

    other = load_other(args.other)
    print(f"this tree over {args.other}, paired medians of {args.calls} alternating calls (CPU time)")
    print()
    print("|     ops | load µs/st | other | ratio | code ns/op | other | ratio |"
          " API ns/op | other | ratio |")
    print("|--------:|-----------:|------:|------:|-----------:|------:|------:|"
          "----------:|------:|------:|")
    for size in [int(s) for s in args.sizes.split(",")]:
        statements = max(1, round(size / bench.OPS_PER_STATEMENT))
        text = bench.random_model(statements)
        load = pairs(lambda i: graphdsl.loads(text), lambda i: other.loads(text), args.calls)
        ma, mb = graphdsl.loads(text), other.loads(text)
        ca, cb = ma.compiled, mb.compiled
        ca.generate()
        cb.generate()
        assert ca.forward() == cb.forward() and ca.backward(ca.forward()) == cb.backward(cb.forward())
        code = pairs(lambda i: ca.backward(ca.forward()), lambda i: cb.backward(cb.forward()),
                     args.calls)
        p = ma.params[0]

        def api(m):
            def call(i):
                m.set_value(p, 0.5 + i % 2 * 0.01)
                m.forward()
                m.gradients()
            return call
        api_t = pairs(api(ma), api(mb), args.calls)
        n = ca._n_ops
        print(f"| {n:7,} | {load[0] / statements * 1e6:10.1f} | {load[1] / statements * 1e6:5.1f} "
              f"| {load[2]:5.2f} | {code[0] / n * 1e9:10.1f} | {code[1] / n * 1e9:5.1f} "
              f"| {code[2]:5.2f} | {api_t[0] / n * 1e9:9.1f} | {api_t[1] / n * 1e9:5.1f} "
              f"| {api_t[2]:5.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
