"""The textbook's pictures: DOT text compared byte for byte, real SVGs drawn by
graphviz's `dot` and parsed as XML, the CLI's render command and run --render."""

from __future__ import annotations

import json
import os
import re
import sys
import xml.etree.ElementTree as ET

import pytest

import graphdsl
from graphdsl import dot, render

SVG = "{http://www.w3.org/2000/svg}"
SEED_EDGES = {("w", "x"), ("b", "x"), ("b", "y"), ("x", "z"), ("y", "z")}


def svg_parts(svg: str):
    """(nodes, edges) of a graphviz SVG: node id -> its text, (tail, head) -> [label texts]."""
    root = ET.fromstring(svg)
    nodes, edges = {}, {}
    for g in root.iter(f"{SVG}g"):
        cls = g.get("class")
        if cls not in ("node", "edge"):
            continue
        title = g.find(f"{SVG}title").text
        text = " ".join(t.text or "" for t in g.iter(f"{SVG}text"))
        text = re.sub(r"\s+", " ", text).strip()
        if cls == "node":
            nodes[title] = text
        else:
            tail, head = title.split("->")
            edges.setdefault((tail, head), []).append(text)
    return nodes, edges


def wide(n: int) -> str:
    """A generated model of n statements over three params, with bounded values.
    (Wide rather than deep: building a long chain is slow in the graph builder's
    cycle check, which is not what these tests are about.)"""
    lines = ["param p0 = 1", "param p1 = 2", "param p2 = 3"]
    for k in range(n):
        lines.append(f"n{k} = 0.5*tanh(p{k % 3}) + 0.3*p{(k + 1) % 3}*p{(k + 2) % 3}")
    return "\n".join(lines) + "\noutput n0\n"


@pytest.fixture
def seed(linear_path):
    return graphdsl.load(linear_path)


# --- the DOT text -------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    dict(view="structure"), dict(view="forward"), dict(view="backward"),
    dict(view="backward", ops=True), dict(view="backward", wrt="b"),
    dict(view="backward", blank=True), dict(view="forward", focus="x", depth=1),
])
def test_dot_source_is_byte_identical_across_builds(linear_path, options):
    a = graphdsl.load(linear_path).render(**options).source
    b = graphdsl.load(linear_path).render(**options).source
    assert a == b
    assert a.startswith("digraph linear {")
    assert "rankdir=LR" in a


def test_statement_view_ranks_params_left_and_output_right(seed):
    src = seed.render("structure").source
    assert re.search(r"subgraph params \{\s*rank=min\s*w\s*b\s*\}", src)
    assert re.search(r"subgraph output \{\s*rank=max\s*z\s*\}", src)


def test_params_and_computed_differ_in_shape_and_colour(seed):
    src = seed.render("structure").source
    w = re.search(r"^\s*w \[(.*)\]$", src, re.M).group(1)
    x = re.search(r"^\s*x \[(.*)\]$", src, re.M).group(1)
    z = re.search(r"^\s*z \[(.*)\]$", src, re.M).group(1)
    assert "shape=box" in w and "shape=ellipse" in x
    assert re.search(r'fillcolor="([^"]+)"', w).group(1) != re.search(r'fillcolor="([^"]+)"', x).group(1)
    assert "peripheries=2" in z and "peripheries" not in x


def test_backward_edges_carry_rule_and_number(seed):
    src = seed.render("backward").source
    assert "x -> z [label=<∂z/∂x = y = 9>]" in src
    assert "y -> z [label=<∂z/∂y = x = 18>]" in src
    assert "b -> x [label=<∂x/∂b = 3>]" in src  # a constant rule is just its number
    assert "b -> y [label=<∂y/∂b = 2>]" in src


def test_rules_fall_back_to_numbers_without_sympy(seed, monkeypatch):
    monkeypatch.setitem(sys.modules, "sympy", None)  # import sympy now raises ImportError
    src = seed.render("backward").source
    assert "x -> z [label=<∂z/∂x = 9>]" in src
    assert "b -> x [label=<∂x/∂b = 3>]" in src


