"""The dashboard: what is in the graph, and the modality x barrier evidence matrix.

The matrix is competency question 9 (``kg/queries/cq09-*.rq``): for each
therapy modality (``tkg:isModality true``) and barrier category
(``tkg:isBarrierCategory true``) the number of distinct studies with a
supporting finding, and the best (lowest) evidence level among them. Products
roll up to their modality through ``rdfs:subClassOf*``; ``causesToxicity``
findings count under ``tkg:SafetyBarrier``. :func:`matrix_cell` lists the
findings behind one cell with the same rules.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from ..namespaces import TKG, local_name
from .common import PREFIXES, NotFound, entity_iri, int_or_none, min_level, value, vocabulary

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

_STUDIES = (
    PREFIXES
    + """SELECT ?s ?type ?year WHERE {
  ?s a tkg:Study . OPTIONAL { ?s a ?type FILTER(?type != tkg:Study) } OPTIONAL { ?s tkg:publicationYear ?year }
}"""
)

_PER_MODALITY = (
    PREFIXES
    + """SELECT ?m ?finding ?study ?relation ?subject WHERE {
  ?m tkg:isModality true .
  ?subject rdfs:subClassOf* ?m .
  ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:support "SUPPORT" ; prov:wasDerivedFrom ?study .
}"""
)

_PRODUCTS = PREFIXES + """SELECT ?m ?p WHERE { ?m tkg:isModality true . ?p rdfs:subClassOf+ ?m }"""

_CELL = (
    PREFIXES
    + """SELECT ?modality ?category ?safety ?finding ?subject ?relation ?object ?support ?quote ?study
       ?title ?level ?year ?context ?start ?end
WHERE {
  ?subject rdfs:subClassOf* ?modality .
  ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object ;
           tkg:support ?support ; tkg:evidenceQuote ?quote ; prov:wasDerivedFrom ?study .
  { ?finding tkg:relation tkg:facesBarrier . ?object rdfs:subClassOf* ?category . }
  UNION
  { ?finding tkg:relation tkg:causesToxicity . FILTER(?category = ?safety) }
  OPTIONAL { ?finding tkg:quoteStart ?start ; tkg:quoteEnd ?end }
  OPTIONAL { ?finding tkg:tumorContext ?context }
  OPTIONAL { ?study dcterms:title ?title }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""
)

_MODALITIES = PREFIXES + "SELECT ?m WHERE { ?m tkg:isModality true }"
_CATEGORIES = PREFIXES + "SELECT ?b ?c WHERE { ?c tkg:isBarrierCategory true . ?b rdfs:subClassOf* ?c }"
_MATRIX_ROWS = (
    PREFIXES
    + """SELECT ?m ?study ?level ?relation ?object WHERE {
  VALUES ?relation { tkg:facesBarrier tkg:causesToxicity }
  ?m tkg:isModality true .
  ?subject rdfs:subClassOf* ?m .
  ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object ;
           tkg:support "SUPPORT" ; prov:wasDerivedFrom ?study .
  OPTIONAL { ?study tkg:evidenceLevel ?level }
}"""
)
_IS = PREFIXES + "SELECT ?x ?p ?flag WHERE { ?x ?p ?flag }"


def dashboard(kg: KnowledgeGraph) -> dict[str, Any]:
    """Counts for the dashboard: totals, studies by type and by year, per modality."""
    vocab = vocabulary(kg)
    stats = kg.stats()
    types: dict[str, set[str]] = defaultdict(set)
    years: dict[str, int | None] = {}
    for row in kg.query(_STUDIES).rows:
        study = str(row["s"])
        if row.get("type") is not None:
            types[study].add(str(row["type"]))
        else:
            types.setdefault(study, set())
        if row.get("year") is not None:
            years[study] = int_or_none(row["year"])
    by_type: Counter[str] = Counter()
    for kinds in types.values():
        # the most specific stated type (a narrative review is also a review)
        names = sorted(vocab.label(k) for k in kinds) or ["study"]
        by_type[names[-1] if len(names) > 1 and "review" in names else names[0]] += 1
    by_year = Counter(y for y in years.values() if y is not None)
    modalities: dict[str, dict[str, Any]] = {}
    for row in kg.query(_PER_MODALITY).rows:
        m = str(row["m"])
        entry = modalities.setdefault(m, {"studies": set(), "findings": set(), "relations": Counter()})
        entry["studies"].add(str(row["study"]))
        entry["findings"].add(str(row["finding"]))
        entry["relations"][local_name(str(row["relation"]))] += 1
    products: dict[str, int] = Counter(str(r["m"]) for r in kg.query(_PRODUCTS).rows)
    per_modality = []
    for m in sorted(set(vocab.modality_of.values()), key=vocab.label):
        entry = modalities.get(m, {"studies": set(), "findings": set(), "relations": Counter()})
        per_modality.append(
            {
                **(vocab.ref(m) or {}),
                "studies": len(entry["studies"]),
                "findings": len(entry["findings"]),
                "products": products.get(m, 0),
                "relations": dict(sorted(entry["relations"].items())),
            }
        )
    return {
        "stats": stats,
        "studies_by_type": [{"type": t, "studies": n} for t, n in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))],
        "studies_by_year": [{"year": y, "studies": by_year[y]} for y in sorted(by_year)],
        "modalities": per_modality,
    }


