"""The conformance check any op author can run: ``graphdsl ops --check``.

For one op it checks, at several points inside the op's domain:

- **arity**: ``forward`` takes ``arity`` operands and ``partials`` takes them
  plus the op's value, and ``partials`` returns exactly ``arity`` numbers;
- **finite differences**: each partial against a central finite difference
  of ``forward`` (Richardson-extrapolated, so errors of 1e-6 show);
- **determinism**: the same operands give the same value and partials again;
- **template**, where the op gives ``py_forward``/``py_partials``: the code
  the engine generates from them, value against ``forward`` and each partial
  against the finite difference (or against ``partials`` where there is no
  finite difference);
- **numpy**: the op's own ``np_forward``/``np_partials`` and the numpy code
  made from its templates (what batch evaluation runs), over all the points
  at once, checked the same way, shapes included;
- **sympy**, where the op gives a symbolic form (``Op.sympy``): the form's
  value against ``forward`` and its derivative (sympy's ``diff``) against
  ``partials``.

Each failure names the form that disagrees, so a wrong template is told
apart from a wrong ``partials``.

The points come from ``op.sample_points`` when the op declares them, else
from a fixed grid of operands (no zeros or whole numbers, where ops like relu
and abs have kinks) filtered by ``op.domain`` and by ``forward`` being
finite. sympy is imported only here, and only when an op has a symbolic form.

Results are plain data: a :class:`Report` per op, with a :class:`Failure`
for every disagreement, naming the op, the point and its size.

>>> from graphdsl.ops.builtin import Sigmoid
>>> check_op(Sigmoid()).ok
True
"""

from __future__ import annotations

import inspect
import math
import random
from dataclasses import dataclass, field

from ..errors import PluginError
from . import forms
from .base import Op
from .registry import NUMERIC_ERRORS, instantiate, unwrap

#: how close two forms of one op (template or numpy against forward) must be:
#: the same arithmetic, perhaps in another order or with numpy's own functions
FORM_REL_TOL = 1e-9

#: operand values tried when an op declares no sample points: away from 0 and
#: from whole numbers (kinks of relu/abs, poles of some ops), both signs
GRID = (-2.3, -1.1, -0.4, 0.3, 0.7, 1.3, 2.9)
MAX_POINTS = 8
REL_TOL = 1e-6
ABS_TOL = 1e-8
# step of the central difference, relative to max(1, |operand|)
STEP = 1e-3


@dataclass(frozen=True)
class Failure:
    """One thing an op got wrong.

    ``check`` is one of "arity", "partials count", "finite differences",
    "determinism", "template", "numpy", "sympy", "sympy value", "sample
    points", "error".
    ``point`` holds the operands, ``operand`` the name of the operand whose
    partial is wrong, ``expected`` the reference value (finite difference or
    sympy) and ``got`` what the op computed.
    """

    op: str
    check: str
    message: str
    point: tuple[float, ...] | None = None
    operand: str | None = None
    expected: float | None = None
    got: float | None = None

    @property
    def disagreement(self) -> float | None:
        """|got - expected|, when both are numbers."""
        if self.expected is None or self.got is None:
            return None
        return abs(self.got - self.expected)

    def __str__(self) -> str:
        return self.message


@dataclass
class Report:
    """The check of one op: where it was tested, what ran, what failed."""

    op: str
    origin: str
    arity: int
    points: list[tuple[float, ...]] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"{len(self.failures)} failures"
        return f"<Report {self.op}: {state} at {len(self.points)} points>"


