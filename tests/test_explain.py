"""explain (the chain rule path by path), compare (the methods side by side),
the plots of a run, and --lang zh|en."""

from __future__ import annotations

import json
import math
import sys
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphdsl
from graphdsl.explain import PATH_LIMIT, explain, format_latex, format_markdown, format_text

# --- the seed's example ------------------------------------------------------------


def test_explain_b_shows_both_paths_and_63(cli, linear_path):
    r = cli("explain", linear_path, "--wrt", "b", "--lang", "en")
    assert r.code == 0, r.err
    assert "2 paths from z to b" in r.out
    assert "z → x → b:  ∂z/∂x·∂x/∂b = 9·3 = 27" in r.out
    assert "z → y → b:  ∂z/∂y·∂y/∂b = 18·2 = 36" in r.out
    # the seed's line, symbols, rules, numbers, total
    assert ("∂z/∂b = ∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b = y·3 + x·2 = 9·3 + 18·2 = 63") in r.out
    assert "∂z/∂x = ∂/∂x(x·y) = y = 9" in r.out
    assert "∂x/∂b = ∂/∂b(3b + 2w) = 3" in r.out
    assert "reverse mode (the engine): ∂z/∂b = 63 — equal to the sum of the paths" in r.out
    # the symbolic cross-check of the chapter: z = 6b² + 3b + 4wb + 2w
    assert "z = 6b² + 4b·w + 3b + 2w" in r.out
    assert "∂z/∂b = 12b + 4w + 3 = 63" in r.out


def test_explain_w_shows_18_and_says_the_y_path_is_absent(cli, linear_path):
    r = cli("explain", linear_path, "--wrt", "w", "--lang", "en")
    assert r.code == 0, r.err
    assert "1 path from z to w" in r.out
    assert "∂z/∂w = ∂z/∂x·∂x/∂w = y·2 = 9·2 = 18" in r.out
    # absent, not zero: which it is, and why
    assert "the path through y is absent: y does not depend on w (y = 2b + 1)" in r.out
    assert "contributes 0" not in r.out
    assert "z → y → w" not in r.out


def test_explanation_data_for_w():
    m = graphdsl.load("models/linear.bp")
    item = explain(m, wrt="w").items[0]
    assert item.mode == "paths" and item.path_count == 1
    assert [p.nodes for p in item.paths] == [("z", "x", "w")]
    assert [(a.node, a.input) for a in item.absent] == [("z", "y")]
    assert item.zero_paths == []
    assert item.total == item.gradient == m.gradients()["w"]


def test_explain_all_params_agree_with_engine():
    m = graphdsl.load("models/linear.bp")
    e = explain(m)
    grads = m.gradients()
    assert [i.param for i in e.items] == ["w", "b"]
    for item in e.items:
        assert item.agrees and item.total == pytest.approx(grads[item.param])
        assert item.symbolic.agrees and item.symbolic.value == pytest.approx(grads[item.param])
    d = e.to_dict()
    json.dumps(d)  # plain data
    assert d["partials"]["b->y"]["value"] == 2.0


def test_explain_values_override_is_pure():
    m = graphdsl.load("models/linear.bp")
    e = explain(m, wrt="b", values={"b": 1.0})
    # at b = 1: x = 9, y = 3, ∂z/∂b = 3y + 2x = 27
    assert e.items[0].total == 27.0
    assert m.param_values == {"w": 3.0, "b": 4.0}


def test_path_that_exists_but_contributes_zero():
    m = graphdsl.loads("param w = -1\na = relu(w)\nz = a + 2*w\noutput z", "relu.bp")
    e = explain(m, wrt="w")
    item = e.items[0]
    assert [p.nodes for p in item.zero_paths] == [("z", "a", "w")]
    assert item.absent == []
    text = format_text(e)
    assert "the path z → a → w exists but contributes 0 here: ∂a/∂w = 0" in text
    assert item.total == item.gradient == 2.0


