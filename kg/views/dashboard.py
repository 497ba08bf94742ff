"""The dashboard: what is in the graph, and the modality x barrier evidence matrix.

The matrix is competency question 9 (``kg/queries/cq09-*.rq``): for each
therapy modality (``tkg:isModality true``) and barrier category
(``tkg:isBarrierCategory true``) the number of distinct studies with a
supporting finding, and the best (lowest) evidence level among them. Products
roll up to their modality through ``rdfs:subClassOf*``; ``causesToxicity``
findings count under ``tkg:SafetyBarrier``. :func:`cell_index` lists the
findings behind one cell with the same rules and :func:`cell_findings` shows them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rdflib import URIRef

from ..namespaces import SPARQL_PREFIXES, TKG, local_name
from .common import NotFound, Vocabulary, entity_iri, int_or_none, min_level, value, vocabulary

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

_STUDIES = (
    SPARQL_PREFIXES
    + """SELECT ?s ?type ?year WHERE {
  ?s a tkg:Study . OPTIONAL { ?s a ?type FILTER(?type != tkg:Study) } OPTIONAL { ?s tkg:publicationYear ?year }
}"""
)

_PER_MODALITY = (
    SPARQL_PREFIXES
    + """SELECT ?m ?finding ?study ?relation ?subject WHERE {
  ?m tkg:isModality true .
  ?subject rdfs:subClassOf* ?m .
  ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:support "SUPPORT" ; prov:wasDerivedFrom ?study .
}"""
)

_PRODUCTS = SPARQL_PREFIXES + """SELECT ?m ?p WHERE { ?m tkg:isModality true . ?p rdfs:subClassOf+ ?m }"""

#: Every finding that puts a therapy (rolled up to its modality) in a matrix
#: column, supporting or refuting, with what orders a cell's list. One query
#: for all cells, at publish time; ``?m`` bound for one modality on request.
_CELL_INDEX = (
    SPARQL_PREFIXES
    + """SELECT ?m ?finding ?study ?support ?relation ?object ?level ?year ?start WHERE {
  VALUES ?relation { tkg:facesBarrier tkg:causesToxicity }
  ?m tkg:isModality true .
  ?subject rdfs:subClassOf* ?m .
  ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object ;
           tkg:support ?support ; prov:wasDerivedFrom ?study .
  OPTIONAL { ?finding tkg:quoteStart ?start }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""
)

#: What a cell page shows of one listed finding (``?finding`` bound). One query
#: per finding of the page: with a VALUES list of them, Oxigraph's planner
#: starts from the patterns instead (12 s for 100 findings at 100,000 studies,
#: against 0.15 s for 100 bound queries).
_CELL_FINDING = (
    SPARQL_PREFIXES
    + """SELECT ?finding ?subject ?relation ?object ?support ?quote ?study ?title ?level ?year ?context ?start ?end
WHERE {
  ?finding tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object ;
           tkg:support ?support ; tkg:evidenceQuote ?quote ; prov:wasDerivedFrom ?study .
  OPTIONAL { ?finding tkg:quoteStart ?start ; tkg:quoteEnd ?end }
  OPTIONAL { ?finding tkg:tumorContext ?context }
  OPTIONAL { ?study dcterms:title ?title }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""
)

_MODALITIES = SPARQL_PREFIXES + "SELECT ?m WHERE { ?m tkg:isModality true }"
_CATEGORIES = SPARQL_PREFIXES + "SELECT ?b ?c WHERE { ?c tkg:isBarrierCategory true . ?b rdfs:subClassOf* ?c }"
_IS = SPARQL_PREFIXES + "SELECT ?x ?p ?flag WHERE { ?x ?p ?flag }"


def dashboard(kg: KnowledgeGraph) -> dict[str, Any]:
    """Counts for the dashboard: totals, studies by type and by year, per modality."""
    modalities: dict[str, dict[str, Any]] = {}
    for row in kg.query(_PER_MODALITY).rows:
        m = str(row["m"])
        entry = modalities.setdefault(m, {"studies": set(), "findings": set(), "relations": Counter()})
        entry["studies"].add(str(row["study"]))
        entry["findings"].add(str(row["finding"]))
        entry["relations"][str(row["relation"])] += 1
    per_modality = {
        m: {"studies": len(e["studies"]), "findings": len(e["findings"]), "relations": e["relations"]} for m, e in modalities.items()
    }
    vocab = vocabulary(kg)
    study_rows = [(str(r["s"]), _str(r.get("type")), int_or_none(r.get("year"))) for r in kg.query(_STUDIES).rows]
    return assemble_dashboard(kg, vocab, kg.stats(), *study_counts(vocab, study_rows), per_modality)


def _str(term: Any) -> str | None:
    return None if term is None else str(term)


def study_kind(vocab: Vocabulary, kinds: Iterable[str]) -> str:
    """What a study counts as under "studies by type": the label of its most
    specific stated type (a narrative review is also a review), "study" for none."""
    names = sorted(vocab.label(k) for k in kinds) or ["study"]
    return names[-1] if len(names) > 1 and "review" in names else names[0]


def study_counts(vocab: Vocabulary, study_rows: Iterable[tuple[str, str | None, int | None]]) -> tuple[Counter[str], Counter[int]]:
    """Studies by type (:func:`study_kind`) and by year from ``study_rows``
    (study IRI, a stated type other than tkg:Study or None, publication year
    or None). Where a study states two years, the latest counts."""
    types: dict[str, set[str]] = defaultdict(set)
    years: dict[str, int] = {}
    for study, kind, year in study_rows:
        if kind is not None:
            types[study].add(kind)
        else:
            types.setdefault(study, set())
        if year is not None:
            years[study] = max(year, years.get(study, year))
    return Counter(study_kind(vocab, kinds) for kinds in types.values()), Counter(years.values())


def assemble_dashboard(
    kg: KnowledgeGraph,
    vocab: Vocabulary,
    stats: dict[str, int],
    by_type: Counter[str],
    by_year: Counter[int],
    per_modality: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The dashboard from its parts: ``stats`` (:meth:`KnowledgeGraph.stats`),
    studies by type and by year (:func:`study_counts`) and ``per_modality``
    (modality IRI -> distinct supporting studies, findings, and supporting
    findings per relation IRI)."""
    products: dict[str, int] = Counter(str(r["m"]) for r in kg.query(_PRODUCTS).rows)
    rows = []
    for m in sorted(set(vocab.modality_of.values()), key=vocab.label):
        entry = per_modality.get(m, {"studies": 0, "findings": 0, "relations": Counter()})
        relations: Counter[str] = Counter()
        for relation, n in entry["relations"].items():
            relations[local_name(relation)] += n
        rows.append(
            {
                **(vocab.ref(m) or {}),
                "studies": entry["studies"],
                "findings": entry["findings"],
                "products": products.get(m, 0),
                "relations": dict(sorted(relations.items())),
            }
        )
    return {
        "stats": stats,
        "studies_by_type": [{"type": t, "studies": n} for t, n in sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])) if n],
        "studies_by_year": [{"year": y, "studies": by_year[y]} for y in sorted(by_year) if by_year[y]],
        "modalities": rows,
    }


