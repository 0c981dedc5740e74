"""The compiled engine: tape and generated code against a naive reference,
deep models without recursion, generated code free of model text, and the
compact loading path (flat graph, lazy networkx graph, GC left as found)."""

from __future__ import annotations

import gc
import math
import random
import re
import subprocess
import sys

import networkx as nx
import pytest

import graphdsl
from graphdsl import engine
from graphdsl.build import build_flat, build_graph
from graphdsl.engine import Compiled
from graphdsl.errors import ModelError, NumericError
from graphdsl.ops import Op, default_registry, forms
from graphdsl.parser import parse


from conftest import Cube  # a plugin-style op with neither templates nor numpy forms


def registry():
    reg = default_registry(entry_points=False).copy()
    reg.register(Cube, "test")
    return reg


FORMS = ["{a}*{b}", "({a} + {b})*0.5", "tanh({a} - {b})", "{a} - 0.5*{b}", "sigmoid({a})*{b}",
         "sin({a}) + cos({b})", "exp(-square({a}))", "{a}/(1 + {b}*{b})", "relu({a}) - abs({b})",
         "cube({a})*0.3", "sqrt(1 + {a}*{a})", "log(2 + {b}) * {a}", "-{a}", "(1.1 + {a}*{a})^0.5",
         "{a}", "tan(0.2*{a})", "identity({b})"]


def random_text(seed: int, statements: int = 60, shuffle: bool = True) -> str:
    r = random.Random(seed)
    lines = [f"param p{i} = {r.uniform(-1, 1):.3f}" for i in range(3)]
    names = ["p0", "p1", "p2"]
    body = []
    for k in range(statements):
        a, b = r.choice(names), r.choice(names)
        body.append(f"s{k} = " + r.choice(FORMS).format(a=a, b=b))
        names.append(f"s{k}")
    body.append(f"out = s{statements - 1} + s{statements // 2}")
    if shuffle:  # a model is a set of equations: order is free
        r.shuffle(body)
    return "\n".join(lines + body + ["output out"]) + "\n"


def naive(graph, reg, overrides=None):
    """The reference: networkx's own topological order, dicts, no engine code."""
    vals = {}
    order = list(nx.topological_sort(graph))
    for n in order:
        d = graph.nodes[n]
        if d["kind"] == "op":
            vals[n] = reg.get(d["op"]).forward(*[vals[a] for a in d["args"]])
        else:
            vals[n] = float((overrides or {}).get(n, d["value"]))
    adj = {n: 0.0 for n in order}
    adj[graph.graph["output"]] = 1.0
    for n in reversed(order):
        d = graph.nodes[n]
        if d["kind"] == "op" and adj[n] != 0.0:
            ps = reg.get(d["op"]).partials(*[vals[a] for a in d["args"]], vals[n])
            for a, p in zip(d["args"], ps):
                adj[a] += adj[n] * p
    return vals, adj


@pytest.mark.parametrize("seed", range(12))
def test_tape_and_code_agree_with_naive_reference(seed):
    reg = registry()
    text = random_text(seed)
    graph = build_graph(parse(text), registry=reg)
    tape = Compiled(graph, reg, "tape")
    code = Compiled(graph, reg, "code")
    assert code._code is not None and tape._code is None
    overrides = {"p1": 0.25 + seed / 10}
    ref_vals, ref_adj = naive(graph, reg, overrides)
    v_tape, v_code = tape.forward(overrides), code.forward(overrides)
    assert v_tape == v_code  # the same float operations in the same order: bit for bit
    g_tape, g_code = tape.backward(v_tape), code.backward(v_code)
    assert g_tape == g_code
    for n, k in tape.index.items():
        assert math.isclose(v_tape[k], ref_vals[n], rel_tol=1e-12, abs_tol=1e-12), n
        assert math.isclose(g_tape[k], ref_adj[n], rel_tol=1e-9, abs_tol=1e-12), n
    # another node as the one differentiated
    k = tape.index["s5"]
    assert tape.backward(v_tape, k) == code.backward(v_code, k)
    assert code.backward(v_code, k)[k] == 1.0


