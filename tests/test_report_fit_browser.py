"""A fit's HTML report in a real browser (headless chromium, network off, as
tests/test_report_browser.py opens a run's): stepping the epochs with the
slider and the keys moves the panel, the table's mark, the ring on the loss
and the data plot's curve or boundary together."""

from __future__ import annotations

import pytest

import graphdsl
from graphdsl.text import format_number

from conftest import MODELS, REG_CSV
from test_report_browser import open_report  # noqa: F401  (the fixture)

REGRESSION = MODELS / "regression.bp"


def _shown(page) -> list[str]:
    """The ids of the rings and layers the plots show (display not none)."""
    return sorted(page.eval_on_selector_all(
        '.plot [id^="gdmark-"]', "gs => gs.filter(g => getComputedStyle(g).display !== 'none')"
        ".map(g => g.id)"))


def _slide(page, k: int) -> None:
    """Move the slider as a pointer would: set its value and tell the page."""
    page.eval_on_selector("#slider", "(s, k) => { s.value = String(k); "
                          "s.dispatchEvent(new Event('input', {bubbles: true})); }", k)


@pytest.fixture(scope="module")
def fit():
    m = graphdsl.load(REGRESSION, data=REG_CSV)
    return m.fit(epochs=30, lr=0.1)


def test_the_slider_and_the_keys_step_the_epochs(open_report, fit):
    o = open_report(REGRESSION, "--data", REG_CSV, "--epochs", "30", "--sample", "3")
    page = o.page
    assert "Epoch 0 of 30" in o.panel() and "w = 0, b = 0" in o.panel()
    assert o.current_rows() == ["0"]
    assert _shown(page) == ["gdmark-d-0", "gdmark-l-0"]
    _slide(page, 12)
    e = fit.epochs[12].values
    text = o.panel()
    assert "Epoch 12 of 30" in text
    assert f"w = {format_number(e['w'])}, b = {format_number(e['b'])}" in text
    assert o.current_rows() == ["12"]
    assert _shown(page) == ["gdmark-d-12", "gdmark-l-12"]
    assert page.locator("#slider").get_attribute("aria-valuetext") == "epoch 12 of 30"
    assert page.locator("#live").inner_text() == "Showing epoch 12 of 30"
    assert page.locator("#where").inner_text() == "Epoch 12 / 30"
    # the plate picture in view is epoch 12's, at the chosen sample (one picture in the page)
    title = page.locator("#frame svg text").first.text_content()
    assert title.startswith("regression.bp · epoch 12 · backward")
    assert "sample 3 of 100" in page.locator("#frame svg").text_content()
    assert page.locator("svg").count() - page.locator(".plot svg").count() == 1
    # the chain rule is epoch 12's, at sample 3, and sums to the gradient in the table
    chain = page.locator("#explain").inner_text()
    assert f"at w = {format_number(e['w'])}, b = {format_number(e['b'])}" in chain
    assert "Sample 3 (" in chain
    assert (f"reverse mode (the engine): ∂loss/∂w = {format_number(fit.epochs[12].gradients['w'])}"
            in chain)
    assert page.locator("#explain-box").is_visible()
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("ArrowRight")
    assert o.current_rows() == ["13"] and _shown(page) == ["gdmark-d-13", "gdmark-l-13"]
    page.keyboard.press("End")
    assert o.current_rows() == ["30"] and "Epoch 30 of 30" in o.panel()
    assert page.locator("#frame svg text").first.text_content().startswith(
        "regression.bp · epoch 30 · backward")
    assert page.locator("#live").inner_text() == "Showing epoch 30 of 30"
    page.keyboard.press("Home")
    assert o.current_rows() == ["0"] and _shown(page) == ["gdmark-d-0", "gdmark-l-0"]
    # the address names the epoch, and opening it there starts there
    page.keyboard.press("ArrowRight")
    assert page.url.endswith("#epoch-1")
    page.goto(o.url + "#epoch-20")
    page.reload()
    assert o.current_rows() == ["20"] and "Epoch 20 of 30" in o.panel()
    page.goto(o.url + "#epoch-99")          # past the last: the last
    page.reload()
    assert o.current_rows() == ["30"] and "Epoch 30 of 30" in o.panel()


def test_the_ring_and_the_curve_move_as_the_fit_does(open_report, fit):
    o = open_report(REGRESSION, "--data", REG_CSV, "--epochs", "30")
    page = o.page

    def box(gid):
        return page.evaluate(f"(() => {{ const b = document.getElementById('{gid}').getBBox(); "
                             f"return [b.x, b.y, b.width, b.height]; }})()")

    # the loss falls: each later ring is further right and lower on the screen
    rings = [box(f"gdmark-l-{k}") for k in (0, 10, 30)]
    assert rings[0][0] < rings[1][0] < rings[2][0]
    assert rings[0][1] < rings[1][1] < rings[2][1]
    # the start's line is flat (w = 0): its box has no height; later lines rise with w
    flat, later = box("gdmark-d-0"), box("gdmark-d-30")
    assert flat[3] < 1 < later[3]
    # the chosen sample is ringed on the data plot
    assert page.locator(".plot #gd-sample").count() == 1
    assert "sample 1 ringed" in page.locator(".plot figcaption").inner_text()


def test_the_page_steps_in_chinese(open_report):
    o = open_report(REGRESSION, "--data", REG_CSV, "--epochs", "5", "--lang", "zh")
    page = o.page
    assert page.locator("html").get_attribute("lang") == "zh"
    page.keyboard.press("ArrowRight")
    assert "第 1 轮 / 共 5 轮" in o.panel()
    assert page.locator("#live").inner_text() == "正在显示：第 1 轮 / 共 5 轮"
    assert _shown(page) == ["gdmark-d-1", "gdmark-l-1"]


def test_a_classifiers_boundary_follows_the_slider(open_report):
    o = open_report(MODELS / "xor.bp", "--optimizer", "adam", "--lr", "0.05", "--epochs", "300",
                    "--tol", "1e-3")
    page = o.page
    n = page.locator("#iters tbody tr").count()
    assert n > 100
    _slide(page, 150)
    shown = _shown(page)
    assert "gdmark-d-150" in shown and "gdmark-l-150" in shown
    assert {"gdmark-s-150", "gdmark-t-150"} & set(shown)
    assert all(g.endswith("-150") for g in shown)


def test_printing_gives_one_page_per_shown_epoch(open_report):
    import re

    o = open_report(REGRESSION, "--data", REG_CSV, "--epochs", "3")
    pdf = o.page.pdf(format="A4")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages >= 4 + 1, pages          # four epochs, then the plots, the table and the model
    o.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert o.page.locator("#print-all section").count() == 0
