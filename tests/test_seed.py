"""The backpropagation chapter graphdsl was made for ("用数学概念理解反向传播", the linear
example: z = (2w + 3b)(2b + 1) from w = 3, b = 4), number for number: z = 162, ∂z/∂b = 63,
∂z/∂w = 18, then the iterations towards 150.

Numbers the chapter prints are asserted at the precision it prints them;
where the maths is exact (integers, simple fractions) they are asserted exactly.
"""

from __future__ import annotations

import math

import pytest

import graphdsl

# The exact root of (2·3 + 3b)(2b + 1) = 150 in b, i.e. 6b² + 15b − 144 = 0.
B_STAR = (-15 + math.sqrt(15 ** 2 + 4 * 6 * 144)) / 12


@pytest.fixture
def m(linear_path):
    return graphdsl.load(linear_path)


def test_values_at_w3_b4(m):
    v = m.forward()
    assert (v["x"], v["y"], v["z"]) == (18.0, 9.0, 162.0)


def test_gradients_add_both_paths(m):
    g = m.gradients()
    # ∂z/∂b = ∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b = 9·3 + 18·2 = 63, exactly
    assert g["b"] == 63.0 == 9 * 3 + 18 * 2
    assert g["w"] == 18.0
    assert (g["x"], g["y"], g["z"]) == (9.0, 18.0, 1.0)


def test_local_partials_are_the_chapters(m):
    lp = m.local_partials()
    assert lp == {("x", "z"): 9.0, ("y", "z"): 18.0, ("b", "x"): 3.0,
                  ("w", "x"): 2.0, ("b", "y"): 2.0}


def test_backward_twice_does_not_double(m):
    assert m.gradients()["b"] == m.gradients()["b"] == 63.0


def test_single_variable_first_step(m):
    t = m.solve(150, params=["b"])
    first = t.iterations[0]
    assert first.error == 12.0                       # Δz = 162 − 150
    assert first.steps == {"b": 12 / 63}             # Δb = 12/63
    assert round(first.steps["b"], 2) == 0.19        # the seed prints 0.19
    second = t.iterations[1].values
    assert round(second["b"], 2) == 3.81
    assert round(second["x"], 2) == 17.43 and round(second["y"], 2) == 8.62
    assert round(second["z"], 4) == 150.2177


def test_single_variable_with_the_seeds_rounded_b(m):
    # the chapter continues with b rounded to 3.81: x = 17.43, y = 8.62, z = 150.246
    v = m.set(b=3.81).forward()
    assert v["x"] == pytest.approx(17.43, abs=5e-12)
    assert v["y"] == pytest.approx(8.62, abs=5e-12)
    assert math.floor(v["z"] * 1000) / 1000 == 150.246


def test_single_variable_converges_to_the_root(m):
    t = m.solve(150, params=["b"])
    assert t.converged and t.status == "converged"
    b = t.result()["values"]["b"]
    assert f"{B_STAR:.6f}" == "3.805937"
    assert abs(t.last.error) < 1e-4
    # one more Newton step would land within 1e-12; this one is within the tolerance's reach
    assert abs(b - B_STAR) < 1e-4 / 60
    assert "w" not in t.result()["values"]  # w was not adjusted, so not reported


def test_frozen_keeps_63_and_needs_more_iterations(m):
    split = m.solve(150, params=["b"])
    frozen = m.solve(150, params=["b"], method="frozen")
    assert frozen.converged
    for it in frozen.iterations[:-1]:
        assert it.steps["b"] == pytest.approx(it.error / 63, rel=1e-15)
    assert len(frozen.iterations) > len(split.iterations)
    assert f"{frozen.result()['values']['b']:.6f}" == "3.805937"


def test_double_variable_first_step(m):
    t = m.solve(150)
    first = t.iterations[0]
    assert first.steps["w"] == pytest.approx(6 / 18, rel=1e-15)
    assert first.steps["b"] == pytest.approx(6 / 63, rel=1e-15)
    assert round(first.steps["w"], 3) == 0.333 and round(first.steps["b"], 3) == 0.095
    second = t.iterations[1].values
    assert round(second["w"], 3) == 2.667 and round(second["b"], 3) == 3.905
    # with the seed's rounded values: x = 17.049, y = 8.81, z = 150.2
    v = graphdsl.loads(m.source).set(w=2.667, b=3.905).forward()
    assert round(v["x"], 3) == 17.049 and round(v["y"], 2) == 8.81 and round(v["z"], 1) == 150.2
    assert t.converged
    r = t.result()
    assert round(r["values"]["w"], 4) == 2.6615 and round(r["values"]["b"], 4) == 3.9033
    assert r["iterations"] == 3


def test_the_expanded_form_agrees(m):
    # z = 6b² + 3b + 4wb + 2w, the chapter's "请忽略此式"
    for w, b in [(3, 4), (2.5, -1.25), (0.1, 7)]:
        z = m.set(w=w, b=b).forward()["z"]
        assert z == pytest.approx(6 * b * b + 3 * b + 4 * w * b + 2 * w, rel=1e-14)
