"""Pictures in Chinese: `render --lang zh` and `run --render DIR --lang zh` put the
title's and caption's words in Chinese; the maths (∂z/∂x = y = 9) stays as it is,
and English stays byte for byte what it was."""

from __future__ import annotations

import graphdsl
from graphdsl import render


def test_english_is_the_default_byte_for_byte(linear_path):
    m = graphdsl.load(linear_path)
    for view in render.VIEWS:
        for kw in ({}, {"ops": True}, {"wrt": "b"}, {"focus": "x", "depth": 0}):
            assert render.build(m, view, **kw).source == render.build(m, view, lang="en", **kw).source


def test_chinese_titles_keep_the_maths(linear_path):
    m = graphdsl.load(linear_path)
    m.set(w=3, b=4)
    zh = render.build(m, "backward", lang="zh").source
    assert "linear.bp · 反向 · w = 3, b = 4" in zh and "backward" not in zh
    assert "∂z/∂x = y = 9" in zh and "∂x/∂b = 3" in zh
    assert "linear.bp · 结构 · 运算" in render.build(m, "structure", ops=True, lang="zh").source
    # the --wrt caption: the sum of the paths is maths; the op view's words are not
    assert "9·3" in render.build(m, "backward", wrt="b", lang="zh").source
    ops = render.build(m, "backward", ops=True, wrt="b", lang="zh").source
    assert "∂z/∂b = 63（沿高亮的边）" in ops and "highlighted" not in ops


def test_chinese_caption_for_no_path_and_cut_neighbourhoods():
    m = graphdsl.loads("param a = 1\nparam c = 2\nu = 3*a\nv = u*u + 1\ny = v + 2*v\n", "m.bp")
    m2 = graphdsl.loads("param a = 1\nparam c = 2\nz = 3*a\n", "n.bp")
    assert "∂z/∂c = 0：没有从 c 通向 z 的路径" in render.build(m2, "forward", wrt="c", lang="zh").source
    cut = render.build(m, "forward", focus="v", depth=0, lang="zh").source
    assert "另有 1 个输入" in cut and "另有 1 处使用" in cut and "more" not in cut


def test_run_frames_in_chinese(cli, linear_path, tmp_path):
    out = tmp_path / "frames"
    r = cli("run", linear_path, "--target", "150", "--lang", "zh", "--render", out)
    assert r.code == 0, r.err
    frame = (out / "iter-001-backward.svg").read_text(encoding="utf-8")
    assert "第 1 次迭代 · 反向" in frame and "误差 0.1814059" in frame and "下一步：" in frame
    assert "∂z/∂x = y = 8.809524" in frame
    start = (out / "start-structure.svg").read_text(encoding="utf-8")
    assert "第 0 次迭代 · 结构" in start


def test_cli_render_lang(cli, linear_path, tmp_path):
    zh, en = tmp_path / "zh.dot", tmp_path / "en.dot"
    assert cli("render", linear_path, "--view", "forward", "--lang", "zh", "-o", zh).code == 0
    assert cli("render", linear_path, "--view", "forward", "--lang", "en", "-o", en).code == 0
    assert "linear.bp · 前向 · w = 3, b = 4" in zh.read_text(encoding="utf-8")
    m = graphdsl.load(linear_path)
    assert en.read_text(encoding="utf-8").rstrip("\n") == render.build(m, "forward").source.rstrip("\n")