def _rollups(kg: KnowledgeGraph) -> tuple[dict[str, set[str]], set[str]]:
    """Each barrier class -> the matrix categories it rolls up to; all categories."""
    rolls: dict[str, set[str]] = defaultdict(set)
    categories: set[str] = set()
    for row in kg.query(_CATEGORIES).rows:
        categories.add(str(row["c"]))
        rolls[str(row["b"])].add(str(row["c"]))
    return rolls, categories


def cell_targets(relation: str, obj: str, rolls: dict[str, set[str]], categories: set[str]) -> set[str]:
    """The matrix categories a finding with this relation (local name) and object counts in:
    the categories its barrier rolls up to; ``causesToxicity`` findings count under the safety column only."""
    if relation == "facesBarrier":
        return rolls.get(obj, set())
    return {str(TKG.SafetyBarrier)} & categories


def cell_facts(row: dict[str, Any]) -> tuple:
    """What orders a finding in its cell: support, level, year, study, quote start."""
    return (
        value(row["support"]),
        int_or_none(row.get("level")),
        int_or_none(row.get("year")),
        str(row["study"]),
        int_or_none(row.get("start")),
    )


def _cells_from_rows(
    rows: list[dict[str, Any]], rolls: dict[str, set[str]], categories: set[str]
) -> dict[tuple[str, str], dict[str, tuple]]:
    """(modality, category) -> finding -> its sort facts, one entry per finding
    (the first row wins where a study has two levels or years)."""
    cells: dict[tuple[str, str], dict[str, tuple]] = defaultdict(dict)
    for row in rows:
        m, finding = str(row["m"]), str(row["finding"])
        facts = cell_facts(row)
        for c in cell_targets(local_name(str(row["relation"])), str(row["object"]), rolls, categories):
            cells[(m, c)].setdefault(finding, facts)
    return cells


def _cell_summary(entries: dict[str, tuple], modality: dict | None, category: dict | None) -> dict[str, Any]:
    """A cell's index: its findings in page order (supporting first, best level,
    newest, by study, findings of one sentence side by side) and its counts."""
    order = sorted(
        entries.items(),
        key=lambda kv: (
            kv[1][0] != "SUPPORT",
            kv[1][1] if kv[1][1] is not None else 99,
            -(kv[1][2] or 0),
            local_name(kv[1][3]),
            kv[1][4] if kv[1][4] is not None else 1 << 30,
            local_name(kv[0]),
        ),
    )
    supporting = [facts for _f, facts in order if facts[0] == "SUPPORT"]
    return {
        "modality": modality,
        "category": category,
        "studies": len({facts[3] for facts in supporting}),
        "refuting_findings": len(order) - len(supporting),
        "best_level": min_level([facts[1] for facts in supporting]),
        "findings": [finding for finding, _facts in order],
    }


