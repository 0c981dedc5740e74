"""Plots in Chinese (`--lang zh`): every title, axis label, legend entry and
note a plot draws is in the language asked for, the model's names stay as
they are, English stays what it was, and a PNG or PDF in Chinese is written
even with no CJK font installed, with one warning and no matplotlib noise.
The SVGs are parsed (their text nodes and their structure), never compared
by pixels."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET

import pytest

import graphdsl
from graphdsl import plot
from graphdsl.i18n import MESSAGES
from graphdsl.samples import find_roles

from conftest import MODELS, ROOT, REG, REG_CSV, NEURON, NEURON_CSV

pytest.importorskip("matplotlib")

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def figures():
    """name -> a function that draws one figure (keywords: lang), for every kind of plot
    and panel: run (many params, one param, --minimize), compare (with a
    diverging method), fit (curve, classifier, no model), the report's fit plots."""
    lin = graphdsl.load(MODELS / "linear.bp")
    nl = graphdsl.load(MODELS / "nonlinear.bp")
    sq = graphdsl.load(MODELS / "gd_square.bp")
    reg = graphdsl.load(REG, data=REG_CSV)
    neu = graphdsl.load(NEURON, data=NEURON_CSV)
    xor = graphdsl.load(MODELS / "xor.bp")
    run, split, frozen = lin.solve(target=150), nl.solve(), nl.solve(method="frozen")
    minimize = sq.solve(minimize=True, lr=0.3, tol=0.01)
    # gd with too large a rate diverges: the compare plot cuts it with a note
    compare = {m: lin.solve(target=150, method=m, lr=0.01) for m in ("split", "frozen", "gd")}
    fit_reg, fit_neu = reg.fit(), neu.fit(lr=1, epochs=60)
    fit_xor = xor.fit(epochs=3)  # too short for a boundary: the panel says so
    return {
        "run": lambda **kw: plot.run_figure(run, lin, **kw),
        "newton": lambda **kw: plot.run_figure(split, nl, marks=True, **kw),
        "frozen": lambda **kw: plot.run_figure(frozen, nl, **kw),
        "minimize": lambda **kw: plot.run_figure(minimize, sq, **kw),
        "compare": lambda **kw: plot.compare_figure(compare, **kw),
        "fit_curve": lambda **kw: plot.fit_figure(fit_reg, reg, **kw),
        "fit_boundary": lambda **kw: plot.fit_figure(fit_neu, neu, **kw),
        "fit_no_boundary": lambda **kw: plot.fit_figure(fit_xor, xor, **kw),
        "fit_loss_only": lambda **kw: plot.fit_figure(fit_reg, **kw),
        "report_curve": lambda **kw: plot.fit_report_figure(fit_reg, reg, sample=3, **kw),
        "report_boundary": lambda **kw: plot.fit_report_figure(fit_neu, neu, marks=range(0, 61, 20),
                                                               sample=2, **kw),
        "report_no_boundary": lambda **kw: plot.fit_report_figure(fit_xor, xor, **kw),
    }


@pytest.fixture(scope="module")
def drawn(figures):
    """(name, lang) -> the figure's SVG bytes, each drawn once for the module."""
    cache = {}

    def get(name, lang):
        if (name, lang) not in cache:
            cache[name, lang] = plot.figure_bytes(figures[name](lang=lang), "svg")
        return cache[name, lang]
    return get


def svg(fig) -> ET.Element:
    return ET.fromstring(plot.figure_bytes(fig, "svg"))


def texts(root) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(SVG + "text")]


def joined(root) -> str:
    """Every text node, with wrapped lines joined again by one space."""
    return re.sub(r"\s+", " ", " ".join(texts(root)))


#: the English words of the plots: those in a p_* key's English that its Chinese does not keep
ENGLISH = sorted({w for key, (en, zh) in MESSAGES.items() if key.startswith("p_")
                  for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"\{[^}]*\}", " ", en))
                  if w not in zh})


def test_the_english_words_are_the_plots_words():
    assert {"iteration", "epoch", "target", "samples", "boundary", "converged"} <= set(ENGLISH)


