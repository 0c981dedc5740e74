"""One sample of a data model (graphdsl.onesample): per-sample values, adjoints
and contributions, checked against sympy over the whole data set, and the
contributions of every sample adding up to the engine's gradient."""

from __future__ import annotations

import math

import pytest
import sympy as sp

import graphdsl
from graphdsl.errors import UsageError
from graphdsl.onesample import SampleView

from conftest import MODELS

NESTED = """data x = [1, 2, 4, -1]
data y = [0.5, 1, 3, -2]
param w = 0.7
param b = -0.2
c = x - mean(x)                 # a reduction used again per sample
pred = w*c + b*y
loss = mean((pred - y)^2) + 0.1*w^2 + sum(b*c)/4
"""

SUM = """data x = [0.5, 1.5, 2]
param a = 1.2
h = sigmoid(a*x) * log(1 + x^2)
loss = sum(h) * mean(h) + a
"""


def models():
    return [
        graphdsl.load(MODELS / "regression.bp", data=MODELS / "data" / "regression.csv"),
        graphdsl.load(MODELS / "neuron.bp", data=MODELS / "data" / "neuron.csv").set(
            w1=0.3, w2=-0.5, b=0.1),
        graphdsl.load(MODELS / "xor.bp"),
        graphdsl.loads(NESTED),
        graphdsl.loads(SUM),
    ]


def oracle(model, free=None):
    """The output as a sympy expression over every sample, built node by node
    from each op's sympy form; ``free`` = (position, sample) is replaced by the
    symbol t, so d/dt is that copy's adjoint."""
    c = model.compiled
    fg = c.flat
    n = model.data.n
    t = sp.Symbol("t")
    params = {p: sp.Symbol(p) for p in c.params}
    per = model.samples.per
    expr = []
    for pos in range(len(c.ops)):
        kind, op = fg.kind[pos], c.ops[pos]
        if kind == "data":
            e = [sp.nsimplify(float(v)) for v in model.data.columns[fg.name[pos]]]
        elif kind == "param":
            e = params[fg.name[pos]]
        elif op is None:
            e = sp.nsimplify(c.init[pos])
        elif op.reduces:
            e = sp.Rational(1, n) * sp.Add(*expr[c.args[pos][0]]) if op.name == "mean" \
                else sp.Add(*expr[c.args[pos][0]])
        elif per[pos]:
            e = [op.sympy(*[expr[j][i] if per[j] else expr[j] for j in c.args[pos]])
                 for i in range(n)]
        else:
            e = op.sympy(*[expr[j] for j in c.args[pos]])
        if free is not None and free[0] == pos:
            e = list(e)
            e[free[1]] = t
        expr.append(e)
    values = {params[p]: sp.nsimplify(model.param_values[p]) for p in c.params}
    return expr[c.output], t, params, values


@pytest.mark.parametrize("model", models(), ids=["regression", "neuron", "xor", "nested", "sum"])
def test_contributions_of_every_sample_add_up_to_the_gradient(model):
    view = SampleView(model)
    grads = model.gradients()
    for p in model.params:
        total = view.at(0).direct[p] + math.fsum(view.at(k).contributions[p]
                                                 for k in range(view.n))
        assert total == pytest.approx(grads[p], rel=1e-12, abs=1e-12)
        assert view.at(0).totals[p] == pytest.approx(grads[p], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("model", models()[2:], ids=["xor", "nested", "sum"])
def test_per_sample_adjoints_and_values_against_sympy(model):
    view = SampleView(model)
    c = model.compiled
    per = model.samples.per
    full, _t, params, at = oracle(model)
    for k in range(view.n):
        s = view.at(k)
        for name in s.per_sample:
            pos = c.index[name]
            if model.flat.kind[pos] != "op":
                continue
            expr, t, _p, at = oracle(model, free=(pos, k))
            value = s.values[name]
            exact = sp.diff(expr, t).subs(at).subs(t, sp.nsimplify(value))
            assert s.adjoints[name] == pytest.approx(float(exact), rel=1e-9, abs=1e-12), name
        for p, sym in params.items():
            # the param's own adjoint: the derivative of the whole sum
            assert s.totals[p] == pytest.approx(float(sp.diff(full, sym).subs(at)), rel=1e-9)
    assert not per[c.output]


def test_regression_sample_numbers_by_hand():
    m = graphdsl.loads("data x = [1, 2, 3]\ndata y = [1, 1, 1]\nparam w = 2\nparam b = 0\n"
                       "pred = w*x + b\nloss = mean((pred - y)^2)")
    s = SampleView(m).at(1)
    assert s.row == 2 and s.values["x"] == 2.0 and s.values["pred"] == 4.0
    assert s.adjoints["pred"] == pytest.approx(2 * (4 - 1) / 3, rel=1e-15)
    assert s.contributions == {"w": pytest.approx(4.0), "b": pytest.approx(2.0),
                               "loss": 0.0}
    assert s.partials[("x", "pred")] == 2.0 and s.partials[("w", "pred")] == 2.0
    assert s.adjoints["loss"] == 1.0 and s.direct["w"] == 0.0
    # the reduction's edge is its weight, 1/n
    assert s.partials[("pred", "loss")] == pytest.approx(2 * (4 - 1) / 3)


def test_a_sample_number_outside_the_data_is_refused():
    view = SampleView(graphdsl.load(MODELS / "xor.bp"))
    assert view.check_sample(4) == 3
    for bad in (0, 5, -1):
        with pytest.raises(UsageError, match="the data has 4 samples"):
            view.check_sample(bad)
    with pytest.raises(UsageError, match="no data columns"):
        SampleView(graphdsl.load(MODELS / "linear.bp"))
