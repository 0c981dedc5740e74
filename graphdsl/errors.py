"""One error tree for graphdsl.

Every mistake a user can make (in a model file, on the command line, in a
plugin) and every numeric failure during a run is raised as a subclass of
:class:`GraphdslError`. The error carries structured fields (file, line,
column, the source line, a hint) and builds its message in ``__str__``, so the
CLI can print it and pick the exit code without knowing which kind it is.

>>> e = ModelError("undefined name 'q'", line=1, column=5, source="x = q + 1",
...                file="m.bp", hint="define q first")
>>> print(e)                                    # doctest: +NORMALIZE_WHITESPACE
error: undefined name 'q'
  --> m.bp:1:5
   |
 1 | x = q + 1
   |     ^
   = help: define q first
"""

from __future__ import annotations

from . import text


#: what an op's arithmetic raises for a value outside its domain (math.log(0),
#: 1/0, an overflow, a complex result used as a float): caught where a value or
#: a partial is computed and turned into a NumericError or an inf/nan
NUMERIC_ERRORS = (ValueError, ZeroDivisionError, OverflowError, TypeError)


class GraphdslError(Exception):
    """Root of every error graphdsl reports to a user.

    ``exit_code`` follows the contract: 2 for a wrong model or command line,
    1 for a run that failed numerically or a render that could not finish.
    """

    exit_code = 2
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        source: str | None = None,
        hint: str | None = None,
        width: int = 1,
        notes: list[str] | tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.width = max(1, width)
        self.hint = hint
        self.notes = list(notes)
        # ``source`` may be the whole text or just the offending line.
        self.source_line = _line_of(source, line) if source is not None else None

    def with_file(self, file: str | None, source: str | None = None) -> "GraphdslError":
        """Attach the file name (and the text, for the caret) if not known yet."""
        if self.file is None:
            self.file = file
        if self.source_line is None and source is not None and self.line is not None:
            self.source_line = _line_of(source, self.line)
        return self

    def location(self) -> str | None:
        """``file:line:column`` as far as it is known, else None."""
        if self.file is None and self.line is None:
            return None
        parts = [self.file or "<model>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        out = [f"{self.kind}: {self.message}"]
        loc = self.location()
        if loc:
            out.append(f"  --> {loc}")
        if self.source_line is not None and self.line is not None:
            num = str(self.line)
            pad = " " * len(num)
            shown, col = _clip(self.source_line, self.column)
            out.append(f" {pad} |")
            out.append(f" {num} | {shown}")
            if col is not None:
                # the caret goes under the character: wide (CJK) characters take two cells
                indent = text.width(shown[:col - 1])
                width = min(self.width, 80, max(1, len(shown) - col + 1))
                under = text.width(shown[col - 1:col - 1 + width]) or 1
                out.append(f" {pad} | " + " " * indent + "^" * under)
        for note in self.notes:
            out.append(f"   = note: {note}")
        if self.hint:
            out.append(f"   = help: {self.hint}")
        return "\n".join(out)


def _line_of(source: str, line: int | None) -> str | None:
    if line is None:
        return source if "\n" not in source else None
    lines = source.split("\n")
    if len(lines) == 1:
        return lines[0]
    if 1 <= line <= len(lines):
        return lines[line - 1].rstrip("\r")
    return None


def _printable(ch: str) -> str:
    # control and invisible characters would move the terminal's cursor or hide
    # the caret's target: show each as one visible replacement cell instead
    if ch == "\t":
        return " "
    if ch.isprintable() or ch == " ":
        return ch
    return "\ufffd"


def _clip(text: str, column: int | None, limit: int = 100) -> tuple[str, int | None]:
    """Show at most ``limit`` characters of a long line around the column,
    with control characters made visible (one cell each, so the caret stays put)."""
    text = "".join(map(_printable, text))
    if len(text) <= limit:
        return text, column
    col = column or 1
    start = max(0, min(col - limit // 2, len(text) - limit))
    shown = text[start:start + limit]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + limit < len(text) else ""
    return prefix + shown + suffix, (col - start + len(prefix)) if column else None


class ModelSyntaxError(GraphdslError):
    """The text of a model is not valid ``.bp`` syntax."""

    kind = "syntax error"


class ModelError(GraphdslError):
    """The model parses but does not make sense (undefined name, cycle, ...)."""


class UsageError(GraphdslError):
    """The command line (or an API call) asks for something that cannot be done."""


class PluginError(GraphdslError):
    """An op plugin could not be loaded or does not behave like an op."""


class ModelWarning(GraphdslError):
    """Something a model may say but probably does not mean (two names that
    look alike). Never raised: loading collects them in ``Model.warnings``, and
    the command line prints them on stderr."""

    exit_code = 0
    kind = "warning"


class NumericError(GraphdslError):
    """A run failed numerically: a value outside an op's domain, NaN, infinity,
    a zero partial, divergence."""

    exit_code = 1
    kind = "numeric error"


class RenderError(GraphdslError):
    """A picture could not be produced (for instance, graphviz's ``dot`` is missing)."""

    exit_code = 1
