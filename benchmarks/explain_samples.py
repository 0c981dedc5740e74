"""explain of a data model: what the sum over the samples costs.

    .venv/bin/python benchmarks/explain_samples.py [--sizes 100,1000,10000,100000]

For models/regression.bp and models/xor.bp's network, on random data of each
size (10x apart), prints the time of ``explain(model, sample=1)`` without
sympy (the symbolic check is skipped past a few samples anyway), and that
time per sample and graph position: explain walks the graph once per sample
to add every sample's contribution up (graphdsl.explain.SAMPLE_SUM_WORK is
set from this number). Best of 3 runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import graphdsl  # noqa: E402
from graphdsl.explain import SAMPLE_SUM_WORK, explain  # noqa: E402
from graphdsl.text import table  # noqa: E402

MODELS = os.path.join(os.path.dirname(HERE), "models")


def model_with(name: str, n: int):
    m = graphdsl.load(os.path.join(MODELS, name))
    rng = np.random.default_rng(0)
    m.set_data(**{c: rng.normal(size=n) for c in m.data_names})
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,1000,10000,100000")
    args = ap.parse_args(argv)
    rows = []
    for name in ("regression.bp", "xor.bp"):
        for n in (int(s) for s in args.sizes.split(",")):
            m = model_with(name, n)
            positions = len(m.compiled.ops)
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                e = explain(m, sample=1, use_sympy=False)
                best = min(best, time.perf_counter() - t)
            summed = e.sum_note is None
            rows.append([name, str(n), str(positions), f"{best:.3f}",
                         f"{best / (n * positions) * 1e6:.2f}" if summed else "-",
                         "yes" if summed else "no"])
    print("\n".join(table(["model", "samples", "positions", "seconds", "µs/sample/position",
                           "summed"], rows)))
    print(f"\nSAMPLE_SUM_WORK = {SAMPLE_SUM_WORK:,} samples × positions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
