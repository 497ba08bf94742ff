"""Abbreviations a text defines for itself, found with the Schwartz-Hearst algorithm.

Schwartz & Hearst (2003), "A simple algorithm for identifying abbreviation
definitions in biomedical text": a short form in parentheses right after its
long form ("immune effector cell-associated neurotoxicity syndrome (ICANS)"),
or the reverse, a long form in parentheses after the short form ("ICANS
(immune effector cell-associated neurotoxicity syndrome)"). The long form is
the shortest run of words before the parenthesis in which every letter and
digit of the short form occurs in order, the first one at the start of a word,
with at most min(|SF| + 5, 2 |SF|) words.

Two forms the paper does not cover are found too:

* a short form with a suffix attached after the parenthesis, as in
  "cluster of differentiation (CD)19": the definition carries the suffix
  ("19") so that the reader can look up "CD19";
* a code name beside a name, "blinatumomab (MT103)" or "GSK3377794
  (letetresgene autoleucel)": letters cannot be aligned, so these are
  returned as ``kind="code"`` pairs and the lexicon decides whether one side
  is a known product.

Written here rather than taken from PyPI: the `abbreviations` package (0.2.5,
last released 2019) configures the root logger when imported, skips a whole
line when its parentheses are unbalanced, finds only the "long form (SF)"
direction and returns no character offsets, which the lexicon needs to place
mentions. Measured on the 40 development texts of ../shared/real-texts it
found 77 pairs, none of the "(CD)19", "SF (long form)" or code-name kinds,
and two wrong ones ("or TIL" = "of T-cell transfer therapy: tumor-infiltrating
lymphocytes").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Characters the lexicon treats as hyphens (ASCII, Unicode hyphens, dashes, minus).
HYPHENS = "-\u2010\u2011\u2012\u2013\u2014\u2212"

_WORD = re.compile(r"\S+")
_PARENTHESIS = re.compile(r"[()]")
#: The word right before a parenthesis, 2-10 characters, not the end of a longer word.
_PREVIOUS_WORD = re.compile(r"(?<![\w\-\u2010\u2011])([A-Za-z0-9][\w\-\u2010\u2011]{1,9})$")
#: A product or compound code: a digit and two capitals (MT103, GSK3377794, LN-145, KTE-X19, IMCgp100,
#: JNJ-68284528, IL-2), a prefix and a number (AMG 757), or lower-case letters and a number (bb2121).
#: Not a registry number (NCT...), and never ordinary words with a number ("day 0", "n = 5").
CODE = re.compile(
    r"^(?!NCT\d{8}$)(?:[A-Z][A-Za-z]{0,5} \d{2,}"
    r"|(?=[A-Za-z0-9-]*\d)(?=(?:[^A-Z]*[A-Z]){2}|[a-z]{1,4}\d{3,}$)[A-Za-z][A-Za-z0-9]*(?:[-\u2010\u2011][A-Za-z0-9]+){0,2})$"
)


@dataclass(frozen=True)
class Definition:
    """One definition in a text: offsets are into that text."""

    short: str
    long: str
    short_start: int
    short_end: int
    long_start: int
    long_end: int
    suffix: str = ""  # characters glued after "(SF)", as "19" in "(CD)19"
    kind: str = "acronym"  # "acronym" (letters align) or "code" (a code name beside a name)

    @property
    def start(self) -> int:
        return min(self.short_start, self.long_start)

    @property
    def end(self) -> int:
        return max(self.short_end, self.long_end) + len(self.suffix)


def _short_form_ok(candidate: str) -> bool:
    """The paper's conditions: 2-10 characters, at most two words, a letter, starts alphanumeric."""
    return 2 <= len(candidate) <= 10 and len(candidate.split()) <= 2 and any(c.isalpha() for c in candidate) and candidate[0].isalnum()


def best_long_form(short: str, long: str) -> int | None:
    """Offset in ``long`` where the long form of ``short`` starts, or None.

    Walks both strings from the end: each letter or digit of the short form must
    occur in the long form in order, the first one at the start of a word.
    """
    s, i = len(short) - 1, len(long) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while i >= 0 and (long[i].lower() != c or (s == 0 and i > 0 and long[i - 1].isalnum())):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    # back to the start of the word holding the first matched character
    while i >= 0 and not long[i].isspace():
        i -= 1
    return i + 1