def evidence_matrix(kg: KnowledgeGraph) -> dict[str, Any]:
    """Modality x barrier category: distinct supporting studies and best level per cell.

    The answer of CQ9, computed from flat rows (findings, and the categories
    each barrier rolls up to) so that every backend gives the same cells: rdflib
    evaluates CQ9's BIND inside an OPTIONAL sub-select wrongly."""
    vocab = vocabulary(kg)
    modalities = sorted({str(r["m"]) for r in kg.query(_MODALITIES).rows}, key=lambda m: vocab.label(m).lower())
    rolls: dict[str, set[str]] = defaultdict(set)
    categories: set[str] = set()
    for row in kg.query(_CATEGORIES).rows:
        categories.add(str(row["c"]))
        rolls[str(row["b"])].add(str(row["c"]))
    cats = sorted(categories, key=lambda c: vocab.label(c).lower())
    studies: dict[tuple[str, str], set[str]] = defaultdict(set)
    levels: dict[tuple[str, str], list[int | None]] = defaultdict(list)
    safety = str(TKG.SafetyBarrier)
    for row in kg.query(_MATRIX_ROWS).rows:
        m, relation = str(row["m"]), local_name(str(row["relation"]))
        targets = rolls.get(str(row["object"]), set()) if relation == "facesBarrier" else {safety} & categories
        for c in targets:
            studies[(m, c)].add(str(row["study"]))
            levels[(m, c)].append(int_or_none(row.get("level")))
    most = max((len(s) for s in studies.values()), default=0)
    return {
        "modalities": [vocab.ref(m) for m in modalities],
        "categories": [vocab.ref(c) for c in cats],
        "cells": [
            [
                {
                    "modality": local_name(m),
                    "category": local_name(c),
                    "studies": len(studies.get((m, c), ())),
                    "best_level": min_level(levels.get((m, c), [])),
                }
                for c in cats
            ]
            for m in modalities
        ],
        "max_studies": most,
    }


def _flag(kg: KnowledgeGraph, iri: Any, prop: str) -> bool:
    rows = kg.query(_IS, bindings={"x": iri, "p": TKG[prop]}).rows
    return any(value(r.get("flag")) is True for r in rows)


def matrix_cell(kg: KnowledgeGraph, modality_id: str, category_id: str) -> dict[str, Any]:
    """The findings behind one matrix cell: quotes, studies, levels. Supporting
    findings come first and are the ones the cell counts; refuting findings
    (``tkg:support "REFUTE"``) are listed after them, marked."""
    modality, category = entity_iri(modality_id), entity_iri(category_id)
    if not _flag(kg, modality, "isModality"):
        raise NotFound(f"{modality_id!r} is not a therapy modality of the matrix", expected="e.g. CART, TIL, TCellEngager, TCRT")
    if not _flag(kg, category, "isBarrierCategory"):
        raise NotFound(f"{category_id!r} is not a barrier category of the matrix", expected="e.g. TumorMicroenvironmentBarrier")
    vocab = vocabulary(kg)
    # causesToxicity findings count under the safety column only
    bindings = {"modality": modality, "category": category, "safety": TKG.SafetyBarrier}
    rows = kg.query(_CELL, bindings=bindings).rows
    findings: dict[str, dict[str, Any]] = {}
    for row in rows:
        fid = str(row["finding"])
        if fid in findings:
            continue
        findings[fid] = {
            "id": local_name(fid),
            "subject": vocab.ref(row["subject"]),
            "relation": local_name(str(row["relation"])),
            "relation_label": vocab.label(row["relation"]),
            "object": vocab.ref(row["object"]),
            "context": vocab.ref(row.get("context")),
            "quote": value(row["quote"]),
            "support": value(row["support"]),
            "start": int_or_none(row.get("start")),
            "end": int_or_none(row.get("end")),
            "study": {
                "id": local_name(str(row["study"])),
                "iri": str(row["study"]),
                "title": value(row.get("title")) or local_name(str(row["study"])),
                "level": int_or_none(row.get("level")),
                "year": int_or_none(row.get("year")),
            },
        }
    items = sorted(
        findings.values(),
        key=lambda f: (
            f["support"] != "SUPPORT",
            f["study"]["level"] if f["study"]["level"] is not None else 99,
            -(f["study"]["year"] or 0),
            f["study"]["id"],
            f["start"] if f["start"] is not None else 1 << 30,  # findings on one sentence side by side
            f["id"],
        ),
    )
    supporting = [f for f in items if f["support"] == "SUPPORT"]
    return {
        "modality": vocab.ref(modality),
        "category": vocab.ref(category),
        "studies": len({f["study"]["iri"] for f in supporting}),
        "refuting_findings": len(items) - len(supporting),
        "best_level": min_level([f["study"]["level"] for f in supporting]),
        "findings": items,
    }
