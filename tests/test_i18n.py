"""The one table of words: every key has both languages, taking the same fields."""

from __future__ import annotations

import string

from graphdsl.i18n import MESSAGES, tr


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def test_every_message_has_both_languages_with_the_same_fields():
    for key, (en, zh) in MESSAGES.items():
        assert en and zh, key
        # Chinese has no plural "s" (where "s" is the plural ending); every other field is in both
        assert _fields(zh) in (_fields(en), _fields(en) - {"s"}), key
        if key.startswith(("r_", "v_")) and _fields(en) - {"s"} == set() and key != "r_kind":
            assert tr(key, "zh") != tr(key, "en"), key   # the page's own words are translated
