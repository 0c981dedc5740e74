"""The built-in ops. Each is a plugin class like any third-party op and is
registered through the same door (:meth:`Registry.register`).

Every class keeps its value and its local derivatives side by side; the
engine never branches on an op's name.
"""

from __future__ import annotations

import math

from .base import Op


def _np():
    import numpy

    return numpy


def _sp():
    import sympy

    return sympy


class Add(Op):
    name, arity, symbol = "add", 2, "+"
    doc = "a + b"
    py_forward = "({0} + {1})"
    py_partials = ("1.0", "1.0")

    def forward(self, a, b):
        return a + b

    def partials(self, a, b, out):
        return (1.0, 1.0)

    def np_forward(self, a, b):
        return a + b

    def np_partials(self, a, b, out):
        return (1.0, 1.0)

    def sympy(self, a, b):
        return a + b


class Sub(Op):
    name, arity, symbol = "sub", 2, "-"
    doc = "a - b"
    py_forward = "({0} - {1})"
    py_partials = ("1.0", "-1.0")

    def forward(self, a, b):
        return a - b

    def partials(self, a, b, out):
        return (1.0, -1.0)

    def np_forward(self, a, b):
        return a - b

    def np_partials(self, a, b, out):
        return (1.0, -1.0)

    def sympy(self, a, b):
        return a - b


class Mul(Op):
    name, arity, symbol = "mul", 2, "*"
    doc = "a * b"
    py_forward = "({0} * {1})"
    py_partials = ("{1}", "{0}")

    def forward(self, a, b):
        return a * b

    def partials(self, a, b, out):
        return (b, a)

    def np_forward(self, a, b):
        return a * b

    def np_partials(self, a, b, out):
        return (b, a)

    def sympy(self, a, b):
        return a * b


class Div(Op):
    name, arity, symbol = "div", 2, "/"
    doc = "a / b"
    py_forward = "({0} / {1})"
    py_partials = ("(1.0 / {1})", "(-{out} / {1})")

    def forward(self, a, b):
        return a / b

    def partials(self, a, b, out):
        return (1.0 / b, -out / b)

    def domain(self, a, b):
        if b == 0:
            return "division by zero"
        return None

    def np_forward(self, a, b):
        return a / b

    def np_partials(self, a, b, out):
        return (1.0 / b, -out / b)

    def sympy(self, a, b):
        return a / b


class Neg(Op):
    name, arity, symbol = "neg", 1, "-"
    label = "neg"
    doc = "-a"
    py_forward = "(-{0})"
    py_partials = ("-1.0",)

    def forward(self, a):
        return -a

    def partials(self, a, out):
        return (-1.0,)

    def np_forward(self, a):
        return -a

    def np_partials(self, a, out):
        return (-1.0,)

    def sympy(self, a):
        return -a


class Pow(Op):
    name, arity, symbol = "pow", 2, "^"
    doc = "a ^ b (also a ** b); a > 0 unless b is a whole number"
    py_forward = "_pow({0}, {1})"

    def forward(self, a, b):
        return math.pow(a, b)

    def partials(self, a, b, out):
        # d/da a^b = b a^(b-1); written without dividing by a so that a = 0 works.
        da = b * math.pow(a, b - 1.0) if b != 0 else 0.0
        # d/db a^b = a^b ln a, defined for a > 0 only; at a <= 0 the exponent
        # can only be a whole number (see domain), where nothing varies it.
        db = out * math.log(a) if a > 0 else 0.0
        return (da, db)

    def domain(self, a, b):
        if a < 0 and b != int(b):
            return "a negative number to a fractional power"
        if a == 0 and b < 0:
            return "zero to a negative power (division by zero)"
        return None

    def np_forward(self, a, b):
        return _np().power(a, b)

    def np_partials(self, a, b, out):
        np = _np()
        da = np.where(b != 0, b * np.power(a, b - 1.0), 0.0)
        db = np.where(a > 0, out * np.log(np.where(a > 0, a, 1.0)), 0.0)
        return (da, db)

    def sympy(self, a, b):
        return a ** b


