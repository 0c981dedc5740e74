"""Plate notation in the structure picture of a data model: the per-sample
nodes in a graphviz cluster labelled with the number of samples, data columns
as their own kind of leaf, params and reductions outside."""

from __future__ import annotations

import re

import pytest

import graphdsl
from graphdsl import render

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
