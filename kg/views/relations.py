"""An entity page's relations and studies assembled from grouped rows: shared
by the page's SPARQL computation (kg/views/entity.py) and the summaries kept
at publish (kg/views/summaries.py), so both give the same page."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, NamedTuple

from ..namespaces import local_name

if TYPE_CHECKING:
    from .common import Vocabulary


class ItemRow(NamedTuple):
    """Per (direction, relation, other end) and side: what the store counted."""

    direction: str
    relation: str
    other: str
    supporting: bool
    studies: int
    best_level: int | None
    example: Any
    vias: list[str]


class StudyRow(NamedTuple):
    """Per study and direction: its findings about the entity, the relations it supports."""

    study: str
    direction: str
    findings: int
    supported: list[str]
    title: str | None
    level: int | None
    year: int | None


def assemble(
    iri: str, item_rows: list[ItemRow], study_rows: list[StudyRow], vocab: Vocabulary
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The page's relations and studies from the grouped rows.

    An item's ``studies`` are its distinct supporting studies, ``refuting_studies``
    the distinct studies of its other findings, ``best_level`` the lowest
    evidence level of the supporting studies, ``example_quote`` one non-empty
    quote of a supporting finding and ``via`` the narrower classes its findings
    are about. A relation's ``studies`` are the distinct supporting studies
    over all its items; a study's ``findings`` count a finding once per
    direction it matches. Ties in every ordering fall back to the IRI, so a
    page does not change between runs.
    """
    studies: dict[str, dict[str, Any]] = {}
    supporting: dict[tuple[str, str], int] = defaultdict(int)  # (direction, relation) -> distinct supporting studies
    seen: set[tuple[str, str]] = set()
    for row in study_rows:
        if (row.study, row.direction) in seen:  # a second title, level or year
            continue
        seen.add((row.study, row.direction))
        entry = studies.setdefault(
            row.study,
            {
                "id": local_name(row.study),
                "iri": row.study,
                "title": row.title or local_name(row.study),
                "level": row.level,
                "year": row.year,
                "findings": 0,
            },
        )
        entry["findings"] += row.findings
        for relation in set(row.supported):
            supporting[(row.direction, relation)] += 1
    return build_relations(iri, item_rows, supporting, vocab), sorted(studies.values(), key=study_order)


def study_order(study: dict[str, Any]) -> tuple[Any, ...]:
    """The order of the page's studies: best level, newest, title, IRI."""
    return (study["level"] if study["level"] is not None else 99, -(study["year"] or 0), study["title"].lower(), study["iri"])


def build_relations(iri: str, item_rows: list[ItemRow], supporting: dict[tuple[str, str], int], vocab: Vocabulary) -> list[dict[str, Any]]:
    """The page's relations from the item rows and each (direction, relation)'s distinct supporting studies."""
    items: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in item_rows:
        entry = items[(row.direction, row.relation)].setdefault(
            row.other,
            {"entity": vocab.ref(row.other), "studies": 0, "refuting_studies": 0, "best_level": None, "via": set(), "example_quote": None},
        )
        if row.supporting:
            entry["studies"] = row.studies
            entry["best_level"] = row.best_level
            entry["example_quote"] = row.example
        else:
            entry["refuting_studies"] = row.studies
        entry["via"].update(v for v in row.vias if v != iri)

    def by_label(ref: dict[str, Any]) -> tuple[str, str]:
        return ref["label"], ref["iri"]

    relations = []
    for (direction, relation), others in items.items():
        for entry in others.values():
            entry["via"] = sorted((vocab.ref(v) for v in entry["via"]), key=by_label)  # type: ignore[arg-type]
        listed = sorted(others.values(), key=lambda i: (-i["studies"], i["entity"]["label"].lower(), i["entity"]["iri"]))
        relations.append(
            {
                "relation": local_name(relation),
                "label": vocab.label(relation),
                "direction": direction,
                "items": listed,
                "studies": supporting.get((direction, relation), 0),
            }
        )
    relations.sort(key=lambda r: (r["direction"] != "out", -r["studies"], r["label"], r["relation"]))
    return relations