class Exp(Op):
    name, arity = "exp", 1
    doc = "e^x"
    py_forward = "_exp({0})"
    py_partials = ("{out}",)

    def forward(self, x):
        return math.exp(x)

    def partials(self, x, out):
        return (out,)

    def np_forward(self, x):
        return _np().exp(x)

    def np_partials(self, x, out):
        return (out,)

    def sympy(self, x):
        return _sp().exp(x)


class Log(Op):
    name, arity = "log", 1
    doc = "natural logarithm, x > 0"
    py_forward = "_log({0})"
    py_partials = ("(1.0 / {0})",)

    def forward(self, x):
        return math.log(x)

    def partials(self, x, out):
        return (1.0 / x,)

    def domain(self, x):
        if x <= 0:
            return "the logarithm of a number that is not positive"
        return None

    def np_forward(self, x):
        return _np().log(x)

    def np_partials(self, x, out):
        return (1.0 / x,)

    def sympy(self, x):
        return _sp().log(x)


class Sqrt(Op):
    name, arity = "sqrt", 1
    symbol = "√"
    label = "sqrt"
    doc = "square root, x >= 0 (its derivative needs x > 0)"
    py_forward = "_sqrt({0})"
    py_partials = ("(0.5 / {out})",)

    def forward(self, x):
        return math.sqrt(x)

    def partials(self, x, out):
        return (0.5 / out,)

    def domain(self, x):
        if x < 0:
            return "the square root of a negative number"
        return None

    def np_forward(self, x):
        return _np().sqrt(x)

    def np_partials(self, x, out):
        return (0.5 / out,)

    def sympy(self, x):
        return _sp().sqrt(x)


class Sin(Op):
    name, arity = "sin", 1
    doc = "sine (radians)"
    py_forward = "_sin({0})"
    py_partials = ("_cos({0})",)

    def forward(self, x):
        return math.sin(x)

    def partials(self, x, out):
        return (math.cos(x),)

    def np_forward(self, x):
        return _np().sin(x)

    def np_partials(self, x, out):
        return (_np().cos(x),)

    def sympy(self, x):
        return _sp().sin(x)


class Cos(Op):
    name, arity = "cos", 1
    doc = "cosine (radians)"
    py_forward = "_cos({0})"
    py_partials = ("(-_sin({0}))",)

    def forward(self, x):
        return math.cos(x)

    def partials(self, x, out):
        return (-math.sin(x),)

    def np_forward(self, x):
        return _np().cos(x)

    def np_partials(self, x, out):
        return (-_np().sin(x),)

    def sympy(self, x):
        return _sp().cos(x)


class Tan(Op):
    name, arity = "tan", 1
    doc = "tangent (radians)"
    py_forward = "_tan({0})"
    py_partials = ("(1.0 + {out} * {out})",)

    def forward(self, x):
        return math.tan(x)

    def partials(self, x, out):
        return (1.0 + out * out,)

    def domain(self, x):
        if math.cos(x) == 0:
            return "the tangent of an odd multiple of π/2"
        return None

    def np_forward(self, x):
        return _np().tan(x)

    def np_partials(self, x, out):
        return (1.0 + out * out,)

    def sympy(self, x):
        return _sp().tan(x)


class Tanh(Op):
    name, arity = "tanh", 1
    doc = "hyperbolic tangent"
    py_forward = "_tanh({0})"
    py_partials = ("(1.0 - {out} * {out})",)

    def forward(self, x):
        return math.tanh(x)

    def partials(self, x, out):
        return (1.0 - out * out,)

    def np_forward(self, x):
        return _np().tanh(x)

    def np_partials(self, x, out):
        return (1.0 - out * out,)

    def sympy(self, x):
        return _sp().tanh(x)


