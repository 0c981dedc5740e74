"""Derivatives are checked, not trusted.

- every built-in op's partials against central finite differences;
- random models (hypothesis) against sympy, with the sympy expression built
  by the test from the same random tree, never through graphdsl's parser or ops.
"""

from __future__ import annotations


import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings, strategies as st

import graphdsl
from graphdsl.ops import default_registry
from graphdsl.ops.builtin import BUILTIN_OPS

# Points inside each op's domain, away from kinks (relu and abs at 0).
POINTS = {
    1: [-2.3, -0.7, 0.4, 1.9],
    2: [(-1.5, 2.5), (0.7, -1.2), (3.1, 0.6), (2.0, 3.0)],
}
DOMAIN = {
    "log": [0.3, 1.0, 4.5], "sqrt": [0.2, 1.0, 9.0],
    "pow": [(1.5, 2.5), (0.7, -1.2), (3.1, 0.6), (2.0, 3.0)],
    "tan": [-1.2, 0.3, 1.0],
}


def central(f, args, i, h):
    up = list(args)
    dn = list(args)
    up[i] += h
    dn[i] -= h
    return (f(*up) - f(*dn)) / (2 * h)


@pytest.mark.parametrize("op_cls", BUILTIN_OPS, ids=lambda c: c.name)
def test_builtin_partials_match_central_differences(op_cls):
    op = op_cls()
    points = DOMAIN.get(op.name, POINTS[op.arity])
    for p in points:
        args = (p,) if op.arity == 1 else tuple(p)
        out = op.forward(*args)
        ps = op.partials(*args, out)
        assert len(ps) == op.arity
        for i in range(op.arity):
            h = 1e-6 * max(1.0, abs(args[i]))
            fd = central(op.forward, args, i, h)
            assert ps[i] == pytest.approx(fd, rel=1e-6, abs=1e-7), (op.name, args, i)


@pytest.mark.parametrize("op_cls", [c for c in BUILTIN_OPS if not c.reduces],
                         ids=lambda c: c.name)
def test_builtin_sympy_form_agrees_with_forward(op_cls):
    op = op_cls()
    points = DOMAIN.get(op.name, POINTS[op.arity])
    syms = sp.symbols(f"a0:{op.arity}", real=True)
    expr = op.sympy(*syms)
    for p in points:
        args = (p,) if op.arity == 1 else tuple(p)
        subs = dict(zip(syms, args))
        assert float(expr.subs(subs)) == pytest.approx(op.forward(*args), rel=1e-12)
        for i, s in enumerate(syms):
            want = float(sp.diff(expr, s).subs(subs))
            assert op.partials(*args, op.forward(*args))[i] == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("op_cls", [c for c in BUILTIN_OPS if c.reduces], ids=lambda c: c.name)
def test_a_reduction_is_its_weight_times_the_sum_over_the_samples(op_cls):
    """mean and sum have no sympy form of one operand: they are checked over
    samples, against weight(n)·Σxᵢ written in sympy, with the sample evaluator's
    value and ∂result/∂param (the per-sample adjoints: tests/test_onesample.py)."""
    op = op_cls()
    xs = [0.5, -1.25, 3.0, 2.0, 7.5]
    w = sp.Symbol("w")
    expr = sp.nsimplify(op.weight(len(xs))) * sp.Add(*[(w * sp.nsimplify(x)) ** 2 for x in xs])
    m = graphdsl.loads(f"data x = [{', '.join(map(str, xs))}]\nparam w = 1.5\n"
                       f"loss = {op.name}((w*x)^2)")
    r = m.samples.evaluate(m.param_values, m.data)
    assert r.values["loss"] == pytest.approx(float(expr.subs(w, 1.5)), rel=1e-14)
    assert r.gradients["w"] == pytest.approx(float(sp.diff(expr, w).subs(w, 1.5)), rel=1e-14)
    assert op.weight(len(xs)) == (1 / len(xs) if op.name == "mean" else 1.0)


def test_pow_of_a_negative_base_with_a_whole_exponent():
    op = default_registry(entry_points=False).get("pow")
    for a, b in [(-2.0, 3.0), (-1.5, 2.0), (-0.5, -3.0)]:
        out = op.forward(a, b)
        assert out == a ** b
        da, db = op.partials(a, b, out)
        assert da == pytest.approx(central(op.forward, (a, b), 0, 1e-6), rel=1e-6)
        # a^b for real a < 0 only exists at whole b: nothing can vary b there
        assert db == 0.0
    assert op.domain(-2.0, 0.5) is not None and op.domain(0.0, -1.0) is not None


