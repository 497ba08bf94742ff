"""Curated study records (``data/studies/*.yaml``).

A record names its study's metadata, its text blocks (written in the
curators' own words) and its findings, each with the quote from those texts
that supports it. Offsets are computed here, so the curator writes only the
quote; a quote that is not in the text is an error.

A record may instead be a *sidecar* of a study card: ``card: ../cards/x.txt``
(a relative path, resolved against the YAML file) names the card, whose
texts, title, subtitle, study type, evidence level, publication month and
metadata conflicts are taken from the card; the YAML fields (bibliographic
facts the card lacks: first author, journal, identifiers ...) are laid over
them, its curated findings quote the card's text, and the findings the text
extractor mines from the card are appended after the curated ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..errors import RecordError
from ..model import CURATED, REFUTE, RELATIONS, STUDY_TYPES, SUPPORT, TEXT_MINED, Conflict, Finding, StudyRecord, TextBlock
from ..namespaces import is_slug
from ..ontology import Ontology, default_ontology
from . import read_text

_STR = {"type": "string", "minLength": 1}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["findings"],
    # title and study type may come from the card of a sidecar record
    "if": {"required": ["card"]},
    "then": {"required": ["findings"]},
    "else": {"required": ["title", "study_type", "findings"]},
    "properties": {
        "card": {"type": "string", "pattern": r"^[^/\\].*\.txt$"},
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,119}$"},
        "title": _STR,
        "subtitle": _STR,
        "study_type": {"enum": sorted(STUDY_TYPES)},
        "stated_study_type": _STR,
        "evidence_level": {"type": "integer", "minimum": 1, "maximum": 5},
        "published": {"type": "string", "pattern": r"^\d{4}(-\d{2}(-\d{2})?)?$"},
        "journal": _STR,
        "first_author": _STR,
        "identifiers": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "doi": {"type": "string", "pattern": r"^10\.\d{4,9}/\S+$"},
                "pmid": {"type": "string", "pattern": r"^[1-9]\d{0,8}$"},
                "nct": {"type": "string", "pattern": r"^NCT\d{8}$"},
            },
        },
        "identifiers_unverified": {"type": "boolean"},
        "acronym": _STR,
        "phase": {"type": "string", "pattern": r"^(0|1|2|3|4|1/2|2/3|early 1)$"},
        "enrollment": {"type": "integer", "minimum": 0},
        "status": _STR,
        "sponsor": _STR,
        "note": _STR,
        "keywords": {"type": "array", "items": _STR},
        "texts": {"type": "object", "minProperties": 1, "additionalProperties": _STR},
        "conflicts": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["field", "metadata_value", "text_value"],
                "properties": {"field": _STR, "metadata_value": _STR, "text_value": _STR, "note": _STR},
            },
        },
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["subject", "relation", "object", "quote"],
                "properties": {
                    "subject": _STR,
                    "relation": {"enum": sorted(RELATIONS)},
                    "object": _STR,
                    "context": _STR,
                    "support": {"enum": [SUPPORT, REFUTE]},
                    "quote": _STR,
                    "section": _STR,
                    "method": {"enum": [CURATED, TEXT_MINED]},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _describe(error: jsonschema.ValidationError) -> tuple[str, str]:
    field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "required":
        return field, error.message.replace("is a required property", "is required")
    if error.validator == "additionalProperties":
        return field, error.message.replace("Additional properties are not allowed", "unknown field(s)")
    if error.validator == "enum":
        return field, f"{error.instance!r} is not one of: " + ", ".join(map(str, error.validator_value))
    if error.validator == "pattern":
        return field, f"{error.instance!r} does not match the expected form {error.validator_value}"
    return field, error.message


def _normalize(raw: Any) -> Any:
    # YAML turns 2026-06-01 into a date; records keep dates as strings.
    if isinstance(raw, dict):
        return {k: _normalize(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_normalize(v) for v in raw]
    if isinstance(raw, dt.date):
        return raw.isoformat()
    return raw


def _load_card(data: dict[str, Any], source: str) -> StudyRecord:
    """Read and parse the card a sidecar record names (relative to the YAML file)."""
    from .card import parse_card

    relative = Path(data["card"])
    if relative.is_absolute():
        raise RecordError(f"card path {data['card']!r} must be relative to the record", where=source)
    record_dir = Path(source).resolve().parent
    path = (record_dir / relative).resolve()  # symlinks followed before the check, not after
    allowed = (record_dir, record_dir.parent / "cards")
    if not any(path.is_relative_to(root) for root in allowed):
        raise RecordError(
            f"card path {data['card']!r} leads outside the record's directory",
            where=source,
            expected="a card under the record's own directory or under the sibling cards/ directory (../cards/<id>.txt)",
        )
    return parse_card(read_text(path), str(path))


def _card_overlay(data: dict[str, Any], card: StudyRecord) -> dict[str, Any]:
    """The card's fields with the YAML's fields laid over them."""
    merged: dict[str, Any] = {
        "title": card.title,
        "subtitle": card.subtitle,
        "study_type": card.study_type,
        "stated_study_type": card.stated_study_type,
        "evidence_level": card.evidence_level,
        "published": card.published,
    }
    merged = {k: v for k, v in merged.items() if v is not None}
    merged.update({k: v for k, v in data.items() if k != "texts"})
    return merged


def _mined_findings(record: StudyRecord, curated: tuple[Finding, ...], ontology: Ontology) -> tuple[Finding, ...]:
    """Findings the text extractor mines from a card, minus those a curator already wrote."""
    from ..extract import extract_record

    mined = extract_record(record, ontology).findings
    def key(f: Finding) -> tuple[Any, ...]:
        return (f.subject, f.relation, f.object, f.context, f.support, f.section, f.start)
    seen = {key(f) for f in curated}
    out = []
    for finding in mined:
        if finding.method != TEXT_MINED or key(finding) in seen:
            continue
        seen.add(key(finding))
        out.append(finding)
    return tuple(out)


def parse_curated(data: Any, source: str, ontology: Ontology | None = None) -> StudyRecord:
    """Validate a loaded YAML document and turn it into a record."""
    ontology = ontology or default_ontology()
    data = _normalize(data)
    if not isinstance(data, dict):
        raise RecordError("a curated record must be a mapping of fields", where=source)
    if isinstance(data.get("published"), int):
        data["published"] = str(data["published"])
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        field, message = _describe(errors[0])
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise RecordError(f"field {field}: {message}{more}", where=source)

    study_id = data.get("id") or Path(source).stem
    if not is_slug(study_id):
        raise RecordError(f"study id {study_id!r} is not a valid slug", where=source, expected="lowercase letters, digits and hyphens")
    card = _load_card(data, source) if data.get("card") else None
    yaml_texts = tuple(TextBlock(section, text) for section, text in (data.get("texts") or {}).items())
    if card is not None:
        data = _card_overlay(data, card)
        card_sections = {b.section for b in card.texts}
        texts = card.texts + tuple(b for b in yaml_texts if b.section not in card_sections)
    else:
        texts = yaml_texts
    findings = tuple(_finding(i, f, texts, source, ontology) for i, f in enumerate(data["findings"]))
    conflicts = tuple(Conflict(c["field"], c["metadata_value"], c["text_value"], c.get("note", "")) for c in data.get("conflicts") or ())
    if card is not None:
        conflicts = card.conflicts + tuple(c for c in conflicts if c.field not in {k.field for k in card.conflicts})
    ids = data.get("identifiers") or {}
    record = StudyRecord(
        id=study_id,
        title=data["title"].strip(),
        subtitle=data.get("subtitle"),
        study_type=data["study_type"],
        stated_study_type=data.get("stated_study_type"),
        evidence_level=data.get("evidence_level"),
        published=data.get("published"),
        journal=data.get("journal"),
        first_author=data.get("first_author"),
        doi=ids.get("doi"),
        pmid=ids.get("pmid"),
        nct=ids.get("nct"),
        identifiers_unverified=bool(data.get("identifiers_unverified", False)),
        acronym=data.get("acronym"),
        phase=data.get("phase"),
        enrollment=data.get("enrollment"),
        status=data.get("status"),
        sponsor=data.get("sponsor"),
        note=data.get("note"),
        keywords=tuple(data.get("keywords") or ()),
        source=source,
        texts=texts,
        findings=findings,
        conflicts=conflicts,
    )
    if card is not None:
        record = replace(record, findings=findings + _mined_findings(record, findings, ontology))
    return record


def resolve_entity(term: str, ontology: Ontology) -> set[str]:
    """Local names for a record's entity reference: a local name, label or synonym."""
    if term in ontology.entities:
        return {term}
    return ontology.resolve(term)


