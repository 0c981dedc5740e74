"""explain of a data model: ∂loss/∂p as the sum over the samples of each
sample's chain rule, one sample written out path by path (graphdsl.explain),
checked against graphdsl.onesample, the engine, finite differences and sympy."""

from __future__ import annotations

import json
import math

import pytest

import graphdsl
from graphdsl.errors import UsageError
from graphdsl.explain import (SAMPLE_TERMS, SampleExplanation, explain, format_latex,
                              format_markdown, format_text)
from graphdsl.onesample import SampleView

from conftest import MODELS

REG, REG_CSV = MODELS / "regression.bp", MODELS / "data" / "regression.csv"

#: a reduction used again per sample (m, and mean(x) inside c) and a penalty (direct part)
NESTED = """data x = [1, 2, 4, -1]
data y = [0.5, 1, 3, -2]
param w = 0.7
param b = -0.2
c = x - mean(x)
m = mean(w*x)
pred = w*c + b*y - m
loss = mean((pred - y)^2) + 0.1*w^2 + sum(b*c)/4
"""

#: a hidden reduction of a param used again per sample, and the loss a product of two reductions
HIDDEN = """data x = [1, 2, 4, -1]
param w = 0.7
c = w*x - mean(w*x)
loss = mean(c^2) + 2*mean(w*x)
"""
PRODUCT = """data x = [0.5, 1.5, 2]
param a = 1.2
h = sigmoid(a*x) * log(1 + x^2)
loss = sum(h) * mean(h) + a
"""


def regression():
    return graphdsl.load(REG, data=REG_CSV)


def neuron():
    return graphdsl.load(MODELS / "neuron.bp", data=MODELS / "data" / "neuron.csv").set(
        w1=0.3, w2=-0.5, b=0.1)


def xor():
    return graphdsl.load(MODELS / "xor.bp")


MODELS_ = {"regression": regression, "neuron": neuron, "xor": xor,
           "nested": lambda: graphdsl.loads(NESTED), "hidden": lambda: graphdsl.loads(HIDDEN),
           "product": lambda: graphdsl.loads(PRODUCT)}


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


# --- the numbers ------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS_))
@pytest.mark.parametrize("sample", [1, 2, 3])
def test_the_written_sample_adds_up_and_the_samples_add_up_to_the_engine(name, sample):
    m = MODELS_[name]()
    e = explain(m, sample=sample)
    assert isinstance(e, SampleExplanation) and e.sample == sample
    view = SampleView(m)
    s = view.at(sample - 1)
    grads = m.gradients()
    for item in e.items:
        p = item.param
        assert item.mode == "paths" and item.agrees, (name, p)
        # each path's product is its factors' product (a given total first)
        for path in item.paths:
            product = path.given if path.given is not None else 1.0
            for q in path.partials:
                product *= q.value
            assert close(path.product, product)
            assert path.nodes[-1] == p and len(path.nodes) == len(path.partials) + 1
        # the written-out paths sum to the sample's contribution (onesample's)
        assert close(math.fsum(x.product for x in item.paths), s.contributions[p])
        assert close(item.contribution, s.contributions[p])
        # the first terms are the first samples' contributions
        assert [t.row for t in item.terms] == list(range(1, min(SAMPLE_TERMS, view.n) + 1))
        for t in item.terms:
            assert close(t.value, view.at(t.row - 1).contributions[p])
        assert close(item.direct, s.direct[p])
        # and every sample's contribution, plus the direct part, is the engine's gradient
        assert close(item.total, grads[p]) and close(item.gradient, grads[p])
        # sympy, over every sample, where the data is small enough
        if view.n <= 4:
            assert item.symbolic.agrees and close(item.symbolic.value, grads[p], rel=1e-7), p
        else:
            assert item.symbolic is None and "over all" in e.symbolic_note


@pytest.mark.parametrize("name", ["regression", "neuron", "xor"])
def test_a_samples_part_is_its_own_loss_term_by_central_differences(name):
    """For a loss that is the mean of per-sample terms, sample k's part is
    ∂/∂p of its own term, over n: the model on that one row, differentiated by
    central differences."""
    m = MODELS_[name]()
    n = m.data.n
    k = 2
    e = explain(m, sample=k + 1)
    row = {col: [float(m.data.columns[col][k])] for col in m.data_names}
    one = MODELS_[name]()
    one.set_data(**row)
    h = 1e-6
    for item in e.items:
        p = item.param
        v = one.param_values[p]
        up = one.set(**{p: v + h}).forward()[m.output]
        down = one.set(**{p: v - h}).forward()[m.output]
        one.set(**{p: v})
        assert item.contribution == pytest.approx((up - down) / (2 * h) / n, rel=1e-5, abs=1e-9)