def test_op_without_sympy_form_gets_numbers_only():
    from conftest import Cube
    from graphdsl.ops import default_registry

    reg = default_registry(entry_points=False)
    reg.register(Cube)
    m = graphdsl.loads("param x = 2\ny = cube(x) + x*x", registry=reg)
    src = m.render("backward").source
    # 3·x² + 2x at x = 2 is 16, with no rule because cube has no sympy()
    assert "x -> y [label=<∂y/∂x = 16>]" in src


def test_nonlinear_rules_come_from_sympy(linear_path):
    src = graphdsl.load(linear_path.parent / "nonlinear.bp").render("backward").source
    assert "∂a/∂x = 2x = 4" in src  # the printer explain uses too
    assert "∂b/∂a = 1/a = 0.25" in src
    assert "∂c/∂b = 1/(2·sqrt(b)) = 0.4246609" in src


def test_wrt_highlights_both_paths_and_sums_them(seed):
    src = seed.render("backward", wrt="b").source
    red, blue = render.PATH_COLOURS[:2]
    assert re.search(rf'b -> x \[[^\]]*color="{red}"[^\]]*penwidth=2.5', src)
    assert re.search(rf'x -> z \[[^\]]*color="{red}"[^\]]*penwidth=2.5', src)
    assert re.search(rf'b -> y \[[^\]]*color="{blue}"[^\]]*penwidth=2.5', src)
    assert re.search(rf'y -> z \[[^\]]*color="{blue}"[^\]]*penwidth=2.5', src)
    w_edge = re.search(r"w -> x \[([^\]]*)\]", src).group(1)
    assert "style=dashed" in w_edge and "penwidth" not in w_edge
    caption = re.search(r"graph \[label=<(.*)>\]", src).group(1)
    plain = re.sub(r"<[^>]+>", "", caption)
    assert "∂z/∂b = ∂z/∂x·∂x/∂b + ∂z/∂y·∂y/∂b = 9·3 + 18·2 = 63" in plain


def test_wrt_in_op_view_highlights_the_union_of_paths(seed):
    src = seed.render("backward", ops=True, wrt="b").source
    hot = render.PATH_COLOURS[0]
    assert re.search(rf'b -> "#2#op" \[[^\]]*color="{hot}"', src)
    assert re.search(rf'y -> "z#op" \[[^\]]*color="{hot}"', src)
    assert re.search(r'w -> "#1#op" \[[^\]]*style=dashed', src)
    assert "∂z/∂b = 63 along the highlighted edges" in src


def test_wrt_unknown_name_is_a_usage_error(cli, linear_path):
    r = cli("render", linear_path, "--wrt", "bb", "-o", "-", "--format", "dot")
    assert r.code == 2
    assert "'bb' is not a named node" in r.err and "did you mean 'b'" in r.err


def test_blank_worksheet_keeps_givens_and_hides_answers(seed):
    src = seed.render("backward", blank=True, wrt="b").source
    x = re.search(r"^\s*x \[(.*)\]$", src, re.M).group(1)
    assert "18" not in x and render.BLANK in x
    assert "<B>w</B> = 3" in src and "<B>b</B> = 4" in src  # the givens stay
    for number in ("162", "63", "= 9", "= 18"):
        assert number not in src
    assert f"<TD>∂x/∂b = {render.BLANK}</TD>" in src
    nodes, edges = svg_parts(dot.to_svg(seed.render("backward", blank=True)))
    assert edges[("x", "z")] == [f"∂z/∂x = {render.BLANK}"]
    assert nodes["x"] == f"x = 2·w + 3·b {render.BLANK} ∂z/∂x = {render.BLANK}"


def test_op_view_of_a_repeated_operand_has_two_edges():
    m = graphdsl.loads("param x = 3; a = x*x")
    src = m.render("backward", ops=True).source
    assert len(re.findall(r'^\s*x -> "a#op"', src, re.M)) == 2
    nodes, edges = svg_parts(dot.to_svg(m.render("backward", ops=True)))
    assert len(edges[("x", "a#op")]) == 2
    assert all("3" in label for label in edges[("x", "a#op")])
    assert "∂a/∂x = 6" in nodes["x"]  # the two contributions add up


