"""Data models: the `data` declaration, mean/sum and the per-sample rule, CSV
input, evaluation over samples (against a per-sample loop of the scalar
engine), and the errors of each."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import graphdsl
from graphdsl import samples as samples_mod
from graphdsl.data import read_csv
from graphdsl.errors import ModelError, ModelSyntaxError, NumericError, UsageError

from conftest import MODELS

REGRESSION = "data x, y\nparam w = 0\nparam b = 0\npred = w*x + b\nloss = mean((pred - y)^2)\n"


def error_of(text, exc=ModelError):
    with pytest.raises(exc) as info:
        graphdsl.loads(text, "m.bp")
    return info.value


# --- the language -------------------------------------------------------------------

def test_data_declarations_parse_into_columns_with_or_without_values():
    m = graphdsl.loads("data x = [1, -2.5, 3e1], y\ndata z = [\n  0,\n  1,\n  2,\n]\n"
                       "loss = mean(x*y*z)")
    assert m.data_names == ["x", "y", "z"]
    assert m.flat.graph["data"] == {"x": (1.0, -2.5, 30.0), "y": None, "z": (0.0, 1.0, 2.0)}
    assert m.params == [] and m.output == "loss"


def test_data_is_a_soft_keyword():
    m = graphdsl.loads("param w = 2\ndata = 3*w")
    assert m.forward()["data"] == 6.0


def test_per_sample_output_says_to_wrap_it():
    e = error_of("data x, y\nparam w = 1\nz = w*x - y\n")
    assert e.message == "the output 'z' has one value per sample: it depends on the data columns 'x', 'y'"
    assert "wrap it in mean(...) or sum(...), e.g. `loss = mean(z)`" in e.hint
    assert (e.line, e.column) == (3, 1)


def test_per_sample_output_named_by_output_line():
    e = error_of("data x\nparam w = 1\nz = w*x\nloss = mean(z)\noutput z\n")
    assert "the output 'z' has one value per sample" in e.message and e.line == 5


def test_a_reduction_of_a_single_number_is_refused():
    e = error_of("data x\nparam w = 2\nz = mean(w) + mean(x)\n")
    assert e.message == ("mean(...) here does not depend on any data column: it is the same "
                         "for every sample")
    assert (e.line, e.column) == (3, 5) and "drop the mean(...)" in e.hint
    e = error_of("param w = 2\nz = sum(w*w)\n")
    assert "sum(...) here does not depend on any data column" in e.message
    assert "declare them with `data x, y`" in e.hint


def test_inline_columns_of_different_lengths():
    e = error_of("data x = [1, 2], y = [1, 2, 3]\nz = mean(x*y)\n")
    assert e.message == "the data column 'y' has 3 values, but 'x' has 2"
    assert (e.line, e.column) == (1, 18)


def test_an_empty_inline_column():
    e = error_of("data x = []\nz = mean(x)\n")
    assert e.message == "the data column 'x' has no values"


def test_a_data_name_used_as_a_param_or_assigned():
    e = error_of("data x\nparam x = 3\nz = mean(x)\n")
    assert e.message == "'x' is a data column, so it cannot also be a param"
    assert e.line == 2 and "declared as data at line 1: data x" in e.notes
    e = error_of("data x\nx = 3\nz = mean(x)\n")
    assert e.message == "'x' is a data column, so it cannot also be computed"
    e = error_of("data x, x\nz = mean(x)\n")
    assert e.message == "the data column 'x' is declared twice"


@pytest.mark.parametrize("text, message, hint", [
    ("data x = 3\n", "a data column holds one value per sample, in brackets", "`data x = [3, ...]`"),
    ("dta x, y\n", "'dta' is not a keyword", "did you mean `data x, y`?"),
    ("param w = [1, 2]\n", "a param has one starting value, not a list", "`data w = [...]`"),
    ("data x = [1, w]\n", "'w' cannot be in a data column's values", "separated by ','"),
    ("data x = [1, 2\nz = mean(x)\n", "this '[' is never closed", "end the data column's values"),
    ("param w = 3\nz = 2*[w + 1]\n", "unexpected character '['", "round parentheses"),
])
def test_syntax_slips_around_data(text, message, hint):
    e = error_of(text, ModelSyntaxError)
    assert e.message == message and hint in e.hint


@pytest.mark.parametrize("text, token, column", [
    ("data x = [1] y\n", "y", 14),
    ("data x = [1,\n2] = 2\n", "=", 4),
])
def test_a_closed_list_is_not_blamed_for_what_follows_it(text, token, column):
    e = error_of(text, ModelSyntaxError)
    assert e.message.startswith(f"unexpected '{token}'") and e.column == column
    assert "never closed" not in str(e) and "data column's values" not in e.message


def test_set_and_params_name_a_data_column_as_such():
    m = graphdsl.loads(REGRESSION)
    with pytest.raises(UsageError, match="'x' is a data column"):
        m.set(x=2.0)
    with pytest.raises(UsageError, match="'x' is a data column, not a param"):
        m.check_params(["x"])


# --- CSV --------------------------------------------------------------------------------

def write(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8", newline="")
    return str(p)


def test_csv_columns_by_name_others_ignored(tmp_path):
    p = write(tmp_path, "d.csv", "id,y,note,x\n1,2.5,a,-1\n2,3.5,b,1e3\n")
    d = read_csv(p, ["x", "y"])
    assert d.columns["x"].tolist() == [-1.0, 1000.0] and d.columns["y"].tolist() == [2.5, 3.5]
    assert d.lines.tolist() == [2, 3] and d.describe(1) == f"sample 2 (line 3 of {p})"


def test_csv_bom_crlf_quotes_blank_lines_and_tsv(tmp_path):
    p = write(tmp_path, "d.csv", b'\xef\xbb\xbfx,"y"\r\n"1.5",2\r\n\r\n 3 ,"4"\r\n', mode="wb")
    d = read_csv(p, ["x", "y"])
    assert d.columns["x"].tolist() == [1.5, 3.0] and d.columns["y"].tolist() == [2.0, 4.0]
    assert d.lines.tolist() == [2, 4]
    t = write(tmp_path, "d.tsv", "x\ty\n1\t2\n")
    assert read_csv(t, ["y"]).columns["y"].tolist() == [2.0]


def test_a_record_whose_quoted_cell_spans_lines_is_named_by_its_first_line(tmp_path):
    p = write(tmp_path, "d.csv", 'x,y,note\n1,2,"one\ntwo"\n3,4,plain\n')
    d = read_csv(p, ["x", "y"])
    assert d.columns["x"].tolist() == [1.0, 3.0] and d.lines.tolist() == [2, 4]
    assert d.describe(0) == f"sample 1 (line 2 of {p})"


def test_csv_missing_column_lists_the_columns_with_did_you_mean(tmp_path):
    p = write(tmp_path, "d.csv", "X,label\n1,2\n")
    with pytest.raises(UsageError) as info:
        read_csv(p, ["x"])
    e = info.value
    assert e.message == f"{p} has no column 'x' (the model declares `data x`)"
    assert e.notes == ["its columns are: 'X', 'label'"] and e.hint == "did you mean 'X'?"


def test_csv_tab_separated_file_named_csv_is_explained(tmp_path):
    p = write(tmp_path, "d.csv", "x\ty\n1\t2\n")
    with pytest.raises(UsageError) as info:
        read_csv(p, ["x"])
    assert "separated by tabs" in info.value.hint and ".tsv" in info.value.hint


def test_csv_cell_that_is_not_a_number_names_file_line_and_column(tmp_path):
    p = write(tmp_path, "d.csv", "x,y\n1,2\n3,abc\n")
    with pytest.raises(UsageError) as info:
        read_csv(p, ["x", "y"])
    e = info.value
    assert e.message == f"{p}: 'abc' in column 'y' is not a number"
    assert (e.file, e.line, e.column) == (p, 3, 3) and e.source_line == "3,abc"
    assert f"--> {p}:3:3" in str(e) and "  ^^^" in str(e)


@pytest.mark.parametrize("content, message", [
    ("", "{p} is empty"),
    ("\n\n", "{p} is empty"),
    ("x,y\n", "{p} has a header but no samples"),
    ("x,y\n1,2\n3\n", "{p}: line 3 has 1 cell, but the header has 2"),
    ("x,y\n1,2,3\n", "{p}: line 2 has 3 cells, but the header has 2"),
    ("x,y\n1,\n", "{p}: the cell of column 'y' is empty"),
    ("x,y\n1,nan\n", "{p}: 'nan' is not a finite number"),
    ("x,x,y\n1,2,3\n", "{p}: the column 'x' appears 2 times in the header"),
])
def test_csv_errors(tmp_path, content, message):
    p = write(tmp_path, "d.csv", content)
    with pytest.raises(UsageError) as info:
        read_csv(p, ["x", "y"])
    assert info.value.message == message.format(p=p)


def test_csv_that_is_not_text(tmp_path):
    p = write(tmp_path, "d.csv", b"x,y\n\xff\xfe,1\n", mode="wb")
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        read_csv(p, ["x"])
    p = write(tmp_path, "e.csv", b"x\x00y", mode="wb")
    with pytest.raises(UsageError, match="binary file"):
        read_csv(p, ["x"])
    with pytest.raises(UsageError, match="no such file"):
        read_csv(str(tmp_path / "nope.csv"), ["x"])
    # a spreadsheet's "Unicode text" export is named by its encoding, as a model is
    for encoding, said in [("utf-16", "UTF-16 text (little-endian, with a byte order mark)"),
                           ("utf-16-le", "UTF-16 text (little-endian, without a byte order mark)")]:
        p = write(tmp_path, f"{encoding}.csv", "x,y\n1,2\n3,4\n".encode(encoding), mode="wb")
        with pytest.raises(UsageError) as info:
            read_csv(p, ["x"])
        assert info.value.message == f"--data: {p} is {said}, not UTF-8"
        assert "save the file as UTF-8" in info.value.hint


def test_a_million_rows_load_with_the_right_values(tmp_path):
    n = 10**6
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=n), 6)
    p = tmp_path / "big.csv"
    with open(p, "w") as f:
        f.write("x,skip,y\n")
        f.write("\n".join(f"{a!r},s,{2 * a!r}" for a in x.tolist()) + "\n")
    d = read_csv(str(p), ["x", "y"])
    assert d.n == n and np.array_equal(d.columns["x"], x) and np.array_equal(d.columns["y"], 2 * x)
    assert int(d.lines[-1]) == n + 1


def test_binding_merges_inline_file_and_arrays(tmp_path):
    m = graphdsl.loads("data x = [1, 2], y\nloss = mean(x*y)")
    with pytest.raises(UsageError, match="the data column y of <string> has no values"):
        m.data
    p = write(tmp_path, "d.csv", "y\n10\n20\n")
    assert m.set_data(p).forward()["loss"] == 25.0            # x inline, y from the file
    p2 = write(tmp_path, "e.csv", "y,x\n1,3\n1,5\n")
    assert m.set_data(p2).forward()["loss"] == 4.0             # the file's x replaces the inline one
    assert m.set_data(y=[1.0, 1.0]).forward()["loss"] == 1.5
    with pytest.raises(UsageError, match="'y' has 3 values"):
        m.set_data(y=[1, 2, 3])
    with pytest.raises(UsageError, match="'q' is not a data column"):
        m.set_data(q=[1, 2])
    with pytest.raises(UsageError, match="declares no data columns"):
        graphdsl.loads("param w = 1\nz = w").set_data(p)


# --- evaluation over samples ------------------------------------------------------------

def scalar_loop(model, params, columns):
    """Σ over the samples of the scalar engine's value and gradient, with each
    sample's data given as if it were a param (mean and sum are the sample
    itself for one sample)."""
    c = model.compiled
    n = len(next(iter(columns.values())))
    total_v = 0.0
    total_g = {p: 0.0 for p in params}
    for i in range(n):
        over = dict(params)
        over.update({k: float(v[i]) for k, v in columns.items()})
        vals = c.forward(over)
        adj = c.backward(vals)
        total_v += vals[c.output]
        for p in params:
            total_g[p] += adj[c.index[p]]
    return total_v, total_g


EXPRS = ["w*x + b - y", "tanh(w*x) * y + b", "sigmoid(w*x + b) - y", "(w - x)^2 * b",
         "exp(w*x/4) + b*y", "w*x*x + b/(1 + y*y)", "relu(w*x + b) - y", "sin(w*x) * cos(b*y)"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=st.sampled_from(EXPRS), red=st.sampled_from(["mean", "sum"]),
       w=st.floats(-2, 2), b=st.floats(-2, 2),
       xs=st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=12))
def test_gradients_equal_a_per_sample_loop_of_the_scalar_engine(expr, red, w, b, xs):
    text = f"data x, y\nparam w = {w!r}\nparam b = {b!r}\nloss = {red}({expr}) + w*w/10\n"
    m = graphdsl.loads(text)
    x = np.array([a for a, _ in xs])
    y = np.array([c for _, c in xs])
    m.set_data(x=x, y=y)
    r = m.samples.evaluate(m.param_values, m.data)
    # the per-sample term alone, with the scalar engine
    single = graphdsl.loads(f"param w = {w!r}\nparam b = {b!r}\nparam x = 0\nparam y = 0\n"
                            f"term = {expr}\n")
    v, g = scalar_loop(single, {"w": w, "b": b}, {"x": x, "y": y})
    scale = 1.0 / len(xs) if red == "mean" else 1.0
    assert r.values["loss"] == pytest.approx(scale * v + w * w / 10, rel=1e-12, abs=1e-12)
    assert r.gradients["w"] == pytest.approx(scale * g["w"] + w / 5, rel=1e-10, abs=1e-10)
    assert r.gradients["b"] == pytest.approx(scale * g["b"], rel=1e-10, abs=1e-10)


def test_chunks_give_the_same_numbers_as_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=1000), rng.normal(size=1000)
    text = ("data x, y\nparam w = 0.3\nparam b = -0.2\nc = mean(x)\nspread = mean((x - c)^2)\n"
            "loss = mean((tanh(w*(x - c)/sqrt(spread)) + b - y)^2) + sum(y*w)/1000\n")
    whole = graphdsl.loads(text).set_data(x=x, y=y)
    r1 = whole.samples.evaluate(whole.param_values, whole.data)
    monkeypatch.setattr(samples_mod, "CHUNK", 64)
    chunked = graphdsl.loads(text).set_data(x=x, y=y)
    r2 = chunked.samples.evaluate(chunked.param_values, chunked.data)
    for k in ("loss", "c", "spread"):
        assert r2.values[k] == pytest.approx(r1.values[k], rel=1e-12)
    for k in ("w", "b"):
        assert r2.gradients[k] == pytest.approx(r1.gradients[k], rel=1e-10)


def test_nested_reductions_against_finite_differences():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=50), rng.normal(size=50)
    text = ("data x, y\nparam a = 0.7\nparam b = 0.1\nm = mean(a*x)\n"
            "loss = mean((a*x - m + b - y)^2) * sum(exp(b*x))/50\n")

    def loss(a, b):
        m = graphdsl.loads(text).set_data(x=x, y=y).set(a=a, b=b)
        return m.forward()["loss"]

    m = graphdsl.loads(text).set_data(x=x, y=y)
    g = m.gradients()
    h = 1e-6
    assert g["a"] == pytest.approx((loss(0.7 + h, 0.1) - loss(0.7 - h, 0.1)) / (2 * h), rel=1e-6)
    assert g["b"] == pytest.approx((loss(0.7, 0.1 + h) - loss(0.7, 0.1 - h)) / (2 * h), rel=1e-6)


def test_gradients_agree_with_sympy_summed_over_samples():
    sp = pytest.importorskip("sympy")
    xs, ys = [0.5, -1.0, 2.0], [1.0, 0.0, 3.0]
    m = graphdsl.loads("data x, y\nparam w = 0.3\nloss = sum(log(1 + exp(w*x)) * y)")
    m.set_data(x=xs, y=ys)
    w = sp.Symbol("w")
    loss = sum(sp.log(1 + sp.exp(w * a)) * b for a, b in zip(xs, ys))
    assert m.gradients()["w"] == pytest.approx(float(sp.diff(loss, w).subs(w, 0.3)), rel=1e-12)


def test_a_plugin_op_without_numpy_forms_is_evaluated_sample_by_sample():
    from conftest import Cube
    from graphdsl.ops import default_registry

    reg = default_registry()
    reg.register(Cube, "test")
    m = graphdsl.loads("data x = [1, 2]\nparam w = 1\nloss = mean(cube(w*x))", registry=reg)
    assert m.forward()["loss"] == 4.5 and m.gradients()["w"] == pytest.approx(13.5)


def test_forward_gives_arrays_for_per_sample_nodes():
    m = graphdsl.loads("data x = [1, 2, 3]\nparam w = 2\npred = w*x\nloss = mean(pred)\n"
                       "unused = pred + 1\noutput loss\n")
    v = m.forward()
    assert v["pred"].tolist() == [2.0, 4.0, 6.0] and v["unused"].tolist() == [3.0, 5.0, 7.0]
    assert v["x"].tolist() == [1.0, 2.0, 3.0] and v["loss"] == 4.0
    assert m.gradients() == {"w": 2.0, "loss": 1.0}


def test_a_domain_error_names_the_statement_and_the_csv_line(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("x\n1\n2\n-3\n4\n")
    m = graphdsl.loads("data x\nparam w = 1\nr = log(w*x)\nloss = mean(r)\n",
                                             "m.bp")
    m.set_data(str(p))
    with pytest.raises(NumericError) as info:
        m.forward()
    e = info.value
    assert e.message == (f"log(-3) in statement 'r': the logarithm of a number that is not "
                         f"positive, at sample 3 (line 4 of {p})")
    assert (e.line, e.column) == (3, 5) and e.notes == ["with w = 1"]


def test_a_domain_error_in_inline_data_names_the_sample():
    m = graphdsl.loads("data x = [4, 0, 1]\nparam w = 1\nloss = mean(sqrt(w*x))\n", "m.bp")
    with pytest.raises(NumericError) as info:
        m.gradients()
    assert info.value.message == ("the derivative of sqrt(0) in statement 'loss' is not a finite "
                                  "number (division by zero), at sample 2 (inline in the model)")


def test_a_hidden_overflow_is_reported_even_when_the_loss_stays_finite():
    # tanh(exp(1000)) is 1 in numpy; the scalar engine says exp overflows
    m = graphdsl.loads("data x = [1, 1000]\nparam w = 1\nloss = mean(tanh(exp(w*x)))\n", "m.bp")
    with pytest.raises(NumericError, match=r"exp\(1000\) in statement 'loss' overflows.*sample 2"):
        m.forward()


# --- least squares ----------------------------------------------------------------------

def test_full_batch_fit_converges_to_numpys_least_squares():
    m = graphdsl.load(MODELS / "regression.bp", data=MODELS / "data" / "regression.csv")
    t = m.fit(epochs=1000, lr=0.1, tol=1e-9)
    assert t.status == "converged"
    d = m.data
    A = np.column_stack([d.columns["x"], np.ones(d.n)])
    (w, b), *_ = np.linalg.lstsq(A, d.columns["y"], rcond=None)
    got = t.result()["values"]
    assert abs(got["w"] - w) < 1e-6 and abs(got["b"] - b) < 1e-6


def test_a_data_model_in_a_notebook_shows_its_table_not_a_traceback():
    html = graphdsl.load(MODELS / "xor.bp")._repr_html_()
    # the backward picture in plate notation, at the first sample, beside the table
    assert "4 values, one per sample" in html and "sample 1 of 4" in html
    assert "Traceback" not in html
