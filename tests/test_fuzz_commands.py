"""A seeded fuzz harness over every command, as a clumsy user or an attacker would use them.

Random models (deep nesting, many statements, extreme literals, every built-in op) meet random
command lines (every command, odd numbers for every option, output paths that already hold
something). Whatever happens, these hold:

- the exit code is 0, 1 or 2, and a Python traceback never reaches the user;
- a refusal (exit 2) is exactly one message;
- ``--json`` prints exactly one JSON object, also when the run fails;
- nothing outside the outputs asked for is created, changed or removed: the model, a note and
  files that merely look like frames stay byte for byte;
- an output that is written is whole (DOT ends its graph, HTML ends its page), and a refused
  command leaves no output behind;
- each command finishes well within a generous bound (a hang is a failure, not a slow test).

The harness runs in-process (the same ``main`` as the ``graphdsl`` script) with a fixed seed, so a
failure repeats; ``derandomize=True`` makes hypothesis choose the same examples on every run.
"""

from __future__ import annotations

import json
import os
import signal
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli

UNARY = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "abs", "square",
         "identity"]
BINARY = ["+", "-", "*", "/", "^"]
NUMBERS = ["0", "1", "2", "3", "0.5", "-1.5e-3", "1e-320", "1e308", "1e-400", "1e309", "1_000",
           "7"]
OPTION_NUMBERS = ["0", "1", "-1", "150", "1e-4", "-inf", "inf", "nan", "1_000", "1e400", "-0",
                  "0.1", "abc", ""]
#: a command that takes longer than this has hung, whatever the machine's load
SECONDS = 60


@contextmanager
def _deadline(seconds: int, what: str):
    def alarm(_signum, _frame):
        raise AssertionError(f"{what} did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@st.composite
def expressions(draw, names, depth):
    """An expression over ``names``; depth bounds nesting (generated without recursion limits)."""
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(names + NUMBERS[:6]))
    kind = draw(st.sampled_from(["binary", "unary", "neg", "paren"]))
    if kind == "binary":
        return (f"{draw(expressions(names, depth - 1))} {draw(st.sampled_from(BINARY))} "
                f"{draw(expressions(names, depth - 1))}")
    if kind == "unary":
        return f"{draw(st.sampled_from(UNARY))}({draw(expressions(names, depth - 1))})"
    if kind == "neg":
        return f"-{draw(expressions(names, depth - 1))}"
    return f"({draw(expressions(names, depth - 1))})"


@st.composite
def models(draw):
    n_params = draw(st.integers(1, 3))
    params = [f"p{i}" for i in range(n_params)]
    lines = [f"param {p} = {draw(st.sampled_from(NUMBERS))}" for p in params]
    names = list(params)
    for i in range(draw(st.integers(1, 6))):
        name = f"n{i}"
        lines.append(f"{name} = {draw(expressions(names, 3))}")
        names.append(name)
    data = draw(st.sampled_from([False, False, True]))
    if data:   # a data model: a column or two inline, and the output a reduction over them
        n = draw(st.sampled_from([1, 3, 4]))
        column = ", ".join(draw(st.sampled_from(NUMBERS[:7])) for _ in range(n))
        lines.insert(0, f"data d = [{column}]")
        if draw(st.booleans()):   # a second column, sometimes of another length
            lines.insert(1, f"data e = [{', '.join(['2'] * draw(st.sampled_from([n, n, n + 1])))}]")
            names.append("e")
        names.append("d")
        lines.append(f"s = {draw(expressions(names, 3))}")
        lines.append(f"loss = {draw(st.sampled_from(['mean', 'sum']))}(s * d)")
        names += ["s", "loss"]
    nest = draw(st.sampled_from([0, 0, 0, 50, 3000]))
    if nest:   # one deeply nested statement: pictures and explanations must stay linear
        lines.append(f"deep = {'(' * nest}{names[-1]} + 1{')' * nest}")
        names.append("deep")
    lines.append(f"output {names[-1]}")
    if draw(st.booleans()):
        lines.append(f"target {draw(st.sampled_from(NUMBERS[:6]))}")
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(
            ["", "# a note", "x = = 1", "param q", "z = sigmod(p0)", "y = (p0 + 1", "W = w"])))
    return "\n".join(lines) + "\n", params, names


def _number_option(draw, option):
    return [option, draw(st.sampled_from(OPTION_NUMBERS))]


