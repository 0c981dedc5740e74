"""The built-in ops. Each is a plugin class like any third-party op and is
registered through the same door (:meth:`Registry.register`).

Each op writes its value and its local derivatives once, side by side, as
templates (``py_forward``/``py_partials``, see :mod:`graphdsl.ops.forms`):
the scalar ``forward``/``partials`` methods, the engine's generated code and
the numpy forms of batch evaluation are all made from them, so they cannot
drift apart. ``sympy`` is the op for derivative rules in text; ``graphdsl ops
--check`` compares it with the rest. The engine never branches on an op's name.

Derivatives of saturating ops are written from the operand, not from the
rounded value: tanh(20) rounds to 1.0, so 1 - tanh² would give 0 where
1/cosh²(20) = 1.7e-17; likewise σ(x)·σ(-x) for the sigmoid.

>>> Tanh().partials(20.0, Tanh().forward(20.0))
(1.6993417021166355e-17,)
"""

from __future__ import annotations

import math

from .base import Op


def _sp():
    import sympy

    return sympy


class Add(Op):
    name, arity, symbol = "add", 2, "+"
    doc = "a + b"
    py_forward = "{0} + {1}"
    py_partials = ("1.0", "1.0")

    def sympy(self, a, b):
        return a + b


class Sub(Op):
    name, arity, symbol = "sub", 2, "-"
    doc = "a - b"
    py_forward = "{0} - {1}"
    py_partials = ("1.0", "-1.0")

    def sympy(self, a, b):
        return a - b


class Mul(Op):
    name, arity, symbol = "mul", 2, "*"
    doc = "a * b"
    py_forward = "{0} * {1}"
    py_partials = ("{1}", "{0}")

    def sympy(self, a, b):
        return a * b


class Div(Op):
    name, arity, symbol = "div", 2, "/"
    doc = "a / b"
    py_forward = "{0} / {1}"
    py_partials = ("1.0 / {1}", "-{out} / {1}")

    def domain(self, a, b):
        if b == 0:
            return "division by zero"
        return None

    def sympy(self, a, b):
        return a / b


class Neg(Op):
    name, arity, symbol = "neg", 1, "-"
    operands = ("a",)
    label = "neg"
    doc = "-a"
    py_forward = "-{0}"
    py_partials = ("-1.0",)

    def sympy(self, a):
        return -a


class Pow(Op):
    name, arity, symbol = "pow", 2, "^"
    doc = "a ^ b (also a ** b); a > 0 unless b is a whole number"
    py_forward = "_pow({0}, {1})"
    py_partials = (
        # b a^(b-1), written without dividing by a so that a = 0 works
        "{1} * _pow({0}, {1} - 1.0) if {1} != 0 else 0.0",
        # a^b ln a, defined for a > 0 only; at a <= 0 the exponent can only be
        # a whole number (see domain), where nothing varies it
        "{out} * _log({0}) if {0} > 0 else 0.0",
    )

    def domain(self, a, b):
        if a < 0 and b != int(b):
            return "a negative number to a fractional power"
        if a == 0 and b < 0:
            return "zero to a negative power (division by zero)"
        return None

    def sympy(self, a, b):
        return a ** b


class Exp(Op):
    name, arity = "exp", 1
    doc = "e^x"
    py_forward = "_exp({0})"
    py_partials = ("{out}",)

    def sympy(self, x):
        return _sp().exp(x)


class Log(Op):
    name, arity = "log", 1
    doc = "natural logarithm, x > 0"
    py_forward = "_log({0})"
    py_partials = ("1.0 / {0}",)

    def domain(self, x):
        if x <= 0:
            return "the logarithm of a number that is not positive"
        return None

    def sympy(self, x):
        return _sp().log(x)


class Sqrt(Op):
    name, arity = "sqrt", 1
    symbol = "√"
    label = "sqrt"
    doc = "square root, x >= 0 (its derivative needs x > 0)"
    py_forward = "_sqrt({0})"
    py_partials = ("0.5 / {out}",)

    def domain(self, x):
        if x < 0:
            return "the square root of a negative number"
        return None

    def sympy(self, x):
        return _sp().sqrt(x)


class Sin(Op):
    name, arity = "sin", 1
    doc = "sine (radians)"
    py_forward = "_sin({0})"
    py_partials = ("_cos({0})",)

    def sympy(self, x):
        return _sp().sin(x)


class Cos(Op):
    name, arity = "cos", 1
    doc = "cosine (radians)"
    py_forward = "_cos({0})"
    py_partials = ("-_sin({0})",)

    def sympy(self, x):
        return _sp().cos(x)


class Tan(Op):
    name, arity = "tan", 1
    doc = "tangent (radians)"
    py_forward = "_tan({0})"
    py_partials = ("1.0 + {out} * {out}",)  # a sum of positives: no precision lost

    def domain(self, x):
        if math.cos(x) == 0:
            return "the tangent of an odd multiple of π/2"
        return None

    def sympy(self, x):
        return _sp().tan(x)


class Tanh(Op):
    name, arity = "tanh", 1
    doc = "hyperbolic tangent"
    py_forward = "_tanh({0})"
    py_partials = ("_sech({0}) * _sech({0})",)  # 1/cosh²x, not 1 - out² (see the module doc)

    def sympy(self, x):
        return _sp().tanh(x)


class Sigmoid(Op):
    name, arity = "sigmoid", 1
    symbol = "σ"
    label = "σ"
    doc = "logistic function 1 / (1 + e^-x)"
    py_forward = "_sigmoid({0})"
    py_partials = ("{out} * _sigmoid(-{0})",)  # σ(x)·σ(-x), not out·(1 - out)

    def sympy(self, x):
        sp = _sp()
        return 1 / (1 + sp.exp(-x))


class Relu(Op):
    name, arity = "relu", 1
    doc = "max(0, x); its derivative at 0 is taken as 0"
    py_forward = "{0} if {0} > 0 else 0.0"
    py_partials = ("1.0 if {0} > 0 else 0.0",)

    def sympy(self, x):
        # not Max(0, x): sympy would differentiate it to Heaviside(x) = 1/2 at 0,
        # where this op's partial is 0
        sp = _sp()
        return sp.Piecewise((x, x > 0), (0, True))


class Abs(Op):
    name, arity = "abs", 1
    doc = "|x|; its derivative at 0 is taken as 0"
    py_forward = "_abs({0})"
    py_partials = ("1.0 if {0} > 0 else (-1.0 if {0} < 0 else 0.0)",)

    def sympy(self, x):
        return _sp().Abs(x)


class Square(Op):
    name, arity = "square", 1
    doc = "x²"
    py_forward = "{0} * {0}"
    py_partials = ("2.0 * {0}",)

    def sympy(self, x):
        return x ** 2


class Identity(Op):
    name, arity = "identity", 1
    label = "="
    doc = "x itself (what `y = x` means)"
    py_forward = "{0}"
    py_partials = ("1.0",)

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
