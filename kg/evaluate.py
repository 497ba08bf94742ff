"""Measured quality of extraction, on two sets reported apart.

The self-written gold set (``tests/gold/*.yaml``): entity recognition and
relation extraction on texts written by the project, scored by precision,
recall and F1 (below). It was written by the same hands as the rules, so it
shows regressions, not how the tool does on the literature.

Real texts (``evaluate_real``, e.g. ``../shared/real-texts``): texts no one on
the project wrote, each read the way ``tkg ingest`` reads it and scored against
hand annotations: link recall, precision, tempting wrong links, entity recall,
and the findings no annotation covers.

Entities: a predicted mention matches a gold mention of the same entity
whose span overlaps it (each gold mention matches at most once).
Relations: a predicted finding matches a gold relation with the same
(subject, relation, object, support); findings are compared per text, after
duplicates are merged.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rdflib import Literal
from rdflib.namespace import RDFS, SKOS

from .errors import IngestError
from .model import CURATED, REFUTE, RELATIONS, STUDY_TYPES, SUPPORT, TEXT_MINED, Finding, StudyRecord, TextBlock
from .namespaces import TKG
from .ontology import Ontology, default_ontology

#: The gold set shipped with the project's tests.
DEFAULT_GOLD_DIR = Path(__file__).resolve().parent.parent / "tests" / "gold"

Span = tuple[int, int, str]  # start, end, entity
Triple = tuple[str, str, str, str]  # subject, relation, object, support


@dataclass(frozen=True)
class GoldText:
    id: str
    title: str
    study_type: str
    text: str
    tags: tuple[str, ...]
    entities: tuple[Span, ...]
    relations: tuple[Triple, ...]

    def record(self) -> StudyRecord:
        return StudyRecord(
            id=self.id, title=self.title, study_type=self.study_type, source=f"gold:{self.id}", texts=(TextBlock("abstract", self.text),)
        )


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class TextErrors:
    id: str
    entity_fp: list[tuple[str, str]] = field(default_factory=list)  # (surface, entity)
    entity_fn: list[tuple[str, str]] = field(default_factory=list)
    relation_fp: list[Triple] = field(default_factory=list)
    relation_fn: list[Triple] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.entity_fp or self.entity_fn or self.relation_fp or self.relation_fn)


@dataclass
class Evaluation:
    texts: int
    entities: Score
    relations: Score
    errors: list[TextErrors]
    tags: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        def score(s: Score) -> dict[str, Any]:
            return {
                "precision": round(s.precision, 4),
                "recall": round(s.recall, 4),
                "f1": round(s.f1, 4),
                "tp": s.tp,
                "fp": s.fp,
                "fn": s.fn,
            }

        return {"texts": self.texts, "entities": score(self.entities), "relations": score(self.relations), "tags": self.tags}


def _fail(path: Path, message: str) -> IngestError:
    return IngestError(message, where=str(path))


def load_gold_text(path: Path, ontology: Ontology) -> GoldText:
    """One annotated text; entity offsets are found by searching each surface
    form in order, starting after the previous one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise _fail(path, f"unreadable gold file: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise _fail(path, "a gold file is a mapping with a 'text'")
    study_type = data.get("study_type", "review")
    if study_type not in STUDY_TYPES:
        raise _fail(path, f"unknown study_type {study_type!r}")
    text = data["text"]
    spans: list[Span] = []
    position = 0
    for item in data.get("entities") or []:
        surface, entity = item.get("text"), item.get("entity")
        if entity not in ontology.entities:
            raise _fail(path, f"unknown entity {entity!r}")
        start = text.find(surface, position) if isinstance(surface, str) and surface else -1
        if start < 0:
            raise _fail(path, f"entity text {surface!r} not found after offset {position}")
        spans.append((start, start + len(surface), entity))
        position = start + len(surface)
    triples: list[Triple] = []
    for item in data.get("relations") or []:
        triple = (item.get("subject"), item.get("relation"), item.get("object"), item.get("support", "SUPPORT"))
        if triple[1] not in RELATIONS or triple[3] not in ("SUPPORT", "REFUTE"):
            raise _fail(path, f"bad relation {triple}")
        for name in (triple[0], triple[2]):
            if name not in ontology.entities:
                raise _fail(path, f"unknown entity {name!r} in relation {triple}")
        triples.append(triple)
    return GoldText(
        id=path.stem,
        title=data.get("title") or "",
        study_type=study_type,
        text=text,
        tags=tuple(data.get("tags") or ()),
        entities=tuple(spans),
        relations=tuple(triples),
    )


def load_gold(directory: Path = DEFAULT_GOLD_DIR, ontology: Ontology | None = None) -> list[GoldText]:
    ontology = ontology or default_ontology()
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise IngestError("no gold texts (*.yaml) found", where=str(directory))
    return [load_gold_text(path, ontology) for path in paths]


def match_entities(gold: list[Span], predicted: list[Span]) -> tuple[list[Span], list[Span], list[Span]]:
    """(true positives, false positives, false negatives) by overlap and same entity."""
    unmatched = list(gold)
    tp, fp = [], []
    for start, end, entity in predicted:
        hit = next((g for g in unmatched if g[2] == entity and g[0] < end and start < g[1]), None)
        if hit is None:
            fp.append((start, end, entity))
        else:
            unmatched.remove(hit)
            tp.append(hit)
    return tp, fp, unmatched


def evaluate(directory: Path = DEFAULT_GOLD_DIR, ontology: Ontology | None = None) -> Evaluation:
    from .extract import Extractor

    ontology = ontology or default_ontology()
    extractor = Extractor(ontology)
    golds = load_gold(directory, ontology)
    e_tp = e_fp = e_fn = r_tp = r_fp = r_fn = 0
    errors: list[TextErrors] = []
    tags: dict[str, int] = {}
    for gold in golds:
        for tag in gold.tags:
            tags[tag] = tags.get(tag, 0) + 1
        report = TextErrors(gold.id)
        # other treatments (comparators, support drugs) are recognized but are no domain entities
        predicted = [(m.start, m.end, m.entity) for m in extractor.lexicon.find(gold.text) if m.role != "other-treatment"]
        tp, fp, fn = match_entities(list(gold.entities), predicted)
        e_tp, e_fp, e_fn = e_tp + len(tp), e_fp + len(fp), e_fn + len(fn)
        report.entity_fp = [(gold.text[s:e], name) for s, e, name in fp]
        report.entity_fn = [(gold.text[s:e], name) for s, e, name in fn]
        found = {(f.subject, f.relation, f.object, f.support) for f in extractor.extract(gold.record())}
        expected = set(gold.relations)
        r_tp += len(found & expected)
        report.relation_fp = sorted(found - expected)
        report.relation_fn = sorted(expected - found)
        r_fp, r_fn = r_fp + len(report.relation_fp), r_fn + len(report.relation_fn)
        errors.append(report)
    return Evaluation(texts=len(golds), entities=Score(e_tp, e_fp, e_fn), relations=Score(r_tp, r_fp, r_fn), errors=errors, tags=tags)


# -- real texts ------------------------------------------------------------------
# The development set in ../shared/real-texts: texts no one on the project wrote,
# ingested the way `tkg ingest` reads them, scored against hand annotations
# (annotations.json; its README gives the policy). The matching below follows
# that README: a link [subject, relation word(s), object, ("REFUTE")] is found when
# a finding of that relation and support has a subject and an object whose
# rdfs:label or skos:altLabel values the case-insensitive regexes search; a
# product subject also answers to the labels of its modality, one level up.

#: Relation words of the annotations and the relations they name.
RELATION_WORDS: dict[str, str] = {
    "barrier": "facesBarrier",
    "toxicity": "causesToxicity",
    "effective": "effectiveIn",
    "investigated": "investigatedIn",
    "antigen": "targetsAntigen",
    "addresses": "addressesBarrier",
    "mitigates": "mitigatesToxicity",
    "applied": "appliedTo",
    "attribute": "hasMechanisticAttribute",
}

#: The modality classes whose labels a product subject also answers to.
MODALITY_CLASSES = ("CART", "TIL", "TCRT", "TCellEngager", "BiTE", "ImmTAC")

NO_RULE = "(no rule)"


@dataclass(frozen=True)
class Link:
    """One annotated link: regexes for subject and object, the relations it accepts, the support it expects."""

    subject: str
    relations: tuple[str, ...]
    object: str
    support: str
    shown: str  # as written in the annotations, for messages

    @classmethod
    def parse(cls, raw: Any, where: str) -> Link:
        if not isinstance(raw, list) or len(raw) not in (3, 4) or not all(isinstance(x, str) for x in raw):
            raise IngestError(
                f"bad link {raw!r}", where=where, expected='["subject regex", "relation word(s)", "object regex"] (+ "REFUTE")'
            )
        words = [w.strip() for w in raw[1].split("|")]
        unknown = [w for w in words if w not in RELATION_WORDS]
        if unknown:
            raise IngestError(f"unknown relation word {unknown[0]!r} in {raw!r}", where=where, expected=", ".join(RELATION_WORDS))
        if len(raw) == 4 and raw[3].upper() != REFUTE:
            raise IngestError(f"bad fourth element {raw[3]!r} in {raw!r}", where=where, expected='"REFUTE" or nothing')
        for pattern in (raw[0], raw[2]):
            _compile(pattern, where)
        support = REFUTE if len(raw) == 4 else SUPPORT
        return cls(raw[0], tuple(RELATION_WORDS[w] for w in words), raw[2], support, "[" + ", ".join(json.dumps(x) for x in raw) + "]")


@dataclass(frozen=True)
class RealText:
    file: str  # path relative to the set's directory
    kind: str
    entities: tuple[str, ...]
    must: tuple[Link, ...]
    must_not: tuple[Link, ...]

    @property
    def name(self) -> str:
        return Path(self.file).name


@dataclass(frozen=True)
class ScoredFinding:
    subject: str
    relation: str
    object: str
    support: str
    quote: str
    rule: str
    verdict: str  # "stated" (matches a must link), "wrong" (a must_not link) or "unannotated"

    def describe(self) -> str:
        refuted = " REFUTE" if self.support == REFUTE else ""
        return f"{self.relation}({self.subject}, {self.object}){refuted} [{self.rule}]"


@dataclass
class TextScore:
    text: RealText
    error: str | None
    found: list[Link]
    missed: list[Link]
    wrong: list[tuple[Link, str]]  # the must_not link and the quote of a finding that made it
    entities_found: list[str]
    findings: list[ScoredFinding]

    @property
    def unannotated(self) -> list[ScoredFinding]:
        return [f for f in self.findings if f.verdict == "unannotated"]


@dataclass(frozen=True)
class Totals:
    texts: int
    failed: int
    must: int
    found: int
    must_not: int
    wrong: int
    entities: int
    entities_found: int
    findings: int
    unannotated: int

    @property
    def link_recall(self) -> float:
        return self.found / self.must if self.must else 0.0

    @property
    def precision(self) -> float:
        """Stated links found over stated links found plus tempting wrong links found (score.py's definition)."""
        return self.found / (self.found + self.wrong) if self.found + self.wrong else 0.0

    @property
    def entity_recall(self) -> float:
        return self.entities_found / self.entities if self.entities else 0.0

    @property
    def unannotated_share(self) -> float:
        return self.unannotated / self.findings if self.findings else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: getattr(self, k) for k in ("texts", "failed", "must", "found", "must_not", "wrong", "entities", "entities_found")},
            **{k: getattr(self, k) for k in ("findings", "unannotated")},
            "link_recall": round(self.link_recall, 4),
            "precision": round(self.precision, 4),
            "entity_recall": round(self.entity_recall, 4),
            "unannotated_share": round(self.unannotated_share, 4),
        }


