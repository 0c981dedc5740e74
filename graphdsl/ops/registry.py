"""The op registry and plugin discovery: one small door for every op.

Built-in ops are registered first, through :meth:`Registry.register`, the
same call a plugin's ops go through. Third-party ops come from two places,
never from a model file:

- the entry-point group ``graphdsl.ops`` of installed packages
  (``softplus = graphdsl_extra_ops.ops:Softplus``; the entry point's name is
  the op's name). The group is scanned once per process, and an entry point
  is imported only when its op is first needed, so an installed plugin costs
  nothing to a model that does not use it, and a broken one disturbs nothing
  else;
- ``--plugin MODULE`` on the command line (a module name, or the path of a
  ``.py`` file): every op class the module defines, loaded at once.

The rules when two ops want one name:

- **built-ins win**: an installed plugin that reuses a built-in name is
  ignored (``graphdsl ops`` warns, naming both); a ``--plugin`` module that
  does so is an error, since the command would otherwise not run what was asked;
- **plugin against plugin is an error naming both**: two installed plugins
  with one name make that name unavailable (using it in a model is an error
  that names both packages; everything else keeps working); a ``--plugin``
  op that clashes with another plugin stops the command;
- the same class reached twice (installed *and* named with ``--plugin``) is
  one op, not a clash.

A broken plugin (it does not import, lacks ``forward`` or ``partials``, has
an arity its methods do not accept or a template that is not allowed,
returns the wrong number of partials, raises, even ``SystemExit``) is
reported with the plugin named: at load time for what can be seen then, at
the first call otherwise (third-party ops run behind :class:`PluginOp`, a thin
guard that also passes on, guarded, the templates and numpy forms the plugin
gives). Set ``GRAPHDSL_NO_ENTRY_POINTS=1`` (or pass ``entry_points=False``) to
leave installed plugins out, as tests do.

>>> reg = Registry.with_builtins()
>>> reg.get("sin").name, reg.origin("sin")
('sin', 'built-in')
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import numbers
import os
import sys
from dataclasses import dataclass
from functools import lru_cache

from ..errors import PluginError
from . import forms
from .base import Op

ENTRY_POINT_GROUP = "graphdsl.ops"
BUILTIN = "built-in"
#: set to 1 to leave installed (entry-point) plugins out
ENV_NO_ENTRY_POINTS = "GRAPHDSL_NO_ENTRY_POINTS"

# What a plugin may raise for operands outside its domain: the engine turns
# these into a numeric error naming the statement. Anything else is a bug in
# the plugin and is reported as one.
NUMERIC_ERRORS = (ValueError, ZeroDivisionError, OverflowError)
# What passes through the guard untouched: domain errors, and Ctrl-C
_PASS_THROUGH = NUMERIC_ERRORS + (KeyboardInterrupt,)


@dataclass(frozen=True)
class _EntryPoint:
    """An installed plugin's op, known by name, not imported yet."""

    name: str
    value: str
    package: str
    ep: object  # importlib.metadata.EntryPoint

    @property
    def origin(self) -> str:
        return f"package {self.package}, entry point {self.name} = {self.value}"