def test_english_is_the_default_byte_for_byte(figures, drawn):
    for name, draw in figures.items():
        assert plot.figure_bytes(draw(), "svg") == drawn(name, "en"), name


def test_every_figure_has_no_english_word_in_chinese(figures, drawn):
    for name in figures:
        zh, en = joined(ET.fromstring(drawn(name, "zh"))), joined(ET.fromstring(drawn(name, "en")))
        left = [w for w in ENGLISH if re.search(rf"\b{w}\b", zh)]
        assert not left, (name, left, zh)
        assert any(re.search(rf"\b{w}\b", en) for w in ENGLISH), name   # the check can fail


def test_chinese_titles_labels_and_legends_of_a_run_and_compare(drawn):
    run = texts(ET.fromstring(drawn("run", "zh")))
    assert "linear.bp：z → 150，方法 split" in run and "迭代" in run
    assert "|误差| = |z − 目标|" in run and "容差 0.0001" in run
    newton = texts(ET.fromstring(drawn("newton", "zh")))
    assert "c 作为 x 的函数；迭代点 x₀、x₁、…" in newton and "目标 2.13" in newton
    assert "步长：沿切线到目标" in newton and "迭代点" in newton
    assert "∂c/∂x" in newton and "c(x)" in newton          # the maths and the names stay
    assert "步长：沿保持不变的第一次斜率到目标" in texts(ET.fromstring(drawn("frozen", "zh")))
    minimize = texts(ET.fromstring(drawn("minimize", "zh")))
    assert "gd_square.bp：最小化 J，方法 gd" in minimize and "J（最小化）" in minimize
    compare = texts(ET.fromstring(drawn("compare", "zh")))
    assert "linear.bp：z → 150，每次迭代的 |误差|" in compare
    assert "split：3 次迭代，已收敛" in compare
    assert any(t.startswith("gd 发散：|误差| 达到 ") for t in compare)
    assert any(t.startswith("gd：") and t.endswith("次迭代，发散") for t in compare)


def test_chinese_words_of_a_fit(drawn):
    curve = texts(ET.fromstring(drawn("fit_curve", "zh")))
    assert "regression.bp：每轮的 loss（全批量）" in curve and "轮次" in curve
    assert "loss（全部 100 个样本）" in curve and "sgd，学习率 0.1" in curve
    assert "pred 与数据对照：起点、中间几轮、终点" in curve and "数据（100 个样本）" in curve
    assert "第 0 轮" in curve and "x" in curve and "y" in curve
    boundary = texts(ET.fromstring(drawn("fit_boundary", "zh")))
    assert "分界线：p = 0.5" in boundary and "label = 1" in boundary
    assert any(t.startswith("按 label 着色的样本，以及第 ") and t.endswith(" 轮后 p = 0.5 的位置")
               for t in boundary)
    assert "out 在这里从不越过 0.5：视野内没有分界线" in texts(ET.fromstring(drawn("fit_no_boundary", "zh")))


def test_chinese_words_of_the_reports_fit_plots(drawn):
    curve = texts(ET.fromstring(drawn("report_curve", "zh")))
    assert "当前轮次的 pred 与数据对照" in curve and "当前轮次的 pred" in curve
    assert "第 3 个样本" in curve and "第 0 轮（起点）" in curve
    boundary = texts(ET.fromstring(drawn("report_boundary", "zh")))
    assert "按 label 着色的样本；当前轮次 p = 0.5 的位置" in boundary and "第 2 个样本" in boundary
    assert "第 0 轮时 out 在这里不越过 0.5：视野内没有分界线" in texts(
        ET.fromstring(drawn("report_no_boundary", "zh")))


def structure(root) -> list[tuple]:
    """Every element but the text: its tag, its id, and a path's commands
    (M, L, C, z ...), in document order. A clip path's id is a hash of the
    axes' box, which moves with the length of the labels (the layout makes
    room for them), so clip paths are numbered in order instead."""
    out, clips = [], {}
    words = {id(e) for t in root.iter(SVG + "text") for e in t.iter()}
    for e in root.iter():
        if id(e) in words:
            continue
        ident = e.get("id")
        if e.tag == SVG + "clipPath":
            ident = clips.setdefault(ident, f"clip-{len(clips)}")
        d = e.get("d")
        out.append((e.tag, ident, re.sub(r"[^A-Za-z]", "", d) if d else None))
    return out