def test_op_view_draws_every_constant_and_op(seed):
    nodes, edges = svg_parts(dot.to_svg(seed.render("forward", ops=True)))
    graph = seed.graph
    consts = sorted(nodes["#" + n[1:]] for n, d in graph.nodes(data=True) if d["kind"] == "const")
    assert consts == ["1", "2", "2", "3"]
    assert nodes["#1"] == "2·w 6"  # a hidden node shows its sub-expression and value
    ops = sorted(t for n, t in nodes.items() if n.endswith("#op"))
    assert ops == ["+", "+", "×", "×", "×", "×"]


# --- real SVGs from `dot` ---------------------------------------------------------------

def test_statement_view_has_exactly_the_five_named_nodes(seed):
    nodes, edges = svg_parts(dot.to_svg(seed.render("structure")))
    assert set(nodes) == {"w", "b", "x", "y", "z"}
    assert set(edges) == SEED_EDGES
    assert "x = 2·w + 3·b" in nodes["x"]


def test_forward_svg_has_the_seed_values(seed):
    nodes, _ = svg_parts(dot.to_svg(seed.render("forward")))
    assert nodes["w"] == "w = 3" and nodes["b"] == "b = 4"
    assert nodes["x"].split()[-1] == "18"
    assert nodes["y"].split()[-1] == "9"
    assert nodes["z"].split()[-1] == "162"


def test_backward_svg_has_gradients_and_partials_in_place(seed):
    nodes, edges = svg_parts(dot.to_svg(seed.render("backward")))
    assert "∂z/∂b = 63" in nodes["b"]
    assert "∂z/∂w = 18" in nodes["w"]
    assert "18" in nodes["x"] and "∂z/∂x = 9" in nodes["x"]
    assert edges[("x", "z")] == ["∂z/∂x = y = 9"]
    assert edges[("b", "x")] == ["∂x/∂b = 3"]
    assert edges[("y", "z")] == ["∂z/∂y = x = 18"]
    assert edges[("b", "y")] == ["∂y/∂b = 2"]


def test_cli_writes_svg_files_parseable_as_xml(cli, linear_path, tmp_path):
    out = tmp_path / "pic.svg"
    r = cli("render", linear_path, "--view", "backward", "-o", out)
    assert r.code == 0, r.err
    assert f"wrote {out}" in r.out
    nodes, edges = svg_parts(out.read_text("utf-8"))
    assert "∂z/∂b = 63" in nodes["b"] and edges[("x", "z")] == ["∂z/∂x = y = 9"]


