"""Entity recognition from a lexicon generated from the ontology.

Every label and synonym of a domain entity becomes a pattern in an
Aho-Corasick automaton (pyahocorasick), with hyphen, spacing, British
spelling and plural variants. Text is normalized the same way (lower case,
hyphens and slashes as spaces, runs of spaces collapsed, inline abbreviations
such as "chimeric antigen receptor (CAR) T-cell" skipped) with a map back to
the original offsets, so every mention keeps its exact span. Short
all-capital acronyms (ALL, TME, CRS ...) match case-sensitively. Abbreviations
defined in a text ("T cell engagers (TCEs)") are learned for that text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

from .ontology import Ontology

#: Surface forms too generic to mark an entity on their own.
STOP_TERMS = {
    "cancer",
    "tumor",
    "tumour",
    "malignancy",
    "target",
    "approach",
    "engineering",
    "production",
    "cost",
    "resistance",
    "trial",
    "consensus",
    "guideline",
    "transient",
    "synthetic",
    "bridging",
    "durability",
    "challenge",
    "obstacle",
    "limitation",
    "hurdle",
    "adverse event",
    "side effect",
    "toxicities",
    "toxicity",
    "antigen",
    "target antigen",
    "study",
    "review",
    "review article",
    "safety",
    "bispecifics",
    "bispecific antibody",
    "cell therapy",
    "cellular therapy",
    "prophylaxis",
    "corticosteroids",
    "ov",
    "act",
    "engineered receptor",
    "readily available",
    "patient-specific",
    "living therapy",
    "monospecific",
    "all",
    "mm",
    "fl",
    "case series",
}
#: Generic classes that are categories, not mentions worth linking.
SKIP_ENTITIES = {"Therapy", "TumorType", "Barrier", "Toxicity", "Strategy", "Antigen", "MechanisticAttribute", "SafetyBarrier"}
#: Barrier words that need an explicit cue in context before they count.
CONTEXTUAL_TERMS = {
    "persistence",
    "manufacturing",
    "immunogenicity",
    "infiltration",
    "trafficking",
    "homing",
    "logistics",
    "production",
    "bridging",
}

_INLINE_ABBREVIATION = re.compile(r" \([A-Za-z][A-Za-z0-9]{0,9}\)(?=[ -])")
_SEPARATORS = "-\u2010\u2011\u2012\u2013/"
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9\-]{1,5}$")


_SPACE_RUN = re.compile(r"[\s\-\u2010\u2011\u2012\u2013/]+")


def _lower(chunk: str) -> str:
    """Lower-case character by character (a character whose lower case is
    longer, like U+0130, stays as it is; no context rules like final sigma)."""
    if chunk.isascii():
        return chunk.lower()
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in chunk)


def normalize(text: str) -> tuple[str, list[int]]:
    """Normalized text and, for each of its characters, the offset in ``text``.

    Inline abbreviations (" (CAR)") are dropped, runs of whitespace, hyphens,
    dashes and slashes become one space, letters are lower-cased. Works on
    whole runs (regular expressions and str methods), not character by
    character: this is the extractor's inner loop.
    """
    out: list[str] = []
    index: list[int] = []
    space = False  # the last character written is a space

    def segment(start: int, end: int) -> None:
        nonlocal space
        j = start
        for run in _SPACE_RUN.finditer(text, start, end):
            if run.start() > j:
                out.append(_lower(text[j : run.start()]))
                index.extend(range(j, run.start()))
                space = False
            if not space:
                out.append(" ")
                index.append(run.start())
                space = True
            j = run.end()
        if j < end:
            out.append(_lower(text[j:end]))
            index.extend(range(j, end))
            space = False

    position = 0
    for abbreviation in _INLINE_ABBREVIATION.finditer(text):
        segment(position, abbreviation.start())
        position = abbreviation.end()
    segment(position, len(text))
    return "".join(out), index


def variants(term: str) -> set[str]:
    """Normalized spellings of a term: British forms and plurals."""
    base = normalize(term)[0].strip()
    forms = {base}
    for us, uk in (("tumor", "tumour"), ("leukemia", "leukaemia"), ("hematolog", "haematolog"), ("randomized", "randomised")):
        forms |= {f.replace(us, uk) for f in forms if us in f}
    plural = set()
    for form in forms:
        if form.endswith("y") and not form.endswith(("ay", "ey", "oy")):
            plural.add(form[:-1] + "ies")
        elif form.endswith(("ch", "sh", "x", "z")):
            plural.add(form + "es")
        elif not form.endswith("s"):
            plural.add(form + "s")
        if form.endswith(" cell"):
            plural.add(form + "s")
    return forms | plural


@dataclass(frozen=True)
class Mention:
    start: int  # offsets in the original text
    end: int
    entity: str  # ontology local name
    text: str


class Lexicon:
    def __init__(self, ontology: Ontology):
        self.ontology = ontology
        self.automaton = ahocorasick.Automaton()
        self.acronyms: dict[str, set[str]] = {}
        table: dict[str, set[str]] = {}
        for term, name in ontology.terms():
            entity = ontology.entities[name]
            if name in SKIP_ENTITIES or entity.category is None:
                continue
            if _ACRONYM.match(term) and len(term.replace("-", "")) <= 5:
                self.acronyms.setdefault(term, set()).add(name)
                continue
            for form in variants(term):
                if form in STOP_TERMS or len(form) < 3:
                    continue
                table.setdefault(form, set()).add(name)
        for form, names in table.items():
            self.automaton.add_word(form, (form, frozenset(names)))
        self.automaton.make_automaton()
        alternatives = "|".join(sorted(map(re.escape, self.acronyms), key=len, reverse=True))
        before = r"(?:(?<![\w-])|(?<=[Aa]nti-))"  # "CD3" and "anti-CD3", never inside a token
        # "CRS", "CARs"; or a modifier before a lower-case word ("CD19-directed"), not "TCR-T"
        self._acronym_re = re.compile(before + "(" + alternatives + r")s?(?![\w-])|" + before + "(" + alternatives + r")(?=-[a-z]{3,})")

    def _resolve(self, names: Iterable[str]) -> str | None:
        """One entity for a term; among several, the most specific if they nest."""
        names = set(names)
        if len(names) == 1:
            return next(iter(names))
        for name in names:
            if all(self.ontology.is_a(name, other) for other in names if other != name):
                return name
        return None

    def find(self, text: str) -> list[Mention]:
        """Entity mentions, leftmost-longest, no overlaps, sorted by position."""
        norm, index = normalize(text)
        candidates: list[tuple[int, int, str]] = []
        for end_pos, (form, names) in self.automaton.iter(norm):
            start_pos = end_pos - len(form) + 1
            if start_pos > 0 and norm[start_pos - 1].isalnum():
                continue
            if end_pos + 1 < len(norm) and norm[end_pos + 1].isalnum():
                continue
            name = self._resolve(names)
            if name:
                candidates.append((index[start_pos], index[end_pos] + 1, name))
        for match in self._acronym_re.finditer(text):
            name = self._resolve(self.acronyms[match.group(1) or match.group(2)])
            if name:
                candidates.append((match.start(), match.end(), name))
        candidates += self._defined_abbreviations(text, candidates)
        return self._select(text, candidates)

    def _defined_abbreviations(self, text: str, found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """ "long form (ABBR)" defines ABBR (and its plural) for the rest of the text."""
        learned: dict[str, str] = {}
        for _start, end, name in found:
            match = re.match(r"\s*\(([A-Za-z][A-Za-z0-9\-]{1,9}?)s?\)", text[end:])
            if match:
                learned[match.group(1)] = name
        extra = []
        for abbr, name in learned.items():
            for match in re.finditer(r"(?<![\w-])" + re.escape(abbr) + r"s?(?![\w-])", text):
                extra.append((match.start(), match.end(), name))
        return extra

    @staticmethod
    def _select(text: str, candidates: list[tuple[int, int, str]]) -> list[Mention]:
        chosen: list[Mention] = []
        last_end = -1
        for start, end, name in sorted(set(candidates), key=lambda c: (c[0], -(c[1] - c[0]))):
            if start >= last_end:
                chosen.append(Mention(start, end, name, text[start:end]))
                last_end = end
        return chosen


@lru_cache(maxsize=4)
def lexicon_for(ontology: Ontology) -> Lexicon:
    return Lexicon(ontology)