def _entity(term: str, category: tuple[str, ...], where: str, ontology: Ontology) -> str:
    names = resolve_entity(term, ontology)
    matching = {n for n in names if any(ontology.is_a(n, c) for c in category)}
    if len(matching) == 1:
        return matching.pop()
    wanted = " or ".join(category)
    if not names:
        raise RecordError(
            f"unknown entity {term!r}", where=where, expected=f"a {wanted} class of the ontology (local name, label or synonym)"
        )
    if not matching:
        raise RecordError(f"{term!r} is not a {wanted}", where=where, expected=f"a {wanted} class")
    raise RecordError(f"{term!r} is ambiguous: " + ", ".join(sorted(matching)), where=where, expected="a local name")


def _finding(index: int, raw: dict[str, Any], texts: tuple[TextBlock, ...], source: str, ontology: Ontology) -> Finding:
    where = f"{source}: findings.{index}"
    relation = raw["relation"]
    subject_cats, object_cats = RELATIONS[relation]
    subject = _entity(raw["subject"], subject_cats, where + ".subject", ontology)
    obj = _entity(raw["object"], object_cats, where + ".object", ontology)
    context = _entity(raw["context"], ("TumorType",), where + ".context", ontology) if raw.get("context") else None
    quote = raw["quote"]
    section, start = locate_quote(quote, texts, raw.get("section"), where)
    return Finding(
        subject=subject,
        relation=relation,
        object=obj,
        context=context,
        support=raw.get("support", SUPPORT),
        quote=quote,
        section=section,
        start=start,
        end=start + len(quote),
        method=raw.get("method", CURATED),
        confidence=float(raw.get("confidence", 1.0)),
    )


def locate_quote(quote: str, texts: tuple[TextBlock, ...], section: str | None, where: str) -> tuple[str, int]:
    """Find a quote in the record's texts: (section, start offset)."""
    blocks = [b for b in texts if section is None or b.section == section]
    if section is not None and not blocks:
        raise RecordError(f"no text block named {section!r}", where=where, expected="one of " + ", ".join(b.section for b in texts))
    for block in blocks:
        start = block.text.find(quote)
        if start >= 0:
            return block.section, start
    scope = f"text {section!r}" if section else "any text block"
    raise RecordError(f"quote not found in {scope}: {quote[:60]!r}", where=where, expected="an exact substring of the study's text")


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader without anchors and aliases.

    Curated records never need them, and aliases let a few hundred bytes
    expand to millions of nodes (the "billion laughs" of YAML) once the
    record is walked. Refused at the first alias, before anything expands.
    """

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in study records; write the value out", event.start_mark
            )
        return super().compose_node(parent, index)


def read_curated(path: Path) -> Iterator[StudyRecord]:
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecordError(f"invalid YAML{line}: {getattr(exc, 'problem', exc)}", where=str(path)) from None
    yield parse_curated(data, str(path))