def test_english_and_chinese_differ_only_in_their_text(figures, drawn):
    for name in figures:
        en, zh = ET.fromstring(drawn(name, "en")), ET.fromstring(drawn(name, "zh"))
        assert structure(en) == structure(zh), name
        assert len(texts(en)) == len(texts(zh)), name
        assert texts(en) != texts(zh), name


def test_a_data_model_whose_roles_do_not_fit_says_why_in_both_languages():
    cases = {
        "none": "data x = [0, 1]\ndata y = [1, 2]\nparam w = 1\nloss = mean((w*x - y)^2)",
        "labels": "data a = [0, 1, 2]\ndata b = [1, 0, 1]\ndata t = [0, 1, 2]\nparam w = 1\n"
                  "pred = w*a + b\nloss = mean((pred - t)^2)",
        "columns": "data a = [0, 1]\ndata b = [1, 0]\ndata c = [2, 3]\ndata t = [0, 1]\nparam w = 1\n"
                   "pred = w*a + b + c\nloss = mean((pred - t)^2)",
    }
    said = {}
    for case, text in cases.items():
        m = graphdsl.loads(text, "m.bp")
        roles = find_roles(m.samples, m.data)
        assert roles.kind is None and roles.reason, case
        trace = m.fit(epochs=2)
        en = joined(svg(plot.fit_figure(trace, m)))
        zh = joined(svg(plot.fit_figure(trace, m, lang="zh")))
        # English: the reason's own words; Chinese: the same fact in Chinese
        assert "cannot draw the data with the prediction: " + roles.reason in en, case
        assert "无法画出数据和预测：" in zh and roles.reason not in zh, case
        said[case] = zh
    assert "给它起个名字，例如 pred = w*x + b" in said["none"]
    assert "t 有 3 个不同的值，不是两个标签：画不出决策边界" in said["labels"]
    assert "pred 依赖 3 个数据列：太多，画不出来" in said["columns"]


def test_no_glyph_warning_leaks_from_a_chinese_png_or_pdf(figures):
    fig = figures["fit_curve"](lang="zh")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for fmt in ("png", "pdf", "svg"):
            assert plot.figure_bytes(fig, fmt)
    assert not [w for w in seen if "Glyph" in str(w.message)]
    if plot.cjk_font() is None:   # the check can fail: matplotlib's own savefig does warn
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            fig.savefig(io.BytesIO(), format="png")
        assert [w for w in seen if "Glyph" in str(w.message)]


def test_the_font_note_is_for_chinese_png_and_pdf_without_a_cjk_font(monkeypatch):
    monkeypatch.setattr(plot, "cjk_font", lambda: None)
    for path in ("fit.png", "fit.pdf"):
        note = plot.font_note(path, "zh")
        assert path in note and "boxes" in note and "fonts-noto-cjk" in note
        assert plot.font_note(path, "en") is None
    assert plot.font_note("fit.svg", "zh") is None       # the browser draws an SVG's text
    monkeypatch.setattr(plot, "cjk_font", lambda: "DejaVu Serif")
    assert plot.font_note("fit.png", "zh") is None


def test_a_cjk_font_goes_after_the_default_family(monkeypatch, figures):
    from matplotlib import rcParams

    default = list(rcParams["font.family"])
    # a stand-in for an installed CJK font: any family matplotlib has that the default is not
    monkeypatch.setattr(plot, "cjk_font", lambda: "DejaVu Serif")
    zh, en = figures["run"](lang="zh"), figures["run"](lang="en")
    assert zh.axes[0].title.get_fontfamily() == default + ["DejaVu Serif"]
    assert en.axes[0].title.get_fontfamily() == default
    # an SVG names it last in its text's font list, for a browser that has it
    title = next(e for e in svg(zh).iter(SVG + "text") if "方法 split" in "".join(e.itertext()))
    assert re.search(r"font-family: [^;]*sans-serif, 'DejaVu Serif'(;|$)", title.get("style"))
    assert "DejaVu Serif" not in plot.figure_bytes(en, "svg").decode()


