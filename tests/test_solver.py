"""The solver: split, frozen, gd, --params, --minimize, and why each run stops."""

from __future__ import annotations

import math

import pytest

import graphdsl
from conftest import MODELS


def test_nonlinear_example_reaches_its_target():
    m = graphdsl.load(MODELS / "nonlinear.bp")
    v = m.forward()
    assert (v["a"], round(v["b"], 4), round(v["c"], 4)) == (4.0, 1.3863, 1.1774)
    # dc/dx = 1 / (x·√(ln x²)) at x = 2
    assert m.gradients()["x"] == pytest.approx(1 / (2 * math.sqrt(math.log(4))), rel=1e-14)
    t = m.solve()                       # the model's `target 2.13`
    assert t.target == 2.13 and t.converged
    x = t.result()["values"]["x"]
    assert x == pytest.approx(math.exp(2.13 ** 2 / 2), abs=1e-4)   # c = 2.13 exactly there
    # one param: split is Newton's method, so the error shrinks faster than linearly at the end
    errs = [abs(it.error) for it in t.iterations]
    assert errs[-1] < errs[-2] ** 1.5


def test_gradient_descent_on_x_squared():
    m = graphdsl.load(MODELS / "gd_square.bp")
    t = m.solve(minimize=True, lr=0.3, tol=0.01)
    xs = [it.values["x"] for it in t.iterations]
    assert xs[0] == 1.2
    for a, b in zip(xs, xs[1:]):
        assert b == pytest.approx(0.4 * a, rel=1e-14)      # x ← x − 0.3·2x
    assert t.converged and abs(2 * xs[-1]) < 0.01 <= abs(2 * xs[-2])
    assert t.method == "gd" and t.iterations[0].error is None


def test_gradient_descent_two_variables():
    m = graphdsl.load(MODELS / "gd_two_vars.bp")
    t = m.solve(minimize=True, lr=0.1, tol=0.01)
    first = t.iterations[0]
    assert first.gradients["x"] == 6.0
    assert first.gradients["y"] == pytest.approx(2 * math.sin(1) * math.cos(1), rel=1e-14)
    assert first.steps == {"x": pytest.approx(0.6), "y": pytest.approx(0.1 * math.sin(2))}
    assert t.converged and t.last.values["J"] < 1e-3


def test_stop_below():
    t = graphdsl.load(MODELS / "gd_square.bp").solve(minimize=True, lr=0.3, stop_below=0.05)
    assert t.converged and t.last.values["J"] < 0.05 <= t.iterations[-2].values["J"]


def test_gd_on_the_seed_with_a_small_rate():
    m = graphdsl.load(MODELS / "linear.bp")
    t = m.solve(150, method="gd", lr=1e-4, max_iter=500)
    first = t.iterations[0]
    assert first.steps["b"] == pytest.approx(1e-4 * 12 * 63)
    assert first.steps["w"] == pytest.approx(1e-4 * 12 * 18)
    assert t.converged


def test_gd_with_a_large_rate_is_called_diverging():
    t = graphdsl.load(MODELS / "linear.bp").solve(150, method="gd", lr=0.01)
    assert not t.converged and t.status in ("diverging", "numeric")


def test_max_iter_stops_without_converging():
    t = graphdsl.load(MODELS / "linear.bp").solve(150, method="frozen", max_iter=2)
    assert t.status == "max-iter" and not t.converged
    assert len(t.iterations) == 3 and t.iterations[-1].steps is None


def test_a_zero_partial_is_skipped_and_said():
    # at w = 0, ∂z/∂u = 2w = 0 while ∂z/∂v = 1: only v moves
    m = graphdsl.loads("param w = 0\nparam u = 1\nparam v = 1\nz = 2*w*u + v")
    t = m.solve(5, params=["u", "v"])
    first = t.iterations[0]
    assert "u" in first.skipped and first.skipped["u"].code == "zero-partial"
    assert "= 0" in first.skipped["u"].text("en") and "= 0" in first.skipped["u"].text("zh")
    assert first.steps == {"v": -4.0}      # the whole error goes to v
    assert t.converged