# --- random models against sympy -------------------------------------------------

PARAMS = ("a", "b", "c")
SYM = {p: sp.Symbol(p, real=True) for p in PARAMS}


def leaf():
    return st.one_of(
        st.sampled_from(PARAMS).map(lambda p: (p, lambda env, p=p: env[p])),
        st.integers(1, 5).map(lambda k: (str(k), lambda env, k=k: sp.Integer(k))),
        st.sampled_from([0.5, 1.25, 2.5]).map(lambda x: (repr(x), lambda env, x=x: sp.Rational(str(x)))),
    )


def grow(children):
    def binary(sym, fn):
        return st.tuples(children, children).map(
            lambda ab: (f"({ab[0][0]} {sym} {ab[1][0]})",
                        lambda env, a=ab[0][1], b=ab[1][1]: fn(a(env), b(env))))

    def unary(text, fn):
        return children.map(lambda a: (text.format(a[0]), lambda env, f=a[1]: fn(f(env))))

    return st.one_of(
        binary("+", lambda x, y: x + y),
        binary("-", lambda x, y: x - y),
        binary("*", lambda x, y: x * y),
        # denominators kept away from zero
        st.tuples(children, children).map(
            lambda ab: (f"({ab[0][0]} / (1 + square({ab[1][0]})))",
                        lambda env, a=ab[0][1], b=ab[1][1]: a(env) / (1 + b(env) ** 2))),
        unary("({})^2", lambda x: x ** 2),
        unary("({})**3", lambda x: x ** 3),
        unary("-({})", lambda x: -x),
        unary("sin({})", sp.sin),
        unary("cos({})", sp.cos),
        unary("tanh({})", sp.tanh),
        unary("sigmoid({})", lambda x: 1 / (1 + sp.exp(-x))),
        unary("exp(tanh({}))", lambda x: sp.exp(sp.tanh(x))),
        unary("log(1 + square({}))", lambda x: sp.log(1 + x ** 2)),
        unary("sqrt(2 + sin({}))", lambda x: sp.sqrt(2 + sp.sin(x))),
    )


EXPR = st.recursive(leaf(), grow, max_leaves=8)


@st.composite
def models(draw):
    """2–4 named statements, each may use the params and the earlier statements,
    so values are shared and gradients must add along several paths."""
    n = draw(st.integers(2, 4))
    lines, env_builders = [], []
    for i in range(n):
        text, build = draw(EXPR)
        names = [f"s{j}" for j in range(i)]
        # mix earlier statements in, so the DAG has shared nodes
        if names:
            k = draw(st.sampled_from(names))
            m2 = draw(st.sampled_from(names))
            text = f"{text} + {k} * {m2}"
            build = (lambda b, k, m2: lambda env: b(env) + env[k] * env[m2])(build, k, m2)
        lines.append(f"s{i} = {text}")
        env_builders.append((f"s{i}", build))
    vals = draw(st.tuples(*[st.floats(-2, 2, allow_nan=False).map(lambda x: round(x, 3))
                            for _ in PARAMS]))
    return lines, env_builders, dict(zip(PARAMS, vals))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_random_models_agree_with_sympy(model):
    lines, builders, point = model
    text = "\n".join([f"param {p} = {point[p]}" for p in PARAMS] + lines
                     + [f"output s{len(lines) - 1}"])
    env = dict(SYM)
    for name, build in builders:
        env[name] = build(env)
    out_expr = env[f"s{len(lines) - 1}"]
    m = graphdsl.loads(text, registry=default_registry(entry_points=False))
    got_value = m.forward()[m.output]
    subs = {SYM[p]: sp.Float(point[p], 30) for p in PARAMS}
    want_value = float(out_expr.evalf(30, subs=subs))
    assert got_value == pytest.approx(want_value, rel=1e-9, abs=1e-9)
    grads = m.gradients()
    for p in PARAMS:
        want = float(sp.diff(out_expr, SYM[p]).evalf(30, subs=subs))
        assert grads[p] == pytest.approx(want, rel=1e-8, abs=1e-8), (p, text)
