"""Plate notation in the pictures of a data model: the per-sample nodes in a
graphviz cluster labelled with the number of samples, data columns as their own
kind of leaf, params and reductions outside; in the forward and backward views
one sample's numbers inside (render --sample K, checked against the CSV's row and
graphdsl.onesample) and the totals over all samples on the params."""

from __future__ import annotations

import csv
import math
import re

import pytest

import graphdsl
from graphdsl import render
from graphdsl.errors import UsageError
from graphdsl.onesample import SampleView
from graphdsl.text import format_number as f

from conftest import MODELS

pytest.importorskip("graphviz")


def plate_of(source: str):
    """The node names declared inside the cluster, and the ones outside it."""
    body = source[source.index("subgraph cluster_samples {"):]
    body = body[:body.index("\n\t}")]
    inside = re.findall(r"^\t\t(\w+) \[label=", body, re.M)
    outside = [n for n in re.findall(r"^\t(\w+) \[label=", source, re.M)
               if n not in ("graph", "node", "edge")]
    return inside, outside, body


def test_regression_plate_holds_the_columns_and_the_prediction():
    m = graphdsl.load(MODELS / "regression.bp", data=MODELS / "data" / "regression.csv")
    inside, outside, body = plate_of(render.build(m).source)
    assert sorted(inside) == ["pred", "x", "y"] and sorted(outside) == ["b", "loss", "w"]
    assert "each of the 100 samples" in body
    for col in ("x", "y"):   # data columns: their own kind of leaf
        line = next(ln for ln in body.splitlines() if ln.strip().startswith(f"{col} [label="))
        assert "shape=note" in line


def test_plate_without_data_and_in_chinese():
    m = graphdsl.load(MODELS / "regression.bp")            # no CSV: the structure needs none
    _, _, body = plate_of(render.build(m).source)
    assert "each sample i" in body
    xor = graphdsl.load(MODELS / "xor.bp")                  # inline data: four samples
    inside, outside, body = plate_of(render.build(xor, lang="zh").source)
    assert "4 个样本" in body
    assert sorted(inside) == ["h1", "h2", "out", "x1", "x2", "y"]
    assert "loss" in outside and "w11" in outside


def test_a_model_without_data_has_no_plate_and_the_dot_is_stable():
    m = graphdsl.load(MODELS / "linear.bp")
    a = render.build(m).source
    assert "cluster" not in a and "shape=note" not in a
    n = graphdsl.load(MODELS / "neuron.bp", data=MODELS / "data" / "neuron.csv")
    assert render.build(n).source == render.build(n).source


def test_cli_render_structure_of_a_data_model(cli, tmp_path):
    out = tmp_path / "n.dot"
    r = cli("render", MODELS / "neuron.bp", "--data", MODELS / "data" / "neuron.csv", "-o", out)
    assert r.code == 0, r.err
    inside, _, body = plate_of(out.read_text())
    assert sorted(inside) == ["label", "p", "x1", "x2"] and "200 samples" in body
    svg = tmp_path / "n.svg"
    assert cli("render", MODELS / "neuron.bp", "-o", svg, "--wrt", "w1").code == 0
    assert "cluster_samples" in svg.read_text()


# --- numbers at one sample: forward and backward views of a data model ---------------------

REG, REG_CSV = MODELS / "regression.bp", MODELS / "data" / "regression.csv"


def regression():
    return graphdsl.load(REG, data=REG_CSV)


def csv_row(path, k):
    """The k-th data row (1-based, after the header) of a CSV, by column name."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {name: float(v) for name, v in rows[k - 1].items()}


def label(source: str, node: str) -> str:
    """The label of ``node``'s declaration in the DOT text."""
    m = re.search(rf'^\t+"?{re.escape(node)}"? \[label=<(.*)> [a-z]', source, re.M)
    assert m, f"no node {node} in the picture"
    return m.group(1)