def test_output_that_does_not_depend_on_a_param(cli, tmp_path):
    f = tmp_path / "m.bp"
    f.write_text("param w = 1\nparam v = 2\nz = 3*w\noutput z\n")
    r = cli("explain", f, "--wrt", "v", "--lang", "en")
    assert r.code == 0, r.err
    assert "z does not depend on v: there is no path from z to v, so ∂z/∂v = 0." in r.out


def _diamonds(k: int) -> str:
    """k diamonds in a row: 2**k paths from the output to p."""
    lines = ["param p = 0.5", "x0 = p"]
    for i in range(1, k + 1):
        lines += [f"a{i} = 2*x{i - 1}", f"b{i} = sin(x{i - 1})", f"x{i} = a{i}*b{i}"]
    lines.append(f"output x{k}")
    return "\n".join(lines)


def test_many_paths_are_explained_node_by_node():
    m = graphdsl.loads(_diamonds(5), "diamonds.bp")
    e = explain(m, wrt="p")
    item = e.items[0]
    assert item.path_count == 32 > PATH_LIMIT
    assert item.mode == "nodes" and item.paths == []
    assert item.agrees and item.total == pytest.approx(m.gradients()["p"], rel=1e-12)
    # one step per node between output and p, each a sum over the nodes that use it
    assert [s.node for s in item.steps][-1] == "p"
    text = format_text(e)
    assert "32 paths lead from x5 to p, more than 20" in text
    assert "∂x5/∂a5 = ∂x5/∂x5·∂x5/∂a5" in text
    assert "equal to the node-by-node sum" in text


def test_few_diamonds_are_listed_path_by_path():
    m = graphdsl.loads(_diamonds(4), "diamonds.bp")
    item = explain(m, wrt="p").items[0]
    assert item.mode == "paths" and len(item.paths) == 16 == item.path_count
    assert len({p.nodes for p in item.paths}) == 16


def _chain_model(n: int):
    """x_i = x_(i-1) + p for i < n, built straight as a graph (the shape build.py
    makes) so the test measures explain, not the loader."""
    import networkx as nx

    from graphdsl.model import Model
    from graphdsl.ops import default_registry

    g = nx.MultiDiGraph(output=f"x{n - 1}", target=None, params=["p"], definitions={},
                        file="chain.bp", source=None)
    g.add_node("p", kind="param", value=0.5, name="p", stmt="p", line=1, column=1, index=0)
    g.add_node("x0", kind="op", op="identity", args=("p",), name="x0", stmt="x0",
               line=2, column=1, index=1)
    g.add_edge("p", "x0", key=0)
    for i in range(1, n):
        g.add_node(f"x{i}", kind="op", op="add", args=(f"x{i - 1}", "p"), name=f"x{i}",
                   stmt=f"x{i}", line=i + 2, column=1, index=i + 1)
        g.add_edge(f"x{i - 1}", f"x{i}", key=0)
        g.add_edge("p", f"x{i}", key=1)
    return Model(g, default_registry(entry_points=False), "chain.bp")


def test_deep_model_does_not_recurse():
    n = 5000  # far past Python's recursion limit
    m = _chain_model(n)
    e = explain(m, wrt="p", use_sympy=False)
    item = e.items[0]
    assert item.path_count == n  # the chain, and a shortcut to p at every step
    assert item.mode == "nodes" and item.agrees
    assert item.total == pytest.approx(n)
    assert len(item.steps) == n


def test_huge_path_counts_are_counted_not_listed():
    m = graphdsl.loads(_diamonds(40), "diamonds.bp")
    item = explain(m, wrt="p", use_sympy=False).items[0]
    assert item.path_count == 2 ** 40
    assert item.mode == "nodes" and item.agrees


def test_explain_without_sympy_still_gives_the_numbers(monkeypatch, cli, linear_path):
    monkeypatch.setitem(sys.modules, "sympy", None)  # import sympy now raises ImportError
    r = cli("explain", linear_path, "--wrt", "b", "--lang", "en")
    assert r.code == 0, r.err
    assert "sympy is not installed" in r.out and "graphdsl[explain]" in r.out
    assert "∂z/∂b = ∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b = 9·3 + 18·2 = 63" in r.out
    assert "symbolic check (sympy):" not in r.out


