"""A deliberately wrong op, to see what ``graphdsl ops --check`` says.

The derivative of exp(-x²) is -2x·exp(-x²); the ``partials`` below lost the
minus sign, the mistake learners make most often. Try:

    graphdsl ops --check --plugin examples/broken_ops.py gaussian
"""

import math

from graphdsl.ops import Op


class Gaussian(Op):
    name = "gaussian"
    arity = 1
    doc = "exp(-x²), the bell curve (with a WRONG derivative)"

    def forward(self, x):
        return math.exp(-x * x)

    def partials(self, x, out):
        return (2 * x * out,)  # wrong on purpose: d/dx exp(-x²) = -2x exp(-x²)

    def sympy(self, x):
        import sympy

        return sympy.exp(-x ** 2)
