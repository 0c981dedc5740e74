"""How loading and ``graphdsl check`` grow with the model: time and peak memory.

    .venv/bin/python benchmarks/load.py                       # 10^4, 10^5, 10^6 statements
    .venv/bin/python benchmarks/load.py --sizes 10000,100000 --shapes chain

Two shapes of model: a *chain* (``x{i} = x{i-1} + w``, every statement
depending on the one before: the deepest graph there is) and the *random*
DAG of ``benchmarks/bench.py`` (about 1.8 ops per statement). Each size runs
in a fresh child process, so the peak memory is that size's own. Columns:

- parse: ``graphdsl.parser.parse`` (Lark and the transformer), s
- build: ``graphdsl.build.build_flat`` (names, cycles, order), s
- load: ``graphdsl.load`` from the file, all of it (read, parse, build), s
- check: the whole ``graphdsl check FILE`` command in its own process
  (start-up and exit included), s

Times are CPU seconds of the process (``time.process_time``, and
``RUSAGE_CHILDREN`` for check), not wall-clock seconds: on a shared machine
the wall clock measures the neighbours too.
- µs/st: load per statement
- peak MB: the largest resident set of the load's process (``ru_maxrss``)
- B/st: that peak, less the interpreter's resident set before loading, per
  statement
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)


def chain_model(statements: int) -> str:
    lines = ["param w = 1", "x0 = w"] + [f"x{i} = x{i - 1} + w" for i in range(1, statements)]
    return "\n".join(lines) + "\n"


def make_model(shape: str, statements: int) -> str:
    if shape == "chain":
        return chain_model(statements)
    from bench import random_model

    return random_model(statements)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, statements: int) -> dict:
    """Runs in its own process: parse, build and load one file, once each."""
    import gc

    import graphdsl
    from graphdsl.build import build_flat
    from graphdsl.parser import get_parser, parse

    get_parser()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    base = _rss_mb()
    clock = time.process_time
    t = clock()
    statements_ = parse(text, path)
    t_parse = clock() - t
    t = clock()
    flat = build_flat(statements_, file=path, source=text)
    t_build = clock() - t
    del statements_, flat
    gc.collect()
    t = clock()
    model = graphdsl.load(path)
    t_load = clock() - t
    peak = _rss_mb()
    assert model.output
    return {"parse": t_parse, "build": t_build, "load": t_load, "peak": peak,
            "bytes": (peak - base) * 2**20 / statements}


def measure(shape: str, statements: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{shape}.bp")
        # the file is written by a process of its own: a child's peak memory
        # (ru_maxrss) starts from its parent's size at the fork, so the parent
        # must stay small
        subprocess.run([sys.executable, __file__, "--write", shape, str(statements), path],
                       check=True)
        out = subprocess.run([sys.executable, __file__, "--child", path, str(statements)],
                             check=True, capture_output=True, text=True).stdout
        row = json.loads(out)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([sys.executable, "-m", "graphdsl", "check", path],
                           capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        row["check"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        assert r.returncode == 0, r.stderr
    row.update(shape=shape, statements=statements)
    return row


def table(rows) -> list[str]:
    head = ["shape", "statements", "parse s", "build s", "load s", "check s", "µs/st",
            "peak MB", "B/st"]
    body = [[r["shape"], f"{r['statements']:,}", f"{r['parse']:.2f}", f"{r['build']:.2f}",
             f"{r['load']:.2f}", f"{r['check']:.2f}", f"{r['load'] / r['statements'] * 1e6:.0f}",
             f"{r['peak']:.0f}", f"{r['bytes']:.0f}"] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = ["| " + " | ".join(h.rjust(w) for h, w in zip(head, widths)) + " |",
             "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"]
    lines += ["| " + " | ".join(c.rjust(w) for c, w in zip(b, widths)) + " |" for b in body]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--shapes", default="chain,random")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--write", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.write:
        shape, n, path = args.write
        with open(path, "w", encoding="utf-8") as f:
            f.write(make_model(shape, int(n)))
        return 0
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0
    rows = []
    for shape in args.shapes.split(","):
        for n in map(int, args.sizes.split(",")):
            rows.append(measure(shape, n))
            print(f"  {shape} {n:,}: load {rows[-1]['load']:.2f} s", file=sys.stderr, flush=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print("\n".join(table(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