def test_explain_wrong_wrt_is_a_usage_error(cli, linear_path):
    r = cli("explain", linear_path, "--wrt", "bb")
    assert r.code == 2 and "'bb' is not in the model" in r.err and "did you mean 'b'" in r.err
    r = cli("explain", linear_path, "--wrt", "x")
    assert r.code == 2 and "'x' is computed, not a param" in r.err
    assert "Traceback" not in r.err


def test_explain_formats(cli, linear_path):
    md = cli("explain", linear_path, "--wrt", "b", "--format", "markdown", "--lang", "en").out
    assert md.startswith("# ") and "## ∂z/∂b" in md
    assert "`∂z/∂b = ∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b = y·3 + x·2 = 9·3 + 18·2 = 63`" in md
    tex = cli("explain", linear_path, "--wrt", "b", "--format", "latex").out
    assert r"\begin{align*}" in tex and r"\end{align*}" in tex
    assert r"&= 9 \cdot 3 + 18 \cdot 2" in tex and r"&= y \cdot 3 + x \cdot 2" in tex
    assert r"\frac{\partial z}{\partial b} = 12 b + 4 w + 3 = 63" in tex
    data = json.loads(cli("explain", linear_path, "--format", "json").out)
    assert [i["total"] for i in data["items"]] == [18.0, 63.0]


def test_explain_set(cli, linear_path):
    r = cli("explain", linear_path, "--wrt", "b", "--set", "b=1", "--lang", "en")
    assert r.code == 0 and "= 27" in r.out and "at w = 3, b = 1: z = 27" in r.out


# --- random models: explained sum == engine gradient == sympy's derivative ------------

UNARY = {"sin": "sin", "cos": "cos", "tanh": "tanh", "neg": None, "sq": None}


@st.composite
def models(draw):
    """A random model as text, plus the same model built in sympy directly
    (independently of graphdsl): params p0.., statements s0.. over earlier names."""
    import sympy

    n_params = draw(st.integers(1, 3))
    n_stmts = draw(st.integers(1, 5))
    names = [f"p{i}" for i in range(n_params)]
    values = {n: draw(st.floats(-1.5, 1.5).map(lambda v: round(v, 2))) for n in names}
    sym = {n: sympy.Symbol(n) for n in names}

    def expr(depth):
        if depth == 0 or draw(st.booleans()):
            if draw(st.integers(0, 4)) == 0:
                k = draw(st.integers(1, 3))
                return str(k), sympy.Integer(k)
            n = draw(st.sampled_from(names))
            return n, sym[n]
        kind = draw(st.sampled_from(["+", "-", "*", "sin", "cos", "tanh", "neg", "sq"]))
        a, sa = expr(depth - 1)
        if kind in "+-*":
            b, sb = expr(depth - 1)
            s = {"+": sa + sb, "-": sa - sb, "*": sa * sb}[kind]
            return f"({a} {kind} {b})", s
        if kind == "neg":
            return f"(-{a})", -sa
        if kind == "sq":
            return f"({a})^2", sa ** 2
        return f"{kind}({a})", getattr(sympy, kind)(sa)

    lines = [f"param {n} = {values[n]}" for n in names]
    for i in range(n_stmts):
        text, s = expr(3)
        name = f"s{i}"
        lines.append(f"{name} = {text}")
        sym[name] = s  # later statements see the full expression in the params
        names.append(name)
    out = names[-1]
    lines.append(f"output {out}")
    return "\n".join(lines), sym[out], values


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models())
def test_random_models_sum_equals_engine_and_sympy(case):
    import sympy

    text, out_expr, values = case
    m = graphdsl.loads(text, "random.bp")
    e = explain(m)
    grads = m.gradients()
    subs = {sympy.Symbol(p): v for p, v in values.items()}
    for item in e.items:
        expected = float(sympy.diff(out_expr, sympy.Symbol(item.param)).subs(subs).evalf())
        scale = max(1.0, abs(expected))
        assert item.agrees
        assert math.isclose(item.gradient, grads[item.param])
        assert math.isclose(item.total, expected, rel_tol=1e-7, abs_tol=1e-9 * scale), text
        if item.mode == "paths":
            assert len(item.paths) == item.path_count
            assert math.isclose(sum(p.product for p in item.paths), expected,
                                rel_tol=1e-7, abs_tol=1e-9 * scale)


