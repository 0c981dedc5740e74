"""A run's trace: plain data that the table, the JSON, the pictures and the
HTML report all walk.

>>> t = Trace(model="m.bp", output="z", target=None, method=None, params=["w"])
>>> t.iterations.append(Iteration(0, {"w": 1.0, "z": 2.0}, None, {"w": 2.0, "z": 1.0}))
>>> t.to_json()["iterations"][0]["values"]
{'w': 1.0, 'z': 2.0}
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Iteration:
    """One row of a run: the values and gradients before the step, and the step."""

    iteration: int
    values: dict[str, float]
    error: float | None
    gradients: dict[str, float]
    #: Δp subtracted from each adjusted param; None on the last iteration
    steps: dict[str, float] | None = None
    #: params that could not take a step this iteration (zero partial), with why
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        d = {
            "iteration": self.iteration,
            "values": dict(self.values),
            "error": self.error,
            "gradients": dict(self.gradients),
        }
        if self.steps is not None:
            d["steps"] = dict(self.steps)
        if self.skipped:
            d["skipped"] = dict(self.skipped)
        return d


@dataclass
class Trace:
    """Everything a run did, in order. ``status`` is one of ``"converged"``,
    ``"evaluated"`` (no target: one pass), ``"max-iter"``, ``"stopped"``
    (for instance every partial is zero), ``"diverging"`` or ``"numeric"``
    (a numeric failure). For every status but the first two, ``failure`` holds
    the one :class:`~graphdsl.errors.NumericError` the CLI prints (exit 1)."""

    model: str
    output: str
    target: float | None
    method: str | None
    params: list[str]
    iterations: list[Iteration] = field(default_factory=list)
    converged: bool = False
    status: str = "evaluated"
    message: str | None = None
    failure: Exception | None = None
    minimize: bool = False
    lr: float | None = None
    tol: float | None = None

    @property
    def last(self) -> Iteration | None:
        return self.iterations[-1] if self.iterations else None

    @property
    def ok(self) -> bool:
        """True when the run did what was asked (converged, or nothing to solve)."""
        return self.status in ("converged", "evaluated")

    def result(self) -> dict:
        last = self.last
        if last is None:
            return {"values": {}, "error": None, "iterations": 0}
        values = {p: last.values[p] for p in self.params}
        values[self.output] = last.values[self.output]
        # the number of rows (forward passes), as the contract's example counts them
        return {"values": values, "error": last.error, "iterations": len(self.iterations)}

    def to_json(self) -> dict:
        """The contract's ``run --json`` object (DESIGN.md §5)."""
        d = {
            "model": self.model,
            "output": self.output,
            "target": self.target,
            "method": self.method,
            "params": list(self.params),
            "converged": self.converged,
            "iterations": [it.to_json() for it in self.iterations],
            "result": self.result(),
        }
        d["status"] = self.status
        if self.message:
            d["message"] = self.message
        return d

    def _repr_html_(self) -> str:
        """Jupyter's view: the run's table and its plot (see
        :func:`graphdsl.notebook.trace_html`)."""
        from .notebook import trace_html

        return trace_html(self)

    def __repr__(self) -> str:
        r = self.result()
        vals = ", ".join(f"{k}={v:.6g}" for k, v in r["values"].items())
        return (f"<Trace {self.model}: {self.status} after {r['iterations']} "
                f"iteration(s), {vals}>")
