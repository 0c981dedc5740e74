"""The Python API evaluates the graph once while nothing changes (issue 15)."""

import math

import pytest

import graphdsl
from graphdsl.errors import NumericError

SEED = "param w = 3\nparam b = 4\nc = 2\nz = x*y\nx = c*w + 3*b\ny = 2*b + 1\n"


def counting(m):
    """Count the model's forward passes."""
    c = m.compiled
    calls = []
    inner = c.forward

    def forward(overrides=None):
        calls.append(dict(overrides or {}))
        return inner(overrides)
    c.forward = forward
    return calls


def test_forward_then_gradients_runs_one_forward_pass():
    m = graphdsl.loads(SEED)
    calls = counting(m)
    assert m.forward()["z"] == 162.0
    assert m.gradients()["b"] == 63.0
    m.gradients(wrt="x")
    m.local_partials()
    assert len(calls) == 1


@pytest.mark.parametrize("change", [
    lambda m: m.set(w=2.5),
    lambda m: m.set_value("b", 4.5),
    lambda m: m.set(c=3.0),                     # a named constant
    lambda m: m.param_values.__setitem__("w", 1.0),  # the dict edited directly
])
def test_every_change_of_a_value_is_seen(change):
    m = graphdsl.loads(SEED)
    calls = counting(m)
    before = m.forward()
    change(m)
    after = m.forward()
    fresh = graphdsl.loads(SEED)
    change(fresh)
    assert after == fresh.forward() and after != before
    assert m.gradients() == fresh.gradients()
    assert len(calls) == 2


def test_setting_the_same_value_again_is_still_right():
    m = graphdsl.loads(SEED)
    m.set(w=3.0)
    v = m.forward()
    m.set(w=3.0)
    assert m.forward() == v


def test_zero_and_minus_zero_are_different_values():
    m = graphdsl.loads("param w = 0\nz = 1 / (w - 0)\n")
    m.set(w=0.0)
    with pytest.raises(NumericError):
        m.forward()
    m = graphdsl.loads("param w = 1\nz = w * 2\n")
    m.set(w=0.0)
    assert math.copysign(1.0, m.forward()["z"]) == 1.0
    m.set(w=-0.0)
    assert math.copysign(1.0, m.forward()["z"]) == -1.0


def test_a_failed_pass_is_not_kept():
    m = graphdsl.loads("param w = 1\nz = log(w)\n")
    m.set(w=-1.0)
    for _ in range(2):
        with pytest.raises(NumericError):
            m.gradients()
    m.set(w=1.0)
    assert m.gradients()["w"] == 1.0