def _totals(scores: list[TextScore]) -> Totals:
    return Totals(
        texts=len(scores),
        failed=sum(1 for s in scores if s.error),
        must=sum(len(s.text.must) for s in scores),
        found=sum(len(s.found) for s in scores),
        must_not=sum(len(s.text.must_not) for s in scores),
        wrong=sum(len(s.wrong) for s in scores),
        entities=sum(len(s.text.entities) for s in scores),
        entities_found=sum(len(s.entities_found) for s in scores),
        findings=sum(len(s.findings) for s in scores),
        unannotated=sum(len(s.unannotated) for s in scores),
    )


@dataclass(frozen=True)
class RuleCount:
    rule: str
    findings: int
    stated: int
    wrong: int
    unannotated: int

    @property
    def errors(self) -> int:
        return self.wrong + self.unannotated


@dataclass
class RealEvaluation:
    directory: Path
    scores: list[TextScore]
    seconds: float

    @property
    def totals(self) -> Totals:
        return _totals(self.scores)

    def by_kind(self) -> dict[str, Totals]:
        kinds: dict[str, list[TextScore]] = {}
        for score in self.scores:
            kinds.setdefault(score.text.kind, []).append(score)
        return {kind: _totals(scores) for kind, scores in kinds.items()}

    @property
    def has_rules(self) -> bool:
        return any(f.rule != NO_RULE for s in self.scores for f in s.findings)

    def by_rule(self) -> list[RuleCount]:
        """Findings per rule with how many matched a stated link, a wrong link or neither; most errors first."""
        rules: dict[str, list[ScoredFinding]] = {}
        for score in self.scores:
            for finding in score.findings:
                rules.setdefault(finding.rule, []).append(finding)
        counts = [
            RuleCount(rule, len(fs), *(sum(1 for f in fs if f.verdict == v) for v in ("stated", "wrong", "unannotated")))
            for rule, fs in rules.items()
        ]
        return sorted(counts, key=lambda c: (-c.errors, -c.findings, c.rule))

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "seconds": round(self.seconds, 2),
            "overall": self.totals.as_dict(),
            "by_kind": {kind: totals.as_dict() for kind, totals in self.by_kind().items()},
            "by_rule": [vars(c) | {"errors": c.errors} for c in self.by_rule()] if self.has_rules else None,
            "texts": [
                {
                    "file": s.text.file,
                    "kind": s.text.kind,
                    "error": s.error,
                    "links": len(s.found),
                    "must": len(s.text.must),
                    "wrong": len(s.wrong),
                    "must_not": len(s.text.must_not),
                    "entities_found": len(s.entities_found),
                    "entities": len(s.text.entities),
                    "findings": len(s.findings),
                    "missed": [link.shown for link in s.missed],
                    "wrong_links": [{"link": link.shown, "quote": quote} for link, quote in s.wrong],
                    "entities_missed": [e for e in s.text.entities if e not in s.entities_found],
                    "unannotated": [
                        {
                            "subject": f.subject,
                            "relation": f.relation,
                            "object": f.object,
                            "support": f.support,
                            "rule": f.rule,
                            "quote": f.quote,
                        }
                        for f in s.unannotated
                    ],
                }
                for s in self.scores
            ],
        }


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return _regex(pattern)
    except re.error as exc:
        raise IngestError(f"bad regular expression {pattern!r}: {exc}", where=where) from None


@lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def load_real_texts(directory: Path) -> list[RealText]:
    """The annotations of a real-text set (``annotations.json`` beside ``texts/``), checked: every
    text exists, every relation word is known, every pattern compiles."""
    path = directory / "annotations.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IngestError(
            "no annotations.json in the real-text directory",
            where=str(directory),
            expected="a directory with annotations.json and texts/ (e.g. ../shared/real-texts)",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"unreadable annotations: {exc}") from exc
    if not isinstance(data, list) or not data:
        raise _fail(path, "the annotations are a non-empty JSON list of objects")
    texts: list[RealText] = []
    for index, item in enumerate(data, 1):
        file = item.get("file") if isinstance(item, dict) else None
        where = f"{path}: entry {index}" + (f" ({file})" if isinstance(file, str) else "")
        if not isinstance(file, str) or not (directory / file).is_file():
            raise IngestError(f"the text {file!r} is missing", where=where, expected=f"a file under {directory}")
        entities = item.get("entities") or []
        if not isinstance(entities, list) or not all(isinstance(e, str) for e in entities):
            raise IngestError("'entities' is not a list of patterns", where=where)
        for pattern in entities:
            _compile(pattern, where)
        links = {}
        for key in ("must", "must_not"):
            raw = item.get(key) or []
            if not isinstance(raw, list):
                raise IngestError(f"{key!r} is not a list of links", where=where)
            links[key] = tuple(Link.parse(link, where) for link in raw)
        texts.append(RealText(file, str(item.get("kind") or "?"), tuple(entities), links["must"], links["must_not"]))
    return texts


