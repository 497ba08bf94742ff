"""Frozen study records: what every reader yields and what to_rdf consumes.

A record carries the study's metadata, its text blocks and its findings.
Entities are referred to by the local name of their ontology class
(``CART``, ``TumorMicroenvironmentBarrier``); relations by the local name of
their property (``facesBarrier``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUPPORT = "SUPPORT"
REFUTE = "REFUTE"
CURATED = "curated"
TEXT_MINED = "text-mined"
#: A finding a reader derives from a registry's own structured fields (a trial's
#: interventions and conditions), neither written by a curator nor mined from prose.
CURATED_FROM_REGISTRY = "curated-from-registry"

#: Study types a record may declare, mapped to their ontology class.
STUDY_TYPES: dict[str, str] = {
    "review": "Review",
    "narrative review": "NarrativeReview",
    "systematic review": "SystematicReview",
    "meta-analysis": "MetaAnalysis",
    "clinical trial": "ClinicalTrial",
    "randomized controlled trial": "RandomizedControlledTrial",
    "non-randomized trial": "SingleArmTrial",
    "observational study": "ObservationalStudy",
    "case report": "CaseReport",
    "preclinical study": "PreclinicalStudy",
    "consensus statement": "ConsensusStatement",
    "trial registration": "TrialRegistration",
    "study": "Study",
}

#: Relations a finding may assert, with the ontology classes allowed as
#: subject and object (checked by the record validator and the SHACL shapes).
RELATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "facesBarrier": (("Therapy",), ("Barrier",)),
    "causesToxicity": (("Therapy",), ("Toxicity",)),
    "effectiveIn": (("Therapy",), ("TumorType",)),
    "investigatedIn": (("Therapy",), ("TumorType",)),
    "targetsAntigen": (("Therapy",), ("Antigen",)),
    "addressesBarrier": (("Strategy",), ("Barrier",)),
    "mitigatesToxicity": (("Strategy",), ("Toxicity",)),
    "appliedTo": (("Strategy",), ("Therapy",)),
    "hasMechanisticAttribute": (("Therapy",), ("MechanisticAttribute",)),
}


@dataclass(frozen=True)
class TextBlock:
    section: str  # "summary", "abstract", "key takeaway" ...
    text: str


@dataclass(frozen=True)
class Finding:
    subject: str
    relation: str
    object: str
    quote: str
    section: str
    start: int
    end: int
    support: str = SUPPORT
    context: str | None = None
    method: str = CURATED
    confidence: float = 1.0
    #: The extraction rule that made a text-mined finding ("toxicity.cue", ...; see kg/rules.py).
    rule: str | None = None


@dataclass(frozen=True)
class Conflict:
    field: str
    metadata_value: str
    text_value: str
    note: str = ""


@dataclass(frozen=True)
class AdverseEventGroupCount:
    group: str
    affected: int | None
    at_risk: int | None


@dataclass(frozen=True)
class AdverseEvent:
    term: str
    organ_system: str | None
    vocabulary: str | None
    serious: bool
    toxicity: str | None  # ontology class local name when the term maps
    counts: tuple[AdverseEventGroupCount, ...] = ()


@dataclass(frozen=True)
class StudyRecord:
    id: str  # slug, last path segment of the study IRI
    title: str
    study_type: str  # a key of STUDY_TYPES
    source: str  # file the record came from (for messages and provenance)
    subtitle: str | None = None
    stated_study_type: str | None = None
    evidence_level: int | None = None
    published: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD
    journal: str | None = None
    first_author: str | None = None
    doi: str | None = None
    pmid: str | None = None
    nct: str | None = None
    acronym: str | None = None
    phase: str | None = None
    enrollment: int | None = None
    status: str | None = None
    sponsor: str | None = None
    identifiers_unverified: bool = False
    note: str | None = None
    keywords: tuple[str, ...] = ()
    publication_types: tuple[str, ...] = ()
    references_pmids: tuple[str, ...] = ()
    texts: tuple[TextBlock, ...] = ()
    findings: tuple[Finding, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    adverse_events: tuple[AdverseEvent, ...] = ()
    mentions: tuple[str, ...] = ()  # ontology entities recognized anywhere in the texts
    extras: tuple[tuple[str, str], ...] = field(default=())

    @property
    def year(self) -> int | None:
        return int(self.published[:4]) if self.published else None

    def text(self, section: str) -> str | None:
        for block in self.texts:
            if block.section == section:
                return block.text
        return None