class Sigmoid(Op):
    name, arity = "sigmoid", 1
    symbol = "σ"
    label = "σ"
    doc = "logistic function 1 / (1 + e^-x)"
    py_partials = ("({out} * (1.0 - {out}))",)

    def forward(self, x):
        if x >= 0:
            return 1.0 / (1.0 + math.exp(-x))
        e = math.exp(x)
        return e / (1.0 + e)

    def partials(self, x, out):
        return (out * (1.0 - out),)

    def np_forward(self, x):
        # exp(-x) may overflow to inf for very negative x: 1 / (1 + inf) is the right 0
        return 1.0 / (1.0 + _np().exp(-x))

    def np_partials(self, x, out):
        return (out * (1.0 - out),)

    def sympy(self, x):
        sp = _sp()
        return 1 / (1 + sp.exp(-x))


class Relu(Op):
    name, arity = "relu", 1
    doc = "max(0, x); its derivative at 0 is taken as 0"
    py_forward = "({0} if {0} > 0 else 0.0)"
    py_partials = ("(1.0 if {0} > 0 else 0.0)",)

    def forward(self, x):
        return x if x > 0 else 0.0

    def partials(self, x, out):
        return (1.0 if x > 0 else 0.0,)

    def np_forward(self, x):
        return _np().where(x > 0, x, 0.0)

    def np_partials(self, x, out):
        return (_np().where(x > 0, 1.0, 0.0),)

    def sympy(self, x):
        # not Max(0, x): sympy would differentiate it to Heaviside(x) = 1/2 at 0,
        # where this op's partial is 0
        sp = _sp()
        return sp.Piecewise((x, x > 0), (0, True))


class Abs(Op):
    name, arity = "abs", 1
    doc = "|x|; its derivative at 0 is taken as 0"
    py_forward = "_abs({0})"
    py_partials = ("(1.0 if {0} > 0 else (-1.0 if {0} < 0 else 0.0))",)

    def forward(self, x):
        return abs(x)

    def partials(self, x, out):
        return (1.0 if x > 0 else (-1.0 if x < 0 else 0.0),)

    def np_forward(self, x):
        return _np().abs(x)

    def np_partials(self, x, out):
        return (_np().sign(x),)

    def sympy(self, x):
        return _sp().Abs(x)


class Square(Op):
    name, arity = "square", 1
    doc = "x²"
    py_forward = "({0} * {0})"
    py_partials = ("(2.0 * {0})",)

    def forward(self, x):
        return x * x

    def partials(self, x, out):
        return (2.0 * x,)

    def np_forward(self, x):
        return x * x

    def np_partials(self, x, out):
        return (2.0 * x,)

    def sympy(self, x):
        return x ** 2


class Identity(Op):
    name, arity = "identity", 1
    label = "="
    doc = "x itself (what `y = x` means)"
    py_forward = "{0}"
    py_partials = ("1.0",)

    def forward(self, x):
        return x

    def partials(self, x, out):
        return (1.0,)

    def np_forward(self, x):
        return x

    def np_partials(self, x, out):
        return (1.0,)

    def sympy(self, x):
        return x


class _Reduction(Op):
    """Shared by mean and sum: a weighted sum over the samples of a data model.

    For a single sample both are the sample itself (``forward(x) = x``, the
    partial 1): that is the meaning the scalar engine gives them, sample by
    sample; the sample evaluator (:mod:`graphdsl.samples`) adds the samples up
    with :meth:`weight`."""

    arity = 1
    reduces = True
    py_forward = "{0}"
    py_partials = ("1.0",)

    def forward(self, x):
        return x

    def partials(self, x, out):
        return (1.0,)

    def np_forward(self, x):
        return x

    def np_partials(self, x, out):
        return (1.0,)


class Mean(_Reduction):
    name = "mean"
    doc = "the mean of a per-sample value over the samples"
    rule = "∂/∂xᵢ = 1/n for each of the n samples"

    def weight(self, n):
        return 1.0 / n


class Sum(_Reduction):
    name = "sum"
    doc = "the sum of a per-sample value over the samples"
    rule = "∂/∂xᵢ = 1 for each sample"

    def weight(self, n):
        return 1.0


BUILTIN_OPS = (
    Add, Sub, Mul, Div, Neg, Pow, Exp, Log, Sqrt, Sin, Cos, Tan, Tanh,
    Sigmoid, Relu, Abs, Square, Identity, Mean, Sum,
)