def test_all_partials_zero_stops_with_a_message():
    m = graphdsl.loads("param w = 0\nz = w*w + 1")
    t = m.solve(5)
    assert t.status == "stopped" and not t.converged
    assert "every partial" in t.message


def test_params_must_be_params():
    m = graphdsl.load(MODELS / "linear.bp")
    with pytest.raises(graphdsl.UsageError, match="'x' is computed"):
        m.solve(150, params=["x"])
    with pytest.raises(graphdsl.UsageError, match="did you mean 'b'"):
        m.solve(150, params=["bb"])


def test_a_domain_failure_is_kept_in_the_trace():
    m = graphdsl.loads("param x = 0.5\ny = log(x)")
    t = m.solve(-10)          # Newton steps push x below zero
    assert t.status == "numeric" and isinstance(t.failure, graphdsl.NumericError)
    assert "logarithm" in str(t.failure) and "iteration" in str(t.failure)
    assert len(t.iterations) >= 1


def test_set_changes_the_start():
    m = graphdsl.load(MODELS / "linear.bp").set(w=2.5)
    assert m.forward()["x"] == 2 * 2.5 + 3 * 4
    with pytest.raises(graphdsl.UsageError, match="no such name"):
        m.set(q=1)
    with pytest.raises(graphdsl.UsageError, match="computed"):
        m.set(x=1)


def test_trace_is_plain_data_and_json_roundtrips():
    import json

    t = graphdsl.load(MODELS / "linear.bp").solve(150)
    d = t.to_json()
    assert json.loads(json.dumps(d)) == d
    assert "<Trace" in repr(t) and "converged" in repr(t)


def test_max_iter_under_minimize_says_how_far_the_gradient_is():
    t = graphdsl.load(MODELS / "gd_square.bp").solve(minimize=True, lr=0.1, tol=1e-9, max_iter=2)
    assert t.status == "max-iter"
    # x: 1.2 -> 0.96 -> 0.768; dJ/dx = 2x = 1.536 at the last row
    assert t.message == "no convergence after 3 iterations (largest |∂J/∂p| = 1.536)"


def test_an_infinite_step_stops_the_run_before_it_reaches_the_json(cli):
    # ∂J/∂y = 2·sin(y)·cos(y) ≈ 2e-320 here: a split step error/∂ is infinite
    r = cli("run", MODELS / "gd_two_vars.bp", "--set", "y=1e-320", "--target", "1",
            "--params", "y", "--json")
    assert r.code == 1
    import json

    d = json.loads(r.out)                 # still one valid JSON object
    assert d["status"] == "numeric" and d["converged"] is False
    assert "steps" not in d["iterations"][-1]
    assert "the step for y at iteration 0 is not a finite number" in r.err
    t = graphdsl.load(MODELS / "linear.bp").solve(150, method="gd", lr=1e307)
    assert t.status == "numeric" and "not a finite number" in t.message


def test_minimize_refuses_frozen_and_stop_below_needs_minimize():
    m = graphdsl.load(MODELS / "gd_square.bp")
    with pytest.raises(graphdsl.UsageError, match="--method frozen"):
        m.solve(minimize=True, method="frozen")
    with pytest.raises(graphdsl.UsageError, match="--stop-below only applies with --minimize"):
        m.solve(1.0, stop_below=0.5)