def test_the_regression_factors_by_hand():
    m = regression()
    e = explain(m, wrt="w", sample=2)
    x, y = float(m.data.columns["x"][1]), float(m.data.columns["y"][1])
    (path,) = e.items[0].paths
    assert path.nodes == ("loss", "pred", "w")
    first, second = path.partials
    # the mean's factor is 1/n: ∂loss/∂pred at sample 2 = 2(pred - y)/n with pred = 0
    assert first.crossing and close(first.value, 2 * (0.0 - y) / 100)
    assert first.rule == "1/n·2·(pred - y)" and first.expression == "mean((pred - y)²)"
    assert first.weight == 1 / 100
    assert not second.crossing and second.rule == "x" and close(second.value, x)
    assert e.data == {"x": x, "y": y} and e.source == f"{REG_CSV}:3"


def test_a_sum_weighs_each_sample_1():
    m = graphdsl.loads("data x = [1, 2, 3]\nparam w = 2\nloss = sum((w*x - 1)^2)")
    (path,) = explain(m, sample=3).items[0].paths
    assert path.partials[0].rule == "2x·(w·x - 1)" and path.partials[0].weight == 1.0
    assert close(path.product, 2 * 3 * (6 - 1))


def test_a_reduction_used_again_per_sample_is_a_given_total():
    m = graphdsl.loads(NESTED)
    e = explain(m, sample=2)
    view = SampleView(m)
    s = view.at(1)
    # m and mean(x) start paths of their own, with their totals over all samples
    c = m.compiled
    mean_x = next(k for k, op in enumerate(c.ops)
                  if op is not None and op.reduces and c.args[k] == (c.index["x"],))
    assert e.given == {"mean(x)": pytest.approx(s.adjoint_at[mean_x]),
                       "m": pytest.approx(s.adjoints["m"])}
    w = e.items[0]
    starts = [p.nodes for p in w.paths]
    assert ("m", "w") in starts and ("loss", "pred", "w") in starts
    # no path of one sample passes through m: its adjoint holds every sample
    assert all("m" not in p.nodes[1:] for p in w.paths)
    (from_m,) = [p for p in w.paths if p.nodes[0] == "m"]
    assert from_m.given == pytest.approx(s.adjoints["m"])
    assert close(from_m.product, s.adjoints["m"] * 2.0 / 4)     # ∂m/∂w at sample 2 = x/n
    text = format_text(e, "en")
    assert f"∂loss/∂m = {graphdsl.text.format_number(s.adjoints['m'])} is given: a total over " \
           "all 4 samples" in text


def test_a_penalty_is_the_direct_part():
    m = graphdsl.loads(NESTED)
    e = explain(m, wrt="w")
    item = e.items[0]
    assert close(item.direct, 0.2 * 0.7)           # ∂(0.1w²)/∂w
    assert close(math.fsum(SampleView(m).at(k).contributions["w"] for k in range(4))
                 + item.direct, m.gradients()["w"])
    text = format_text(e, "en")
    assert "direct part: 0.14" in text and "+ 0.14 (direct) = 2.44" in text


def test_sympy_checks_the_total_on_a_small_data_set_and_says_when_it_skips():
    m = regression()
    cols = {c: m.data.columns[c][:5] for c in m.data_names}
    m.set_data(**cols)
    m.set(w=0.3, b=-0.1)
    e = explain(m)
    for item in e.items:
        assert item.symbolic is not None and item.symbolic.agrees, item.param
        assert item.symbolic.value == pytest.approx(m.gradients()[item.param], rel=1e-9)
    assert e.symbolic_note is None
    assert "symbolic check (sympy), loss written over all 5 samples: ∂loss/∂w = " in format_text(e)
    big = explain(regression())
    assert all(item.symbolic is None for item in big.items)
    assert "symbolic check skipped: the loss written out over all 100 samples" in format_text(big)