class Registry:
    """Name -> op, with where each op came from.

    >>> reg = Registry.with_builtins()
    >>> "exp" in reg, "softmax" in reg
    (True, False)
    """

    def __init__(self):
        self._ops: dict[str, Op] = {}
        self._origins: dict[str, str] = {}
        self._pending: dict[str, _EntryPoint] = {}
        self._unavailable: dict[str, PluginError] = {}
        self._warnings: list[PluginError] = []

    @classmethod
    def with_builtins(cls) -> "Registry":
        """A registry holding the built-in ops only."""
        from .builtin import BUILTIN_OPS

        reg = cls()
        for op_cls in BUILTIN_OPS:
            reg.register(op_cls, BUILTIN)
        return reg

    def copy(self) -> "Registry":
        """An independent registry with the same ops (loading more into it
        leaves this one alone)."""
        new = Registry()
        new._ops = dict(self._ops)
        new._origins = dict(self._origins)
        new._pending = dict(self._pending)
        new._unavailable = dict(self._unavailable)
        new._warnings = list(self._warnings)
        return new

    # -- the door ---------------------------------------------------------
    def register(self, op, origin: str | None = None) -> Op:
        """Register an op class (or instance) under its ``name``.

        ``origin`` says where it came from (``"built-in"`` for graphdsl's own
        ops; default: the module the class is defined in). Third-party ops are
        wrapped in a :class:`PluginOp` guard. Returns the registered op.

        Raises :class:`PluginError` if it does not look like an op, or if its
        name is taken by a built-in or another plugin (the message names both).

        >>> from graphdsl.ops import Op
        >>> class Cube(Op):
        ...     name, arity = "cube", 1
        ...     def forward(self, x): return x ** 3
        ...     def partials(self, x, out): return (3 * x * x,)
        >>> reg = Registry.with_builtins()
        >>> reg.register(Cube, "module demo").forward(2.0)
        8.0
        """
        if origin is None:
            cls = op if inspect.isclass(op) else type(op)
            origin = f"module {cls.__module__}"
        instance = instantiate(op, origin)
        name = instance.name
        if name in self._pending:
            self._resolve(name)
        if name in self._ops:
            existing = self._ops[name]
            if _same_op(existing, instance):
                return existing
            if self._origins[name] == BUILTIN and origin != BUILTIN:
                raise PluginError(
                    f"the op '{name}' from {origin} has the name of a built-in op; "
                    f"built-in ops always win",
                    hint=f"give your op another `name` (e.g. \"my_{name}\")")
            raise PluginError(
                f"two ops are named '{name}': one from {self._origins[name]}, one from {origin}",
                hint="rename one of them (the op's `name` attribute) or do not load both")
        if name in self._unavailable and getattr(self._unavailable[name], "clash", False):
            raise PluginError(
                f"the op '{name}' from {origin} clashes with installed plugins: "
                f"{self._unavailable[name].message}",
                hint="rename your op (its `name` attribute) or uninstall the others")
        if origin != BUILTIN:
            instance = PluginOp(instance, origin)
        self._unavailable.pop(name, None)
        self._ops[name] = instance
        self._origins[name] = origin
        return instance

    # -- look-ups ---------------------------------------------------------
    def get(self, name: str) -> Op:
        """The op called ``name``.

        Raises KeyError if there is none, and :class:`PluginError` if an
        installed plugin should provide it but cannot (broken, or two plugins
        claim the name).
        """
        op = self._resolve(name)
        if op is None:
            if name in self._unavailable:
                raise self._unavailable[name]
            raise KeyError(name)
        return op

    def __contains__(self, name: str) -> bool:
        return self._resolve(name) is not None

    def names(self) -> list[str]:
        """Every op name, installed plugins not yet loaded included."""
        return sorted(set(self._ops) | set(self._pending))

    def origin(self, name: str) -> str:
        """Where the op came from: "built-in", "package P, entry point ...",
        or "module M"."""
        if name in self._pending:
            return self._pending[name].origin
        return self._origins[name]

    def items(self) -> list[tuple[str, Op, str]]:
        """(name, op, origin) for every op that loads, sorted by name. Loads
        every installed plugin; the ones that fail go to :meth:`problems`."""
        for name in list(self._pending):
            self._resolve(name)
        return [(n, self._ops[n], self._origins[n]) for n in sorted(self._ops)]

    def problems(self) -> list[PluginError]:
        """What went wrong with installed plugins seen so far: ignored entry
        points, plugins that do not load, names two plugins claim."""
        return list(self._warnings) + [self._unavailable[n] for n in sorted(self._unavailable)]

    def unavailable(self, name: str) -> list[str]:
        """Why an installed plugin's op called ``name`` cannot be used, as
        notes for an "unknown function" message; empty if no plugin tried."""
        self._resolve(name)
        e = self._unavailable.get(name)
        if e is None:
            return []
        return [e.message] + ([e.hint] if e.hint else [])

    def __len__(self) -> int:
        return len(set(self._ops) | set(self._pending))

    def __repr__(self) -> str:
        return f"<Registry of {len(self)} ops>"

    # -- plugins ----------------------------------------------------------
    def load_module(self, spec: str) -> list[str]:
        """Import a plugin module and register every op class it defines.

        ``spec`` is a module name (``mypkg.ops``; looked up on ``sys.path``,
        then in the current directory) or the path of a ``.py`` file. Returns
        the names registered. Raises :class:`PluginError` when the module
        cannot be imported, defines no op, or defines an op that is broken or
        clashes with another.

        >>> reg = Registry.with_builtins()
        >>> try:
        ...     reg.load_module("graphdsl_no_such_ops")
        ... except PluginError as e:
        ...     print(e.message)
        no plugin module named 'graphdsl_no_such_ops'

        """
        module, origin = _import_plugin(spec)
        classes = [
            obj for _n, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, Op) and obj is not Op and obj.__module__ == module.__name__
            and getattr(obj, "name", "")
        ]
        if not classes:
            raise PluginError(
                f"plugin module '{spec}' defines no op",
                hint="define a subclass of graphdsl.ops.Op with a `name` in it")
        return [self.register(c, origin).name for c in classes]

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[PluginError]:
        """Note every op of the entry-point group, to be imported when first
        needed. Returns the entry points ignored at once (a built-in's name)."""
        seen: dict[str, list[_EntryPoint]] = {}
        for ep in _entry_points(group):
            dist = getattr(ep, "dist", None)
            package = f"{dist.name} {dist.version}" if dist is not None else "(unknown package)"
            entry = _EntryPoint(ep.name, ep.value, package, ep)
            same = seen.setdefault(ep.name, [])
            if any(e.value == entry.value for e in same):
                continue  # one package seen twice on sys.path
            same.append(entry)
        found = []
        for name in sorted(seen):
            entries = seen[name]
            if name in self._ops:
                for e in entries:
                    found.append(PluginError(
                        f"the op '{name}' from {e.origin} is ignored: "
                        f"{self._origins[name]} has an op of that name, and built-ins win",
                        hint=f"the plugin should name its op differently; uninstall {e.package.split()[0]} "
                             "or ask its author"))
            elif len(entries) > 1:
                err = PluginError(
                    f"two installed plugins define the op '{name}': "
                    + " and ".join(e.origin for e in entries),
                    hint="uninstall one of them (pip uninstall ...)")
                err.clash = True
                self._unavailable[name] = err
            else:
                self._pending[name] = entries[0]
        self._warnings.extend(found)
        return found

    def _resolve(self, name: str) -> Op | None:
        """The op called ``name``, importing an installed plugin on first use;
        None when there is none or it cannot be loaded (the reason is kept)."""
        op = self._ops.get(name)
        if op is not None or name not in self._pending:
            return op
        entry = self._pending.pop(name)
        try:
            try:
                obj = entry.ep.load()
            except (Exception, SystemExit) as e:  # a third party's import may fail in any way
                raise PluginError(
                    f"the op plugin '{name}' from {entry.origin} cannot be loaded: "
                    f"{type(e).__name__}: {e}",
                    notes=_where(e),
                    hint=f"reinstall or uninstall {entry.package.split()[0]}") from e
            instance = instantiate(obj, entry.origin)
            if instance.name != name:
                raise PluginError(
                    f"the entry point '{name}' from {entry.origin} gives an op named "
                    f"'{instance.name}'",
                    hint=f"the entry point's name must be the op's name: "
                         f"{instance.name} = \"{entry.value}\"")
        except PluginError as e:
            self._unavailable[name] = e
            return None
        op = PluginOp(instance, entry.origin)
        self._ops[name] = op
        self._origins[name] = entry.origin
        return op