def edge_label(source: str, parent: str, child: str) -> str:
    m = re.search(rf'^\t+"?{re.escape(parent)}"? -> "?{re.escape(child)}"? \[label=<(.*?)>[ \]]',
                  source, re.M)
    assert m, f"no edge {parent} -> {child}"
    return m.group(1)


def plate_label(source: str) -> str:
    _, _, body = plate_of(source)
    return re.search(r"label=<([^>]*)>", body).group(1)


@pytest.mark.parametrize("k", [1, 3])
def test_forward_view_shows_that_csv_rows_values_inside_the_plate(k):
    m = regression()
    src = render.build(m, "forward", sample=k).source
    inside, outside, _ = plate_of(src)
    assert sorted(inside) == ["pred", "x", "y"] and sorted(outside) == ["b", "loss", "w"]
    row = csv_row(REG_CSV, k)
    assert label(src, "x") == f"<B>x</B> = {f(row['x'])}"
    assert label(src, "y") == f"<B>y</B> = {f(row['y'])}"
    m.set(w=1.5, b=-0.25)
    src = render.build(m, "forward", sample=k).source
    assert f"<B>{f(1.5 * row['x'] - 0.25)}</B>" in label(src, "pred")
    one = SampleView(m).at(k - 1)
    loss = m.forward()["loss"]
    assert one.values["loss"] == pytest.approx(loss)
    assert f"<B>{f(loss)}</B>" in label(src, "loss")       # outside: the one value over all rows
    assert plate_label(src) == f"sample {k} of 100: this sample's values"
    assert "w = 1.5, b = -0.25" in src


def test_sample_1_and_sample_3_differ_only_inside_the_plate():
    m = regression()
    one, three = (render.build(m, "forward", sample=k).source for k in (1, 3))
    assert one != three
    for node in ("w", "b", "loss"):
        assert label(one, node) == label(three, node)
    assert label(one, "x") != label(three, "x")


@pytest.mark.parametrize("k", [1, 3, 100])
def test_backward_view_sample_adjoints_inside_and_totals_on_the_params(k):
    m = regression().set(w=0.8, b=0.1)
    src = render.build(m, "backward", sample=k).source
    one = SampleView(m).at(k - 1)
    grads = m.gradients()
    for p in ("w", "b"):
        text = label(src, p)
        assert f"∂loss/∂{p} = {f(grads[p])}</FONT>" in text            # the total
        assert f"sample {k} adds {f(one.contributions[p])}" in text     # this sample's part
    for node in ("pred", "x", "y"):
        assert f"∂loss/∂{node} = {f(one.adjoints[node])}" in label(src, node)
    # ∂loss/∂pred at sample k is (1/n)·2(pred_k − y_k): the engine's number, written by hand
    row = csv_row(REG_CSV, k)
    by_hand = 2 * (0.8 * row["x"] + 0.1 - row["y"]) / 100
    assert one.adjoints["pred"] == pytest.approx(by_hand, rel=1e-12)
    # the edges: the local partials at sample k, the mean's 1/n as its own factor
    assert edge_label(src, "w", "pred") == f"∂pred/∂w = x = {f(row['x'])}"
    into_loss = edge_label(src, "pred", "loss")
    rest = 2 * (0.8 * row["x"] + 0.1 - row["y"])
    assert into_loss.startswith("∂loss/∂pred = 1/100 · ")
    assert into_loss.endswith(f" = {f(one.partials[('pred', 'loss')])}")
    assert f(abs(rest))[:5] in into_loss
    assert plate_label(src) == f"sample {k} of 100: ∂loss/∂node for this sample's copy of each node"


