"""The .bp language (README.md, "The .bp language") and the graph it builds."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import graphdsl
from graphdsl.ops import Registry


def values(text, **params):
    m = graphdsl.loads(text)
    if params:
        m.set(**params)
    return m.forward()


def test_statements_end_at_newline_or_semicolon_and_comments_are_ignored():
    v = values("param a = 2; b = a*3  # three a\n\n\nc = b + 1 ; ; \n# the end\n")
    assert v == {"a": 2.0, "b": 6.0, "c": 7.0}


@pytest.mark.parametrize("text, expected", [
    ("3", 3.0), ("-1.5e-3", -1.5e-3), ("2.", 2.0), (".5", 0.5), ("1E3", 1000.0),
    ("+4", 4.0), ("6.02e+23", 6.02e23),
])
def test_param_numbers_in_every_usual_form(text, expected):
    assert graphdsl.loads(f"param p = {text}\nq = p").forward()["p"] == expected


@pytest.mark.parametrize("expr, expected", [
    ("2 + 3 * 4", 14.0),
    ("(2 + 3) * 4", 20.0),
    ("2 ^ 3 ^ 2", 512.0),           # right associative: 2^(3^2)
    ("2 ** 3 ** 2", 512.0),
    ("-2 ^ 2", -4.0),               # power binds tighter than unary minus
    ("-x ^ 2", -9.0),
    ("2 ^ -1", 0.5),                # a unary minus in the exponent
    ("10 - 4 - 3", 3.0),            # left associative
    ("100 / 10 / 5", 2.0),
    ("--x", 3.0),
    ("x - -x", 6.0),
    ("2 * -x", -6.0),
    ("(1 +\n  2) * x", 9.0),        # a newline inside parentheses continues
    ("1 + \\\n 2", 3.0),            # so does a backslash at the end of a line
])
def test_precedence_matches_python(expr, expected):
    v = graphdsl.loads(f"param x = 3\nr = {expr}\noutput r").forward()
    assert v["r"] == expected
    # and Python agrees, where Python can write it
    if "\\" not in expr and "\n" not in expr:
        assert eval(expr.replace("^", "**"), {"x": 3.0}) == expected  # test oracle only


def test_operand_order_is_kept():
    m = graphdsl.loads("param a = 8\nparam b = 2\nd = a / b\ns = a - b\np = a ^ b\nr = d + s + p")
    v, g = m.forward(), m.gradients()
    assert (v["d"], v["s"], v["p"]) == (4.0, 6.0, 64.0)
    # r = a/b + a - b + a^b
    assert g["a"] == pytest.approx(1 / 2 + 1 + 2 * 8)
    assert g["b"] == pytest.approx(-8 / 4 - 1 + 64 * math.log(8))


def test_a_repeated_operand_gets_both_contributions():
    m = graphdsl.loads("param x = 3\na = x*x")
    assert m.gradients()["x"] == 6.0
    assert m.graph.number_of_edges("x", "a") == 2
    assert [d["arg"] for _u, _v, d in m.graph.in_edges("a", data=True)] == [0, 1]


def test_order_is_free():
    a = graphdsl.loads("z = x * y\nx = 2*w + 3*b\ny = 2*b + 1\nparam w = 3\nparam b = 4")
    assert a.forward()["z"] == 162.0 and a.output == "z"


def test_unicode_names():
    m = graphdsl.loads("param θ = 2\nparam 学习率 = 0.5\nη = θ * 学习率\noutput η")
    assert m.forward()["η"] == 1.0
    assert m.gradients()["学习率"] == 2.0


def test_keywords_are_soft():
    m = graphdsl.loads("param w = 2\noutput = w * 3\nparamx = output + 1\noutput paramx")
    assert m.forward() == {"w": 2.0, "output": 6.0, "paramx": 7.0}


def test_output_and_target_statements():
    m = graphdsl.loads("param w = 1\na = w*2\nb = w*3\noutput a\ntarget 10")
    assert m.output == "a" and m.target == 10.0
    t = m.solve()                     # the model's own target
    assert t.target == 10.0 and t.converged
    assert t.result()["values"]["a"] == pytest.approx(10.0, abs=1e-4)


def test_calls_resolve_through_the_registry():
    v = values("param x = 0.5\ny = sigmoid(x) + tanh(x) + exp(x) + log(x) + sqrt(x) + "
               "sin(x) + cos(x) + tan(x) + relu(x) + abs(-x) + square(x)")
    expected = (1 / (1 + math.exp(-0.5)) + math.tanh(0.5) + math.exp(0.5) + math.log(0.5)
                + math.sqrt(0.5) + math.sin(0.5) + math.cos(0.5) + math.tan(0.5) + 0.5 + 0.5
                + 0.25)
    assert v["y"] == pytest.approx(expected, rel=1e-15)


def test_an_op_added_to_the_registry_is_callable_with_no_grammar_change():
    from conftest import Cube

    reg = Registry.with_builtins()
    reg.register(Cube, "test")
    m = graphdsl.loads("param x = 2\ny = cube(x) + 1", registry=reg)
    assert m.forward()["y"] == 9.0 and m.gradients()["x"] == 12.0
    with pytest.raises(graphdsl.ModelError, match="unknown function 'cube'"):
        graphdsl.loads("param x = 2\ny = cube(x)", registry=Registry.with_builtins())


def test_nodes_keep_their_source_positions():
    m = graphdsl.loads("param w = 3\n\nz = 2 * log(w)")
    g = m.graph
    assert (g.nodes["z"]["line"], g.nodes["z"]["column"]) == (3, 7)       # the '*'
    log_node = next(n for n, d in g.nodes(data=True) if d.get("op") == "log")
    assert (g.nodes[log_node]["line"], g.nodes[log_node]["column"]) == (3, 9)
    assert g.graph["definitions"]["z"] == (3, 1)


def test_the_graph_is_plain_data():
    m = graphdsl.loads("param w = 3\nz = 2*w")
    for _n, d in m.graph.nodes(data=True):
        for v in d.values():
            assert v is None or isinstance(v, (str, int, float, tuple))


@pytest.mark.parametrize("text, fragment, where", [
    ("x = y + 1\ny = x * 2", "cycle: x -> y -> x", (1, 1)),
    ("a = b\nb = c\nc = a + 1\nd = 1", "a -> b -> c -> a", (1, 1)),
    ("x = q + 1", "'q' is not defined", (1, 5)),
    ("x = 1\nx = 2", "'x' is defined twice", (2, 1)),
    ("x = nope(1)", "unknown function 'nope'", (1, 5)),
    ("x = sin(1, 2)", "sin() takes 1 argument, got 2", (1, 5)),
    ("param w = 1\na = w\nb = w", "which is the output?", None),
    ("# nothing\n", "the model is empty", None),
    ("x = 2 w", "expected an operator", (1, 7)),
])
def test_model_mistakes_name_the_place(text, fragment, where):
    with pytest.raises(graphdsl.GraphdslError) as info:
        graphdsl.loads(text, name="m.bp")
    e = info.value
    assert fragment in str(e)
    assert e.exit_code == 2
    if where:
        assert (e.line, e.column) == where
        assert f"m.bp:{where[0]}:{where[1]}" in str(e)
        assert "^" in str(e)


def test_nothing_in_a_model_runs_python():
    # names that would mean something to Python are just names here
    m = graphdsl.loads("param __import__ = 1\nparam os = 2\nexec = __import__ + os")
    assert m.forward()["exec"] == 3.0
    with pytest.raises(graphdsl.ModelError, match="unknown function 'eval'"):
        graphdsl.loads("x = eval(1)")
    with pytest.raises(graphdsl.ModelSyntaxError):
        graphdsl.loads("x = open('/etc/passwd')")


@pytest.mark.parametrize("text, first", [
    ("param w = 3\nz = lg(w) * y", "unknown function 'lg'"),
    ("param w = 3\nz = y * lg(w)", "'y' is not defined"),
    ("param w = 3\nz = sin(q) + cos(r)", "'q' is not defined"),
])
def test_the_leftmost_mistake_is_reported_first(text, first):
    with pytest.raises(graphdsl.ModelError, match=first):
        graphdsl.loads(text)


# --- encodings and literals -------------------------------------------------------

def test_utf8_with_a_byte_order_mark_just_works(tmp_path):
    path = tmp_path / "bom.bp"
    path.write_bytes("param w = 3\nz = 2*w + q\n".encode("utf-8-sig"))
    with pytest.raises(graphdsl.ModelError) as info:
        graphdsl.load(path)
    assert (info.value.line, info.value.column) == (2, 11)   # the mark takes no column
    path.write_bytes("param w = 3\nz = 2*w\n".encode("utf-8-sig"))
    assert graphdsl.load(path).forward()["z"] == 6.0


@pytest.mark.parametrize("encoding, words", [
    ("utf-16", "UTF-16 text (little-endian, with a byte order mark)"),
    ("utf-16-le", "UTF-16 text (little-endian, without a byte order mark)"),
    ("utf-16-be", "UTF-16 text (big-endian, without a byte order mark)"),
    ("utf-32", "UTF-32 text (little-endian, with a byte order mark)"),
])
def test_utf16_and_utf32_files_are_named_not_called_binary(tmp_path, cli, encoding, words):
    path = tmp_path / "wide.bp"
    path.write_bytes("param θ = 3\nz = 2*θ\n".encode(encoding))
    r = cli("check", path)
    assert r.code == 2 and r.out == ""
    assert f"{path} is {words}, not UTF-8" in r.err
    assert "save the model as UTF-8" in r.err and "binary" not in r.err


def test_random_binary_is_still_binary(tmp_path, cli):
    path = tmp_path / "b.bp"
    path.write_bytes(bytes(range(256)) * 4)
    r = cli("check", path)
    assert r.code == 2 and "binary file" in r.err


@pytest.mark.parametrize("text, column", [("param w = 1e-400\nz = w", 11), ("z = -1e-400", 6),
                                          ("z = 2 * 0.0000001e-320", 9)])
def test_a_literal_that_would_be_read_as_zero_is_an_error(text, column):
    with pytest.raises(graphdsl.ModelSyntaxError) as info:
        graphdsl.loads(text, "m.bp")
    e = info.value
    number = text.split("\n")[0][column - 1:].split()[0]
    assert e.message == f"the number {number} is too small to represent: it would be read as 0"
    assert (e.line, e.column, e.width) == (1, column, len(number))
    assert "^" * len(number) in str(e) and "write 0 if you mean zero" in str(e)


def test_zero_and_subnormal_literals_are_numbers():
    v = graphdsl.loads("a = 0e-400\nb = 0.000e5\nc = 1e-320\nz = a + b + c").forward()
    assert v["a"] == 0.0 and v["b"] == 0.0
    assert v["c"] == float("1e-320") > 0      # a subnormal: fewer digits, but not 0


# --- names: NFKC as Python reads identifiers, and look-alikes -------------------------

@pytest.mark.parametrize("defined, used", [
    ("ﬁ", "fi"),              # a ligature
    ("𝐱", "x"),               # mathematical bold
    ("ｗ", "w"),              # full-width
    ("café", "cafe\u0301"),    # a precomposed é, then e and a combining accent
    ("cafe\u0301", "café"),
])
def test_names_are_compared_as_python_compares_identifiers(defined, used):
    import unicodedata

    m = graphdsl.loads(f"param {defined} = 2\nz = {used} * 3")
    assert m.forward()["z"] == 6.0
    # the name the model knows is the NFKC form, as Python's own
    name = unicodedata.normalize("NFKC", defined)
    assert m.params == [name] and m.gradients()[name] == 3.0
    namespace = {}
    exec(f"{name} = 2\nz = {unicodedata.normalize('NFC', used)} * 3", namespace)  # test oracle only
    assert namespace["z"] == 6.0


def test_a_keyword_in_full_width_letters_is_the_keyword():
    assert graphdsl.loads("ｐａｒａｍ w = 3\nz = 2*w").params == ["w"]


def test_two_spellings_of_one_name_defined_twice_say_why():
    with pytest.raises(graphdsl.ModelError) as info:
        graphdsl.loads("param ﬁ = 1\nfi = 2\nz = fi", "m.bp")
    text = str(info.value)
    assert "'fi' is defined twice" in text and "m.bp:2:1" in text
    assert "'ﬁ' and 'fi' are one name" in text and "NFKC" in text


def test_a_superscript_is_not_read_as_a_digit():
    # NFKC would turn x² into x2; a name Python would refuse is kept as written
    with pytest.raises(graphdsl.ModelError, match="for a power write x\\^2"):
        graphdsl.loads("param x = 1\nparam x2 = 5\nz = x² + x2")


def test_names_that_look_alike_across_scripts_get_a_warning(tmp_path, cli):
    text = "param a = 1\nparam b = 2\nparam \u0430 = 3\nz = a + b + \u0430\n"   # Cyrillic а
    m = graphdsl.loads(text, "m.bp")
    assert m.forward()["z"] == 6.0             # two names, as in Python: a warning, no error
    (w,) = m.warnings
    assert w.message == "'\u0430' looks like 'a' but is another name"
    assert (w.line, w.column) == (3, 7)
    assert "CYRILLIC SMALL LETTER A" in str(w) and "LATIN SMALL LETTER A" in str(w)
    assert str(w).startswith("warning: ")
    path = tmp_path / "m.bp"
    path.write_text(text, encoding="utf-8")
    r = cli("run", path, "--json")
    assert r.code == 0
    import json

    assert json.loads(r.out)["status"] == "evaluated"      # stdout is the JSON alone
    assert r.err.count("warning: ") == 1 and f"{path}:3:7" in r.err


def test_maths_greek_beside_latin_is_no_warning():
    m = graphdsl.loads("param α = 1\nparam a = 2\nparam ρ = 3\nparam p = 4\nz = α*a + ρ*p")
    assert m.warnings == []
    # but a Greek capital that looks exactly like a Latin one is
    assert len(graphdsl.loads("param B = 1\nparam Β = 2\nz = B + Β").warnings) == 1


def test_an_undefined_name_that_looks_like_a_defined_one_says_so():
    with pytest.raises(graphdsl.ModelError) as info:
        graphdsl.loads("param a = 1\nz = 2*\u0430", "m.bp")                 # Cyrillic а
    e = info.value
    assert e.message == "'\u0430' is not defined" and (e.line, e.column) == (2, 7)
    assert "did you mean 'a'? The two look alike but are different names" in e.hint
    assert "CYRILLIC SMALL LETTER A" in e.hint
    with pytest.raises(graphdsl.ModelError) as info:
        graphdsl.loads("param x = 1\nz = \u0455in(x)")                     # Cyrillic ѕ
    assert "did you mean 'sin'?" in info.value.hint and "CYRILLIC SMALL LETTER DZE" in info.value.hint


def test_an_ascii_model_never_reads_the_confusables_table():
    import subprocess
    import sys

    code = ("import sys, graphdsl; m = graphdsl.loads('param a = 1\\nz = 2*a'); "
            "print(m.warnings, 'confusable_homoglyphs' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split() == ["[]", "False"]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(min_size=1, max_size=6).filter(str.isidentifier))
def test_any_spelling_of_a_name_is_the_name_python_reads(spelling):
    import unicodedata

    python_name = unicodedata.normalize("NFKC", spelling)
    assume(python_name not in ("z", "param", "output", "target"))
    text = f"param {spelling} = 2\nz = {python_name} * 3"
    try:
        m = graphdsl.loads(text)
    except graphdsl.ModelSyntaxError as e:
        # a mark that combines with the letter before it and has no precomposed
        # form (a Devanagari vowel sign) is not read as part of a name yet
        assert e.message.startswith("unexpected character"), e.message
        return
    assert m.params == [python_name]
    assert m.forward()["z"] == 6.0