def matrix_and_cells(kg: KnowledgeGraph) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The evidence matrix and the index of every cell (``"CART/SafetyBarrier"``
    -> :func:`cell_index`'s dict), from one pass over the findings.

    The matrix is the answer of CQ9, computed from flat rows (findings, and the
    categories each barrier rolls up to) so that every backend gives the same
    cells: rdflib evaluates CQ9's BIND inside an OPTIONAL sub-select wrongly."""
    vocab = vocabulary(kg)
    modalities, cats, rolls, categories = matrix_axes(kg, vocab)
    found = _cells_from_rows(kg.query(_CELL_INDEX).rows, rolls, categories)
    index = {
        f"{local_name(m)}/{local_name(c)}": _cell_summary(found.get((m, c), {}), vocab.ref(m), vocab.ref(c))
        for m in modalities
        for c in cats
    }
    return assemble_matrix(vocab, modalities, cats, {k: (v["studies"], v["best_level"]) for k, v in index.items()}), index


def matrix_axes(kg: KnowledgeGraph, vocab: Vocabulary) -> tuple[list[str], list[str], dict[str, set[str]], set[str]]:
    """The matrix's modalities and categories (IRIs, in display order), each
    barrier's categories and the set of categories (all from the ontology)."""
    modalities = sorted({str(r["m"]) for r in kg.query(_MODALITIES).rows}, key=lambda m: vocab.label(m).lower())
    rolls, categories = _rollups(kg)
    cats = sorted(categories, key=lambda c: vocab.label(c).lower())
    return modalities, cats, rolls, categories


def cell_summary(vocab: Vocabulary, modality: str, category: str, entries: dict[str, tuple]) -> dict[str, Any]:
    """A cell's index from its findings' sort facts (:func:`cell_facts`)."""
    return _cell_summary(entries, vocab.ref(modality), vocab.ref(category))


def assemble_matrix(vocab: Vocabulary, modalities: list[str], cats: list[str], counts: dict[str, tuple[int, int | None]]) -> dict[str, Any]:
    """The matrix from each cell's (studies, best level), keyed ``"CART/SafetyBarrier"``."""
    cells = [
        [
            {
                "modality": local_name(m),
                "category": local_name(c),
                "studies": counts[f"{local_name(m)}/{local_name(c)}"][0],
                "best_level": counts[f"{local_name(m)}/{local_name(c)}"][1],
            }
            for c in cats
        ]
        for m in modalities
    ]
    return {
        "modalities": [vocab.ref(m) for m in modalities],
        "categories": [vocab.ref(c) for c in cats],
        "cells": cells,
        "max_studies": max((cell["studies"] for row in cells for cell in row), default=0),
    }


def _flag(kg: KnowledgeGraph, iri: Any, prop: str) -> bool:
    rows = kg.query(_IS, bindings={"x": iri, "p": TKG[prop]}).rows
    return any(value(r.get("flag")) is True for r in rows)


def cell_index(kg: KnowledgeGraph, modality_id: str, category_id: str) -> dict[str, Any]:
    """One cell's index computed from the store (stores without releases, or a
    release published before cells were stored): its counts and the IRIs of its
    findings in page order. Supporting findings come first and are the ones the
    cell counts; refuting findings (``tkg:support "REFUTE"``) follow them."""
    modality, category = entity_iri(modality_id), entity_iri(category_id)
    if not _flag(kg, modality, "isModality"):
        raise NotFound(f"{modality_id!r} is not a therapy modality of the matrix", expected="e.g. CART, TIL, TCellEngager, TCRT")
    if not _flag(kg, category, "isBarrierCategory"):
        raise NotFound(f"{category_id!r} is not a barrier category of the matrix", expected="e.g. TumorMicroenvironmentBarrier")
    vocab = vocabulary(kg)
    rolls, categories = _rollups(kg)
    found = _cells_from_rows(kg.query(_CELL_INDEX, bindings={"m": modality}).rows, rolls, categories)
    return _cell_summary(found.get((str(modality), str(category)), {}), vocab.ref(modality), vocab.ref(category))


def cell_findings(kg: KnowledgeGraph, findings: list[str]) -> list[dict[str, Any]]:
    """What a cell page shows of ``findings`` (IRIs from a cell index), in their order."""
    vocab = vocabulary(kg)
    out = []
    for fid in findings:
        rows = kg.query(_CELL_FINDING, bindings={"finding": URIRef(fid)}).rows
        if not rows:
            continue  # not in this release any more
        row = rows[0]
        out.append(
            {
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
        )
    return out
