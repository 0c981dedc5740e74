"""The conformance check (graphdsl/ops/check.py): every built-in op passes it,
and it catches each kind of mistake an op author makes, naming the op, the
point and the size of the disagreement."""

from __future__ import annotations

import math
import random
import sys

import pytest

from graphdsl.ops import Op
from graphdsl.ops.builtin import BUILTIN_OPS
from graphdsl.ops.check import check_op, derivative_rule, operand_names, sample_points
from graphdsl.ops.registry import PluginOp


# --- the built-ins -----------------------------------------------------------------

@pytest.mark.parametrize("op_cls", BUILTIN_OPS, ids=lambda c: c.name)
def test_every_builtin_op_passes_the_check(op_cls):
    report = check_op(op_cls(), "built-in")
    assert report.ok, [f.message for f in report.failures]
    # a reduction (mean, sum) works over the samples, which a sympy expression of
    # one operand cannot say: its rule is its own words
    symbolic = [] if op_cls.reduces else ["sympy"]
    assert report.checks == ["arity", "determinism", "finite differences", "template",
                             "numpy"] + symbolic
    assert len(report.points) >= 4


# Points chosen by hand (not by check.py), inside each op's domain and away from kinks.
HAND_POINTS = {1: [(-1.7,), (0.45,), (2.2,)], 2: [(0.8, -1.3), (1.9, 0.6), (-2.4, 3.1)]}
POSITIVE = {"log": [(0.2,), (1.5,), (7.0,)], "sqrt": [(0.2,), (1.5,), (7.0,)],
            "pow": [(0.8, -1.3), (1.9, 0.6), (2.5, 3.0), (-2.0, 3.0)]}


@pytest.mark.parametrize("op_cls", BUILTIN_OPS, ids=lambda c: c.name)
def test_builtin_partials_match_central_differences(op_cls):
    """Independently of check.py: plain central differences, h = 1e-6."""
    op = op_cls()
    compared = 0
    for point in POSITIVE.get(op.name, HAND_POINTS[op.arity]):
        out = op.forward(*point)
        partials = op.partials(*point, out)
        assert len(partials) == op.arity
        for i, got in enumerate(partials):
            h = 1e-6 * max(1.0, abs(point[i]))
            up = list(point)
            down = list(point)
            up[i] += h
            down[i] -= h
            if op.domain(*up) or op.domain(*down):
                continue  # pow(-2, b): b can only be whole there, nothing to vary
            fd = (op.forward(*up) - op.forward(*down)) / (2 * h)
            assert got == pytest.approx(fd, rel=1e-6, abs=1e-7), (op.name, point, i)
            compared += 1
    assert compared >= 3 * op.arity


def test_builtin_points_stay_inside_each_domain():
    from graphdsl.ops.builtin import Log, Pow, Sqrt

    assert all(p[0] > 0 for p in sample_points(Log())[0])
    assert all(p[0] > 0 for p in sample_points(Sqrt())[0])
    pow_points = sample_points(Pow())[0]
    assert len(pow_points) == 8
    assert all(Pow().domain(*p) is None for p in pow_points)


# --- what the check catches ---------------------------------------------------------

class Gaussian(Op):
    """exp(-x²) with the minus sign of its derivative lost."""
    name, arity = "gaussian", 1

    def forward(self, x):
        return math.exp(-x * x)

    def partials(self, x, out):
        return (2 * x * out,)

    def sympy(self, x):
        import sympy

        return sympy.exp(-x ** 2)


def test_sign_error_is_caught_with_point_and_size():
    report = check_op(Gaussian(), "module test")
    assert not report.ok
    fd = [f for f in report.failures if f.check == "finite differences"]
    sym = [f for f in report.failures if f.check == "sympy"]
    assert len(fd) == len(report.points) == len(sym) == 7
    first = fd[0]
    x = first.point[0]
    true = -2 * x * math.exp(-x * x)
    assert first.op == "gaussian" and first.operand == "x"
    assert first.expected == pytest.approx(true, rel=1e-9)
    assert first.got == pytest.approx(-true, rel=1e-12)
    assert first.disagreement == pytest.approx(2 * abs(true), rel=1e-9)
    assert f"x = {x:.6g}" in first.message and "off by" in first.message
    assert "sympy's derivative -2*x*exp(-x^2)" in sym[0].message