class PluginOp(Op):
    """A third-party op behind a guard: every call checks what the plugin
    returns, so a mistake in it is reported naming the op and where it came
    from, not as a traceback or a silently wrong gradient.

    Operands outside the op's domain (ValueError, ZeroDivisionError,
    OverflowError) pass through: the engine reports them at the statement.
    Anything else a plugin raises (``SystemExit`` included: a plugin never ends
    the command; Ctrl-C still does), a result that is not a number, or a
    number of partials that is not the arity raises :class:`PluginError`.

    The plugin's templates (``py_forward``/``py_partials``, checked when it is
    registered) and numpy forms (``np_forward``/``np_partials``, guarded the
    same way: an exception or a result of the wrong shape is a PluginError)
    are passed on where they are forms of the plugin's own methods.

    >>> from graphdsl.ops import Op
    >>> class Bad(Op):
    ...     name, arity = "bad", 1
    ...     def forward(self, x): return x
    ...     def partials(self, x, out): return (1.0, 2.0)
    >>> try:
    ...     PluginOp(Bad(), "module demo").partials(0.5, 0.5)
    ... except PluginError as e:
    ...     print(e.message)
    the op 'bad' from module demo: partials(0.5, out=0.5) returned 2 values for 1 operand
    """

    def __init__(self, inner: Op, origin: str):
        self.inner = inner
        self.origin = origin
        self._forward = inner.forward
        self._partials = inner.partials
        self.name = inner.name
        self.arity = inner.arity
        for attr in ("symbol", "label", "doc", "rule", "sample_points", "operands"):
            setattr(self, attr, getattr(inner, attr, None))
        self.py_forward = forms.applicable(inner, "py_forward", "forward")
        self.py_partials = forms.applicable(inner, "py_partials", "partials")
        f = forms.applicable(inner, "np_forward", "forward")
        p = forms.applicable(inner, "np_partials", "partials")
        self.np_forward = self._numpy_guard(f, "np_forward", 1) if f is not None else None
        self.np_partials = self._numpy_guard(p, "np_partials", self.arity) if p is not None else None

    def __getattr__(self, attr):
        # optional extras a plugin may define
        if attr in ("inner", "_forward", "_partials"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def forward(self, *args):
        try:
            v = self._forward(*args)
        except _PASS_THROUGH:
            raise
        except BaseException as e:  # SystemExit too: a plugin cannot end the command
            raise self._broken("forward", args, None, f"raised {type(e).__name__}: {e}", e) from e
        return v if type(v) is float else self._real(v, "forward", args, None)

    def partials(self, *args_and_out):
        try:
            ps = self._partials(*args_and_out)
        except _PASS_THROUGH:
            raise
        except BaseException as e:  # SystemExit too: a plugin cannot end the command
            raise self._broken("partials", args_and_out[:-1], args_and_out[-1],
                               f"raised {type(e).__name__}: {e}", e) from e
        # the common case, a tuple of floats of the right length, costs one pass
        if type(ps) is tuple and len(ps) == self.arity:
            for d in ps:
                if type(d) is not float:
                    break
            else:
                return ps
        return self._check_partials(ps, args_and_out[:-1], args_and_out[-1])

    def _check_partials(self, ps, args, out):
        try:
            n = len(ps)
        except TypeError:
            raise self._broken("partials", args, out,
                               f"returned {ps!r}, not a tuple of {self.arity} numbers") from None
        if n != self.arity:
            raise self._broken(
                "partials", args, out,
                f"returned {n} value{'s' if n != 1 else ''} for {self.arity} "
                f"operand{'s' if self.arity != 1 else ''}",
                hint="partials must return one local derivative per operand, "
                     "e.g. `return (3 * x * x,)`")
        return tuple(d if type(d) is float else self._real(d, "partials", args, out) for d in ps)

    def _numpy_guard(self, fn, method: str, count: int):
        """``fn`` (the plugin's np_forward or np_partials) behind a guard: its
        result is made a float array of the operands' broadcast shape (a tuple
        of ``count`` of them for np_partials); an exception or anything else
        is a PluginError."""
        if not callable(fn):
            def broken(*_xs):
                raise PluginError(f"the op '{self.name}' from {self.origin}: {method} is "
                                  f"{fn!r}, not a function",
                                  hint=f"define {method} as a method, or leave it out")
            return broken

        def guarded(*xs):
            import numpy as np

            try:
                r = fn(*xs)
            except KeyboardInterrupt:
                raise
            except BaseException as e:  # numpy forms give NaN outside the domain: never raise
                raise self._numpy_broken(method, f"raised {type(e).__name__}: {e}", e) from e
            shape = np.broadcast_shapes(*(np.shape(x) for x in xs))
            if method == "np_forward":
                return self._numpy_array(np, r, shape, method)
            if isinstance(r, (str, bytes)) or not hasattr(r, "__len__") or len(r) != count:
                got = f"{len(r)} values" if hasattr(r, "__len__") and not isinstance(r, str) \
                    else repr(r)
                raise self._numpy_broken(method, f"returned {got} for {count} "
                                                 f"operand{'s' if count != 1 else ''}")
            return tuple(self._numpy_array(np, d, shape, method) for d in r)

        return guarded

    def _numpy_array(self, np, r, shape, method):
        if type(r) is float:
            return r
        try:
            a = np.asarray(r)
        except Exception:  # whatever the plugin returned cannot be an array
            a = None
        if a is None or a.dtype.kind not in "fiubc":
            raise self._numpy_broken(method, f"returned {_short(r)}, not numbers")
        if a.dtype.kind == "c":  # complex: NaN where not real, as forward's ValueError
            a = np.where(a.imag == 0, a.real, np.nan)
        if a.shape != shape and a.shape != ():
            try:
                a = np.broadcast_to(a, shape)
            except ValueError:
                raise self._numpy_broken(
                    method, f"returned an array of shape {a.shape} for operands of shape {shape}",
                    hint=f"{method} must work element by element: one value per sample") from None
        return a.astype(float, copy=False)

    def _numpy_broken(self, method, what, exc=None, hint=None) -> PluginError:
        return PluginError(
            f"the op '{self.name}' from {self.origin}: {method} {what}",
            notes=_where(exc) if exc is not None else (),
            hint=hint or f"fix the plugin; `graphdsl ops --check {self.name}` tests it")

    def domain(self, *args):
        try:
            return self.inner.domain(*args)
        except KeyboardInterrupt:
            raise
        except BaseException:  # a failing domain check must not hide the real failure
            return None

    def sympy(self, *args):
        try:
            return self.inner.sympy(*args)
        except NotImplementedError:
            raise
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # a broken symbolic form is the plugin's, named as such
            raise PluginError(
                f"the op '{self.name}' from {self.origin}: sympy() raised {type(e).__name__}: {e}",
                notes=_where(e),
                hint=f"fix the plugin; `graphdsl ops --check {self.name}` tests it") from e

    def display(self) -> str:
        try:
            return str(self.inner.display())
        except KeyboardInterrupt:
            raise
        except BaseException:
            return self.name

    def _real(self, v, method, args, out) -> float:
        if isinstance(v, numbers.Real):
            return float(v)  # OverflowError for a huge int: a numeric failure
        if isinstance(v, numbers.Complex):
            raise ValueError(f"{self.name} gives a complex number")
        raise self._broken(method, args, out, f"returned {v!r} ({type(v).__name__}), not a number")

    def _broken(self, method, args, out, what, exc=None, hint=None) -> PluginError:
        shown = ", ".join(_short(a) for a in args)
        if out is not None:
            shown += (", " if shown else "") + f"out={_short(out)}"
        return PluginError(
            f"the op '{self.name}' from {self.origin}: {method}({shown}) {what}",
            notes=_where(exc) if exc is not None else (),
            hint=hint or f"fix the plugin; `graphdsl ops --check {self.name}` tests it")

    def __repr__(self) -> str:
        return f"<op {self.name}/{self.arity} from {self.origin}>"


def unwrap(op: Op) -> Op:
    """The plugin's own op object behind a :class:`PluginOp` guard (or ``op``)."""
    return op.inner if isinstance(op, PluginOp) else op


def _same_op(a: Op, b: Op) -> bool:
    a, b = unwrap(a), unwrap(b)
    return a is b or type(a) is type(b)


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _where(exc) -> list[str]:
    """"raised at FILE:LINE" for the innermost frame of a plugin's exception."""
    if exc is None:
        return []
    if isinstance(exc, SyntaxError) and exc.filename:
        return [f"at {exc.filename}:{exc.lineno}"]
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.dirname(os.path.abspath(__file__))
    for fr in reversed(frames):
        if not fr.filename.startswith(here) and not fr.filename.startswith("<frozen"):
            return [f"raised at {fr.filename}:{fr.lineno}"]
    return []


def instantiate(op, origin: str) -> Op:
    """An instance of ``op`` (class or instance), checked to look like an op:
    a name, an arity, templates that are allowed, forward and partials that
    accept that many operands.

    Raises :class:`PluginError` saying what is wrong, naming ``origin``.

    >>> from graphdsl.ops.builtin import Exp
    >>> instantiate(Exp, "built-in").name
    'exp'
    """
    if inspect.isclass(op):
        if not issubclass(op, Op):
            raise PluginError(f"{op.__name__} from {origin} is not a subclass of graphdsl.ops.Op",
                              hint="write `class MyOp(Op):` with `from graphdsl.ops import Op`")
        try:
            instance = op()
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # the plugin's own constructor (sys.exit included)
            raise PluginError(f"cannot create op {op.__name__} from {origin}: "
                              f"{type(e).__name__}: {e}", notes=_where(e),
                              hint="an op class must be creatable with no arguments") from e
    elif isinstance(op, Op):
        instance = op
    else:
        raise PluginError(f"{op!r} from {origin} is not an op",
                          hint="point the entry point at a subclass of graphdsl.ops.Op")
    name = getattr(instance, "name", "")
    what = type(instance).__name__
    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"op {what} from {origin} has no valid `name` (got {name!r})",
                          hint="set `name = \"myop\"`, a valid identifier")
    arity = getattr(instance, "arity", None)
    if not isinstance(arity, int) or isinstance(arity, bool) or arity < 0:
        raise PluginError(f"op '{name}' from {origin} has no valid `arity` (got {arity!r})",
                          hint="set `arity` to the number of operands, e.g. `arity = 1`")
    try:
        forms.of(instance)
    except forms.TemplateError as e:
        raise PluginError(f"op '{name}' from {origin}: {e}",
                          hint="a template is a Python expression over {0}, {1}... (and {out} in "
                               "a partial) that may call " + ", ".join(forms.FUNCTIONS)) from None
    for method, count in (("forward", arity), ("partials", arity + 1)):
        if isinstance(forms.own_method(type(instance), method), forms.FromTemplate) \
                and method not in vars(instance):
            continue  # made from the op's template, for its arity
        if getattr(type(instance), method, None) is getattr(Op, method):
            raise PluginError(f"op '{name}' from {origin} does not define `{method}`",
                              hint="an op defines forward(*operands) and partials(*operands, out)")
        fn = getattr(instance, method)
        if not callable(fn):
            raise PluginError(f"op '{name}' from {origin}: `{method}` is not a method")
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            continue  # a builtin or C function: nothing to see
        try:
            sig.bind(*([0.0] * count))
        except TypeError:
            shown = ", ".join(str(p) for p in sig.parameters.values())
            want = "the operands" if method == "forward" else "the operands, then the op's value `out`"
            raise PluginError(
                f"op '{name}' from {origin} has arity {arity}, but {method}({shown}) "
                f"does not take {count} argument{'s' if count != 1 else ''}",
                hint=f"{method} takes {want}: set `arity` to match, or fix the method's parameters"
            ) from None
    return instance