def test_gradient_matches_finite_differences():
    reg = registry()
    m = graphdsl.loads(random_text(3), registry=reg)
    g = m.gradients()
    h = 1e-6
    for p in m.params:
        base = m.param_values[p]
        up = m.set(**{p: base + h}).forward()["out"]
        down = m.set(**{p: base - h}).forward()["out"]
        m.set(**{p: base})
        assert math.isclose(g[p], (up - down) / (2 * h), rel_tol=1e-5, abs_tol=1e-7)


def test_auto_mode_switches_to_code_once_tape_time_pays_for_it(monkeypatch):
    reg = registry()
    m = graphdsl.loads(random_text(5), registry=reg)
    c = m.compiled
    assert c.mode == "auto" and c._code is None
    first = c.forward()
    monkeypatch.setattr(engine, "COMPILE_SECONDS_PER_OP", 1e-12)
    c.backward(first)  # this pass's time now exceeds the (tiny) estimate
    assert c._code is not None
    assert c.forward() == first
    assert c.backward(first) == Compiled(m.flat, reg, "tape").backward(first)


def test_solver_gives_the_same_trace_on_tape_and_code(linear_path):
    m1 = graphdsl.load(linear_path)
    m2 = graphdsl.load(linear_path)
    m2.compiled.generate()
    t1, t2 = m1.solve(target=150), m2.solve(target=150)
    assert t1.to_json() == t2.to_json()
    assert t1.to_json()["iterations"][0]["gradients"]["b"] == 63.0


def test_deep_chain_loads_runs_and_differentiates_without_recursion():
    # 100,000 statements, each using the one before: any recursive walk dies at ~1,000.
    n = 100_000
    text = "param a0 = 1.5\n" + "".join(f"a{i}=-a{i - 1}\n" for i in range(1, n + 1))
    m = graphdsl.loads(text)
    assert m.output == f"a{n}"
    values = m.forward()
    assert values[f"a{n}"] == 1.5 and values[f"a{n - 1}"] == -1.5
    grads = m.gradients()
    assert grads["a0"] == 1.0 and grads["a1"] == -1.0
    c = m.compiled
    assert c.forward({"a0": 2.0})[c.output] == 2.0


@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_generated_code_is_right_across_chunk_boundaries(monkeypatch, chunk):
    # operands in earlier chunks are read from the list, adjoints written back to it
    monkeypatch.setattr(engine, "CHUNK", chunk)
    reg = registry()
    graph = build_graph(parse(random_text(chunk, statements=40)), registry=reg)
    tape, code = Compiled(graph, reg, "tape"), Compiled(graph, reg, "code")
    v = tape.forward({"p0": -0.4})
    assert code.forward({"p0": -0.4}) == v
    assert code.backward(v) == tape.backward(v)
    chain = graphdsl.loads("param a0 = 1.5\n" + "".join(f"a{i}=-a{i - 1}\n" for i in range(1, 3001)))
    c = chain.compiled
    c.generate()
    assert c.backward(c.forward({"a0": 2.0}))[c.index["a0"]] == 1.0


def test_deeply_nested_expression_loads_and_differentiates():
    depth = 3000
    text = "param x = 0.5\ny = " + "sin(" * depth + "x" + ")" * depth + "\n"
    m = graphdsl.loads(text)
    c = m.compiled
    c.generate()
    vals = c.forward()
    expect = 0.5
    for _ in range(depth):
        expect = math.sin(expect)
    assert math.isclose(vals[c.output], expect, rel_tol=1e-12)
    assert 0 < m.gradients()["x"] < 1


IDENT = re.compile(r"[^\W\d]\w*")
ALLOWED = {"def", "if", "else", "and", "or", "not", "_F", "_B", "V", "A", "_d"} | set(forms.FUNCTIONS)


