"""Every message the language layer gives, pinned byte for byte.

A fixed corpus of broken (and a few sound) snippets is loaded with
``graphdsl.loads``; the whole text of each message (``str(error)``: the
header, the position, the line, the caret, the notes and the hint) is hashed
and compared with ``tests/data/message_pins.txt``. A refactoring of the parser,
the diagnostics or the builder must leave every line of that file unchanged.

The corpus is made here, deterministically: the labelled slips the diagnostics
recognise, the broken-model corpus of test_diagnostics, every pair of a set of
tokens after six statement openings, and seeded random edits of the example
models (copies kept in ``tests/data/pin_models``). A message that changes on purpose changes its pin: regenerate the file
with ``python tests/test_message_pins.py --write`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import random
import sys
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINS = HERE / "data" / "message_pins.txt"
# copies of the example models as they were when the pins were made: the
# random edits start from these, so a change to models/ leaves the pins alone
MODELS = HERE / "data" / "pin_models"

# The slips diagnostics recognises by example, and a few more of each kind.
SNIPPETS = [
    "z = 2 w", "z = w w", "z = 2 3", "z = w 2", "z = (w) w", "z = f(w) w", "z = w^2 w",
    "z = 2 (w)", "z = (w)(w)", "z = -2 w", "z = f(2 w)", "z = f(w w)", "z == 2", "z == w",
    "z =\n", "z =", "z = ;", "param w =\n", "param w =", "param w = ;", "param w = -\n",
    "param w = x", "param w = 2*3", "param w = (3)", "param w = 3 w", "param w = 2^3",
    "param w = -x", "param w = 1 + 2", "param w = 3)", "param w = 2 3", "z = w +\n", "z = w *",
    "z = w ^ ;", "z = -\n", "z = w + )", "z = w * * 2", "z = w + * 2", "z = w * / 2",
    "z = (w +)", "z = f(w +)", "z = 2 * = 3", "z = w ^ * 2", "z = - * w", "z = (\n",
    "z = (*w)", "z = f(w, )x", "z = f(w, *)", "z = w)", "z = (w))", "z = f(w))", "z = 2)",
    "z = ()", "z = f(,w)", "z = f(w,,w)", "2 = w", "= 3", "* w", "(z) = 3", "2*w", "-", ")",
    ",", "+ +", "output z w", "z w + 1", "z w = 3", "z w(", "a b c", "z 2*w", "z 2 w",
    "z 2 = 3", "target 150 3", "z + 1 = w", "z * 2", "z (w)", "z ^ 2", "z , w", "z = w = 3",
    "z = 2 = 3", "z = (w = 3)", "param w = 3 = 4", "output z = 3", "target 150 = 3",
    # keywords, misspelt or misused
    "parm w = 3", "let w = 3", "foo w = 3", "ouput z", "tagret 150", "target = 150",
    "output = 3", "param w", "output 3", "target z", "out z", "var w = 1", "return z",
    "goal 3", "param w = 3, b = 4", "output z = 1", "param = 3", "param param = 3",
    # characters
    "z = 2 × w", "z = 2*（w + 1)", "z = 2*[w + 1]", "z = w > 2", "z = w $ 3", "z = w · 2",
    "z = w − 2", "z = w²", "z = √w", "z = w % 2", "z = 'w'", "z = w.b", "z = w \\ 2",
    "z = w\r", "z = w\x1b[2J", "z = w\u200b", "z = w；", "z = w？", "z = w @ b", "z: w",
    # numbers
    "param w = 1e999", "z = 1e309", "z = 1e-400", "z = 1e-320", "param w = -1e999",
    "z = 2.5e-324", "param w = 0.0", "z = 1e308 * 10",
    # names
    "param 学习率 = 3\nz = 学习率 学习率", "param θ = 1\nz = θ + Θ", "param w = 1\nz = W",
    "param w = 1\nz = x²", "param ﬁ = 1\nz = fi", "param a = 1\nz = а",
    "param w = 1\nz = e^w", "param w = 1\nz = pi*w", "param w = 1\nz = sigmoid + w",
    "param w = 1\nz = sigmod(w)", "param w = 1\nz = ln(w)", "param w = 1\nz = log(w, 2)",
    "param w = 1\nz = w (w + 1)", "param w = 1\nx = 2*w\ny = 3*w",
    "param w = 1\nx = y\ny = x", "param w = 1\nx = x + w", "x = 1\nx = 2",
    "param w = 1\nz = w\noutput q", "param w = 1\nz = w\noutput z\noutput z",
    "param w = 1\nz = w\ntarget 1\ntarget 2", "param w = 1\nparam b = 2", "# nothing\n", "",
    "param w = 1\nz = cube(w)", "param w = 1\noutput = w\ntarget = 3",
    "param w = 3\nz = (2*w + 3*b * (b + 1)\ny = 2\n", "param w = 3\nz = sqrt((w + 1)\n",
    "param w = 3\nz = (w + 1; y = 2\n", "z = ((((w", "z = sin(cos(w\n\n",
    "param w = 1\nz = tanh(w) +\n    w\n", "param w = 1\noutput\n",
    "param w = 1\nz = w +\\\n", "param w = 1\nz = \\\n w", "param w = 1 \\ x",
    # data columns
    "data x, y\nparam w = 1\nloss = mean((w*x - y)^2)", "data x = [1, 2\nz = x",
    "data x = [w]", "data x = [1, 2 3]", "z = [1]", "z = w]", "dta x, y", "param w = [1, 2]",
    "data x = 3", "data x = []\nz = mean(x)", "data x = [1]\ndata x", "data x\nparam x = 1",
    "data x = [1, 2]\ndata y = [1]\nz = mean(x*y)", "data x = [1, 2]\nz = x",
    "param w = 1\nz = mean(w)", "data x = [1, 2], y", "data x = [1, 2]; z = mean(x",
]

# Tokens tried in pairs after each opening.
TOKENS = ["w", "2", "(", ")", "+", "-", "*", "^", "**", "=", "==", ",", ";", "\n", "f(",
          "sin", "param", "output", "target", "$", "1e999", "."]
OPENINGS = ["", "z = ", "param w = ", "z = sin(", "output ", "a = 1\nz = (w + "]

# Characters for the random edits of the example models.
ALPHABET = (list("()=+-*/^,;#\n \t.0123456789ewbxyzpqaramtgoul_") +
            ["**", "==", "×", "（", "θ", "\\\n", "param ", "1e999", "1e-400", "а", "ﬁ"])


def corpus() -> list[str]:
    """The snippets, in a fixed order (the pin file follows it line by line)."""
    out = []
    for s in SNIPPETS:
        out += [s, "a = 1\n" + s]
    for opening in OPENINGS:
        for t1 in TOKENS:
            out.append(opening + t1)
            for t2 in TOKENS:
                out.append(opening + t1 + " " + t2)
    sys.path.insert(0, str(HERE))
    from test_diagnostics import CORPUS

    out += [text for _kind, text, *_ in CORPUS]
    rng = random.Random(11)
    examples = [p.read_text(encoding="utf-8") for p in sorted(MODELS.glob("*.bp"))]
    for _ in range(1500):
        text = rng.choice(examples)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randint(0, len(text))
            action = rng.choice(["insert", "delete", "replace"])
            if action == "insert":
                text = text[:pos] + rng.choice(ALPHABET) + text[pos:]
            elif action == "delete":
                text = text[:pos] + text[pos + rng.randint(1, 8):]
            else:
                text = text[:pos] + rng.choice(ALPHABET) + text[pos + 1:]
        out.append(text)
    return out


def message(text: str) -> str:
    """What loading ``text`` says: the full message, or 'ok' and its warnings."""
    import graphdsl
    from graphdsl.errors import GraphdslError

    try:
        m = graphdsl.loads(text, "m.bp")
    except GraphdslError as e:
        return f"{type(e).__name__}\n{e}"
    return "\n".join(["ok"] + [str(w) for w in getattr(m, "warnings", ())])


def pin(msg: str) -> str:
    return hashlib.sha256(msg.encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=1)
def messages() -> tuple:
    """(snippet, message) for the whole corpus, computed once per test run."""
    return tuple((t, message(t)) for t in corpus())


def test_every_message_is_pinned():
    pins = PINS.read_text(encoding="utf-8").split()
    assert len(pins) == len(messages()), \
        "the corpus changed: regenerate the pins (see the module doc)"
    changed = [(i, t, m) for i, ((t, m), p) in enumerate(zip(messages(), pins)) if pin(m) != p]
    shown = "\n\n".join(f"#{i} {t!r}:\n{m}" for i, t, m in changed[:5])
    assert not changed, f"{len(changed)} of {len(pins)} messages changed, e.g.:\n{shown}"


def test_the_corpus_reaches_every_kind_of_message():
    # a pin file of identical messages would pin nothing: the corpus must show
    # many different messages, of every error class
    found = {}
    for _t, m in messages():
        found.setdefault(m.split("\n", 1)[0], set()).add(m.split("\n")[1] if "\n" in m else m)
    assert {"ModelSyntaxError", "ModelError", "ok"} <= set(found)
    assert len(found["ModelSyntaxError"]) > 60 and len(found["ModelError"]) > 15


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_message_pins.py --write")
    PINS.parent.mkdir(exist_ok=True)
    PINS.write_text("".join(pin(m) + "\n" for _t, m in messages()), encoding="utf-8")
    print(f"wrote {PINS}: {len(messages())} pins")
