"""Relation extraction: findings mined from a study's text, each with its quote.

Per sentence, entity mentions come from the ontology lexicon; the sentence is
cut into clauses at semicolons, commas and coordinating words, and a therapy
(or strategy) is paired with what stands in the same clause. Only when a
sentence names a single subject does it reach across clauses. So in
"... compromised by A for X, B and C for Y, and D for Z", A belongs to X only.

Precision over recall: a relation needs both ends in reach and a cue that
says what links them; negated statements ("did not cause", "no evidence of")
become REFUTE findings where the pattern is clear and nothing otherwise;
hedged ones lower the confidence or, when speculative, are dropped.

In a trial (or case report) about one therapy, sentences about toxicities,
responses or targets that do not name the therapy are attributed to the
study's main therapy, the one its title or first text names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .lexicon import CONTEXTUAL_TERMS, Lexicon, Mention, lexicon_for, normalize
from .model import REFUTE, SUPPORT, TEXT_MINED, Finding, StudyRecord, TextBlock
from .ontology import Ontology, default_ontology

_ABBREVIATIONS = r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\bal)(?<!\bFig)(?<!\bapprox)(?<!\b[A-Z])"
_SENTENCE_END = re.compile(_ABBREVIATIONS + r"[.!?](?=\s+[A-Z0-9(\"'])")
_CLAUSE_BREAK = re.compile(r";|,\s*(?:and|but|while|whereas|or)\s|,\s|\s(?:whereas|while|but)\s|\s-\s|\u2014")

NEGATION = re.compile(r"\b(?:no|not|never|without|neither|nor|none|absence of|free of|lack(?:ed)? any|failed to show|did not|does not|do not|was not|were not|is not|are not)\b", re.I)
SPECULATION = re.compile(r"\b(?:whether|unclear|unknown|hypothes\w*|speculat\w*|remains to be|if any)\b", re.I)
HEDGE = re.compile(r"\b(?:may|might|could|possibly|potentially|suggest\w*|appear\w*)\b", re.I)

BARRIER_CUE = re.compile(
    r"\b(?:limit|hinder|hamper|compromis|challeng|barrier|obstacle|hurdle|held back|restrict|impair|suppress|exclu|"
    r"resist|escape|relaps|loss|lost|exhaust|depend|hostil|fail|poor|short\b|lack|insufficien|difficult|complex|"
    r"variab|block|problem|issue|concern|constrain|low\b|prevent|shut|dampen|inhibit|wane|fade|"
    r"decline|cleared|dysfunction|burden|costly|delay|vein-to-vein|face|meet|confront|struggl)", re.I)
TOXICITY_CUE = re.compile(
    r"caus|occur|develop|induc|associat|report|observ|experienc|adverse|risk|toxic|frequent|common|event|grade|"
    r"rate|incidence|led to|resulted|fatal|death|died|side effect|seen|includ|noted|had\b|with\b|less|uncommon|rare", re.I)
SUCCESS_CUE = re.compile(
    r"success|effective|efficacy|respon|remission|benefit|approv|activ|durable|improv|prolong|surviv|cure|"
    r"work|regress|superior|breakthrough", re.I)
STUDIED_CUE = re.compile(r"patients with|treated|enrolled|trial|study|studied|evaluat|tested|investigat|for (?:relapsed|refractory|previously)", re.I)
TARGET_CUE = re.compile(r"target|direct|bind|against|recogni|specific|redirect|engag|\bx\b|express", re.I)
STRATEGY_CUE = re.compile(
    r"overcom|address|counter|against|resist|withstand|remodel|improv|enhanc|revers|prevent|mitigat|shield|"
    r"protect|help|restor|rescue|bypass|circumvent|boost|sustain|solv|tackl|reduce|neutraliz|insensitiv|evad", re.I)
MITIGATION_CUE = re.compile(r"prevent|reduc|mitigat|manag|control|treat|lower|abrogat|revers|resolv", re.I)
FAILED_SUCCESS = re.compile(r"\b(?:little|limited|modest|minimal|poor|disappointing|rare|fail\w*|lack\w*|no|not|without)\b", re.I)
#: An antigen is a therapy's target when it qualifies the therapy ("DLL3-directed", "BCMA x CD3")
#: or is the object of a targeting verb right before it ("against GD2", "binds DLL3").
ANTIGEN_AFTER = re.compile(r"^\s*(?:-|\s)?(?:directed|targeted|targeting|specific|redirected|positive)\b|^\s*(?:x|×)\s*CD3|^\s*(?:CAR|-CAR|bispecific|TCR)", re.I)
ANTIGEN_BEFORE = re.compile(r"(?:against|targeting|targets|binds|binding|recogni[sz]\w*|directed (?:at|against|to)|specific for|to)\s+(?:the\s+|a\s+|an\s+)?(?:[\w-]+\s+){0,2}$", re.I)
ATTRIBUTE_CUE = re.compile(r"\b(?:is|are|was|were|as|being|act|acts|work|works|recogni|signal|offer|promis|provid|keep|carr|retain|remain|rely|bridg|repertoire|product|molecule|drug)", re.I)

#: Inherently negative barrier terms need no extra cue.
SELF_EVIDENT_BARRIERS = {"AntigenEscape", "TCellExhaustion", "Immunosuppression", "MetabolicInsulation", "PhysicalExclusion", "MHCLoss", "AntigenHeterogeneity", "TumorMicroenvironmentBarrier"}
TRIAL_TYPES = {"randomized controlled trial", "non-randomized trial", "clinical trial", "trial registration", "case report"}
SKIP_ANTIGENS = {"CD3"}  # the T cell arm of an engager, not its tumor target


@dataclass(frozen=True)
class Clause:
    start: int
    end: int
    mentions: tuple[Mention, ...]


def sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
        while start < len(text) and text[start].isspace():
            start += 1
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _clauses(text: str, start: int, end: int, mentions: list[Mention]) -> list[Clause]:
    cuts = [start]
    for match in _CLAUSE_BREAK.finditer(text, start, end):
        # never cut inside a mention ("on-target, off-tumor toxicity")
        if not any(m.start < match.start() < m.end for m in mentions):
            cuts.append(match.end())
    cuts.append(end)
    clauses = []
    for a, b in zip(cuts, cuts[1:]):
        inside = tuple(m for m in mentions if a <= m.start < b)
        clauses.append(Clause(a, b, inside))
    return clauses


class Extractor:
    def __init__(self, ontology: Ontology):
        self.ontology = ontology
        self.lexicon: Lexicon = lexicon_for(ontology)

    # -- helpers --------------------------------------------------------------
    def category(self, name: str) -> str | None:
        return self.ontology.entities[name].category

    def most_specific(self, names: list[str]) -> list[str]:
        """Drop a therapy mention when a more specific one (its product) is present."""
        unique = list(dict.fromkeys(names))
        return [n for n in unique if not any(o != n and self.ontology.is_a(o, n) for o in unique)]

    MODALITIES = ("CART", "TIL", "TCRT", "TCellEngager", "BiTE", "ImmTAC")

    def main_therapy(self, record: StudyRecord) -> str | None:
        """The therapy a single-therapy study is about: the one product its title
        and first texts name, else the one modality they name."""
        if record.study_type not in TRIAL_TYPES:
            return None
        texts = [record.title, record.subtitle or "", *(b.text for b in record.texts[:2])]
        therapies = self.most_specific([m.entity for t in texts for m in self.lexicon.find(t) if self.category(m.entity) == "Therapy"])
        products = [t for t in therapies if t not in self.MODALITIES]
        if len(products) == 1:
            return products[0]
        return therapies[0] if len(therapies) == 1 else None

    def _specific(self, therapy: str, in_sentence: list[str], main: str | None = None) -> str:
        """A modality named in apposition to its product ("tarlatamab, a T cell engager") is the
        product; in a trial of one product, its modality ("the CAR-T cells") is that product."""
        narrower = [s for s in in_sentence if s != therapy and self.ontology.is_a(s, therapy)]
        if len(narrower) == 1:
            return narrower[0]
        if main and main != therapy and self.ontology.is_a(main, therapy) and not narrower:
            return main
        return therapy

    # -- extraction -----------------------------------------------------------
    def extract(self, record: StudyRecord) -> list[Finding]:
        main = self.main_therapy(record)
        findings: dict[tuple, Finding] = {}
        for block in record.texts:
            mentions = self.lexicon.find(block.text)
            for s_start, s_end in sentences(block.text):
                inside = [m for m in mentions if s_start <= m.start < s_end]
                if not inside:
                    continue
                for finding in self._sentence(block, s_start, s_end, inside, main):
                    key = (finding.subject, finding.relation, finding.object, finding.support)
                    findings.setdefault(key, finding)  # the first sentence that says it
        return list(findings.values())

    def _sentence(self, block: TextBlock, start: int, end: int, mentions: list[Mention], main: str | None) -> list[Finding]:
        text = block.text
        sentence = text[start:end]
        if SPECULATION.search(sentence):
            return []
        confidence = 0.6 if HEDGE.search(sentence) else 0.8
        clauses = _clauses(text, start, end, mentions)
        subjects_in_sentence = self.most_specific([m.entity for m in mentions if self.category(m.entity) in ("Therapy", "Strategy")])
        solo_named = subjects_in_sentence[0] if len(subjects_in_sentence) == 1 else None
        solo = self._specific(solo_named, subjects_in_sentence, main) if solo_named else None
        tumor_context = self._sentence_context(mentions)
        strategy_sentence = any(self.category(m.entity) == "Strategy" for m in mentions)
        out: list[Finding] = []

        def emit(subject: str, relation: str, obj: str, support: str = SUPPORT, context: str | None = None) -> None:
            out.append(Finding(subject=subject, relation=relation, object=obj, quote=sentence.strip(), section=block.section,
                               start=start + (len(sentence) - len(sentence.lstrip())), end=start + len(sentence.rstrip()),
                               support=support, context=context, method=TEXT_MINED, confidence=confidence))

        for clause in clauses:
            clause_text = text[clause.start:clause.end]
            negated = bool(NEGATION.search(clause_text))
            names = [m for m in clause.mentions]
            therapies = self.most_specific([self._specific(m.entity, subjects_in_sentence, main) for m in names if self.category(m.entity) == "Therapy"])
            strategies = self.most_specific([m.entity for m in names if self.category(m.entity) == "Strategy"])
            therapies_as_named = self.most_specific([self._specific(m.entity, subjects_in_sentence) for m in names if self.category(m.entity) == "Therapy"])
            if not therapies and not strategies and solo:
                (therapies if self.category(solo) == "Therapy" else strategies).append(solo)
                if self.category(solo) == "Therapy":
                    therapies_as_named = [solo_named]
            implicit = False
            if not therapies and not strategies and main and len(subjects_in_sentence) == 0:
                therapies, implicit = [main], True
            context = self._clause_context(names) or tumor_context
            for m in names:
                category = self.category(m.entity)
                contextual = normalize(m.text)[0].rstrip("s") in CONTEXTUAL_TERMS or normalize(m.text)[0] in CONTEXTUAL_TERMS
                if category == "Barrier" and not implicit:
                    cue = BARRIER_CUE.search(clause_text) or (m.entity in SELF_EVIDENT_BARRIERS and not contextual)
                    if not cue or negated:
                        continue
                    overcoming = strategy_sentence and STRATEGY_CUE.search(sentence)
                    for t in ([] if overcoming else therapies_as_named):
                        emit(t, "facesBarrier", m.entity, context=context)
                    for s in strategies:
                        if STRATEGY_CUE.search(clause_text):
                            emit(s, "addressesBarrier", m.entity, context=context)
                elif category == "Toxicity":
                    if strategies and MITIGATION_CUE.search(clause_text) and not negated:
                        for s in strategies:
                            emit(s, "mitigatesToxicity", m.entity)
                        continue
                    if not TOXICITY_CUE.search(clause_text):
                        continue
                    support = REFUTE if negated and self._negation_governs(clause_text, m, text, clause.start) else SUPPORT
                    if negated and support == SUPPORT:
                        continue
                    for t in therapies:
                        emit(t, "causesToxicity", m.entity, support=support)
                elif category == "TumorType" and not strategies:
                    if negated or not therapies:
                        continue
                    if SUCCESS_CUE.search(clause_text):
                        if FAILED_SUCCESS.search(clause_text):
                            continue
                        for t in therapies:
                            emit(t, "effectiveIn", m.entity)
                    elif STUDIED_CUE.search(clause_text) and (implicit or main):
                        for t in therapies:
                            emit(t, "investigatedIn", m.entity)
                elif category == "Antigen" and m.entity not in SKIP_ANTIGENS and not implicit:
                    after, before = text[m.end:m.end + 20], text[max(clause.start, m.start - 40):m.start]
                    if negated or not (ANTIGEN_AFTER.search(after) or ANTIGEN_BEFORE.search(before)):
                        continue
                    for t in therapies:
                        emit(t, "targetsAntigen", m.entity)
                elif category == "MechanisticAttribute" and not implicit:
                    if negated or not ATTRIBUTE_CUE.search(clause_text):
                        continue
                    for t in therapies:
                        emit(t, "hasMechanisticAttribute", m.entity)
        return out

    @staticmethod
    def _negation_governs(clause_text: str, mention: Mention, text: str, clause_start: int) -> bool:
        """The negation precedes the toxicity within a few words ("did not cause CRS", "no ICANS")."""
        before = text[clause_start:mention.start]
        match = None
        for match in NEGATION.finditer(before):
            pass
        return match is not None and len(before[match.end():].split()) <= 4

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