def _import_plugin(spec: str):
    """Import a ``--plugin`` module by name or file path; (module, origin)."""
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        return _import_file(spec)
    if not all(part.isidentifier() for part in spec.split(".")):
        raise PluginError(f"--plugin '{spec}' is neither a module name nor a .py file",
                          hint="give a module (mypkg.ops) or a file (path/to/ops.py)")
    try:
        module = _import_name(spec)
    except ModuleNotFoundError as e:
        if e.name and (spec == e.name or spec.startswith(e.name + ".")):
            raise PluginError(
                f"no plugin module named '{spec}'",
                hint="install it (pip install ...), put it on PYTHONPATH, or give the "
                     "path of a .py file: --plugin path/to/ops.py") from None
        raise _import_failed(spec, e) from e
    except (Exception, SystemExit) as e:  # any failure inside a third party's import is the plugin's
        raise _import_failed(spec, e) from e
    return module, f"module {spec}"


def _import_name(spec: str):
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as e:
        cwd = os.getcwd()
        if not (e.name and spec.split(".")[0] == e.name.split(".")[0]) or cwd in sys.path \
                or "" in sys.path:
            raise
    # The console script's sys.path does not hold the current directory, where
    # a learner's own ops.py most often is: look there too, as `python -m` would.
    sys.path.insert(0, cwd)
    try:
        return importlib.import_module(spec)
    finally:
        try:
            sys.path.remove(cwd)
        except ValueError:
            pass


