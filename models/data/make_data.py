"""Make the data files of the example models, from fixed seeds: run it again
and the same bytes come out.

    .venv/bin/python models/data/make_data.py

- ``regression.csv``: 100 points (x, y) near the line y = 2x + 0.5, with noise
  of standard deviation 0.3 (for ``models/regression.bp``).
- ``neuron.csv``: 200 points (x1, x2) in two overlapping clouds, label 1 around
  (1, 1) and label 0 around (-1, -1) (for ``models/neuron.bp``).
"""

from __future__ import annotations

import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name: str, header: list[str], rows) -> None:
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(cell if isinstance(cell, str) else repr(round(float(cell), 6))
                             for cell in row) + "\n")


def regression() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(0.0, 1.0, 100)
    y = 2.0 * x + 0.5 + rng.normal(0.0, 0.3, 100)
    write("regression.csv", ["x", "y"], zip(x, y))


def neuron() -> None:
    rng = np.random.default_rng(13)
    label = np.repeat([1, 0], 100)
    centre = np.where(label[:, None] == 1, 1.0, -1.0)
    pts = centre + rng.normal(0.0, 1.0, (200, 2))
    order = rng.permutation(200)
    write("neuron.csv", ["x1", "x2", "label"],
          ((pts[i, 0], pts[i, 1], str(int(label[i]))) for i in order))


if __name__ == "__main__":
    regression()
    neuron()