def test_the_contributions_the_pictures_show_add_up_to_the_total():
    m = graphdsl.load(MODELS / "xor.bp")
    adds = {p: 0.0 for p in m.params}
    for k in range(1, 5):
        src = render.build(m, "backward", sample=k).source
        for p in m.params:
            got = re.search(rf"sample {k} adds (\S+)</FONT>", label(src, p)).group(1)
            adds[p] += float(got)
    grads = m.gradients()
    for p in m.params:   # each number is printed to 7 significant digits
        assert adds[p] == pytest.approx(grads[p], rel=1e-5, abs=1e-7)


def test_a_named_mean_edge_shows_one_over_n_and_sum_shows_its_plain_partial():
    m = graphdsl.loads("data x = [1, 2, 4, -1]\nparam w = 0.5\nh = w*x\nm = mean(h)\n"
                       "s = sum(h^2)\nloss = m + s")
    src = render.build(m, "backward", sample=2).source
    assert edge_label(src, "h", "m") == "∂m/∂h = 1/4 = 0.25"
    assert edge_label(src, "h", "s") == f"∂s/∂h = {f(2 * 0.5 * 2)}"   # sum: weight 1, 2h
    assert edge_label(src, "m", "loss") == "∂loss/∂m = 1"


def test_wrt_writes_the_samples_chain_rule_and_the_total():
    m = regression().set(w=0.8, b=0.1)
    src = render.build(m, "backward", sample=3, wrt="w").source
    one = SampleView(m).at(2)
    caption = src[src.index("graph [label=<<B>"):]
    path = one.partials[("pred", "loss")] * one.partials[("w", "pred")]
    assert f"= {f(path)} (sample 3's chain rule)" in caption
    assert path == pytest.approx(one.contributions["w"])
    assert f"over all 100 samples: ∂loss/∂w = {f(m.gradients()['w'])}" in caption
    assert re.search(r"^\tpred -> loss \[[^\n]*penwidth=2.5", src, re.M)   # on the path
    fwd = render.build(m, "forward", sample=3, wrt="w").source
    assert "∂loss/∂pred·∂pred/∂w" in fwd and "over all" not in fwd


def test_ops_view_of_a_data_model_puts_every_per_sample_op_in_the_plate():
    m = regression().set(w=0.8, b=0.1)
    src = render.build(m, "backward", ops=True, sample=3).source
    _, _, body = plate_of(src)
    one = SampleView(m).at(2)
    c = m.compiled
    for pos, node in enumerate(c.order):
        if m.flat.kind[pos] != "op":
            continue
        shown = "#" + node[1:] if node.startswith("%") else node   # DOT ids of hidden ops
        declared_inside = f'\t\t"{shown}" [label=' in body or f"\t\t{shown} [label=" in body
        assert declared_inside == bool(one.is_per[pos]), node
        if one.is_per[pos]:
            assert f(one.value_at[pos]) in label(src, shown)
            assert f(one.adjoint_at[pos]) in label(src, shown)
    assert re.search(r'"#2" -> "loss#op" \[label=<∂ = 0.01>', src)   # mean: 1/n
    assert f"sample 3 adds {f(one.contributions['w'])}" in label(src, "w")
    assert "∂loss/∂w = " + f(m.gradients()["w"]) in label(src, "w")
    assert "shape=note" in body


def test_blank_focus_and_set_on_a_data_model():
    m = regression()
    src = render.build(m, "backward", sample=2, blank=True).source
    assert render.BLANK in label(src, "pred") and "sample 2 adds ______" in label(src, "w")
    assert "∂loss/∂pred = ______" in src
    assert "<B>w</B> = 0" in label(src, "w")            # a param keeps its value
    n = graphdsl.load(MODELS / "neuron.bp", data=MODELS / "data" / "neuron.csv")
    src = render.build(n, "backward", sample=5, focus="p", depth=1).source
    inside, outside, body = plate_of(src)
    assert "p" in inside and "label" not in inside      # label is two steps from p
    assert "sample 5 of 200" in body and "more input" in src
    row = csv_row(MODELS / "data" / "neuron.csv", 5)
    assert label(src, "x1").startswith(f"<B>x1</B> = {f(row['x1'])}")


