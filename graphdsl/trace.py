"""A run's trace: plain data that the table, the JSON, the pictures and the
HTML report all walk.

>>> t = Trace(model="m.bp", output="z", target=None, method=None, params=["w"])
>>> t.iterations.append(Iteration(0, {"w": 1.0, "z": 2.0}, None, {"w": 2.0, "z": 1.0}))
>>> t.to_json()["iterations"][0]["values"]
{'w': 1.0, 'z': 2.0}
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .i18n import reason_text


@dataclass(frozen=True)
class Reason:
    """Why a run ended, or why a param skipped a step, as data: a ``code`` and
    the numbers and names its sentence needs. The words are chosen where they
    are printed, in the reader's language: :func:`graphdsl.i18n.reason_text`.

    Codes of a run's end (``Trace.stop``): ``reached`` (|error| < tol),
    ``evaluated`` (no target), ``below`` (the output fell below --stop-below),
    ``gradient-small`` (--minimize: every |∂out/∂p| < tol), ``max-iter`` and
    ``max-iter-minimize``, ``diverging`` and ``diverging-gd``,
    ``zero-partials`` (every partial is 0), ``infinite-step`` and
    ``infinite-step-minimize``, ``numeric`` (an op failed; ``detail`` is the
    engine's message) and ``stalled`` (the run came back to params it had
    already had: it would go round for ever). A skipped param's code is
    ``zero-partial``.

    >>> r = Reason("below", {"out": "J", "value": 0.04, "limit": 0.05})
    >>> reason_text(r, "en"), reason_text(r, "zh")
    ('J = 0.04 is below 0.05', 'J = 0.04 低于 0.05')
    """

    code: str
    fields: dict = field(default_factory=dict)

    def text(self, lang: str = "en") -> str | None:
        """The sentence in ``lang``; None for the codes that need none."""
        return reason_text(self, lang)


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
    skipped: dict[str, Reason] = field(default_factory=dict)

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
            d["skipped"] = {p: why.text("en") for p, why in self.skipped.items()}
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
    #: why the run ended, as data (see :class:`Reason`)
    stop: Reason | None = None
    failure: Exception | None = None
    minimize: bool = False
    lr: float | None = None
    tol: float | None = None

    @property
    def message(self) -> str | None:
        """Why the run ended, in English (the JSON's ``message``); None when the
        status says it all."""
        return self.stop.text("en") if self.stop is not None else None

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
        """The ``run --json`` object README's JSON section describes."""
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


@dataclass
class Epoch:
    """One row of a fit: the state after ``epoch`` epochs (0 is the start),
    measured on the whole data set: the loss, the single-number named nodes'
    values (params first) and ∂loss/∂node, each summed over the samples."""

    epoch: int
    loss: float
    values: dict[str, float]
    gradients: dict[str, float]

    def to_json(self) -> dict:
        return {"epoch": self.epoch, "loss": self.loss, "values": dict(self.values),
                "gradients": dict(self.gradients)}


@dataclass
class FitTrace:
    """Everything a fit did, in order: plain data that the table, the JSON and
    the plot walk. ``status`` is ``"converged"`` (the largest full-data
    |∂loss/∂param| fell below ``tol``), ``"max-epochs"`` or ``"numeric"`` (a
    value or derivative stopped being a finite number; ``failure`` holds the
    error the CLI prints, exit 1). ``stop`` says why it ended as a
    :class:`Reason`: ``gradient-small``, ``max-epochs``, ``numeric-epoch`` or
    ``numeric-step`` (the engine's message ``detail`` and where).

    >>> t = FitTrace(model="m.bp", output="loss", params=["w"], optimizer="sgd", lr=0.1,
    ...              batch_size=4, samples=4, seed=0, tol=1e-6)
    >>> t.epochs.append(Epoch(0, 2.5, {"w": 0.0, "loss": 2.5}, {"w": -5.0, "loss": 1.0}))
    >>> t.to_json()["result"]
    {'values': {'w': 0.0, 'loss': 2.5}, 'loss': 2.5, 'epochs': 0}
    """

    model: str
    output: str
    params: list[str]
    optimizer: str
    lr: float
    batch_size: int
    samples: int
    seed: int
    tol: float
    data: str | None = None
    epochs: list[Epoch] = field(default_factory=list)
    converged: bool = False
    status: str = "max-epochs"
    #: why the fit ended, as data (see :class:`Reason`)
    stop: Reason | None = None
    failure: Exception | None = None
    #: mini-batch steps taken in all
    steps: int = 0

    @property
    def message(self) -> str | None:
        """Why the fit ended, in English (the JSON's ``message``)."""
        return self.stop.text("en") if self.stop is not None else None

    @property
    def last(self) -> Epoch | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def ok(self) -> bool:
        """True when the fit converged."""
        return self.status == "converged"

    def result(self) -> dict:
        last = self.last
        if last is None:
            return {"values": {}, "loss": None, "epochs": 0}
        values = {p: last.values[p] for p in self.params}
        values[self.output] = last.loss
        return {"values": values, "loss": last.loss, "epochs": last.epoch}

    def to_json(self) -> dict:
        """``graphdsl fit --json``: the shape of ``run --json``, with ``epochs``
        for ``iterations`` and the fit's settings."""
        d = {
            "model": self.model,
            "output": self.output,
            "target": None,
            "method": self.optimizer,
            "params": list(self.params),
            "data": self.data,
            "samples": self.samples,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "tol": self.tol,
            "converged": self.converged,
            "epochs": [e.to_json() for e in self.epochs],
            "result": self.result(),
            "status": self.status,
        }
        if self.message:
            d["message"] = self.message
        return d

    def _repr_html_(self) -> str:
        """Jupyter's view: the fit's table and its loss plot (see
        :func:`graphdsl.notebook.fit_html`)."""
        from .notebook import fit_html

        return fit_html(self)

    def __repr__(self) -> str:
        r = self.result()
        vals = ", ".join(f"{k}={v:.6g}" for k, v in r["values"].items())
        return f"<FitTrace {self.model}: {self.status} after {r['epochs']} epoch(s), {vals}>"


def evenly_spaced(n: int, limit: int) -> list[int]:
    """At most ``limit`` rows of range(n), evenly spaced, first and last kept:
    which iterations a report draws, which epochs a fit's plot shows.

    >>> evenly_spaced(5, 10), evenly_spaced(10, 4), evenly_spaced(101, 5)
    ([0, 1, 2, 3, 4], [0, 3, 6, 9], [0, 25, 50, 75, 100])
    """
    if n <= limit:
        return list(range(n))
    if limit <= 1:
        return [0][:limit]
    return sorted({round(k * (n - 1) / (limit - 1)) for k in range(limit)})
