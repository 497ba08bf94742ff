"""Entity recognition from a lexicon generated from the ontology.

Every label and synonym of a domain entity becomes a pattern in an
Aho-Corasick automaton (pyahocorasick), with hyphen, spacing, British
spelling, plural and word-order variants. Text is normalized the same way
(lower case, hyphens, dashes and slashes as spaces, apostrophes and soft
hyphens dropped, runs of spaces collapsed, inline abbreviations such as
"chimeric antigen receptor (CAR) T-cell" skipped) with a map back to the
original offsets, so every mention keeps its exact span. Short all-capital
acronyms (ALL, TME, CRS ...) match case-sensitively.

On top of the exact matches, general rules (each with its own unit test in
tests/test_lexicon_rules.py):

* abbreviations the document defines (Schwartz-Hearst, :mod:`kg.abbreviations`)
  are used in the whole document: a short form takes its long form's entity,
  a known short form lends its entity to an unknown long form ("immune
  mobilising ... (ImmTAC)"), a glued suffix is read with its short form
  ("cluster of differentiation (CD)19" is CD19), a code name beside a known
  product is that product ("Lete-Cel (GSK3377794)");
* a known product name followed by an FDA four-letter suffix ("talquetamab-tgvs");
* a near miss of a long name (Damerau-Levenshtein distance 1 for names of 10
  letters or more, rapidfuzz) is that name;
* a shared modifier in a coordination ("antigen escape and heterogeneity",
  "BCMA- or CD19-directed") names both;
* names inside names do not count ("melanoma-associated antigen A4" is an
  antigen, not melanoma), and a tumor named as the origin of another
  ("LBCL arising from follicular lymphoma") is marked ``role="origin"``;
* CD3 is the T cell arm of an engager (``role="engager-arm"``), never a target;
* treatments outside the T cell therapies (comparators such as pembrolizumab,
  conditioning and support drugs such as IL-2) are recognized with
  ``role="other-treatment"`` so that nothing is credited to them or taken
  from them for the study's therapy; they never become study mentions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from .abbreviations import Definition, find_definitions
from .namespaces import TKG
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
SKIP_ENTITIES = {
    "Therapy",
    "TumorType",
    "Barrier",
    "Toxicity",
    "Strategy",
    "Antigen",
    "MechanisticAttribute",
    "SafetyBarrier",
    "OtherTreatment",
}
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
    "penetration",
    "hla haplotype",
    "hla type",
}
#: The class whose descendants are recognized as other treatments (comparators, conditioning, support).
OTHER_TREATMENT = "OtherTreatment"

_INLINE_ABBREVIATION = re.compile(r" \([A-Za-z][A-Za-z0-9]{0,9}\)(?=[ -])")
#: Dropped from the normalized text: apostrophes (so "patient's" and "patients'" read alike) and soft hyphens.
_DROPPED = "'\u2018\u2019\u02bc\u00ad"
_REMOVED = re.compile(_INLINE_ABBREVIATION.pattern + "|[" + _DROPPED + "]")
_SEPARATORS = "-\u2010\u2011\u2012\u2013\u2014\u2212/"
_HYPHEN = "[-\u2010\u2011\u2012\u2013\u2014\u2212]"
_GAP = r"[\s\-\u2010\u2011\u2013]"  # a space or a hyphen between two parts of a name
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9\-]{1,5}$")

_SPACE_RUN = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2212/]+")


def _lower(chunk: str) -> str:
    """Lower-case character by character (a character whose lower case is
    longer, like U+0130, stays as it is; no context rules like final sigma)."""
    if chunk.isascii():
        return chunk.lower()
    return "".join(low if len(low := ch.lower()) == 1 else ch for ch in chunk)


def normalize(text: str) -> tuple[str, list[int]]:
    """Normalized text and, for each of its characters, the offset in ``text``.

    Inline abbreviations (" (CAR)"), apostrophes and soft hyphens are dropped,
    runs of whitespace, hyphens, dashes and slashes become one space, letters
    are lower-cased. Works on whole runs (regular expressions and str
    methods), not character by character: this is the extractor's inner loop.
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
    for removed in _REMOVED.finditer(text):
        segment(position, removed.start())
        position = removed.end()
    segment(position, len(text))
    return "".join(out), index


