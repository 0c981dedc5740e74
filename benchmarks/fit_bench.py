"""One epoch of `graphdsl fit` against three references, on a 20-op model.

    .venv/bin/python benchmarks/fit_bench.py                    # 10^4 and 10^6 samples
    .venv/bin/python benchmarks/fit_bench.py --sizes 10000 --repeat 3

The model is a small 2-3-1 network with 20 per-sample ops (and the loss):

    h1 = tanh(a1*x1 + a2*x2 + c1);  h2 = tanh(b1*x1 + b2*x2 + c2);  h3 = h1*h2
    out = sigmoid(v1*h1 + v2*h2 + v3*h3);  loss = mean((out - y)^2)

One epoch is, for the full batch, one step on every sample; for mini-batches
of 32, n/32 steps on shuffled batches (sgd, lr 0.1). Every engine does the
same work: the forward pass, the gradient of the batch's loss with respect to
the 9 params, and the step. Columns, seconds per epoch (median of --repeat):

- graphdsl: the steps of :func:`graphdsl.fit.fit` (the plan's
  ``loss_and_gradient`` and the optimizer), and ``fit``: the whole
  ``fit(epochs=1)``, which also measures the full-data rows of epochs 0 and 1;
- micrograd: a micrograd-style ``Value`` engine, sample by sample (the
  per-sample loop a learner writes first);
- numpy: the same formulas and their derivatives written out by hand in numpy;
- torch: the same formulas with PyTorch autograd (float64), when torch is installed.

Memory: the peak that tracemalloc sees during one full-batch epoch of the
steps, against the data's own size (its columns).

Each row runs in a child process with BLAS (and torch's intra-op pool) on one
thread: on a busy 2-core machine BLAS's threads cost more to start than the
dot products they share (np.dot of 16,384 values took 13 ms with them).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

import graphdsl  # noqa: E402
from graphdsl.fit import Optimizer  # noqa: E402

MODEL = """data x1, x2, y
param a1 = 0.5
param a2 = -0.4
param c1 = 0.1
param b1 = -0.3
param b2 = 0.6
param c2 = -0.2
param v1 = 0.4
param v2 = 0.5
param v3 = -0.3
h1 = tanh(a1*x1 + a2*x2 + c1)
h2 = tanh(b1*x1 + b2*x2 + c2)
h3 = h1*h2
out = sigmoid(v1*h1 + v2*h2 + v3*h3)
loss = mean((out - y)^2)
output loss
"""
PARAMS = ["a1", "a2", "c1", "b1", "b2", "c2", "v1", "v2", "v3"]
LR = 0.1


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = ((x1 * x2) > 0).astype(float)
    return {"x1": x1, "x2": x2, "y": y}


def start():
    m = graphdsl.loads(MODEL)
    return np.array([m.param_values[p] for p in PARAMS])


def batches(n, bs, rng):
    if bs >= n:
        return [None]
    order = rng.permutation(n)
    return [order[s:s + bs] for s in range(0, n, bs)]


# -- graphdsl ---------------------------------------------------------------------------

def graphdsl_epoch(model, data, bs, seed=0):
    """The steps of one epoch, as fit takes them."""
    plan = model.samples
    full = {plan.data_pos[c]: col for c, col in data.items()}
    p = np.array([model.param_values[q] for q in model.params])
    opt = Optimizer("sgd", LR, np)
    n = len(data["y"])
    with np.errstate(all="ignore"):    # as fit does: values are checked, not warned about
        for idx in batches(n, bs, np.random.default_rng(seed)):
            cols, m = (full, n) if idx is None else ({k: c[idx] for k, c in full.items()},
                                                     len(idx))
            _loss, g = plan.loss_and_gradient(p, cols, m)
            p = opt.step(p, np.array(g))
    return p


def graphdsl_fit(model, bs):
    return model.fit(epochs=1, lr=LR, batch_size=bs, tol=0.0)


# -- reference: micrograd, sample by sample ---------------------------------------------------

def micrograd_epoch(data, bs, seed=0):
    sys.path.insert(0, HERE)
    from bench import Value

    p = start()
    n = len(data["y"])
    x1s, x2s, ys = data["x1"].tolist(), data["x2"].tolist(), data["y"].tolist()
    for idx in batches(n, bs, np.random.default_rng(seed)):
        rows = range(n) if idx is None else idx.tolist()
        m = len(rows)
        vs = [Value(float(v)) for v in p]
        a1, a2, c1, b1, b2, c2, v1, v2, v3 = vs
        inv = Value(1.0 / m)
        for i in rows:
            x1, x2, y = Value(x1s[i]), Value(x2s[i]), Value(ys[i])
            h1 = (a1 * x1 + a2 * x2 + c1).tanh()
            h2 = (b1 * x1 + b2 * x2 + c2).tanh()
            h3 = h1 * h2
            out = (v1 * h1 + v2 * h2 + v3 * h3).sigmoid()
            e = out - y
            (e * e * inv).backward()    # each sample's share of the mean, accumulated
        p = p - LR * np.array([v.grad for v in vs])
    return p


# -- reference: the same formulas in numpy, by hand -----------------------------------------

def numpy_grad(p, x1, x2, y):
    a1, a2, c1, b1, b2, c2, v1, v2, v3 = p
    n = len(y)
    h1 = np.tanh(a1 * x1 + a2 * x2 + c1)
    h2 = np.tanh(b1 * x1 + b2 * x2 + c2)
    h3 = h1 * h2
    out = 1.0 / (1.0 + np.exp(-(v1 * h1 + v2 * h2 + v3 * h3)))
    e = out - y
    loss = np.dot(e, e) / n
    gs = (2.0 / n) * e * out * (1.0 - out)
    gh1 = gs * v1 + gs * v3 * h2
    gh2 = gs * v2 + gs * v3 * h1
    gz1 = gh1 * (1.0 - h1 * h1)
    gz2 = gh2 * (1.0 - h2 * h2)
    g = np.array([np.dot(gz1, x1), np.dot(gz1, x2), gz1.sum(), np.dot(gz2, x1), np.dot(gz2, x2),
                  gz2.sum(), np.dot(gs, h1), np.dot(gs, h2), np.dot(gs, h3)])
    return loss, g


def numpy_epoch(data, bs, seed=0):
    p = start()
    n = len(data["y"])
    x1, x2, y = data["x1"], data["x2"], data["y"]
    for idx in batches(n, bs, np.random.default_rng(seed)):
        if idx is None:
            _l, g = numpy_grad(p, x1, x2, y)
        else:
            _l, g = numpy_grad(p, x1[idx], x2[idx], y[idx])
        p = p - LR * g
    return p


# -- reference: PyTorch autograd --------------------------------------------------------------

def torch_epoch(data, bs, seed=0):
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    X1, X2, Y = (torch.from_numpy(data[k]) for k in ("x1", "x2", "y"))
    ps = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in start()]
    a1, a2, c1, b1, b2, c2, v1, v2, v3 = ps
    n = len(data["y"])
    for idx in batches(n, bs, np.random.default_rng(seed)):
        if idx is None:
            x1, x2, y = X1, X2, Y
        else:
            i = torch.from_numpy(idx)
            x1, x2, y = X1[i], X2[i], Y[i]
        h1 = torch.tanh(a1 * x1 + a2 * x2 + c1)
        h2 = torch.tanh(b1 * x1 + b2 * x2 + c2)
        h3 = h1 * h2
        out = torch.sigmoid(v1 * h1 + v2 * h2 + v3 * h3)
        loss = torch.mean((out - y) ** 2)
        loss.backward()
        with torch.no_grad():
            for q in ps:
                q -= LR * q.grad
                q.grad = None
    return np.array([q.item() for q in ps])


def have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def median_time(f, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def one(n: int, bs: int, repeat: int, micro: bool) -> dict:
    data = make_data(n)
    model = graphdsl.loads(MODEL).set_data(**data)
    batch = n if bs == 0 else bs
    # the engines agree on the params after the epoch (a check, not timed)
    ref = numpy_epoch(data, batch)
    got = graphdsl_epoch(model, data, batch)
    assert np.allclose(got, ref, rtol=1e-9, atol=1e-12), (got, ref)
    row = {"samples": n, "batch": "full" if bs == 0 else bs}
    # interleaved, so each side of a ratio sees the same machine
    t_g, t_n, t_t = [], [], []
    torch_ok = have_torch()
    if torch_ok:
        assert np.allclose(torch_epoch(data, batch), ref, rtol=1e-9, atol=1e-12)
    for _ in range(repeat):
        t_g.append(median_time(lambda: graphdsl_epoch(model, data, batch), 1))
        t_n.append(median_time(lambda: numpy_epoch(data, batch), 1))
        if torch_ok:
            t_t.append(median_time(lambda: torch_epoch(data, batch), 1))
    row["graphdsl"] = statistics.median(t_g)
    row["numpy"] = statistics.median(t_n)
    row["torch"] = statistics.median(t_t) if torch_ok else None
    row["fit"] = median_time(lambda: graphdsl_fit(model, bs or None), max(1, repeat // 2))
    row["micrograd"] = median_time(lambda: micrograd_epoch(data, batch), 1) if micro else None
    if bs == 0:
        tracemalloc.start()
        graphdsl_epoch(model, data, batch)
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        row["peak_mb"] = peak / 2**20
        row["data_mb"] = sum(c.nbytes for c in data.values()) / 2**20
    return row


def table(rows) -> list[str]:
    head = ["samples", "batch", "graphdsl s", "fit(epochs=1) s", "numpy s", "torch s",
            "micrograd s", "vs micrograd", "vs numpy", "vs torch", "peak MB / data MB"]

    def s(v):
        return "—" if v is None else (f"{v:.4f}" if v < 1 else f"{v:.2f}")

    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    for r in rows:
        g = r["graphdsl"]
        cells = [f"{r['samples']:,}", str(r["batch"]), s(g), s(r["fit"]), s(r["numpy"]),
                 s(r["torch"]), s(r["micrograd"]),
                 f"{r['micrograd'] / g:.0f}x faster" if r["micrograd"] else "—",
                 f"{g / r['numpy']:.2f}x its time",
                 (f"{r['torch'] / g:.2f}x faster" if g < r["torch"] else
                  f"{g / r['torch']:.2f}x slower") if r["torch"] else "—",
                 f"{r['peak_mb']:.1f} / {r['data_mb']:.1f}" if "peak_mb" in r else "—"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def goals(rows) -> list[str]:
    out = []
    for r in rows:
        g = r["graphdsl"]
        tag = f"{r['samples']:,} samples, batch {r['batch']}"
        if r["micrograd"]:
            out.append(f"{tag}: {r['micrograd'] / g:.0f}x faster than micrograd (goal >= 100x)")
        out.append(f"{tag}: {g / r['numpy']:.2f}x the time of hand-written numpy (goal <= 1.5x)")
        if r["torch"] and r["batch"] == 32:
            out.append(f"{tag}: torch takes {r['torch'] / g:.2f}x graphdsl's time "
                       f"(goal: graphdsl faster, > 1x)")
        if "peak_mb" in r and r["samples"] >= 10**6:
            out.append(f"{tag}: peak {r['peak_mb']:.1f} MB = {r['peak_mb'] / r['data_mb']:.2f}x "
                       f"the data's {r['data_mb']:.1f} MB (goal <= 3x)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,1000000", help="sample counts, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="runs per timing (median)")
    ap.add_argument("--micrograd-up-to", type=int, default=1_000_000,
                    help="run the micrograd loop up to this many samples (about 40 µs each)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = ap.parse_args(argv)
    if args.one:
        n, bs = (int(v) for v in args.one.split(","))
        print(json.dumps(one(n, bs, args.repeat, n <= args.micrograd_up_to)))
        return 0
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        for bs in (0, 32):
            t = time.perf_counter()
            cmd = [sys.executable, os.path.abspath(__file__), "--one", f"{n},{bs}",
                   "--repeat", str(args.repeat), "--micrograd-up-to", str(args.micrograd_up_to)]
            # BLAS on one thread for every engine: its threads' start-up on a busy
            # 2-core machine otherwise swamps the dot products (13 ms for one of
            # 16,384 values), which would measure the machine, not the engines
            env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                       MKL_NUM_THREADS="1")
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if p.returncode != 0:
                print(f"{n} samples, batch {bs or 'full'}: failed\n{p.stderr}", file=sys.stderr)
                continue
            rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
            print(f"# {n:,} samples, batch {bs or 'full'} done in {time.perf_counter() - t:.0f} s",
                  file=sys.stderr)
    print(f"one epoch of a 20-op model (sgd, lr {LR}); python {sys.version.split()[0]}, "
          f"numpy {np.__version__}, {os.cpu_count()} cores; seconds, medians of {args.repeat}")
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