def test_cli_default_name_and_formats(cli, linear_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("render", linear_path, "--view", "forward", "--wrt", "b")
    assert r.code == 0, r.err
    assert (tmp_path / "linear-forward-wrt-b.svg").read_text("utf-8").lstrip().startswith("<?xml")
    r = cli("render", linear_path, "-o", "p.png")
    assert r.code == 0 and (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = cli("render", linear_path, "--format", "pdf")
    assert r.code == 0 and (tmp_path / "linear-structure.pdf").read_bytes()[:5] == b"%PDF-"
    r = cli("render", linear_path, "-o", "p.gv")
    assert r.code == 0
    assert (tmp_path / "p.gv").read_text("utf-8") == graphdsl.load(linear_path).render().source
    r = cli("render", linear_path, "-o", "p.jpeg")
    assert r.code == 2 and "unknown picture format 'jpeg'" in r.err


def test_cli_stdout_and_set(cli, linear_path):
    r = cli("render", linear_path, "--view", "forward", "-o", "-", "--format", "dot",
            "--set", "w=2.5")
    assert r.code == 0, r.err
    assert "<B>w</B> = 2.5" in r.out and "<B>17</B>" in r.out  # x = 2·2.5 + 3·4
    r = cli("render", linear_path, "-o", "-")
    assert r.code == 0 and "<svg" in r.out
    r = cli("render", linear_path, "-o", "-", "--format", "png")
    assert r.code == 2 and "binary" in r.err


def test_cli_never_overwrites_the_model(cli, tmp_path):
    model = tmp_path / "m.bp"
    model.write_text("param w = 3\nz = 2*w\n")
    r = cli("render", model, "-o", model, "--format", "dot")
    assert r.code == 2 and "refusing to write over the model" in r.err
    assert model.read_text() == "param w = 3\nz = 2*w\n"


def test_names_that_are_dot_keywords_render():
    m = graphdsl.loads("param node = 2\ngraph = node*3\nedge = graph + node")
    nodes, edges = svg_parts(dot.to_svg(m.render("backward")))
    assert set(nodes) == {"node", "graph", "edge"}
    assert edges[("graph", "edge")] == ["∂edge/∂graph = 1"]


def test_numeric_failure_in_a_valued_view(cli, tmp_path):
    model = tmp_path / "bad.bp"
    model.write_text("param x = -1\ny = log(x)\n")
    r = cli("render", model, "--view", "forward", "-o", tmp_path / "f.svg")
    assert r.code == 1 and "logarithm" in r.err and "bad.bp:2" in r.err
    r = cli("render", model, "-o", tmp_path / "s.svg")  # the structure needs no values
    assert r.code == 0, r.err


# --- focus and the size guard ---------------------------------------------------------

def test_focus_draws_the_neighbourhood_and_marks_the_cuts(seed):
    nodes, edges = svg_parts(dot.to_svg(seed.render("forward", focus="x", depth=1)))
    named = {n for n in nodes if "#" not in n}
    assert named == {"w", "b", "x", "z"}
    assert ("b", "b#out") in edges and nodes["b#out"] == "… used by 1 more"   # b also feeds y
    assert ("z#in", "z") in edges and nodes["z#in"] == "… 1 more input"     # z also uses y
    src = seed.render("forward", focus="x", depth=0).source
    assert re.findall(r"^\t(\w+) \[label=<<B>\1</B>", src, re.M) == ["x"]


def test_size_guard_refuses_a_big_render(cli, tmp_path):
    model = tmp_path / "big.bp"
    model.write_text(wide(600))
    out = tmp_path / "big.svg"
    r = cli("render", model, "--view", "backward", "-o", out)
    assert r.code == 2
    assert "603 nodes and 1800 edges" in r.err and "--focus" in r.err and "--force" in r.err
    assert not out.exists()
    r = cli("render", model, "--ops", "-o", out)
    assert r.code == 2 and "drop --ops" in r.err
    r = cli("render", model, "--view", "backward", "--focus", "n300", "--depth", "2", "-o", out)
    assert r.code == 0, r.err
    nodes, edges = svg_parts(out.read_text("utf-8"))
    assert {n for n in nodes if "#" not in n} == {"n300", "p0", "p1", "p2"}
    assert nodes["p0#out"] == "… used by 599 more"
    r = cli("run", model, "--render", tmp_path / "frames")
    assert r.code == 2 and "--render: the picture would have" in r.err
    assert "graphdsl render MODEL --focus" in r.err
    # the Python API can force it (no dot run here: building is quick)
    m = graphdsl.load(model)
    assert m.render("structure", force=True).source.count(" -> ") == 1800


def test_depth_without_focus_is_refused(cli, linear_path):
    r = cli("render", linear_path, "--depth", "3")
    assert r.code == 2 and "--depth needs --focus" in r.err


# --- missing dot ------------------------------------------------------------------------

def test_missing_dot_writes_the_dot_file_and_says_how_to_install(cli, linear_path, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "pic.svg"
    r = cli("render", linear_path, "--view", "backward", "-o", out)
    assert r.code == 1
    assert "`dot` program was not found" in r.err and "apt-get install graphviz" in r.err
    assert r.err.count("error:") == 1 and "Traceback" not in r.err
    dot = tmp_path / "pic.dot"
    assert dot.read_text("utf-8") == graphdsl.load(linear_path).render("backward").source
    assert not out.exists()


def test_missing_dot_in_run_render(cli, linear_path, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    frames = tmp_path / "frames"
    r = cli("run", linear_path, "--target", "150", "--render", frames)
    assert r.code == 1 and "apt-get install graphviz" in r.err
    assert "converged after 3 iterations" in r.out  # the table is still printed
    assert len(list(frames.glob("*.dot"))) == 9


# --- run --render and iterations ----------------------------------------------------------

def test_run_render_writes_one_frame_per_iteration(cli, linear_path, tmp_path):
    frames = tmp_path / "frames"
    r = cli("run", linear_path, "--target", "150", "--json", "--render", frames)
    assert r.code == 0, r.err
    n = len(json.loads(r.out)["iterations"])  # stdout stays one JSON object
    names = sorted(os.listdir(frames))
    names.remove(dot.MANIFEST)  # the list of what graphdsl wrote there
    iters = [f for f in names if f.startswith("iter-")]
    assert iters == [f"iter-{i:03d}-backward.svg" for i in range(n)]
    for view in ("structure", "forward", "backward"):
        assert f"start-{view}.svg" in names and f"end-{view}.svg" in names
    assert len(names) == n + 6
    assert f"wrote {n + 6} pictures" in r.err
    first, _ = svg_parts((frames / "iter-000-backward.svg").read_text("utf-8"))
    assert "∂z/∂b = 63" in first["b"]
    last, _ = svg_parts((frames / "end-forward.svg").read_text("utf-8"))
    assert last["z"].split()[-1] == "150.0000"


def test_iteration_svg_shows_that_rows_numbers(seed):
    trace = seed.solve(target=150)
    nodes, edges = svg_parts(dot.iteration_svg(seed, trace, 1))
    row = trace.iterations[1]
    assert f"∂z/∂b = {graphdsl.text.format_number(row.gradients['b'])}" in nodes["b"]
    assert nodes["w"].startswith("w = 2.666667")
    first = render.iteration_graph(seed, trace, 0).source
    assert "next step: w ← 3 − 0.3333333, b ← 4 − 0.0952381" in first
    assert "next step" not in render.iteration_graph(seed, trace, -1).source  # no step after the last
    with pytest.raises(graphdsl.UsageError):
        render.iteration_graph(seed, trace, 7)
    inline = dot.iteration_svg(seed, trace, 0, "forward", inline=True)
    assert inline.startswith("<svg") and "<?xml" not in inline
    assert svg_parts(inline)[0]["z"].split()[-1] == "162"


def test_model_render_is_a_digraph_that_shows_itself_in_jupyter(seed):
    import graphviz

    g = seed.render(view="backward")
    assert isinstance(g, graphviz.Digraph)
    bundle = g._repr_mimebundle_(include=["image/svg+xml"])
    assert "∂z/∂b = 63" in bundle["image/svg+xml"]
    with pytest.raises(graphdsl.UsageError):
        seed.render(view="sideways")


def test_run_render_into_a_file_is_refused(cli, linear_path, tmp_path):
    not_a_dir = tmp_path / "frames"
    not_a_dir.write_text("keep me")
    r = cli("run", linear_path, "--target", "150", "--render", not_a_dir)
    assert r.code == 2 and "is a file, not a folder" in r.err and "--focus" not in r.err
    assert not_a_dir.read_text() == "keep me"


def test_run_render_leaves_no_frames_of_an_earlier_longer_run(tmp_path, cli, linear_path):
    out = tmp_path / "frames"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert cli("run", linear_path, "--target", "150", "--method", "frozen", "--render", out).code == 0
    assert (out / "iter-004-backward.svg").exists()
    assert cli("run", linear_path, "--target", "150", "--render", out).code == 0
    frames = sorted(p.name for p in out.glob("iter-*"))
    assert frames == ["iter-000-backward.svg", "iter-001-backward.svg", "iter-002-backward.svg"]
    assert (out / "notes.txt").read_text() == "mine"