#: American -> British spellings, applied to every form (regular expression, replacement).
_BRITISH = [
    (re.compile(r"tumor"), "tumour"),
    (re.compile(r"(?<=[a-z])emia\b"), "aemia"),  # leukemia, anemia, hypogammaglobulinemia
    (re.compile(r"\bhem(?=at|o)"), "haem"),  # hematologic, hemophagocytic
    (re.compile(r"\besophag"), "oesophag"),
    (re.compile(r"\bedema"), "oedema"),
    (re.compile(r"\bpediatric"), "paediatric"),
    (re.compile(r"(?<=[a-z]{2})iz(?=e\b|ed\b|es\b|ing\b|ation)"), "is"),  # mobilizing, randomized
    (re.compile(r"leukocyte"), "leucocyte"),
    (re.compile(r"\bcolor"), "colour"),
]
#: Adjective endings used interchangeably ("hematologic" / "hematological").
_ADJECTIVE = [(re.compile(r"ologic\b"), "ological"), (re.compile(r"ological\b"), "ologic")]
#: Head nouns a tumor name may end in, interchangeably.
_TUMOR_HEADS = re.compile(r" (?:tumor|cancer|malignancy|carcinoma)$")
#: Nominalized barrier and strategy heads that may come first with "of" ("modulation of the TME").
_NOMINAL_FORM = re.compile(r"^(?P<n>\w+) of (?:the )?(?P<x>.+)$")
_NOMINAL_HEAD = re.compile(r"^(?P<x>.+) (?P<n>\w+(?:tion|ment|sion|ance|ence|ing|loss|escape))$")


