"""Batch evaluation, this tree against another copy of graphdsl, interleaved.

    .venv/bin/python benchmarks/batch_ab.py --other /path/to/old/tree --rounds 5

Each round runs one child process per tree, one after the other, so both see
the same machine (a shared machine's speed drifts by 2x over minutes). A child
loads bench.py's random model (about 1,006 ops by default), evaluates it over
``--samples`` parameter sets ``--repeat`` times and prints the median in ns per
op per sample, forward + backward and forward only. The table lists every
round and the medians; the ratio is this tree's over the other's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = r"""
import json, statistics, sys, time
sys.path.insert(0, {root!r})
sys.path.insert(1, {bench!r})
import numpy as np
import graphdsl
from graphdsl.batch import evaluate
from bench import random_model
m = graphdsl.loads(random_model({statements}))
n_ops = m.compiled._n_ops
rng = np.random.default_rng(0)
xs = {{p: rng.uniform(-1, 1, {samples}) for p in m.params}}
def med(f):
    ts = []
    for _ in range({repeat}):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts) / n_ops / {samples} * 1e9
evaluate(m, xs)
print(json.dumps({{"ops": n_ops, "both": med(lambda: evaluate(m, xs)),
                  "fwd": med(lambda: evaluate(m, xs, gradients=False))}}))
"""


def run(root: str, args) -> dict:
    code = CHILD.format(root=os.path.abspath(root), bench=HERE, statements=args.statements,
                        samples=args.samples, repeat=args.repeat)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "GRAPHDSL_NO_ENTRY_POINTS": "1"})
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--other", required=True, help="the root of the other tree (holds graphdsl/)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--statements", type=int, default=559, help="559 statements: about 1,006 ops")
    args = ap.parse_args(argv)
    this = os.path.dirname(HERE)
    rows = []
    for r in range(args.rounds):
        a = run(this, args)
        b = run(args.other, args)
        rows.append((a, b))
        print(f"round {r + 1}: this {a['both']:.1f} ({a['fwd']:.1f} fwd)   "
              f"other {b['both']:.1f} ({b['fwd']:.1f} fwd)   ns/op/sample at {a['ops']:,} ops",
              flush=True)
    med = lambda key, i: statistics.median(row[i][key] for row in rows)  # noqa: E731
    ratios = statistics.median(a["both"] / b["both"] for a, b in rows)
    print(f"median: this {med('both', 0):.1f} ns/op/sample forward+backward ({med('fwd', 0):.1f} "
          f"forward only), other {med('both', 1):.1f} ({med('fwd', 1):.1f}); "
          f"this/other {ratios:.2f} (median of the rounds' ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