def operand_names(op: Op) -> list[str]:
    """The operands' names, read from ``forward``'s parameters (``a, b`` for
    div), else x (one operand) or x1, x2, ...

    >>> from graphdsl.ops.builtin import Div
    >>> operand_names(Div())
    ['a', 'b']
    """
    n = op.arity
    try:
        params = list(inspect.signature(unwrap(op).forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(names) == n and len(set(names)) == n and all(x.isidentifier() for x in names):
        return names
    return ["x"] if n == 1 else [f"x{i + 1}" for i in range(n)]


def _fmt(v) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.6g}"
    return repr(v)


def _at(names, point) -> str:
    return ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(names, point)) or "()"


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _close(got: float, expected: float, scale: float, rel_tol: float, abs_tol: float) -> bool:
    return abs(got - expected) <= abs_tol * max(1.0, abs(scale)) + rel_tol * max(abs(got), abs(expected))


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _inside(op: Op, point) -> bool:
    """True when ``point`` is in the op's domain and forward is finite there."""
    try:
        if op.domain(*point) is not None:
            return False
        return _finite_number(op.forward(*point))
    except NUMERIC_ERRORS:
        return False


def sample_points(op: Op, limit: int = MAX_POINTS) -> tuple[list[tuple[float, ...]], list[Failure]]:
    """Where to test ``op``: its declared ``sample_points``, else grid points
    inside its domain (at most ``limit``). Returns (points, failures), the
    failures being declared points that are malformed or outside the domain.

    Raises nothing; an op whose forward raises a non-numeric error at a grid
    point simply has that point left out (``check_op`` reports the error).

    >>> from graphdsl.ops.builtin import Log
    >>> sample_points(Log())[0]
    [(0.3,), (0.7,), (1.3,), (2.9,)]
    """
    raw = unwrap(op)
    n = op.arity
    declared = getattr(raw, "sample_points", None)
    failures: list[Failure] = []
    if declared is not None:
        points = []
        try:
            items = list(declared)
        except TypeError:
            items = None
        for item in items or ():
            p = (item,) if n == 1 and not isinstance(item, (tuple, list)) else item
            try:
                p = tuple(float(v) for v in p)
            except (TypeError, ValueError):
                p = None
            if p is None or len(p) != n:
                failures.append(Failure(op.name, "sample points",
                                        f"{op.name}: sample point {item!r} is not {n} number(s)"))
                continue
            try:
                inside = _inside(raw, p)
            except (Exception, SystemExit):  # reported by check_op when it evaluates the point
                inside = True
            if not inside:
                failures.append(Failure(
                    op.name, "sample points",
                    f"{op.name}: its own sample point ({_at(operand_names(op), p)}) is outside "
                    f"its domain (domain() objects or forward is not finite)", point=p))
                continue
            points.append(p)
        if items is None or (not points and not failures):
            failures.append(Failure(op.name, "sample points",
                                    f"{op.name}: sample_points must be a sequence of points, "
                                    f"got {declared!r}"))
        return points, failures
    if n == 0:
        candidates = [()]
    elif n == 1:
        candidates = [(v,) for v in GRID]
    elif n == 2:
        candidates = [(a, b) for a in GRID for b in GRID]
    else:
        rng = random.Random(n)  # fixed seed: the same points every run
        candidates = [tuple(rng.choice(GRID) for _ in range(n)) for _ in range(200)]
    inside = []
    for p in candidates:
        try:
            if _inside(raw, p):
                inside.append(p)
        except (Exception, SystemExit):  # a bug, not a domain: check_op reports it
            continue
    if len(inside) > limit:
        step = (len(inside) - 1) / (limit - 1)
        inside = [inside[round(k * step)] for k in range(limit)]
    return inside, failures


def _diff(f, point, i):
    """Central differences of f along operand i at h and h/2, and their
    Richardson extrapolation; None if a shifted point leaves the domain."""
    x = point[i]
    h = STEP * max(1.0, abs(x))

    def central(step):
        up = list(point)
        down = list(point)
        up[i] = x + step
        down[i] = x - step
        return (f(*up) - f(*down)) / (2 * step)

    try:
        d1, d2 = central(h), central(h / 2)
    except NUMERIC_ERRORS:
        return None
    if not (math.isfinite(d1) and math.isfinite(d2)):
        return None
    return d1, d2, (4 * d2 - d1) / 3


