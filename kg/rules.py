"""The extraction rules as a table: one entry per relation.

Each :class:`Rule` says which categories stand at its two ends, which words
(cues) must stand in the clause to link them, what a negation or a hedge does
to the claim, how a list of objects sharing the cue is read, and whether a
sentence that names no subject is credited to the text's main therapy.
:mod:`kg.extract` reads this table: adding a cue is adding a word to a
rule's ``cues``; adding a relation whose ends stand in one clause with a cue
between them is one new entry (the generic clause rule handles it), plus a
test on a sentence that shows it.

Findings carry ``rule`` = ``"<rule name>.<variant>"`` ("toxicity.cue",
"toxicity.main-therapy", "effective.approval", ...), listed in
:data:`VARIANTS`, so errors can be counted per rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: What a negation in the clause does to a claim.
NEGATION_POLICIES = {
    "refute": "a negation that governs the object (within a few words, unqualified) makes a REFUTE finding; any other makes nothing",
    "drop": "a negated clause makes nothing",
}
#: What a hedge ("may", "could", "promising") does to a claim.
HEDGE_POLICIES = {
    "lower": "the finding is kept with confidence 0.6 instead of 0.8",
    "investigated": "a hedged or aimed claim of success becomes investigatedIn, never effectiveIn",
}
#: How a list of objects that share one cue is read.
LIST_POLICIES = {
    "each": "every item of a list governed by the cue gets the link (the list is one clause)",
    "respectively": "with 'respectively', the i-th subject goes with the i-th object",
}


@dataclass(frozen=True)
class Rule:
    name: str
    relation: str
    subjects: tuple[str, ...]
    object: str
    cues: tuple[str, ...]
    negation: str = "drop"
    hedge: str = "lower"
    lists: str = "each"
    main_therapy: bool = False  # a sentence naming no subject is credited to the text's main therapy
    doc: str = ""
    #: Name of the Extractor method that applies the rule; None = the generic clause rule.
    handler: str | None = None
    cue: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        assert self.negation in NEGATION_POLICIES and self.hedge in HEDGE_POLICIES and self.lists in LIST_POLICIES, self
        # every cue starts a word: "counter" in "encounter", "help" in "helper", "direct" in "indirect"
        if re.compile("|".join(self.cues)).search(""):
            raise ValueError(f"rule {self.name}: a cue matches the empty string, so it would match every clause")
        cue = re.compile(r"\b(?:" + "|".join(self.cues) + ")", re.I)
        object.__setattr__(self, "cue", cue)


RULES: tuple[Rule, ...] = (
    Rule(
        "barrier",
        "facesBarrier",
        ("Therapy",),
        "Barrier",
        (
            r"\b(?:limit|hinder|hamper|compromis|challeng|barrier|obstacle|hurdle|held back|restrict|impair|suppress|exclu|"
            r"resist|escape|relaps|loss|lost|exhaust|depend|hostil|fail|poor|short\b|lack|insufficien|difficult|complex|"
            r"variab|block|problem|issue|concern|constrain|low\b|prevent|shut|dampen|inhibit|wane|fade|"
            r"decline|cleared|dysfunction|burden|costly|delay|vein-to-vein|face|meet|confront|struggl)",
        ),
        handler="barrier",
        doc="A therapy faces a barrier named with a cue of difficulty; inherently negative barriers need no cue.",
    ),
    Rule(
        "addresses",
        "addressesBarrier",
        ("Strategy",),
        "Barrier",
        (
            r"overcom|address|counter|against|resist|withstand|remodel|improv|enhanc|revers|prevent|mitigat|shield",
            r"protect|help|restor|rescue|bypass|circumvent|boost|sustain|solv|tackl|reduc|neutraliz|insensitiv|evad|shorten",
        ),
        handler="barrier",
        doc="A strategy addresses a barrier when a remedy verb stands in the clause or right before the barrier.",
    ),
    Rule(
        "toxicity",
        "causesToxicity",
        ("Therapy",),
        "Toxicity",
        (
            r"caus|occur|develop|induc|associat|report|observ|experienc|adverse|risk|toxic|frequent|common|event|grade|"
            r"rate|incidence|led to|resulted|fatal|death|died|side effect|seen|includ|noted|had\b|with\b|less|uncommon|rare|limit|"
            r"effect|linked|suffer|warning|precaution|\d\s*%",
            # the therapy's own regimen guards against the toxicity: "step-up dosing for CRS mitigation", "CRS prophylaxis"
            r"mitigat|prophyla",
        ),
        negation="refute",
        main_therapy=True,
        handler="toxicity",
        doc="A therapy causes a toxicity reported with it; the cause must be the therapy (named, or the text's main therapy).",
    ),
    Rule(
        "mitigates",
        "mitigatesToxicity",
        ("Strategy",),
        "Toxicity",
        (r"prevent|reduc|mitigat|manag|control|treat|lower|abrogat|revers|resolv|eliminat",),
        handler="toxicity",
        doc="A strategy mitigates a toxicity it prevents, manages or treats (never the product itself).",
    ),
    Rule(
        "effective",
        "effectiveIn",
        ("Therapy",),
        "TumorType",
        (
            # word starts only: "work" in "Working Group", "cure" in "secure" and "respon" in "responsible" claim nothing
            r"\b(?:success|effective|efficacy|respon(?:se|ses|d|ded|ding|der|ders|sive|siveness)\b|remission|benefit|approv|activity"
            r"|durable|improv|prolong|surviv|cur(?:e|es|ed|ative)\b",
            r"works\b|worked\b|(?:can|could|does|do|did|will)\s+work\b|regress|superior|breakthrough"
            r"|transformed the (?:treatment|outcome|care|management)|strides"
            r"|indicated for|revolutioni[sz])",
        ),
        negation="refute",
        hedge="investigated",
        main_therapy=True,
        handler="tumor",
        doc="A therapy is effective in a tumor type only on a stated result (response, remission, survival, approval); "
        "success denied ('responses have been rare', 'has not been demonstrated') is a REFUTE finding.",
    ),
    Rule(
        "investigated",
        "investigatedIn",
        ("Therapy",),
        "TumorType",
        (r"patients with|treated|enrolled|trial|study|studied|evaluat|tested|investigat|for (?:relapsed|refractory|previously)|promis",),
        main_therapy=True,
        handler="tumor",
        doc="A therapy is investigated in a tumor type: a trial's aim or design, a hedged claim, or a review's 'being studied in'.",
    ),
    Rule(
        "antigen",
        "targetsAntigen",
        ("Therapy",),
        "Antigen",
        (r"target|direct|bind|against|recogni|specific|redirect|engag|\bx\b|express",),
        handler="antigen",
        doc="A therapy targets an antigen that qualifies it ('BCMA-directed') or is the object of a targeting verb.",
    ),
    Rule(
        "applied",
        "appliedTo",
        ("Strategy",),
        "Therapy",
        (r"with\b|plus|alongside|combin|added|applied|improv|enhanc|augment|boost|carrying|expressing|bearing|armed|followed by",),
        handler="applied",
        doc="A strategy is applied to a therapy it is used with ('CAR-T cells with a dnTGFBRII', 'half-life extended BiTE').",
    ),
    Rule(
        "attribute",
        "hasMechanisticAttribute",
        ("Therapy",),
        "MechanisticAttribute",
        (
            r"\b(?:is|are|was|were|as|being|act|acts|work|works|recogni|signal|offer|promis|provid|keep|carr|retain|remain|rely|"
            r"bridg|repertoire|product|molecule|drug)",
        ),
        handler="attribute",
        doc="A therapy has a mechanistic attribute that the clause predicates of it (or 'its'/'their' attribute).",
    ),
)

RULE_BY_RELATION: dict[str, Rule] = {r.relation: r for r in RULES}
RULE_BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}

#: Every rule name a finding may carry, with what decided it.
VARIANTS: dict[str, str] = {
    "barrier.cue": "a therapy and a barrier in one clause with a cue of difficulty",
    "addresses.cue": "a strategy and a barrier in one clause with a remedy cue",
    "toxicity.cue": "a named therapy and a toxicity in one clause with a reporting cue",
    "toxicity.main-therapy": "a toxicity reported without a named cause, credited to the text's main therapy",
    "toxicity.guarded": "a toxicity the therapy's own regimen guards against ('step-up dosing for CRS mitigation') is the therapy's",
    "toxicity.refute": "a toxicity denied ('none of the patients had ...')",
    "mitigates.cue": "a strategy and a toxicity in one clause with a mitigation cue",
    "mitigates.resolution": "a toxicity that resolved after a strategy ('CRS, which resolved after tocilizumab')",
    "effective.result": "a therapy and a tumor type in one clause with a stated result",
    "effective.approval": "an approval of the therapy for the tumor type, or its indication ('is indicated for')",
    "effective.main-therapy": "an outcome sentence naming neither, in a text about one therapy in one tumor type",
    "effective.refute": "success denied ('responses have been rare')",
    "investigated.aim": "an aim, design or hedged claim of success: investigated, not effective",
    "investigated.studied": "a therapy studied, evaluated or developed in a tumor type",
    "investigated.design": "a trial's title naming a therapy and a tumor type",
    "antigen.qualifier": "an antigen qualifying the therapy or the object of a targeting verb",
    "applied.adjacent": "a strategy used with a therapy",
    "applied.enhances": "a strategy that improves a therapy ('... can enhance the efficacy of CAR-T cell therapy')",
    "applied.main-therapy": "a strategy the patients received, in a text about one therapy",
    "attribute.cue": "an attribute predicated of a therapy",
}