def test_a_small_error_is_caught_and_a_correct_op_is_not_flagged():
    class Almost(Op):
        name, arity = "almost", 1

        def forward(self, x):
            return math.sin(x)

        def partials(self, x, out):
            return (math.cos(x) * (1 + 1e-4),)

    report = check_op(Almost())
    assert {f.check for f in report.failures} == {"finite differences"}
    assert all(f.disagreement == pytest.approx(1e-4 * abs(math.cos(f.point[0])), rel=1e-3)
               for f in report.failures)
    # the same op with the right derivative at a point where it is steep
    class Steep(Op):
        name, arity = "steep", 1
        sample_points = ((1.5,), (-1.55,), (0.2,))

        def forward(self, x):
            return math.tan(x)

        def partials(self, x, out):
            return (1 + out * out,)

    assert check_op(Steep()).ok


def test_wrong_number_of_partials():
    class Two(Op):
        name, arity = "two", 1

        def forward(self, x):
            return x

        def partials(self, x, out):
            return (1.0, 0.0)

    report = check_op(Two())
    assert [f.check for f in report.failures] == ["partials count"] * 7
    assert "partials returned 2 values for 1 operand" in report.failures[0].message
    assert report.failures[0].point == (-2.3,)


def test_arity_that_the_methods_do_not_accept():
    class Binary(Op):
        name, arity = "binary", 2

        def forward(self, x):
            return x

        def partials(self, x, out):
            return (1.0,)

    report = check_op(Binary())
    assert [f.check for f in report.failures] == ["arity"]
    assert "arity 2, but forward(x) does not take 2 arguments" in report.failures[0].message


def test_nondeterminism():
    class Noisy(Op):
        name, arity = "noisy", 1
        rng = random.Random(1)

        def forward(self, x):
            return x + self.rng.random() * 1e-12

        def partials(self, x, out):
            return (1.0,)

    report = check_op(Noisy())
    assert report.failures and all(f.check == "determinism" for f in report.failures)
    assert "forward is not deterministic" in report.failures[0].message


def test_sympy_form_that_does_not_match_forward():
    class Mislabelled(Op):
        name, arity = "mislabelled", 1

        def forward(self, x):
            return math.tanh(x)

        def partials(self, x, out):
            return (1 - out * out,)

        def sympy(self, x):
            import sympy

            return sympy.tan(x)

    report = check_op(Mislabelled())
    assert report.failures and {f.check for f in report.failures} == {"sympy value"}
    assert "its sympy form tan(x)" in report.failures[0].message


def test_partials_wrong_only_for_the_second_operand():
    class Div(Op):
        name, arity = "mydiv", 2

        def forward(self, a, b):
            return a / b

        def partials(self, a, b, out):
            return (1 / b, out / b)  # the minus of -a/b² lost

    report = check_op(Div())
    assert report.failures and {f.operand for f in report.failures} == {"b"}


def test_an_exception_inside_the_op_is_a_failure_not_a_crash():
    class Buggy(Op):
        name, arity = "buggy", 1

        def forward(self, x):
            return x

        def partials(self, x, out):
            return (undefined_name,)  # noqa: F821

    report = check_op(Buggy())
    assert report.failures[0].check == "error"
    assert "NameError" in report.failures[0].message


def test_declared_sample_points_are_used_and_checked():
    class Shifted(Op):
        name, arity = "shifted_log", 1
        sample_points = (6.0, (7.5,), 11.0)

        def forward(self, x):
            return math.log(x - 5)

        def partials(self, x, out):
            return (1 / (x - 5),)

        def domain(self, x):
            return None if x > 5 else "x must be above 5"

    report = check_op(Shifted())
    assert report.ok and report.points == [(6.0,), (7.5,), (11.0,)]

    class Outside(Shifted):
        sample_points = ((6.0,), (2.0,))

    report = check_op(Outside())
    assert [f.check for f in report.failures] == ["sample points"]
    assert report.failures[0].point == (2.0,)
    assert report.points == [(6.0,)]


def test_an_op_whose_domain_misses_the_grid_asks_for_sample_points():
    class FarAway(Op):
        name, arity = "far", 1

        def forward(self, x):
            return math.log(x - 100)

        def partials(self, x, out):
            return (1 / (x - 100),)

    report = check_op(FarAway())
    assert [f.check for f in report.failures] == ["sample points"]
    assert "sample_points" in report.notes[0]


