"""Batch evaluation agrees with the scalar engine, sample by sample."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphdsl
from graphdsl.batch import evaluate
from graphdsl.errors import UsageError
from graphdsl.ops import Op, default_registry

from test_engine_compiled import random_text, registry


@pytest.mark.parametrize("seed", range(6))
def test_batch_agrees_with_scalar_evaluation(seed):
    reg = registry()  # includes `cube`, a plugin op with no numpy forms
    text = random_text(seed, statements=40)
    m = graphdsl.loads(text, registry=reg)
    rng = np.random.default_rng(seed)
    xs = {"p0": rng.uniform(-1, 1, 25), "p2": rng.uniform(-1, 1, 25)}
    r = evaluate(m, xs)
    assert r.size == 25 and r.ok.all()
    for i in range(25):
        s = graphdsl.loads(text, registry=reg).set(p0=float(xs["p0"][i]), p2=float(xs["p2"][i]))
        values, grads = s.forward(), s.gradients()
        for n in values:
            assert math.isclose(r.values[n][i], values[n], rel_tol=1e-12, abs_tol=1e-12), n
            assert math.isclose(r.gradients[n][i], grads[n], rel_tol=1e-9, abs_tol=1e-12), n


def test_every_builtin_op_has_numpy_forms_that_match_its_scalar_forms():
    reg = default_registry(entry_points=False)
    xs = np.array([-1.7, -0.3, 0.4, 1.2, 2.5])
    ys = np.array([0.5, 2.0, -1.5, 3.0, 0.25])
    for name, op, _origin in reg.items():
        assert op.np_forward is not None and op.np_partials is not None, name
        args = [xs, ys][: op.arity]
        if name in ("log", "sqrt"):
            args = [np.abs(xs) + 0.1]
        if name == "pow":
            args = [np.abs(xs) + 0.1, ys]
        out = op.np_forward(*args)
        ps = op.np_partials(*args, out)
        for i in range(len(xs)):
            row = [float(a[i]) for a in args]
            o = op.forward(*row)
            assert math.isclose(np.broadcast_to(out, xs.shape)[i], o, rel_tol=1e-12), name
            for p, q in zip(ps, op.partials(*row, o)):
                assert math.isclose(np.broadcast_to(p, xs.shape)[i], q, rel_tol=1e-12,
                                    abs_tol=1e-15), name


def test_model_methods_and_the_seed():
    m = graphdsl.loads("param w = 3\nparam b = 4\nz = x*y\nx = 2*w + 3*b\ny = 2*b + 1")
    values = m.batch_forward({"b": [4.0, 3.903263]})
    assert values["z"][0] == 162.0 and values["w"].tolist() == [3.0, 3.0]
    grads = m.batch_gradients({"b": [4.0], "w": [3.0]})
    assert grads["b"].tolist() == [63.0] and grads["w"].tolist() == [18.0]
    assert m.batch_gradients({"b": [4.0]}, wrt="x")["b"].tolist() == [3.0]


def test_a_sample_outside_a_domain_is_nan_and_not_ok():
    m = graphdsl.loads("param x = 1\ny = log(x) * cube(x)", registry=registry())
    r = evaluate(m, {"x": [1.0, -1.0, np.e]})
    assert r.ok.tolist() == [True, False, True]
    assert math.isnan(r.values["y"][1])
    assert r.values["y"][2] == pytest.approx(np.e ** 3)
    assert "1 not finite" in repr(r)


def test_plugin_op_failing_for_one_sample_gives_nan_for_that_sample_only():
    class Inv(Op):
        name, arity = "inv", 1

        def forward(self, x):
            return 1.0 / x

        def partials(self, x, out):
            return (-out * out,)

    reg = default_registry(entry_points=False).copy()
    reg.register(Inv, "test")
    m = graphdsl.loads("param x = 1\ny = inv(x)", registry=reg)
    r = evaluate(m, {"x": [2.0, 0.0, 4.0]})
    assert r.values["y"][0] == 0.5 and math.isnan(r.values["y"][1]) and r.values["y"][2] == 0.25
    assert r.gradients["x"][0] == -0.25 and r.ok.tolist() == [True, False, True]


def test_results_do_not_alias_the_inputs_or_each_other():
    m = graphdsl.loads("param x = 1\ny = x\nz = y * 2")
    xs = np.array([1.0, 2.0])
    r = evaluate(m, {"x": xs})
    r.values["x"][0] = 99.0
    r.values["y"][1] = -5.0
    assert xs.tolist() == [1.0, 2.0]
    assert r.values["z"].tolist() == [2.0, 4.0]
    assert r.values["y"][0] == 1.0


def test_wrong_names_and_lengths_are_usage_errors():
    m = graphdsl.loads("param w = 3\nparam b = 4\nz = w*b")
    with pytest.raises(UsageError, match="cannot vary 'z'"):
        evaluate(m, {"z": [1.0]})
    with pytest.raises(UsageError, match="did you mean 'w'"):
        evaluate(m, {"ww": [1.0]})
    with pytest.raises(UsageError, match="same number"):
        evaluate(m, {"w": [1.0, 2.0], "b": [1.0, 2.0, 3.0]})
    # a scalar is one value for every sample
    r = evaluate(m, {"w": 2.0, "b": [1.0, 2.0]})
    assert r.values["z"].tolist() == [2.0, 4.0]
    assert r.gradients["w"].tolist() == [1.0, 2.0]


def _plain(m, xs, wrt=None):
    """The reference for the fast path: one new array per op, straight from each
    op's ``np_forward``/``np_partials`` (per sample for a plugin op without
    them), adjoints summed in the same order."""
    from graphdsl.batch import _per_sample, _per_sample_partials

    c = m.compiled
    n = len(next(iter(xs.values())))
    vals = list(c.init)
    for p, v in m.param_values.items():
        vals[c.index[p]] = float(v)
    for name, a in xs.items():
        vals[c.index[name]] = np.asarray(a, dtype=float)
    with np.errstate(all="ignore"):
        for k, op in enumerate(c.ops):
            if op is not None:
                args = [vals[j] for j in c.args[k]]
                vals[k] = (op.np_forward(*args) if op.np_forward is not None
                           else _per_sample(np, op.forward, args, n))
        start = c.output if wrt is None else c.index[wrt]
        adj = [None] * len(vals)
        adj[start] = 1.0
        for k in range(start, -1, -1):
            op = c.ops[k]
            if op is None or adj[k] is None:
                continue
            args = [vals[j] for j in c.args[k]]
            ds = (op.np_partials(*args, vals[k]) if op.np_partials is not None
                  else _per_sample_partials(np, op.partials, args + [vals[k]], n, len(args)))
            for j, d in zip(c.args[k], ds):
                term = adj[k] * d
                adj[j] = term if adj[j] is None else adj[j] + term
    full = lambda x: np.broadcast_to(0.0 if x is None else x, (n,))  # noqa: E731
    return ({nm: full(vals[c.index[nm]]) for nm in c.named},
            {nm: full(adj[c.index[nm]]) for nm in c.named})


@pytest.mark.parametrize("seed", range(4))
def test_the_fast_path_gives_exactly_the_plain_numpy_results(seed):
    # builtin ops run in place (out=) with their derivatives fused: the same
    # float operations in the same order, so the same bits, NaN and inf included
    m = graphdsl.loads(random_text(seed, statements=50, shuffle=False)
                       + "q = sigmoid(p1) / (p0 - p1)\nr = exp(-q) - tanh(q)\n", registry=registry())
    rng = np.random.default_rng(seed)
    n = 40
    # twice with one set of varied params (a kept plan and work block), then
    # another set and size, then one param alone (the rest stay plain numbers)
    for xs in ({"p0": rng.uniform(-2, 2, n), "p1": rng.uniform(-2, 2, n), "p2": rng.uniform(-2, 2, n)},
               {"p0": rng.uniform(-2, 2, n), "p1": rng.uniform(-2, 2, n), "p2": rng.uniform(-2, 2, n)},
               {"p1": np.array([0.0, np.inf, -np.inf, np.nan, 1e308, -3.0]),
                "p0": np.array([0.0, 1.0, 2.0, 3.0, 1e308, -3.0])},
               {"p2": rng.uniform(-2, 2, n)}):
        for wrt in (None, "q", "p1"):
            r = evaluate(m, xs, wrt=wrt)
            want_v, want_g = _plain(m, xs, wrt)
            for name in want_v:
                np.testing.assert_array_equal(r.values[name], want_v[name], err_msg=name)
                np.testing.assert_array_equal(r.gradients[name], want_g[name], err_msg=name)
            ok = np.ones(r.size, dtype=bool)
            for a in list(want_v.values()) + list(want_g.values()):
                ok &= np.isfinite(a)
            assert r.ok.tolist() == ok.tolist()


def test_a_plugin_op_built_on_a_builtin_runs_its_own_code():
    from graphdsl.ops.builtin import Tanh

    class Twice(Tanh):  # a builtin's subclass: the builtin's in-place kernel must not run
        name = "twice"

        def forward(self, x):
            return 2.0 * x

        def partials(self, x, out):
            return (2.0,)

        def np_forward(self, x):
            return 2.0 * x

        def np_partials(self, x, out):
            return (2.0,)

    reg = default_registry(entry_points=False)
    reg.register(Twice, "module test")
    m = graphdsl.loads("param x = 1\ny = twice(x) * x", registry=reg)
    r = evaluate(m, {"x": [1.0, 3.0]})
    assert r.values["y"].tolist() == [2.0, 18.0] and r.gradients["x"].tolist() == [4.0, 12.0]