def test_cli_set_and_sample_pick_the_numbers(cli, tmp_path):
    out = tmp_path / "r.dot"
    r = cli("render", REG, "--data", REG_CSV, "--view", "forward", "--sample", "4",
            "--set", "w=2", "-o", out)
    assert r.code == 0, r.err
    row = csv_row(REG_CSV, 4)
    assert f"<B>{f(2 * row['x'])}</B>" in label(out.read_text(), "pred")
    assert "sample 4 of 100" in out.read_text()


def test_chinese_names_the_sample():
    m = graphdsl.load(MODELS / "xor.bp")
    src = render.build(m, "backward", sample=2, lang="zh", wrt="w11").source
    assert "第 2 个样本（共 4 个）" in plate_label(src)
    assert "第 2 个样本贡献" in label(src, "w11")
    assert "全部 4 个样本：∂loss/∂w11 = " + f(m.gradients()["w11"]) in src
    assert "反向" in src


def test_dot_text_of_a_data_model_is_byte_stable():
    m = graphdsl.load(MODELS / "xor.bp")
    for opts in (dict(), dict(ops=True), dict(wrt="v1"), dict(blank=True)):
        a = render.build(m, "backward", sample=3, **opts).source
        b = render.build(graphdsl.load(MODELS / "xor.bp"), "backward", sample=3, **opts).source
        assert a == b


def test_a_model_without_data_is_drawn_as_before_whatever_the_default_sample():
    m = graphdsl.load(MODELS / "linear.bp")
    for view in ("forward", "backward"):
        assert render.build(m, view).source == render.build(m, view, sample=1).source
        assert "cluster" not in render.build(m, view).source
    with pytest.raises(UsageError, match="no data columns"):
        render.build(m, "forward", sample=2)


def test_python_api_refusals_and_model_render():
    m = regression()
    g = m.render("backward", sample=7)
    assert "sample 7 of 100" in g.source
    with pytest.raises(UsageError, match="the data has 100 samples"):
        m.render("forward", sample=101)
    with pytest.raises(UsageError, match="tangent is not available for a data model"):
        m.render("tangent", wrt="w")
    assert render.build(m, "structure", sample=5).source == render.build(m).source


# --- epochs of a fit -----------------------------------------------------------------------

def test_epoch_graph_draws_the_params_of_that_epoch():
    m = regression()
    t = m.fit(epochs=5)
    src = render.epoch_graph(m, t, 3, sample=2).source
    ep = t.epochs[3]
    assert "regression.bp · epoch 3 · backward" in src
    assert f"w = {f(ep.values['w'])}, b = {f(ep.values['b'])}" in src
    assert f"loss = {f(ep.loss)}" in src
    assert f"∂loss/∂w = {f(ep.gradients['w'])}" in label(src, "w")
    # the same numbers as the model set to that epoch's params, sample 2
    at = regression().set(w=ep.values["w"], b=ep.values["b"])
    assert label(src, "pred") == label(render.build(at, "backward", sample=2).source, "pred")
    last = render.epoch_graph(m, t, -1, "forward", sample=1, lang="zh").source
    assert "第 5 轮" in last and "前向" in last
    with pytest.raises(UsageError, match="no epoch row 9"):
        render.epoch_graph(m, t, 9)


# --- the command line -------------------------------------------------------------------------

MAGIC = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF", "dot": b"digraph"}


@pytest.mark.parametrize("fmt", sorted(MAGIC))
def test_every_format_of_a_data_models_backward_view(cli, tmp_path, fmt):
    # svg, png and pdf come from graphviz's own dot, which ./dev setup installs
    out = tmp_path / f"n.{fmt}"
    r = cli("render", MODELS / "neuron.bp", "--data", MODELS / "data" / "neuron.csv",
            "--view", "backward", "--sample", "3", "--ops", "-o", out)
    assert r.code == 0, r.err
    data = out.read_bytes()
    assert data.startswith(MAGIC[fmt]) and len(data) > 1000
    if fmt in ("svg", "dot"):
        assert "sample 3 of 200" in data.decode()