def test_three_operand_op_gets_points():
    class Fma(Op):
        name, arity = "fma", 3

        def forward(self, a, b, c):
            return a * b + c

        def partials(self, a, b, c, out):
            return (b, a, 1.0)

    report = check_op(Fma())
    assert report.ok and len(report.points) == 8 and all(len(p) == 3 for p in report.points)


def test_check_sees_through_the_plugin_guard():
    report = check_op(PluginOp(Gaussian(), "module test"), "module test")
    assert report.origin == "module test" and not report.ok


# --- derivative rules as text ---------------------------------------------------------

def test_derivative_rules_from_sympy():
    from graphdsl.ops.builtin import Div, Pow, Sigmoid

    assert derivative_rule(Div()) == "∂/∂a = 1/b; ∂/∂b = -a/b^2"
    assert derivative_rule(Pow()) == "∂/∂a = a^(b - 1)*b; ∂/∂b = a^b*log(a)"
    assert derivative_rule(Sigmoid()) == "∂/∂x = exp(-x)/(1 + exp(-x))^2"
    assert operand_names(Gaussian()) == ["x"]


def test_derivative_rule_falls_back_to_the_ops_own_words(monkeypatch):
    class Cube(Op):
        name, arity = "cube", 1
        rule = "d/dx = 3x²"

        def forward(self, x):
            return x ** 3

        def partials(self, x, out):
            return (3 * x * x,)

        def sympy(self, x):
            return x ** 3

    assert derivative_rule(Cube()) == "∂/∂x = 3*x^2"
    monkeypatch.setitem(sys.modules, "sympy", None)  # as if sympy were not installed
    assert derivative_rule(Cube()) == "d/dx = 3x²"
    report = check_op(Cube())
    assert report.ok and "sympy is not installed: symbolic check skipped" in report.notes
    assert derivative_rule(Gaussian()) is None


def test_malformed_sample_points_are_reported():
    class Pair(Op):
        name, arity = "pair", 2
        sample_points = ((1.0, 2.0), (3.0,), ("a", 1.0))

        def forward(self, a, b):
            return a + b

        def partials(self, a, b, out):
            return (1.0, 1.0)

    report = check_op(Pair())
    assert [f.check for f in report.failures] == ["sample points", "sample points"]
    assert "sample point (3.0,) is not 2 number(s)" in report.failures[0].message
    assert report.points == [(1.0, 2.0)] and report.failures[0].disagreement is None

    class NotAList(Pair):
        sample_points = 5

    report = check_op(NotAList())
    assert "sample_points must be a sequence of points, got 5" in report.failures[0].message


def test_points_given_by_the_caller():
    report = check_op(Gaussian(), points=[0.5, (1.5,)])
    assert report.points == [(0.5,), (1.5,)]
    assert {f.point for f in report.failures} == {(0.5,), (1.5,)}


# --- every form an op gives is compared -----------------------------------------------

class Softplus(Op):
    """log(1 + e^x), given four ways: methods, templates, numpy forms, sympy."""
    name, arity = "softplus", 1
    py_forward = "_log(1.0 + _exp({0}))"
    py_partials = ("_sigmoid({0})",)

    def forward(self, x):
        return math.log1p(math.exp(x))

    def partials(self, x, out):
        return (1.0 / (1.0 + math.exp(-x)),)

    def np_forward(self, x):
        import numpy as np

        return np.log1p(np.exp(x))

    def np_partials(self, x, out):
        import numpy as np

        return (1.0 / (1.0 + np.exp(-x)),)

    def sympy(self, x):
        import sympy

        return sympy.log(1 + sympy.exp(x))


def test_an_op_giving_every_form_passes_when_they_agree():
    report = check_op(Softplus(), "module test")
    assert report.ok, [f.message for f in report.failures]
    assert report.checks == ["arity", "determinism", "finite differences", "template", "numpy",
                             "sympy"]


