"""Measured quality: entity recognition and relation extraction scored
against a hand-annotated gold set (``tests/gold/*.yaml``).

Entities: a predicted mention matches a gold mention of the same entity
whose span overlaps it (each gold mention matches at most once).
Relations: a predicted finding matches a gold relation with the same
(subject, relation, object, support); findings are compared per text, after
duplicates are merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import IngestError
from .model import RELATIONS, STUDY_TYPES, StudyRecord, TextBlock
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
        predicted = [(m.start, m.end, m.entity) for m in extractor.lexicon.find(gold.text)]
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
