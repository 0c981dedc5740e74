"""graphdsl in a notebook, tested in IPython's own shell (the kernel's display
machinery, the extension loader and the cell magic), not by hand."""

from __future__ import annotations

import re

import pytest

import graphdsl

from conftest import MODELS

SEED = "param w = 3\nparam b = 4\nx = 2*w + 3*b\ny = 2*b + 1\nz = x*y\n"


@pytest.fixture(scope="module")
def ip():
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    # a terminal shell computes text alone; Jupyter's kernel asks for every type
    shell.display_formatter.active_types = shell.display_formatter.format_types
    shell.run_line_magic("load_ext", "graphdsl")
    return shell


def _shown(ip, obj) -> dict:
    """What a notebook would get for ``obj``: the display formatter's data."""
    data, _meta = ip.display_formatter.format(obj)
    return data


def _cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    return [re.findall(r"<t[hd]>(.*?)</t[hd]>", r) for r in rows]


def test_a_model_shows_its_backward_picture_and_a_table(ip):
    m = graphdsl.loads(SEED, name="seed.bp")
    data = _shown(ip, m)
    assert data["text/plain"] == repr(m)
    html = data["text/html"]
    svg = html[html.index("<svg"):html.index("</svg>")]
    for label in ("∂z/∂x = y = 9", "∂x/∂b = 3", "∂z/∂b = 63"):
        assert label in svg
    rows = _cells(html)
    assert rows[0] == ["node", "value", "∂z/∂node"]
    table = {r[0]: (float(r[1]), float(r[2])) for r in rows[1:]}
    # the table is the engine's numbers: the seed's values and gradients
    assert table == {n: (m.forward()[n], m.gradients()[n]) for n in m.forward()}
    assert table["b"] == (4.0, 63.0) and table["w"] == (3.0, 18.0) and table["z"] == (162.0, 1.0)


