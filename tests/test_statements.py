"""The statement view (graphdsl.statements): one source for the picture's edge
rules and captions, explain's chain rule and the report; its structure, its
text, its rules (checked against finite differences and sympy) and the
bounds that keep deep or big models from growing without bound."""

from __future__ import annotations

import itertools
import math
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphdsl
from graphdsl import statements as sv
from graphdsl.explain import EXPAND_TERMS, explain, format_latex, format_markdown, format_text

XX = "param x = 3; a = x*x + 1/x"


def caption(src: str) -> str:
    """The plain text of a DOT graph's caption (the part under the bold title)."""
    label = re.search(r"graph \[label=<(.*)>\]", src).group(1)
    return re.sub(r"<[^>]+>", "", label.split('<BR ALIGN="LEFT"/>', 1)[1])


# --- one rule, one printer ------------------------------------------------------------

def test_the_rule_of_x_x_plus_1_over_x_is_written_once_for_picture_and_explain(cli, tmp_path):
    m = graphdsl.loads(XX, "xx.bp")
    src = m.render("backward").source
    edge = re.search(r"x -> a \[label=<∂a/∂x = (.*) = (\S+)>\]", src)
    assert edge, src
    dot_rule, dot_number = edge.groups()
    text = format_text(explain(m))
    where = re.search(r"∂a/∂x = ∂/∂x\(x² \+ 1/x\) = (.*) = (\S+)\n", text)
    assert where, text
    assert (dot_rule, dot_number) == where.groups()
    assert dot_rule == "2x - 1/x²"       # the textbook's printer won
    # and the command line says the same as the API
    f = tmp_path / "xx.bp"
    f.write_text(XX + "\n")
    r = cli("render", f, "--view", "backward", "-o", "-", "--format", "dot")
    assert f"∂a/∂x = {dot_rule} = {dot_number}" in r.out
    assert f"= {dot_rule} = {dot_number}" in cli("explain", f, "--lang", "en").out


def test_one_path_of_one_edge_is_not_written_twice():
    m = graphdsl.loads(XX, "xx.bp")
    e = explain(m)
    for text in (format_text(e), format_markdown(e)):
        assert "∂a/∂x = ∂a/∂x" not in text
        assert "5.888889 = 5.888889" not in text
        assert "∂a/∂x = 2x - 1/x² = 5.888889" in text
        assert "a → x:  ∂a/∂x = 5.888889" in text
    tex = format_latex(e)
    assert r"\frac{\partial a}{\partial x} &= \frac{\partial a}{\partial x}" not in tex
    assert r"\frac{\partial a}{\partial x} &= 2 x - \frac{1}{x^{2}}" in tex
    assert caption(m.render("backward", wrt="x").source) == "∂a/∂x = 5.888889"
    assert caption(m.render("backward", wrt="x", blank=True).source) == "∂a/∂x = ______"


def test_one_path_of_two_edges_keeps_its_symbols():
    m = graphdsl.load("models/linear.bp")
    text = format_text(explain(m, wrt="w"))
    assert "∂z/∂w = ∂z/∂x·∂x/∂w = y·2 = 9·2 = 18" in text
    assert caption(m.render("backward", wrt="w").source) == "∂z/∂w = ∂z/∂x·∂x/∂w = 9·2 = 18"


def test_caption_and_explain_write_negative_factors_alike():
    m = graphdsl.loads("param w = 2\nparam v = 1\na = -3*w + v\nz = a*a - w\n", "neg.bp")
    text = format_text(explain(m, wrt="w"))
    line = "∂z/∂w = ∂z/∂a·∂a/∂w + ∂z/∂w"
    numbers = "(-10)·(-3) + (-1) = 29"
    assert f"{line} = 2a·(-3) + (-1) = {numbers}" in text
    assert caption(m.render("backward", wrt="w").source) == f"{line} = {numbers}"


def test_every_edge_label_rule_is_explains_rule():
    m = graphdsl.loads("param θ = 0.7\nparam 学习率 = 2\nβ = sin(θ)*学习率 + θ^3\n"
                       "γ = sqrt(β) + exp(-β)\nz = γ*β - 0.1*θ\n", "uni.bp")
    e = explain(m)
    src = m.render("backward").source
    shown = 0
    for (p, c), q in e.partials.items():
        label = re.search(rf"\"?{p}\"? -> \"?{c}\"? \[label=<(.*?)>\]", src).group(1)
        if q.constant:
            assert label == f"∂{c}/∂{p} = {graphdsl.text.format_number(q.value)}"
        else:
            assert label == f"∂{c}/∂{p} = {q.rule} = {graphdsl.text.format_number(q.value)}"
            shown += 1
    assert shown >= 4


