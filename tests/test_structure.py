"""The package's import graph has no cycle, and no module imports another's
private name.

Each module's imports are read with ``ast`` (nothing is imported or run). The
graph has every module's top-level imports, and for the language layer
(:data:`LANGUAGE`) its imports inside functions too: an import moved into a
function still ties two modules together, and the language layer sits under
everything else. A cycle is reported with its modules in order.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "graphdsl"
#: modules whose every import counts, those inside functions included
LANGUAGE = {"graphdsl.parser", "graphdsl.diagnostics", "graphdsl.build", "graphdsl.syntax",
            "graphdsl.names", "graphdsl.flat", "graphdsl.errors", "graphdsl.text"}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known, inside_functions: bool = True) -> set[str]:
    """The package's modules that ``name`` imports: at its top level, and with
    ``inside_functions`` anywhere in its file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if inside_functions else [
        n for top in tree.body for n in ast.walk(top)
        if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.add(full if full in known else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    # a package that contains the module is always imported before it: an
    # import of it (``from . import __version__``) adds no edge
    ancestors = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)}
    return {m for m in out if m in known and m != name and m not in ancestors}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None.
    Depth-first with an explicit stack."""
    state = {}                      # absent: unseen, 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path = [root]
        todo = [iter(sorted(graph[root]))]
        state[root] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(sorted(graph[nxt])))
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    pkg = tmp_path / "graphdsl"
    pkg.mkdir()
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "b.py").write_text("from . import a\n")
    known = {"graphdsl.a": pkg / "a.py", "graphdsl.b": pkg / "b.py"}
    assert imports_of("graphdsl.a", pkg / "a.py", known) == {"graphdsl.b"}
    assert imports_of("graphdsl.a", pkg / "a.py", known, inside_functions=False) == set()
    assert imports_of("graphdsl.b", pkg / "b.py", known) == {"graphdsl.a"}


def test_no_import_cycle_in_the_package():
    known = modules()
    assert {"graphdsl.parser", "graphdsl.diagnostics", "graphdsl.ops.registry"} <= set(known)
    assert LANGUAGE <= set(known)
    graph = {name: imports_of(name, path, known, inside_functions=name in LANGUAGE)
             for name, path in known.items()}
    assert "graphdsl.diagnostics" in graph["graphdsl.parser"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def private_imports(name: str, path: Path, known) -> list[str]:
    """``from .other import _name`` in module ``name``: another module's private name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.endswith("__")
                if private and f"{target}.{alias.name}" not in known:
                    found.append(f"{name} imports {target}.{alias.name}")
    return found


def test_the_private_import_reader_finds_them(tmp_path):
    pkg = tmp_path / "graphdsl"
    pkg.mkdir()
    (pkg / "a.py").write_text("from .b import _g, h\nfrom . import __version__\n")
    known = {"graphdsl.a": pkg / "a.py"}
    assert private_imports("graphdsl.a", pkg / "a.py", known) == ["graphdsl.a imports graphdsl.b._g"]


def test_no_module_imports_another_modules_private_name():
    known = modules()
    found = [f for name, path in known.items() for f in private_imports(name, path, known)]
    assert not found, "\n".join(found)
