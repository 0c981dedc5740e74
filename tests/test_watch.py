"""`graphdsl watch`: the live page, in Debian's headless chromium.

The command runs as a real subprocess (as a teacher starts it); the test
edits the model file as an editor would, and watches the page follow: a new
report after a save, the message with its caret over the dimmed last good
page after a mistake, the new report again after the fix, and a clean stop
on Ctrl-C (SIGINT). Every request the page makes is recorded: only the local
server is ever asked.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from graphdsl.watch import FileWatcher

from conftest import MODELS

# generous: on a shared, busy 2-core machine the whole page takes seconds, not tens
WAIT = 90_000


class Watching:
    """A running `graphdsl watch` and what it wrote."""

    def __init__(self, model, *options):
        cmd = [sys.executable, "-m", "graphdsl", "watch", str(model), *options]
        env = dict(os.environ, GRAPHDSL_NO_ENTRY_POINTS="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.err: list[str] = []
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()
        line = self.proc.stdout.readline()
        m = re.search(r"open (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops\)", line)
        assert m, (line, self.proc.poll(), "".join(self.err))
        self.url = m.group(1)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=30)
        time.sleep(0.1)   # let the stderr reader finish
        return code

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def watch():
    started = []

    def start(model, *options):
        w = Watching(model, *options)
        started.append(w)
        return w

    yield start
    for w in started:
        w.close()


@pytest.fixture
def open_page(browser):
    contexts = []

    def opener(url):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.requests, page.errors = [], []
        page.on("request", lambda req: page.requests.append(req.url))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(url)
        contexts.append((context, page, url))
        return page

    yield opener
    for context, page, url in contexts:
        context.close()
        assert page.errors == []
        assert page.requests and all(r.startswith(url) for r in page.requests), page.requests


def _save(path, text):
    """Write as an editor that saves in place does (the mtime moves on)."""
    path.write_text(text, encoding="utf-8")


def _panel(page) -> str:
    return page.frame_locator("iframe.current").locator("#panel").inner_text()


def _page_no(page) -> int:
    return int(page.get_attribute("body", "data-page") or 0)


def _wait_whole(page, after: int = 0):
    """Wait until the page shows a whole report (plots included) newer than
    page number ``after`` (each save is shown quick first, then whole).
    Polled from here: the page's own policy forbids the eval that
    ``wait_for_function`` needs."""
    deadline = time.monotonic() + WAIT / 1000
    while time.monotonic() < deadline:
        # page, whole, page again: the page sets both in one task, but these are
        # separate reads, so a swap between them must not pair the old page's
        # "whole" with the new page's number
        shown = _page_no(page)
        whole = page.get_attribute("body", "data-whole") == "true"
        if whole and shown > after and _page_no(page) == shown:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"no whole page after page {after} within {WAIT / 1000:.0f} s")


SEED = "param w = 3\nparam b = 4\nx = 2*w + 3*b\ny = 2*b + 1\nz = x*y\n"


def test_the_page_follows_saves_shows_a_mistake_and_recovers(tmp_path, watch, open_page):
    model = tmp_path / "seed.bp"
    _save(model, SEED)
    w = watch(model, "--target", "150")
    page = open_page(w.url)
    _wait_whole(page)
    assert "Iteration 0 of 2" in _panel(page) and "z = 162" in _panel(page)
    assert page.locator("#error").is_hidden()
    report = page.frame_locator("iframe.current")
    assert report.locator(".plot svg").count() == 1

    # a save: the new run replaces the picture, no reload by hand
    before = _page_no(page)
    _save(model, SEED.replace("3*b", "4*b"))
    _wait_whole(page, before)
    assert "z = 198" in _panel(page)                   # x = 6 + 16, y = 9
    assert report.locator(".plot svg").count() == 1
    assert "∂z/∂y = x = 22" in (page.frame_locator("iframe.current").locator("#frame svg")
                                .text_content())

    # a mistake: the message with its caret, over the last good page, dimmed
    _save(model, SEED.replace("3*b", "3*b +"))
    page.wait_for_selector("#error:not([hidden])", timeout=WAIT)
    message = page.locator("#message").inner_text()
    assert f"--> {model}:3:" in message and "^" in message, message
    assert "x = 2*w + 3*b +" in message
    assert "z = 198" in _panel(page)                   # still the last good one
    assert page.locator("iframe.current").get_attribute("class") == "current dimmed"
    opacity = page.eval_on_selector("iframe.current", "f => getComputedStyle(f).opacity")
    assert float(opacity) < 0.5

    # the fix: the message goes, the page is whole again, with the new run
    before = _page_no(page)
    _save(model, SEED.replace("param w = 3", "param w = 2"))
    _wait_whole(page, before)
    assert page.locator("#error").is_hidden()
    assert page.locator("iframe.current").get_attribute("class") == "current"
    assert "w = 2, b = 4, z = 144" in _panel(page)     # x = 4 + 12, y = 9

    # Ctrl-C: a clean stop, exit 0, no traceback; the page says the link is gone
    assert w.interrupt() == 0
    err = "".join(w.err)
    assert "Traceback" not in err and err.rstrip().endswith("stopped"), err
    assert "syntax error" in err and "updated: 3 iterations, converged" in err
    page.wait_for_selector("body[data-lost='true']", timeout=WAIT)


def test_the_viewer_keeps_their_iteration_across_a_save(tmp_path, watch, open_page):
    model = tmp_path / "seed.bp"
    _save(model, SEED)
    w = watch(model, "--target", "150")
    page = open_page(w.url)
    _wait_whole(page)
    page.frame_locator("iframe.current").locator("#next").click()
    assert "Iteration 1 of 2" in _panel(page)
    before = _page_no(page)
    _save(model, SEED.replace("param b = 4", "param b = 4.5"))
    _wait_whole(page, before)
    assert "Iteration 1 of" in _panel(page)
    # the arrow keys reach the report without a click into it
    page.keyboard.press("ArrowLeft")
    assert "Iteration 0 of" in _panel(page) and "b = 4.5" in _panel(page)


def test_a_data_model_is_fitted_and_a_save_of_its_csv_fits_it_again(tmp_path, watch, open_page):
    model, data = tmp_path / "line.bp", tmp_path / "line.csv"
    _save(model, "data x, y\nparam w = 0\nparam b = 0\npred = w*x + b\n"
                 "loss = mean((pred - y)^2)\n")
    _save(data, "x,y\n0,1\n1,3\n2,5\n")
    w = watch(model, "--data", data, "--epochs", "5", "--sample", "2")
    page = open_page(w.url)
    _wait_whole(page)
    panel = _panel(page)
    assert "Epoch 0 of 5" in panel and "w = 0, b = 0" in panel
    frame = page.frame_locator("iframe.current")
    assert "sample 2 of 3" in frame.locator("#frame svg").text_content()
    # the data file is watched too: new numbers, a new fit
    before = _page_no(page)
    _save(data, "x,y\n0,1\n1,3\n2,5\n3,7\n")
    _wait_whole(page, before)
    assert "sample 2 of 4" in (page.frame_locator("iframe.current").locator("#frame svg")
                               .text_content())
    assert w.interrupt() == 0
    err = "".join(w.err)
    assert "Traceback" not in err and "updated: 6 epochs, max-epochs" in err, err


def test_watch_refuses_a_run_option_for_a_data_model_before_it_starts(cli, tmp_path):
    r = cli("watch", MODELS / "xor.bp", "--target", "1")
    assert r.code == 2 and "--target is for a run" in r.err and "Traceback" not in r.err
    r = cli("watch", MODELS / "regression.bp", "--data", tmp_path / "none.csv")
    assert r.code == 2 and "no such file" in r.err


def test_a_model_broken_from_the_start_shows_its_message_then_its_page(tmp_path, watch,
                                                                       open_page):
    model = tmp_path / "slip.bp"
    _save(model, "param w = 3\nz = 2 w\n")
    w = watch(model)
    page = open_page(w.url)
    page.wait_for_selector("#error:not([hidden])", timeout=WAIT)
    message = page.locator("#message").inner_text()
    assert "missing operator between '2' and 'w'" in message and f"{model}:2:7" in message
    assert page.locator("iframe").count() == 0
    _save(model, "param w = 3\nz = 2*w\n")
    _wait_whole(page)
    assert page.locator("#error").is_hidden()
    assert "z" in _panel(page) and "6" in _panel(page)
    assert w.interrupt() == 0


def test_it_listens_on_127_0_0_1_only_and_refuses_other_host_names(tmp_path, watch):
    import urllib.error
    import urllib.request

    model = tmp_path / "seed.bp"
    _save(model, SEED)
    w = watch(model)
    port = int(w.url.rsplit(":", 1)[1].strip("/"))
    with urllib.request.urlopen(w.url + "state", timeout=10) as r:
        assert r.headers["Content-Type"] == "application/json"
    req = urllib.request.Request(w.url, headers={"Host": f"attacker.example:{port}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    # not on the machine's other addresses: connecting there is refused
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))      # no packet is sent: it only picks a route
        own = probe.getsockname()[0]
    except OSError:
        own = None
    finally:
        probe.close()
    if own and not own.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((own, port), timeout=5).close()


def test_a_plugin_op_is_used_in_the_page(tmp_path, watch):
    import json
    import urllib.request

    (tmp_path / "cube_ops.py").write_text(
        "from graphdsl.ops import Op\n"
        "class Cube(Op):\n"
        "    name, arity = 'cube', 1\n"
        "    def forward(self, x):\n"
        "        return x ** 3\n"
        "    def partials(self, x, out):\n"
        "        return (3 * x * x,)\n")
    model = tmp_path / "cube.bp"
    _save(model, "param w = 2\nz = cube(w)\n")
    w = watch(model, "--plugin", tmp_path / "cube_ops.py")
    deadline = time.monotonic() + WAIT / 1000
    while True:
        with urllib.request.urlopen(w.url + "state", timeout=10) as r:
            state = json.load(r)
        if state["whole"] or not state["ok"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert state["ok"] and state["page"] == 2, state       # the quick page, then the whole one
    with urllib.request.urlopen(w.url + "page/2", timeout=10) as r:
        page = r.read().decode("utf-8")
    assert "cube(w)" in page and "z = 8" in page
    assert w.interrupt() == 0


def test_ctrl_c_in_the_middle_of_a_long_build_is_a_clean_stop(tmp_path, watch):
    import json
    import urllib.request

    model = tmp_path / "seed.bp"
    _save(model, SEED)
    w = watch(model, "--target", "150", "--method", "gd", "--lr", "0.00002", "--tol", "1e-13",
              "--max-iter", "300")
    deadline = time.monotonic() + WAIT / 1000
    while time.monotonic() < deadline:
        with urllib.request.urlopen(w.url + "state", timeout=10) as r:
            state = json.load(r)
        if state["building"] and (state.get("done") or 0) > 0:
            break
        time.sleep(0.05)
    assert state["building"], state
    assert w.interrupt() == 0
    err = "".join(w.err)
    assert "Traceback" not in err and "Fatal Python error" not in err, err
    assert err.rstrip().endswith("stopped")


def test_a_port_in_use_and_a_missing_file_are_usage_errors(tmp_path, cli, linear_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        r = cli("watch", linear_path, "--port", s.getsockname()[1])
    finally:
        s.close()
    assert r.code == 2 and "cannot listen there" in r.err and "leave out --port" in r.err
    r = cli("watch", tmp_path / "nope.bp")
    assert r.code == 2 and "no such file" in r.err
    r = cli("watch", linear_path, "--lr", "0.1")
    assert r.code == 2 and "--lr has no effect" in r.err
    r = cli("watch", linear_path, "--port", "70000")
    assert r.code == 2 and "not a port" in r.err


# --- noticing saves ----------------------------------------------------------------------------

def test_the_watcher_sees_content_not_timestamps(tmp_path):
    p = tmp_path / "m.bp"
    p.write_text("param w = 1\n")
    w = FileWatcher([p])
    assert not w.changed()
    p.write_text("param w = 1\n")            # saved again, same text
    os.utime(p, None)
    assert not w.changed()
    st = p.stat()
    p.write_text("param w = 2\n")            # same size; put the old mtime back
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert w.changed()
    assert not w.changed()
    p.unlink()                               # gone (an editor's rename-save, half done)
    assert w.changed()
    p.write_text("param w = 2\n")
    assert w.changed()


def test_a_file_saved_by_rename_is_seen(tmp_path):
    p = tmp_path / "m.bp"
    p.write_text("param w = 1\n")
    w = FileWatcher([p, tmp_path / "data.csv"])   # a second file that does not exist yet
    tmp = tmp_path / ".m.bp.swp"
    tmp.write_text("param w = 3\n")
    os.replace(tmp, p)
    assert w.changed()
    (tmp_path / "data.csv").write_text("x,y\n1,2\n")
    assert w.changed()
