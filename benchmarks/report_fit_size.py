"""How big a fit's HTML report is, and what its data plot costs, for the
example models at 10, 100 and 1,000 epochs.

    .venv/bin/python benchmarks/report_fit_size.py

The data plot moves with the page's slider. It could be one SVG per shown
epoch, or one SVG whose curve (or decision boundary) is a layer per shown
epoch that the page's script shows one at a time; the report uses the
layers. The table prints both, measured: "layers" is the plots as the page
has them (the loss with a ring per shown epoch, the data with a curve or
boundary per shown epoch); "one per epoch" is the same two panels drawn with
one epoch's ring and layer alone, as a page that swapped whole SVGs would
hold them, for five of the shown epochs: the mean size times the epochs shown. Each fit is
given --tol 0 so that it runs every epoch (xor's and neuron's converge
otherwise). Times are wall-clock seconds of build_report on a shared machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphdsl  # noqa: E402
from graphdsl.plot import figure_bytes, fit_report_figure  # noqa: E402
from graphdsl.report import MAX_FRAMES, build_report  # noqa: E402
from graphdsl.trace import evenly_spaced  # noqa: E402

MODELS = ROOT / "models"
CASES = [
    ("regression", MODELS / "regression.bp", MODELS / "data" / "regression.csv", {"lr": 0.01}),
    ("neuron", MODELS / "neuron.bp", MODELS / "data" / "neuron.csv", {"lr": 1.0}),
    ("xor", MODELS / "xor.bp", None, {"optimizer": "adam", "lr": 0.05}),
]


def one_per_epoch(model, trace, shown) -> float:
    """The bytes of one data plot per shown epoch: five of them drawn, the mean times the count."""
    picks = [shown[round(k * (len(shown) - 1) / 4)] for k in range(5)] if len(shown) > 5 else shown
    sizes = [len(figure_bytes(fit_report_figure(trace, model, marks=[k]), "svg")) for k in picks]
    return sum(sizes) / len(sizes) * len(shown)


def main() -> None:
    head = ("model", "epochs", "shown", "page KB", "plot KB (layers)", "one per epoch KB",
            "pictures", "build s")
    rows = []
    for name, path, data, opts in CASES:
        for epochs in (10, 100, 1000):
            m = graphdsl.load(path, data=data)
            t = m.fit(epochs=epochs, tol=0, **opts)
            shown = evenly_spaced(len(t.epochs), MAX_FRAMES)
            t0 = time.perf_counter()
            r = build_report(m, t)
            took = time.perf_counter() - t0
            layers = len(figure_bytes(fit_report_figure(t, m, marks=shown, sample=1), "svg"))
            rows.append([name, str(len(t.epochs) - 1), str(len(shown)),
                         f"{len(r.html.encode()) / 1024:,.0f}", f"{layers / 1024:,.0f}",
                         f"{one_per_epoch(m, t, shown) / 1024:,.0f}", str(r.frames), f"{took:.1f}"])
    from graphdsl.text import table

    print("\n".join(table(list(head), rows)))


if __name__ == "__main__":
    main()
