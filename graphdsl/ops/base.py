"""The one base class every op derives from, built-in or third-party.

An op says its name and arity, computes its value (``forward``) and its local
partial derivatives, one per operand (``partials``), side by side so they
cannot drift apart. Everything else is optional:

- ``symbol``: an infix symbol ("+", "*") when the op is written that way;
- ``label``: what a picture shows in the op's node (defaults to the symbol or name);
- ``domain(*args)``: a message when the operands are outside the op's domain,
  else None (log of a non-positive number is a clear error, not a NaN);
- ``sympy(*args)``: the op as a sympy expression, used for derivative rules in
  text and for checking the partials against sympy's derivative;
- ``rule``: the derivative rule in words, shown by ``graphdsl ops`` when the op
  gives no sympy form (or sympy is not installed);
- ``sample_points``: points (tuples of operands) where ``graphdsl ops --check``
  compares the partials with finite differences, for an op whose domain or
  kinks the default points would miss;
- ``py_forward``/``py_partials``: the value and the partials as templates
  (Python expressions over ``{0}``, ``{1}``... and ``{out}``; see
  :mod:`graphdsl.ops.forms`). The engine writes them into the code it
  generates and batch evaluation derives numpy code from them. An op that
  gives a template and not the method gets the method made from the
  template, so the built-in ops are written as templates only;
- ``np_forward``/``np_partials``: the value and the partials over numpy
  arrays, for an op whose arithmetic no template can say.

The smallest op:

>>> class Cube(Op):
...     name = "cube"
...     arity = 1
...     def forward(self, x):
...         return x ** 3
...     def partials(self, x, out):
...         return (3 * x * x,)
>>> Cube().forward(2.0), Cube().partials(2.0, 8.0)
(8.0, (12.0,))
"""

from __future__ import annotations


class Op:
    """Base class of all ops. Subclasses set ``name`` and ``arity`` and define
    ``forward`` and ``partials``."""

    name: str = ""
    arity: int = 1
    symbol: str | None = None
    label: str | None = None
    #: one-line description shown by ``graphdsl ops``
    doc: str | None = None
    #: the derivative rule as text, e.g. "d/dx = 3 x^2" (optional)
    rule: str | None = None
    #: where ``graphdsl ops --check`` tests the op, e.g. ((0.5,), (2.0,)) (optional)
    sample_points: tuple | None = None
    #: True for a reduction over the samples of a data model (``mean``, ``sum``):
    #: its operand has one value per sample, its result is one number,
    #: ``weight(n)`` times the sum of the operand over the n samples. ``forward``
    #: and ``partials`` then give its meaning for one sample.
    reduces: bool = False

    #: the operands' names, for messages and for the methods made from templates
    #: (default: x for one operand, a and b for two)
    operands: tuple[str, ...] | None = None

    # Optional forms. None means "not given": the engine then calls
    # ``forward``/``partials``, and batch evaluation loops over the samples.
    # ``graphdsl ops --check`` compares every form an op gives with the others.
    #: ``forward`` as a template: a Python expression over the operands ``{0}``,
    #: ``{1}``... that may call _exp _log _sqrt _sin _cos _tan _tanh _cosh _pow
    #: _abs _sigmoid _sech (see graphdsl.ops.forms). It must give what ``forward`` gives.
    py_forward: str | None = None
    #: ``partials`` as templates over ``{0}``... and ``{out}``, one per operand.
    py_partials: tuple[str, ...] | None = None
    #: ``np_forward(*arrays) -> array``: ``forward`` over numpy arrays (batch
    #: evaluation); not needed when the op has templates, which give one
    np_forward = None
    #: ``np_partials(*arrays, out) -> tuple of arrays``: ``partials`` over numpy arrays
    np_partials = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        from .forms import derive_methods

        derive_methods(cls)

    def forward(self, *args: float) -> float:
        raise NotImplementedError

    def partials(self, *args_and_out: float) -> tuple[float, ...]:
        """Local derivatives d(out)/d(arg_i); called as ``partials(*args, out)``."""
        raise NotImplementedError

    def weight(self, n: int) -> float:
        """A reduction's weight per sample: its result is ``weight(n) * Σ x_i`` over
        n samples, so ∂result/∂x_i = weight(n) (1/n for mean, 1 for sum)."""
        raise NotImplementedError

    def domain(self, *args: float) -> str | None:
        """A message if ``args`` are outside the op's domain, else None."""
        return None

    def sympy(self, *args):
        """The op applied to sympy expressions; ops without one raise NotImplementedError."""
        raise NotImplementedError

    def display(self) -> str:
        """The text a picture puts in this op's node."""
        return self.label or self.symbol or self.name

    def __repr__(self) -> str:
        return f"<op {self.name}/{self.arity}>"