class Vocabulary:
    """The names the annotation patterns are searched in: rdfs:label and skos:altLabel values."""

    def __init__(self, ontology: Ontology):
        self.labels: dict[str, list[str]] = {}
        for prop in (RDFS.label, SKOS.altLabel):
            for s, o in ontology.graph.subject_objects(prop):
                if isinstance(o, Literal):
                    self.labels.setdefault(str(s), []).append(str(o))
        modalities = {str(TKG[m]) for m in MODALITY_CLASSES}
        self.modality: dict[str, list[str]] = {}
        for s, o in ontology.graph.subject_objects(RDFS.subClassOf):
            if str(o) in modalities:
                self.modality.setdefault(str(s), []).extend(self.labels.get(str(o), []))

    def names(self, name: str, as_subject: bool = False) -> list[str]:
        iri = str(TKG[name])
        names = list(self.labels.get(iri, [])) or [name]
        return names + self.modality.get(iri, []) if as_subject else names


def _matches(pattern: str, names: list[str]) -> bool:
    regex = _regex(pattern)
    return any(regex.search(n) for n in names)


def _link_matches(link: Link, finding: Finding, vocabulary: Vocabulary) -> bool:
    return (
        finding.relation in link.relations
        and finding.support == link.support
        and _matches(link.subject, vocabulary.names(finding.subject, as_subject=True))
        and _matches(link.object, vocabulary.names(finding.object))
    )


