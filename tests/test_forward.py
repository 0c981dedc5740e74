"""Forward mode: tangents ∂node/∂p pushed from one param, on the tape and in
generated code, checked against reverse mode, central finite differences and
sympy (whose expressions the test builds itself, not through graphdsl's ops)."""

from __future__ import annotations

import math
import re

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings, strategies as st

import graphdsl
from graphdsl import engine
from graphdsl.engine import Compiled
from graphdsl.errors import NumericError, UsageError
from graphdsl.ops import default_registry, forms

from conftest import Cube  # a plugin op with neither templates nor numpy forms


def registry():
    reg = default_registry(entry_points=False).copy()
    reg.register(Cube, "test")
    return reg


SEED = "param w = 3\nparam b = 4\nz = x * y\nx = 2*w + 3*b\ny = 2*b + 1\n"


# -- the seed ---------------------------------------------------------------------

def test_seed_tangents_wrt_b_and_w():
    m = graphdsl.loads(SEED)
    assert m.tangents(wrt="b") == {"w": 0.0, "b": 1.0, "x": 3.0, "y": 2.0, "z": 63.0}
    assert m.tangents(wrt="w") == {"w": 1.0, "b": 0.0, "x": 2.0, "y": 0.0, "z": 18.0}
    g = m.gradients()
    assert (g["b"], g["w"]) == (63.0, 18.0)


@pytest.mark.parametrize("mode", ["tape", "code"])
def test_seed_tangents_on_each_path(mode):
    m = graphdsl.loads(SEED)
    c = Compiled(m.flat, m.registry, mode)
    vals = c.forward()
    t = c.tangents(vals, c.index["b"])
    assert [t[c.index[n]] for n in ("x", "y", "z")] == [3.0, 2.0, 63.0]
    assert (c._tcode is not None) == (mode == "code")


def test_tangents_follow_set_values():
    m = graphdsl.loads(SEED).set(b=5.0)
    # z = (2w + 3b)(2b + 1): ∂z/∂b = 3(2b + 1) + 2(2w + 3b) = 33 + 42
    assert m.tangents("b")["z"] == 75.0 == m.gradients()["b"]


# -- random models: forward mode equals reverse mode ---------------------------------

# (text, sympy form) over operands {a}, {b}; domains kept safe for any real operands
FORMS = [
    ("{a}*{b}", lambda a, b: a * b),
    ("({a} + {b})*0.5", lambda a, b: (a + b) / 2),
    ("tanh({a} - {b})", lambda a, b: sp.tanh(a - b)),
    ("{a} - 0.5*{b}", lambda a, b: a - b / 2),
    ("sigmoid({a})*{b}", lambda a, b: b / (1 + sp.exp(-a))),
    ("sin({a}) + cos({b})", lambda a, b: sp.sin(a) + sp.cos(b)),
    ("exp(-square({a}))", lambda a, b: sp.exp(-a ** 2)),
    ("{a}/(1 + {b}*{b})", lambda a, b: a / (1 + b * b)),
    ("cube({a})*0.3", lambda a, b: a ** 3 * sp.Rational(3, 10)),
    ("sqrt(1 + {a}*{a})", lambda a, b: sp.sqrt(1 + a * a)),
    ("log(2 + tanh({b})) * {a}", lambda a, b: sp.log(2 + sp.tanh(b)) * a),
    ("-{a}", lambda a, b: -a),
    ("(1.1 + {a}*{a})^0.5", lambda a, b: (sp.Rational(11, 10) + a * a) ** sp.Rational(1, 2)),
    ("{a}", lambda a, b: a),
    ("identity({b}) + 2", lambda a, b: b + 2),
]
PARAMS = ("p0", "p1", "p2")


