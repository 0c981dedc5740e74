"""Batch evaluation agrees with the scalar engine, sample by sample."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

import graphdsl
from graphdsl.batch import evaluate, op_arrays
from graphdsl.errors import PluginError, UsageError
from graphdsl.ops import Op, default_registry, forms

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


def test_every_builtin_op_runs_over_arrays_by_code_made_from_its_templates():
    reg = default_registry(entry_points=False)
    xs = np.array([-1.7, -0.3, 0.4, 1.2, 2.5])
    ys = np.array([0.5, 2.0, -1.5, 3.0, 0.25])
    for name, op, _origin in reg.items():
        assert op_arrays(op).how == "templates", name
        np_forward, np_partials = forms.numpy_forms(op)
        args = [xs, ys][: op.arity]
        if name in ("log", "sqrt"):
            args = [np.abs(xs) + 0.1]
        if name == "pow":
            args = [np.abs(xs) + 0.1, ys]
        out = np_forward(*args)
        ps = np_partials(*args, out)
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
    """The reference for the fast path: one new array per op, from each op's
    plain numpy forms (made from its templates) or, for a plugin op without
    them, its scalar forms sample by sample; adjoints summed in the same order."""
    c = m.compiled
    n = len(next(iter(xs.values())))
    vals = list(c.init)
    for p, v in m.param_values.items():
        vals[c.index[p]] = float(v)
    for name, a in xs.items():
        vals[c.index[name]] = np.asarray(a, dtype=float)

    def per_sample(f, args, count=None):
        cols = [np.broadcast_to(np.asarray(x, dtype=float), (n,)) for x in args]
        rows = []
        for i in range(n):
            try:
                rows.append(f(*[float(col[i]) for col in cols]))
            except (ValueError, ZeroDivisionError, OverflowError):
                rows.append(math.nan if count is None else (math.nan,) * count)
        return np.array(rows) if count is None else tuple(np.array(rows).T)

    with np.errstate(all="ignore"):
        for k, op in enumerate(c.ops):
            if op is not None:
                args = [vals[j] for j in c.args[k]]
                fw, _bw = forms.numpy_forms(op)
                vals[k] = fw(*args) if fw is not None else per_sample(op.forward, args)
        start = c.output if wrt is None else c.index[wrt]
        adj = [None] * len(vals)
        adj[start] = 1.0
        for k in range(start, -1, -1):
            op = c.ops[k]
            if op is None or adj[k] is None:
                continue
            args = [vals[j] for j in c.args[k]]
            _fw, bw = forms.numpy_forms(op)
            ds = (bw(*args, vals[k]) if bw is not None
                  else per_sample(op.partials, args + [vals[k]], len(args)))
            for j, d in zip(c.args[k], ds):
                term = adj[k] * d
                adj[j] = term if adj[j] is None else adj[j] + term
    full = lambda x: np.broadcast_to(0.0 if x is None else x, (n,))  # noqa: E731
    return ({nm: full(vals[c.index[nm]]) for nm in c.named},
            {nm: full(adj[c.index[nm]]) for nm in c.named})


@pytest.mark.parametrize("seed", range(4))
def test_the_fast_path_gives_exactly_the_plain_numpy_results(seed):
    # ops run in place (out=) into kept rows, partials multiplied and added into
    # the adjoints' rows: the same float operations in the same order as the
    # plain numpy forms, so the same bits wherever the sample is ok
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
            finite = np.ones(r.size, dtype=bool)
            for a in list(want_v.values()) + list(want_g.values()):
                finite &= np.isfinite(a)
            # a sample the scalar engine evaluates has finite numbers throughout
            assert not (r.ok & ~finite).any()
            for name in want_v:
                np.testing.assert_array_equal(r.values[name][r.ok], want_v[name][r.ok], err_msg=name)
                np.testing.assert_array_equal(r.gradients[name][r.ok], want_g[name][r.ok],
                                              err_msg=name)
                assert np.isnan(r.gradients[name][~r.ok]).all()
            if len(xs) == 3:  # values well inside every domain
                assert r.ok.sum() >= n - 2


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


# --- each sample means what the scalar engine means ---------------------------------

def _scalar(text, reg, setting, wrt=None):
    """(values, gradients) of one sample by the scalar engine, or None where it raises."""
    m = graphdsl.loads(text, registry=reg).set(**setting)
    c = m.compiled
    try:
        vals = c.forward({p: float(v) for p, v in m.param_values.items()})
        adj = c.backward(vals, None if wrt is None else c.index[wrt])
    except graphdsl.errors.NumericError:
        return None
    return ({n: vals[c.index[n]] for n in c.named}, {n: adj[c.index[n]] for n in c.named})


def _agrees(text, reg, xs, wrt=None):
    m = graphdsl.loads(text, registry=reg)
    r = evaluate(m, xs, wrt=wrt)
    size = r.size
    for i in range(size):
        want = _scalar(text, reg, {p: float(a[i]) for p, a in xs.items()}, wrt)
        assert bool(r.ok[i]) == (want is not None), (i, {p: a[i] for p, a in xs.items()})
        if want is None:
            assert all(math.isnan(g[i]) for g in r.gradients.values())
            continue
        for name, v in want[0].items():
            assert math.isclose(r.values[name][i], v, rel_tol=1e-9, abs_tol=1e-12), (name, i)
        for name, g in want[1].items():
            assert math.isclose(r.gradients[name][i], g, rel_tol=1e-7, abs_tol=1e-9), (name, i)
    return r


def test_a_zero_adjoint_meeting_an_infinite_partial_gives_0_as_the_engine_does():
    # relu is off (its partial is 0), its operand is sqrt at 0 (partial inf): the
    # engine skips the op whose adjoint is 0; 0 * inf must not become NaN here
    text = "param x = 1\nz = relu(sqrt(x) - 1) + 2*x\n"
    r = _agrees(text, registry(), {"x": np.array([0.0, 4.0, 0.25])})
    assert r.ok.tolist() == [True, True, True]
    assert r.gradients["x"].tolist() == [2.0, 2.25, 2.0]


def test_a_division_by_zero_that_a_later_op_absorbs_is_not_ok():
    # 1/0 raises in the engine; numpy's inf would be absorbed by exp(-inf) = 0
    text = "param x = 1\nz = exp(-1/x) + x\n"
    r = _agrees(text, registry(), {"x": np.array([0.5, 0.0, 2.0])})
    assert r.ok.tolist() == [True, False, True]
    assert r.values["z"][1] == 0.0  # what the arithmetic gave; the sample is still not ok
    assert math.isnan(r.gradients["x"][1])
    r = evaluate(graphdsl.loads(text), {"x": np.array([0.5, 0.0])}, gradients=False)
    assert r.ok.tolist() == [True, False]


def test_a_derivative_that_overflows_is_not_ok():
    # log(1e-320) is finite, its derivative 1/x is not: the engine raises for it
    text = "param w = 1\nz = log(w)\n"
    r = _agrees(text, registry(), {"w": np.array([1e-320, 1.0])})
    assert r.ok.tolist() == [False, True]
    assert graphdsl.loads(text).batch_forward({"w": [1e-320]})["z"][0] == math.log(1e-320)


# Forms with domains, kinks and poles, so that samples land outside them.
RISKY = ["{a}*{b}", "{a} + {b}", "1/{a}", "log({a})", "sqrt({a})", "relu({a} - 1)", "exp({a})",
         "{a}^{b}", "exp(-1/{a})", "tanh({a})*{b}", "sigmoid({a})", "abs({a}) - {b}",
         "{a}/({b} - 1)", "relu(sqrt({a}) - 1)", "cube({a})", "-{a}", "square({a})", "{a}^2",
         "(1 + {a}*{a})^0.5", "sin({a})/{b}", "tan({a})"]
VALUES = [0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 1e-320, 800.0, -800.0, 3.0, 1e155, -0.0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forms_=st.lists(st.tuples(st.sampled_from(RISKY), st.integers(0, 50), st.integers(0, 50)),
                       min_size=1, max_size=8),
       samples=st.lists(st.tuples(st.sampled_from(VALUES), st.sampled_from(VALUES)),
                        min_size=1, max_size=6),
       wrt_last=st.booleans())
def test_batch_equals_the_scalar_engine_on_random_models(forms_, samples, wrt_last):
    names = ["p0", "p1"]
    lines = ["param p0 = 1", "param p1 = 2"]
    for k, (form, i, j) in enumerate(forms_):
        lines.append(f"s{k} = " + form.format(a=names[i % len(names)], b=names[j % len(names)]))
        names.append(f"s{k}")
    lines.append(f"output s{len(forms_) - 1}")
    text = "\n".join(lines) + "\n"
    xs = {"p0": np.array([a for a, _b in samples]), "p1": np.array([b for _a, b in samples])}
    _agrees(text, registry(), xs, wrt="s0" if wrt_last else None)


# --- every form an op gives is used ---------------------------------------------------

def _counting_registry(calls, **extra):
    class Twice(Op):
        name, arity = "twice", 1

        def forward(self, x):
            calls["forward"] += 1
            return 2.0 * x

        def partials(self, x, out):
            calls["partials"] += 1
            return (2.0,)

        def np_forward(self, x):
            calls["np_forward"] += 1
            return 2.0 * x

        def np_partials(self, x, out):
            calls["np_partials"] += 1
            return (2.0,)

    for k, v in extra.items():
        setattr(Twice, k, v)
    reg = default_registry(entry_points=False)
    reg.register(Twice, "module counting")
    return reg


def test_a_plugins_numpy_forms_are_called_once_per_batch_not_per_sample():
    calls = dict.fromkeys(("forward", "partials", "np_forward", "np_partials"), 0)
    m = graphdsl.loads("param x = 1\ny = twice(x) * x", registry=_counting_registry(calls))
    r = evaluate(m, {"x": np.linspace(-1, 1, 500)})
    assert calls == {"forward": 0, "partials": 0, "np_forward": 1, "np_partials": 1}
    assert np.allclose(r.gradients["x"], 4.0 * np.linspace(-1, 1, 500))
    assert op_arrays(m.registry.get("twice")).how == "numpy"


@pytest.mark.parametrize("form, result, expected", [
    ("np_forward", lambda self, x: np.ones(3), "np_forward returned an array of shape (3,)"),
    ("np_forward", lambda self, x: 1 / 0, "np_forward raised ZeroDivisionError"),
    ("np_forward", lambda self, x: "two", "np_forward returned 'two', not numbers"),
    ("np_partials", lambda self, x, out: (1.0, 2.0), "np_partials returned 2 values for 1 operand"),
    ("np_partials", lambda self, x, out: (np.ones(4),), "np_partials returned an array of shape (4,)"),
])
def test_a_broken_numpy_form_is_a_plugin_error_naming_the_op(form, result, expected):
    calls = dict.fromkeys(("forward", "partials", "np_forward", "np_partials"), 0)
    m = graphdsl.loads("param x = 1\ny = twice(x)", registry=_counting_registry(calls, **{form: result}))
    with pytest.raises(PluginError) as e:
        evaluate(m, {"x": [1.0, 2.0]})
    assert "the op 'twice' from module counting" in e.value.message
    assert expected in e.value.message


def test_a_plugins_templates_are_used_in_generated_code_and_batch():
    class Softplus(Op):
        name, arity = "softplus", 1
        py_forward = "_log(1.0 + _exp({0}))"
        py_partials = ("_sigmoid({0})",)

    reg = default_registry(entry_points=False)
    reg.register(Softplus, "module test")
    m = graphdsl.loads("param x = 1\ny = softplus(x)", registry=reg)
    assert op_arrays(reg.get("softplus")).how == "templates"
    m.compiled.generate()
    assert "_log(1.0 + _exp(" in m.compiled.generated_source()
    r = evaluate(m, {"x": [0.0, 1.0]})
    assert r.values["y"][0] == math.log(2.0) and r.gradients["x"].tolist() == [0.5, 1 / (1 + math.exp(-1))]


# --- saturated tanh and sigmoid keep their gradients ----------------------------------

def test_saturated_tanh_and_sigmoid_gradients_keep_their_precision_in_batch():
    m = graphdsl.loads("param x = 1\nt = tanh(x)\ns = sigmoid(x)\nz = t + s")
    xs = np.array([20.0, 11.0, 37.0, -37.0, 0.5])
    r = evaluate(m, {"x": xs}, wrt="t")
    for x, g in zip(xs, r.gradients["x"]):
        assert math.isclose(g, 4 / (math.exp(x) + math.exp(-x)) ** 2, rel_tol=1e-12)
    r = evaluate(m, {"x": xs}, wrt="s")
    for x, g in zip(xs, r.gradients["x"]):
        assert math.isclose(g, math.exp(-abs(x)) / (1 + math.exp(-abs(x))) ** 2, rel_tol=1e-12)
