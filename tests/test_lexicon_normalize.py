"""kg.lexicon.normalize (run-based, fast) against a character-by-character
reference: same normalized text, same offsets, on random text built from the
characters that matter (abbreviations, separators, Unicode case oddities)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kg.lexicon import _DROPPED, _INLINE_ABBREVIATION, normalize

_SEPARATORS = "-\u2010\u2011\u2012\u2013\u2014\u2212/"


def reference(text: str) -> tuple[str, list[int]]:
    out: list[str] = []
    index: list[int] = []
    i = 0
    while i < len(text):
        match = _INLINE_ABBREVIATION.match(text, i)
        if match:
            i = match.end()
            continue
        ch = text[i]
        if ch in _DROPPED:
            i += 1
            continue
        if ch in _SEPARATORS or ch.isspace():
            if out and out[-1] == " ":
                i += 1
                continue
            ch = " "
        else:
            low = ch.lower()
            ch = low if len(low) == 1 else ch
        out.append(ch)
        index.append(i)
        i += 1
    return "".join(out), index


PIECES = st.sampled_from(
    [*"aB (CAR)-/ \t\nxz9\u0130\u03a3\u03c2\u2013\u2010\u00a0\u2014\u2212'\u2019\u00ad", " (TME) ", " (CAR-T)-", "(ab)", "ΟΔΟΣ"]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_normalize_equals_the_character_reference(text):
    assert normalize(text) == reference(text)


def test_offsets_point_back_into_the_text():
    text = "Chimeric antigen receptor (CAR) T-cells / TILs\u2013ICANS"
    norm, index = normalize(text)
    assert norm == "chimeric antigen receptor t cells tils icans"
    assert all(text[i].lower() == c or c == " " for c, i in zip(norm, index, strict=True))