def test_xor_symbolic_check_agrees():
    e = explain(xor(), wrt="v1", sample=3)
    assert e.items[0].symbolic.agrees and e.items[0].agrees


def test_other_param_values_and_the_model_left_as_it_was():
    m = regression()
    e = explain(m, values={"w": 1.5}, sample=1)
    assert e.params == {"w": 1.5, "b": 0.0} and m.param_values["w"] == 0.0
    assert close(e.items[0].total, m.set(w=1.5).gradients()["w"])


def test_past_the_path_limit_the_sample_goes_node_by_node():
    e = explain(xor(), wrt="w11", path_limit=0, sample=3)
    item = e.items[0]
    assert item.mode == "nodes" and item.path_count == 1 and item.paths == [] and item.agrees
    s = SampleView(xor()).at(2)
    # each step's adjoint is that sample's ∂loss/∂node (onesample's), the param's its part
    assert [st.node for st in item.steps] == ["out", "h1", "w11"]
    for st in item.steps[:-1]:
        assert close(st.value, s.adjoints[st.node])
        assert close(st.value, math.fsum(a * q.value for _u, a, q in st.terms))
    assert close(item.steps[-1].value, s.contributions["w11"]) and close(item.contribution,
                                                                         s.contributions["w11"])
    text = format_text(e)
    assert "1 paths lead from loss to w11 at sample 3, more than 0: as reverse mode does" in text
    assert "    ∂loss/∂h1 = ∂loss/∂out·∂out/∂h1 = (-0.5081187)·0.3998945 = -0.2031939" in text
    assert r"\frac{\partial loss}{\partial h_{1}} &= " in format_latex(e)
    nested = explain(graphdsl.loads(NESTED), wrt="w", path_limit=1, sample=2)
    (item,) = nested.items
    assert item.mode == "nodes" and item.agrees
    assert close(item.contribution, SampleView(graphdsl.loads(NESTED)).at(1).contributions["w"])
    assert "∂loss/∂m = 3.6 is given" in format_text(nested)


def test_a_param_no_sample_reaches():
    m = graphdsl.loads("data x = [1, 2]\nparam w = 1\nparam u = 3\nloss = mean(w*x) + u^2")
    u = explain(m, wrt="u").items[0]
    assert u.mode == "none" and close(u.direct, 6.0) and close(u.total, 6.0) and u.agrees


# --- the formats ------------------------------------------------------------------------

def test_text_markdown_latex_json():
    m = regression()
    e = explain(m, wrt="w", sample=2)
    item = e.items[0]
    text = format_text(e, "en")
    assert text.splitlines()[0] == f"{REG}: how reverse mode gets ∂loss/∂p, sample by sample"
    assert f"Sample 2 ({REG_CSV}:3: x = 1.046143, y = 2.398001) is written out" in text
    assert "1 path from loss to w at sample 2:" in text
    assert "loss → pred → w:  ∂loss/∂pred·∂pred/∂w = (-0.04796002)·1.046143 = -0.05017304" in text
    assert ("sample 2's part of ∂loss/∂w = ∂loss/∂pred·∂pred/∂w = (1/n·2·(pred - y))·x = "
            "(-0.04796002)·1.046143 = -0.05017304") in text
    # the mean's 1/n a factor of its own, as the pictures write it
    assert ("∂loss/∂pred = ∂/∂pred(mean((pred - y)²)) = 1/n·2·(pred - y) = 1/100·(-4.796002) "
            "= -0.04796002") in text
    assert ("summed over the 100 samples: ∂loss/∂w = (-2.313056e-05) (sample 1) + (-0.05017304) "
            "(sample 2) + (-0.03022342) (sample 3) + … = -3.343797") in text
    assert "reverse mode (the engine): ∂loss/∂w = -3.343797 — equal to the sum over the samples ✓" \
        in text
    md = format_markdown(e, "en")
    assert "## ∂loss/∂w" in md and "- `loss → pred → w:  " in md and "`∂loss/∂w = (-2.313056e-05)" in md
    tex = format_latex(e, "en")
    assert tex.count(r"\begin{align*}") == 1 == tex.count(r"\end{align*}")
    assert r"\left.\frac{\partial loss}{\partial w}\right|_{i=2}" in tex
    assert r"\sum_{i=1}^{100}" in tex and r"\frac{1}{n} \cdot 2 \left(pred - y\right)" in tex
    assert r"= \frac{1}{100} \cdot (-4.796002) = (-0.04796002)" in tex
    d = json.loads(json.dumps(e.to_dict(), allow_nan=False, ensure_ascii=False))
    assert d["sample"] == 2 and d["n"] == 100 and d["output"] == "loss"
    (j,) = d["items"]
    assert j["param"] == "w" and j["direct"] == 0.0 and close(j["total"], item.gradient)
    assert [t["row"] for t in j["terms"]] == [1, 2, 3]
    assert j["paths"][0]["nodes"] == ["loss", "pred", "w"]
    assert j["paths"][0]["partials"][0]["rule"] == "1/n·2·(pred - y)"
    assert j["paths"][0]["partials"][0]["crossing"] is True


