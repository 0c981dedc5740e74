"""Forward mode beside reverse mode: what each costs on a model.

Reverse mode (``Model.gradients``) gets ∂output/∂p for every param p in one
backward pass. Forward mode (``Model.tangents``) gets ∂node/∂p for one param
p per pass, so it needs one pass per param. This module counts the work of
each on a given model, in multiply-adds: one per operand edge j → k that a
pass must cross, ``dk += ∂k/∂j · dj`` going forwards or ``adj_j += adj_k ·
∂k/∂j`` going backwards. A pass crosses an edge when the edge lies on a path
from its seed to its target: forward mode from p crosses the edges whose
operand depends on p and whose user leads to the target; reverse mode from a
target crosses the edges whose user leads to the target and whose operand
depends on some param. Number literals carry no derivative and are never
counted; neither is the value pass, which both modes need once.

A model has one output, so reverse mode needs one pass and forward mode one
per param. The comparison turns around when there are more outputs than
params. A ``.bp`` model cannot have several outputs, so :func:`cost` also
counts, for the Jacobian of the output's named inputs (``z = x*y``: x and y),
forward mode's passes (one per param, each giving every input's tangent)
against reverse mode's (one per input). With one param and many inputs,
forward mode is the cheap way there.

Counts are made over the compiled flat lists with bit sets, without
recursion.

>>> import graphdsl
>>> c = cost(graphdsl.load("models/linear.bp"))
>>> c.gradient.forward, c.gradient.reverse, c.gradient.cheaper
({'w': 3, 'b': 6}, {'z': 8}, 'reverse')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cost:
    """What it costs to differentiate ``targets`` with respect to ``params``.

    ``forward`` holds the multiply-adds of forward mode's pass from each param,
    ``reverse`` those of reverse mode's pass from each target.
    """

    params: tuple[str, ...]
    targets: tuple[str, ...]
    forward: dict[str, int]
    reverse: dict[str, int]

    @property
    def forward_passes(self) -> int:
        return len(self.params)

    @property
    def reverse_passes(self) -> int:
        return len(self.targets)

    @property
    def forward_total(self) -> int:
        return sum(self.forward.values())

    @property
    def reverse_total(self) -> int:
        return sum(self.reverse.values())

    @property
    def ratio(self) -> float | None:
        """Forward mode's multiply-adds over reverse mode's (None when reverse needs none)."""
        return self.forward_total / self.reverse_total if self.reverse_total else None

    @property
    def cheaper(self) -> str:
        """"reverse", "forward" or "same": the mode that needs fewer multiply-adds."""
        f, r = self.forward_total, self.reverse_total
        return "same" if f == r else "reverse" if r < f else "forward"

    def to_dict(self) -> dict:
        return {"params": list(self.params), "targets": list(self.targets),
                "forward": {"passes": self.forward_passes, "multiply_adds": dict(self.forward),
                            "total": self.forward_total},
                "reverse": {"passes": self.reverse_passes, "multiply_adds": dict(self.reverse),
                            "total": self.reverse_total},
                "ratio": self.ratio, "cheaper": self.cheaper}


@dataclass(frozen=True)
class CostCount:
    """The two comparisons :func:`cost` makes.

    ``gradient``: ∂output/∂p for every param (one target). ``jacobian``: ∂u/∂p
    for each named input u of the output's statement and every param, or None
    when that statement has fewer than two named inputs.
    """

    gradient: Cost
    jacobian: Cost | None

    def to_dict(self) -> dict:
        return {"gradient": self.gradient.to_dict(),
                "jacobian": self.jacobian.to_dict() if self.jacobian else None}


def output_inputs(model) -> list[str]:
    """The named nodes the output's statement reads, in the order it reads them
    (``z = x*y + x`` gives ``["x", "y"]``); empty when the output is a leaf.

    >>> import graphdsl
    >>> output_inputs(graphdsl.load("models/linear.bp"))
    ['x', 'y']
    """
    c = model.compiled
    names = c.flat.name
    start = c.output
    if c.ops[start] is None:
        return []
    seen: list[str] = []
    stack = list(reversed(c.args[start]))
    while stack:
        j = stack.pop()
        if names[j] is not None:
            if names[j] not in seen:
                seen.append(names[j])
        elif c.ops[j] is not None:
            stack.extend(reversed(c.args[j]))
    return seen


def cost(model) -> CostCount:
    """Count forward and reverse mode's multiply-adds on ``model`` (see the module doc).

    Raises nothing for a well-built model; a model with no params gives counts
    of zero.

    >>> import graphdsl
    >>> c = cost(graphdsl.load("models/linear.bp"))
    >>> c.jacobian.targets, c.jacobian.forward_total, c.jacobian.reverse_total
    (('x', 'y'), 6, 6)
    """
    c = model.compiled
    params = tuple(model.params)
    grad = _count(c, params, (model.output,))
    inputs = output_inputs(model)
    jac = _count(c, params, tuple(inputs)) if len(inputs) >= 2 else None
    return CostCount(grad, jac)


def _count(c, params: tuple[str, ...], targets: tuple[str, ...]) -> Cost:
    n = len(c.order)
    ops, args, index = c.ops, c.args, c.index
    # dep[k]: bit i set when node k depends on params[i] (or is it)
    dep = [0] * n
    for i, p in enumerate(params):
        dep[index[p]] |= 1 << i
    for k in range(n):
        if ops[k] is not None:
            d = 0
            for j in args[k]:
                d |= dep[j]
            dep[k] = d
    # reach[k]: bit t set when node k is targets[t] or leads to it
    reach = [0] * n
    for t, name in enumerate(targets):
        reach[index[name]] |= 1 << t
    for k in range(n - 1, -1, -1):
        r = reach[k]
        if r and ops[k] is not None:
            for j in args[k]:
                reach[j] |= r
    fwd = [0] * len(params)
    rev = [0] * len(targets)
    for k in range(n):
        r = reach[k]
        if not r or ops[k] is None:
            continue
        for j in args[k]:
            d = dep[j]
            if d:
                _add_bits(fwd, d)
                _add_bits(rev, r)
    return Cost(params, targets, dict(zip(params, fwd)), dict(zip(targets, rev)))


def _add_bits(counts: list[int], bits: int) -> None:
    """Add one to ``counts[i]`` for every bit i set in ``bits``."""
    while bits:
        low = bits & -bits
        counts[low.bit_length() - 1] += 1
        bits ^= low