def check_op(op: Op, origin: str = "", *, points=None, rel_tol: float = REL_TOL,
             abs_tol: float = ABS_TOL, use_sympy: bool = True) -> Report:
    """Check one op (class instance, registered or not); returns a :class:`Report`.

    ``points`` overrides where it is tested. Raises nothing for a faulty op:
    everything it gets wrong is a :class:`Failure` in the report.

    >>> from graphdsl.ops import Op
    >>> class Gaussian(Op):                      # exp(-x²) with a sign lost
    ...     name, arity = "gaussian", 1
    ...     def forward(self, x): return math.exp(-x * x)
    ...     def partials(self, x, out): return (2 * x * out,)
    >>> r = check_op(Gaussian())
    >>> r.ok, r.failures[0].check, r.failures[0].point
    (False, 'finite differences', (-2.3,))
    """
    raw = unwrap(op)
    name = getattr(op, "name", "?")
    report = Report(name, origin, getattr(op, "arity", -1))
    fail = report.failures.append

    # 1. arity: the methods take what the arity says (the registry's own test)
    try:
        instantiate(raw, origin or "the check")
    except PluginError as e:
        fail(Failure(name, "arity", f"{name}: {e.message}"))
        return report
    report.checks.append("arity")
    names = operand_names(op)

    if points is None:
        pts, bad = sample_points(raw)
        report.failures.extend(bad)
    else:
        pts = [tuple(float(v) for v in (p if isinstance(p, (tuple, list)) else (p,)))
               for p in points]
    if not pts:
        if not report.failures:
            fail(Failure(name, "sample points",
                         f"{name}: no point of the test grid is inside its domain",
                         ))
            report.notes.append("declare `sample_points = ((x, ...), ...)` on the op")
        return report

    # 2. value and partials at each point, called three times (determinism)
    evaluated = []
    for p in pts:
        at = _at(names, p)
        try:
            outs = [raw.forward(*p) for _ in range(3)]
            out = outs[0]
            parts = [raw.partials(*p, out) for _ in range(3)]
        except (Exception, SystemExit) as e:  # the op's own bug, reported with the point
            fail(Failure(name, "error", f"{name} at ({at}): raised {type(e).__name__}: {e}", point=p))
            continue
        if not _finite_number(out):
            fail(Failure(name, "error", f"{name} at ({at}): forward gives {out!r}, not a finite number",
                         point=p))
            continue
        try:
            count = len(parts[0])
        except TypeError:
            fail(Failure(name, "partials count",
                         f"{name} at ({at}): partials returned {parts[0]!r}, not a tuple", point=p))
            continue
        if count != op.arity:
            fail(Failure(name, "partials count",
                         f"{name} at ({at}): partials returned {count} value{'s' if count != 1 else ''} "
                         f"for {op.arity} operand{'s' if op.arity != 1 else ''}", point=p))
            continue
        ps = tuple(parts[0])
        if not all(_finite_number(d) for d in ps):
            fail(Failure(name, "error", f"{name} at ({at}): partials gives {ps!r}, not finite numbers",
                         point=p))
            continue
        if not all(_same(o, out) for o in outs) or not all(
                len(q) == count and all(_same(a, b) for a, b in zip(q, ps)) for q in parts):
            seen = outs if not all(_same(o, out) for o in outs) else [tuple(q) for q in parts]
            what = "forward" if seen is outs else "partials"
            fail(Failure(name, "determinism",
                         f"{name} at ({at}): {what} is not deterministic: three calls gave "
                         + ", ".join(_fmt(v) if isinstance(v, float) else repr(v) for v in seen),
                         point=p))
            continue
        evaluated.append((p, float(out), tuple(float(d) for d in ps)))
    report.checks.append("determinism")
    report.points = [p for p, _o, _d in evaluated]

    # 3. finite differences
    rough = 0
    refs = {}  # (point, operand) -> the finite difference, where there is one
    for p, out, ps in evaluated:
        for i, d in enumerate(ps):
            fd = _diff(raw.forward, p, i)
            if fd is None:
                report.notes.append(f"({_at(names, p)}): the step for ∂/∂{names[i]} leaves the domain")
                continue
            d1, d2, ref = fd
            if abs(d1 - d2) > 1e-3 * max(1.0, abs(ref)):
                rough += 1  # a kink or a pole within the step: no reference here
                continue
            refs[(p, i)] = ref
            if not _close(d, ref, out, rel_tol, abs_tol):
                fail(_disagree(name, "finite differences", "central finite differences give",
                               names, p, i, ref, d))
    if rough:
        report.notes.append(f"{rough} partial(s) not compared: forward is not smooth within the step")
    report.checks.append("finite differences")

    # 4. the other forms: templates, numpy
    if evaluated:
        _check_forms(raw, name, names, evaluated, refs, report, rel_tol, abs_tol)

    # 5. sympy, where the op has a symbolic form
    if use_sympy and evaluated:
        _check_sympy(raw, name, names, evaluated, report, rel_tol, abs_tol)
    return report