# --- the rules are right ---------------------------------------------------------------

FORMS = ["{a}*{b}", "({a} + {b})*0.5", "tanh({a} - {b})", "{a} - 0.5*{b}", "sigmoid({a})*{b}",
         "{a}^2/({b}*{b} + 1)", "exp(-{a})*sin({b})", "sqrt({a}*{a} + 1)*{b}", "log(1 + {a}*{a})"]


@st.composite
def chains(draw):
    n = draw(st.integers(1, 6))
    lines = [f"param p{i} = {draw(st.floats(-1.5, 1.5)):.3f}" for i in range(3)]
    names = ["p0", "p1", "p2"]
    for k in range(n):
        form = draw(st.sampled_from(FORMS))
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        lines.append(f"s{k} = " + form.format(a=a, b=b))
        names.append(f"s{k}")
    return "\n".join(lines) + f"\noutput s{n - 1}\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_each_rule_evaluates_to_the_engines_partial_and_to_finite_differences(text):
    import sympy

    m = graphdsl.loads(text, "r.bp")
    c = m.compiled
    view = sv.statements(m)
    rules = sv.Rules(m)
    vals = c.forward()
    local = c.local_partials(vals)
    value = {n: vals[c.index[n]] for n in view.named}
    for child, inputs in view.inputs.items():
        found = rules.of(child)
        assert found is not None
        subs = {sympy.Symbol(n, real=True): value[n] for n in inputs}
        for p in inputs:
            engine = local[(p, child)]
            symbolic = float(found[p].expr.subs(subs).evalf())
            assert math.isclose(symbolic, engine, rel_tol=1e-9, abs_tol=1e-12), (child, p)
            # central finite difference of the statement itself in its input p
            stmt = found.statement.expr
            h = 1e-6 * max(1.0, abs(value[p]))
            sp_ = sympy.Symbol(p, real=True)
            up = float(stmt.subs({**subs, sp_: value[p] + h}).evalf())
            down = float(stmt.subs({**subs, sp_: value[p] - h}).evalf())
            assert math.isclose((up - down) / (2 * h), engine, rel_tol=1e-5, abs_tol=1e-7)


def test_shapes_share_one_derivative_and_print_with_their_own_names():
    m = graphdsl.loads("param a = 1\nparam b = 2\nx = a*tanh(b)\ny = b*tanh(a)\nz = x + y\n")
    rules = sv.Rules(m)
    assert rules.of("x")["b"].text == "a·(1 - tanh(b)²)"
    assert rules.of("y")["a"].text == "b·(1 - tanh(a)²)"
    assert len(rules.seen) == 1      # x and y have one shape
    assert rules.of("z")["x"].text == "1" and len(rules.seen) == 2


def test_a_huge_exact_power_of_constants_is_kept_as_a_float():
    m = graphdsl.loads("param w = 2\nz = w * 1.0001^1000000\n")
    t = time.perf_counter()
    r = sv.Rules(m).of("z")
    assert r is not None and r["w"].text.startswith("2.67471")
    assert time.perf_counter() - t < 20


# --- structure ----------------------------------------------------------------------

def _diamonds(k: int) -> str:
    lines = ["param p = 0.5", "x0 = p"]
    for i in range(1, k + 1):
        lines += [f"a{i} = 2*x{i - 1}", f"b{i} = sin(x{i - 1})", f"x{i} = a{i}*b{i}"]
    return "\n".join(lines) + f"\noutput x{k}\n"


def _brute_paths(view, frm, to):
    """Every path by plain enumeration (exponential: only for small graphs)."""
    out, stack = [], [(frm,)]
    while stack:
        trail = stack.pop()
        if trail[-1] == to:
            out.append(trail)
            continue
        for i in view.inputs.get(trail[-1], ()):
            stack.append(trail + (i,))
    return out


def test_paths_and_their_counts_match_plain_enumeration():
    for text in (_diamonds(3), open("models/linear.bp").read(),
                 "param a = 1\nb = a*a + a\nc = b*a + b\nd = c*b*a\n"):
        m = graphdsl.loads(text)
        view = sv.statements(m)
        for p in view.named:
            brute = _brute_paths(view, m.output, p)
            assert view.path_counts(p)[m.output] == len(brute)
            got = view.paths(m.output, p, 1000)
            assert sorted(got) == sorted(brute) and len(set(got)) == len(got)
            if len(brute) > 1:
                assert view.paths(m.output, p, len(brute) - 1) is None


def test_path_counts_are_exact_past_any_float():
    view = sv.statements(graphdsl.loads(_diamonds(70)))
    assert view.path_counts("p")["x70"] == 2 ** 70