def test_why_a_run_stopped_is_data_and_the_json_says_it_in_english():
    m = graphdsl.load(MODELS / "gd_square.bp")
    t = m.solve(minimize=True, lr=0.3, stop_below=0.05)
    assert t.stop.code == "below" and t.stop.fields["out"] == "J"
    assert t.stop.fields["value"] == t.last.values["J"] and t.stop.fields["limit"] == 0.05
    assert t.to_json()["message"] == f"J = {t.last.values['J']:.6g} is below 0.05"
    assert t.stop.text("zh") != t.message and "0.05" in t.stop.text("zh")
    t = graphdsl.load(MODELS / "linear.bp").solve(150, method="frozen", max_iter=2)
    assert (t.stop.code, t.stop.fields["n"]) == ("max-iter", 3)
    assert t.message.startswith("no convergence after 3 iterations (error ")
    t = graphdsl.load(MODELS / "linear.bp").solve(150)
    assert t.stop.code == "reached" and t.message is None and "message" not in t.to_json()


def test_a_run_at_the_limit_of_float_precision_stops_as_stalled():
    # near 150 rounding swings the error by ±2.8e-14 for ever: no tol below that can be met
    t = graphdsl.load(MODELS / "linear.bp").solve(150, tol=1e-300, max_iter=100_000)
    assert t.status == "stalled" and not t.converged and not t.ok
    assert t.stop.code == "stalled" and len(t.iterations) < 20
    k, again = t.stop.fields["iteration"], t.stop.fields["again"]
    assert [t.iterations[k].values[p] for p in "wb"] == [t.iterations[again].values[p] for p in "wb"]
    assert t.stop.fields["error"] < 1e-12 and t.last.steps is None
    assert t.failure is not None and "loosen --tol" in t.failure.hint
    assert "beyond rounding" in t.message and t.to_json()["status"] == "stalled"


def test_minimising_to_the_limit_of_float_precision_stalls_instead_of_running_on():
    # near x = ln 3 the gradient e^x - 3 is a few ulps that never reach 1e-300
    t = graphdsl.loads("param x = 1.2\nJ = exp(x) - 3*x").solve(minimize=True, lr=0.1,
                                                                  tol=1e-300, max_iter=100_000)
    assert t.status == "stalled" and t.stop.code == "stalled-minimize"
    assert t.last.values["x"] == pytest.approx(math.log(3), rel=1e-15)
    assert 0 < t.stop.fields["gradient"] < 1e-14 and len(t.iterations) < 1000
    assert "beyond rounding" in t.message and "largest |∂J/∂p|" in t.message


def test_a_run_that_jumps_between_two_points_is_a_cycle_not_precision():
    # gd with lr 0.5 on z = 2w maps w to -w: |error| never shrinks
    t = graphdsl.loads("param w = 1\nz = 2*w").solve(0, method="gd", lr=0.5)
    assert t.status == "stalled" and t.stop.code == "cycling" and t.stop.fields["period"] == 2
    assert [it.values["w"] for it in t.iterations] == [1.0, -1.0, 1.0]
    assert "smaller --lr" in t.failure.hint


def test_max_iter_is_bounded():
    from graphdsl.errors import UsageError
    from graphdsl.solve import MAX_ITER_LIMIT

    m = graphdsl.load(MODELS / "linear.bp")
    with pytest.raises(UsageError):
        m.solve(150, max_iter=MAX_ITER_LIMIT + 1)


def test_gd_on_a_flat_spot_stops_at_once_like_split():
    # relu below 0: every partial is 0, so gd's step is 0 and nothing can ever change
    m = graphdsl.loads("param w = -1\nz = relu(w)")
    for method in ("split", "gd"):
        t = m.solve(5, method=method)
        assert t.status == "stopped" and t.stop.code == "zero-partials" and len(t.iterations) == 1
    assert m.solve(5, method="gd").iterations[0].skipped == {}     # "no split step" is split's


def test_steps_lost_in_rounding_stall_even_far_from_the_target():
    t = graphdsl.load(MODELS / "linear.bp").solve(150, method="gd", lr=1e-30)
    assert t.status == "stalled" and t.stop.code == "stalled" and t.stop.fields["error"] == 12
    assert "larger --lr" in t.failure.hint and len(t.iterations) == 2