@st.composite
def models(draw):
    """A random DAG: each statement applies a form to two earlier names, so
    values are shared and tangents must add along several paths."""
    names = list(PARAMS)
    values = {p: draw(st.floats(-1.5, 1.5).map(lambda v: round(v, 3))) for p in PARAMS}
    lines = [f"param {p} = {values[p]}" for p in PARAMS]
    sym = {p: sp.Symbol(p, real=True) for p in PARAMS}
    n = draw(st.integers(1, 8))
    for k in range(n):
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        text, fn = draw(st.sampled_from(FORMS))
        lines.append(f"s{k} = " + text.format(a=a, b=b))
        sym[f"s{k}"] = fn(sym[a], sym[b])
        names.append(f"s{k}")
    lines.append(f"out = s{n - 1} + 0.25*{draw(st.sampled_from(names))}")
    sym["out"] = sym[f"s{n - 1}"] + sp.Rational(1, 4) * sym[lines[-1].split("*")[-1]]
    lines.append("output out")
    return "\n".join(lines) + "\n", values, sym


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_tangents_equal_reverse_mode_gradients_on_tape_and_in_code(model):
    text, _values, _sym = model
    reg = registry()
    m = graphdsl.loads(text, registry=reg)
    tape, code = Compiled(m.flat, reg, "tape"), Compiled(m.flat, reg, "code")
    vals = tape.forward()
    for p in PARAMS:
        k = tape.index[p]
        t_tape, t_code = tape.tangents(vals, k), code.tangents(vals, k)
        for n in tape.named:
            i = tape.index[n]
            # ∂n/∂p by reverse mode: a backward pass started at n
            rev = tape.backward(vals, i)[k]
            assert math.isclose(t_tape[i], rev, rel_tol=1e-12, abs_tol=1e-12), (n, p)
            assert math.isclose(t_code[i], t_tape[i], rel_tol=1e-12, abs_tol=1e-15), (n, p)
        # and the whole model's gradient, as the Python API gives both
        assert math.isclose(m.tangents(wrt=p)["out"], m.gradients()[p], rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_tangents_agree_with_sympy_and_central_differences(model):
    text, values, sym = model
    m = graphdsl.loads(text, registry=registry())
    subs = {sp.Symbol(p, real=True): sp.Float(values[p], 30) for p in PARAMS}
    for p in PARAMS:
        tan = m.tangents(wrt=p)
        for n in ("out", "s0"):
            want = float(sp.diff(sym[n], sp.Symbol(p, real=True)).subs(subs).evalf(20))
            assert tan[n] == pytest.approx(want, rel=1e-9, abs=1e-10), (n, p)
        h = 1e-6
        up = graphdsl.loads(text, registry=registry()).set(**{p: values[p] + h}).forward()["out"]
        dn = graphdsl.loads(text, registry=registry()).set(**{p: values[p] - h}).forward()["out"]
        assert tan["out"] == pytest.approx((up - dn) / (2 * h), rel=1e-5, abs=1e-7)


def test_plugin_op_without_templates_goes_through_its_partials():
    reg = registry()
    m = graphdsl.loads("param w = 2\nz = cube(w) + w\n", registry=reg)
    code = Compiled(m.flat, reg, "code")
    src = code.generated_tangent_source()
    assert "_p" in src  # the plugin's partials are called, not inlined
    vals = code.forward()
    assert code.tangents(vals, code.index["w"])[code.output] == 13.0 == m.tangents("w")["z"]


@pytest.mark.parametrize("chunk", [1, 3, 50])
def test_generated_tangents_are_right_across_chunk_boundaries(monkeypatch, chunk):
    monkeypatch.setattr(engine, "CHUNK", chunk)
    reg = registry()
    text = "param p = 0.3\nparam q = -0.7\n" + "".join(
        f"s{k} = sin(s{k - 1}) * q + p\n" if k else "s0 = p*q\n" for k in range(20))
    m = graphdsl.loads(text, registry=reg)
    tape, code = Compiled(m.flat, reg, "tape"), Compiled(m.flat, reg, "code")
    vals = tape.forward()
    for p in ("p", "q"):
        assert code.tangents(vals, tape.index[p]) == pytest.approx(tape.tangents(vals, tape.index[p]),
                                                                   rel=1e-13, abs=1e-15)


def test_auto_mode_generates_the_tangent_pass_once_it_pays(monkeypatch):
    m = graphdsl.loads(SEED)
    c = m.compiled
    first = m.tangents("b")
    assert c._tcode is None
    monkeypatch.setattr(engine, "COMPILE_SECONDS_PER_OP", 1e-12)
    assert m.tangents("b") == first
    assert c._tcode is not None
    assert m.tangents("b") == first and m.tangents("w")["z"] == 18.0


def test_deep_chain_has_tangents_without_recursion():
    n = 100_000
    text = "param a0 = 1.5\n" + "".join(f"a{i}=-a{i - 1}\n" for i in range(1, n + 1))
    m = graphdsl.loads(text)
    t = m.tangents("a0")
    assert t[f"a{n}"] == 1.0 and t[f"a{n - 1}"] == -1.0
    c = m.compiled
    c.generate_tangents()
    assert c.tangents(c.forward(), c.index["a0"])[c.output] == 1.0


def test_nodes_that_do_not_depend_on_the_param_have_tangent_zero_and_are_not_differentiated():
    # sqrt's partial 0.5/out divides by zero at c = 0: forward mode from w never asks for it
    m = graphdsl.loads("param w = 2\nparam c = 0\nr = sqrt(c)\nz = w*w + r\n")
    for mode in ("tape", "code"):
        cm = Compiled(m.flat, m.registry, mode)
        vals = cm.forward()
        t = cm.tangents(vals, cm.index["w"])
        assert t[cm.index["r"]] == 0.0 and t[cm.output] == 4.0
        with pytest.raises(NumericError, match="sqrt"):
            cm.tangents(vals, cm.index["c"])


IDENT = re.compile(r"[^\W\d]\w*")


def test_generated_tangent_code_contains_no_text_from_the_model():
    text = ("param os = 1.25\nparam system = 0.5\n"
            "__import__ = os * system + 123.456\n"
            "exec = sin(__import__) - cube(eval)\n"
            "eval = system / 7.25\n")
    m = graphdsl.loads(text, registry=registry())
    src = m.compiled.generated_tangent_source()
    allowed = {"def", "if", "else", "and", "or", "not", "_T", "V", "T", "_d"} | set(forms.FUNCTIONS)
    unknown = {w for w in IDENT.findall(src)
               if w not in allowed and not re.fullmatch(r"[vt]\d+|_[pc]\d+", w)}
    assert unknown == set()
    for word in ("os", "system", "__import__", "exec", "eval", "123.456", "7.25"):
        assert word not in re.findall(r"[\w.]+", src)
    m.compiled.generate_tangents()
    assert m.tangents("os")["exec"] == pytest.approx(math.cos(1.25 * 0.5 + 123.456) * 0.5)


def test_wrt_must_be_a_param_or_named_constant():
    m = graphdsl.loads(SEED + "k = 7\nq = k*w\noutput z\n")
    with pytest.raises(UsageError, match="computed") as e:
        m.tangents("x")
    assert "w, b" in e.value.hint
    with pytest.raises(UsageError, match="no such name") as e:
        m.tangents("B")
    assert "'b'" in e.value.hint
    assert m.tangents("k")["q"] == 3.0  # a named constant can be the seed too
    c = m.compiled
    with pytest.raises(ValueError):
        c.tangents(c.forward(), c.index["x"])


# -- the cost of each mode, counted ----------------------------------------------------

from graphdsl.forward import cost, output_inputs  # noqa: E402


def test_seed_cost_by_hand():
    # edges carrying a derivative (number literals carry none):
    #   x = 2*w + 3*b: w→(2w), b→(3b), (2w)→x, (3b)→x;  y = 2*b + 1: b→(2b), (2b)→y;  z = x*y: x→z, y→z
    c = cost(graphdsl.loads(SEED))
    g = c.gradient
    assert g.forward == {"w": 3, "b": 6}  # from w: w→(2w)→x→z; from b: two paths of 3 edges
    assert g.reverse == {"z": 8}          # all eight, once
    assert (g.forward_passes, g.reverse_passes) == (2, 1)
    assert g.ratio == 9 / 8 and g.cheaper == "reverse"
    # the Jacobian of z's inputs x and y: two passes either way
    j = c.jacobian
    assert j.targets == ("x", "y")
    assert j.forward == {"w": 2, "b": 4} and j.reverse == {"x": 4, "y": 2}
    assert j.cheaper == "same" and j.ratio == 1.0


def test_many_params_one_output_reverse_is_cheaper():
    # s = a + b + c + d (three adds, 6 edges), z = tanh(s)*sin(s) (4 more edges)
    m = graphdsl.loads("param a = 1\nparam b = 2\nparam c = 3\nparam d = 4\n"
                       "s = a + b + c + d\nz = tanh(s) * sin(s)\n")
    g = cost(m).gradient
    # from a: a→(a+b)→(+c)→(+d) then s→tanh→z and s→sin→z: 3 + 4
    assert g.forward == {"a": 7, "b": 7, "c": 6, "d": 5}
    assert g.reverse == {"z": 10}
    assert g.ratio == 2.5 and g.cheaper == "reverse"
    assert cost(m).jacobian is None  # z's statement reads only s


def test_one_param_many_outputs_forward_is_cheaper():
    m = graphdsl.loads("param w = 0.5\nh = tanh(w*w + 1)\na = 2*h\nb = 3*h\nc = sin(h)\n"
                       "z = a*b + c\n")
    assert output_inputs(m) == ["a", "b", "c"]
    c = cost(m)
    # one param: both modes cross every edge once for the output
    assert c.gradient.forward == {"w": 11} and c.gradient.reverse == {"z": 11}
    # to h: w→(w·w) twice, →(+1), →tanh = 4; then h→(2h), h→(3h), h→sin = 3
    assert c.jacobian.forward == {"w": 7}
    # reverse needs a pass per input, each back through h's 4 edges
    assert c.jacobian.reverse == {"a": 5, "b": 5, "c": 5}
    assert c.jacobian.cheaper == "forward" and c.jacobian.ratio == 7 / 15


def test_cost_of_a_model_without_params_and_of_a_leaf_output():
    c = cost(graphdsl.loads("k = 3\nz = k*k + 1\n"))
    assert c.gradient.forward == {} and c.gradient.reverse == {"z": 0}
    assert c.gradient.ratio is None
    assert output_inputs(graphdsl.loads("param w = 1\noutput w\n")) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_cost_counts_match_paths_found_by_networkx(model):
    # the same definition, counted the slow way: an edge j→k is crossed by the
    # pass from p to t when p reaches j and k reaches t in the networkx graph
    import networkx as nx

    text, _v, _s = model
    m = graphdsl.loads(text, registry=registry())
    g = m.graph
    c = cost(m)
    targets = list(c.gradient.targets) + list(c.jacobian.targets if c.jacobian else [])
    desc = {p: nx.descendants(g, p) | {p} for p in m.params}
    anc = {t: nx.ancestors(g, t) | {t} for t in targets}
    for which in filter(None, (c.gradient, c.jacobian)):
        fwd = {p: 0 for p in m.params}
        rev = {t: 0 for t in which.targets}
        for j, k in g.edges():
            for p in m.params:
                if j in desc[p] and any(k in anc[t] for t in which.targets):
                    fwd[p] += 1
            for t in which.targets:
                if k in anc[t] and any(j in desc[p] for p in m.params):
                    rev[t] += 1
        assert which.forward == fwd and which.reverse == rev


# -- forward mode written out (the data explain --mode forward prints) -----------------

from graphdsl.forward import explain_forward  # noqa: E402


def test_seed_forward_explanation_from_b_and_w():
    e = explain_forward(graphdsl.loads(SEED))
    assert [i.param for i in e.items] == ["w", "b"]
    w, b = e.items
    # from b: ∂x/∂b = 3, ∂y/∂b = 2, ∂z/∂b = 9·3 + 18·2 = 63
    assert [(s.node, s.value) for s in b.steps] == [("x", 3.0), ("y", 2.0), ("z", 63.0)]
    z = b.steps[-1]
    assert [(t.input, t.partial, t.tangent, t.product) for t in z.terms] == \
        [("x", 9.0, 3.0, 27.0), ("y", 18.0, 2.0, 36.0)]
    assert z.total == 63.0 and z.agrees
    assert (b.tangent, b.gradient, b.agrees) == (63.0, 63.0, True)
    # from w: y does not depend on w, so it is not a step and its term is 18·0
    assert [s.node for s in w.steps] == ["x", "z"] and w.independent == ["y"]
    assert [(t.input, t.partial, t.tangent) for t in w.steps[-1].terms] == \
        [("x", 9.0, 2.0), ("y", 18.0, 0.0)]
    assert [(t.input, t.partial, t.tangent) for t in w.steps[0].terms] == \
        [("w", 2.0, 1.0), ("b", 3.0, 0.0)]
    assert (w.tangent, w.gradient, w.agrees) == (18.0, 18.0, True)
    assert w.tangents == {"w": 1.0, "b": 0.0, "x": 2.0, "y": 0.0, "z": 18.0}
    assert e.cost.gradient.forward_total == 9


def test_forward_explanation_with_values_and_one_param():
    m = graphdsl.loads(SEED)
    e = explain_forward(m, wrt="b", values={"b": 5.0})
    assert [i.param for i in e.items] == ["b"] and e.items[0].tangent == 75.0
    assert m.param_values["b"] == 4.0  # pure: the model keeps its values
    for bad, what in [("x", "computed"), ("q", "not in the model")]:
        with pytest.raises(UsageError, match=what):
            explain_forward(m, wrt=bad)


def test_forward_explanation_json_round_trips():
    import json

    d = json.loads(json.dumps(explain_forward(graphdsl.loads(SEED), wrt="b").to_dict()))
    assert d["mode"] == "forward"
    z = d["items"][0]["steps"][-1]
    assert z["node"] == "z" and z["total"] == 63.0 and z["agrees"] is True
    assert [t["product"] for t in z["terms"]] == [27.0, 36.0]
    assert d["cost"]["gradient"]["forward"]["total"] == 9


def test_long_models_list_a_bounded_number_of_steps_ending_at_the_output():
    n = 500
    text = "param a0 = 0.5\n" + "".join(f"a{i} = sin(a{i - 1})\n" for i in range(1, n + 1))
    item = explain_forward(graphdsl.loads(text), step_limit=20).items[0]
    assert len(item.steps) == 20 and item.omitted == n - 20
    assert item.steps[-1].node == f"a{n}" and item.agrees
    assert all(s.agrees for s in item.steps)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_every_written_step_adds_up_to_the_engines_tangent(model):
    text, _v, _s = model
    m = graphdsl.loads(text, registry=registry())
    for item in explain_forward(m).items:
        assert item.agrees
        for step in item.steps:
            assert step.agrees, (item.param, step.node)
            # each term's tangent is the one written for that input earlier
            for t in step.terms:
                assert t.tangent == item.tangents[t.input]


@pytest.mark.parametrize("mode", ["tape", "code"])
def test_a_tangent_that_is_not_finite_is_named(mode):
    m = graphdsl.loads("param w = 2\nparam c = 0\nr = sqrt(c)\nz = w*w + r\n")
    cm = Compiled(m.flat, m.registry, mode)
    with pytest.raises(NumericError) as e:
        cm.tangents(cm.forward(), cm.index["c"])
    assert "derivative of sqrt(0) in statement 'r'" in e.value.message
    assert e.value.line == 3
    m = graphdsl.loads("param w = 1e-300\nz = 1e300*w\ny = z*1e10\n")
    cm = Compiled(m.flat, m.registry, mode)
    vals = cm.forward()
    assert vals[cm.output] == pytest.approx(1e10)
    with pytest.raises(NumericError, match=r"∂y/∂w is inf"):
        cm.tangents(vals, cm.index["w"])


# -- explain --mode forward ---------------------------------------------------------------

def test_cli_explain_forward_on_the_seed(cli, linear_path):
    r = cli("explain", linear_path, "--mode", "forward", "--wrt", "b", "--lang", "en")
    assert r.code == 0, r.err
    assert "∂x/∂b = ∂x/∂w·∂w/∂b + ∂x/∂b·∂b/∂b" in r.out and "= 3\n" in r.out
    assert "∂y/∂b = ∂y/∂b·∂b/∂b = 2·1 = 2" in r.out
    assert "∂z/∂b = ∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b" in r.out and "9·3 + 18·2 = 63" in r.out
    assert "reverse mode (the engine): ∂z/∂b = 63 — equal ✓" in r.out
    assert "forward mode: 2 passes, one per param (w: 3, b: 6): 9" in r.out
    assert "reverse mode: 1 backward pass for every param at once: 8" in r.out
    assert "from w" not in r.out  # --wrt b: one section
    w = cli("explain", linear_path, "--mode", "forward", "--wrt", "w", "--lang", "en")
    assert "9·2 + 18·0 = 18" in w.out and "y does not depend on w" in w.out


def test_cli_explain_forward_without_wrt_has_a_section_per_param(cli, linear_path):
    r = cli("explain", linear_path, "--mode", "forward", "--lang", "en")
    assert r.code == 0 and r.out.count("\nfrom ") == 2
    assert r.out.index("from w:") < r.out.index("from b:") < r.out.index("what each mode costs")


@pytest.mark.parametrize("fmt", ["markdown", "latex", "json"])
def test_cli_explain_forward_formats(cli, linear_path, fmt):
    import json

    r = cli("explain", linear_path, "--mode", "forward", "--wrt", "b", "--format", fmt, "--lang", "en")
    assert r.code == 0, r.err
    if fmt == "json":
        d = json.loads(r.out)
        assert d["mode"] == "forward" and d["items"][0]["tangent"] == 63.0
    elif fmt == "markdown":
        assert "## from b:" in r.out and "`∂y/∂b = ∂y/∂b·∂b/∂b = 2·1 = 2`" in r.out
    else:
        assert r"\begin{align*}" in r.out and r"9 \cdot 3 + 18 \cdot 2 = 63" in r.out


def test_cli_explain_forward_in_chinese(cli, linear_path):
    r = cli("explain", linear_path, "--mode", "forward", "--wrt", "w", "--lang", "zh")
    assert r.code == 0
    assert "从 w 出发" in r.out and "y 不依赖于 w" in r.out and "相等 ✓" in r.out
    assert "9·2 + 18·0 = 18" in r.out  # the maths stays as it is
    assert "前向模式：2 遍" in r.out


def test_cli_explain_forward_mistakes_are_messages(cli, linear_path):
    r = cli("explain", linear_path, "--mode", "forward", "--wrt", "x")
    assert r.code == 2 and "computed, not a param" in r.err and "Traceback" not in r.err
    r = cli("explain", linear_path, "--mode", "sideways")
    assert r.code == 2 and "forward" in r.err


def test_the_turnaround_is_said_in_words(cli, tmp_path):
    f = tmp_path / "fan.bp"
    f.write_text("param w = 0.5\nh = tanh(w*w + 1)\na = 2*h\nb = 3*h\nc = sin(h)\nz = a*b + c\n")
    r = cli("explain", f, "--mode", "forward", "--lang", "en")
    assert r.code == 0
    assert ("the Jacobian of z's inputs a, b, c (3 × 1): forward mode 1 pass, 7; "
            "reverse mode 3 passes, one per input (a: 5, b: 5, c: 5), 15: forward mode is the cheap way") in r.out


def test_data_models_are_refused_with_a_message(cli):
    from conftest import MODELS

    m = graphdsl.load(MODELS / "xor.bp")
    with pytest.raises(UsageError, match="data model"):
        m.tangents("w11")
    with pytest.raises(UsageError, match="data model"):
        explain_forward(m)
    r = cli("explain", MODELS / "xor.bp", "--mode", "forward")
    assert r.code == 2 and "explain --mode forward is not available for a data model" in r.err


# -- the HTML report's forward-mode panel ------------------------------------------------

def _report_data(page: str) -> dict:
    import json

    start = page.index('<script type="application/json" id="graphdsl-data">') + 51
    return json.loads(page[start:page.index("</script>", start)])


def test_report_has_forward_mode_for_every_param_at_every_iteration(linear_path):
    from graphdsl.report import build_report

    m = graphdsl.load(linear_path)
    trace = m.solve(target=150)
    page = build_report(m, trace, pictures=False, plots=False, lang="en").html
    d = _report_data(page)
    assert d["forward_params"] == ["w", "b"]
    assert len(d["forward"]) == len(trace.iterations) == 3
    w0, b0 = d["forward"][0]
    assert "∂z/∂b = ∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b" in b0 and "9·3 + 18·2 = 63" in b0
    assert "9·2 + 18·0 = 18" in w0
    # iteration 1 is at the run's new values: its tangents are the trace's gradients
    g1 = trace.iterations[1].gradients["b"]
    assert f"∂z/∂b = {graphdsl.text.format_number(g1)}; reverse mode" in d["forward"][1][1]
    assert 'id="fwd-param"' in page and '<option value="0" selected>w</option>' in page
    assert "forward mode: 2 passes, one per param (w: 3, b: 6): 9" in page


def test_report_starts_forward_mode_on_the_param_the_run_moves(linear_path):
    from graphdsl.report import build_report

    m = graphdsl.load(linear_path)
    page = build_report(m, m.solve(target=150, params=["b"]), pictures=False, plots=False,
                        lang="zh").html
    assert '<option value="1" selected>b</option>' in page
    assert "本次迭代的前向模式" in page and "从 b 出发" in page


def test_report_without_explanations_has_no_forward_panel(linear_path):
    from graphdsl.report import build_report

    m = graphdsl.load(linear_path)
    page = build_report(m, m.solve(target=150), pictures=False, plots=False,
                        explanations=False).html
    d = _report_data(page)
    assert d["forward_params"] == [] and '<section id="forward-box" aria-labelledby="h-forward" hidden>' in page


def test_forward_lines_carry_the_statement_and_its_rules(cli, linear_path):
    r = cli("explain", linear_path, "--mode", "forward", "--wrt", "w", "--lang", "en")
    assert "  x = 2·w + 3·b\n    ∂x/∂w = ∂x/∂w·∂w/∂w + ∂x/∂b·∂b/∂w = 2·1 + 3·0 = 2\n" in r.out
    # the line, with the rules between the symbols and the numbers
    assert "∂z/∂w = ∂z/∂x·∂x/∂w + ∂z/∂y·∂y/∂w = y·2 + x·0 = 9·2 + 18·0 = 18" in r.out


def test_without_sympy_the_numbers_are_all_there():
    from graphdsl.forward import format_text
    from graphdsl.statements import Rules

    m = graphdsl.loads(SEED)
    rules = Rules(m)
    rules.sp = None  # as without sympy installed
    e = explain_forward(m, wrt="w", rules=rules)
    assert e.sympy_missing
    text = format_text(e, "en")
    assert "∂z/∂w = ∂z/∂x·∂x/∂w + ∂z/∂y·∂y/∂w = 9·2 + 18·0 = 18" in text
    assert "sympy is not installed" in text and e.items[0].agrees


# -- render --view tangent ---------------------------------------------------------------

def _node_line(src: str, name: str) -> str:
    return next(line for line in src.splitlines() if line.strip().startswith(f"{name} [label="))


def _edge_line(src: str, a: str, b: str) -> str:
    return next(line for line in src.splitlines() if line.strip().startswith(f"{a} -> {b}"))


@pytest.mark.parametrize("options", [dict(), dict(ops=True), dict(blank=True),
                                     dict(lang="zh"), dict(focus="x", depth=1)])
def test_tangent_view_dot_is_byte_identical_across_builds(linear_path, options):
    a = graphdsl.load(linear_path).render("tangent", wrt="w", **options).source
    b = graphdsl.load(linear_path).render("tangent", wrt="w", **options).source
    assert a == b and a.startswith("digraph linear {")


def test_tangent_view_shows_each_tangent_and_each_local_partial(linear_path):
    from graphdsl.render import DIM_COLOUR, TANGENT_COLOUR

    src = graphdsl.load(linear_path).render("tangent", wrt="w").source
    assert "∂x/∂w = 2</FONT>" in _node_line(src, "x") and "∂z/∂w = 18</FONT>" in _node_line(src, "z")
    assert "∂w/∂w = 1</FONT>" in _node_line(src, "w")
    # y and b do not depend on w: greyed, their tangent 0
    for n in ("y", "b"):
        line = _node_line(src, n)
        assert f"∂{n}/∂w = 0</FONT>" in line and f"fontcolor=\"{DIM_COLOUR}\"" in line
    assert DIM_COLOUR not in _node_line(src, "x")
    # every edge its local partial; the tangent flows along w -> x -> z only
    assert "∂z/∂x = y = 9" in _edge_line(src, "x", "z") and TANGENT_COLOUR in _edge_line(src, "x", "z")
    assert "∂z/∂y = x = 18" in _edge_line(src, "y", "z") and "dashed" in _edge_line(src, "y", "z")
    assert "∂x/∂b = 3" in _edge_line(src, "b", "x") and "dashed" in _edge_line(src, "b", "x")
    # the output's tangent as the sum over its inputs, under the title
    assert "∂z/∂w = ∂z/∂x·∂x/∂w + ∂z/∂y·∂y/∂w = y·2 + x·0 = 9·2 + 18·0 = 18" in src


def test_tangent_view_from_b_has_nothing_greyed_but_w(linear_path):
    from graphdsl.render import DIM_COLOUR

    src = graphdsl.load(linear_path).render("tangent", wrt="b").source
    assert [n for n in "wbxyz" if DIM_COLOUR in _node_line(src, n)] == ["w"]
    assert "9·3 + 18·2 = 63" in src


def test_tangent_view_worksheet_ops_and_chinese(linear_path):
    m = graphdsl.load(linear_path)
    blank = m.render("tangent", wrt="w", blank=True).source
    assert "∂x/∂w = ______" in _node_line(blank, "x") and "18" not in _node_line(blank, "z")
    assert "∂w/∂w = 1" in blank and "∂y/∂w = 0" in blank  # the seed and the zeros stay
    assert "∂z/∂w = ∂z/∂x·∂x/∂w + ∂z/∂y·∂y/∂w = ______" in blank
    ops = m.render("tangent", wrt="w", ops=True).source
    assert "∂(2·w)/∂w = 2</FONT>" in ops and "∂(3·b)/∂w = 0</FONT>" in ops
    assert "∂z/∂w = 18: forward mode, one pass from w along the highlighted edges" in ops
    zh = m.render("tangent", wrt="w", lang="zh").source
    assert "切向量（前向模式）" in zh and "9·2 + 18·0 = 18" in zh


def test_tangent_view_needs_a_param(linear_path):
    m = graphdsl.load(linear_path)
    with pytest.raises(UsageError, match="needs --wrt"):
        m.render("tangent")
    with pytest.raises(UsageError, match="computed, not a param"):
        m.render("tangent", wrt="x")


@pytest.mark.parametrize("fmt", ["svg", "dot", "png", "pdf"])
def test_cli_render_tangent_in_every_format(cli, linear_path, tmp_path, monkeypatch, fmt):
    monkeypatch.chdir(tmp_path)
    r = cli("render", linear_path, "--view", "tangent", "--wrt", "w", "--format", fmt)
    assert r.code == 0, r.err
    data = (tmp_path / f"linear-tangent-wrt-w.{fmt}").read_bytes()
    assert {"svg": b"<svg", "dot": b"digraph", "png": b"\x89PNG", "pdf": b"%PDF"}[fmt] in data[:400]
    r = cli("render", linear_path, "--view", "tangent")
    assert r.code == 2 and "needs --wrt" in r.err and "Traceback" not in r.err


def test_explain_forward_on_a_model_without_params_says_so(cli, tmp_path):
    f = tmp_path / "np.bp"
    f.write_text("k = 3\nz = k*k + 1\n")
    r = cli("explain", f, "--mode", "forward", "--lang", "en")
    assert r.code == 0 and r.out.count("(the model has no param)") == 2
    assert "passes" not in r.out