def test_chinese():
    e = explain(graphdsl.loads(NESTED), sample=2)
    text = format_text(e, "zh")
    assert "反向传播如何逐个样本求出 ∂loss/∂p" in text
    assert "样本 2 中从 loss 到 w 共 2 条路径：" in text
    assert "是给定的：它是全部 4 个样本的总和" in text
    assert "直接部分：0.14" in text and "对 4 个样本求和：" in text
    assert "样本 2（模型中内联的数据：x = 2, y = 1）" in text
    assert "与对各样本的求和相等 ✓" in text
    assert "how reverse mode" not in text and "summed over" not in text
    assert "# " in format_markdown(e, "zh") and "样本" in format_latex(e, "zh")


def test_single_number_models_ignore_the_sample():
    m = graphdsl.load(MODELS / "linear.bp")
    assert format_text(explain(m, sample=5), "en") == format_text(explain(m), "en")


# --- the command line -------------------------------------------------------------------

def test_cli_explains_sample_1_by_default_and_sample_k_on_request(cli):
    r = cli("explain", REG, "--data", REG_CSV, "--lang", "en")
    assert r.code == 0, r.err
    assert "Sample 1 (" in r.out and "at sample 1:" in r.out
    r = cli("explain", REG, "--data", REG_CSV, "--sample", "100", "--format", "json")
    assert r.code == 0 and json.loads(r.out)["sample"] == 100
    r = cli("explain", MODELS / "xor.bp", "--sample", "4", "--lang", "zh", "--wrt", "c")
    assert r.code == 0 and "样本 4 中从 loss 到 c" in r.out


def test_cli_help_says_what_the_sample_number_is():
    import contextlib
    import io

    from graphdsl.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["explain", "--help"])
    help_text = " ".join(out.getvalue().split())
    assert "--sample K" in help_text and "the CSV's Kth data row" in help_text and "default 1" in help_text


@pytest.mark.parametrize("args, message", [
    ((REG, "--data", REG_CSV, "--sample", "101"), "--sample 101: the data has 100 samples"),
    ((REG, "--data", REG_CSV, "--sample", "0"), "--sample 0: the data has 100 samples"),
    ((REG, "--data", REG_CSV, "--sample", "-3"), "'-3' must be 0 or more"),
    ((REG, "--data", REG_CSV, "--sample", "two"), "'two' is not a whole number"),
    ((MODELS / "linear.bp", "--sample", "2"), "linear.bp has no data columns"),
    ((MODELS / "xor.bp", "--mode", "forward"), "explain --mode forward is not available for a data model"),
    ((REG,), "the data columns x, y of"),
])
def test_cli_mistakes_are_one_message_and_exit_2(cli, args, message):
    r = cli("explain", *args)
    assert r.code == 2 and message in r.err and r.out == ""
    assert "Traceback" not in r.err and r.err.count("error:") == 1


def test_python_api_refuses_a_sample_outside_the_data():
    with pytest.raises(UsageError, match="the data has 4 samples"):
        explain(xor(), sample=5)


def test_readme_example_is_what_the_command_prints(cli, monkeypatch):
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = ("$ graphdsl explain models/regression.bp --data models/data/regression.csv "
               "--wrt w --sample 2\n")
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    r = cli("explain", "models/regression.bp", "--data", "models/data/regression.csv",
            "--wrt", "w", "--sample", "2", "--lang", "en")
    assert r.code == 0 and r.out == shown