def _import_file(spec: str):
    path = os.path.abspath(spec)
    if not os.path.isfile(path):
        raise PluginError(f"--plugin {spec}: no such file",
                          hint="give the path of a .py file, or a module name")
    stem = os.path.splitext(os.path.basename(path))[0]
    if not stem.isidentifier():
        raise PluginError(f"--plugin {spec}: '{stem}' cannot be a module name",
                          hint="name the file like a Python module, e.g. my_ops.py")
    existing = sys.modules.get(stem)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == path:
        return existing, f"module {stem} ({spec})"
    mspec = importlib.util.spec_from_file_location(stem, path)
    module = importlib.util.module_from_spec(mspec)
    sys.modules[stem] = module
    try:
        mspec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the plugin file's own code (sys.exit included)
        sys.modules.pop(stem, None)
        raise _import_failed(spec, e) from e
    return module, f"module {stem} ({spec})"


def _import_failed(spec: str, e: BaseException) -> PluginError:
    return PluginError(f"the plugin module '{spec}' fails to import: {type(e).__name__}: {e}",
                       notes=_where(e),
                       hint="fix the error in the plugin (run it with `python FILE` to see more)")


def _entry_points(group: str):
    """The installed entry points of ``group`` (tests replace this)."""
    from importlib.metadata import entry_points

    return list(entry_points(group=group))


