"""Progress of long work on a terminal: one line on stderr, redrawn in place,
with the share done and an estimate of the time left.

It draws only when its stream is a terminal (``isatty()``): in a pipe, a file,
a test's captured output or next to ``--json`` it writes nothing at all, so
no caller has to check. The line is erased when the work ends, so what the
command prints afterwards starts on a clean line.

This module imports nothing heavy (no tqdm, no rich: graphdsl's start-up
matters, and one redrawn line needs neither), and any module may use it; it
is the caller, not this module, that decides what work is counted.

>>> import io
>>> with progress(3, "report", io.StringIO()) as p:   # not a terminal: silent
...     for _ in range(3):
...         p.advance()
>>> p.done, p.enabled
(3, False)
"""

from __future__ import annotations

import os
import sys
import threading
import time

from .text import width

#: redraw at most this often (seconds): a terminal does not need more
MIN_REDRAW = 0.1
#: with nothing advancing, redraw this often so the time left keeps counting down
TICK = 1.0


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: '4 s', '2 min 05 s', '1 h 20 min'.

    >>> format_duration(4.2), format_duration(125), format_duration(4800)
    ('4 s', '2 min 05 s', '1 h 20 min')
    """
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def is_terminal(stream) -> bool:
    """True when ``stream`` is an interactive terminal that can redraw a line
    (not a pipe or file, not ``TERM=dumb``)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False
    return bool(tty) and os.environ.get("TERM") != "dumb"


class Progress:
    """The progress of one piece of work of ``total`` units (None: unknown).

    Use it through :func:`progress`. ``advance`` may be called from several
    threads. ``total`` and ``label`` may change while the work runs (a report
    learns how many pictures it will draw only once the run is known).
    """

    def __init__(self, total: int | None, label: str, stream=None, *, enabled: bool | None = None,
                 unit: str = ""):
        self.stream = sys.stderr if stream is None else stream
        self.enabled = is_terminal(self.stream) if enabled is None else enabled
        self.total = total
        self.label = label
        self.unit = unit
        self.done = 0
        self._lock = threading.Lock()
        self._start = self._last_draw = self._last_advance = time.monotonic()
        self._left_at_advance: float | None = None
        self._first: tuple[float, int] | None = None
        self._drawn = 0          # columns of the line on screen, to erase it
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- the API ---------------------------------------------------------------
    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done; redraws when it is time to."""
        with self._lock:
            now = time.monotonic()
            if self._first is None:
                # the pace is measured from the first step on: the time before
                # it (imports, reading the model) would spoil the estimate
                self._first = (now, self.done + n)
            self.done += n
            self._last_advance = now
            self._left_at_advance = self._estimate(now)
            if self.enabled and (now - self._last_draw >= MIN_REDRAW or self._finished()):
                self._draw(now)

    def start(self) -> "Progress":
        """Draw the first line and keep the clock running (called by ``with``)."""
        if self.enabled:
            with self._lock:
                self._draw(time.monotonic())
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def close(self) -> None:
        """Erase the line (called by ``with``); later output starts clean."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            if self.enabled and self._drawn:
                self._write("\r" + " " * self._drawn + "\r")
                self._drawn = 0

    def __enter__(self) -> "Progress":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- drawing ---------------------------------------------------------------
    def _finished(self) -> bool:
        return self.total is not None and self.done >= self.total

    def _estimate(self, now: float) -> float | None:
        """Seconds left, from the pace since the first step (its time often
        includes one-off work), or, while there is only one, from the pace
        since the start when that step is a fair share (2%) of the work. None
        until the pace is known: the steps after the first must make 2% of the
        work or take a second."""
        if not self.total or self._first is None:
            return None
        t0, done0 = self._first
        counted = self.done - done0
        remaining = max(0, self.total - self.done)
        if counted > 0 and (counted >= 0.02 * self.total or now - t0 >= 1.0):
            return (now - t0) / counted * remaining
        if counted == 0 and done0 >= 0.02 * self.total:
            return (t0 - self._start) / done0 * remaining
        return None

    def left(self, now: float | None = None) -> float | None:
        """Seconds the work still needs, by the pace so far (None until it is
        known); between steps it counts down with the clock."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._left_at_advance is None or self.total is None or self.done >= self.total:
                return None
            return max(0.0, self._left_at_advance - (now - self._last_advance))

    def line(self, now: float | None = None) -> str:
        """The text of the progress line at ``now`` (monotonic seconds).

        >>> p = Progress(4, "frames", enabled=False, unit="pictures")
        >>> p.line(p._start)
        'frames   0% [                    ] 0/4 pictures · 0 s'
        """
        now = time.monotonic() if now is None else now
        elapsed = now - self._start
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            share = min(1.0, self.done / self.total)
            bar = "#" * int(share * 20)
            text = f"{self.label} {int(share * 100):3d}% [{bar:<20}]"
            if self.unit:
                text += f" {self.done:,}/{self.total:,}{unit}"
            text += f" · {format_duration(elapsed)}"
            if self._left_at_advance is not None and self.done < self.total:
                # between advances the estimate counts down with the clock
                left = max(1.0, self._left_at_advance - (now - self._last_advance))
                text += f" · about {format_duration(left)} left"
        else:
            text = f"{self.label} {self.done:,}{unit} done · {format_duration(elapsed)}"
        return text

    def _draw(self, now: float) -> None:
        text = self.line(now)
        columns = _columns(self.stream) - 1   # the last column would wrap on some terminals
        while width(text) > columns and len(text) > 1:
            text = text[:-1]
        self._write("\r" + text + " " * max(0, self._drawn - width(text)))
        self._drawn = max(self._drawn, width(text))
        self._last_draw = now

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: the work goes on
            self.enabled = False

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                if self.enabled:
                    self._draw(time.monotonic())


def _columns(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def progress(total: int | None, label: str, stream=None, *, enabled: bool | None = None,
             unit: str = "") -> Progress:
    """A :class:`Progress` for ``with``: ``with progress(n, "report") as p: p.advance()``.

    ``stream`` defaults to ``sys.stderr``; ``enabled`` defaults to whether it
    is a terminal. ``unit`` names what is counted ("ops"). Raises nothing;
    a stream that fails turns the line off.

    >>> import io
    >>> s = io.StringIO()
    >>> with progress(2, "frames", s, enabled=True) as p:
    ...     p.advance(2)
    >>> "frames 100% [####################] · 0 s" in s.getvalue()
    True
    """
    return Progress(total, label, stream, enabled=enabled, unit=unit)
