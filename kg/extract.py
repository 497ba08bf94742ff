"""Relation extraction: findings mined from a study's text, each with its quote.

Per sentence, entity mentions come from the ontology lexicon; the sentence is
cut into clauses at semicolons, commas and coordinating words, and a therapy
(or strategy) is paired with what stands in the same clause. Only when a
sentence names a single subject does it reach across clauses. So in
"... compromised by A for X, B and C for Y, and D for Z", A belongs to X only.

Precision over recall: a relation needs both ends in reach and a cue that
says what links them; negated statements ("did not cause", "no evidence of")
become REFUTE findings where the pattern is clear and nothing otherwise;
hedged ones lower the confidence, aims and hedges about success make
investigatedIn only, and doubt ("whether", "unknown") silences its clause.

In a text about one therapy (a trial, an approval, a review of one product),
sentences about toxicities, responses or targets that do not name a therapy
are attributed to that main therapy, unless they name another actor.

What each relation needs is a table, :mod:`kg.rules`; each finding records
the rule that made it. ``extract(record, trace=[...])`` also records every
decision as a :class:`Note`, which ``tkg explain`` prints (docs/extraction.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .lexicon import CONTEXTUAL_TERMS, Lexicon, Mention, lexicon_for, normalize
from .model import REFUTE, SUPPORT, TEXT_MINED, Finding, StudyRecord, TextBlock
from .namespaces import TKG
from .ontology import Ontology, default_ontology
from .rules import RULE_BY_NAME, RULES, Rule

#: Words whose period ends no sentence ("et al.", "Fig. 2", "Dr. Smith", "vs. placebo", "U.S.").
_NO_END = ("e.g", "i.e", "vs", "al", "Fig", "Figs", "approx", "ref", "refs", "Ref", "Refs", "Dr", "Drs", "Prof", "Mr", "Mrs", "Ms",
           "No", "Nos", "no", "cf", "ca", "St", "Suppl", "Vol", "pp", "sp", "spp", "Eq", "Tab", "resp", "incl")  # fmt: skip
_ABBREVIATIONS = "".join(rf"(?<!\b{re.escape(w)})" for w in _NO_END) + r"(?<!\b[A-Z])"
#: A sentence ends at . ! or ? (with any closing quotes or brackets) before a space and a capital,
#: a digit, an opening bracket or quote, straight or curly.
#: A run-on sentence end with no space ("in the blood system.There is no cure"): a lowercase word,
#: a period and a capitalized word ("1G4.Pyr", "e.g.The" and "U.S.A" stay whole).
# (the leading lookaheads only make the scan fast: positions without . ! ? fail before the lookbehinds run)
_RUN_ON_END = re.compile(r"(?=\.)(?<=[a-z]{3})(?<!\be\.g)(?<!\bi\.e)\.(?=[A-Z][a-z]{2})")
_SENTENCE_END = re.compile(r"(?=[.!?])" + _ABBREVIATIONS + r"[.!?][\"'\u201d\u2019)\]]*(?=\s+[A-Z0-9(\[\"'\u201c\u2018])")
_CLAUSE_BREAK = re.compile(r";|,\s*(?:and|but|while|whereas|or)\s|,\s|\s(?:whereas|while|but)\s|\s-\s|\u2014")

#: Phrases with a negative word that deny nothing: a category label ("not otherwise specified"),
#: a statistic ("not estimable", "median not reached") or an addition ("not only").
_NOT_A_NEGATION = r"(?!\s+(?:otherwise specified|estimable|evaluable|reached|only)\b)"
NEGATION = re.compile(
    r"\b(?:no|not|never|without|neither|nor|none|absence of|free of|lack(?:ed)? any|failed to show"
    r"|did not|does not|do not|was not|were not|is not|are not)\b" + _NOT_A_NEGATION,
    re.I,
)
SPECULATION = re.compile(r"\b(?:whether|unclear|unknown|hypothes\w*|speculat\w*|remains to be|if any)\b", re.I)
#: The modal "may", not the month ("On May 19, 2023").
_MAY = r"(?-i:may)|May(?!\s*\d)"
HEDGE = re.compile(r"\b(?:" + _MAY + r"|might|could|possibly|potentially|suggest\w*|appear\w*)\b", re.I)

FACES, ADDRESSES = RULE_BY_NAME["barrier"], RULE_BY_NAME["addresses"]
TOXICITY, MITIGATES = RULE_BY_NAME["toxicity"], RULE_BY_NAME["mitigates"]
EFFECTIVE, INVESTIGATED = RULE_BY_NAME["effective"], RULE_BY_NAME["investigated"]
ANTIGEN, ATTRIBUTE = RULE_BY_NAME["antigen"], RULE_BY_NAME["attribute"]
#: Object categories with their own handler in :class:`Extractor` (named in the rule table);
#: a rule whose handler is None is applied by the generic clause rule.
_OBJECT_HANDLERS = {r.object: f"_on_{r.handler}" for r in RULES if r.handler and r.handler != "applied"}
_GENERIC_RULES: dict[str, list[Rule]] = {}
for _rule in RULES:
    if _rule.handler is None:
        _GENERIC_RULES.setdefault(_rule.object, []).append(_rule)
FAILED_SUCCESS = re.compile(
    r"\b(?:little|limited|modest|minimal|poor|disappointing|rare|rarely|fail\w*|lack\w*|no|not|without|less|fewer|inferior)\b"
    + _NOT_A_NEGATION
    # success named as what a barrier limits: "the hostile TME limits CAR-T cell efficacy in solid tumors"
    + r"|\b(?:limit|hinder|hamper|impair|restrict|compromis|diminish|undermin|reduc|weaken|curtail|dampen|blunt|attenuat)\w*\s+"
    r"(?:[\w-]+\s+){0,4}?(?:efficacy|effectiveness|activity|success|respon\w*|benefit|function)",
    re.I,
)
#: Success denied outright ("responses have been rare"): a REFUTE finding rather than none.
FAILURE = re.compile(
    r"\b(?:respon\w*|remissions?|efficacy|activity|benefit|success|results?)\b[^,;.]{0,40}?"
    r"\b(?:ha(?:ve|s) been|were|was|are|is|remain(?:ed|s)?)\s+"
    r"(?:\w+\s+){0,2}?(?:rare|disappointing|anecdotal|poor|dismal|unsatisfactory|less encouraging|not significant)\b"
    r"|\b(?:rare|disappointing|anecdotal)\s+(?:respon\w*|remissions?)"
    r"|\black of (?:\w+\s+)?(?:respon\w*|efficacy|benefit|activity)"
    r"|\bno (?:\w+\s+){0,2}(?:respon\w*|remissions?|benefit) (?:was|were|has been|have been) (?:observed|seen|noted|achieved|reported)"
    r"|\bfailed to (?:induce|produce|show|achieve|demonstrate|improve) (?:\w+\s+){0,2}(?:respon\w*|remissions?|benefit|efficacy|survival)"
    r"|\b(?:efficacy|benefit|activity)\b[^,;.]{0,40}?\bha(?:s|ve) not (?:yet )?been "
    r"(?:supported|demonstrated|shown|proven|observed)",
    re.I,
)
#: An aim, a design or a hedge: what follows is to be shown, not a result ("to evaluate the
#: efficacy of X in Y", "this trial tests how well X works", "X may be effective", "promising").
AIM = re.compile(
    r"\b(?:to (?:evaluate|assess|determine|see|describe|compare|investigate|test|study|explore|examine|learn|find out|establish|"
    r"characteri[sz]e|estimate|measure|confirm|provide (?:preliminary )?evidence|improve|enhance|increase|optimi[sz]e|maximi[sz]e)"
    r"|will (?:be )?(?:evaluat|assess|determin|test|compar|investigat|stud|explor|examin)\w*"
    r"|aim(?:s|ed)? (?:to|of|at)|objectives?\s*(?::|is|are|was|were|of)|purpose|goals?|outcome measures?"
    r"|(?:trial|study|studies) (?:studies|tests|investigates|evaluates|compares|examines|explores|assesses)"
    r"|(?:evaluat|assess|investigat|examin|explor|determin)(?:ed|es|ing) (?:the )?(?:efficacy|safety|effectiveness|feasibility|benefit)"
    r"|designed to|intended to"
    r"|(?:study|trial|studies) (?:of|on|evaluating|assessing) (?:the )?(?:safety|efficacy|effectiveness|feasibility|tolerability)"
    # a title-style noun phrase opening the sentence: "Safety and Efficacy of X Versus Y in Z"
    r"|^\W*(?:(?:safety|tolerability|feasibility)(?:,? and|,) (?:\w+ )?(?:efficacy|effectiveness|activity)"
    r"|(?:efficacy|effectiveness|activity)(?:,? and|,) (?:\w+ )?(?:safety|tolerability)) of"
    r"|how (?:well|effective|safe)|possible|potential(?:ly)?|promis\w*|hope\w*|will|" + _MAY + r"|might|could|whether|interest)\b",
    re.I,
)
#: A therapy under study in a tumor type, stated without a result (reviews and trials alike).
STUDIED = re.compile(
    r"\b(?:being (?:studied|tested|evaluated|investigated|developed|explored|compared)|under (?:investigation|development|evaluation)"
    r"|(?:clinical )?(?:trials?|studies) (?:of|with|involving|using|in|for)|early(?:-phase)? clinical|clinical development"
    r"|(?:has|have) been (?:studied|tested|evaluated|investigated|explored|applied|used)|interest in|in development"
    r"|trials? (?:(?:has|have) been|(?:is|are|was|were)(?: being)?) "
    r"(?:performed|conducted|carried out|initiated|launched|registered|undertaken))\b",
    re.I,
)
_PARENTHESIS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
#: Words that may stand beside the items of a list without making a clause of their own.
_LIST_WORDS = {
    "and", "or", "nor", "also", "as", "well", "particularly", "especially", "notably", "mainly", "mostly", "including",
    "such", "like", "in", "of", "the", "a", "an", "its", "their", "certain", "some", "other", "various", "several",
    "to", "with", "for", "patients", "grade", "higher", "serious", "severe", "fatal", "life-threatening", "prolonged",
}  # fmt: skip
#: "to determine whether X works", "the investigators will evaluate whether X improves": an aim, not doubt.
_FINITE_VERB = re.compile(r"(?i:is|are|was|were|has|have|had|include[sd]?|remain(?:s|ed)?|occur(?:s|red)?)|[a-z]+ed", re.I)
_AIM_WHETHER = re.compile(
    r"\b(?:determin|assess|evaluat|test|examin|investigat|explor|stud(?:y|ies|ied)|see|find out|learn|compar)\w* (?:whether|if)\b", re.I
)
#: The tumor another one arose from: "LBCL arising from follicular lymphoma", "transformed from CLL".
_ORIGIN_BEFORE = re.compile(
    r"\b(?:arising|arisen|arose|transformed|transforming|transformation|originating|originated|evolving|evolved|derived|progressing|progressed)"
    r"\s+(?:from|of)\s+(?:an?\s+|the\s+|prior\s+|previous\s+|underlying\s+|indolent\s+)?$|\bhistory of\s+(?:\w+\s+)?$",
    re.I,
)
#: Sections of a record that describe a design, not results (registry outcome measures, arms,
#: interventions, eligibility; a trial's titles).
_DESIGN_SECTION = re.compile(r"outcome|objective|endpoint|arm\b|arm group|intervention|eligib|criteria|design|purpose|title", re.I)
#: A confounder: "regardless of X", "irrespective of X", "independently of X".
_CONFOUNDER_BEFORE = re.compile(r"\b(?:regardless of|irrespective of|independent(?:ly)? of|unrelated to)\s+(?:the\s+|prior\s+)?$", re.I)
#: Agents other than the text's therapy that a sentence may make its actor: conditioning drugs,
#: cytokine support, standard or comparator treatments, pathogens.
_OTHER_AGENT = re.compile(
    r"\b(?:chemotherapy|chemo|lymphodepleti\w+|conditioning|fludarabine|cyclophosphamide|bendamustine|aldesleukin|IL-2|interleukin-2"
    r"|standard (?:therapy|therapies|care|treatment|of care)|standard-of-care|conventional (?:therapy|therapies|treatment)"
    r"|current (?:therapies|treatments)|existing (?:therapies|treatments)|salvage|transplant\w*|radiotherapy|radiation"
    r"|ipilimumab|pembrolizumab|nivolumab|rituximab|dacarbazine|control arm|comparator|investigator's choice|placebo"
    r"|bacteri\w+|virus\w*|viral|fungal|fungi|pathogens?)\b",
    re.I,
)
#: A comparator arm: a therapy named after "compared with", "versus", "than" is not the subject.
_COMPARATOR_BEFORE = re.compile(
    r"\b(?:compared (?:with|to)|versus|vs\.?|than|rather than|instead of|comparator|control arm(?: of)?|randomi[sz]ed (?:to|against))\s+"
    r"(?:the\s+|a\s+|an\s+|standard\s+|standard-of-care\s+|investigator's choice of\s+)?(?:[\w-]+\s+){0,2}$",
    re.I,
)
#: Outcome words that, in a trial of one tumor type, claim success there without naming it.
#: ("a cytotoxic T cell response" is a mechanism, not an outcome).
OUTCOME_CUE = re.compile(
    r"(?<!T cell )(?<!T-cell )(?<!immune )(?<!cytotoxic )(?<!antibody )\brespon(?:se|ses|ded)\b"
    r"|\bremissions?\b|\bsurvival\b|\bregress\w*|\bantitumor activity",
    re.I,
)
#: An antigen is a therapy's target when it qualifies the therapy ("DLL3-directed", "BCMA x CD3")
#: or is the object of a targeting verb right before it ("against GD2", "binds DLL3").
#: The qualifier may follow the antigen's abbreviation: "B-cell maturation antigen (BCMA)-directed".
_ABBREVIATION_AFTER = r"^\s*(?:\([^()]{1,30}\)|\))?"
ANTIGEN_AFTER = re.compile(
    _ABBREVIATION_AFTER + r"\s*[-\u2010\u2011\u2013]?\s*(?:directed|targeted|targeting|specific|redirected|positive|reactive)\b"
    r"|^\s*(?:x|×)\s*CD3|^\s*(?:CAR|-CAR|bispecific|TCR)",
    re.I,
)
ANTIGEN_BEFORE = re.compile(
    r"(?:against|targeting|targets?|binds?|binding|recogni[sz]\w*|directed (?:at|against|to)|specific for)\s+(?:the\s+|a\s+|an\s+)?"
    r"(?:(?:[\w-]+\s+){0,2}|(?:[\w-]+,?\s+){1,5}(?:such as|including|like)\s+)$",
    re.I,
)
#: Inherently negative barrier terms need no extra cue.
SELF_EVIDENT_BARRIERS = {
    "AntigenEscape",
    "TCellExhaustion",
    "Immunosuppression",
    "MetabolicInsulation",
    "PhysicalExclusion",
    "MHCLoss",
    "AntigenHeterogeneity",
    "TumorMicroenvironmentBarrier",
}
TRIAL_TYPES = {"randomized controlled trial", "non-randomized trial", "clinical trial", "trial registration", "case report"}
#: Primary reports (a trial, a study, an approval text) are about the therapy their title and first
#: text name, modality or product; a review is about one therapy only when its title names one product.
PRIMARY_TYPES = TRIAL_TYPES | {"study", "observational study", "preclinical study"}
SKIP_ANTIGENS = {"CD3"}  # the T cell arm of an engager, not its tumor target


@dataclass(frozen=True)
class Note:
    """One step of an extraction, recorded when a trace is asked for (``tkg explain``)."""

    kind: str  # study, sentence, mention, hedge, clause, finding, reject, duplicate
    text: str
    data: dict = field(default_factory=dict)


def _show(f: Finding) -> str:
    return f"{f.subject} {f.relation} {f.object}" + (" (REFUTE)" if f.support == REFUTE else "")


@dataclass(frozen=True)
class Clause:
    start: int
    end: int
    mentions: tuple[Mention, ...]


def sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    ends = sorted({m.end() for m in _SENTENCE_END.finditer(text)} | {m.end() for m in _RUN_ON_END.finditer(text)})
    for end in ends:
        if text[start:end].strip():
            spans.append((start, end))
        start = end
        while start < len(text) and text[start].isspace():
            start += 1
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _inside_parenthesis(text: str, start: int, pos: int, end: int) -> bool:
    """Whether ``pos`` lies inside a bracketed aside opened after ``start`` and closed before ``end``."""
    depth = 0
    for ch in text[start:pos]:
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth:
            depth -= 1
    if not depth:
        return False
    closing = 0
    for ch in text[pos:end]:
        if ch in "([":
            closing -= 1
        elif ch in ")]":
            closing += 1
            if closing > 0:
                return True
    return False


def _clauses(text: str, start: int, end: int, mentions: list[Mention]) -> list[Clause]:
    cuts = [start]
    for match in _CLAUSE_BREAK.finditer(text, start, end):
        # never cut inside a mention ("on-target, off-tumor toxicity") nor inside a parenthesis
        # that closes in the sentence ("drug (Brand, Company, Inc.) for adults with Y")
        if not any(m.start < match.start() < m.end for m in mentions) and not _inside_parenthesis(text, start, match.start(), end):
            cuts.append(match.end())
    cuts.append(end)
    clauses = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        inside = tuple(m for m in mentions if a <= m.start < b)
        clauses.append(Clause(a, b, inside))
    return clauses


_GLUE = re.compile(
    r"^(?:[\s,.:]|\b(?:and|or|nor|both|mainly|mostly|chiefly|notably|especially|particularly|including|such as|namely)\b)*$", re.I
)
_INTRO = re.compile(r"^\s*in\s+(?:patients\s+with\s+)?[\s,]*$", re.I)


def merge_clauses(text: str, clauses: list[Clause], is_subject) -> list[Clause]:
    """Undo cuts that split a list or a frame from its clause: a bare list of
    subjects ("CAR-T cells, | TILs and TCEs meet ...") joins the next clause, a
    bare list of objects (", | B-ALL and myeloma.") the previous one, and an
    introductory "In <tumor>," or a short aside ("by contrast,") the next one.
    Never across a semicolon."""

    def rest(c: Clause) -> str:
        out, pos = [], c.start
        for m in c.mentions:
            out.append(text[pos : m.start])
            pos = m.end
        out.append(text[pos : c.end])
        return " ".join(out)

    merged: list[Clause] = []
    pending: int | None = None
    for i, c in enumerate(clauses):
        start = c.start if pending is None else pending
        pending = None
        body, last = rest(c), i == len(clauses) - 1
        stops = text[c.start : c.end].rstrip().endswith(";")
        glue = bool(_GLUE.match(body))
        subjects = [m for m in c.mentions if is_subject(m)]
        forward = (
            not last
            and not stops
            and (
                (c.mentions and glue and len(subjects) == len(c.mentions))
                or (not c.mentions and len(body.split()) <= 3)
                or (c.mentions and not subjects and _INTRO.match(body))
            )
        )
        backward = merged and c.mentions and glue and not subjects and not text[merged[-1].start : merged[-1].end].rstrip().endswith(";")
        if forward:
            pending = start
        elif backward:
            prev = merged[-1]
            merged[-1] = Clause(prev.start, c.end, prev.mentions + c.mentions)
        else:
            mentions = tuple(m for cl in clauses if start <= cl.start <= c.start for m in cl.mentions)
            merged.append(Clause(start, c.end, mentions))
    return merged


#: A product named as an example of its class ("engagers such as blinatumomab").
_EXAMPLE_BEFORE = re.compile(r"(?:such as|including|e\.g\.,?|for example,?|like)\s+(?:[\w-]+\s+)?$", re.I)
#: A modality mention that refers back to the trial's product ("the CAR-T cells").
_DEFINITE_BEFORE = re.compile(r"\b(?:the|these|this|those|infused)\s+$", re.I)
#: A modality qualified by its antigen after it ("CAR-T cells against carbonic anhydrase IX").
_QUALIFIER_AFTER = re.compile(r"^\s*(?:(?:directed|redirected)\s+(?:at|against|to)|against|targeting|specific for)\s+(?:the\s+)?$", re.I)
_QUALIFIER_BEFORE = re.compile(r"^[\s-]*(?:directed|targeted|targeting|specific|redirected)\s*$", re.I)
#: Gapped coordination: "..., teclistamab and elranatamab to serious infections" borrows the verb.
_GAPPED = re.compile(r"^[\s,]*(?:(?:and|or)\s+)?$")
_GAP_PREPOSITION = re.compile(r"^\s*(?:to|for|with|in|by)\b", re.I)
_PURPOSE = re.compile(r"^\s*to\s+(?:overcome|address|counter|circumvent|bypass|prevent|mitigate|reduce|improve|tackle)\b", re.I)
_FOR_BEFORE = re.compile(r"\b(?:for|against)\s+(?:the\s+)?$", re.I)
_STRATEGY_VERB_BEFORE = re.compile(
    r"\b(?:overcom|address|counter|revers|restor|rescu|improv|enhanc|boost|sustain|prevent|shorten|reduc|alleviat|mitigat)\w*\s+"
    r"(?:of\s+)?(?:the\s+|their\s+|its\s+)?$",
    re.I,
)
_POSSESSIVE_BEFORE = re.compile(r"\b(?:their|its)\s+$", re.I)
#: A strategy used with a therapy: "half-life extended BiTE", "CAR-T cells with a dnTGFBRII",
#: "step-up dosing ... with engagers", "selection may improve TIL products", "followed by ... doses".
_APPLIED_S_T = re.compile(
    r"^\s*$|^[\s,]*(?:[\w-]+\s+){0,4}(?:with|plus|alongside|in combination with|combined with|added to|applied to)\s+"
    r"(?:the\s+|a\s+|an\s+)?$"
    r"|^\s*(?:may\s+|can\s+|could\s+|to\s+)?(?:improv|enhanc|augment|boost)\w*\s+(?:the\s+)?$",
    re.I,
)
_APPLIED_T_S = re.compile(
    r"^\s*(?:cells?\s+|products?\s+)?(?:with|carrying|expressing|bearing|armed with|engineered with|plus|combined with)\s+"
    r"(?:a\s+|an\s+|the\s+)?$"
    r"|^\s*(?:[\w-]+\s+)?followed by\s+(?:[\w-]+\s+)?$",
    re.I,
)
#: A strategy named as earlier treatment ("progressed after anti-PD-1 therapy") is not applied with the therapy.
_PRIOR_BEFORE = re.compile(
    r"\b(?:after|following|prior|previous|previously|progressed on|refractory to|exposed to|failed)\s+(?:[\w-]+\s+)?$", re.I
)
_NEGATION_QUALIFIER = re.compile(r"\b(?:dose-limiting|severe|serious|grade|high-grade|new|unexpected|higher|fatal|prolonged|late)\b", re.I)
_NONE_OF = re.compile(
    r"^\s*(?:of\s+)?(?:the\s+|these\s+|our\s+)?(?:\w+\s+)?(?:patients?|subjects?|participants?|children|adults|cases)\b", re.I
)
#: A reference back to the therapy of the sentence before: a possessive before what a therapy has
#: ("its efficacy", "their toxicity"), or a demonstrative subject ("This approach", "These cells", "It").
_ANAPHOR = re.compile(
    r"\b(?i:its|their)\s+(?:\w+\s+)?(?i:efficacy|effectiveness|success|use|application|activity|toxicit\w*|safety|benefit|results?|outcomes?)\b"
    r"|^\W*(?:(?:However|Moreover|Furthermore|Nevertheless|Additionally|But|Yet|Still|In addition|Notably|Importantly),?\s+)?"
    r"(?:(?:This|These|Such)\s+(?:\w+\s+)?(?:approach|approaches|therapy|therapies|treatment|treatments|strategy|modality|product|products|agent|agents"
    r"|platform|technology|cells|engagers?|molecules?|construct)|It|They"
    # a definite result opening the sentence speaks of the therapy just named: "The clinical results ..."
    r"|The (?:clinical )?(?:results|outcomes|responses|efficacy))\b",
)
#: A toxicity resolved by a strategy: "CRS, which resolved after tocilizumab", "ICANS ... reversed with steroids".
_RESOLVED_BEFORE = re.compile(
    r"\b(?:remitted|resolved|subsided|abated|reversed|improved|disappeared|was managed|were managed|was treated|were treated|responded)\b"
    r"[^.;]{0,40}?\b(?:after|with|following|upon|by|to)\s+(?:\w+\s+){0,2}$",
    re.I,
)
#: A cause stated for a toxicity: "... caused by bacteria", "... related to the conditioning regimen"
#: (after it), "chemotherapy-induced ..." (before it; "-associated" names a mechanism, not a cause:
#: "tumor inflammation-associated neurotoxicity" of CAR-T cells).
_AGENT = r"(?:the\s+|a\s+|an\s+)?[\w-]+(?:\s+[\w-]+)?"
_CAUSE_AFTER = re.compile(
    r"\s*(?:\([^()]*\)\s*)?,?\s*(?:which (?:is|are|was|were) )?(?:caused|induced|triggered|provoked) by\s+(?P<agent>" + _AGENT + ")"
    r"|\s*(?:\([^()]*\)\s*)?(?:due to|attributed to|attributable to|related to|secondary to)\s+(?P<agent2>" + _AGENT + ")",
    re.I,
)
_CAUSE_BEFORE = re.compile(r"(?P<agent>\b[\w]+(?:[\s-][\w]+)?)[\s-](?:induced|related)\s+(?:\w+\s+)?$", re.I)
#: Words by which a text names the therapy itself as the cause ("treatment-related", "infusion-related").
_OWN_CAUSE_WORDS = {
    "treatment", "therapy", "therapies", "drug", "drugs", "infusion", "product", "immunotherapy", "cell", "cells", "engager",
    "engagers", "bispecific", "dose", "dosing", "immune", "effector", "it", "this", "which", "them", "these", "study",
}  # fmt: skip


def _own_cause(agent: str | None) -> bool:
    words = (agent or "").lower().split()  # "high-dose interleukin-2" is not "dose"
    return not words or any(w in _OWN_CAUSE_WORDS for w in words)


#: A strategy that improves a therapy: "... can all enhance the efficacy of <therapy>".
_ENHANCES_BEFORE = re.compile(
    r"\b(?:improv|enhanc|augment|boost|increas|optimi[sz])\w*\s+(?:the\s+|its\s+|their\s+)?(?:\w+\s+)?"
    r"(?:efficacy|effectiveness|activity|potency|persistence|function|safety|efficiency)\s+of\s+(?:the\s+)?$",
    re.I,
)
#: A strategy patients received: "who received a 2 step-up dosing regimen", "were given tocilizumab".
_RECEIVED_BEFORE = re.compile(
    r"\b(?:received|receiving|receive|were given|was given|administered|treated with|underwent|undergo)\s+"
    r"(?:a\s+|an\s+|the\s+)?(?:[\w-]+\s+){0,2}$",
    re.I,
)
#: Between a pre-modifying attribute and the therapy it modifies: at most two words ("autologous GD2 CAR T cells").
_MODIFIER_GAP = re.compile(r"[\s\-\u2010\u2011]*(?:[\w-]+[\s\-\u2010\u2011]+){0,2}")
#: A definition by apposition: "X, a [...] autologous T cell immunotherapy".
_APPOSITION_BEFORE = re.compile(r",\s+(?:a|an|the)\s+(?:[\w-]+\s+){0,4}$", re.I)
_RESPECTIVELY = re.compile(r"\brespectively\b", re.I)


@dataclass
class _Sentence:
    """What every clause of a sentence shares."""

    block: TextBlock
    start: int
    end: int
    text: str
    sentence: str
    mentions: list[Mention]
    main: str | None
    main_tumor: str | None
    confidence: float
    clauses: list[Clause]
    subjects: list[str]  # therapies and strategies the sentence names, most specific
    solo_named: str | None
    solo: str | None  # the sentence's one subject, if it names one
    tumor_context: str | None
    strategy_sentence: bool
    purpose: bool
    strategies: list[str]
    out: list[Finding] = field(default_factory=list)


@dataclass
class _ClauseState:
    clause: Clause
    clause_text: str
    names: list[Mention]
    negated: bool
    list_start: int  # where the list this clause continues begins (its own start if none)
    cue_text: str  # the clause, or the sentence so far when a gapped clause borrows its verb
    respective: bool
    therapies: list[str]
    strategies: list[str]
    therapies_as_named: list[str]
    implicit: bool  # the subject is the text's main therapy, not named in the sentence
    context: str | None


#: A toxicity named as what a regimen guards against: "CRS mitigation", "for the prevention of CRS".
_GUARDED_AFTER = re.compile(r"\W{0,3}(?:\([^)]{1,12}\)\s*)?(?:mitigation|prophylaxis|prevention)\b", re.I)
_GUARDED_BEFORE = re.compile(r"\b(?:mitigat\w*|prophylaxis|prevent\w*)\s+(?:of\s+)?(?:\w+\s+){0,2}$", re.I)
#: A clause that names the patients an approval is for ("for adults with ...", "for the treatment of
#: pediatric patients with ..."), and the approval it completes earlier in the same sentence.
_INDICATION = re.compile(
    r"\W*for\s+(?:the\s+treatment\s+of\s+|use\s+in\s+)?(?:adult|adults|pediatric|paediatric|children|patients|people|persons|individuals)\b",
    re.I,
)
_APPROVAL = re.compile(r"\b(?:approv\w*|indicated)\b", re.I)


class Extractor:
    def __init__(self, ontology: Ontology):
        self.ontology = ontology
        self.lexicon: Lexicon = lexicon_for(ontology)
        self._found: dict[str, list[Mention]] = {}  # titles and opening texts already read, per record
        self._targets: dict[str, set[str]] = {}
        for product, antigen in ontology.graph.subject_objects(TKG.targetAntigen):
            self._targets.setdefault(str(antigen).rsplit("/", 1)[-1], set()).add(str(product).rsplit("/", 1)[-1])

    # -- helpers --------------------------------------------------------------
    def category(self, name: str) -> str | None:
        return self.ontology.entities[name].category

    def most_specific(self, names: list[str]) -> list[str]:
        """Drop a therapy mention when a more specific one (its product) is present."""
        unique = list(dict.fromkeys(names))
        return [n for n in unique if not any(o != n and self.ontology.is_a(o, n) for o in unique)]

    MODALITIES = ("CART", "TIL", "TCRT", "TCellEngager", "BiTE", "ImmTAC")

    def _study_texts(self, record: StudyRecord) -> list[str]:
        return [record.title, record.subtitle or "", *(b.text for b in record.texts[:2])]

    def _title_product(self, record: StudyRecord) -> str | None:
        """The one product a title (and subtitle) names, when it names no other therapy:
        the subject of an approval text, a label or a summary about one therapy."""
        therapies = self.most_specific(
            [m.entity for t in (record.title, record.subtitle or "") for m in self._find_once(t) if self.category(m.entity) == "Therapy"]
        )
        return therapies[0] if len(therapies) == 1 and therapies[0] not in self.MODALITIES else None

    def main_therapy(self, record: StudyRecord) -> str | None:
        """The therapy a single-therapy study is about: in a trial, the one product its title
        and first texts name, else the one modality they name; in any other text (an approval,
        a label, a review of one product), the one product its title names and nothing else."""
        if record.study_type not in PRIMARY_TYPES:
            return self._title_product(record)
        therapies = self.most_specific(
            [m.entity for t in self._study_texts(record) for m in self._find_once(t) if self.category(m.entity) == "Therapy"]
        )
        products = [t for t in therapies if t not in self.MODALITIES]
        if len(products) == 1:
            return products[0]
        return therapies[0] if len(therapies) == 1 else None

    def main_tumor(self, record: StudyRecord) -> str | None:
        """The one tumor type a trial's title names (else its first text), most specific form;
        in another text about one product, the one its title names."""
        texts = self._study_texts(record)
        if record.study_type not in PRIMARY_TYPES:
            if not self._title_product(record):
                return None
            texts = [record.title, record.subtitle or ""]
        for text in texts:
            tumors = self.most_specific([m.entity for m in self._find_once(text) if self.category(m.entity) == "TumorType"])
            if tumors:
                return tumors[0] if len(tumors) == 1 else None
        return None

    def _specific(self, therapy: str, in_sentence: list[str], main: str | None = None) -> str:
        """A modality named in apposition to its product ("tarlatamab, a T cell engager") is the
        product; in a trial of one product, its modality ("the CAR-T cells") is that product."""
        narrower = [s for s in in_sentence if s != therapy and self.ontology.is_a(s, therapy)]
        if len(narrower) == 1:
            return narrower[0]
        if main and main != therapy and self.ontology.is_a(main, therapy) and not narrower:
            return main
        return therapy

    def _resolve_mentions(self, text: str, start: int, mentions: list[Mention], main: str | None) -> list[Mention]:
        """Sentence-level readings of therapy mentions: a modality qualified by an antigen that
        only one of its products targets is that product; a product given as an example of a
        class mentioned with it is left to the class; in a trial, a definite modality mention
        ("the CAR-T cells") is the trial's product; a strategy named as earlier treatment drops out."""
        out: list[Mention] = []
        for i, m in enumerate(mentions):
            if m.entity in self.MODALITIES:
                antigen = None
                if i + 1 < len(mentions) and _QUALIFIER_AFTER.match(text[m.end : mentions[i + 1].start]):
                    antigen = mentions[i + 1].entity
                elif i > 0 and _QUALIFIER_BEFORE.match(text[mentions[i - 1].end : m.start]):
                    antigen = mentions[i - 1].entity
                products = [p for p in self._targets.get(antigen or "", ()) if self.ontology.is_a(p, m.entity)]
                if len(products) == 1:
                    out.append(replace(m, entity=products[0]))
                    continue
                if main and self.ontology.is_a(main, m.entity) and _DEFINITE_BEFORE.search(text[max(start, m.start - 12) : m.start]):
                    out.append(replace(m, entity=main))
                    continue
            if (
                self.category(m.entity) == "Strategy"
                and _PRIOR_BEFORE.search(text[max(start, m.start - 30) : m.start])
                and not _RESOLVED_BEFORE.search(text[start : m.start])
            ):
                continue  # earlier treatment ("progressed on anti-PD-1 therapy"), not a subject here
            if self.category(m.entity) in ("Therapy", "Strategy") and _COMPARATOR_BEFORE.search(text[max(start, m.start - 50) : m.start]):
                self._note("reject", f"{m.entity}: a comparator, not a subject", rule="comparator")
                self._set_aside = True
                continue
            if self.category(m.entity) == "Therapy" and _CONFOUNDER_BEFORE.search(text[max(start, m.start - 30) : m.start]):
                # "Regardless of CAR T-cell therapy, patients with DLBCL develop second cancers"
                self._note("reject", f"{m.entity}: named as a confounder, not a subject", rule="confounder")
                self._set_aside = True
                continue
            if (
                self.category(m.entity) == "Therapy"
                and _EXAMPLE_BEFORE.search(text[max(start, m.start - 30) : m.start])
                and any(o.entity != m.entity and self.ontology.is_a(m.entity, o.entity) for o in mentions[:i])
            ):
                continue
            out.append(m)
        return out

    # -- extraction -----------------------------------------------------------
    def extract(self, record: StudyRecord, trace: list | None = None) -> list[Finding]:
        """Findings of a record. With ``trace`` (a list), every decision is appended to it as a
        :class:`Note` (sentences, mentions, clauses, cues, findings made and rejected): the
        material of ``tkg explain``, made by this very code path."""
        self._trace = trace
        self._found = {}
        main, tumor = self.main_therapy(record), self.main_tumor(record)
        self._note("study", f"main therapy: {main or '-'}; main tumor type: {tumor or '-'}")
        findings: dict[tuple, Finding] = {}
        # abbreviations and code names one text of the record defines hold in all of its texts,
        # as in the study's mentions (a lexicon without per-document learning reads each text alone)
        learn = getattr(self.lexicon, "learn", None)
        learned = learn([t for t in (record.title, record.subtitle or "", *(b.text for b in record.texts)) if t]) if learn else None
        self._topic = None
        self._trial = record.study_type in TRIAL_TYPES
        for block in record.texts:
            mentions = self._find(block.text, learned)
            for s_start, s_end in sentences(block.text):
                inside = [m for m in mentions if s_start <= m.start < s_end]
                self._note("sentence", block.text[s_start:s_end].strip(), section=block.section)
                if not inside and not (main and tumor):
                    continue
                for finding in self._sentence(block, s_start, s_end, inside, main, tumor):
                    key = (finding.subject, finding.relation, finding.object, finding.support)
                    if key in findings:
                        self._note("duplicate", _show(finding), rule=finding.rule)
                    findings.setdefault(key, finding)  # the first sentence that says it
        # "studied in" is implied by, and weaker than, a claim of success for the same pair
        effective = {(f.subject, f.object) for f in findings.values() if f.relation == "effectiveIn" and f.support == SUPPORT}
        out = []
        for f in findings.values():
            if f.relation == "investigatedIn" and (f.subject, f.object) in effective:
                self._note("reject", _show(f) + " (implied by the effectiveIn finding)", rule=f.rule)
                continue
            out.append(f)
        self._trace = None
        return out

    _trace: list | None = None
    _topic: str | None = None  # the one therapy the sentence before named (for anaphora)
    _trial: bool = False  # the record is a trial's (its titles state its design)
    _set_aside: bool = False  # the sentence named a therapy as comparator or confounder

    def _find_once(self, text: str) -> list[Mention]:
        """Mentions of a title or opening text, found once per record (main therapy and tumor)."""
        if text not in self._found:
            self._found[text] = self.lexicon.find(text)
        return self._found[text]

    def _find(self, text: str, learned: dict | None) -> list[Mention]:
        return self.lexicon.find(text, learned) if learned is not None else self.lexicon.find(text)

    def _note(self, kind: str, text: str, **data: object) -> None:
        if self._trace is not None:
            self._trace.append(Note(kind, text, data))

    def _sentence(
        self, block: TextBlock, start: int, end: int, mentions: list[Mention], main: str | None, main_tumor: str | None = None
    ) -> list[Finding]:
        text = block.text
        sentence = text[start:end]
        for m in mentions:
            how = getattr(m, "source", "")  # how the lexicon matched it, when it says
            matched = getattr(m, "matched", "")
            role = getattr(m, "role", None)
            self._note(
                "mention",
                f"{m.text!r} -> {m.entity} ({self.category(m.entity)})"
                + (f" by {how}" if how else "")
                + (f" {matched!r}" if matched and matched != m.text else "")
                + (f", role {role}" if role else ""),
            )
        speculation = SPECULATION.search(sentence)
        if speculation and _AIM_WHETHER.search(sentence):  # "to determine whether X works" is an aim
            speculation = None
        # doubt governs its clause and what follows it: "While X succeeded in A, whether it can
        # benefit B is uncertain" keeps the claim about A
        doubt_from = start + speculation.start() if speculation else None
        self._set_aside = False
        mentions = self._resolve_mentions(text, start, mentions, main)
        # the main therapy is not the silent subject of a sentence that set a named therapy aside
        # as comparator or confounder ("Regardless of CAR T-cell therapy, patients develop ...")
        if main and self._set_aside:
            self._note("reject", "the main therapy is not this sentence's subject: a named therapy was set aside", rule="main-therapy")
            main = None
        hedge = HEDGE.search(sentence)
        if hedge:
            self._note("hedge", f"{hedge.group(0)!r}: confidence 0.6")
        subjects_in_sentence = self.most_specific([m.entity for m in mentions if self.category(m.entity) in ("Therapy", "Strategy")])
        named_therapies = [e for e in subjects_in_sentence if self.category(e) == "Therapy"]
        topic, self._topic = self._topic, (named_therapies[0] if len(named_therapies) == 1 else None if named_therapies else self._topic)
        anaphor = None if named_therapies else _ANAPHOR.search(sentence)
        if anaphor and topic:
            # "Its efficacy in B-ALL is limited", "This approach has shown efficacy in ...": the therapy
            # of the sentence before, when that sentence named one
            self._note("anaphora", f"{anaphor.group(0).strip()!r} refers to {topic}, the therapy of the sentence before")
            subjects_in_sentence = [topic, *subjects_in_sentence]
        solo_named = subjects_in_sentence[0] if len(subjects_in_sentence) == 1 else None
        if anaphor and topic and not solo_named:
            solo_named = topic
        st = _Sentence(
            block=block,
            start=start,
            end=end,
            text=text,
            sentence=sentence,
            mentions=mentions,
            main=main,
            main_tumor=main_tumor,
            confidence=0.6 if hedge else 0.8,
            clauses=merge_clauses(text, _clauses(text, start, end, mentions), lambda m: self.category(m.entity) in ("Therapy", "Strategy")),
            subjects=subjects_in_sentence,
            solo_named=solo_named,
            solo=self._specific(solo_named, subjects_in_sentence, main) if solo_named else None,
            tumor_context=self._sentence_context(mentions),
            strategy_sentence=any(self.category(m.entity) == "Strategy" for m in mentions),
            purpose=bool(_PURPOSE.match(sentence)),
            strategies=list(dict.fromkeys(m.entity for m in mentions if self.category(m.entity) == "Strategy")),
        )
        # a sentence that opens with a list ("A, B, and C are the main obstacles to X"): its items
        # take the cue of the clause that closes the list
        opening = 0
        while opening < len(st.clauses) - 1 and (
            self._bare_items(st, st.clauses[opening])
            or (
                opening and not st.clauses[opening].mentions and len(text[st.clauses[opening].start : st.clauses[opening].end].split()) <= 6
            )
        ):
            opening += 1
        previous: _ClauseState | None = None
        for index, clause in enumerate(st.clauses):
            cl = previous = self._clause_state(st, index, clause, previous)
            if doubt_from is not None and clause.end > doubt_from:
                self._note("reject", f"speculative from {speculation.group(0)!r} on: nothing is claimed", rule="speculation")
                break
            if index < opening:
                cl.cue_text = text[clause.start : st.clauses[opening].end]
            self._note(
                "clause",
                text[clause.start : clause.end].strip(),
                subjects=", ".join(cl.therapies + cl.strategies) or "-",
                implicit=cl.implicit,
                negated=cl.negated,
                list_item=cl.list_start != clause.start or index < opening,
            )
            if not cl.negated:
                self._applied(st, cl)
            for m in cl.names:
                category = self.category(m.entity)
                handler = _OBJECT_HANDLERS.get(category)
                if handler is not None:
                    getattr(self, handler)(st, cl, m)
                else:
                    for rule in _GENERIC_RULES.get(category, ()):
                        self._generic(rule, st, cl, m)
        if doubt_from is None:
            self._resolution(st)
            self._implicit_success(st)
        return st.out

    def _resolution(self, st: _Sentence) -> None:
        """A strategy after which a toxicity named before it resolved mitigates that toxicity."""
        for s_mention in (m for m in st.mentions if self.category(m.entity) == "Strategy"):
            if not _RESOLVED_BEFORE.search(st.text[st.start : s_mention.start]):
                continue
            for t_mention in (m for m in st.mentions if self.category(m.entity) == "Toxicity" and m.end <= s_mention.start):
                self._emit(st, "mitigates.resolution", s_mention.entity, "mitigatesToxicity", t_mention.entity)

    def _list_item(self, st: _Sentence, clause: Clause, previous: _ClauseState | None) -> bool:
        """A clause that only adds items to the list of the clause before it (", serious
        infections", ", ICANS in 5%", ", particularly in A and B", "and suboptimal D"): its
        objects share that clause's cue and subjects. Never across a semicolon."""
        if previous is None or st.text[previous.clause.start : previous.clause.end].rstrip().endswith(";"):
            return False
        return self._bare_items(st, clause)

    def _bare_items(self, st: _Sentence, clause: Clause) -> bool:
        """A clause that is only list items: objects with at most three other words."""
        if not clause.mentions or any(self.category(m.entity) in ("Therapy", "Strategy") for m in clause.mentions):
            return False
        rest, pos = [], clause.start
        for m in clause.mentions:
            rest.append(st.text[pos : m.start])
            pos = m.end
        rest.append(st.text[pos : clause.end])
        words = re.findall(r"[A-Za-z][\w-]*", _PARENTHESIS.sub(" ", " ".join(rest)))
        # a verb after the first item makes a clause of its own ("CRS occurred in 60%"); before it, a
        # participle is an item's adjective ("restricted T cell invasion")
        after_first = re.findall(r"[A-Za-z][\w-]*", _PARENTHESIS.sub(" ", " ".join(rest[1:])))
        if any(_FINITE_VERB.fullmatch(w) for w in after_first):
            return False
        return len([w for w in words if w.lower() not in _LIST_WORDS]) <= 3

    def _clause_state(self, st: _Sentence, index: int, clause: Clause, previous: _ClauseState | None = None) -> _ClauseState:
        text = st.text
        clause_text = text[clause.start : clause.end]
        names = list(clause.mentions)
        subject_mentions = [m for m in names if self.category(m.entity) in ("Therapy", "Strategy")]
        # gapped coordination borrows the verb (and its cue) of the sentence so far
        gapped = (
            bool(subject_mentions)
            and _GAPPED.match(text[clause.start : subject_mentions[0].start])
            and _GAP_PREPOSITION.match(text[subject_mentions[-1].end : clause.end])
        )
        therapies = self.most_specific(
            [self._specific(m.entity, st.subjects, st.main) for m in names if self.category(m.entity) == "Therapy"]
        )
        strategies = self.most_specific([m.entity for m in names if self.category(m.entity) == "Strategy"])
        therapies_as_named = self.most_specific(
            [self._specific(m.entity, st.subjects) for m in names if self.category(m.entity) == "Therapy"]
        )
        if st.purpose and index == 0 and not strategies:
            strategies = list(st.strategies)
        own_subjects = bool(therapies or strategies)
        if not own_subjects and st.solo:
            (therapies if self.category(st.solo) == "Therapy" else strategies).append(st.solo)
            if self.category(st.solo) == "Therapy":
                therapies_as_named = [st.solo_named]
        implicit = False
        # a clause naming no subject in a sentence naming no therapy speaks of the text's main therapy
        # (a strategy named elsewhere in the sentence, "... after tocilizumab", is not its subject)
        if not own_subjects and not therapies and st.main and not any(self.category(e) == "Therapy" for e in st.subjects):
            therapies, implicit = [st.main], True
        cue_text = text[st.start : clause.end] if gapped else clause_text
        list_start = clause.start
        if self._list_item(st, clause, previous):
            assert previous is not None
            list_start = previous.list_start
            cue_text = text[list_start : clause.end]
            if not subject_mentions:
                therapies, strategies = list(previous.therapies), list(previous.strategies)
                therapies_as_named, implicit = list(previous.therapies_as_named), previous.implicit
        return _ClauseState(
            clause=clause,
            clause_text=clause_text,
            names=names,
            negated=bool(NEGATION.search(clause_text)),
            list_start=list_start,
            cue_text=cue_text,
            respective=bool(_RESPECTIVELY.search(text[clause.start : min(st.end, clause.end + 16)])),
            therapies=therapies,
            strategies=strategies,
            therapies_as_named=therapies_as_named,
            implicit=implicit,
            context=self._clause_context(names) or st.tumor_context,
        )

    def _emit(
        self, st: _Sentence, rule: str, subject: str, relation: str, obj: str, support: str = SUPPORT, context: str | None = None
    ) -> None:
        sentence = st.sentence
        finding = Finding(
            subject=subject,
            relation=relation,
            object=obj,
            quote=sentence.strip(),
            section=st.block.section,
            start=st.start + (len(sentence) - len(sentence.lstrip())),
            end=st.start + len(sentence.rstrip()),
            support=support,
            context=context,
            method=TEXT_MINED,
            confidence=st.confidence,
            rule=rule,
        )
        self._note("finding", _show(finding), rule=rule)
        st.out.append(finding)

    def _paired(self, cl: _ClauseState, subjects: list[str], m: Mention) -> list[str]:
        """With "respectively", the i-th subject goes with the i-th object of its kind."""
        if not cl.respective:
            return subjects
        same = [o for o in cl.names if self.category(o.entity) == self.category(m.entity)]
        return [subjects[same.index(m)]] if len(same) == len(subjects) else subjects

    # -- one handler per object kind; the cues come from the rule table -----------
    def _applied(self, st: _Sentence, cl: _ClauseState) -> None:
        text = st.text
        for s_mention in (m for m in cl.names if self.category(m.entity) == "Strategy"):
            for t_mention in (m for m in cl.names if self.category(m.entity) == "Therapy"):
                before = s_mention.end <= t_mention.start
                gap = text[s_mention.end : t_mention.start] if before else text[t_mention.end : s_mention.start]
                if (_APPLIED_S_T if before else _APPLIED_T_S).match(gap):
                    therapy = self._specific(t_mention.entity, st.subjects, st.main)
                    self._emit(st, "applied.adjacent", s_mention.entity, "appliedTo", therapy)
                elif before and len(gap.split()) <= 16 and _ENHANCES_BEFORE.search(gap):
                    # "implementing logic-gated CARs ... can enhance the efficacy of CAR-T cell therapy"
                    therapy = self._specific(t_mention.entity, st.subjects, st.main)
                    self._emit(st, "applied.enhances", s_mention.entity, "appliedTo", therapy)
        # "127 patients who received a step-up dosing regimen": in a text about one therapy, a
        # strategy the patients received is used with that therapy
        if st.main and not cl.therapies_as_named and not any(self.category(e) == "Therapy" for e in st.subjects):
            for s_mention in (m for m in cl.names if self.category(m.entity) == "Strategy"):
                if _RECEIVED_BEFORE.search(text[max(cl.clause.start, s_mention.start - 40) : s_mention.start]):
                    self._emit(st, "applied.main-therapy", s_mention.entity, "appliedTo", st.main)

    def _on_barrier(self, st: _Sentence, cl: _ClauseState, m: Mention) -> None:
        if cl.implicit and not FACES.main_therapy:
            return
        text = st.text
        before_m = text[max(cl.clause.start, m.start - 40) : m.start]
        contextual = normalize(m.text)[0].rstrip("s") in CONTEXTUAL_TERMS or normalize(m.text)[0] in CONTEXTUAL_TERMS
        cue = FACES.cue.search(cl.cue_text) or (m.entity in SELF_EVIDENT_BARRIERS and not contextual)
        remedied = cl.strategies and (_STRATEGY_VERB_BEFORE.search(before_m) or _FOR_BEFORE.search(before_m))
        if cl.negated or not (cue or remedied):
            self._note("reject", f"{m.entity}: " + ("negated clause" if cl.negated else "no barrier cue"), rule="barrier.cue")
            return
        overcoming = st.strategy_sentence and ADDRESSES.cue.search(st.sentence)
        for t in [] if overcoming or not cue else self._paired(cl, cl.therapies_as_named, m):
            self._emit(st, "barrier.cue", t, "facesBarrier", m.entity, context=cl.context)
        if ADDRESSES.cue.search(cl.clause_text) or remedied:
            for s in cl.strategies:
                self._emit(st, "addresses.cue", s, "addressesBarrier", m.entity, context=cl.context)

    def _on_toxicity(self, st: _Sentence, cl: _ClauseState, m: Mention) -> None:
        if cl.strategies and MITIGATES.cue.search(cl.clause_text) and not cl.negated:
            for s in cl.strategies:
                self._emit(st, "mitigates.cue", s, "mitigatesToxicity", m.entity)
            # "Patients experienced CRS, which resolved after tocilizumab": the strategy treated the
            # toxicity; the text's main therapy (no other named) caused it when a cue says so before
            first_strategy = min((o.start for o in cl.names if self.category(o.entity) == "Strategy"), default=-1)
            if st.main and not any(self.category(e) == "Therapy" for e in st.subjects) and m.start < first_strategy:
                if TOXICITY.cue.search(st.text[cl.clause.start : first_strategy]):
                    self._emit(st, "toxicity.main-therapy", st.main, "causesToxicity", m.entity)
            # "X was given with step-up dosing for CRS mitigation": what X's regimen guards against is X's toxicity
            guarded = _GUARDED_AFTER.match(st.text, m.end) or _GUARDED_BEFORE.search(st.text, max(cl.clause.start, m.start - 30), m.start)
            therapies = [t for t in cl.therapies if self.category(t) == "Therapy"] or ([st.main] if st.main else [])
            if guarded and not self._other_actor(st, cl.clause.start, cl.clause.end):
                for t in therapies:
                    self._emit(st, "toxicity.guarded", t, "causesToxicity", m.entity)
            return
        if not TOXICITY.cue.search(cl.cue_text):
            self._note("reject", f"{m.entity}: no toxicity cue", rule="toxicity.cue")
            return
        other = self._other_cause(st, cl, m)
        if not other and cl.implicit:
            # a clause that names another actor ("The lymphodepleting regimen caused cytopenias")
            # does not speak of the main therapy
            other = self._other_actor(st, cl.list_start, cl.clause.end)
        if other:
            self._note("reject", f"{m.entity}: its cause is {other!r}, not the therapy", rule="toxicity.cue")
            return
        governs = cl.negated and self._negation_governs(cl.clause_text, m, st.text, cl.clause.start, cl.names)
        support = REFUTE if governs and TOXICITY.negation == "refute" else SUPPORT
        if cl.negated and support == SUPPORT:
            self._note("reject", f"{m.entity}: the clause's negation does not govern it", rule="toxicity.refute")
            return
        rule = "toxicity.refute" if support == REFUTE else "toxicity.main-therapy" if cl.implicit else "toxicity.cue"
        for t in self._paired(cl, cl.therapies, m):
            self._emit(st, rule, t, "causesToxicity", m.entity, support=support)

    def _design_block(self, st: _Sentence) -> bool:
        """A registry's outcome measures, arms, interventions and eligibility (and a trial's
        titles) describe the design: what they name is to be measured, not a result."""
        found = _DESIGN_SECTION.search(st.block.section)
        return bool(found) and (self._trial or "title" not in found.group(0).lower())

    def _other_actor(self, st: _Sentence, start: int, end: int) -> str | None:
        """Another treatment or agent named in text[start:end]: a word of :data:`_OTHER_AGENT`, or a
        mention the lexicon marks as another treatment (a comparator, conditioning or support drug)."""
        for m in st.mentions:
            if start <= m.start < end and getattr(m, "role", None) == "other-treatment":
                return m.text
        found = _OTHER_AGENT.search(st.text, start, end)
        return found.group(0) if found else None

    def _other_cause(self, st: _Sentence, cl: _ClauseState, m: Mention) -> str | None:
        """The cause a text gives a toxicity when that cause is not a therapy: "infections caused by
        bacteria", "chemotherapy-induced cytopenias", "toxicity related to IL-2". A therapy named
        there (or an anaphor for one) keeps the finding."""
        after = _CAUSE_AFTER.match(st.text, m.end, min(st.end, m.end + 60))
        if after:
            agent_end = after.end()
            agent = after.group("agent") or after.group("agent2")
            if not _own_cause(agent) and not any(
                self.category(o.entity) == "Therapy" and m.end <= o.start < agent_end for o in st.mentions
            ):
                return agent
        before = _CAUSE_BEFORE.search(st.text, max(cl.clause.start, m.start - 40), m.start)
        if before and not _own_cause(before.group("agent")):
            if not any(self.category(o.entity) in ("Therapy", "Toxicity") and before.start() <= o.start < m.start for o in st.mentions):
                return before.group("agent")
        return None

    def _tumor_cue_text(self, st: _Sentence, cl: _ClauseState, m: Mention) -> str:
        """The words that decide a tumor type's claim. With several tumor types in one clause,
        each takes the words leading up to it ("success in blood cancers has spurred interest in
        solid tumors": success for the first, interest for the second); a list item whose own lead
        words carry no cue (", particularly in B") shares those of the item before it."""
        tumors = [o for o in cl.names if self.category(o.entity) == "TumorType"]
        if len({o.entity for o in tumors}) < 2:
            return cl.cue_text
        for i in range(tumors.index(m), -1, -1):
            lead = st.text[tumors[i - 1].end if i > 0 else cl.clause.start : tumors[i].start]
            if EFFECTIVE.cue.search(lead) or AIM.search(lead) or STUDIED.search(lead) or INVESTIGATED.cue.search(lead):
                return lead
        return cl.cue_text  # "In A and B, X produced remissions": the cue follows the list

    def _on_tumor(self, st: _Sentence, cl: _ClauseState, m: Mention) -> None:
        if any(self.category(o.entity) == "Strategy" and o.start < m.start for o in cl.names):
            return
        if getattr(m, "role", None) == "origin" or _ORIGIN_BEFORE.search(st.text[max(cl.clause.start, m.start - 40) : m.start]):
            # "large B-cell lymphoma arising from follicular lymphoma" is a large B-cell lymphoma
            self._note("reject", f"{m.entity}: the origin of another tumor type, not one the therapy is used in", rule="effective.result")
            return
        failure = FAILURE.search(cl.clause_text)
        if failure and cl.therapies:  # "their efficacy in Y has not yet been supported", negation and all
            for t in self._paired(cl, cl.therapies, m):
                self._emit(st, "effective.refute", t, "effectiveIn", m.entity, support=REFUTE)
            return
        # "remission in Y without serious adverse effects": a "without" after the tumor denies something else
        claim_text = cl.clause_text
        for n in NEGATION.finditer(cl.clause_text):
            if n.group(0).lower() == "without" and n.start() > m.end - cl.clause.start:
                claim_text = cl.clause_text[: n.start()]
                break
        negated = bool(NEGATION.search(claim_text))
        if negated or not cl.therapies:
            self._note("reject", f"{m.entity}: " + ("negated clause" if negated else "no therapy in reach"), rule="effective.result")
            return
        cue_text = self._tumor_cue_text(st, cl, m)
        # an aim or hedge anywhere before (or in) the clause governs its claim
        aim = AIM.search(st.text[st.start : cl.clause.end]) if cue_text is cl.cue_text else AIM.search(cue_text)
        if not aim and self._design_block(st):
            aim = _DESIGN_SECTION.search(st.block.section)
        success = EFFECTIVE.cue.search(cue_text)
        if not success and _INDICATION.match(cl.clause_text):
            # "granted approval to X (Brand, Maker, Inc.), a ... engager, for adults with Y": the
            # indication clause completes an approval stated earlier in the sentence
            earlier = _APPROVAL.search(st.text[st.start : cl.clause.start])
            success = earlier if earlier and not NEGATION.search(st.text[st.start : cl.clause.start]) else None
        if success and cue_text is not cl.clause_text and NEGATION.search(cue_text[: success.start()]):
            # the cue came from the clause before ("did not grant approval to X, for adults with Y")
            self._note("reject", f"{m.entity}: the success words are negated", rule="effective.result")
            return
        if success and cl.implicit and self._other_actor(st, cl.clause.start, cl.clause.end):
            # "patients with Y have a median survival of 3 years with standard therapy"
            self._note("reject", f"{m.entity}: the result belongs to another treatment named here", rule="effective.main-therapy")
            return
        if success and not (aim and EFFECTIVE.hedge == "investigated"):
            if FAILED_SUCCESS.search(claim_text):
                self._note("reject", f"{m.entity}: success words with a word of failure", rule="effective.result")
                return
            rule = "effective.approval" if re.match(r"approv|indicated", success.group(0), re.I) else "effective.result"
            for t in self._paired(cl, cl.therapies, m):
                self._emit(st, rule, t, "effectiveIn", m.entity)
        elif aim and (success or INVESTIGATED.cue.search(cue_text) or STUDIED.search(cue_text)):
            self._note("hedge", f"{m.entity}: {aim.group(0)!r} states an aim or a hedge, not a result", rule="investigated.aim")
            for t in self._paired(cl, cl.therapies, m):
                self._emit(st, "investigated.aim", t, "investigatedIn", m.entity)
        elif (INVESTIGATED.cue.search(cue_text) and (cl.implicit or st.main)) or STUDIED.search(cue_text):
            for t in self._paired(cl, cl.therapies, m):
                self._emit(st, "investigated.studied", t, "investigatedIn", m.entity)
        elif self._trial and "title" in st.block.section.lower():
            # a trial's title names what it studies ("X in Relapsed Multiple Myeloma")
            for t in self._paired(cl, cl.therapies, m):
                self._emit(st, "investigated.design", t, "investigatedIn", m.entity)
        else:
            self._note("reject", f"{m.entity}: no cue of result, aim or study", rule="investigated.studied")

    def _on_antigen(self, st: _Sentence, cl: _ClauseState, m: Mention) -> None:
        if m.entity in SKIP_ANTIGENS or getattr(m, "role", None) in ("engager-arm", "t-cell-marker"):
            return
        # without a named therapy, only a targeting verb ("T cells modified to target BCMA") speaks of
        # the main therapy's target; a qualifier ("CD19-positive") may describe the tumor
        # a list item ("..., including BCMA") is read with the start of its list
        reach = Clause(cl.list_start, cl.clause.end, cl.clause.mentions)
        if cl.implicit and not (ANTIGEN.main_therapy or ANTIGEN_BEFORE.search(st.text[max(reach.start, m.start - 60) : m.start])):
            return
        if cl.negated or not self._targeted(st.text, reach, m, cl.names):
            self._note("reject", f"{m.entity}: " + ("negated clause" if cl.negated else "not a target here"), rule="antigen.qualifier")
            return
        for t in self._paired(cl, cl.therapies, m):
            self._emit(st, "antigen.qualifier", t, "targetsAntigen", m.entity)

    def _on_attribute(self, st: _Sentence, cl: _ClauseState, m: Mention) -> None:
        if cl.implicit and not ATTRIBUTE.main_therapy:
            return
        before_m = st.text[max(cl.clause.start, m.start - 40) : m.start]
        if cl.negated or not (ATTRIBUTE.cue.search(cl.clause_text) or _POSSESSIVE_BEFORE.search(before_m)):
            self._note("reject", f"{m.entity}: " + ("negated clause" if cl.negated else "no attribute cue"), rule="attribute.cue")
            return
        # a restrictive modifier names a kind of the modality, it does not predicate the attribute of
        # it: "autologous CAR-T cells" (there are allogeneic ones) is no claim that CAR-T is autologous;
        # a definition is ("X, a genetically modified autologous T cell immunotherapy")
        modified = next((o for o in cl.names if o.start >= m.end and self.category(o.entity) == "Therapy"), None)
        if (
            modified is not None
            and self._specific(modified.entity, st.subjects, st.main) in self.MODALITIES  # a product's own cells are its
            and _MODIFIER_GAP.fullmatch(st.text[m.end : modified.start])
            and not _APPOSITION_BEFORE.search(st.text[max(cl.clause.start, m.start - 60) : m.start])
        ):
            self._note(
                "reject", f"{m.entity}: restricts {modified.entity} ('{m.text} {modified.text}'), predicates nothing", rule="attribute.cue"
            )
            return
        for t in self._paired(cl, cl.therapies, m):
            self._emit(st, "attribute.cue", t, "hasMechanisticAttribute", m.entity)

    def _generic(self, rule: Rule, st: _Sentence, cl: _ClauseState, m: Mention) -> None:
        """A rule without its own handler: every subject of its categories in the clause,
        linked to the object when the rule's cue stands in the clause and no negation does."""
        subjects = [s for s in cl.therapies + cl.strategies if self.category(s) in rule.subjects]
        if cl.implicit and not rule.main_therapy:
            return
        if not rule.cue.search(cl.cue_text):
            self._note("reject", f"{m.entity}: no {rule.name} cue", rule=f"{rule.name}.cue")
            return
        support = SUPPORT
        if cl.negated:
            governs = self._negation_governs(cl.clause_text, m, st.text, cl.clause.start, cl.names)
            if not (governs and rule.negation == "refute"):
                self._note("reject", f"{m.entity}: negated clause", rule=f"{rule.name}.cue")
                return
            support = REFUTE
        for t in self._paired(cl, subjects, m):
            self._emit(st, f"{rule.name}.cue", t, rule.relation, m.entity, support=support)

    def _implicit_success(self, st: _Sentence) -> None:
        """In a trial of one therapy in one tumor type, an outcome sentence that names
        neither ("Adding blinatumomab improved overall survival") claims success there."""
        main, tumor = st.main, st.main_tumor
        if not (main and tumor) or any(self.category(m.entity) in ("TumorType", "Strategy") for m in st.mentions):
            return
        therapies = [m.entity for m in st.mentions if self.category(m.entity) == "Therapy"]
        subject = main if not therapies else st.solo
        sentence = st.sentence
        other_agent = self._other_actor(st, st.start, st.end)
        if other_agent:  # "Ipilimumab induced responses in the control arm"
            self._note("reject", f"outcome of another treatment ({other_agent!r}), not the main therapy's", rule="effective.main-therapy")
            return
        if subject == main and FAILURE.search(sentence):  # "the benefit is not significant"
            self._emit(st, "effective.refute", main, "effectiveIn", tumor, support=REFUTE)
            return
        if subject != main or not OUTCOME_CUE.search(sentence) or NEGATION.search(sentence) or FAILED_SUCCESS.search(sentence):
            return
        aim = AIM.search(sentence) or (_DESIGN_SECTION.search(st.block.section) if self._design_block(st) else None)
        if aim:  # "To evaluate the overall survival of patients receiving X": an aim, not a result
            self._note("hedge", f"{tumor}: {aim.group(0)!r} states an aim or a hedge, not a result", rule="investigated.aim")
            self._emit(st, "investigated.aim", main, "investigatedIn", tumor)
            return
        self._emit(st, "effective.main-therapy", main, "effectiveIn", tumor)

    def _targeted(self, text: str, clause: Clause, m: Mention, names: list[Mention]) -> bool:
        """The antigen qualifies the therapy ("DLL3-directed", "BCMA x CD3"), is the object of
        a targeting verb ("binds DLL3", "recognize antigens such as NY-ESO-1"), or follows a
        targeted antigen in a list ("NY-ESO-1 and MAGE-A4")."""
        after, before = text[m.end : m.end + 20], text[max(clause.start, m.start - 60) : m.start]
        if ANTIGEN_AFTER.search(after) or ANTIGEN_BEFORE.search(before):
            return True
        # a noun compound: the antigen names the therapy right after it ("GD2 chimeric antigen
        # receptor T cells", "NY-ESO-1 TCR-T cells"); CD3 was set aside before this is asked
        following = [o for o in names if o.start >= m.end]
        if (
            following
            and self.category(following[0].entity) == "Therapy"
            and re.fullmatch(r"[\s\-\u2010\u2011]{0,2}", text[m.end : following[0].start])
        ):
            return True
        previous = [o for o in names if o.end <= m.start and self.category(o.entity) == "Antigen"]
        if previous and re.match(r"^\s*(?:,\s*|,?\s*and\s+|,?\s*or\s+)$", text[previous[-1].end : m.start]):
            return self._targeted(text, clause, previous[-1], names)
        return False

    @staticmethod
    def _negation_governs(clause_text: str, mention: Mention, text: str, clause_start: int, names: list[Mention] = ()) -> bool:
        """The negation precedes the toxicity within a few words ("did not cause CRS", "no ICANS",
        "did not cause CRS or neurotoxicity"), unqualified ("no dose-limiting CRS" denies less)."""
        before = text[clause_start : mention.start]
        for other in sorted(names, key=lambda o: -o.start):  # a listed toxicity counts as one word
            if other.end <= mention.start and other.start >= clause_start:
                before = before[: other.start - clause_start] + "X" + before[other.end - clause_start :]
        negations = list(NEGATION.finditer(before))
        if not negations:
            return False
        match = negations[-1]
        between = before[match.end() :]
        # "none of the three patients suffered CRS": the negated subject's words do not count
        between_words = _NONE_OF.sub(" ", between) if match.group(0).lower() in ("none", "no", "neither") else between
        return len(between_words.split()) <= 4 and not _NEGATION_QUALIFIER.search(between)

    def _clause_context(self, mentions: list[Mention]) -> str | None:
        tumors = [m.entity for m in mentions if self.category(m.entity) == "TumorType"]
        return tumors[0] if len(set(tumors)) == 1 else None

    def _sentence_context(self, mentions: list[Mention]) -> str | None:
        categories = {m.entity for m in mentions if m.entity in ("SolidTumor", "HematologicMalignancy")}
        return categories.pop() if len(categories) == 1 else None


def extract_findings(record: StudyRecord, ontology: Ontology | None = None) -> list[Finding]:
    return Extractor(ontology or default_ontology()).extract(record)


def extract_record(record: StudyRecord, ontology: Ontology | None = None) -> StudyRecord:
    """The record with text-mined findings appended after the ones it had."""
    mined = extract_findings(record, ontology)
    known = {(f.subject, f.relation, f.object, f.support) for f in record.findings}
    new = [f for f in mined if (f.subject, f.relation, f.object, f.support) not in known]
    return replace(record, findings=tuple(record.findings) + tuple(new))