def _disagree(name, check, how, names, p, i, expected, got, form="partials") -> Failure:
    off = abs(got - expected)
    rel = off / max(abs(expected), abs(got), 1e-300)
    return Failure(
        name, check,
        f"{name}: ∂/∂{names[i]} at ({_at(names, p)}): {form} gives {_fmt(got)}, "
        f"{how} {_fmt(expected)} — off by {_fmt(off)} (relative {_fmt(rel)})",
        point=p, operand=names[i], expected=expected, got=got)


def _check_forms(raw, name, names, evaluated, refs, report, rel_tol, abs_tol):
    """Templates and numpy forms against forward, and their partials against the
    finite differences (or against ``partials`` where there is none)."""
    fail = report.failures.append
    try:
        f = forms.of(raw)
    except forms.TemplateError as e:  # instantiate() said so already; kept for safety
        fail(Failure(name, "template", f"{name}: {e}"))
        return
    # (check, label of the value's form, value function, label of partial i, partials
    # function, over arrays, compared with the template rather than forward)
    candidates = []
    if f is not None:
        params = [f"_x{i}" for i in range(raw.arity)]
        fw = f.method("forward", params, "template") if f.forward is not None else None
        bw = f.method("partials", params, "template") if f.partials is not None else None
        candidates.append((
            "template", f"the template py_forward {f.text_forward!r}",
            (lambda *p: fw(None, *p)) if fw else None,
            lambda i: f"the template py_partials[{i}] {f.text_partials[i]!r}",
            (lambda *p: bw(None, *p)) if bw else None, False, False))
    own_f = forms.applicable(raw, "np_forward", "forward")
    own_p = forms.applicable(raw, "np_partials", "partials")
    if (own_f is not None or own_p is not None or f is not None) and raw.arity > 0:
        import importlib.util

        if importlib.util.find_spec("numpy") is None:
            report.notes.append("numpy is not installed: numpy forms not checked")
        else:
            if own_f is not None or own_p is not None:
                candidates.append(("numpy", "np_forward", own_f, lambda i: f"np_partials[{i}]",
                                   own_p, True, False))
            if f is not None:
                # made from the templates: held to them, so a wrong template is blamed once
                dfw, dbw = forms.numpy_forms(raw)
                candidates.append(("numpy", "the numpy code made from py_forward", dfw,
                                   lambda i: f"the numpy code made from py_partials[{i}]", dbw,
                                   True, True))
    template = None
    for check, value_label, value_fn, partial_label, partials_fn, arrays, to_template in candidates:
        if check not in report.checks:
            report.checks.append(check)
        if arrays:
            got = _on_arrays(name, value_label, value_fn, partial_label, partials_fn,
                             evaluated, raw.arity, fail)
        else:
            got = template = _at_points(name, names, value_label, value_fn, partial_label,
                                        partials_fn, evaluated, fail)
        for k, ((p, out, ps), (value, partials)) in enumerate(zip(evaluated, got)):
            at = _at(names, p)
            want, said = out, "forward gives"
            if to_template:
                want, said = template[k][0], "the template gives"
            if value is not None and want is not None and not _close(value, want, out,
                                                                     FORM_REL_TOL, abs_tol):
                fail(Failure(name, check, f"{name} at ({at}): {value_label} gives {_fmt(value)}, "
                                          f"{said} {_fmt(want)}", point=p, expected=want,
                             got=value))
            for i, d in enumerate(partials or ()):
                ref = refs.get((p, i))
                if to_template:
                    ref = template[k][1][i] if template[k][1] is not None else None
                    how, tol = "the template gives", FORM_REL_TOL
                elif ref is not None:
                    how, tol = "central finite differences give", rel_tol
                else:
                    ref, how, tol = ps[i], "partials gives", FORM_REL_TOL
                if ref is not None and not _close(d, ref, out, tol, abs_tol):
                    fail(_disagree(name, check, how, names, p, i, ref, d, form=partial_label(i)))


