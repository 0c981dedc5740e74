"""The fast path of loading (graphdsl/fastparse.py) against Lark itself.

The fast path must give exactly Lark's statements for every text it takes,
and take no text that Lark refuses; what it does not take, Lark parses again
(and its errors make the messages). Checked on the shipped models, on
generated models and on many thousands of mutated texts, seeded.
"""

import random
from pathlib import Path

import pytest

import graphdsl
from graphdsl import parser as parser_module
from graphdsl.fastparse import FastParser, NotTaken

ROOT = Path(__file__).resolve().parent.parent
FORMS = ["{a}*{b}", "({a} + {b})*0.5", "tanh({a} - {b})", "{a} - 0.5*{b}", "sigmoid({a})*{b}",
         "-{a}^2", "{a}**-{b}", "f({a}, {b},)", "g()", "(\n{a}\n+ {b})", "{a} / 1e-3",
         "+{a} - -{b}", "h(({a}), -2.5E+2)", "{a} \\\n * {b}", ".5*{a}", "3.*{b} # note"]
PIECES = ["(", ")", "\n", ";", "\\\n", "#", "=", "+", "-", "*", "/", "^", "**", ",", ".", " ",
          "1", "2.5", "1e5", "e", "param", "output", "target", "x", "y", "w", "\t", "\r\n",
          "²", "×", "（", "θ", "_", "0x1", "'", "$", "\\", "==", "f(", "[", "]", "data"]
DATA = ["", "data d0, d1\n", "data d0 = [1, -2.5,\n 3e1], d1\n", "data d0 = []; ", "data d0\n",
        "data d0 = [\n1,\n2\n], d1 = [3, 4,]\n"]


def lark_parse(text):
    """Lark's own answer: the statements, or the type of the exception it raises."""
    try:
        return parser_module.get_parser().parse(text)
    except Exception as e:  # noqa: BLE001 - the kind of failure is what is compared
        return type(e)


def fast_parse(text):
    try:
        return parser_module.get_fast_parser().parse(text)
    except Exception as e:  # noqa: BLE001
        return type(e)


def model_text(r: random.Random, statements: int) -> str:
    names = [f"p{i}" for i in range(3)]
    lines = [r.choice(DATA) + f"param p{i} = {r.uniform(-9, 9):.3f}" for i in range(3)]
    for k in range(statements):
        a, b = r.choice(names), r.choice(names)
        sep = r.choice(["\n", "; ", "\n\n", "  # c\n", ";\n"])
        lines.append(f"s{k} = " + r.choice(FORMS).format(a=a, b=b) + sep)
        names.append(f"s{k}")
    lines.append(f"output s{statements - 1}\ntarget -1.5e2")
    return "\n".join(lines) + r.choice(["", "\n", ";", "\n\n"])


def test_the_fast_path_is_built_for_the_shipped_grammar():
    assert isinstance(parser_module.get_fast_parser(), FastParser)


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("*.bp")), ids=lambda p: p.name)
def test_the_fast_path_takes_every_shipped_model_and_agrees(path):
    text = path.read_text(encoding="utf-8")
    got = parser_module.get_fast_parser().parse(text)  # raises if not taken
    assert got == lark_parse(text)


def test_generated_models_are_taken_and_agree():
    r = random.Random(15)
    for _ in range(200):
        text = model_text(r, r.randint(1, 12))
        assert fast_parse(text) == lark_parse(text), text


def test_mutated_texts_agree_or_go_to_lark():
    """Every mutation: where the fast path answers, it is Lark's answer; where
    Lark refuses, the fast path does not answer."""
    r = random.Random(1515)
    taken = refused = 0
    for _ in range(4000):
        text = model_text(r, r.randint(1, 4))
        for _ in range(r.randint(1, 3)):
            i = r.randrange(len(text) + 1)
            what = r.random()
            if what < 0.4:
                text = text[:i] + r.choice(PIECES) + text[i:]
            elif what < 0.7:
                text = text[:i] + text[i + r.randint(1, 3):]
            else:
                j = r.randrange(len(text) + 1)
                text = text[:i] + text[j:j + 4] + text[i:]
        want = lark_parse(text)
        got = fast_parse(text)
        if isinstance(got, type):
            assert issubclass(got, Exception)
            refused += 1
        else:
            assert got == want, text
            taken += 1
    assert taken > 300 and refused > 2000  # both sides of the rule were exercised


def test_a_text_not_taken_still_gets_lark_s_message(tmp_path):
    with pytest.raises(graphdsl.errors.ModelSyntaxError) as e:
        graphdsl.loads("param w = 3\nz = (2*w + 3\ny = 1\n", name="slip.bp")
    assert "this '(' is never closed" in str(e.value)
    with pytest.raises(NotTaken):
        parser_module.get_fast_parser().parse("z = 2 w\n")


def test_loading_goes_through_the_fast_path(monkeypatch):
    calls = []
    lark = parser_module.get_parser()

    class Spy:
        def parse(self, text):
            calls.append(text)
            return lark.parse(text)
    monkeypatch.setattr(parser_module, "get_parser", lambda: Spy())
    m = graphdsl.load(ROOT / "models" / "linear.bp")
    assert m.forward()["z"] == 162.0 and calls == []
    with pytest.raises(graphdsl.errors.ModelSyntaxError):
        graphdsl.loads("z = 2 w\n")
    assert calls and calls[0] == "z = 2 w\n"  # (the diagnostics may parse pieces again)