def test_a_font_is_taken_for_chinese_only_when_it_has_the_glyphs(monkeypatch):
    from matplotlib import font_manager

    dejavu = font_manager.findfont("DejaVu Sans")
    # named like a CJK family, but without a Chinese glyph: not taken
    fake = font_manager.FontEntry(fname=dejavu, name="Noto Sans CJK SC")
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [fake])
    plot.cjk_font.cache_clear()
    try:
        assert plot.cjk_font() is None
    finally:
        plot.cjk_font.cache_clear()


def test_cli_fit_png_in_chinese_warns_once_and_leaks_no_glyph_warning(tmp_path):
    out = tmp_path / "fit.png"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    r = subprocess.run([sys.executable, "-m", "graphdsl", "fit", str(REG), "--data", str(REG_CSV),
                        "--plot", str(out), "--lang", "zh"], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"\x89PNG")
    assert f"图已写入 {out}" in r.stdout
    assert "Glyph" not in r.stderr and "Traceback" not in r.stderr
    warned = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    expected = 0 if plot.cjk_font() else 1
    assert len(warned) == expected, r.stderr
    if expected:
        assert "fonts-noto-cjk" in warned[0] and str(out) in warned[0]


def test_cli_plots_follow_lang(cli, tmp_path, linear_path):
    run, cmp, fit = tmp_path / "run.svg", tmp_path / "cmp.svg", tmp_path / "fit.svg"
    r = cli("run", linear_path, "--target", "150", "--plot", run, "--lang", "zh")
    assert r.code == 0 and f"图已写入 {run}" in r.out and "warning" not in r.err
    assert "linear.bp：z → 150，方法 split" in texts(ET.parse(run).getroot())
    r = cli("compare", linear_path, "--target", "150", "--plot", cmp, "--lang", "zh")
    assert r.code == 0, r.err
    assert "linear.bp：z → 150，每次迭代的 |误差|" in texts(ET.parse(cmp).getroot())
    r = cli("fit", REG, "--data", REG_CSV, "--plot", fit, "--lang", "zh")
    assert r.code == 0 and "warning" not in r.err   # an SVG needs no font of ours
    assert "regression.bp：每轮的 loss（全批量）" in texts(ET.parse(fit).getroot())
    r = cli("run", linear_path, "--target", "150", "--plot", run, "--lang", "en")
    assert "linear.bp: z → 150, method split" in texts(ET.parse(run).getroot())


def test_the_reports_plots_in_chinese():
    from graphdsl.report import build_report

    lin = graphdsl.load(MODELS / "linear.bp")
    zh = build_report(lin, lin.solve(target=150), lang="zh").html
    en = build_report(lin, lin.solve(target=150), lang="en").html
    assert "linear.bp：z → 150，方法 split" in zh and "|误差| = |z − 目标|" in zh
    assert "linear.bp: z → 150, method split" in en and "方法 split" not in en
    reg = graphdsl.load(REG, data=REG_CSV)
    zh = build_report(reg, reg.fit(), lang="zh").html
    assert "regression.bp：每轮的 loss（全批量）" in zh and "当前轮次的 pred 与数据对照" in zh
    assert "loss per epoch" not in zh


def test_the_notebooks_plots_follow_lang():
    from graphdsl.notebook import fit_html, trace_html

    lin = graphdsl.load(MODELS / "linear.bp")
    t = lin.solve(target=150)
    assert "|误差| = |z − 目标|" in trace_html(t, lin, lang="zh")
    assert "|error| = |z − target|" in trace_html(t, lin, lang="en")
    reg = graphdsl.load(REG, data=REG_CSV)
    assert "数据（100 个样本）" in fit_html(reg.fit(), reg, lang="zh")


def test_the_readme_says_how_to_get_a_font_for_chinese_plots():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "fonts-noto-cjk" in readme and "--lang" in readme