def _at_points(name, names, value_label, value_fn, partial_label, partials_fn, evaluated, fail):
    """(value, partials) of a scalar form at each point; None where it is missing or fails."""
    got = []
    for p, out, _ps in evaluated:
        at = _at(names, p)
        value = partials = None
        if value_fn is not None:
            try:
                value = float(value_fn(*p))
            except (Exception, SystemExit) as e:  # the form's own bug, reported with the point
                fail(Failure(name, "template", f"{name} at ({at}): {value_label} raised "
                                               f"{type(e).__name__}: {e}", point=p))
        if partials_fn is not None:
            try:
                partials = [float(d) for d in partials_fn(*p, out)]
            except (Exception, SystemExit) as e:  # the form's own bug, reported with the point
                fail(Failure(name, "template", f"{name} at ({at}): the template py_partials "
                                               f"raised {type(e).__name__}: {e}", point=p))
        got.append((value, partials))
    return got


def _on_arrays(name, value_label, value_fn, partial_label, partials_fn, evaluated, arity, fail):
    """(value, partials) at each point from one call of a numpy form over all
    the points; None where it is missing, fails or has the wrong shape."""
    import numpy as np

    n = len(evaluated)
    cols = [np.array([p[i] for p, _o, _d in evaluated]) for i in range(arity)]
    outs = np.array([o for _p, o, _d in evaluated])
    values = [None] * n
    partials = [None] * n

    def shaped(r):
        try:
            a = np.asarray(r, dtype=float)
            return np.broadcast_to(a, (n,)) if a.shape in ((n,), ()) else None
        except (TypeError, ValueError):
            return None

    with np.errstate(all="ignore"):
        if value_fn is not None:
            try:
                v = shaped(value_fn(*cols))
                if v is None:
                    fail(Failure(name, "numpy", f"{name}: {value_label} over {n} points does not "
                                                f"give {n} numbers"))
                else:
                    values = [float(x) for x in v]
            except (Exception, SystemExit) as e:  # the form's own bug
                fail(Failure(name, "numpy", f"{name}: {value_label} raised {type(e).__name__}: {e}"))
        if partials_fn is not None:
            label = partial_label(0).split("[")[0]
            try:
                r = partials_fn(*cols, outs)
                ds = [shaped(d) for d in r] if len(r) == arity else None
                if ds is None or any(d is None for d in ds):
                    fail(Failure(name, "numpy", f"{name}: {label} over {n} points does not give "
                                                f"{arity} partial{'s' if arity != 1 else ''} of "
                                                f"{n} numbers"))
                else:
                    partials = [[float(d[k]) for d in ds] for k in range(n)]
            except (Exception, SystemExit) as e:  # the form's own bug
                fail(Failure(name, "numpy", f"{name}: {label} raised {type(e).__name__}: {e}"))
    return list(zip(values, partials))


