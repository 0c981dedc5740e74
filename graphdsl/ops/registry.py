"""The op registry and plugin discovery: one small door for every op.

Built-in ops are registered first, through :meth:`Registry.register`, the
same call a plugin's ops go through. Third-party ops come from the entry-point
group ``graphdsl.ops`` (discovered lazily, once) or from a module named on the
command line (``--plugin mypkg.ops``); never from a model file.

>>> reg = Registry.with_builtins()
>>> reg.get("sin").name, reg.origin("sin")
('sin', 'built-in')
"""

from __future__ import annotations

import importlib
import inspect
from functools import lru_cache

from ..errors import PluginError
from .base import Op

ENTRY_POINT_GROUP = "graphdsl.ops"
BUILTIN = "built-in"


class Registry:
    """Name -> op instance, with where each op came from."""

    def __init__(self):
        self._ops: dict[str, Op] = {}
        self._origins: dict[str, str] = {}

    @classmethod
    def with_builtins(cls) -> "Registry":
        from .builtin import BUILTIN_OPS

        reg = cls()
        for op_cls in BUILTIN_OPS:
            reg.register(op_cls, BUILTIN)
        return reg

    def copy(self) -> "Registry":
        new = Registry()
        new._ops = dict(self._ops)
        new._origins = dict(self._origins)
        return new

    # -- the door ---------------------------------------------------------
    def register(self, op, origin: str = BUILTIN) -> Op:
        """Register an op class (or instance) under its ``name``.

        Raises :class:`PluginError` if it does not look like an op or if its
        name is already taken (the message names both origins).
        """
        instance = _instantiate(op, origin)
        name = instance.name
        if name in self._ops:
            raise PluginError(
                f"two ops are named '{name}': one from {self._origins[name]}, one from {origin}",
                hint="rename one of them (the op's `name` attribute) or do not load both",
            )
        self._ops[name] = instance
        self._origins[name] = origin
        return instance

    # -- look-ups ---------------------------------------------------------
    def get(self, name: str) -> Op:
        """The op called ``name``; KeyError if there is none."""
        return self._ops[name]

    def __contains__(self, name: str) -> bool:
        return name in self._ops

    def names(self) -> list[str]:
        return sorted(self._ops)

    def origin(self, name: str) -> str:
        return self._origins[name]

    def items(self):
        """(name, op, origin) for every op, sorted by name."""
        return [(n, self._ops[n], self._origins[n]) for n in sorted(self._ops)]

    def __len__(self) -> int:
        return len(self._ops)

    def __repr__(self) -> str:
        return f"<Registry of {len(self)} ops>"

    # -- plugins ----------------------------------------------------------
    def load_module(self, module_name: str) -> list[str]:
        """Import ``module_name`` and register every op class it defines.

        Returns the names registered. Raises :class:`PluginError` when the
        module cannot be imported or defines no op.
        """
        try:
            module = importlib.import_module(module_name)
        except Exception as e:  # any failure inside a third party's import is the plugin's
            raise PluginError(
                f"cannot import plugin module '{module_name}': {type(e).__name__}: {e}",
                hint="check that the module is installed (pip install ...) or on PYTHONPATH",
            ) from e
        classes = [
            obj for _n, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, Op) and obj is not Op and obj.__module__ == module.__name__
            and getattr(obj, "name", "")
        ]
        if not classes:
            raise PluginError(
                f"plugin module '{module_name}' defines no op",
                hint="define a subclass of graphdsl.ops.Op with a `name` in it",
            )
        origin = f"module {module_name}"
        return [self.register(c, origin).name for c in classes]

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[PluginError]:
        """Register every op of the entry-point group; a broken one is skipped
        and returned as an error so the rest of graphdsl keeps working."""
        from importlib.metadata import entry_points

        problems = []
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            package = dist.name if dist is not None else "?"
            origin = f"package {package} (entry point {ep.name} = {ep.value})"
            try:
                obj = ep.load()
            except Exception as e:  # a broken third-party package must not break graphdsl
                problems.append(PluginError(
                    f"the op plugin '{ep.name}' from {package} cannot be loaded: "
                    f"{type(e).__name__}: {e}",
                    hint=f"reinstall or uninstall {package}",
                ))
                continue
            try:
                self.register(obj, origin)
            except PluginError as e:
                problems.append(e)
        return problems


def _instantiate(op, origin: str) -> Op:
    if inspect.isclass(op):
        if not issubclass(op, Op):
            raise PluginError(f"{op.__name__} from {origin} is not a subclass of graphdsl.ops.Op")
        try:
            instance = op()
        except Exception as e:
            raise PluginError(f"cannot create op {op.__name__} from {origin}: {e}") from e
    elif isinstance(op, Op):
        instance = op
    else:
        raise PluginError(f"{op!r} from {origin} is not an op")
    name = getattr(instance, "name", "")
    what = type(instance).__name__
    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"op {what} from {origin} has no valid `name` (got {name!r})",
                          hint="set `name = \"myop\"`, a valid identifier")
    arity = getattr(instance, "arity", None)
    if not isinstance(arity, int) or isinstance(arity, bool) or arity < 0:
        raise PluginError(f"op '{name}' from {origin} has no valid `arity` (got {arity!r})",
                          hint="set `arity` to the number of operands, e.g. `arity = 1`")
    for method in ("forward", "partials"):
        if getattr(type(instance), method) is getattr(Op, method):
            raise PluginError(f"op '{name}' from {origin} does not define `{method}`",
                              hint="an op defines forward(*args) and partials(*args, out)")
    return instance


@lru_cache(maxsize=1)
def _discovered() -> tuple[Registry, tuple[PluginError, ...]]:
    reg = Registry.with_builtins()
    problems = reg.load_entry_points()
    return reg, tuple(problems)


def default_registry(plugins=(), entry_points: bool = True) -> Registry:
    """The built-in ops, plus installed entry-point ops, plus ``plugins`` modules.

    The entry-point scan happens once per process (cached). Set
    ``entry_points=False`` to leave installed plugins out (tests do).
    """
    if entry_points:
        reg = _discovered()[0]
    else:
        reg = _builtins_only()
    if plugins:
        reg = reg.copy()
        for module_name in plugins:
            reg.load_module(module_name)
    return reg


@lru_cache(maxsize=1)
def _builtins_only() -> Registry:
    return Registry.with_builtins()


def plugin_problems() -> tuple[PluginError, ...]:
    """Errors met while loading installed entry-point plugins (empty if none)."""
    return _discovered()[1]