def test_generated_code_contains_no_text_from_the_model():
    text = ("param os = 1.25\nparam system = 0.5\n"
            "__import__ = os * system + 123.456\n"
            "exec = sin(__import__) - cube(eval)\n"
            "eval = system / 7.25\n"
            "__builtins__ = exec * exec\n")
    reg = registry()
    m = graphdsl.loads(text, registry=reg)
    c = m.compiled
    src = c.generated_source()
    words = set(IDENT.findall(src))
    unknown = {w for w in words if w not in ALLOWED and not re.fullmatch(r"[vg]\d+|_[fpc]\d+", w)}
    assert unknown == set()
    for word in ("os", "system", "__import__", "exec", "eval", "__builtins__", "123.456", "7.25"):
        assert word not in re.findall(r"[\w.]+", src)
    c.generate()
    vals = c.forward()
    assert vals[c.index["__import__"]] == 1.25 * 0.5 + 123.456
    expect = math.sin(1.25 * 0.5 + 123.456) - (0.5 / 7.25) ** 3
    assert math.isclose(vals[c.index["exec"]], expect, rel_tol=1e-12)


def test_numeric_error_names_the_statement_in_code_mode_too():
    text = "param w = 1\nparam b = -3\nx = 2*w\nz = log(x + b) * x\n"
    for mode in ("tape", "code"):
        m = graphdsl.loads(text, name="m.bp")
        c = Compiled(m.flat, m.registry, mode)
        with pytest.raises(NumericError) as info:
            c.forward({"w": 1.0, "b": -3.0})
        e = info.value
        assert "logarithm" in str(e) and "'z'" in str(e) and e.line == 4
        assert "with w = 1, b = -3" in str(e)
        assert c.forward({"w": 1.0, "b": 3.0})[c.output] == math.log(5.0) * 2.0


def test_non_finite_value_is_reported_in_code_mode():
    m = graphdsl.loads("param w = 800\nz = exp(w) - exp(w)\n")
    m.compiled.generate()
    with pytest.raises(NumericError) as info:
        m.forward()
    assert "exp(800)" in str(info.value)


# -- loading: flat form, lazy networkx graph, linear build -------------------------------

def test_flat_graph_becomes_the_documented_networkx_graph():
    text = "param w = 3\nparam b = 4\nz = x*y\nx = 2*w + 3*b\ny = 2*b + 1\n"
    g = build_graph(parse(text))
    assert isinstance(g, nx.MultiDiGraph)
    z = g.nodes["z"]
    assert (z["kind"], z["op"], z["args"], z["name"], z["line"]) == ("op", "mul", ("x", "y"), "z", 3)
    assert g.nodes["w"]["value"] == 3.0 and g.nodes["w"]["kind"] == "param"
    assert sorted(d["index"] for _n, d in g.nodes(data=True)) == list(range(len(g)))
    assert g.get_edge_data("x", "z") == {0: {"arg": 0}}
    assert g.get_edge_data("y", "z") == {1: {"arg": 1}}
    assert g.graph["output"] == "z" and g.graph["params"] == ["w", "b"]
    # the model's graph is made on first use and has the same content
    m = graphdsl.loads(text)
    assert m._graph is None
    mg = m.graph
    assert m.graph is mg
    assert dict(mg.nodes(data=True)) == dict(g.nodes(data=True))
    assert sorted(mg.edges(keys=True, data=True)) == sorted(g.edges(keys=True, data=True))


def test_model_from_a_networkx_graph_still_works():
    reg = default_registry(entry_points=False)
    g = build_graph(parse("param b = 4\ny = 2*b + 1"), registry=reg)
    m = graphdsl.Model(g, reg)
    assert m.graph is g
    assert m.forward() == {"b": 4.0, "y": 9.0} and m.gradients()["b"] == 2.0


def test_flat_order_is_topological_and_stable():
    fg = build_flat(parse(random_text(7)), registry=registry())
    for k, a in enumerate(fg.args):
        assert all(j < k for j in a)
    created = fg.created if fg.created is not None else list(range(len(fg)))
    assert sorted(created) == list(range(len(fg)))
    assert all(fg.pos[n] == k for k, n in enumerate(fg.ids))


