"""The command line: run (table and --json), numbers as options, check, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import MODELS, ROOT


def test_run_without_target_prints_values_and_gradients(cli, linear_path):
    r = cli("run", linear_path)
    assert r.code == 0 and r.err == ""
    rows = {line.split()[0]: line.split()[1:] for line in r.out.splitlines()[4:] if line.strip()}
    assert rows == {"w": ["3", "18"], "b": ["4", "63"], "x": ["18", "9"],
                    "y": ["9", "18"], "z": ["162", "1"]}
    assert "∂z/∂node" in r.out


def test_run_with_target_prints_rows_and_summary(cli, linear_path):
    r = cli("run", linear_path, "--target", "150")
    assert r.code == 0
    lines = r.out.splitlines()
    header = next(l for l in lines if l.startswith("iter"))
    assert header.split() == ["iter", "w", "b", "z", "error", "∂z/∂w", "∂z/∂b", "Δw", "Δb"]
    row0 = next(l for l in lines if l.startswith("0 ")).split()
    assert row0 == ["0", "3", "4", "162", "12", "18", "63", "0.3333333", "0.0952381"]
    assert "converged after 3 iterations" in r.out


def test_run_params_b_takes_the_seeds_step(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--params", "b")
    assert r.code == 0
    row1 = next(l for l in r.out.splitlines() if l.startswith("1 ")).split()
    assert row1[:3] == ["1", "3.809524", "150.2177"]
    assert "b = 3.805938" in r.out


def test_frozen_takes_more_iterations_on_the_command_line(cli, linear_path):
    split = json.loads(cli("run", linear_path, "--target", "150", "--params", "b", "--json").out)
    frozen = json.loads(cli("run", linear_path, "--target", "150", "--params", "b",
                            "--method", "frozen", "--json").out)
    assert frozen["result"]["iterations"] > split["result"]["iterations"]


# The JSON shape of README's JSON section, checked field by field.
def check_shape(d, *, solving):
    assert set(d) >= {"model", "output", "target", "method", "params", "converged",
                      "iterations", "result"}
    assert isinstance(d["model"], str) and isinstance(d["output"], str)
    assert isinstance(d["params"], list) and all(isinstance(p, str) for p in d["params"])
    assert isinstance(d["converged"], bool)
    assert isinstance(d["iterations"], list) and d["iterations"]
    names = None
    for k, it in enumerate(d["iterations"]):
        assert it["iteration"] == k
        assert set(it) <= {"iteration", "values", "error", "gradients", "steps", "skipped"}
        names = names or list(it["values"])
        assert list(it["values"]) == names and list(it["gradients"]) == names
        assert all(isinstance(v, float) for v in it["values"].values())
        assert all(isinstance(v, float) for v in it["gradients"].values())
        if solving and k < len(d["iterations"]) - 1:
            assert set(it["steps"]) <= set(d["params"])
        else:
            assert "steps" not in it        # absent on the last iteration
    r = d["result"]
    assert set(r) == {"values", "error", "iterations"}
    assert r["iterations"] == len(d["iterations"])
    assert set(r["values"]) == set(d["params"]) | {d["output"]}
    if not solving:
        assert d["target"] is None and len(d["iterations"]) == 1


def test_json_has_the_contracts_shape_and_numbers(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--json")
    assert r.code == 0 and r.err == ""
    d = json.loads(r.out)                      # exactly one JSON object, nothing else
    assert r.out.count("\n") == 1
    check_shape(d, solving=True)
    assert (d["model"], d["output"], d["target"], d["method"]) == (
        str(linear_path), "z", 150.0, "split")
    assert d["params"] == ["w", "b"] and d["converged"] is True
    it0 = d["iterations"][0]
    assert it0["values"] == {"w": 3.0, "b": 4.0, "x": 18.0, "y": 9.0, "z": 162.0}
    assert it0["error"] == 12.0
    assert it0["gradients"] == {"w": 18.0, "b": 63.0, "x": 9.0, "y": 18.0, "z": 1.0}
    assert it0["steps"] == {"w": 0.3333333333333333, "b": 0.09523809523809523}
    assert round(d["result"]["values"]["w"], 4) == 2.6615
    assert round(d["result"]["values"]["b"], 4) == 3.9033
    assert round(d["result"]["values"]["z"], 3) == 150.0
    assert d["result"]["iterations"] == 3


def test_json_without_target(cli, linear_path):
    d = json.loads(cli("run", linear_path, "--json").out)
    check_shape(d, solving=False)
    assert d["method"] is None and d["converged"] is True


def test_json_of_a_failed_run_is_still_one_object_and_exit_1(cli, tmp_path):
    model = tmp_path / "m.bp"
    model.write_text("param x = 0.5\ny = log(x)\n")
    r = cli("run", model, "--target", "-10", "--json")
    assert r.code == 1
    d = json.loads(r.out)
    assert d["converged"] is False and d["status"] == "numeric"
    assert "logarithm" in r.err and "m.bp:2:5" in r.err


def test_not_converging_exits_1_with_the_table(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--method", "frozen", "--max-iter", "1")
    assert r.code == 1
    assert "not converged after 2 iterations" in r.out and "no convergence after 2 iterations" in r.err


def test_check(cli, linear_path):
    r = cli("check", linear_path)
    assert r.code == 0 and "ok" in r.out and "params w, b" in r.out and "output z" in r.out


def test_ops_lists_builtins(cli):
    r = cli("ops")
    assert r.code == 0
    names = {l.split()[0] for l in r.out.splitlines()[2:]}
    assert {"add", "mul", "pow", "log", "sigmoid", "relu", "tanh"} <= names


@pytest.mark.parametrize("argv, fragment", [
    (["run", "models/nope.bp"], "no such file"),
    (["run", "models"], "is a directory"),
    (["run", "models/linear.bp", "--target", "abc"], "'abc' is not a number"),
    (["run", "models/linear.bp", "--target", "150", "--params", "q"], "'q' is not in the model"),
    (["run", "models/linear.bp", "--set", "w"], "NAME=VALUE"),
    (["run", "models/linear.bp", "--set", "zz=1"], "no such name"),
    (["run", "models/linear.bp", "--method", "newton"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2_without_traceback(cli, argv, fragment):
    argv = [str(ROOT / a) if a.startswith("models") else a for a in argv]
    r = cli(*argv)
    assert r.code == 2
    assert fragment in r.err
    assert "Traceback" not in r.err and r.out == ""


def test_model_error_exit_2_with_caret(cli, tmp_path):
    model = tmp_path / "bad.bp"
    model.write_text("param w = 3\nz = 2*q\n")
    r = cli("run", model)
    assert r.code == 2
    assert f"{model}:2:7" in r.err and "^" in r.err and "'q' is not defined" in r.err


def test_debug_shows_the_traceback(cli, tmp_path):
    model = tmp_path / "bad.bp"
    model.write_text("z = 2*q\n")
    assert "Traceback" in cli("run", model, "--debug").err


def test_the_console_script_runs_as_a_process():
    exe = ROOT / ".venv" / "bin" / "graphdsl"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "graphdsl.cli"]
    p = subprocess.run(cmd + ["run", str(MODELS / "linear.bp"), "--target", "150", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["converged"] is True


def test_lr_without_a_learning_rate_method_is_refused(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--lr", "5")
    assert r.code == 2 and "--lr has no effect with --method split" in r.err
    ok = cli("run", linear_path, "--target", "150", "--method", "gd", "--lr", "1e-4",
             "--max-iter", "500", "--json")
    assert ok.code == 0 and json.loads(ok.out)["iterations"][0]["steps"]["b"] == pytest.approx(1e-4 * 12 * 63)


# --- numbers on the command line: each mistake gets its own message and exit 2 ----------

@pytest.mark.parametrize("value, fragment", [
    ("-inf", "'-inf' is not a finite number"),
    ("inf", "'inf' is not a finite number"),
    ("nan", "'nan' is not a finite number"),
    ("1_000", "'1_000' is not written as a model writes numbers: write 1000"),
    ("0x10", "'0x10' is not a number"),
    ("1e400", "'1e400' is too large for a float"),
])
def test_a_target_that_is_not_a_model_number_is_refused(cli, linear_path, value, fragment):
    r = cli("run", linear_path, "--target", value)
    assert r.code == 2 and fragment in r.err and "expected one argument" not in r.err
    assert r.out == ""


@pytest.mark.parametrize("value", ["-1e5", "-100000", "-1e+5", "-100000.0"])
def test_a_negative_target_in_any_spelling_is_a_value_not_an_option(cli, linear_path, value):
    r = cli("run", linear_path, "--target", value, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["target"] == -1e5


def test_set_takes_the_same_numbers_as_a_model(cli, linear_path):
    r = cli("run", linear_path, "--set", "w=1_0")
    assert r.code == 2 and "--set w: '1_0' is not written as a model writes numbers: write 10" in r.err
    assert cli("run", linear_path, "--set", "w=-1e1", "--json").code == 0


@pytest.mark.parametrize("lr", ["-1", "0", "-0.5"])
def test_a_learning_rate_must_be_positive(cli, linear_path, lr):
    r = cli("run", linear_path, "--target", "150", "--method", "gd", "--lr", lr)
    assert r.code == 2 and f"--lr: '{lr}' must be greater than 0" in r.err
    r = cli("compare", linear_path, "--target", "150", "--lr", lr)
    assert r.code == 2 and "must be greater than 0" in r.err


@pytest.mark.parametrize("tol", ["0", "-1e-4"])
def test_a_tolerance_must_be_positive_and_says_why(cli, linear_path, tol):
    r = cli("run", linear_path, "--target", "150", "--tol", tol)
    assert r.code == 2 and f"--tol: '{tol}' must be greater than 0" in r.err
    assert "16 significant digits" in r.err


def test_max_iter_0_is_refused_with_what_it_would_mean(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--max-iter", "0")
    assert r.code == 2 and r.out == ""
    assert "--max-iter: 0 allows no step" in r.err and "give 1 or more" in r.err
    assert "after 1 iteration" not in r.err and "from 0" not in r.err
    one = cli("run", linear_path, "--target", "150", "--max-iter", "1", "--json")
    assert one.code == 1 and len(json.loads(one.out)["iterations"]) == 2


def test_the_solver_refuses_a_tolerance_or_rate_that_is_not_positive(linear_path):
    import graphdsl
    from graphdsl.errors import UsageError

    m = graphdsl.load(linear_path)
    for kw in ({"tol": 0.0}, {"tol": -1.0}, {"method": "gd", "lr": 0.0}, {"method": "gd", "lr": -1.0}):
        with pytest.raises(UsageError):
            m.solve(150, **kw)


def test_a_chinese_run_says_why_it_stopped_in_chinese(cli, tmp_path):
    flat = tmp_path / "flat.bp"
    flat.write_text("param w = -1\nz = relu(w)\n")
    r = cli("run", flat, "--target", "5", "--lang", "zh")
    assert r.code == 1
    assert "跳过" in r.out and "no split step" not in r.out and "skip" not in r.out
    r = cli("run", MODELS / "gd_square.bp", "--minimize", "--lr", "0.3", "--lang", "zh")
    assert "每个 |∂J/∂p| 都小于 0.0001" in r.out and "is below" not in r.out
    r = cli("compare", flat, "--target", "5", "--lang", "zh")
    assert "第 0 次迭代时每个偏导数" in r.out and "every partial" not in r.out
    # the error message on stderr stays English: it is what people search for
    assert "every partial ∂z/∂p is 0" in cli("run", flat, "--target", "5", "--lang", "zh").err


def test_max_iter_above_the_limit_is_refused(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--max-iter", "1000000")
    assert r.code == 2 and "1,000,000 is more than 100,000" in r.err and r.out == ""


def test_a_stalled_run_exits_1_with_the_table_and_says_why(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--tol", "1e-300", "--max-iter", "100000")
    assert r.code == 1
    assert "beyond rounding" in r.err and "loosen --tol (now 1e-300)" in r.err
    assert len([l for l in r.out.splitlines() if l[:1].isdigit()]) < 20
    d = json.loads(cli("run", linear_path, "--target", "150", "--tol", "1e-300", "--json").out)
    assert d["status"] == "stalled" and d["converged"] is False and "steps" not in d["iterations"][-1]