def variants(term: str, category: str | None = None) -> set[str]:
    """Normalized spellings of a term: British forms, adjective endings, "gp100"
    as "gp 100", a tumor's head noun as "neoplasm", "N of (the) X" for a
    nominalized barrier or strategy "X N", "tumoral" for "tumor", and plurals."""
    base = normalize(term)[0].strip()
    forms = {base}
    if re.search(r"[a-z]\d", base):  # "gp100" also as "gp 100", and back
        forms.add(re.sub(r"(?<=[a-z])(?=\d)", " ", base, count=1))
    elif re.search(r"[a-z] \d", base):
        forms.add(re.sub(r"(?<=[a-z]) (?=\d)", "", base, count=1))
    if category == "TumorType" and _TUMOR_HEADS.search(base):
        forms |= {_TUMOR_HEADS.sub(" " + head, base) for head in ("neoplasm", "cancer", "carcinoma")}
    if category in ("Barrier", "Strategy"):
        match = _NOMINAL_HEAD.match(base)
        if match and len(match.group("x")) >= 3:
            forms |= {f"{match.group('n')} of {match.group('x')}", f"{match.group('n')} of the {match.group('x')}"}
    if category in ("Barrier", "Strategy"):
        forms |= {f.replace("tumor micro", "tumoral micro") for f in forms}
    for pattern, replacement in _ADJECTIVE:
        forms |= {pattern.sub(replacement, f) for f in forms}
    for pattern, replacement in _BRITISH:
        forms |= {pattern.sub(replacement, f) for f in forms}
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
    #: how it was recognized: "lexicon" (a label or synonym), "acronym", "abbreviation" (defined in
    #: the document), "code" (a code name defined beside a product), "fda-suffix", "fuzzy", "ellipsis", "construct"
    source: str = "lexicon"
    #: the lexicon form, abbreviation or rule that matched (for `tkg explain`)
    matched: str = ""
    #: None, or "engager-arm" (CD3 of an engager), "t-cell-marker" (CD3 elsewhere: never a tumor target either),
    #: "origin" (a tumor another arose from),
    #: "other-treatment" (a comparator, conditioning or support drug)
    role: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A therapy-like name the lexicon does not know (for `tkg lexicon candidates`)."""

    start: int
    end: int
    text: str
    kind: str  # "product-name", "car-construct" or "code-name"


# (start, end, entity, source, matched, priority): a higher priority wins a tie on the same span
_Cand = tuple[int, int, str, str, str, int]

#: Words after a name that still belong to it when a code is defined beside it ("TIL infusion (LN-145)").
_NAME_TAIL = re.compile(r"^\)?(?:\s+(?:infusion|cells?|therapy|product|treatment|T[- ]cells?))?\s*$", re.I)
#: A generic head after a name inside a long form: "T cell bispecific antibodies (T-BsAbs)".
_GENERIC_TAIL = re.compile(r"^\s*(?:(?:antibod(?:y|ies)|molecules?|constructs?|cells?|therap(?:y|ies)|products?|agents?)\s*)?$", re.I)
#: Context before a parenthetical code that makes it a trial or study name, not a product code.
_TRIAL_CONTEXT = re.compile(r"\b(?:trial|study|studies|cohort|protocol)\b", re.I)
_FDA_SUFFIX = re.compile(_HYPHEN + r"[a-z]{4}\b")
_COORDINATION = re.compile(r"^(\s*(?:,\s*)?(?:and|or|and/or|as well as)\s+)([A-Za-z][\w]*(?:" + _HYPHEN + r"[A-Za-z]\w*)?)")
_ANTIGEN_NAME_AFTER = re.compile(
    r"^" + _HYPHEN + r"?\s*(?:associated|specific|restricted|testis)" + _GAP + r"+(?:membrane\s+)?antigens?\b", re.I
)
_ORIGIN_BEFORE = re.compile(
    r"\b(?:arising|arisen|transformed|evolving|evolved|progressing|progressed)\s+(?:from|out of)\s+"
    r"(?:an?\s+|prior\s+|previous\s+|underlying\s+)?$",
    re.I,
)
_ENGAGER_ARM_AFTER = re.compile(
    r"^\s*(?:" + _HYPHEN + r"?\s*(?:x|×)\s*\w|" + _HYPHEN + r"?\s*"
    r"(?:bispecific|T" + _GAP + r"*cell" + _GAP + r"*engag|engag|binding|arm\b|scFv|subunit|complex|redirect))",
    re.I,
)
_ENGAGER_ARM_BEFORE = re.compile(r"(?:\w\s*(?:x|×)\s*|anti" + _HYPHEN + r"?\s*|bispecific\s+(?:\w+" + _HYPHEN + r"?\w*\s+){0,2})$", re.I)
#: A verb that puts the patient's own T cells to work in the body (an engager), before "the patient's own T cells".
_REDIRECTS_BEFORE = re.compile(
    r"\b(?:link|redirect|re-direct|engag|recruit|activat|bind|bring|bridg|harness|direct)\w*\s+(?:the\s+|a\s+)?$", re.I
)
#: T cell arms of engagers: recognized as antigens, never a tumor target.
ENGAGER_ARMS = {"CD3"}
#: A TCR put into T cells: "NY-ESO-1 reactive TCR retroviral vector transduced autologous PBL".
_TCR_CONSTRUCT = re.compile(
    r"\bTCRs?\b(?:"
    + _GAP
    + r"+(?!(?:are|is|was|were|be|been|that|which|and|or|T|cells?)\b)\w+){0,4}?"
    + _GAP
    + r"+(?i:transduced|engineered|modified|redirected)"
    r"(?:" + _GAP + r"+\w+){0,2}?" + _GAP + r"+(?:T" + _GAP + r"*cells?|T[\s\-]lymphocytes|lymphocytes|PBLs?|PBMCs?)\b"
)
#: Therapy-like names: INN stems of cell therapies (-leucel, -cel) and T cell-engaging antibodies (-tamab, -mab).
_PRODUCT_NAME = re.compile(
    r"\b(?:(?:[A-Za-z]{4,}gene\s+)?[A-Za-z]{3,}leucel|[A-Za-z]{3,}(?:tamab|[aeiou]mab)|[A-Za-z]{3,5}"
    + _HYPHEN
    + r"cel)\b(?:"
    + _HYPHEN
    + r"[a-z]{4}\b)?"
)
_CAR_CONSTRUCT = re.compile(
    r"\b(?:anti"
    + _HYPHEN
    + r")?(?P<antigen>[A-Z][A-Z0-9.]+[A-Za-z0-9.]*|[A-Za-z]+\d[A-Za-z0-9.]*)"
    + _GAP
    + "?CAR"
    + _GAP
    + r"?(?:T\b|T"
    + _GAP
    + r"cells?\b)"
)
_CODE_NAME = re.compile(r"\b(?!NCT\d|CD\d|HLA)[A-Z]{1,5}[\-\u2010\u2011]?\d{2,}[A-Z0-9]*(?:[\-\u2010\u2011][A-Z0-9]+)?\b")


#: The "x" between two target names glued together: "BCMAxCD3", "CD20×CD3".
_PAIR_X = re.compile(r"(?<=[A-Z0-9])[x×](?=[A-Z][A-Z0-9])")
#: A heading in inverted order, as registries and MeSH write conditions: "Lymphoma, Large B-Cell, Diffuse".
_INVERTED = re.compile(
    r"\b([A-Z][\w-]*(?: [A-Za-z][\w-]*){0,2}), ([A-Za-z][\w-]*(?: [A-Za-z][\w-]*){0,2})(?:, ([A-Za-z][\w-]*(?: [A-Za-z][\w-]*){0,1}))?\b"
)
#: "combining X with other immunotherapies", "in combination with chemotherapy": a combination strategy (the cue words only).
_COMBINATION = re.compile(
    r"\b(?P<cue>combin(?:e|es|ed|ing)|in combination)\s+(?:[\w-]+\s+){0,6}?with\s+(?:other|another|additional|an?|the)?\s*"
    r"(?:[\w-]+\s+){0,2}?(?:immuno)?(?:therap|agent|drug|inhibitor|blockade|chemotherap|antibod|vaccin|radiotherap)",
    re.I,
)
#: A cell product's making, right after the product: "TIL isolation and generation", "CAR-T cell manufacturing".
_PRODUCTION_AFTER = re.compile(
    r"^\s+(?P<nouns>(?:isolation|generation|expansion|production|manufactur\w*)(?:\s+(?:and|or)\s+(?:isolation|generation|expansion|production|manufactur\w*))?)\b",
    re.I,
)


class Lexicon:
    def __init__(self, ontology: Ontology):
        self.ontology = ontology
        self.automaton = ahocorasick.Automaton()
        self.acronyms: dict[str, set[str]] = {}
        self._other = {n for n in ontology.entities if n != OTHER_TREATMENT and ontology.is_a(n, OTHER_TREATMENT)}
        self._stop_forms = {f for term in STOP_TERMS for f in variants(term)}
        table: dict[str, set[str]] = {}
        for term, name in ontology.terms():
            entity = ontology.entities[name]
            if name in SKIP_ENTITIES or (entity.category is None and name not in self._other):
                continue
            if _ACRONYM.match(term) and len(term.replace("-", "")) <= 5:
                self.acronyms.setdefault(term, set()).add(name)
                continue
            for form in variants(term, entity.category):
                if form in STOP_TERMS or len(form) < 3:  # (their plurals stay: "bispecific antibodies" is an engager)
                    continue
                table.setdefault(form, set()).add(name)
        self.forms = table
        for form, names in table.items():
            self.automaton.add_word(form, (form, frozenset(names)))
        self.automaton.make_automaton()
        alternatives = "|".join(sorted(map(re.escape, self.acronyms), key=len, reverse=True))
        before = r"(?:(?<![\w-])|(?<=[Aa]nti-))"  # "CD3" and "anti-CD3", never inside a token
        # "CRS", "CARs"; a modifier before a lower-case word ("CD19-directed", with any dash), not "TCR-T";
        # or a suspended hyphen ("BCMA- or CD19-directed")
        self._acronym_re = re.compile(
            before
            + "("
            + alternatives
            + r")s?(?![\w\-\u2010\u2011\u2012\u2013\u2014])|"
            + before
            + "("
            + alternatives
            + r")(?="
            + _HYPHEN
            + r"[a-z]{3,}|"
            + _HYPHEN
            + r"\s*(?:,|or\b|and\b|to\b|/))"
        )
        # near misses: long letter-only forms, each indexed with one long word left open
        self._fuzzy: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        self._open_words: dict[str, set[str]] = {}
        self._form_words = {w for form in table for w in form.split(" ")}
        for form in table:
            if sum(c.isalpha() for c in form) < 10 or not re.fullmatch(r"[a-z ]+", form) or form in self._stop_forms:
                continue
            parts = form.split(" ")
            for p, word in enumerate(parts):
                if len(word) >= 6:
                    self._fuzzy.setdefault((*parts[:p], "*", *parts[p + 1 :]), []).append((form, word))
                    self._open_words.setdefault(word[0], set()).add(word)
        self._fuzzy_counts = sorted({len(key) for key in self._fuzzy})
        self._open_words = {letter: sorted(words) for letter, words in self._open_words.items()}
        self._exact_cache: dict[str, list[_Cand]] = {}
        self._norm_cache: dict[str, tuple[str, list[int]]] = {}
        self._near_cache: dict[str, bool] = {}  # word -> some long lexicon word is one edit away
        self._modalities = set(ontology.modalities())
        self._cell_products = (
            {n for n in ontology.entities if ontology.is_a(n, "AdoptiveCellTherapy")}
            if "AdoptiveCellTherapy" in ontology.entities
            else set()
        )
        self._targeted = {str(a).rsplit("/", 1)[-1] for a in ontology.graph.objects(None, TKG.targetAntigen)}
        self._products = {n for n in ontology.entities if self._is_product(n)}

    # -- lookups ----------------------------------------------------------------
    def _is_product(self, name: str) -> bool:
        """A product: a therapy class below a modality (tisagenlecleucel, glofitamab ...)."""
        entity = self.ontology.entities.get(name)
        if entity is None or entity.category != "Therapy":
            return False
        return name not in self._modalities and any(self.ontology.is_a(name, m) for m in self._modalities)

    def category(self, name: str) -> str | None:
        if name in self._other:
            return OTHER_TREATMENT
        return self.ontology.entities[name].category

    def _resolve(self, names: Iterable[str]) -> str | None:
        """One entity for a term; among several, the most specific if they nest."""
        names = set(names)
        if len(names) == 1:
            return next(iter(names))
        for name in names:
            if all(self.ontology.is_a(name, other) for other in names if other != name):
                return name
        return None

    @lru_cache(maxsize=4096)  # noqa: B019 - one Lexicon per ontology, kept for the process (lexicon_for)
    def lookup(self, term: str) -> str | None:
        """The entity a whole term names (a label, synonym or acronym), or None."""
        if term in self.acronyms:
            return self._resolve(self.acronyms[term])
        names = self.forms.get(normalize(term)[0].strip())
        return self._resolve(names) if names else None

    # -- recognition --------------------------------------------------------------
    def _exact(self, text: str) -> list[_Cand]:
        """Exact matches of forms and acronyms (cached: a document's texts are read twice, by
        :meth:`learn` and by :meth:`find`)."""
        cached = self._exact_cache.get(text)
        if cached is None:
            if len(self._exact_cache) > 256:
                self._exact_cache.clear()  # (one atomic call: safe when threads share the lexicon)
            cached = self._exact_cache[text] = self._exact_uncached(text)
        return list(cached)

    def _normalized(self, text: str) -> tuple[str, list[int]]:
        cached = self._norm_cache.get(text)
        if cached is None:
            if len(self._norm_cache) > 256:
                self._norm_cache.clear()
            cached = self._norm_cache[text] = normalize(text)
        return cached

    def _exact_uncached(self, text: str) -> list[_Cand]:
        if _PAIR_X.search(text):  # "BCMAxCD3", "GPRC5D×CD3": two names (the x read as a space, offsets kept)
            text = _PAIR_X.sub(" ", text)
        norm, index = self._normalized(text)
        candidates: list[_Cand] = []
        for end_pos, (form, names) in self.automaton.iter(norm):
            start_pos = end_pos - len(form) + 1
            if start_pos > 0 and norm[start_pos - 1].isalnum():
                continue
            if end_pos + 1 < len(norm) and norm[end_pos + 1].isalnum():
                continue
            name = self._resolve(names)
            if name:
                candidates.append((index[start_pos], index[end_pos] + 1, name, "lexicon", form, 1))
        for match in self._acronym_re.finditer(text):
            acronym = match.group(1) or match.group(2)
            name = self._resolve(self.acronyms[acronym])
            if name:
                candidates.append((match.start(), match.end(), name, "acronym", acronym, 1))
        for match in _TCR_CONSTRUCT.finditer(text):
            if "TCRT" in self.ontology.entities:
                candidates.append((match.start(), match.end(), "TCRT", "construct", "TCR ... transduced T cells", 0))
        return candidates

    def learn(self, texts: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Abbreviations and code names the document defines: short form -> (entity, source).
        Pass the result to :meth:`find` for every text of the same document."""
        learned: dict[str, tuple[str, str]] = {}
        for text in texts:
            if "(" in text:
                learned.update(self._learn_one(text, find_definitions(text), self._exact(text)))
        return learned

    def _learn_one(self, text: str, definitions: list[Definition], exact: list[_Cand]) -> dict[str, tuple[str, str]]:
        learned: dict[str, tuple[str, str]] = {}
        chosen = self._select(text, exact)
        for d in definitions:
            if d.suffix:
                continue
            inside = [m for m in chosen if d.long_start <= m.start and m.end <= d.long_end]
            if d.kind == "code":
                if _TRIAL_CONTEXT.search(text[max(0, d.start - 40) : d.start]) or re.search(r"-\d$", d.short):
                    continue
                named = [m for m in inside if _NAME_TAIL.match(text[m.end : d.long_end]) and self.category(m.entity) == "Therapy"]
                known = self.lookup(d.short)
                if named and known in (None, named[-1].entity):
                    learned[d.short] = (named[-1].entity, "code")
                continue
            # the long form's entity: the longest candidate that ends where the long form ends
            ending = sorted(
                (c for c in exact if d.long_start <= c[0] and c[1] <= d.long_end and _GENERIC_TAIL.match(text[c[1] : d.long_end])),
                key=lambda c: c[0],
            )
            if not ending:
                continue
            name = ending[0][2]
            known = self.lookup(d.short)
            if known and (self.ontology.is_a(known, name) or self.ontology.is_a(name, known)):
                name = known  # "bispecific T cell engager (BiTE)": the lexicon's more precise reading stands
            short = d.short[:-1] if d.short.endswith("s") and any(c.isupper() for c in d.short[1:-1]) else d.short
            learned[short] = (name, "abbreviation")  # "(TCEs)" defines TCE; its uses may take an s
        # "name (Synonym)": a parenthesized word right after a mention names the same entity
        for m in chosen:
            match = re.match(r"\s*\(([A-Za-z][A-Za-z0-9\-]{1,9}?)s?\)", text[m.end :])
            if not match or re.search(r"-\d$", match.group(1)) or _TRIAL_CONTEXT.search(text[max(0, m.start - 40) : m.start]):
                continue
            if match.group(1) not in learned and self.lookup(match.group(1)) in (None, m.entity):
                learned[match.group(1)] = (m.entity, "abbreviation")
        return learned

    def _long_forms(self, text: str, definitions: list[Definition], exact: list[_Cand]) -> list[_Cand]:
        """Spans a definition names through its short form: an unknown long form of a known
        short form ("immune mobilising ... (ImmTAC)"), a short form with a glued suffix or
        compound ("cluster of differentiation (CD)19", "T cell receptor (TCR)-T cells")."""
        out: list[_Cand] = []
        chosen = self._select(text, exact)
        for d in definitions:
            if d.kind != "acronym" or d.long_start > d.short_start:
                continue
            close = text.find(")", d.short_end)
            if close < 0:
                continue
            rest = text[close + 1 : close + 81]
            if d.suffix or re.match(_HYPHEN + r"\w", rest):
                compound = d.short + rest
                best = None
                for start, end, name, _source, form, _p in self._exact(compound):
                    if start == 0 and end > len(d.short) and (best is None or end > best[1]):
                        best = (start, end, name, form)
                if best:
                    out.append((d.long_start, close + 1 + best[1] - len(d.short), best[2], "abbreviation", best[3], 2))
                    continue
            known = self.lookup(d.short)
            covered = any(m.start <= d.long_start and d.long_end <= m.end for m in chosen)
            ending = [m for m in chosen if d.long_start <= m.start and m.end <= d.long_end and not text[m.end : d.long_end].strip()]
            if known and not covered and not ending:
                out.append((d.long_start, d.long_end, known, "abbreviation", d.short, 2))
        return out

    def _uses(self, text: str, learned: dict[str, tuple[str, str]]) -> list[_Cand]:
        out: list[_Cand] = []
        for short, (name, source) in learned.items():
            for match in re.finditer(r"(?<![\w\-])" + re.escape(short) + r"s?(?![\w])(?!" + _HYPHEN + r"\d)", text):
                out.append((match.start(), match.end(), name, source, short, 3))
        return out

    def _fuzzy_matches(self, text: str, taken: list[tuple[int, int]]) -> list[_Cand]:
        """Near misses of long names: a run of words that differs from a form of 10 letters
        or more in one word of 6 letters or more, by one edit (Damerau-Levenshtein distance 1:
        one letter added, dropped, changed, or two swapped). Short words must match exactly.

        Only a word the lexicon's forms never use can be the typo; the forms are indexed
        with that one word left open, so each such word costs a few dictionary lookups."""
        norm, index = self._normalized(text)
        spans = [(m.start(), m.end()) for m in re.finditer(r"[a-z]+", norm)]
        words = [norm[a:b] for a, b in spans]
        covered = bytearray(len(text) + 1)
        for a, b in taken:
            covered[a:b] = b"\x01" * (b - a)
        out: list[_Cand] = []
        for j, word in enumerate(words):
            if len(word) < 6 or word in self._form_words:
                continue
            near = self._near_cache.get(word)
            if near is None:
                near = bool(
                    process.extract(word, self._open_words.get(word[0], ()), scorer=DamerauLevenshtein.distance, score_cutoff=1, limit=1)
                )
                if len(self._near_cache) > 50_000:
                    self._near_cache.clear()
                self._near_cache[word] = near
            if not near:
                continue  # no long word of the lexicon is one edit away: the common case, settled in C
            for k in self._fuzzy_counts:
                for i in range(max(0, j - k + 1), min(j, len(words) - k) + 1):
                    key = (*words[i:j], "*", *words[j + 1 : i + k])
                    for form, expected in self._fuzzy.get(key, ()):
                        if word[0] != expected[0] or abs(len(word) - len(expected)) > 1:
                            continue
                        if DamerauLevenshtein.distance(word, expected, score_cutoff=1) != 1:
                            continue
                        if word.rstrip("s") == expected.rstrip("s"):
                            continue  # a plural is not a typo (the lexicon has its own plurals)
                        start, end = spans[i][0], spans[i + k - 1][1]
                        if norm[start:end].count(" ") != k - 1 or covered.find(1, index[start], index[end - 1] + 1) >= 0:
                            continue  # words split by something else than one space, or already recognized
                        name = self._resolve(self.forms[form])
                        if name:
                            out.append((index[start], index[end - 1] + 1, name, "fuzzy", form, 0))
        return out

    def find(self, text: str, learned: dict[str, tuple[str, str]] | None = None) -> list[Mention]:
        """Entity mentions, leftmost-longest, no overlaps, sorted by position.

        ``learned`` holds the abbreviations of the whole document (:meth:`learn`);
        those this text defines are always used."""
        exact = self._exact(text)
        definitions = find_definitions(text) if "(" in text else []
        local = self._learn_one(text, definitions, exact) if "(" in text else {}
        uses = dict(learned or {})
        uses.update(local)
        candidates = exact + self._long_forms(text, definitions, exact) + self._uses(text, uses)
        # a document's own definition wins over the lexicon's acronym for the same short form
        candidates = [c for c in candidates if not (c[3] == "acronym" and c[4] in uses and uses[c[4]][0] != c[2])]
        candidates += self._fda_suffixed(text, candidates)
        candidates += self._fuzzy_matches(text, [(c[0], c[1]) for c in candidates])
        mentions = self._split_nominal(self._select(text, candidates))
        mentions = self._ellipsis(text, mentions)
        mentions = self._composed(text, mentions)
        return self._roles(text, mentions)

    def _split_nominal(self, mentions: list[Mention]) -> list[Mention]:
        """ "modulation of the tumor microenvironment" names a strategy (its head) acting on a
        barrier (its object): two mentions, the head and the object, when the object is an
        entity of its own."""
        out: list[Mention] = []
        for m in mentions:
            match = _NOMINAL_FORM.match(m.matched) if m.source == "lexicon" else None
            obj = self.lookup(match.group("x")) if match else None
            if not match or obj is None or obj == m.entity:
                out.append(m)
                continue
            norm, index = normalize(m.text)
            head_end = index[len(match.group("n")) - 1] + 1
            obj_start = index[norm.rfind(match.group("x"))]
            out.append(Mention(m.start, m.start + head_end, m.entity, m.text[:head_end], "lexicon", m.matched))
            out.append(Mention(m.start + obj_start, m.end, obj, m.text[obj_start:], "lexicon", match.group("x")))
        return out

    def _fda_suffixed(self, text: str, candidates: list[_Cand]) -> list[_Cand]:
        """A product name with an FDA four-letter suffix ("talquetamab-tgvs") is the product."""
        out = []
        for start, end, name, _source, form, _p in candidates:
            if name in self._products and (match := _FDA_SUFFIX.match(text, end)):
                out.append((start, match.end(), name, "fda-suffix", form, 1))
        return out

    def _ellipsis(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """A modifier shared in a coordination names both heads: "antigen escape and
        heterogeneity" also mentions antigen heterogeneity."""
        extra: list[Mention] = []
        taken = [(m.start, m.end) for m in mentions]
        for m in mentions:
            words = m.text.split()
            if len(words) < 2:
                continue
            match = _COORDINATION.match(text[m.end :])
            if not match:
                continue
            start = m.end + match.start(2)
            end = m.end + match.end(2)
            if any(a < end and start < b for a, b in taken):
                continue
            name = self.lookup(" ".join(words[:-1]) + " " + match.group(2))
            if name and name != m.entity:
                extra.append(Mention(start, end, name, text[start:end], "ellipsis", " ".join(words[:-1]) + " " + match.group(2)))
        return sorted(mentions + extra, key=lambda m: m.start)

    def _composed(self, text: str, mentions: list[Mention]) -> list[Mention]:
        """Entities named by a construction rather than a term: a combination of therapies
        ("combining X with other immunotherapies"), the making of a cell product ("TIL
        isolation and generation" is its manufacturing)."""
        extra: list[Mention] = []
        taken = [(m.start, m.end) for m in mentions]

        def free(start: int, end: int) -> bool:
            return not any(a < end and start < b for a, b in taken)

        if "CombinatorialStrategy" in self.ontology.entities:
            for match in _COMBINATION.finditer(text):
                start, end = match.span("cue")
                if free(start, end):
                    extra.append(
                        Mention(start, end, "CombinatorialStrategy", text[start:end], "construct", "combining ... with ... therapy")
                    )
        for match in _INVERTED.finditer(text):
            parts = [g for g in match.groups() if g]
            for n in (len(parts), 2) if len(parts) == 3 else (2,):
                name = self.lookup(" ".join(reversed(parts[:n])))
                if name and self.category(name) == "TumorType":
                    start, end = match.start(), match.end(n)
                    inside = [m for m in mentions if start <= m.start and m.end <= end]
                    if all(a >= end or b <= start or (start <= a and b <= end) for a, b in taken) and all(m.entity != name for m in inside):
                        mentions = [m for m in mentions if m not in inside]
                        taken = [(m.start, m.end) for m in mentions]
                        extra.append(Mention(start, end, name, text[start:end], "construct", "inverted heading"))
                    break
        if "ManufacturingLogistics" in self.ontology.entities and "AdoptiveCellTherapy" in self.ontology.entities:
            for m in mentions:
                if m.entity not in self._cell_products:
                    continue
                match = _PRODUCTION_AFTER.match(text[m.end : m.end + 60])
                if match:
                    start, end = m.end + match.start("nouns"), m.end + match.end("nouns")
                    if free(start, end):
                        extra.append(Mention(start, end, "ManufacturingLogistics", text[start:end], "construct", "cell product + making"))
        return sorted(mentions + extra, key=lambda m: m.start)

    def _roles(self, text: str, mentions: list[Mention]) -> list[Mention]:
        out: list[Mention] = []
        for m in mentions:
            category = self.category(m.entity)
            if category == "TumorType" and _ANTIGEN_NAME_AFTER.match(text[m.end : m.end + 40]):
                continue  # "melanoma-associated antigen": a name inside an antigen's name
            if " own " in f" {m.matched} " and _REDIRECTS_BEFORE.search(text[max(0, m.start - 40) : m.start]):
                continue  # "redirects the patient's own T cells": how an engager works, not where a product comes from
            role = None
            if m.entity in self._other:
                role = "other-treatment"
            elif m.entity in ENGAGER_ARMS:
                after, before = text[m.end : m.end + 40], text[max(0, m.start - 40) : m.start]
                engager = _ENGAGER_ARM_AFTER.match(after) or _ENGAGER_ARM_BEFORE.search(before)
                role = "engager-arm" if engager else "t-cell-marker"
            elif category == "TumorType" and _ORIGIN_BEFORE.search(text[max(0, m.start - 40) : m.start]):
                role = "origin"
            out.append(Mention(m.start, m.end, m.entity, m.text, m.source, m.matched, role) if role else m)
        return out

    @staticmethod
    def _select(text: str, candidates: list[_Cand]) -> list[Mention]:
        chosen: list[Mention] = []
        last_end = -1
        for start, end, name, source, form, _priority in sorted(set(candidates), key=lambda c: (c[0], -(c[1] - c[0]), -c[5], c[2])):
            if start >= last_end:
                chosen.append(Mention(start, end, name, text[start:end], source, form))
                last_end = end
        return chosen

    # -- unknown products -----------------------------------------------------------
    def candidates(self, text: str, mentions: list[Mention] | None = None) -> list[Candidate]:
        """Therapy-like names the lexicon does not know: INN-like product names (-leucel,
        -cel, -tamab, -mab), CAR constructs ("CD38 CAR-T"), code names ("ABC-123")."""
        mentions = self.find(text) if mentions is None else mentions
        spans = [(m.start, m.end) for m in mentions]
        known_products = [m for m in mentions if self.category(m.entity) in ("Therapy", OTHER_TREATMENT)]
        out: list[Candidate] = []
        seen: list[tuple[int, int]] = []
        for kind, pattern in (("car-construct", _CAR_CONSTRUCT), ("product-name", _PRODUCT_NAME), ("code-name", _CODE_NAME)):
            for match in pattern.finditer(text):
                start, end = match.span()
                if any(a < end and start < b for a, b in seen):
                    continue
                if kind == "car-construct":
                    # known when a product mention covers it, or when it names an antigen the ontology's products target
                    if any(m.start <= start and end <= m.end and m.entity not in self._modalities for m in known_products):
                        continue
                    if self.lookup(match.group("antigen")) in self._targeted:
                        continue
                elif any(a < end and start < b for a, b in spans):
                    continue
                if kind == "code-name" and (re.search(r"-\d$", match.group()) or _TRIAL_CONTEXT.search(text[max(0, start - 30) : start])):
                    continue
                seen.append((start, end))
                out.append(Candidate(start, end, match.group(), kind))
        return sorted(out, key=lambda c: c.start)


@lru_cache(maxsize=4)
def lexicon_for(ontology: Ontology) -> Lexicon:
    return Lexicon(ontology)


@dataclass
class CandidateCount:
    """One unknown therapy-like name over a set of documents."""

    text: str
    kind: str
    count: int = 0
    studies: set[str] | None = None
    examples: list[tuple[str, str]] | None = None  # (study, sentence)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


def _sentence_around(text: str, start: int, end: int) -> str:
    """The sentence holding text[start:end] (a plain split at ". X"; good enough for an example)."""
    left = 0
    for match in _SENTENCE_END.finditer(text, 0, start):
        left = match.end()
    right = _SENTENCE_END.search(text, end)
    return " ".join(text[left : right.start() if right else len(text)].split())


def collect_candidates(lexicon: Lexicon, documents: Iterable[tuple[str, Sequence[str]]], examples: int = 2) -> list[CandidateCount]:
    """Unknown therapy-like names in ``documents`` ((study id, texts) pairs), most widespread
    first: how often each occurs, in how many studies, and up to ``examples`` sentences."""
    table: dict[tuple[str, str], CandidateCount] = {}
    for study, texts in documents:
        learned = lexicon.learn(texts)
        for text in texts:
            for candidate in lexicon.candidates(text, lexicon.find(text, learned)):
                name = " ".join(candidate.text.split())
                key = (name.casefold(), candidate.kind)
                entry = table.setdefault(key, CandidateCount(name, candidate.kind, 0, set(), []))
                entry.count += 1
                if study not in entry.studies and len(entry.examples) < examples:
                    entry.examples.append((study, _sentence_around(text, candidate.start, candidate.end)))
                entry.studies.add(study)
    return sorted(table.values(), key=lambda c: (-len(c.studies), -c.count, c.text.lower()))