# --- compare -----------------------------------------------------------------------

def _rows(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] in ("split", "frozen", "gd"):
            rows[cells[0]] = cells
    return rows


def test_compare_split_needs_fewer_iterations_than_frozen(cli, linear_path):
    r = cli("compare", linear_path, "--target", "150", "--lang", "en")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[2].split() == ["method", "iterations", "w", "b", "z", "final", "error",
                                "converged", "status"]
    rows = _rows(r.out)
    assert set(rows) == {"split", "frozen", "gd"}
    assert rows["split"][-2] == rows["frozen"][-2] == "yes"
    assert int(rows["split"][1]) < int(rows["frozen"][1])
    assert "fewest iterations: split" in r.out
    # gd at the default lr overshoots on this model, and says what lr would do
    assert rows["gd"][-2] == "no" and "try --lr" in r.out


def test_compare_with_small_lr_converges_and_needs_a_target(cli, linear_path):
    r = cli("compare", linear_path, "--target", "150", "--lr", "0.0002", "--methods", "gd,split")
    assert r.code == 0 and _rows(r.out)["gd"][-2] == "yes"
    r = cli("compare", linear_path)
    assert r.code == 2 and "compare needs a target" in r.err
    r = cli("compare", linear_path, "--target", "150", "--methods", "newton")
    assert r.code == 2 and "unknown method 'newton'" in r.err


# --- plots -------------------------------------------------------------------------

def _svg_texts(path) -> str:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return " ".join(t.strip() for t in root.itertext())


def test_compare_plot_svg_and_png(cli, linear_path, tmp_path):
    svg, png = tmp_path / "cmp.svg", tmp_path / "cmp.png"
    assert cli("compare", linear_path, "--target", "150", "--plot", svg).code == 0
    texts = _svg_texts(svg)
    assert "split: 3 iterations, converged" in texts
    assert "frozen: 5 iterations, converged" in texts
    assert "gd diverges" in texts
    assert cli("compare", linear_path, "--target", "150", "--plot", png).code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_plot_is_deterministic_and_has_the_curve_panel(cli, tmp_path):
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    r = cli("run", "models/nonlinear.bp", "--plot", a, "--lang", "en")
    assert r.code == 0 and f"plot written to {a}" in r.out
    assert cli("run", "models/nonlinear.bp", "--plot", b).code == 0
    assert a.read_bytes() == b.read_bytes()
    texts = _svg_texts(a)
    assert "c as a function of x" in texts and "∂c/∂x" in texts
    assert "step: the tangent down to the target" in texts


def test_run_plot_two_params_has_only_the_error_panel(cli, linear_path, tmp_path):
    f = tmp_path / "run.svg"
    assert cli("run", linear_path, "--target", "150", "--plot", f).code == 0
    texts = _svg_texts(f)
    assert "|error|" in texts and "as a function of" not in texts
    f2 = tmp_path / "runb.svg"
    assert cli("run", linear_path, "--target", "150", "--params", "b", "--plot", f2).code == 0
    assert "z as a function of b" in _svg_texts(f2)


def test_run_plot_minimize_and_json_stays_pure(cli, tmp_path):
    f = tmp_path / "gd.png"
    r = cli("run", "models/gd_square.bp", "--minimize", "--lr", "0.3", "--tol", "0.01",
            "--plot", f, "--json")
    assert r.code == 0
    json.loads(r.out)  # stdout is still exactly one JSON object
    assert f.read_bytes()[:4] == b"\x89PNG"


def test_run_plot_without_target(cli, linear_path, tmp_path):
    f = tmp_path / "curve.svg"
    r = cli("run", "models/gd_square.bp", "--plot", f)  # one param: the curve alone
    assert r.code == 0
    texts = _svg_texts(f)
    assert "J as a function of x" in texts and "|error|" not in texts
    r = cli("run", linear_path, "--plot", tmp_path / "none.svg")
    assert r.code == 2 and "give --target T or --minimize" in r.err
    assert r.out == "" and not (tmp_path / "none.svg").exists()