def test_cli_default_name_says_the_sample(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("render", MODELS / "xor.bp", "--view", "backward", "--sample", "2", "--format", "dot")
    assert r.code == 0, r.err
    assert (tmp_path / "xor-backward-sample-2.dot").exists()
    r = cli("render", MODELS / "xor.bp", "--view", "forward", "--format", "dot")
    assert (tmp_path / "xor-forward.dot").exists()


@pytest.mark.parametrize("argv, words", [
    (["--view", "backward", "--sample", "101"], "--sample 101: the data has 100 samples"),
    (["--view", "backward", "--sample", "0"], "--sample 0: the data has 100 samples"),
    (["--view", "forward", "--sample", "two"], "'two' is not a whole number"),
    (["--sample", "2"], "--sample 2: the structure view shows no numbers"),
    (["--view", "tangent", "--wrt", "w"], "--view tangent is not available for a data model"),
])
def test_cli_mistakes_are_one_message_and_exit_2(cli, tmp_path, argv, words):
    out = tmp_path / "never.svg"
    r = cli("render", REG, "--data", REG_CSV, *argv, "-o", out)
    assert r.code == 2 and words in r.err
    assert "Traceback" not in r.err and r.err.count("error:") == 1
    assert not out.exists() and r.out == ""


@pytest.mark.parametrize("k", ["1", "2"])
def test_cli_sample_on_a_model_without_data(cli, tmp_path, k):
    out = tmp_path / "never.svg"
    r = cli("render", MODELS / "linear.bp", "--view", "forward", "--sample", k, "-o", out)
    assert r.code == 2 and "no data columns" in r.err and "Traceback" not in r.err
    assert not out.exists()


def test_a_plate_of_one_sample_says_so():
    m = graphdsl.loads("data x = [2]\nparam w = 1\nloss = sum((w*x - 1)^2)")
    _, _, body = plate_of(render.build(m).source)
    assert "i = 1: the one sample" in body and "1 samples" not in body


def test_a_penalty_through_no_sample_is_named_in_the_total():
    m = graphdsl.loads("data x = [1, 2, 3]\nparam w = 1\nloss = mean(w*x) + w^2")
    src = render.build(m, "backward", wrt="w", sample=2).source
    one = SampleView(m).at(1)
    assert one.contributions["w"] == pytest.approx(2 / 3) and one.direct["w"] == 2.0
    assert f"sample 2 adds {f(2 / 3)}" in label(src, "w")
    # the one edge w -> loss mixes what sample 2 adds (x/3) with the penalty's 2w:
    # sample 2's part is given as a number, the penalty once, in the total
    assert f"∂loss/∂w = {f(2 / 3)} at sample 2: not written edge by edge here" in src
    assert "∂loss/∂w = 4, what every sample adds plus 2 that comes through no sample" in src
    assert m.gradients()["w"] == pytest.approx(4.0)


def test_a_sample_s_chain_rule_leaves_the_penalty_to_the_total():
    m = graphdsl.loads("data x = [1, 2, 4, -1]\ndata y = [0.5, 1, 3, -2]\nparam w = 0.7\n"
                       "param u = 2\npred = w*x\nloss = mean((pred - y)^2) + 0.1*w^2 + u^2")
    one = SampleView(m).at(1)
    src = render.build(m, "backward", wrt="w", sample=2).source
    # the path through sample 2's pred only: its product is what sample 2 adds
    assert f"= {f(one.contributions['w'])} (sample 2's chain rule)" in src
    assert "∂loss/∂pred·∂pred/∂w</FONT> = " in src and "+ <FONT" not in src
    assert (f"∂loss/∂w = {f(m.gradients()['w'])}, what every sample adds plus "
            f"{f(one.direct['w'])} that comes through no sample") in src
    # a param only the penalty uses: no sample adds anything
    src = render.build(m, "backward", wrt="u", sample=2, lang="zh").source
    assert "经过这个样本的节点的路径都到不了 u" in src
    src = render.build(m, "forward", wrt="u", sample=2).source
    assert "no path through this sample's nodes reaches u" in src


@pytest.mark.parametrize("k", [1, 7, 200])
def test_what_a_sample_adds_is_the_derivative_of_its_own_term(k):
    """The picture's 'sample k adds' on a param, against central finite differences
    of sample k's own term of the neuron's logistic loss, written out by hand."""
    path = MODELS / "data" / "neuron.csv"
    m = graphdsl.load(MODELS / "neuron.bp", data=path).set(w1=0.3, w2=-0.5, b=0.1)
    src = render.build(m, "backward", sample=k).source
    row = csv_row(path, k)

    def term(w1, w2, b):
        p = 1 / (1 + math.exp(-(w1 * row["x1"] + w2 * row["x2"] + b)))
        return -(row["label"] * math.log(p) + (1 - row["label"]) * math.log(1 - p)) / 200

    at = {"w1": 0.3, "w2": -0.5, "b": 0.1}
    h = 1e-6
    for p in at:
        up, down = dict(at), dict(at)
        up[p] += h
        down[p] -= h
        fd = (term(**up) - term(**down)) / (2 * h)
        shown = float(re.search(rf"sample {k} adds (\S+)</FONT>", label(src, p)).group(1))
        assert shown == pytest.approx(fd, rel=1e-5, abs=1e-10), p


def test_epoch_graph_of_a_fit_without_data_columns():
    m = graphdsl.loads("param w = 3\nloss = (w - 1)^2")
    t = m.fit(epochs=2, lr=0.25)
    src = render.epoch_graph(m, t, 1).source
    w = t.epochs[1].values["w"]
    assert "epoch 1" in src and "cluster" not in src
    assert f"∂loss/∂w = {f(2 * (w - 1))}" in label(src, "w")


@pytest.mark.parametrize("source", [
    "m = mean(w*x)\npred = w*x - m\n",            # a named reduction used again per sample
    "pred = w*x - mean(w*x)\n",                   # the same, hidden in the statement
])
def test_a_reduction_used_again_per_sample_is_not_a_path_of_one_sample(source):
    m = graphdsl.loads("data x = [1, 2, 4, -1]\ndata y = [3, 1, 2, 5]\nparam w = 0.7\n"
                       + source + "loss = mean((pred - y)^2)")
    one = SampleView(m).at(1)
    part = one.contributions["w"]
    src = render.build(m, "backward", wrt="w", sample=2).source
    # the forward view writes no numbers, and no chain rule that would leave a path out
    fwd = render.build(m, "forward", wrt="w", sample=2).source
    assert "∂loss/∂w at sample 2: not written edge by edge here" in fwd
    caption = src[src.index("graph [label=<<B>"):]
    # the sample's part is the engine's, said as a number, and explain is named for the paths
    assert f"∂loss/∂w = {f(part)} at sample 2: not written edge by edge here" in caption
    assert "`graphdsl explain --sample 2`" in caption
    assert f"over all 4 samples: ∂loss/∂w = {f(m.gradients()['w'])}" in caption
    # the edge pred <- w at sample 2 is x = 2: the mean is a total, not this sample's copy
    assert edge_label(src, "w", "pred") == "∂pred/∂w = x = 2" if "m =" in source \
        else edge_label(src, "w", "pred") == "∂pred/∂w = 2"
    # the sum over samples of each part is the gradient
    view = SampleView(m)
    assert math.fsum(view.at(k).contributions["w"] for k in range(4)) + one.direct["w"] == \
        pytest.approx(m.gradients()["w"], rel=1e-12)
