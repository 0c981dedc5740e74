"""Third-party ops: installed entry points (faked here by replacing the one
helper that lists them), --plugin modules and files, the conflict rules, broken
plugins named in one message while the rest of graphdsl keeps working, and
`graphdsl ops` / `graphdsl ops --check` on the command line.

The real thing (a package pip-installed into a venv) is tests/test_plugin_venv.py.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import sys
import textwrap

import pytest

import graphdsl
from graphdsl.ops.builtin import BUILTIN_OPS
from graphdsl.cli import COMMANDS, build_parser
from graphdsl.errors import PluginError
from graphdsl.ops import registry as registry_mod
from graphdsl.ops.registry import ENV_NO_ENTRY_POINTS, Registry, default_registry

from conftest import ROOT

CUBE = """
from graphdsl.ops import Op

class Cube(Op):
    name = "cube"
    arity = 1
    def forward(self, x):
        return x ** 3
    def partials(self, x, out):
        return (3 * x * x,)
"""

_counter = itertools.count()


class FakeDist:
    def __init__(self, name, version="1.0"):
        self.name, self.version = name, version


class FakeEntryPoint:
    """What importlib.metadata gives, with the package it belongs to."""

    def __init__(self, name, value, package):
        self.name, self.value, self.group = name, value, "graphdsl.ops"
        self.dist = FakeDist(package)

    def load(self):
        return importlib.metadata.EntryPoint(self.name, self.value, self.group).load()


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path to write plugin modules into; modules get unique names."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def write(source, stem="ops"):
        name = f"{stem}_{next(_counter)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        made.append(name)
        return name

    yield write
    for name in made:
        sys.modules.pop(name, None)


@pytest.fixture
def installed(monkeypatch):
    """Pretend these entry points are installed: installed([FakeEntryPoint(...)])."""
    monkeypatch.delenv(ENV_NO_ENTRY_POINTS, raising=False)

    def install(eps):
        monkeypatch.setattr(registry_mod, "_entry_points", lambda group: list(eps))
        registry_mod.clear_cache()

    yield install
    registry_mod.clear_cache()


@pytest.fixture
def model(tmp_path):
    def write(text, name="m.bp"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return str(path)

    return write


# --- installed plugins (entry points) -----------------------------------------------

def test_entry_point_op_is_found_lazily_and_used(installed, plugin_dir, model, cli):
    mod = plugin_dir(CUBE)
    installed([FakeEntryPoint("cube", f"{mod}:Cube", "cube-ops")])
    reg = default_registry()
    assert "cube" in reg.names()
    assert mod not in sys.modules  # listed, not imported yet
    assert reg.get("cube").forward(2.0) == 8.0
    assert mod in sys.modules
    assert reg.origin("cube") == f"package cube-ops 1.0, entry point cube = {mod}:Cube"

    r = cli("run", model("param w = 2\nz = cube(w)\n"))
    assert r.code == 0, r.err
    assert graphdsl.load(model("param w = 2\nz = cube(w)\n")).gradients()["w"] == 12.0

    r = cli("ops")
    assert r.code == 0 and r.err == ""
    line = next(l for l in r.out.splitlines() if l.startswith("cube "))
    assert line.split()[:3] == ["cube", "1", "-"] and f"package cube-ops 1.0, entry point cube = {mod}:Cube" in line


def test_a_model_that_does_not_use_a_plugin_never_imports_it(installed, plugin_dir, cli, linear_path):
    mod = plugin_dir(CUBE)
    installed([FakeEntryPoint("cube", f"{mod}:Cube", "cube-ops")])
    assert cli("run", linear_path).code == 0
    assert mod not in sys.modules


def test_installed_plugins_can_be_turned_off(installed, plugin_dir, monkeypatch):
    mod = plugin_dir(CUBE)
    installed([FakeEntryPoint("cube", f"{mod}:Cube", "cube-ops")])
    assert "cube" in default_registry()
    assert "cube" not in default_registry(entry_points=False)
    monkeypatch.setenv(ENV_NO_ENTRY_POINTS, "1")
    assert "cube" not in default_registry()


def test_broken_installed_plugin_is_named_and_the_rest_keeps_working(
        installed, plugin_dir, model, cli, linear_path):
    bad = plugin_dir("import graphdsl_no_such_dependency\n")
    good = plugin_dir(CUBE)
    installed([FakeEntryPoint("broken", f"{bad}:Broken", "broken-ops"),
               FakeEntryPoint("cube", f"{good}:Cube", "cube-ops")])

    r = cli("run", linear_path, "--target", "150")
    assert r.code == 0 and "converged" in r.out and r.err == ""

    r = cli("ops")
    assert r.code == 0
    assert "cube " in r.out and "sigmoid " in r.out and "broken" not in r.out
    assert "warning: the op plugin 'broken' from package broken-ops 1.0" in r.err
    assert "cannot be loaded: ModuleNotFoundError" in r.err

    r = cli("ops", "--check", "cube")
    assert r.code == 0 and "1 op checked: all passed" in r.out
    r = cli("ops", "--check")
    assert r.code == 1 and "error: the op plugin 'broken' from package broken-ops 1.0" in r.err

    r = cli("run", model("param w = 2\nz = broken(w)\n"))
    assert r.code == 2
    assert "unknown function 'broken'" in r.err
    assert "note: the op plugin 'broken' from package broken-ops 1.0" in r.err
    assert "Traceback" not in r.err


@pytest.mark.parametrize("source,expected", [
    ("""
     from graphdsl.ops import Op
     class Half(Op):
         name, arity = "half", 1
         def partials(self, x, out):
             return (0.5,)
     """, "op 'half' from package half-ops 1.0, entry point half = {mod}:Half does not define `forward`"),
    ("""
     from graphdsl.ops import Op
     class Half(Op):
         name, arity = "half", 2
         def forward(self, x):
             return x / 2
         def partials(self, x, out):
             return (0.5,)
     """, "has arity 2, but forward(x) does not take 2 arguments"),
    ("""
     class Half:
         name, arity = "half", 1
     """, "Half from package half-ops 1.0, entry point half = {mod}:Half is not a subclass of graphdsl.ops.Op"),
    ("""
     from graphdsl.ops import Op
     class Half(Op):
         name, arity = "halve", 1
         def forward(self, x):
             return x / 2
         def partials(self, x, out):
             return (0.5,)
     """, "gives an op named 'halve'"),
], ids=["no-forward", "wrong-arity", "not-an-op", "misnamed"])
def test_broken_installed_op_is_reported_at_load(installed, plugin_dir, model, cli, source, expected):
    mod = plugin_dir(source)
    installed([FakeEntryPoint("half", f"{mod}:Half", "half-ops")])
    expected = expected.format(mod=mod)
    r = cli("ops")
    assert r.code == 0 and "warning: " in r.err and expected in r.err
    r = cli("check", model("param w = 2\nz = half(w)\n"))
    assert r.code == 2 and expected in r.err and "Traceback" not in r.err
    assert cli("check", model("param w = 2\nz = sin(w)\n", "ok.bp")).code == 0


def test_partials_of_the_wrong_count_are_caught_at_first_call(plugin_dir, model, cli):
    mod = plugin_dir("""
        from graphdsl.ops import Op
        class Twice(Op):
            name, arity = "twice", 1
            def forward(self, x):
                return 2 * x
            def partials(self, x, out):
                return (2.0, 0.0)
        """)
    path = model("param w = 1.5\nz = twice(w) + w\n")
    r = cli("check", path, "--plugin", mod)
    assert r.code == 0  # nothing is called while checking a model
    r = cli("run", path, "--plugin", mod)
    assert r.code == 2
    assert (f"error: the op 'twice' from module {mod}: partials(1.5, out=3) returned 2 values "
            "for 1 operand") in r.err
    assert "one local derivative per operand" in r.err


def test_plugin_exceptions_are_named_domain_errors_are_numeric(plugin_dir, model, cli):
    mod = plugin_dir("""
        import math
        from graphdsl.ops import Op
        class Buggy(Op):
            name, arity = "buggy", 1
            def forward(self, x):
                return x * undefined_scale
            def partials(self, x, out):
                return (1.0,)
        class Root4(Op):
            name, arity = "root4", 1
            def forward(self, x):
                return math.sqrt(math.sqrt(x))
            def partials(self, x, out):
                return (0.25 / out ** 3,)
        """)
    r = cli("run", model("param w = 2\nz = buggy(w)\n"), "--plugin", mod)
    assert r.code == 2 and "Traceback" not in r.err
    assert f"the op 'buggy' from module {mod}: forward(2) raised NameError" in r.err
    assert f"{mod}.py:7" in r.err  # where in the plugin
    r = cli("run", model("param w = -2\nz = root4(w)\n", "n.bp"), "--plugin", mod)
    assert r.code == 1 and "numeric error" in r.err and "root4(-2) in statement 'z'" in r.err


# --- conflicts -------------------------------------------------------------------------

def test_an_installed_plugin_cannot_replace_a_builtin(installed, plugin_dir, cli, linear_path):
    mod = plugin_dir("""
        from graphdsl.ops import Op
        class Mul(Op):
            name, arity = "mul", 2
            def forward(self, a, b):
                return a * b + 1
            def partials(self, a, b, out):
                return (b, a)
        """)
    installed([FakeEntryPoint("mul", f"{mod}:Mul", "evil-ops")])
    r = cli("run", linear_path, "--json")
    assert r.code == 0 and '"z": 162.0' in r.out  # the built-in mul, the seed's numbers
    assert mod not in sys.modules
    r = cli("ops")
    assert ("warning: the op 'mul' from package evil-ops 1.0, entry point mul = "
            f"{mod}:Mul is ignored: built-in has an op of that name, and built-ins win") in r.err
    assert default_registry().origin("mul") == "built-in"


def test_a_plugin_module_cannot_replace_a_builtin(plugin_dir, cli, linear_path):
    mod = plugin_dir("""
        import math
        from graphdsl.ops import Op
        class Exp(Op):
            name, arity = "exp", 1
            def forward(self, x):
                return math.exp(x)
            def partials(self, x, out):
                return (out,)
        """)
    r = cli("run", linear_path, "--plugin", mod)
    assert r.code == 2
    assert f"the op 'exp' from module {mod} has the name of a built-in op; built-in ops always win" in r.err


def test_two_installed_plugins_with_one_name(installed, plugin_dir, model, cli):
    a = plugin_dir(CUBE)
    b = plugin_dir(CUBE)
    installed([FakeEntryPoint("cube", f"{a}:Cube", "cube-a"),
               FakeEntryPoint("cube", f"{b}:Cube", "cube-b")])
    both = (f"two installed plugins define the op 'cube': package cube-a 1.0, entry point cube = "
            f"{a}:Cube and package cube-b 1.0, entry point cube = {b}:Cube")
    r = cli("run", model("param w = 2\nz = cube(w)\n"))
    assert r.code == 2 and "unknown function 'cube'" in r.err and both in r.err
    r = cli("ops")
    assert r.code == 0 and both in r.err and "sigmoid " in r.out
    # and the same module reached twice (one package seen on two paths) is one op
    installed([FakeEntryPoint("cube", f"{a}:Cube", "cube-a"),
               FakeEntryPoint("cube", f"{a}:Cube", "cube-a")])
    assert default_registry().get("cube").forward(3.0) == 27.0


def test_plugin_module_against_installed_plugin(installed, plugin_dir, model, cli):
    installed_mod = plugin_dir(CUBE)
    other = plugin_dir(CUBE)
    installed([FakeEntryPoint("cube", f"{installed_mod}:Cube", "cube-ops")])
    path = model("param w = 2\nz = cube(w)\n")
    # the installed module named again with --plugin: one op, not a clash
    r = cli("run", path, "--plugin", installed_mod)
    assert r.code == 0, r.err
    # another module's cube: an error naming both
    r = cli("run", path, "--plugin", other)
    assert r.code == 2
    assert (f"two ops are named 'cube': one from package cube-ops 1.0, entry point cube = "
            f"{installed_mod}:Cube, one from module {other}") in r.err


def test_two_plugin_modules_with_one_name(plugin_dir, model, cli):
    a, b = plugin_dir(CUBE), plugin_dir(CUBE)
    r = cli("check", model("param w = 2\nz = cube(w)\n"), "--plugin", a, "--plugin", b)
    assert r.code == 2
    assert f"two ops are named 'cube': one from module {a}, one from module {b}" in r.err


# --- --plugin ---------------------------------------------------------------------------

def test_plugin_by_file_path_and_from_the_current_directory(tmp_path, model, cli, monkeypatch):
    (tmp_path / "my_cube_ops.py").write_text(CUBE, encoding="utf-8")
    path = model("param w = 2\nz = cube(w)\n")
    try:
        r = cli("run", path, "--plugin", str(tmp_path / "my_cube_ops.py"), "--json")
        assert r.code == 0 and '"z": 8.0' in r.out
        sys.modules.pop("my_cube_ops", None)
        # a learner's ops.py in the current directory, which the console script's
        # sys.path does not hold
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
        r = cli("run", path, "--plugin", "my_cube_ops", "--json")
        assert r.code == 0 and '"z": 8.0' in r.out
        assert str(tmp_path) not in sys.path  # looked there, left no trace
    finally:
        sys.modules.pop("my_cube_ops", None)


@pytest.mark.parametrize("source,expected", [
    (None, "no plugin module named '{mod}'"),
    ("def broken(:\n    pass\n", "the plugin module '{mod}' fails to import: SyntaxError"),
    ("raise RuntimeError('boom')\n", "fails to import: RuntimeError: boom"),
    ("x = 1\n", "plugin module '{mod}' defines no op"),
], ids=["missing", "syntax", "raises", "no-op"])
def test_plugin_module_that_does_not_load(plugin_dir, cli, linear_path, source, expected):
    mod = plugin_dir(source) if source is not None else "graphdsl_no_such_plugin"
    r = cli("run", linear_path, "--plugin", mod)
    assert r.code == 2 and expected.format(mod=mod) in r.err and "Traceback" not in r.err
    if source and "def broken" in source:
        assert f"{mod}.py:1" in r.err


def test_plugin_file_that_does_not_exist(cli, linear_path):
    r = cli("ops", "--plugin", "no/such/ops.py")
    assert r.code == 2 and "--plugin no/such/ops.py: no such file" in r.err


def _positionals(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return [a.dest for a in sub.choices[command]._actions
            if not a.option_strings and a.nargs != "*" and a.dest != "help"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_honours_plugin(command, plugin_dir, model, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mod = plugin_dir(CUBE)
    args = [model("param w = 2\nz = cube(w)\ntarget 9\n")] if "model" in _positionals(command) else []
    r = cli(command, *args, "--plugin", "graphdsl_no_such_plugin")
    assert r.code == 2 and "no plugin module named 'graphdsl_no_such_plugin'" in r.err
    if command == "watch":   # it serves until Ctrl-C: test_watch.py runs it with a plugin
        return
    r = cli(command, *args, "--plugin", mod)
    # 1 is a legitimate outcome for a solver command (a method that does not converge)
    assert r.code in (0, 1) and r.out and "cube" not in r.err, r.err
    if args:
        r = cli(command, *args)
        assert r.code == 2 and "unknown function 'cube'" in r.err


def test_python_api_takes_plugins(plugin_dir):
    mod = plugin_dir(CUBE)
    m = graphdsl.loads("param w = 2\nz = cube(w) + w\n", plugins=[mod])
    assert m.forward()["z"] == 10.0 and m.gradients()["w"] == 13.0
    assert "cube" not in default_registry(entry_points=False)  # nothing leaked into the cache


def test_registry_copies_are_independent():
    reg = default_registry(entry_points=False)

    from graphdsl.ops import Op

    class Quad(Op):
        name, arity = "quad", 1

        def forward(self, x):
            return x ** 4

        def partials(self, x, out):
            return (4 * x ** 3,)

    reg.register(Quad)
    assert "quad" in reg and "quad" not in default_registry(entry_points=False)
    assert reg.origin("quad") == f"module {__name__}"
    assert reg.register(Quad) is reg.get("quad")  # the same class again: one op
    with pytest.raises(PluginError, match="built-in ops always win"):
        Registry.with_builtins().register(type("Sin", (Quad,), {"name": "sin"}))


# --- graphdsl ops / ops --check ------------------------------------------------------------

def test_ops_lists_every_builtin_with_rule_and_origin(cli):
    from graphdsl.ops.builtin import BUILTIN_OPS

    r = cli("ops")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0].split() == ["op", "arity", "derivative", "origin"]
    for cls in BUILTIN_OPS:
        assert any(l.startswith(cls.name + " ") and l.endswith("built-in") for l in lines), cls.name
    mul = next(l for l in lines if l.startswith("mul "))
    assert mul.split()[:2] == ["mul", "2"] and "∂/∂a = b; ∂/∂b = a" in mul


def test_ops_names_filter_and_unknown_name(cli):
    r = cli("ops", "sigmoid", "relu")
    assert r.code == 0 and [l.split()[0] for l in r.out.splitlines()[2:]] == ["sigmoid", "relu"]
    r = cli("ops", "sigmod")
    assert r.code == 2 and "no op named 'sigmod'" in r.err and "did you mean 'sigmoid'?" in r.err


def test_ops_check_passes_every_builtin(cli):
    r = cli("ops", "--check")
    assert r.code == 0, r.out + r.err
    rows = [l.split() for l in r.out.splitlines()[2:] if l.strip() and not l.startswith(" ")]
    checked = [row for row in rows if row[-1] == "built-in"]
    assert len(checked) == len(BUILTIN_OPS) and all(row[1] == "ok" for row in checked)
    assert r.out.rstrip().endswith("ops checked: all passed")


def test_ops_check_catches_the_example_broken_op(cli):
    broken = ROOT / "examples" / "broken_ops.py"
    try:
        r = cli("ops", "--check", "--plugin", broken, "gaussian")
    finally:
        sys.modules.pop("broken_ops", None)
    assert r.code == 1
    assert "gaussian  FAIL" in r.out
    assert ("gaussian: ∂/∂x at (x = -2.3): partials gives -0.0231921, central finite "
            "differences give 0.0231921 — off by 0.0463842 (relative 2)") in r.out
    assert "sympy's derivative -2*x*exp(-x^2) gives" in r.out
    assert r.err.strip() == "error: 1 of 1 op failed the check: gaussian"


def test_ops_check_only_the_named_ops(cli, plugin_dir):
    mod = plugin_dir(CUBE)
    r = cli("ops", "--check", "--plugin", mod, "cube", "exp")
    assert r.code == 0
    assert [l.split()[0] for l in r.out.splitlines()[2:4]] == ["cube", "exp"]
    assert "2 ops checked: all passed" in r.out


# --- the guard around third-party ops -------------------------------------------------------

def _guarded(forward=None, partials=None, arity=1):
    from graphdsl.ops import Op
    from graphdsl.ops.registry import PluginOp

    class Odd(Op):
        name = "odd"

    Odd.arity = arity
    Odd.forward = forward or (lambda self, x: x)
    Odd.partials = partials or (lambda self, x, out: (1.0,))
    return PluginOp(Odd(), "module odd_ops")


def test_guard_reports_results_that_are_not_numbers():
    with pytest.raises(PluginError, match=r"the op 'odd' from module odd_ops: forward\(2\) "
                                          r"returned 'two' \(str\), not a number"):
        _guarded(forward=lambda self, x: "two").forward(2.0)
    with pytest.raises(PluginError, match=r"partials\(2, out=2\) returned 1.0, not a tuple of 1 numbers"):
        _guarded(partials=lambda self, x, out: 1.0).partials(2.0, 2.0)
    with pytest.raises(PluginError, match=r"partials\(2, out=2\) returned 0 values for 1 operand"):
        _guarded(partials=lambda self, x, out: ()).partials(2.0, 2.0)


def test_guard_passes_numbers_through_and_turns_complex_into_a_domain_error():
    import fractions

    op = _guarded(forward=lambda self, x: fractions.Fraction(1, 4),
                  partials=lambda self, x, out: [1])
    assert op.forward(2.0) == 0.25 and type(op.forward(2.0)) is float
    assert op.partials(2.0, 0.25) == (1.0,)
    with pytest.raises(ValueError, match="odd gives a complex number"):
        _guarded(forward=lambda self, x: x ** 0.5).forward(-4.0)


def test_complex_result_of_a_plugin_is_a_numeric_error_at_the_statement(plugin_dir, model, cli):
    mod = plugin_dir("""
        from graphdsl.ops import Op
        class Root(Op):
            name, arity = "root", 1
            def forward(self, x):
                return x ** 0.5
            def partials(self, x, out):
                return (0.5 / out,)
        """)
    r = cli("run", model("param w = -4\nz = root(w)\n"), "--plugin", mod)
    assert r.code == 1 and "root(-4) in statement 'z'" in r.err and "complex" in r.err


@pytest.mark.parametrize("source,expected", [
    ("class Odd(Op):\n    name, arity = 'odd', True\n" + "    def forward(self, x): return x\n"
     "    def partials(self, x, out): return (1.0,)\n", "has no valid `arity` (got True)"),
    ("class Odd(Op):\n    name, arity = 'odd', -1\n" + "    def forward(self, x): return x\n"
     "    def partials(self, x, out): return (1.0,)\n", "has no valid `arity` (got -1)"),
    ("class Odd(Op):\n    name, arity = 'odd', 1\n    def __init__(self, k):\n        self.k = k\n"
     "    def forward(self, x): return x\n    def partials(self, x, out): return (1.0,)\n",
     "cannot create op Odd from module {mod}: TypeError"),
    ("class Odd(Op):\n    name, arity = 'odd', 1\n    def forward(self, x): return x\n"
     "    def partials(self, x): return (1.0,)\n",
     "has arity 1, but partials(x) does not take 2 arguments"),
], ids=["bool-arity", "negative-arity", "constructor", "partials-without-out"])
def test_ops_that_do_not_look_like_ops(plugin_dir, cli, linear_path, source, expected):
    mod = plugin_dir("from graphdsl.ops import Op\n" + source)
    r = cli("ops", "--plugin", mod)
    assert r.code == 2 and expected.format(mod=mod) in r.err


def test_odd_plugin_specs(cli, tmp_path):
    r = cli("ops", "--plugin", "my-ops")
    assert r.code == 2 and "--plugin 'my-ops' is neither a module name nor a .py file" in r.err
    bad = tmp_path / "my-ops.py"
    bad.write_text(CUBE, encoding="utf-8")
    r = cli("ops", "--plugin", bad)
    assert r.code == 2 and "'my-ops' cannot be a module name" in r.err


def test_entry_point_without_a_known_package_and_an_op_without_operands(installed, plugin_dir, model, cli):
    mod = plugin_dir("""
        from graphdsl.ops import Op
        class Answer(Op):
            name, arity = "answer", 0
            def forward(self):
                return 42.0
            def partials(self, out):
                return ()
        """)

    class Bare(FakeEntryPoint):
        dist = None

        def __init__(self, *a):
            super().__init__(*a)
            self.dist = None

    installed([Bare("answer", f"{mod}:Answer", "?")])
    r = cli("run", model("param w = 2\nz = w * answer()\n"), "--json")
    assert r.code == 0 and '"z": 84.0' in r.out
    assert default_registry().origin("answer") == f"package (unknown package), entry point answer = {mod}:Answer"
    r = cli("ops", "--check", "answer")
    assert r.code == 0 and "1 op checked: all passed" in r.out


def test_a_plugin_that_calls_sys_exit_is_named(tmp_path, cli):
    plugin = tmp_path / "quits.py"
    plugin.write_text("import sys\nsys.exit(3)\n")
    r = cli("ops", "--plugin", plugin)
    assert r.code == 2
    assert "quits.py" in r.err and "SystemExit" in r.err


@pytest.mark.parametrize("where", ["forward", "partials"])
def test_a_plugin_that_exits_while_computing_is_a_broken_plugin_not_a_success(
        where, plugin_dir, model, cli):
    mod = plugin_dir(f"""
        import sys
        from graphdsl.ops import Op
        class Quits(Op):
            name, arity = "quits", 1
            def forward(self, x):
                {"sys.exit()" if where == "forward" else "return 2.0 * x"}
            def partials(self, x, out):
                sys.exit(0)
        """)
    r = cli("run", model("param w = 2\nz = quits(w)\n"), "--plugin", mod)
    assert r.code == 2, (r.out, r.err)
    assert f"the op 'quits' from module {mod}: {where}(2" in r.err and "SystemExit" in r.err


def test_a_wrong_template_fails_ops_check_naming_the_template(plugin_dir, cli):
    mod = plugin_dir("""
        import math
        from graphdsl.ops import Op
        class Softplus(Op):
            name, arity = "softplus", 1
            py_forward = "_log(1.0 + _exp({0}))"
            py_partials = ("1.0 - _sigmoid({0})",)  # sigma(-x): the sign lost
            def forward(self, x):
                return math.log1p(math.exp(x))
            def partials(self, x, out):
                return (1.0 / (1.0 + math.exp(-x)),)
        """)
    r = cli("ops", "--check", "--plugin", mod, "softplus")
    assert r.code == 1
    assert "softplus  FAIL" in r.out
    assert ("the template py_partials[0] '1.0 - _sigmoid({0})' gives 0.908877, central finite "
            "differences give 0.091123") in r.out
    assert "partials gives" not in r.out  # the hand-written partials are right


def test_a_template_that_is_not_allowed_is_refused_when_the_plugin_loads(plugin_dir, cli, linear_path):
    mod = plugin_dir("""
        from graphdsl.ops import Op
        class Sneaky(Op):
            name, arity = "sneaky", 1
            py_forward = "__import__('os').getcwd()"
            def forward(self, x):
                return x
            def partials(self, x, out):
                return (1.0,)
        """)
    r = cli("check", linear_path, "--plugin", mod)
    assert r.code == 2 and "Traceback" not in r.err
    assert f"op 'sneaky' from module {mod}: the template py_forward" in r.err
    assert "only the functions _exp" in r.err


def test_a_plugins_templates_run_in_generated_code(plugin_dir, model, cli):
    mod = plugin_dir("""
        from graphdsl.ops import Op
        class Softplus(Op):
            name, arity = "softplus", 1
            py_forward = "_log(1.0 + _exp({0}))"
            py_partials = ("_sigmoid({0})",)
        """)
    import importlib

    ops = importlib.import_module(mod)
    from graphdsl.ops import default_registry

    reg = default_registry(plugins=[mod], entry_points=False)
    op = reg.get("softplus")
    assert op.py_forward == ops.Softplus.py_forward  # passed on by the guard
    import graphdsl

    m = graphdsl.loads("param x = 0\nz = softplus(x) * 2", registry=reg)
    m.compiled.generate()
    assert "_sigmoid(" in m.compiled.generated_source()
    assert m.gradients()["x"] == 1.0
    r = cli("ops", "--check", "--plugin", mod, "softplus")
    assert r.code == 0 and "template, numpy" in r.out
