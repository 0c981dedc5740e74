"""Small text helpers every layer uses: numbers as the seed prints them, names
short enough for a message, did-you-mean suggestions, terminal widths and
plain aligned tables.

This module imports nothing from graphdsl, so any module may use it.

>>> format_number(162.0), format_number(3.8059371), format_number(150.0000443)
('162', '3.805937', '150.0000')
>>> did_you_mean("W", ["w", "b"])
"did you mean 'w'?"
>>> width("学习率"), width("w")
(6, 1)
"""

from __future__ import annotations

import math


def format_number(v: float, digits: int = 7) -> str:
    """A number short but exact enough to follow the seed: 18, 9, 63, 150.2177.

    A value that rounds to a whole number without being one keeps its decimals
    visible (150.0000), so a learner never mistakes a near miss for a hit.
    """
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.{digits}g}"
    if "." not in text and "e" not in text and "inf" not in text:
        text = f"{v:.{max(1, digits - len(text.lstrip('-')))}f}"
    return text


def shorten(name: str, limit: int = 40) -> str:
    """A name short enough for a message (a 1 MB name stays readable)."""
    return name if len(name) <= limit else name[:limit - 3] + "..."


def close_names(name: str, candidates, n: int = 3) -> list[str]:
    """The closest names, ignoring case first (W -> w), then by spelling."""
    import difflib   # here, not at the top: only a message needs it, and every command imports text

    cands = [c for c in candidates if abs(len(c) - len(name)) <= 3]
    if len(cands) > 20000:  # a huge model: compare only names with the same first letter
        first = name[:1].lower()
        cands = [c for c in cands if c[:1].lower() == first]
    found = [c for c in cands if c.lower() == name.lower() and c != name]
    found += difflib.get_close_matches(name, cands, n=n, cutoff=0.6)
    lowered = {c.lower(): c for c in cands}
    found += [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered),
                                                             n=n, cutoff=0.6)]
    out = []
    for c in found:
        if c not in out and c != name:
            out.append(c)
    return out[:n]


def did_you_mean(name: str, candidates) -> str | None:
    """"did you mean 'w'?" for the closest candidates, or None when none is close."""
    close = close_names(name, candidates)
    if not close:
        return None
    return "did you mean " + " or ".join(f"'{shorten(c)}'" for c in close) + "?"


def width(text: str) -> int:
    """Columns a terminal gives ``text``: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, cells: int, right: bool) -> str:
    """``text`` filled with spaces to ``cells`` terminal columns, on the left when ``right``."""
    fill = " " * (cells - width(text))
    return fill + text if right else text + fill


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    """Plain aligned columns (numbers right-aligned), no colour, safe in any pipe.

    ``align`` gives each column "l" or "r" (default: the first left, the rest right).

    >>> print("\\n".join(table(["node", "value"], [["w", "3"], ["z", "162"]])))
    node  value
    ----  -----
    w         3
    z       162
    """
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(width(h), *(width(r[i]) for r in rows)) if rows else width(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(pad(h, w, align[i] == "r") for i, (h, w) in enumerate(zip(header, widths)))
             .rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(pad(c, w, align[i] == "r")
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    return lines
