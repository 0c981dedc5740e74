"""Time and peak memory of every command on models that grow without bound in
one direction: nesting depth, and the symbolic work of explain and report.

    .venv/bin/python benchmarks/views.py                       # depths 2,000 / 20,000 / 100,000
    .venv/bin/python benchmarks/views.py --depths 2000,20000 --commands render,explain
    .venv/bin/python benchmarks/views.py --symbolic            # the symbolic cases only

Each command runs as ``python -m graphdsl ...`` in its own process, limited to
``--mem-limit`` GB of address space and ``--timeout`` seconds (a command that
hits either is shown as ``> limit``); the time is wall-clock and the peak
memory is that process's own maximum resident set (``os.wait4``). The models:

- ``nest-N``: one statement nested N levels deep, ``z = (((w+1)+1)...+1)``
  (4 bytes per level: 20,000 levels is an 80 KB file);
- ``power``: ``(a+b+c+d+e+f)^40``, whose expansion has 1.2 million terms;
- ``sincos-N``: a chain of N statements ``x_i = sin(x_{i-1}) + cos(x_{i-1})``
  (written out in full, the output doubles in size at every statement);
- ``random-N``: a random scalar DAG of N statements (benchmarks/bench.py's).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

COMMANDS = {
    "check": ["check"],
    "run": ["run"],
    "render": ["render", "-o", "{out}.svg"],
    "render-backward": ["render", "--view", "backward", "-o", "{out}.svg"],
    "explain": ["explain"],
    "report": ["report", "--target", "{target}", "--max-iter", "3", "-o", "{out}.html"],
}


def nested(depth: int) -> str:
    return "param w = 0.5\nz = " + "(" * depth + "w" + "+1)" * depth + "\n"


def power() -> str:
    names = "abcdef"
    return ("".join(f"param {n} = 0.{k + 1}\n" for k, n in enumerate(names))
            + "z = (" + " + ".join(names) + ")^40\n")


def sincos(n: int) -> str:
    lines = ["param p = 0.3", "x0 = p"]
    lines += [f"x{i} = sin(x{i - 1}) + cos(x{i - 1})" for i in range(1, n + 1)]
    return "\n".join(lines) + f"\noutput x{n}\n"


def random_dag(n: int) -> str:
    from bench import random_model

    return random_model(n)


def measure(argv, mem_gb: float, timeout: float):
    """(seconds, peak RSS in MB, exit code or 'limit') of one command."""
    limit = int(mem_gb * 2 ** 30)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "graphdsl", *argv], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, preexec_fn=cap)
    status = None
    while True:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            status = os.waitstatus_to_exitcode(st)
            break
        if time.perf_counter() - t0 > timeout:
            p.kill()
            _pid, _st, ru = os.wait4(p.pid, 0)
            status = "timeout"
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - t0
    err = p.stderr.read().decode("utf-8", "replace")
    p.stderr.close()
    if status not in ("timeout", 0, 1) and ("MemoryError" in err or "memory" in err.lower()):
        status = "memory"
    return seconds, ru.ru_maxrss / 1024, status, err


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="2000,20000,100000")
    ap.add_argument("--commands", default=",".join(COMMANDS))
    ap.add_argument("--symbolic", action="store_true", help="the symbolic cases only")
    ap.add_argument("--mem-limit", type=float, default=4.0, help="GB of address space per command")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per command")
    args = ap.parse_args(argv)
    cases = []
    if args.symbolic:
        cases += [("power", power(), "1", ["explain", "report"]),
                  ("sincos-25", sincos(25), "1", ["explain", "report"]),
                  ("random-1000", random_dag(1000), "0", ["run", "explain", "report"]),
                  ("random-5000", random_dag(5000), "0", ["run", "explain", "report"])]
    else:
        for d in (int(x) for x in args.depths.split(",")):
            cases.append((f"nest-{d}", nested(d), str(d + 10), args.commands.split(",")))
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} cores, limits {args.mem_limit:g} GB / {args.timeout:g} s"
    print(f"# {env_note}")
    print("| model | size | command | seconds | peak MB | exit |")
    print("|---|---:|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text, target, commands in cases:
            path = os.path.join(tmp, name + ".bp")
            with open(path, "w") as f:
                f.write(text)
            for cmd in commands:
                out = os.path.join(tmp, f"{name}-{cmd}")
                argv_ = [a.format(out=out, target=target) for a in COMMANDS[cmd]]
                argv_.insert(1, path)
                s, mb, code, err = measure(argv_, args.mem_limit, args.timeout)
                shown = {"timeout": f"> {args.timeout:g} s", "memory": f"> {args.mem_limit:g} GB"}
                secs = shown["timeout"] if code == "timeout" else f"{s:.2f}"
                mem = shown["memory"] if code == "memory" else f"{mb:.0f}"
                print(f"| {name} | {len(text):,} B | {cmd} | {secs} | {mem} | {code} |",
                      flush=True)
                if code not in (0, 1, "timeout", "memory"):
                    print("    " + err.strip().splitlines()[-1][:200] if err.strip() else "",
                          flush=True)


if __name__ == "__main__":
    main()