def test_a_long_chain_has_one_path_walked_in_linear_time():
    n = 20000
    text = "param p = 0.5\nx0 = p\n" + "".join(f"x{i} = 0.5*x{i - 1}\n" for i in range(1, n))
    view = sv.statements(graphdsl.loads(text))
    t = time.perf_counter()
    paths = view.paths(f"x{n - 1}", "p", 20)
    assert len(paths) == 1 and len(paths[0]) == n + 1
    assert time.perf_counter() - t < 20   # generous: copying each trail made it quadratic


def test_inputs_are_in_order_of_first_use_and_users_in_topological_order():
    m = graphdsl.loads("param a = 1\nparam b = 2\nparam c = 3\nz = c*(b + a*c) + b\n"
                       "y = z + a\noutput y")
    view = sv.statements(m)
    assert view.inputs["z"] == ["c", "b", "a"]
    assert view.users["a"] == ["z", "y"]
    assert view.size["z"] == 4      # its own add and the hidden mul, add, mul
    assert view.reach_up("y") == {"y", "z", "a", "b", "c"}
    assert view.reach_down("c") == {"c", "z", "y"}


# --- text, built only as far as it is shown ---------------------------------------------

def _full_text(fg, k):
    """The text of a sub-expression built in full (recursive: small inputs only)."""
    if fg.kind[k] != "op":
        return (fg.name[k] or graphdsl.text.format_number(fg.value[k]), 9)
    parts = [(fg.name[j], 9) if fg.name[j] is not None else _full_text(fg, j) for j in fg.args[k]]
    return sv.text_of(fg.op[k], parts)


@pytest.mark.parametrize("depth", [1, 5, 12, 40, 150])
def test_cut_text_is_the_start_of_the_full_text(depth):
    ops = itertools.cycle(["(w+{})", "2*{}", "sin({})", "({})^2", "-{}", "({})/3", "1-{}"])
    expr = "w"
    for _ in range(depth):
        expr = next(ops).format(expr)
    m = graphdsl.loads(f"param w = 0.5\nz = {expr}\n")
    view = sv.statements(m)
    fg = m.flat
    full = _full_text(fg, fg.pos["z"])[0]
    expected = full if len(full) <= 40 else full[:39] + "…"
    assert view.text("z") == expected
    assert m.render("structure").source.count(expected) == 1


def test_a_statement_nested_20000_deep_renders_in_linear_memory():
    import tracemalloc

    depth = 20000
    m = graphdsl.loads("param w = 0.5\nz = " + "(" * depth + "w" + "+1)" * depth + "\n")
    tracemalloc.start()
    src = m.render("backward").source
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "<B>z</B> = " + ("w" + " + 1" * 10)[:39] + "…<BR/>" in src
    assert "∂z/∂w = 1>" in src        # too big for a rule: the number alone
    # building every prefix in full took ~860 MB here; cut parts stay small
    assert peak < 100 * 2 ** 20, peak


# --- the symbolic work is bounded --------------------------------------------------------

def test_a_big_power_is_checked_as_written_not_expanded(cli, tmp_path):
    f = tmp_path / "power.bp"
    f.write_text("".join(f"param {n} = 0.{k + 1}\n" for k, n in enumerate("abcdef"))
                 + "z = (a + b + c + d + e + f)^40\n")
    t = time.perf_counter()
    r = cli("explain", f, "--lang", "en")
    assert time.perf_counter() - t < 20
    assert r.code == 0, r.err
    assert "z = (a + b + c + d + e + f)⁴⁰" in r.out
    assert "∂z/∂a = 40·(a + b + c + d + e + f)³⁹" in r.out
    assert "DIFFERS" not in r.out and r.out.count("✓") >= 12


def test_small_polynomials_are_still_expanded():
    e = explain(graphdsl.load("models/linear.bp"))
    assert e.expanded and e.expression == "6b² + 4b·w + 3b + 2w"
    terms = graphdsl.explain.symbolic_cost
    m = graphdsl.loads("param a = 1\nparam b = 2\nz = (a + b)^6\n")
    assert terms(m.compiled, m.compiled.forward())[2] == 7 <= EXPAND_TERMS
    assert explain(m).expanded


def _sincos(n: int) -> str:
    lines = ["param p = 0.3", "x0 = p"]
    lines += [f"x{i} = sin(x{i - 1}) + cos(x{i - 1})" for i in range(1, n + 1)]
    return "\n".join(lines) + f"\noutput x{n}\n"