def test_a_deep_data_model_is_walked_without_recursion_and_its_rules_are_bounded():
    lines = ["data x = [1, 2, 3, 4]", "param w = 0.5", "h0 = w*x"]
    lines += [f"h{i} = sin(h{i - 1}) + 0.1" for i in range(1, 1500)]
    lines.append("loss = mean(h1499^2)")
    m = graphdsl.loads("\n".join(lines))
    e = explain(m, sample=2)
    (item,) = e.items
    assert item.mode == "paths" and len(item.paths[0].nodes) == 1502 and item.agrees
    assert close(item.total, m.gradients()["w"])
    from graphdsl.statements import MAX_RULE_SHAPES

    left = 1501 - MAX_RULE_SHAPES      # every statement on the path, but the first ones worked out
    assert e.rules_note.startswith(f"{left} of the 1501 statements shown have numbers but no rule")
    assert f"rules left out: {left} of the 1501" in format_text(e)
    assert sum(q.rule is not None for q in item.paths[0].partials) == MAX_RULE_SHAPES


def test_the_number_of_samples_keeps_its_name_apart_from_a_node_called_n():
    m = graphdsl.loads("data x = [1, 2]\nparam n = 1\nloss = mean((n*x - 1)^2)")
    e = explain(m)
    assert e.n_name == "n_samples"
    assert e.items[0].paths[0].partials[0].rule == "1/n_samples·2x·(n·x - 1)"
    assert "where, at sample 1 (n_samples = 2):" in format_text(e)


def test_a_gradient_that_cancels_to_rounding_is_equal_not_differing(cli, tmp_path):
    """0.1 + 0.2 - 0.3 is 5.6e-17 in floats: the check scales by the largest term."""
    model = tmp_path / "zero.bp"
    model.write_text("data x = [0.1, 0.2, -0.3]\nparam w = 1\nloss = sum(w*x)\n")
    r = cli("explain", model, "--sample", "1")
    assert r.code == 0, r.out + r.err
    assert "equal to the sum over the samples ✓" in r.out and "✗" not in r.out


@pytest.mark.parametrize("command", [
    ["explain", "--sample", "1"],
    ["render", "--view", "backward", "--sample", "1", "-o", "{tmp}/s.svg"],
    ["report", "--epochs", "2", "-o", "{tmp}/r.html"],
])
def test_a_partial_no_param_needs_may_be_infinite_at_a_sample(cli, tmp_path, command):
    """∂sqrt(x)/∂x is infinite at x = 0, and only the data column x is below it:
    the fit needs no such partial, and neither do the pictures nor the chain rule."""
    model = tmp_path / "sqrtx.bp"
    model.write_text("data x = [0, 1, 2]\ndata y = [0, 1, 1.4]\nparam w = 0.7\n"
                     "pred = w*sqrt(x)\nloss = mean((pred - y)^2)\n")
    r = cli(command[0], model, *[a.format(tmp=tmp_path) for a in command[1:]])
    assert "internal error" not in r.err and "Traceback" not in r.err, r.err
    assert r.code in (0, 1)     # a report of a fit that did not converge is exit 1
    if command[0] == "explain":
        assert r.code == 0 and "equal to the sum over the samples ✓" in r.out


def test_an_infinite_partial_at_a_sample_is_the_evaluators_inf():
    m = graphdsl.loads("data x = [0, 1, 2]\ndata y = [1, 1, 1.4]\nparam w = 0.7\n"
                       "pred = w*sqrt(x)\nloss = mean((pred - y)^2)\n")
    one = SampleView(m).at(0)
    # ∂loss/∂pred = (2/3)(0 - 1) at x = 0, times ∂pred/∂x = w/(2·sqrt(0)) = inf
    assert one.adjoints["x"] == -math.inf
    assert one.contributions["w"] == pytest.approx(0.0)


def test_latex_over_samples_keeps_the_sentences_the_text_has():
    m = graphdsl.loads("data x = [1, 2, 4, -1]\ndata y = [3, 1, 2, 5]\nparam w = 0.7\n"
                       "m = mean(w*x)\npred = w*x - m\nloss = mean((pred - y)^2)")
    e = explain(m, sample=2)
    tex, text = format_latex(e), format_text(e)
    for needle in ("is given: a total over all 4 samples", "symbolic check (sympy)"):
        assert needle in text and needle in tex
    big = explain(graphdsl.load(MODELS / "regression.bp", data=MODELS / "data" / "regression.csv"))
    assert "% symbolic check skipped" in format_latex(big)