def test_cycle_in_a_long_model_is_found_and_named():
    body = [f"s{i} = s{i - 1} + 1" for i in range(1, 20000)]
    text = "param w = 1\ns0 = w + c\n" + "\n".join(body) + "\nc = s19999 * 2\n"
    with pytest.raises(ModelError) as info:
        graphdsl.loads(text)
    msg = str(info.value)
    assert "cycle" in msg and "s0" in msg and "c" in msg


def test_loading_leaves_the_garbage_collector_as_it_found_it():
    assert gc.isenabled()
    graphdsl.loads("param w = 1\nz = 2*w")
    assert gc.isenabled()
    with pytest.raises(Exception):
        graphdsl.loads("z = 2*")
    assert gc.isenabled()
    with pytest.raises(ModelError):
        graphdsl.loads("z = 2*q")
    assert gc.isenabled()
    gc.disable()
    try:
        graphdsl.loads("param w = 1\nz = 2*w")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_run_imports_neither_networkx_nor_numpy(linear_path):
    code = ("import sys\nfrom graphdsl.cli import main\n"
            f"code = main(['run', {str(linear_path)!r}, '--target', '150'])\n"
            "print(code, 'networkx' in sys.modules, 'numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 False False"


# --- a derivative that is not finite is named as a derivative -------------------------

@pytest.mark.parametrize("mode", ["tape", "code"])
def test_an_infinite_derivative_at_a_param_names_the_derivative(mode, tmp_path, cli):
    # log(1e-320) is finite; its derivative 1/w is not. Before, this read
    # "the value of 'w' ... became too large", about a value that was fine.
    m = graphdsl.loads("param w = 1e-320\nz = log(w) + w\n", "m.bp")
    c = Compiled(m.flat, m.registry, mode)
    vals = c.forward()
    with pytest.raises(NumericError) as e:
        c.backward(vals)
    msg = str(e.value)
    assert "the derivative of log(9.999889e-321) in statement 'z' with respect to w is not a " \
           "finite number: inf" in msg
    assert "too large" not in msg and "m.bp:2:5" in msg
    path = tmp_path / "w.bp"
    path.write_text("param w = 1e-320\nz = log(w)\n")
    r = cli("run", path, "--target", "1")
    assert r.code == 1 and "with respect to w is not a finite number" in r.err
    assert "the value of 'w'" not in r.err


def test_a_plugin_partial_that_is_nan_is_named():
    class Flat(Op):
        name, arity = "flat", 2

        def forward(self, a, b):
            return a + b

        def partials(self, a, b, out):
            return (1.0, float("nan"))

    reg = default_registry(entry_points=False)
    reg.register(Flat, "module test")
    m = graphdsl.loads("param x = 2\nparam y = 3\nt = x * 2\nz = flat(t, y)\n", registry=reg)
    with pytest.raises(NumericError) as e:
        m.gradients()
    assert ("the derivative of flat(4, 3) in statement 'z' with respect to y is not a finite "
            "number: nan (not a number)") in str(e.value)


def test_a_gradient_whose_paths_overflow_together_is_named_as_a_sum():
    # each path's contribution is finite; their sum is not
    m = graphdsl.loads("param x = 1e-10\nz = 1e308*x + 1e308*x\n")
    with pytest.raises(NumericError) as e:
        m.gradients()
    assert "∂z/∂x is inf (beyond the largest float): the sum of its paths' contributions" \
        in str(e.value)


def test_a_literals_adjoint_is_not_checked():
    # ∂z/∂(the literal 1e-300) = 1e300 * x overflows; nothing asks for it and
    # batch evaluation does not compute it: the engine does not fail on it either
    m = graphdsl.loads("param x = 1e10\nz = x * 1e-300 * 1e300\n")
    c = m.compiled
    vals = c.forward()
    adj = c.backward(vals)
    assert adj[c.index["x"]] == pytest.approx(1.0)
    assert not all(math.isfinite(a) for a in adj)  # the literal's own adjoint
