"""Names as Python compares them, and names that only look alike.

Python reads identifiers in Unicode's NFKC form (PEP 3131), so ``ﬁ`` and
``fi``, or ``𝐱`` and ``x``, are one name; graphdsl does the same
(:func:`normalize`). Letters of different scripts that look the same (the
Cyrillic ``а`` and the Latin ``a``, the Greek ``ο`` and the Latin ``o``) stay
different names, as in Python, but a model that has both gets a warning, and a
name that is undefined but looks like a defined one says so. Look-alikes are
found with Unicode's confusables table (UTS #39), as shipped by the
``confusable-homoglyphs`` package: two names look alike when their
*skeletons* (each character replaced by the representative of its class of
look-alikes) are equal. The table is read only for models with a non-ASCII
name; a model in plain ASCII never pays for it.

>>> normalize("ﬁ"), normalize("𝐱"), normalize("x²")
('fi', 'x', 'x²')
>>> lookalikes("а", ["a", "b"])      # a Cyrillic а
['a']
>>> print(difference("а", "a"))
'а' is CYRILLIC SMALL LETTER A where 'a' has LATIN SMALL LETTER A
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from sys import intern


def normalize(name: str) -> str:
    """``name`` in NFKC form, as Python reads identifiers.

    A name that is not a Python identifier (``x²``: a superscript is not a
    letter or a digit there) is kept as written, so that ``x²`` never becomes
    ``x2`` without a word: its own message explains the superscript.
    Always a plain ``str`` (a lexer's token comes in; a string goes out).
    """
    # interned: a name used a hundred times is one string, not a hundred
    name = intern(str(name))
    if name.isascii() or not name.isidentifier():
        return name
    return intern(unicodedata.normalize("NFKC", name))


@lru_cache(maxsize=1)
def _representatives() -> dict[str, str]:
    """Character -> the representative of its class of look-alikes.

    The package's table lists, for each character, the characters it may be
    confused with; the classes are its connected parts (union-find), and each
    is represented by its shortest, then smallest, member.
    """
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def find(c: str) -> str:
        root = c
        while parent.get(root, root) != root:
            root = parent[root]
        while c != root:                      # path compression
            parent[c], c = root, parent[c]
        return root

    for ch, glyphs in confusables_data.items():
        for glyph in glyphs:
            a, b = find(ch), find(glyph["c"])
            if a != b:
                if (len(b), b) < (len(a), a):
                    a, b = b, a
                parent[b] = a
    return {c: find(c) for c in list(parent) + list(confusables_data) if len(c) == 1}


#: Greek small letters that are maths symbols in their own right (α for a rate,
#: ρ for a density, σ for a deviation): a model that has ``α`` and ``a`` means
#: two things, so such pairs get no warning (an undefined name still gets the
#: look-alike as its did-you-mean). Omicron is not among them.
MATHS_GREEK = frozenset("αγινρσυ")


def skeleton(name: str, keep=frozenset()) -> str:
    """What ``name`` looks like: equal skeletons look alike (UTS #39).
    Characters in ``keep`` stand for themselves.

    >>> skeleton("раrаm") == skeleton("param")    # three Cyrillic letters
    True
    """
    rep = _representatives()
    text = unicodedata.normalize("NFD", name)
    return unicodedata.normalize("NFD", "".join(c if c in keep else rep.get(c, c)
                                                for c in text))


def _needs_table(names) -> bool:
    return not all(n.isascii() for n in names)


def lookalikes(name: str, candidates) -> list[str]:
    """The candidates other than ``name`` that look exactly like it.
    Reads the confusables table only when a non-ASCII name is involved."""
    candidates = list(candidates)
    if not _needs_table([name]) and not _needs_table(candidates):
        return []
    key = skeleton(name)
    return [c for c in candidates if c != name and len(c) == len(name) and skeleton(c) == key]


def lookalike_groups(names) -> list[list[str]]:
    """Groups of two or more ``names`` that look alike, each in the given order,
    each with a non-ASCII name in it (``α`` and ``a`` excepted: see
    :data:`MATHS_GREEK`). Linear in the number of names; ASCII-only names cost
    one pass and no table.

    >>> lookalike_groups(["a", "b", "а", "α"])
    [['a', 'а']]
    """
    names = list(names)
    if not _needs_table(names):
        return []
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(skeleton(n, MATHS_GREEK), []).append(n)
    return [g for g in groups.values() if len(g) > 1 and any(not n.isascii() for n in g)]


def difference(a: str, b: str) -> str:
    """Which characters tell two look-alike names apart, in words."""
    parts = []
    for x, y in zip(a, b):
        if x != y:
            parts.append(f"'{x}' is {unicodedata.name(x, f'U+{ord(x):04X}')} where "
                         f"'{y}' has {unicodedata.name(y, f'U+{ord(y):04X}')}")
    if len(a) != len(b) or not parts:
        return f"'{a}' and '{b}' are spelt with different characters"
    shown = parts[:3]
    if len(parts) > 3:
        shown.append(f"and {len(parts) - 3} more")
    return "; ".join(shown)