def _read_text(path: Path, ontology: Ontology) -> tuple[list[StudyRecord], str | None]:
    """The records `tkg ingest` would store for one file, or the error that stops it."""
    from .errors import TkgError
    from .pipeline import records_from_file

    try:
        return records_from_file(path, None, ontology), None
    except TkgError as exc:
        return [], str(exc).splitlines()[-1] if str(exc) else type(exc).__name__


def score_text(text: RealText, directory: Path, ontology: Ontology, vocabulary: Vocabulary) -> TextScore:
    records, error = _read_text(directory / text.file, ontology)
    return score_records(text, records, vocabulary, error)


def score_records(text: RealText, records: list[StudyRecord], vocabulary: Vocabulary, error: str | None = None) -> TextScore:
    """Match the findings and mentions of one text's records against its annotations."""
    findings: list[Finding] = []
    seen: set[tuple] = set()
    mentioned: set[str] = set()
    for record in records:
        mentioned.update(record.mentions)
        for f in record.findings:
            # one finding node per (record, subject, relation, object, context, support, section, start, method), as in to_rdf
            key = (record.id, f.subject, f.relation, f.object, f.context, f.support, f.section, f.start, f.method)
            if key not in seen:
                seen.add(key)
                findings.append(f)
                mentioned.update((f.subject, f.object))
    found, missed = [], []
    for link in text.must:
        (found if any(_link_matches(link, f, vocabulary) for f in findings) else missed).append(link)
    wrong = []
    for link in text.must_not:
        hit = next((f for f in findings if _link_matches(link, f, vocabulary)), None)
        if hit is not None:
            wrong.append((link, hit.quote))
    names = [vocabulary.names(e) for e in mentioned]
    entities_found = [e for e in text.entities if any(_matches(e, n) for n in names)]
    scored = []
    for f in findings:
        if any(_link_matches(link, f, vocabulary) for link in text.must_not):
            verdict = "wrong"
        elif any(_link_matches(link, f, vocabulary) for link in text.must):
            verdict = "stated"
        else:
            verdict = "unannotated"
        rule = getattr(f, "rule", None) or (NO_RULE if f.method in (TEXT_MINED, CURATED) else f.method)
        scored.append(ScoredFinding(f.subject, f.relation, f.object, f.support, f.quote, str(rule), verdict))
    return TextScore(text, error, found, missed, wrong, entities_found, scored)


def evaluate_real(directory: Path, names: Iterable[str] = (), ontology: Ontology | None = None, progress: bool = False) -> RealEvaluation:
    """Score extraction on a real-text set; ``names`` limits it to those texts (file names)."""
    started = time.perf_counter()
    ontology = ontology or default_ontology()
    texts = load_real_texts(directory)
    wanted = {Path(n).name for n in names}
    if wanted:
        unknown = wanted - {t.name for t in texts}
        if unknown:
            raise IngestError(f"no annotation for {', '.join(sorted(unknown))}", where=str(directory / "annotations.json"))
        texts = [t for t in texts if t.name in wanted]
    vocabulary = Vocabulary(ontology)
    items: Iterable[RealText] = texts
    if progress:
        from .progress import progress_bar

        items = progress_bar(texts, desc="eval", unit="text")
    scores = [score_text(text, directory, ontology, vocabulary) for text in items]
    return RealEvaluation(directory, scores, time.perf_counter() - started)