@st.composite
def command_lines(draw, params, names):
    """(argv after the model, the outputs it may write, whether stdout must be JSON)."""
    cmd = draw(st.sampled_from(["check", "run", "run-render", "render", "explain", "report",
                                "compare", "fit", "fit-render"]))
    opts = []
    if cmd in ("run", "run-render", "report", "compare"):
        if draw(st.booleans()):
            opts += _number_option(draw, "--target")
        if draw(st.booleans()):
            opts += _number_option(draw, "--tol")
        opts += ["--max-iter", draw(st.sampled_from(["0", "1", "5", "-3", "x"]))]
        if cmd != "compare" and draw(st.booleans()):
            opts += ["--method", draw(st.sampled_from(["split", "frozen", "gd"]))]
        if draw(st.booleans()):
            opts += _number_option(draw, "--lr")
        if draw(st.booleans()):
            opts += ["--set", f"{draw(st.sampled_from(names + ['nope']))}="
                              f"{draw(st.sampled_from(OPTION_NUMBERS))}"]
    if cmd == "check":
        return ["check"], [], False
    if cmd in ("fit", "fit-render"):
        # mostly options that work, so the fit and its pictures are reached
        argv = ["fit", "--epochs", draw(st.sampled_from(["0", "1", "3", "3", "3", "-1", "x"]))]
        if draw(st.booleans()):
            argv += ["--batch-size", draw(st.sampled_from(["0", "1", "2", "2", "100", "-2"]))]
        if draw(st.booleans()):
            argv += ["--optimizer", draw(st.sampled_from(["sgd", "momentum", "adam", "lbfgs"]))]
        if draw(st.integers(0, 3)) == 0:
            argv += _number_option(draw, "--lr")
        if cmd == "fit":
            js = draw(st.booleans())
            return argv + (["--json"] if js else []), [], js
        argv += ["--render", "frames", "--json"]
        if draw(st.booleans()):
            argv += ["--every", draw(st.sampled_from(["0", "1", "2", "2", "x"]))]
        if draw(st.booleans()):
            argv += ["--sample", draw(st.sampled_from(["0", "1", "2", "2", "99"]))]
        return argv, ["frames"], True
    if cmd == "run":
        js = draw(st.booleans())
        return ["run", *opts] + (["--json"] if js else []), [], js
    if cmd == "run-render":
        return ["run", *opts, "--render", "frames", "--json"], ["frames"], True
    if cmd == "compare":
        return ["compare", *opts], [], False
    if cmd == "report":
        return ["report", *opts, "-o", "page.html"], ["page.html"], False
    if cmd == "render":
        argv = ["render", "--view", draw(st.sampled_from(["structure", "forward", "backward"])),
                "--format", "dot", "-o", "picture.dot"]
        if draw(st.booleans()):
            argv.append("--ops")
        if draw(st.booleans()):
            argv += ["--wrt", draw(st.sampled_from(names + ["nope"]))]
        if draw(st.booleans()):
            argv.append("--blank")
        if draw(st.booleans()):
            argv += ["--sample", draw(st.sampled_from(["0", "1", "3", "99"]))]
        return argv, ["picture.dot"], False
    argv = ["explain", "--format", draw(st.sampled_from(["text", "markdown", "latex", "json"]))]
    if draw(st.booleans()):
        argv += ["--wrt", draw(st.sampled_from(params + ["nope"]))]
    return argv, [], argv[2] == "json"


#: files a user keeps beside a model; some look like what graphdsl writes
BYSTANDERS = {"notes.txt": "my notes\n", "iter-999-model.dot": "digraph mine {}\n",
              "page.html.bak": "<p>old</p>\n", "frames/iter-0001-notes.svg": "<svg>mine</svg>\n",
              "frames/README": "frames from last week\n"}


def _snapshot(folder):
    out = {}
    for root, _dirs, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, folder)] = fh.read()
    return out


def _whole(path: str, data: bytes) -> bool:
    if path.endswith(".dot"):
        return data.rstrip().endswith(b"}")
    if path.endswith(".html"):
        return data.rstrip().endswith(b"</html>")
    return True