@pytest.mark.parametrize("attr, value, check, named", [
    ("py_partials", ("1.0 - _sigmoid({0})",), "template",
     "the template py_partials[0] '1.0 - _sigmoid({0})' gives"),
    ("py_forward", "_log(2.0 + _exp({0}))", "template",
     "the template py_forward '_log(2.0 + _exp({0}))' gives"),
    ("np_partials", lambda self, x, out: (out,), "numpy", "np_partials[0] gives"),
    ("np_forward", lambda self, x: x, "numpy", "np_forward gives"),
    ("np_forward", lambda self, x: x[:2], "numpy", "np_forward over 7 points does not give 7 numbers"),
    ("np_partials", lambda self, x, out: 1 / 0, "numpy", "np_partials raised ZeroDivisionError"),
])
def test_a_wrong_form_fails_the_check_naming_that_form(attr, value, check, named):
    wrong = type("Softplus", (Softplus,), {attr: value})
    report = check_op(wrong(), "module test")
    assert not report.ok
    assert {f.check for f in report.failures} == {check}, [f.message for f in report.failures]
    assert any(named in f.message for f in report.failures), [f.message for f in report.failures]
    # the scalar methods are right: nothing blames them
    assert not any(f.message.split(": ", 2)[-1].startswith("partials gives")
                   for f in report.failures if f.check == "finite differences")


def test_a_template_is_compared_with_partials_where_finite_differences_cannot_be_had():
    class Step(Op):  # relu's kink at every point: no smooth finite difference anywhere
        name, arity = "step", 1
        sample_points = ((0.5,), (1.5,))
        py_forward = "{0} if {0} > 1 else 0.0"
        py_partials = ("2.0 if {0} > 1 else 0.0",)

        def forward(self, x):
            return x if x > 1 else 0.0

        def partials(self, x, out):
            return (1.0 if x > 1 else 0.0,)

    report = check_op(Step(), "module test")
    wrong = [f for f in report.failures if f.check == "template"]
    assert [f.point for f in wrong] == [(1.5,)]
    assert "the template py_partials[0] '2.0 if {0} > 1 else 0.0' gives 2" in wrong[0].message


def test_derived_numpy_forms_are_checked_for_every_builtin_with_saturated_points():
    from graphdsl.ops.builtin import Sigmoid, Tanh

    for op in (Tanh(), Sigmoid()):
        report = check_op(op, "built-in", points=[(20.0,), (-37.0,), (11.0,), (0.3,)])
        assert report.ok, [f.message for f in report.failures]
        assert "numpy" in report.checks and "template" in report.checks


def test_saturated_tanh_and_sigmoid_keep_their_gradients():
    from graphdsl.ops.builtin import Sigmoid, Tanh

    tanh, sigmoid = Tanh(), Sigmoid()
    assert math.isclose(tanh.partials(20.0, tanh.forward(20.0))[0],
                        4 / (math.exp(20) + math.exp(-20)) ** 2, rel_tol=1e-12)
    for x in (37.0, 11.0, -37.0, -11.0, 0.0, -700.0):
        want = math.exp(-abs(x)) / (1 + math.exp(-abs(x))) ** 2
        assert math.isclose(sigmoid.partials(x, sigmoid.forward(x))[0], want, rel_tol=1e-12), x
    for x in (11.0, -11.0, 0.5, 300.0):
        want = 4 / (math.exp(x) + math.exp(-x)) ** 2
        assert math.isclose(tanh.partials(x, tanh.forward(x))[0], want, rel_tol=1e-12), x
    assert tanh.partials(800.0, 1.0) == (0.0,)  # cosh overflows: the derivative underflows to 0
    # sympy's rules are exact; evaluated, they keep the same precision
    import sympy

    x = sympy.Symbol("x", real=True)
    d = sympy.diff(tanh.sympy(x), x)
    assert math.isclose(float(d.subs(x, 20).evalf()), 4 / (math.exp(20) + math.exp(-20)) ** 2,
                        rel_tol=1e-12)
    d = sympy.diff(sigmoid.sympy(x), x)
    assert math.isclose(float(d.subs(x, 37).evalf()), math.exp(-37) / (1 + math.exp(-37)) ** 2,
                        rel_tol=1e-12)


def test_the_whole_model_keeps_saturated_gradients():
    import graphdsl

    m = graphdsl.loads("param x = 20\nz = tanh(x)")
    assert math.isclose(m.gradients()["x"], 4 / (math.exp(20) + math.exp(-20)) ** 2, rel_tol=1e-12)
    m.compiled.generate()  # the generated code, made from the same template
    assert math.isclose(m.gradients()["x"], 4 / (math.exp(20) + math.exp(-20)) ** 2, rel_tol=1e-12)
    m = graphdsl.loads("param x = 37\nz = sigmoid(x)")
    assert math.isclose(m.gradients()["x"], math.exp(-37) / (1 + math.exp(-37)) ** 2, rel_tol=1e-12)