def _sympy_form(raw: Op, names):
    """(sympy module, symbols, expression), or None when the op has no form;
    raises whatever the op's ``sympy`` raises besides NotImplementedError."""
    try:
        import sympy as sp
    except ImportError:
        return None
    syms = [sp.Symbol(n, real=True) for n in names]
    try:
        expr = raw.sympy(*syms)
    except NotImplementedError:
        return None
    return sp, syms, sp.sympify(expr)


def _sympy_number(sp, expr, syms, point) -> float | None:
    v = expr.xreplace({s: sp.Float(x, 30) for s, x in zip(syms, point)}).evalf(30)
    try:
        c = complex(v)
    except (TypeError, ValueError):
        return None
    if c.imag != 0 or not math.isfinite(c.real):
        return None
    return c.real


def _check_sympy(raw, name, names, evaluated, report, rel_tol, abs_tol):
    fail = report.failures.append
    try:
        form = _sympy_form(raw, names)
    except (Exception, SystemExit) as e:  # the op's own sympy() is broken
        fail(Failure(name, "sympy", f"{name}: sympy() raised {type(e).__name__}: {e}"))
        return
    if form is None:
        import importlib.util

        report.notes.append("no sympy form: symbolic check skipped"
                            if importlib.util.find_spec("sympy") is not None
                            else "sympy is not installed: symbolic check skipped")
        return
    sp, syms, expr = form
    try:
        derivs = [sp.diff(expr, s) for s in syms]
    except (Exception, SystemExit) as e:  # sympy cannot differentiate the form
        fail(Failure(name, "sympy", f"{name}: sympy cannot differentiate {expr}: {e}"))
        return
    report.checks.append("sympy")
    for p, out, ps in evaluated:
        try:
            value = _sympy_number(sp, expr, syms, p)
            refs = [_sympy_number(sp, d, syms, p) for d in derivs]
        except (Exception, SystemExit) as e:  # sympy cannot evaluate the op's form there
            fail(Failure(name, "sympy", f"{name} at ({_at(names, p)}): sympy cannot evaluate "
                                        f"{expr}: {type(e).__name__}: {e}", point=p))
            continue
        if value is None or not _close(out, value, out, rel_tol, abs_tol):
            fail(Failure(name, "sympy value",
                         f"{name} at ({_at(names, p)}): forward gives {_fmt(out)} but its sympy form "
                         f"{expr} gives {_fmt(value) if value is not None else 'no real number'}",
                         point=p, expected=value, got=out))
            continue
        for i, (d, ref) in enumerate(zip(derivs, refs)):
            if ref is None:
                report.notes.append(f"({_at(names, p)}): sympy's ∂/∂{names[i]} is not a real number")
                continue
            if not _close(ps[i], ref, out, rel_tol, abs_tol):
                fail(_disagree(name, "sympy", f"sympy's derivative {_text(sp, d)} gives",
                               names, p, i, ref, ps[i]))


def _text(sp, expr) -> str:
    return sp.sstr(sp.powsimp(expr)).replace("**", "^")


def derivative_rule(op: Op) -> str | None:
    """The op's local derivatives as text, e.g. "∂/∂a = b; ∂/∂b = a" for mul:
    from its sympy form when sympy is installed, else its ``rule``; None if
    neither is known.

    >>> from graphdsl.ops.builtin import Mul
    >>> derivative_rule(Mul())
    '∂/∂a = b; ∂/∂b = a'
    """
    raw = unwrap(op)
    names = operand_names(op)
    try:
        form = _sympy_form(raw, names)
    except (Exception, SystemExit):  # a broken sympy() falls back to the op's own words
        form = None
    if form is not None:
        sp, syms, expr = form
        try:
            return "; ".join(f"∂/∂{n} = {_text(sp, sp.diff(expr, s))}" for n, s in zip(names, syms))
        except (Exception, SystemExit):  # sympy could not differentiate it: use the op's words
            pass
    rule = getattr(raw, "rule", None)
    return str(rule) if rule else None