@settings(max_examples=250, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(st.data())
def test_every_command_keeps_its_promises(tmp_path_factory, data):
    text, params, names = data.draw(models())
    argv, outputs, is_json = data.draw(command_lines(params, names))
    _keeps_promises(tmp_path_factory, text, argv, outputs, is_json)


@st.composite
def data_models(draw):
    """A data model that mostly loads: inline columns, per-sample statements, a
    reduction for the output; the numbers are such that a fit can go wrong too."""
    n = draw(st.sampled_from([1, 2, 5]))
    col = lambda: ", ".join(draw(st.sampled_from(["0", "1", "-2", "0.5", "3", "1e-3", "40"]))
                            for _ in range(n))
    lines = [f"data x = [{col()}]", f"data y = [{col()}]"]
    params = [f"p{i}" for i in range(draw(st.integers(1, 3)))]
    lines += [f"param {p} = {draw(st.sampled_from(['0', '0.5', '1', '2', '-1']))}" for p in params]
    names = params + ["x", "y"]
    for i in range(draw(st.integers(1, 3))):
        lines.append(f"h{i} = {draw(expressions(names, 2))}")
        names.append(f"h{i}")
    red = draw(st.sampled_from(["mean", "sum"]))
    lines.append(f"loss = {red}(({names[-1]} - y)^2)" + draw(st.sampled_from(
        ["", "", f" + 0.1*{params[0]}^2", f" + {red}(x)"])))
    lines.append("output loss")
    return "\n".join(lines) + "\n", params, names + ["loss"]


@st.composite
def data_command_lines(draw, params, names):
    cmd = draw(st.sampled_from(["fit", "fit-render", "render", "explain", "report"]))
    sample = ["--sample", draw(st.sampled_from(["1", "2", "5", "0", "9"]))] \
        if draw(st.booleans()) else []
    if cmd in ("fit", "fit-render"):
        argv = ["fit", "--epochs", draw(st.sampled_from(["0", "1", "3"])),
                "--optimizer", draw(st.sampled_from(["sgd", "momentum", "adam"]))]
        if draw(st.booleans()):
            argv += ["--batch-size", draw(st.sampled_from(["1", "2", "3"]))]
        if draw(st.booleans()):
            argv += ["--lr", draw(st.sampled_from(["0.1", "10", "1e3"]))]
        if cmd == "fit":
            return argv + ["--json"], [], True
        return argv + ["--render", "frames", "--json", "--every", "2"] + sample, ["frames"], True
    if cmd == "render":
        argv = ["render", "--view", draw(st.sampled_from(["forward", "backward", "structure"])),
                "--format", "dot", "-o", "picture.dot"] + sample
        if draw(st.booleans()):
            argv.append("--ops")
        if draw(st.booleans()):
            argv += ["--wrt", draw(st.sampled_from(names))]
        if draw(st.booleans()):
            argv += ["--focus", draw(st.sampled_from(names))]
        return argv, ["picture.dot"], False
    if cmd == "explain":
        argv = ["explain", "--format", draw(st.sampled_from(["text", "markdown", "latex", "json"]))]
        if draw(st.booleans()):
            argv += ["--wrt", draw(st.sampled_from(params))]
        return argv + sample, [], argv[2] == "json"
    return (["report", "-o", "page.html", "--epochs", draw(st.sampled_from(["0", "2"]))] + sample,
            ["page.html"], False)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(st.data())
def test_every_command_keeps_its_promises_on_data_models(tmp_path_factory, data):
    text, params, names = data.draw(data_models())
    argv, outputs, is_json = data.draw(data_command_lines(params, names))
    _keeps_promises(tmp_path_factory, text, argv, outputs, is_json)


def _keeps_promises(tmp_path_factory, text, argv, outputs, is_json):
    folder = tmp_path_factory.mktemp("fuzz")
    model = folder / "model.bp"
    model.write_text(text, encoding="utf-8")
    for rel, content in BYSTANDERS.items():
        os.makedirs(os.path.dirname(folder / rel), exist_ok=True)
        (folder / rel).write_text(content)
    before = _snapshot(folder)

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with _deadline(SECONDS, " ".join(argv)):
            r = run_cli(argv[0], "model.bp", *argv[1:], "--lang", "en") \
                if argv[0] in ("run", "report", "explain", "compare", "render", "fit") \
                else run_cli(argv[0], "model.bp", *argv[1:])
    finally:
        os.chdir(cwd)

    assert r.code in (0, 1, 2), (argv, r)
    assert "Traceback" not in r.err and "internal error" not in r.err, (text, argv, r.err)
    if r.code == 2:
        assert r.err.count("error: ") == 1, (text, argv, r.err)
    if is_json and r.code != 2:
        json.loads(r.out)   # exactly one object, nothing else on stdout

    after = _snapshot(folder)
    for rel, content in before.items():   # the model and every bystander, byte for byte
        assert after.get(rel) == content, (argv, rel, "changed or removed")
    created = set(after) - set(before)
    allowed = {o for o in outputs if not o.endswith("frames")}
    for rel in created:
        top = rel.split(os.sep)[0]
        assert rel in allowed or (top == "frames" and "frames" in outputs), (argv, rel)
        if r.code == 2:
            assert top == "frames" and rel.startswith("frames" + os.sep + "."), \
                (argv, rel, "a refused command left an output behind")
        assert _whole(rel, after[rel]), (argv, rel, "output is not whole")


def test_the_harness_can_fail(tmp_path):
    """The invariants above are not vacuous: a changed bystander is caught by the snapshot."""
    (tmp_path / "a").write_text("1")
    before = _snapshot(tmp_path)
    (tmp_path / "a").write_text("2")
    assert _snapshot(tmp_path) != before
    assert not _whole("x.dot", b"digraph {\n a -> b\n")
