"""The HTML report in a real browser: Debian's headless chromium driven by
Playwright (./dev test installs both; `playwright install` is never used).

The page is opened from a file:// URL with the network off in every way the
browser allows, and every request it makes is recorded: the only one allowed
is the file itself.
"""

from __future__ import annotations

import re

import pytest



class Opened:
    def __init__(self, page, url, requests, errors):
        self.page, self.url, self.requests, self.errors = page, url, requests, errors

    def panel(self) -> str:
        return self.page.locator("#panel").inner_text()

    def current_rows(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#iters tbody tr[aria-current]", "rs => rs.map(r => r.getAttribute('data-i'))")


@pytest.fixture
def open_report(browser, tmp_path, cli):
    """Build a report with the CLI, open it; afterwards check it stayed offline."""
    pages = []

    def opener(*run_args, name="report.html", page_file=None):
        out = page_file
        if out is None:
            out = tmp_path / name
            r = cli("report", *run_args, "-o", out)
            assert r.code in (0, 1), r.err
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        requests, errors = [], []
        page.on("request", lambda req: requests.append(req.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        url = out.resolve().as_uri()
        page.goto(url)
        opened = Opened(page, url, requests, errors)
        pages.append((opened, context))
        return opened

    yield opener
    for opened, context in pages:
        context.close()
        assert opened.errors == []
        assert opened.requests and set(opened.requests) == {opened.url}, opened.requests


def test_arrow_keys_step_to_the_seeds_iteration_2(open_report, linear_path):
    o = open_report(linear_path, "--target", "150")
    page = o.page
    assert "Iteration 0 of 2" in o.panel() and "w = 3, b = 4, z = 162" in o.panel()
    assert o.current_rows() == ["0"]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    text = o.panel()
    assert "Iteration 2 of 2" in text
    for shown in ("w = 2.661519", "b = 3.903263", "z = 150.0000"):
        assert shown in text
    assert o.current_rows() == ["2"]
    assert page.locator("#iters tr[aria-current] td.mark").inner_text() == "▶"
    assert page.locator("#slider").input_value() == "2"
    assert page.locator("#slider").get_attribute("aria-valuetext") == "iteration 2 of 2"
    # the picture in view is iteration 2's (only one frame is in the page)
    assert page.locator("svg").count() - page.locator(".plot svg").count() == 1
    assert "150.0000" in (page.locator("#frame svg").text_content() or "")
    page.keyboard.press("ArrowRight")                     # past the end: stays
    assert o.current_rows() == ["2"]


def test_home_end_buttons_slider_and_table(open_report, linear_path):
    o = open_report(linear_path, "--target", "150")
    page = o.page
    page.keyboard.press("End")
    assert o.current_rows() == ["2"]
    page.keyboard.press("Home")
    assert o.current_rows() == ["0"] and "z = 162" in o.panel()
    page.get_by_role("button", name="Next ▶").click()
    assert o.current_rows() == ["1"] and "z = 150.1814" in o.panel()
    page.get_by_role("button", name="show iteration 2").click()
    assert o.current_rows() == ["2"]
    # the slider moves by itself with the arrow keys, exactly one step each
    page.locator("#slider").focus()
    page.keyboard.press("ArrowLeft")
    assert o.current_rows() == ["1"]
    # the page can be stepped with the keyboard alone, focus visible on the way
    page.locator("#first").focus()
    page.keyboard.press("Enter")
    assert o.current_rows() == ["0"]
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")


def test_print_gives_one_page_per_frame(open_report, linear_path):
    o = open_report(linear_path, "--target", "150")
    pdf = o.page.pdf(format="A4")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages >= 3 + 1, pages          # three iterations, then the table and the model
    # afterwards the page is light again: one frame in the DOM
    o.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert o.page.locator("#print-all section").count() == 0


def test_hundreds_of_iterations_stay_light(open_report, linear_path, tmp_path):
    import graphdsl
    from graphdsl.report import build_report

    m = graphdsl.load(linear_path)
    trace = m.solve(target=150, method="gd", lr=0.000002, max_iter=299)
    # the explanations are not what this test is about; they cost a symbolic pass each
    out = tmp_path / "long.html"
    build_report(m, trace, explanations=False, plots=False).write(out)
    o = open_report(page_file=out)
    page = o.page
    assert page.locator("#iters tbody tr").count() == 300
    page.keyboard.press("End")
    assert o.current_rows() == ["299"] and "Iteration 299 of 299" in o.panel()
    assert page.locator("#frame svg").count() <= 1
    assert page.locator("svg").count() - page.locator(".plot svg").count() <= 1
    # the marked row is scrolled into its box
    visible = page.evaluate("""() => {
        const w = document.querySelector('.table-wrap'), r = w.querySelector('tr[aria-current]');
        const a = w.getBoundingClientRect(), b = r.getBoundingClientRect();
        return b.top >= a.top && b.bottom <= a.bottom; }""")
    assert visible


def _ring(page) -> list[str]:
    """The ids of the plot rings the page shows (display not none)."""
    return page.eval_on_selector_all(
        '.plot [id^="gdmark-"]', "gs => gs.filter(g => getComputedStyle(g).display !== 'none')"
        ".map(g => g.id)")


def test_the_plot_marks_the_current_iteration_as_it_steps(open_report, linear_path):
    o = open_report(linear_path, "--target", "150")
    page = o.page
    assert _ring(page) == ["gdmark-e-0"]
    page.keyboard.press("ArrowRight")
    assert _ring(page) == ["gdmark-e-1"]
    # the ring is drawn where iteration 1's point is, right of iteration 0's
    x0 = page.evaluate("document.getElementById('gdmark-e-0').getBBox().x")
    x1 = page.evaluate("document.getElementById('gdmark-e-1').getBBox().x")
    assert x1 > x0
    page.keyboard.press("End")
    assert _ring(page) == ["gdmark-e-2"]


def test_the_one_param_plot_marks_both_panels(open_report, linear_path):
    o = open_report(linear_path, "--target", "150", "--params", "b")
    page = o.page
    page.keyboard.press("ArrowRight")
    assert sorted(_ring(page)) == ["gdmark-c-1", "gdmark-e-1"]


def test_the_chinese_page_has_chinese_controls_and_steps_with_the_keys(open_report, linear_path):
    o = open_report(linear_path, "--target", "150", "--lang", "zh")
    page = o.page
    assert page.evaluate("document.documentElement.lang") == "zh"
    for name in ("« 第一步", "◀ 上一步", "下一步 ▶", "最后一步 »"):
        assert page.get_by_role("button", name=name).count() == 1
    assert page.get_by_role("heading", name="本次迭代的链式法则").count() == 1
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert o.current_rows() == ["2"]
    assert "迭代 2 / 2" in o.panel() and "z = 150.0000" in o.panel()
    assert page.locator("#where").inner_text() == "迭代 2 / 2"
    assert page.locator("#slider").get_attribute("aria-valuetext") == "迭代 2 / 2"
    assert page.locator("#live").inner_text() == "正在显示：迭代 2 / 2"
    page.get_by_role("button", name="显示第 1 次迭代").click()
    assert o.current_rows() == ["1"] and _ring(page) == ["gdmark-e-1"]


def test_a_thinned_run_steps_through_iterations_without_a_panel_and_prints_the_chosen(
        open_report, linear_path, tmp_path):
    import graphdsl
    from graphdsl.report import build_report

    m = graphdsl.load(linear_path)
    trace = m.solve(target=150, method="gd", lr=0.000002, max_iter=29)
    out = tmp_path / "thin.html"
    build_report(m, trace, pictures=False, explanations=False, max_frames=4).write(out)
    o = open_report(page_file=out)
    page = o.page
    page.keyboard.press("ArrowRight")           # iteration 1 has no panel of its own
    assert o.current_rows() == ["1"]
    assert "Iteration 1 of 29" in o.panel() and "not shown in full" in o.panel()
    assert page.locator("#cur-title").count() == 1 and _ring(page) == []
    page.keyboard.press("End")
    assert "Iteration 29 of 29" in o.panel() and _ring(page) == ["gdmark-e-29"]
    page.evaluate("window.graphdslReport.preparePrint()")
    assert page.locator("#print-all section").count() == 4


def test_forward_mode_panel_follows_the_iteration_and_the_chosen_param(open_report, linear_path):
    o = open_report(linear_path, "--target", "150", "--lang", "en")
    page = o.page
    fwd = page.locator("#forward")
    assert "from w:" in fwd.inner_text() and "= 18" in fwd.inner_text()
    page.select_option("#fwd-param", label="b")
    assert "from b:" in fwd.inner_text() and "9·3 + 18·2 = 63" in fwd.inner_text()
    page.keyboard.press("ArrowRight")
    assert "from b:" in fwd.inner_text() and "60.52381" in fwd.inner_text()
    # beside the reverse chain rule on a wide screen
    box = page.locator("#explain-box").bounding_box()
    fbox = page.locator("#forward-box").bounding_box()
    assert fbox["x"] > box["x"] + box["width"] - 1 and abs(fbox["y"] - box["y"]) < 5