def test_a_chain_of_sin_cos_diamonds_is_skipped_with_a_sentence(cli, tmp_path):
    f = tmp_path / "sincos.bp"
    f.write_text(_sincos(25))
    t = time.perf_counter()
    r = cli("explain", f, "--lang", "en")
    assert r.code == 0, r.err
    assert "symbolic check skipped: the output written out in full" in r.out
    assert "equal to the sum of the paths" in r.out
    out = tmp_path / "sincos.html"
    r = cli("report", f, "--target", "1", "--max-iter", "3", "-o", out)
    assert r.code in (0, 1), r.err
    assert time.perf_counter() - t < 40


def test_a_thousand_statements_explain_and_report_in_bounded_time(cli, tmp_path):
    import random

    rng = random.Random(3)
    forms = ["{a}*{b}", "({a} + {b})*0.5", "tanh({a} - {b})", "{a} - 0.5*{b}", "sigmoid({a})*{b}"]
    lines = [f"param p{i} = {rng.uniform(-1, 1):.3f}" for i in range(8)]
    names = [f"p{i}" for i in range(8)]
    for k in range(1000):
        a = names[-1 - min(len(names) - 1, int(rng.expovariate(0.05)))]
        lines.append(f"s{k} = " + rng.choice(forms).format(a=a, b=rng.choice(names)))
        names.append(f"s{k}")
    f = tmp_path / "big.bp"
    f.write_text("\n".join(lines) + "\noutput s999\n")
    t = time.perf_counter()
    r = cli("explain", f, "--lang", "en", "--wrt", "p3")
    assert r.code == 0, r.err
    assert "symbolic check skipped: the output written out in full" in r.out
    r = cli("report", f, "--target", "0", "--max-iter", "3", "-o", tmp_path / "big.html")
    assert r.code in (0, 1), r.err
    assert time.perf_counter() - t < 60


def test_past_the_rule_bounds_the_shown_partials_say_so():
    # 100 statements in a chain, each of its own shape (its own constant): one path shows all
    text = "param p = 0.5\nx0 = p\n" + "".join(f"x{i} = 0.5*x{i - 1} + {i}\n" for i in range(1, 101))
    m = graphdsl.loads(text, "chain.bp")
    e = explain(m)
    out = format_text(e)
    # the statements are taken from the output down: x100 ... x41 are 60 shapes
    assert "rules left out: 41 of the 101 statements shown" in out
    assert "∂x100/∂x99 = ∂/∂x99(x99/2 + 100) = 0.5\n" in out   # within the bounds: a rule
    assert "∂x40/∂x39 = 0.5\n" in out                               # past them: the number
    assert e.to_dict()["rules_note"] == e.rules_note
    assert "rules_note" not in explain(graphdsl.load("models/linear.bp")).to_dict()
    # the picture keeps to the same bounds
    src = m.render("backward").source
    assert len(re.findall(r"label=<∂x\d+/∂x\d+ = \S+ = ", src)) <= sv.MAX_RULE_SHAPES


def _sleep_then(value):
    time.sleep(30)
    return value


def test_the_symbolic_work_is_stopped_by_the_clock(monkeypatch):
    from graphdsl import explain as ex

    t = time.perf_counter()
    assert ex.in_child(_sleep_then, (1,), 0.5) is ex.TIMED_OUT
    assert time.perf_counter() - t < 20
    assert ex.in_child(sorted, ([3, 1, 2],), 10) == [1, 2, 3]
    # a model whose check would outlast the deadline says so, and keeps its numbers
    monkeypatch.setattr(ex, "SYMBOLIC_SECONDS", 0.0)
    e = explain(graphdsl.loads(XX, "slow.bp"))
    assert e.symbolic_note == "sympy took more than 0 s over it and was stopped"
    assert e.items[0].symbolic is None and e.items[0].agrees
    assert "symbolic check skipped: sympy took more than 0 s" in format_text(e)


def test_the_derivatives_evaluate_in_floats_as_sympy_would():
    import sympy

    from graphdsl import explain as ex

    x, y = sympy.symbols("x y", real=True)
    cases = [sympy.tanh(x * y) ** 2 / (1 + sympy.exp(-x)), sympy.Piecewise((x, x > 0), (0, True)),
             sympy.Abs(x) * sympy.sign(y) + sympy.log(y) * sympy.cos(x) ** 3, sympy.sqrt(x * x + y)]
    for expr in cases:
        for vx, vy in ((0.7, 1.3), (-0.4, 2.5)):
            got = ex.run_program(ex.to_program(expr), {"x": vx, "y": vy})
            want = float(expr.subs({x: vx, y: vy}).evalf())
            assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15), expr
    # outside the reals, or a function it does not know: no number rather than a wrong one
    assert ex.run_program(ex.to_program(sympy.sqrt(x)), {"x": -1.0}) is None
    assert ex.run_program(ex.to_program(sympy.erf(x)), {"x": 0.5}) is None