def _balanced_parentheticals(text: str):
    """(open, close) offsets of matched parentheses in order of opening; an unmatched
    parenthesis is skipped, it does not hide the pairs after it."""
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    for match in _PARENTHESIS.finditer(text):
        if match.group() == "(":
            stack.append(match.start())
        elif stack:
            pairs.append((stack.pop(), match.start()))
    return sorted(pairs)


def _words_before(text: str, end: int, count: int) -> int:
    """Start offset of the last ``count`` words of ``text[:end]`` (within the sentence)."""
    low = max(0, end - 40 * (count + 1))  # enough characters for ``count`` words, from a word's start
    if low:
        low = max(text.rfind(" ", 0, low) + 1, 0)
    words = list(_WORD.finditer(text, low, end))
    start = end
    for match in reversed(words[-count:]):
        if match.group().endswith((".", ";", ":")) and match.end() < end - 1:
            break  # do not reach into the previous sentence or clause
        start = match.start()
    return start


def _inner(text: str, opened: int, closed: int) -> tuple[str, int, int]:
    """The content of a parenthetical up to its first comma or semicolon ("(DLBCL, NOS)" -> DLBCL)."""
    start, end = opened + 1, closed
    cut = re.search(r"[,;]\s", text[start:end])
    if cut:
        end = start + cut.start()
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return text[start:end], start, end


def find_definitions(text: str) -> list[Definition]:
    """Every abbreviation definition in ``text``, in order of appearance."""
    found: list[Definition] = []
    for opened, closed in _balanced_parentheticals(text):
        inner, i_start, i_end = _inner(text, opened, closed)
        if not inner:
            continue
        glued = re.match(r"[A-Za-z0-9]+", text[closed + 1 : closed + 12])
        suffix = glued.group() if glued else ""
        before_end = opened
        while before_end > 0 and text[before_end - 1].isspace():
            before_end -= 1
        if _short_form_ok(inner):
            definition = _long_before(text, inner, i_start, i_end, before_end, suffix)
            if definition:
                found.append(definition)
                continue
        # "SF (long form)": the word before the parenthesis is the short form
        tail = text[max(0, before_end - 30) : before_end]  # the word before the parenthesis, whole
        previous = _PREVIOUS_WORD.search(tail)
        if previous and len(inner.split()) >= 2 and not suffix:
            short = previous.group(1)
            if any(c.isupper() for c in short[1:]) or any(c.isdigit() for c in short):
                offset = best_long_form(short, inner)
                if offset == 0 and len(inner.split()) <= min(len(short) + 5, 2 * len(short)):
                    found.append(Definition(short, inner, before_end - len(short), before_end, i_start, i_end))
                    continue
        # a code name beside a name: "name (CODE)" or "CODE (name)"
        if not suffix and CODE.match(inner) and before_end > 0:
            name_start = _words_before(text, before_end, 3)
            found.append(Definition(inner, text[name_start:before_end], i_start, i_end, name_start, before_end, kind="code"))
        elif not suffix and previous and CODE.match(previous.group(1)) and len(inner.split()) <= 4:
            found.append(Definition(previous.group(1), inner, before_end - len(previous.group(1)), before_end, i_start, i_end, kind="code"))
    return found


def _long_before(text: str, short: str, s_start: int, s_end: int, before_end: int, suffix: str) -> Definition | None:
    limit = min(len(short) + 5, 2 * len(short))
    window_start = _words_before(text, before_end, limit)
    window = text[window_start:before_end]
    if not window:
        return None
    offset = best_long_form(short, window)
    if offset is None and short.endswith("s") and any(c.isupper() for c in short[1:-1]):
        offset = best_long_form(short[:-1], window)  # a plural short form: "(ImmTACs)", "(CARs)"
    if offset is None:
        return None
    long = window[offset:]
    if not long or len(long) <= len(short) or short in long.split():
        return None
    if long.count("(") != long.count(")"):
        return None
    start = window_start + offset
    return Definition(short, long, s_start, s_end, start, before_end, suffix=suffix)
