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


def test_every_reason_the_solver_gives_has_words_in_both_languages():
    import re
    from pathlib import Path

    import graphdsl.solve
    from graphdsl.i18n import reason_text
    from graphdsl.trace import Reason

    source = Path(graphdsl.solve.__file__).read_text(encoding="utf-8")
    codes = set(re.findall(r'Reason\("([a-z-]+)"', source))
    codes |= set(re.findall(r'"([a-z-]+)" if method == "gd" else "([a-z-]+)"', source)[0])
    assert {"numeric", "max-iter", "zero-partial", "diverging", "diverging-gd"} <= codes
    for code in codes - {"reached", "evaluated"}:
        en, zh = MESSAGES["why_" + code.replace("-", "_")]
        assert en != zh, code
    # a reason fills its sentence from its fields, numbers formatted as the tables print them
    r = Reason("infinite-step", {"p": "w", "iteration": 0, "out": "z", "partial": 1e-310,
                                 "error": 0.1234567891})
    assert reason_text(r, "en") == ("the step for w at iteration 0 is not a finite number "
                                    "(∂z/∂w = 1e-310, error 0.1234568)")
    assert "1e-310" in reason_text(r, "zh") and "0.1234568" in reason_text(r, "zh")
    assert reason_text(Reason("reached"), "zh") is None