def test_without_dot_the_table_alone(ip, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")      # graphviz's `dot` cannot be found
    html = _shown(ip, graphdsl.loads(SEED))["text/html"]
    assert "<svg" not in html and "dot" in html     # a note says why there is no picture
    assert ["b", "4", "63"] in _cells(html)


def test_a_model_outside_its_domain_shows_the_message(ip):
    html = _shown(ip, graphdsl.loads("param a = -1\nz = log(a)\n"))["text/html"]
    assert "graphdsl-error" in html and "log" in html and "<table" not in html


def test_a_trace_shows_its_table_and_plot(ip):
    t = graphdsl.loads(SEED, name="seed.bp").solve(target=150)
    data = _shown(ip, t)
    html = data["text/html"]
    run = re.search(r'<pre class="graphdsl-run">(.*?)</pre>', html, re.S).group(1)
    # the table is what `graphdsl run` prints for the same run
    from graphdsl.cli import format_trace

    assert run.replace("&gt;", ">") == "\n".join(format_trace(t, "en")).replace("&gt;", ">")
    assert "converged after 3 iterations" in run
    plot = html[html.index("<svg"):]
    assert "<?xml" not in html and "iteration" in plot   # the |error| plot, inline
    assert data["text/plain"] == repr(t)


def test_a_fit_shows_its_table_and_loss_plot(ip):
    m = graphdsl.load(MODELS / "xor.bp")
    t = m.fit(epochs=3)
    data = _shown(ip, t)
    html = data["text/html"]
    table = re.search(r'<pre class="graphdsl-run">(.*?)</pre>', html, re.S).group(1)
    from graphdsl.cli import format_fit

    assert table.startswith("\n".join(format_fit(t, "en")).replace("&", "&amp;"))
    assert "not converged after 3 epochs" in table and "no convergence after 3 epochs" in table
    assert "<svg" in html and "<?xml" not in html and "epoch" in html[html.index("<svg"):]
    assert data["text/plain"] == repr(t)


def test_the_magic_runs_the_cell_with_run_options(ip):
    r = ip.run_cell_magic("bp", "--target 150 --method frozen", SEED)
    assert r.trace.method == "frozen" and r.trace.converged
    # frozen keeps the first partials: 5 iterations where split needs 3
    assert len(r.trace.iterations) == 5
    html = _shown(ip, r)["text/html"]
    assert "converged after 5 iterations" in html
    assert html.count("<svg") == 2          # the last iteration's picture and the plot
    assert "iteration 4" in html


def test_the_magic_without_a_target_speaks_the_language_of_its_line(ip, monkeypatch):
    monkeypatch.setenv("LANG", "C")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    r = ip.run_cell_magic("bp", "--lang zh", "param b = 4\ny = 2*b + 1\n")
    header = _cells(_shown(ip, r)["text/html"])[0]
    assert header == ["节点", "值", "∂y/∂节点"]          # as repr() of the same result prints


def test_the_magic_as_a_cell_stores_the_result_and_prints_no_traceback(ip):
    from IPython.utils.capture import capture_output

    with capture_output() as out:
        res = ip.run_cell("%%bp --set w=2\n" + SEED.replace("param b = 4", "param b = 5"))
    assert res.success and out.stderr == ""
    assert res.result.trace.status == "evaluated"         # no target: one pass
    html = _shown(ip, res.result)["text/html"]
    assert ["z", str(int((4 + 15) * 11)), "1"] in _cells(html)


@pytest.mark.parametrize("line, cell, expected", [
    ("--target 150", SEED.replace("x*y", "x y"), "missing operator between 'x' and 'y'"),
    ("--target 150", "param w = 3\nz = sigmod(w)\n", "did you mean 'sigmoid'?"),
    ("--target abc", SEED, "argument --target: 'abc' is not a number"),
    ("--method newton", SEED, "invalid choice: 'newton'"),
    ("--target 150 --lr 0.1", SEED, "--lr has no effect with --method split"),
    ("--set q=1", SEED, "--set q: the model has no such name"),
    ("--target '150", SEED, "No closing quotation"),
])
def test_a_mistake_shows_its_message_not_a_traceback(ip, line, cell, expected):
    from IPython.utils.capture import capture_output

    with capture_output() as out:
        res = ip.run_cell(f"%%bp {line}\n{cell}")
    assert res.success and res.result is None
    assert "Traceback" not in out.stdout + out.stderr
    shown = [o.data for o in out.outputs]
    assert len(shown) == 1 and expected in shown[0]["text/plain"], shown
    assert "graphdsl-error" in shown[0]["text/html"]
    if "missing operator" in expected:            # the caret, under the place, in the message
        assert "<cell>:5:7" in shown[0]["text/plain"]
        assert re.search(r"\n *\| *\^", shown[0]["text/plain"])


def test_a_run_that_fails_numerically_shows_the_table_and_why(ip):
    r = ip.run_cell_magic("bp", "--target -1", "param a = 2\nz = sqrt(a)\n")
    html = _shown(ip, r)["text/html"]
    assert r.trace.status == "numeric"
    assert str(r.trace.failure).splitlines()[0] in html.replace("&#x27;", "'")


def test_the_magic_fits_a_data_model_with_fit_options(ip):
    cell = ("data x = [0, 1, 2, 3]\ndata y = [1, 3, 5, 7]\nparam w = 0\nparam b = 0\n"
            "pred = w*x + b\nloss = mean((pred - y)^2)\n")
    result = ip.run_cell_magic("bp", "fit --epochs 2000 --lr 0.1 --tol 1e-9", cell)
    assert result.trace.status == "converged"
    assert result.trace.result()["values"]["w"] == pytest.approx(2.0, abs=1e-8)
    html = result._repr_html_()
    assert "converged after" in html and "gd-curve-" in html      # the table and the data plot
    assert repr(result).splitlines()[0].startswith("<cell>: fit loss over 4 samples")
    # a wrong fit option is one message, not a traceback
    from IPython.utils.capture import capture_output

    with capture_output() as out:
        res = ip.run_cell(f"%%bp fit --epochs -1\n{cell}")
    assert res.success and res.result is None and "Traceback" not in out.stdout + out.stderr
    shown = [o.data for o in out.outputs]
    assert len(shown) == 1 and "--epochs: '-1' must be 0 or more" in shown[0]["text/plain"]
