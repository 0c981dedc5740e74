"""The HTML report of a data model: a fit stepped through epoch by epoch
(graphdsl report MODEL --data FILE.csv), without a browser."""

from __future__ import annotations

import html
import json
import re

import pytest

import graphdsl
from graphdsl.errors import UsageError
from graphdsl.plot import fit_report_figure
from graphdsl.report import build_report
from graphdsl.runtable import cell_text, epoch_table
from graphdsl.trace import evenly_spaced

from conftest import MODELS, REG_CSV, NEURON, XOR

REGRESSION = MODELS / "regression.bp"
NEU_CSV = MODELS / "data" / "neuron.csv"


def _data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="graphdsl-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def _rows(page: str) -> list[list[str]]:
    """The text of each body row of the page's table (#iters), cell by cell, the mark left out."""
    body = re.search(r'<table id="iters">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = re.findall(r"<tr\b[^>]*>(.*?)</tr>", body, re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in
             re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", r, re.S)][1:] for r in rows]


@pytest.fixture(scope="module")
def regression():
    m = graphdsl.load(REGRESSION, data=REG_CSV)
    return m, m.fit()


def _quick(m, t, **kw):
    return build_report(m, t, pictures=False, explanations=False, **kw)


def test_the_page_embeds_the_fit_and_one_panel_per_epoch(regression):
    m, t = regression
    r = _quick(m, t, plots=False)
    d = _data(r.html)
    assert d["trace"] == t.to_json() and d["unit"] == "epoch" and d["sample"] == 1
    assert r.iterations == len(d["panels"]) == len(t.epochs) == 84
    assert r.unit == "epoch" and repr(r).endswith("84 epoch(s), 0 frame(s)>")
    last = t.epochs[-1]
    assert "Epoch 0 of 83" in d["panels"][0] and "w = 0, b = 0" in d["panels"][0]
    assert "Epoch 83 of 83" in d["panels"][-1]
    assert f"w = {cell_text(last.values['w'])}, b = {cell_text(last.values['b'])}" in d["panels"][-1]
    assert "converged after 83 epochs" in d["panels"][-1]
    # the next epoch's move is what the table's next row holds
    one = t.epochs[1].values
    assert f"w: 0 → {cell_text(one['w'])}, b: 0 → {cell_text(one['b'])}" in d["panels"][0]
    assert "(1 step, full batch)" in d["panels"][0]
    # the sub-heading says how the fit ran and ended, with the final values
    assert "fit loss over 100 samples of " in r.html and "sgd, lr 0.1, full batch" in r.html
    assert f"loss = {cell_text(last.loss)}" in r.html


def test_the_table_has_the_cells_of_graphdsl_fit(regression, cli):
    m, t = regression
    page = _quick(m, t, plots=False).html
    rows = _rows(page)
    table = epoch_table(t)
    assert rows == [[cell_text(c) for c in row] for row in table.rows]
    r = cli("fit", REGRESSION, "--data", REG_CSV)
    lines = r.out.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("-----")) + 1
    assert [line.split() for line in lines[start:start + len(rows)]] == rows
    assert re.search(r'<tr data-i="0" class="current" aria-current="step">', page)
    assert page.count('aria-current="step"') == 1


def test_a_long_fit_is_shown_at_evenly_spaced_epochs(regression):
    m, t = regression
    r = _quick(m, t, max_frames=10)
    d = _data(r.html)
    chosen = evenly_spaced(len(t.epochs), 10)
    assert len(chosen) == 10 and chosen[0] == 0 and chosen[-1] == len(t.epochs) - 1
    assert [i for i, p in enumerate(d["panels"]) if p] == chosen
    assert "Epoch {i} of {n}" in d["words"]["nopanel"]
    assert any("made for 10 of 84 epochs" in note for note in r.notes)
    # a ring on the loss and a curve on the data for exactly the shown epochs
    for tag in ("l", "d"):
        assert sorted(int(k) for k in re.findall(rf'<g id="gdmark-{tag}-(\d+)"', r.html)) == chosen
    assert len(_rows(r.html)) == len(t.epochs)            # the table keeps every epoch


