"""Three activation functions, each a graphdsl op: a value, one local
derivative per operand, and a sympy form so that ``graphdsl ops`` can print
the derivative rule and ``graphdsl ops --check`` can compare against it.

>>> Softplus().forward(0.0), Softplus().partials(0.0, Softplus().forward(0.0))
(0.6931471805599453, (0.5,))
"""

import math

from graphdsl.ops import Op


class Softplus(Op):
    """ln(1 + e^x), a smooth relu; its derivative is the sigmoid."""

    name = "softplus"
    arity = 1
    doc = "ln(1 + e^x), a smooth relu"
    rule = "d/dx = sigmoid(x) = 1 / (1 + e^-x)"

    def forward(self, x):
        # max(x, 0) + ln(1 + e^-|x|): no overflow for large x, no lost digits for small
        return max(x, 0.0) + math.log1p(math.exp(-abs(x)))

    def partials(self, x, out):
        if x >= 0:
            return (1.0 / (1.0 + math.exp(-x)),)
        e = math.exp(x)
        return (e / (1.0 + e),)

    def sympy(self, x):
        import sympy

        return sympy.log(1 + sympy.exp(x))


class LeakyRelu(Op):
    """x for x > 0, else 0.01 x: relu that still lets a little gradient through."""

    name = "leaky_relu"
    arity = 1
    slope = 0.01
    doc = "x if x > 0 else 0.01 x"
    rule = "d/dx = 1 if x > 0 else 0.01"

    def forward(self, x):
        return x if x > 0 else self.slope * x

    def partials(self, x, out):
        return (1.0 if x > 0 else self.slope,)

    def sympy(self, x):
        import sympy

        return sympy.Piecewise((x, x > 0), (sympy.Rational(1, 100) * x, True))


class Gelu(Op):
    """x Φ(x), Φ the standard normal distribution function (the exact GELU)."""

    name = "gelu"
    arity = 1
    doc = "x Φ(x), the Gaussian error linear unit"
    rule = "d/dx = Φ(x) + x φ(x)"

    def forward(self, x):
        return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))

    def partials(self, x, out):
        cdf = 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
        pdf = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return (cdf + x * pdf,)

    def sympy(self, x):
        import sympy

        return x / 2 * (1 + sympy.erf(x / sympy.sqrt(2)))