@lru_cache(maxsize=1)
def _discovered() -> Registry:
    reg = Registry.with_builtins()
    reg.load_entry_points()
    return reg


@lru_cache(maxsize=1)
def _builtins_only() -> Registry:
    return Registry.with_builtins()


def entry_points_enabled() -> bool:
    """False when ``GRAPHDSL_NO_ENTRY_POINTS`` is set (to anything but 0)."""
    return os.environ.get(ENV_NO_ENTRY_POINTS, "") in ("", "0")


def default_registry(plugins=(), entry_points: bool | None = None) -> Registry:
    """The built-in ops, plus installed entry-point ops, plus ``plugins`` modules.

    The entry-point group is scanned once per process (cached); each plugin is
    imported when its op is first used. ``entry_points=False`` (or the
    environment variable ``GRAPHDSL_NO_ENTRY_POINTS=1``) leaves installed
    plugins out. Returns a registry of its own each call.

    Raises :class:`PluginError` when a ``plugins`` module cannot be loaded.

    >>> default_registry(entry_points=False).get("mul").forward(3.0, 4.0)
    12.0
    """
    if entry_points is None:
        entry_points = entry_points_enabled()
    reg = (_discovered() if entry_points else _builtins_only()).copy()
    for spec in plugins:
        reg.load_module(spec)
    return reg


def clear_cache() -> None:
    """Forget the entry-point scan (for tests that install or fake plugins)."""
    _discovered.cache_clear()
    _builtins_only.cache_clear()