def _artist(fig, gid):
    found = [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


def test_the_data_plot_draws_each_epochs_line(regression):
    import numpy as np

    m, t = regression
    shown = [0, 5, 40, len(t.epochs) - 1]
    fig = fit_report_figure(t, m, marks=shown, sample=7)
    for k in shown:
        line = _artist(fig, f"gdmark-d-{k}")
        xs, ys = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        e = t.epochs[k].values
        assert np.allclose(ys, e["w"] * xs + e["b"])
        ring = _artist(fig, f"gdmark-l-{k}")
        assert ring.get_xdata()[0] == t.epochs[k].epoch and ring.get_ydata()[0] == t.epochs[k].loss
    assert not [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == "gdmark-d-1"]
    x, y = m.data.columns["x"], m.data.columns["y"]
    sample = _artist(fig, "gd-sample")
    assert (sample.get_xdata()[0], sample.get_ydata()[0]) == (x[6], y[6])


def test_a_classifier_gets_each_epochs_boundary():
    import numpy as np

    m = graphdsl.load(NEURON, data=NEU_CSV)
    t = m.fit(lr=1, epochs=60)
    shown = [0, 1, 30, 60]
    fig = fit_report_figure(t, m, marks=shown, sample=1)
    # at the start every weight is 0: p is 0.5 everywhere, and the layer says there is no line
    assert "does not cross" in _artist(fig, "gdmark-d-0").get_text()
    for k in shown[1:]:
        v = t.epochs[k].values
        line = _artist(fig, f"gdmark-d-{k}")
        xs, ys = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        ok = np.isfinite(xs)
        # on the boundary the neuron is undecided: w1·x1 + w2·x2 + b = 0, within the grid's step
        z = v["w1"] * xs[ok] + v["w2"] * ys[ok] + v["b"]
        scale = abs(v["w1"]) + abs(v["w2"])
        assert ok.sum() >= 2 and np.max(np.abs(z)) < 0.02 * scale * 10
        _artist(fig, f"gdmark-s-{k}")         # and the two sides are shaded
        _artist(fig, f"gdmark-t-{k}")


def test_a_straight_boundary_is_two_points_in_the_page():
    m = graphdsl.load(NEURON, data=NEU_CSV)
    t = m.fit(lr=1, epochs=20)
    fig = fit_report_figure(t, m, marks=[20])
    line = _artist(fig, "gdmark-d-20")
    assert len(line.get_xdata()) == 2


def test_the_page_speaks_chinese(regression):
    m, t = regression
    page = _quick(m, t, lang="zh", max_frames=10).html
    d = _data(page)
    assert '<html lang="zh">' in page
    assert "第 0 轮 / 共 83 轮" in d["panels"][0] and "全批量" in d["panels"][0]
    assert d["words"]["of"] == "第 {i} 轮 / 共 {n} 轮"
    assert '<th scope="col">轮</th>' in page and "每一轮" in page
    assert "83 轮后收敛" in page
    assert "Epoch" not in page.replace("gd-", "")


def test_xor_has_its_data_inline():
    m = graphdsl.load(XOR)
    t = m.fit(optimizer="adam", lr=0.05, epochs=300, tol=1e-3)
    r = _quick(m, t, max_frames=20)
    assert r.iterations == len(t.epochs) and t.status == "converged"
    assert "gdmark-d-0" in r.html and "gd-data-0" in r.html and "gd-data-1" in r.html
    assert "out = 0.5" in r.html


def test_a_wrong_sample_is_refused(regression):
    m, t = regression
    for bad in (0, 101, True, 1.5):
        with pytest.raises(UsageError, match="the data has 100 samples"):
            _quick(m, t, plots=False, sample=bad)


# --- the command line ----------------------------------------------------------

def test_report_fits_a_data_model(cli, tmp_path):
    out = tmp_path / "reg.html"
    r = cli("report", REGRESSION, "--data", REG_CSV, "--epochs", "5", "--lr", "0.2",
            "--optimizer", "momentum", "--batch-size", "10", "--seed", "3", "--sample", "4",
            "-o", out)
    assert r.code == 1          # 5 epochs do not converge: the page is written, exit 1
    assert "no convergence after 5 epochs" in r.err
    assert f"wrote {out}: 6 epochs" in r.out
    page = out.read_text(encoding="utf-8")
    d = _data(page)
    m = graphdsl.load(REGRESSION, data=REG_CSV)
    t = m.fit(epochs=5, lr=0.2, optimizer="momentum", batch_size=10, seed=3)
    assert d["trace"] == t.to_json() and d["sample"] == 4
    assert "mini-batches of 10, seed 3" in page and "(10 steps, mini-batches of 10, seed 3)" in page
    assert "sample 4 ringed" in page


def test_a_fit_that_fails_numerically_still_writes_its_page(cli, tmp_path):
    out = tmp_path / "blow.html"
    r = cli("report", REGRESSION, "--data", REG_CSV, "--lr", "10", "--epochs", "500", "-o", out)
    assert r.code == 1 and "overflows" in r.err and "Traceback" not in r.err
    d = _data(out.read_text(encoding="utf-8"))
    assert d["trace"]["status"] == "numeric"
    assert "stopped during epoch" in d["panels"][-1]


@pytest.mark.parametrize("args, words", [
    (["--target", "3"], "--target is for a run"),
    (["--method", "gd", "--max-iter", "3"], "--method, --max-iter are for a run"),
    (["--minimize"], "--minimize is for a run"),
    (["--stop-below", "1"], "--stop-below is for a run"),
    (["--sample", "0"], "--sample 0: the data has 100 samples"),
    (["--sample", "101"], "--sample 101: the data has 100 samples"),
    (["--batch-size", "0"], "--batch-size must be a whole number, 1 or more"),
    (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    (["--epochs", "-1"], "must be 0 or more"),
])
def test_wrong_options_for_a_data_model(cli, tmp_path, args, words):
    out = tmp_path / "no.html"
    r = cli("report", REGRESSION, "--data", REG_CSV, *args, "-o", out)
    assert r.code == 2 and words in r.err, r.err
    assert "Traceback" not in r.err and not out.exists() and r.out == ""


def test_run_options_are_refused_before_the_data_is_read(cli, tmp_path):
    out = tmp_path / "no.html"
    r = cli("report", REGRESSION, "--data", tmp_path / "missing.csv", "--target", "3", "-o", out)
    assert r.code == 2 and "--target is for a run" in r.err and "missing.csv" not in r.err
    assert not out.exists()


@pytest.mark.parametrize("args", [["--epochs", "3"], ["--sample", "2"], ["--optimizer", "adam"],
                                  ["--seed", "1"], ["--batch-size", "2"]])
def test_fit_options_on_a_single_number_model_are_refused(cli, tmp_path, linear_path, args):
    out = tmp_path / "no.html"
    r = cli("report", linear_path, "--target", "150", *args, "-o", out)
    assert r.code == 2 and f"{args[0]} is for the fit of a data model" in r.err
    assert "has no data column" in r.err and not out.exists()


def test_an_existing_page_is_kept_when_the_options_are_wrong(cli, tmp_path):
    out = tmp_path / "kept.html"
    out.write_text("before", encoding="utf-8")
    r = cli("report", REGRESSION, "--data", REG_CSV, "--target", "3", "-o", out)
    assert r.code == 2 and out.read_text(encoding="utf-8") == "before"


def test_the_run_report_still_takes_runs_options(cli, tmp_path, linear_path):
    out = tmp_path / "run.html"
    r = cli("report", linear_path, "--target", "150", "--method", "frozen", "--max-iter", "9",
            "-o", out)
    assert r.code == 0 and "wrote" in r.out and "5 iterations" in r.out
    assert _data(out.read_text(encoding="utf-8"))["trace"]["method"] == "frozen"
    r = cli("report", linear_path, "--target", "150", "--lr", "0.1", "-o", out)
    assert r.code == 2 and "--lr has no effect with --method split" in r.err


def test_report_prints_a_fits_page_on_stdout(cli):
    r = cli("report", XOR, "--epochs", "2", "-o", "-")
    assert r.code == 1 and r.out.startswith("<!DOCTYPE html>")
    assert _data(r.out)["trace"]["epochs"][2]["epoch"] == 2


# --- the plate picture of each epoch ----------------------------------------------

def _texts(svg: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def test_each_epoch_has_its_plate_picture_at_the_chosen_sample():
    m = graphdsl.load(REGRESSION, data=REG_CSV)
    t = m.fit(epochs=3)
    r = build_report(m, t, explanations=False, plots=False, sample=3)
    d = _data(r.html)
    assert r.frames == 4 and all(d["frames"])
    x, y = m.data.columns["x"][2], m.data.columns["y"][2]
    for k, frame in enumerate(d["frames"]):
        e = t.epochs[k].values
        texts = _texts(frame)
        assert texts[0].startswith(f"regression.bp · epoch {k} · backward")
        assert any(s.startswith("sample 3 of 100") for s in texts)
        # inside the plate: sample 3's prediction at this epoch's params, and its data
        assert cell_text(e["w"] * x + e["b"]) in texts
        assert f" = {cell_text(x)}" in texts and f" = {cell_text(y)}" in texts
        # on the params: the total over all samples, as the table has it
        assert f"∂loss/∂w = {cell_text(t.epochs[k].gradients['w'])}" in texts
    # the page without JavaScript shows epoch 0's picture
    assert d["frames"][0] in r.html.split('<script type="application/json"')[0]


def test_more_plate_pictures_than_one_dot_run_can_draw():
    # graphviz 2.43 fails on the 128th clustered graph of one input: the report draws them in parts
    m = graphdsl.load(NEURON, data=NEU_CSV)
    t = m.fit(lr=1, epochs=140, tol=0)
    r = build_report(m, t, explanations=False, plots=False, sample=2)
    assert r.frames == 141 and not r.notes
    assert "epoch 140" in _texts(_data(r.html)["frames"][140])[0]


# --- the chain rule over the samples at each epoch ----------------------------------

def test_each_epoch_has_the_chain_rule_over_the_samples_at_the_chosen_sample():
    m = graphdsl.load(REGRESSION, data=REG_CSV)
    t = m.fit(epochs=4)
    r = build_report(m, t, pictures=False, plots=False, sample=3)
    d = _data(r.html)
    assert all(d["explanations"]) and not r.notes
    x = cell_text(m.data.columns["x"][2])
    for k, text in enumerate(d["explanations"]):
        e = t.epochs[k]
        assert f"at w = {cell_text(e.values['w'])}, b = {cell_text(e.values['b'])}" in text
        assert "Sample 3 (" in text and f"x = {x}" in text
        # the sum over the samples is the epoch's gradient in the table, and the engine agrees
        for p in ("w", "b"):
            assert f"= {cell_text(e.gradients[p])}\n" in text
            assert f"reverse mode (the engine): ∂loss/∂{p} = {cell_text(e.gradients[p])}" in text
        assert "✗" not in text
    # the page without JavaScript shows epoch 0's chain rule
    static = html.unescape(r.html.split('<script type="application/json"')[0])
    assert d["explanations"][0].strip() in static
    zh = _data(build_report(m, t, pictures=False, plots=False, lang="zh", sample=3).html)
    assert "样本" in zh["explanations"][2] and "Sample 3" not in zh["explanations"][2]


def test_watch_builds_a_data_models_fit_and_checks_options_afresh_each_time():
    from graphdsl import cli
    from graphdsl.trace import FitTrace

    args = cli.build_parser().parse_args(["watch", str(XOR), "--epochs", "3", "--sample", "4"])
    report, trace = cli._build_report(args, plots=False)
    assert isinstance(trace, FitTrace) and report.unit == "epoch" and report.iterations == 4
    assert args.epochs == 3 and args.method is None      # the options are not filled in for good
    with pytest.raises(UsageError, match="for the fit of a data model"):
        args.model = str(MODELS / "linear.bp")           # a save took the data away
        cli._build_report(args)


def test_a_fit_with_nothing_to_draw_on_the_data_says_why():
    m = graphdsl.loads("data x = [0, 1, 2]\ndata y = [1, 3, 5]\nparam w = 0\nparam b = 0\n"
                       "loss = mean((w*x + b - y)^2)", name="unnamed.bp")
    t = m.fit(epochs=5)
    r = build_report(m, t, sample=2)
    assert "cannot draw the data with the prediction" in r.html
    assert 'id="gdmark-d-' not in r.html and 'id="gdmark-l-5"' in r.html
    assert r.frames == 6 and all(_data(r.html)["explanations"])


def test_the_fit_of_a_model_without_data_gets_its_page_too():
    m = graphdsl.loads("param w = 3\nz = (w - 1)^2", name="bowl.bp")
    t = m.fit(epochs=10, lr=0.1)
    r = build_report(m, t)
    d = _data(r.html)
    assert r.iterations == 11 and r.frames == 11 and all(d["explanations"]) and not r.notes
    assert "z = 4" in d["panels"][0] and "samples" not in d["panels"][0]
    assert f"w = {cell_text(t.epochs[4].values['w'])}" in d["panels"][4]
    assert 'id="gdmark-l-10"' in r.html and 'id="gdmark-d-' not in r.html


def test_tol_0_is_a_fits_and_not_a_runs(cli, tmp_path, linear_path):
    out = tmp_path / "p.html"
    r = cli("report", XOR, "--epochs", "2", "--tol", "0", "-o", out)
    assert r.code == 1 and _data(out.read_text(encoding="utf-8"))["trace"]["tol"] == 0
    r = cli("report", linear_path, "--target", "150", "--tol", "0", "-o", tmp_path / "q.html")
    assert r.code == 2 and "--tol 0: a run's --tol must be greater than 0" in r.err
    assert not (tmp_path / "q.html").exists()
    r = cli("report", XOR, "--tol", "-1", "-o", tmp_path / "q.html")
    assert r.code == 2 and "--tol must be a non-negative number" in r.err


@pytest.mark.parametrize("lang, ending", [("en", "(epoch 0)."), ("zh", "（第 0 轮）。")])
def test_a_fit_that_stops_before_its_first_epoch_says_so_in_one_sentence(lang, ending):
    m = graphdsl.loads("data x = [1, 0, 2]\nparam w = 1\nr = log(w*x)\nloss = mean(r^2)",
                       name="logzero.bp")
    t = m.fit(epochs=3)
    assert t.status == "numeric" and not t.epochs
    page = html.unescape(build_report(m, t, lang=lang).html)
    sub = re.search(r'class="sub"[^>]*>(.*?)</', page, re.S)
    text = sub.group(1) if sub else page
    assert ending in text and ": ." not in text and "，。" not in text