def test_plot_errors(cli, linear_path, tmp_path, monkeypatch):
    r = cli("run", linear_path, "--target", "150", "--plot", tmp_path / "x.jpg")
    assert r.code == 2 and ".svg, .png or .pdf" in r.err
    assert r.out == ""  # refused before the run, not after its table
    odd = tmp_path / "model.svg"  # a model whose name looks like a plot
    odd.write_text(linear_path.read_text())
    r = cli("run", odd, "--target", "150", "--plot", odd)
    assert r.code == 2 and "refusing to write over the model file" in r.err
    assert odd.read_text() == linear_path.read_text()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = cli("compare", linear_path, "--target", "150", "--plot", tmp_path / "c.svg")
    assert r.code == 2 and "graphdsl[plot]" in r.err and "Traceback" not in r.err
    assert r.out == ""  # said before the methods ran


# --- languages ---------------------------------------------------------------------

def test_explain_in_chinese(cli, linear_path):
    r = cli("explain", linear_path, "--wrt", "w", "--lang", "zh")
    assert r.code == 0
    assert "从 z 到 w 共 1 条路径" in r.out and "其中：" in r.out
    assert "经过 y 的路径不存在：y 不依赖于 w" in r.out
    assert "y·2 = 9·2 = 18" in r.out


def test_run_and_compare_in_chinese(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--lang", "zh")
    header = r.out.splitlines()[2].split()
    assert header[0] == "迭代" and "误差" in header
    assert "3 次迭代后收敛" in r.out
    r = cli("compare", linear_path, "--target", "150", "--lang", "zh")
    assert "方法" in r.out and "迭代次数" in r.out and "最终误差" in r.out


def test_language_defaults_to_the_locale(cli, linear_path, monkeypatch):
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert "迭代" in cli("run", linear_path, "--target", "150").out
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")  # LC_ALL wins over LANG
    out = cli("run", linear_path, "--target", "150").out
    assert out.splitlines()[2].startswith("iter ") and "converged after 3 iterations" in out


def test_english_run_output_is_unchanged(cli, linear_path, monkeypatch):
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    lines = cli("run", linear_path, "--target", "150").out.splitlines()
    assert lines[0].endswith("linear.bp: z → 150, method split")
    assert lines[2].split() == ["iter", "w", "b", "z", "error", "∂z/∂w", "∂z/∂b", "Δw", "Δb"]
    assert lines[-1].startswith("converged after 3 iterations: w = 2.661519, b = 3.903263")
    lines = cli("run", linear_path).out.splitlines()
    assert lines[2].split() == ["node", "value", "∂z/∂node"]


def test_markdown_and_latex_from_the_api():
    m = graphdsl.load("models/nonlinear.bp")
    e = explain(m)
    assert "1/a" in format_markdown(e)
    assert r"\frac{\partial c}{\partial x}" in format_latex(e)


def test_explain_of_a_statement_nested_thousands_deep_keeps_its_numbers(cli, tmp_path):
    # sympy's tree walks recurse; graphdsl must still explain with numbers, exit 0
    n = 4000
    model = tmp_path / "deep.bp"
    model.write_text("param x = 0.5\ny = " + "sin(" * n + "x" + ")" * n + "\n")
    r = cli("explain", model)
    assert r.code == 0, r.err
    assert "nested too deeply" in r.out
    assert "equal to the sum of the paths" in r.out


def test_relu_at_its_kink_agrees_with_sympy(cli, tmp_path):
    # the op takes relu'(0) = 0; sympy's form must say the same, not Heaviside(0) = 1/2
    model = tmp_path / "relu0.bp"
    model.write_text("param w = 0\nz = relu(w) + w\n")
    r = cli("explain", model)
    assert r.code == 0, r.out + r.err
    assert "DIFFERS" not in r.out and "= 1" in r.out
