"""Plots of a fit: the roles read from the graph (prediction, inputs, target),
the prediction evaluated off the data, and the SVG's parts counted (points,
curves, boundary, titles), never its pixels."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import graphdsl
from graphdsl.plot import FIT_POINTS, figure_bytes, fit_epochs, fit_figure
from graphdsl.samples import find_roles

from conftest import MODELS, REG, REG_CSV, NEURON, NEURON_CSV, XOR

pytest.importorskip("matplotlib")

SVG = "{http://www.w3.org/2000/svg}"


def svg_tree(fig):
    return ET.fromstring(figure_bytes(fig, "svg"))


def group(root, gid):
    found = [e for e in root.iter() if e.get("id") == gid]
    assert len(found) == 1, f"{gid}: {len(found)} elements"
    return found[0]


def ids(root, prefix):
    return [e.get("id") for e in root.iter() if (e.get("id") or "").startswith(prefix)]


def texts(root):
    return " ".join("".join(e.itertext()) for e in root.iter(SVG + "text"))


def test_roles_of_the_example_models():
    reg = graphdsl.load(REG, data=REG_CSV)
    r = find_roles(reg.samples, reg.data)
    assert (r.kind, r.prediction, r.inputs, r.target) == ("curve", "pred", ["x"], "y")
    neu = graphdsl.load(NEURON, data=NEURON_CSV)
    r = find_roles(neu.samples, neu.data)
    assert (r.kind, r.prediction, r.inputs, r.target) == ("classifier", "p", ["x1", "x2"], "label")
    xor = graphdsl.load(XOR)
    r = find_roles(xor.samples, xor.data)   # h1 and h2 qualify too: the last one is the output unit
    assert (r.kind, r.prediction, r.inputs, r.target) == ("classifier", "out", ["x1", "x2"], "y")


@pytest.mark.parametrize("text, why", [
    ("data x = [0, 1]\ndata y = [1, 2]\nparam w = 1\nloss = mean((w*x - y)^2)", "name it"),
    ("data x = [0, 1]\ndata y = [1, 2]\nparam w = 1\npred = w*x + y\nloss = mean(pred^2)",
     "name it"),
    ("data a = [0, 1, 2]\ndata b = [1, 2, 0]\ndata y = [1, 2, 3]\nparam w = 1\npred = w*a + b\n"
     "loss = mean((pred - y)^2)", "not two labels"),
    ("data a = [0, 1]\ndata b = [1, 2]\ndata c = [3, 4]\ndata y = [1, 2]\nparam w = 1\n"
     "pred = w*a + b + c\nloss = mean((pred - y)^2)", "too many to draw"),
    ("data x = [1, 2, 4]\ndata y = [1, 3, 2]\nparam w = 1\nc = x - mean(x)\npred = w*c\n"
     "loss = mean((pred - y)^2)", "pred depends on a mean or sum over all the samples"),
])
def test_roles_that_do_not_fit_say_why(text, why):
    m = graphdsl.loads(text)
    r = find_roles(m.samples, m.data)
    assert r.kind is None and why in r.reason


def test_predict_matches_the_engine_on_the_data_and_gives_nan_off_the_domain():
    m = graphdsl.load(NEURON, data=NEURON_CSV)
    params = {"w1": 0.7, "w2": -1.3, "b": 0.2}
    r = m.samples.evaluate(params, m.data, per_sample=True, gradients=False)
    cols = {k: m.data.columns[k] for k in ("x1", "x2")}
    assert np.allclose(m.samples.predict("p", params, cols), r.per_sample["p"], rtol=1e-14)
    # no label needed: p does not depend on it
    m2 = graphdsl.loads("data x = [1]\nparam w = 1\npred = log(w*x)\nloss = mean(pred)")
    got = m2.samples.predict("pred", {"w": 1.0}, {"x": [-1.0, np.e]})
    assert np.isnan(got[0]) and got[1] == pytest.approx(1.0)
    with pytest.raises(graphdsl.UsageError):
        m2.samples.predict("loss", {}, {"x": [1.0]})


def test_fit_epochs_keep_start_and_end():
    for count in (1, 2, 5, 6, 7, 100, 1001):
        rows = fit_epochs(count)
        assert rows[0] == 0 and rows[-1] == count - 1
        assert rows == sorted(set(rows)) and len(rows) == min(count, 5)


def test_regression_plot_has_every_sample_and_a_curve_per_chosen_epoch():
    m = graphdsl.load(REG, data=REG_CSV)
    t = m.fit(epochs=40)
    root = svg_tree(fit_figure(t, m))
    assert len(list(group(root, "gd-data").iter(SVG + "use"))) == m.data.n
    shown = [t.epochs[k].epoch for k in fit_epochs(len(t.epochs))]
    assert ids(root, "gd-curve-") == [f"gd-curve-{e}" for e in shown]
    # each curve is one drawn path (matplotlib simplifies a straight line's points)
    for e in shown:
        paths = list(group(root, f"gd-curve-{e}").iter(SVG + "path"))
        assert len(paths) == 1 and paths[0].get("d").startswith("M")
    words = texts(root)
    assert "regression.bp: loss per epoch" in words and "pred against the data" in words
    assert "epoch 40" in words


def test_the_last_curve_is_the_trained_line():
    m = graphdsl.load(REG, data=REG_CSV)
    t = m.fit(epochs=200)
    fig = fit_figure(t, m)
    line = [ln for ln in fig.axes[1].get_lines() if ln.get_gid() == f"gd-curve-{t.last.epoch}"][0]
    xs, ys = line.get_data()
    assert len(xs) == FIT_POINTS + 1
    w, b = t.result()["values"]["w"], t.result()["values"]["b"]
    assert np.allclose(ys, w * xs + b, rtol=1e-12, atol=1e-12)
    assert xs.min() == m.data.columns["x"].min() and xs.max() == m.data.columns["x"].max()


def test_neuron_plot_colours_samples_by_label_and_draws_the_boundary():
    m = graphdsl.load(NEURON, data=NEURON_CSV)
    t = m.fit(epochs=200, lr=1)
    fig = fit_figure(t, m)
    root = svg_tree(fig)
    label = m.data.columns["label"]
    for v in (0, 1):
        assert len(list(group(root, f"gd-data-{v}").iter(SVG + "use"))) == int((label == v).sum())
    group(root, "gd-boundary")
    assert "where p = 0.5 after epoch 200" in texts(root)
    # the boundary of one sigmoid neuron is the line w1·x1 + w2·x2 + b = 0
    cs = [c for c in fig.axes[1].collections if c.get_gid() == "gd-boundary"][0]
    pts = np.concatenate([p.vertices for p in cs.get_paths()])
    v = t.result()["values"]
    assert len(pts) > 10
    span = np.ptp(m.data.columns["x1"])
    assert np.abs(v["w1"] * pts[:, 0] + v["w2"] * pts[:, 1] + v["b"]).max() < 1e-2 * span * abs(v["w1"])


def test_xor_plot_boundary_separates_the_corners():
    m = graphdsl.load(XOR)
    t = m.fit(optimizer="adam", lr=0.05, epochs=300, tol=1e-3)
    fig = fit_figure(t, m)
    root = svg_tree(fig)
    assert len(list(group(root, "gd-data-0").iter(SVG + "use"))) == 2
    assert len(list(group(root, "gd-data-1").iter(SVG + "use"))) == 2
    group(root, "gd-boundary")
    out = m.samples.predict("out", t.last.values, {"x1": [0, 0, 1, 1], "x2": [0, 1, 0, 1]})
    assert ((out > 0.5) == np.array([False, True, True, False])).all()


def test_a_model_without_a_named_prediction_says_so_in_the_plot(tmp_path):
    m = graphdsl.loads("data x = [0, 1, 2]\ndata y = [1, 3, 5]\nparam w = 0\nparam b = 0\n"
                       "loss = mean((w*x + b - y)^2)", "plain.bp")
    root = svg_tree(fit_figure(m.fit(epochs=3), m))
    assert "cannot draw the data with the prediction" in texts(root)
    assert "name it" in texts(root) and not ids(root, "gd-curve-")


def test_a_model_without_data_keeps_the_loss_panel_alone():
    m = graphdsl.load(MODELS / "gd_square.bp")
    fig = fit_figure(m.fit(epochs=3), m)
    assert len(fig.axes) == 1
    assert figure_bytes(fig, "svg") == figure_bytes(fit_figure(m.fit(epochs=3)), "svg")


def test_cli_fit_plot_is_deterministic_and_shows_both_panels(cli, tmp_path):
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    for f in (a, b):
        r = cli("fit", NEURON, "--data", NEURON_CSV, "--lr", "1", "--epochs", "50", "--plot", f)
        assert r.code == 1 and f"plot written to {f}" in r.out   # not converged: plotted all the same
    assert a.read_bytes() == b.read_bytes()
    root = ET.fromstring(a.read_bytes())
    group(root, "gd-boundary")
    assert "neuron.bp: loss per epoch" in texts(root)


def test_a_large_data_set_is_drawn_thinned_and_says_how_many_points_are_shown():
    rng = np.random.default_rng(3)
    n = 12_345
    x = rng.normal(size=n)
    lab = (x + 0.3 * rng.normal(size=n) > 0).astype(float)
    line = graphdsl.loads("data x, y\nparam w = 0\nparam b = 0\npred = w*x + b\n"
                          "loss = mean((pred - y)^2)", name="line.bp")
    line.set_data(x=x, y=2 * x + 1)
    root = svg_tree(fit_figure(line.fit(epochs=2), line))
    assert len(list(group(root, "gd-data").iter(SVG + "use"))) == 2000
    assert "data (2,000 of 12,345 samples shown)" in texts(root)
    clf = graphdsl.loads("data x1, x2, label\nparam w = 0\nparam b = 0\n"
                         "p = sigmoid(w*x1 + w*x2 + b)\n"
                         "loss = mean(-(label*log(p) + (1 - label)*log(1 - p)))", name="clf.bp")
    clf.set_data(x1=x, x2=-x, label=lab)
    root = svg_tree(fit_figure(clf.fit(epochs=2), clf))
    drawn = [len(list(group(root, f"gd-data-{v}").iter(SVG + "use"))) for v in (0, 1)]
    assert sum(drawn) == 2000
    assert f"label = 1 ({drawn[1]:,} of {int(lab.sum()):,} shown)" in texts(root)
