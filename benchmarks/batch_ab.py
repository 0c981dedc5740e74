"""Batch evaluation, this tree against another copy of graphdsl, interleaved call by call.

    .venv/bin/python benchmarks/batch_ab.py --other /path/to/old/tree

The other tree's ``graphdsl`` package is imported under another name in the
same process, both load bench.py's random model (about 1,006 ops by
default), and their ``evaluate`` calls alternate one by one (this, other,
this, other...), so both see the same machine even when a shared machine's
speed drifts by 2x within a minute. Printed: for forward + backward and for
forward only, each side's median in ns per op per sample and the median of
the paired ratios (this over other), in a table per round.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(1, HERE)


def load_other(root: str):
    """The other tree's graphdsl package, imported as ``graphdsl_other``."""
    pkg = os.path.join(os.path.abspath(root), "graphdsl")
    spec = importlib.util.spec_from_file_location(
        "graphdsl_other", os.path.join(pkg, "__init__.py"), submodule_search_locations=[pkg])
    module = importlib.util.module_from_spec(spec)
    sys.modules["graphdsl_other"] = module
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--other", required=True, help="the root of the other tree (holds graphdsl/)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=40, help="calls per side and round")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--statements", type=int, default=559, help="559 statements: about 1,006 ops")
    args = ap.parse_args(argv)
    os.environ.setdefault("GRAPHDSL_NO_ENTRY_POINTS", "1")
    import numpy as np

    import graphdsl
    from graphdsl.batch import evaluate
    from bench import random_model

    other = load_other(args.other)
    other_evaluate = importlib.import_module("graphdsl_other.batch").evaluate
    text = random_model(args.statements)
    a, b = graphdsl.loads(text), other.loads(text)
    n_ops = a.compiled._n_ops
    rng = np.random.default_rng(0)
    xs = {p: rng.uniform(-1, 1, args.samples) for p in a.params}
    ra, rb = evaluate(a, xs), other_evaluate(b, xs)  # warm up, and the two must agree
    for name in ra.values:
        assert np.allclose(ra.values[name], rb.values[name], rtol=1e-12), name
        assert np.allclose(ra.gradients[name], rb.gradients[name], rtol=1e-9, atol=1e-12), name
    scale = 1e9 / n_ops / args.samples
    print(f"{n_ops:,} ops, {args.samples:,} samples, {args.calls} calls per side per round, "
          f"ns per op per sample (medians)")
    print("round  kind              this   other  this/other")
    all_ratios = {"fwd+bwd": [], "fwd": []}
    for r in range(args.rounds):
        for kind, grads in (("fwd+bwd", True), ("fwd", False)):
            ta, tb, ratios = [], [], []
            for _ in range(args.calls):
                t = time.perf_counter()
                evaluate(a, xs, gradients=grads)
                t1 = time.perf_counter()
                other_evaluate(b, xs, gradients=grads)
                t2 = time.perf_counter()
                ta.append((t1 - t) * scale)
                tb.append((t2 - t1) * scale)
                ratios.append((t1 - t) / (t2 - t1))
            all_ratios[kind] += ratios
            print(f"{r + 1:>5}  {kind:<14} {statistics.median(ta):7.1f} {statistics.median(tb):7.1f}"
                  f"  {statistics.median(ratios):10.2f}")
    for kind, ratios in all_ratios.items():
        q = statistics.quantiles(ratios, n=4)
        print(f"{kind}: this/other {statistics.median(ratios):.2f} (quartiles {q[0]:.2f}-{q[2]:.2f}, "
              f"{len(ratios)} pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
