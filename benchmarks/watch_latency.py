"""How long `graphdsl watch` takes from a save to the new page on screen.

    .venv/bin/python benchmarks/watch_latency.py                 # runs of 3, 30, 300 iterations
    .venv/bin/python benchmarks/watch_latency.py --saves 3 --iterations 3,30

For each run length it starts `graphdsl watch` on a copy of the seed (gradient
descent, so ``--max-iter`` sets the number of iterations), opens the page in
headless chromium, then saves the model ``--saves`` times (a new starting
value of ``w`` each time) and measures, in the browser, the time from the
save to the new report being shown: first without its plots (the quick
page), then whole. A mistake is timed too: the time from a save that breaks
the model to its message on the page. Medians and maxima, in seconds, are
printed as a table.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from graphdsl.progress import progress  # noqa: E402

SEED = "param w = {w}\nparam b = 4\nx = 2*w + 3*b\ny = 2*b + 1\nz = x*y\n"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]


def one(iterations: int, saves: int, browser, bar) -> dict:
    with tempfile.TemporaryDirectory() as d:
        model = os.path.join(d, "seed.bp")
        with open(model, "w") as f:
            f.write(SEED.format(w=3))
        cmd = [sys.executable, "-m", "graphdsl", "watch", model, "--target", "150", "--method", "gd",
               "--lr", "0.00002", "--tol", "1e-13", "--max-iter", str(iterations - 1)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = re.search(r"http://\S+/", proc.stdout.readline()).group(0)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            wait(page, lambda n, whole: whole)
            quick, shown, broken = [], [], []
            for k in range(saves):
                before = int(page.get_attribute("body", "data-page"))
                t = time.perf_counter()
                with open(model, "w") as f:
                    f.write(SEED.format(w=2 + k / 10))
                wait(page, lambda n, whole: n > before)
                quick.append(time.perf_counter() - t)
                wait(page, lambda n, whole: n > before and whole)
                shown.append(time.perf_counter() - t)
                bar.advance()
            t = time.perf_counter()
            with open(model, "w") as f:
                f.write(SEED.format(w=3) + "z = (\n")
            page.wait_for_selector("#error:not([hidden])", timeout=300_000)
            broken.append(time.perf_counter() - t)
            bar.advance()
            page.close()
        finally:
            proc.terminate()
            proc.wait()
    return {"iterations": iterations, "quick": statistics.median(quick), "quick_max": max(quick),
            "median": statistics.median(shown), "max": max(shown), "error": broken[0]}


def wait(page, done, timeout: float = 300.0) -> None:
    """Poll the page's data-page and data-whole (its policy forbids the eval
    that wait_for_function needs) until ``done(page number, whole)``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        n = int(page.get_attribute("body", "data-page") or 0)
        if done(n, page.get_attribute("body", "data-whole") == "true"):
            return
        page.wait_for_timeout(10)
    raise TimeoutError("the page did not change")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", default="3,30,300", help="run lengths, comma-separated")
    ap.add_argument("--saves", type=int, default=5, help="saves timed per run length")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.iterations.split(",")]
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p, progress(len(sizes) * (args.saves + 1), "watch latency",
                                          sys.stderr, unit="saves") as bar:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for n in sizes:
            rows.append(one(n, args.saves, browser, bar))
        browser.close()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; {args.saves} saves each; "
          "seconds from the save to the page showing it")
    print()
    print("| iterations | save → page without plots: median | max | save → whole page: median "
          "| max | save → message of a mistake |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['iterations']:,} | {r['quick']:.2f} | {r['quick_max']:.2f} | "
              f"{r['median']:.2f} | {r['max']:.2f} | {r['error']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
