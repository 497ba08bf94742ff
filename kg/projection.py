"""The graph as networkx: a typed MultiDiGraph of the domain entities.

One node per ontology class that findings talk about (therapies, products,
tumor types, barriers, toxicities, strategies, antigens, mechanistic
attributes) and, on request, one per study. One edge per (subject, relation,
object) that at least one finding asserts, keyed by the relation's local
name, weighted by its number of distinct supporting studies and carrying its
best (lowest) evidence level, its years, its tumor contexts and the studies
behind it.

The edges come from **one** SPARQL SELECT grouped in the store (no walking
of triples in Python); node attributes from a second, small query over the
ontology graph. Graph views (:mod:`web`), analytics and the graph exports
(GraphML, GEXF, Cytoscape.js, CSV, KGX) all start from :func:`project`.

Node attributes: ``id`` (local name), ``iri``, ``label``, ``category`` (one
of :data:`CATEGORIES` or ``Study``), ``parent`` (the id of the nearest
ontology superclass, if any), ``modality`` (for therapies: the id of their
modality), ``tumor_kind`` (``heme``/``solid`` for tumor types),
``is_modality``, ``is_product``, ``is_barrier_category``.

Edge attributes: ``relation`` (local name, also the key), ``studies``
(sorted study ids supporting it), ``weight`` (number of supporting studies),
``refuted_by`` (study ids with REFUTE findings), ``best_level`` (1 strongest
.. 5, or None), ``first_year``/``last_year``, ``contexts`` (tumor context id
-> number of studies; ``""`` for findings without a context), ``findings``
(number of findings), ``methods`` (``curated``/``text-mined``/``curated-from-registry``),
``context_studies`` (tumor context id -> sorted study ids).

Graph attribute ``classes``: id -> ``{label, category, parent, modality,
tumor_kind, is_modality, is_product, is_barrier_category}`` for every class
of the ontology, including those no finding names (barrier categories above
a named barrier, tumor contexts), so roll-ups can walk the hierarchy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import networkx as nx

from .namespaces import BASE, SPARQL_PREFIXES, STUDY

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

#: Top-level categories of domain entities, most specific first where they nest.
CATEGORIES: tuple[str, ...] = (
    "Therapy",
    "TumorType",
    "Barrier",
    "Toxicity",
    "Strategy",
    "Antigen",
    "MechanisticAttribute",
)


#: Every asserted (subject, relation, object, context, study) with its support, level, year and method.
EDGE_QUERY = (
    SPARQL_PREFIXES
    + """SELECT ?s ?rel ?o ?ctx ?study ?support ?level ?year ?method (COUNT(?f) AS ?n) WHERE {
  ?f a tkg:Finding ; tkg:subject ?s ; tkg:relation ?rel ; tkg:object ?o ;
     tkg:support ?support ; prov:wasDerivedFrom ?study .
  OPTIONAL { ?f tkg:tumorContext ?ctx }
  OPTIONAL { ?f tkg:extractionMethod ?method }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}
GROUP BY ?s ?rel ?o ?ctx ?study ?support ?level ?year ?method"""
)

#: Labels, categories and flags of the ontology's classes.
NODE_QUERY = (
    SPARQL_PREFIXES
    + """SELECT ?x ?label ?top ?parent ?modality ?kind ?isModality ?isCategory ?isProduct WHERE {
  { ?x a owl:Class } UNION { ?x a tkg:MechanisticAttribute . BIND(tkg:MechanisticAttribute AS ?top) }
  FILTER(STRSTARTS(STR(?x), STR(tkg:)))
  OPTIONAL { ?x rdfs:label ?label }
  OPTIONAL { VALUES ?top { tkg:Therapy tkg:TumorType tkg:Barrier tkg:Toxicity tkg:Strategy tkg:Antigen
                           tkg:MechanisticAttribute } ?x rdfs:subClassOf* ?top }
  OPTIONAL { ?x rdfs:subClassOf ?parent . FILTER(isIRI(?parent) && ?parent != ?x) }
  OPTIONAL { ?modality tkg:isModality true . ?x rdfs:subClassOf* ?modality }
  OPTIONAL { VALUES ?kind { tkg:HematologicMalignancy tkg:SolidTumor } ?x rdfs:subClassOf* ?kind }
  OPTIONAL { ?x tkg:isModality ?isModality }
  OPTIONAL { ?x tkg:isBarrierCategory ?isCategory }
  OPTIONAL { ?x tkg:approvalStatus ?status . BIND(true AS ?isProduct) }
}"""
)

#: Studies: title, type, year, level (only with ``studies=True``).
STUDY_QUERY = (
    SPARQL_PREFIXES
    + """PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT ?study ?title ?level ?year WHERE {
  ?study a tkg:Study .
  OPTIONAL { ?study dcterms:title ?title }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""
)


def local_id(iri: str) -> str:
    """The id of a term of ours (the part after the base), else the IRI itself."""
    if iri.startswith(str(STUDY)):
        return "study/" + iri[len(str(STUDY)) :]
    return iri[len(BASE) :] if iri.startswith(BASE) else iri


def _depth_rank(category: str) -> int:
    return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)


def _nodes(kg: KnowledgeGraph) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    parents: dict[str, set[str]] = defaultdict(set)
    for row in kg.query(NODE_QUERY).rows:
        iri = str(row["x"])
        node = nodes.setdefault(iri, _default_node(iri))
        label = row.get("label")
        if label is not None and (node["label"] == node["id"] or getattr(label, "language", None) == "en"):
            node["label"] = str(label)
        top = row.get("top")
        if top is not None:
            category = local_id(str(top))
            if _depth_rank(category) < _depth_rank(node["category"]):
                node["category"] = category
        if row.get("parent") is not None:
            parents[iri].add(str(row["parent"]))
        if row.get("modality") is not None and (node["modality"] is None or str(row["modality"]) == iri):
            node["modality"] = local_id(str(row["modality"]))
        kind = row.get("kind")
        if kind is not None:
            node["tumor_kind"] = "heme" if str(kind).endswith("HematologicMalignancy") else "solid"
        node["is_modality"] = node["is_modality"] or _true(row.get("isModality"))
        node["is_barrier_category"] = node["is_barrier_category"] or _true(row.get("isCategory"))
        node["is_product"] = node["is_product"] or row.get("isProduct") is not None
    for iri, ups in parents.items():
        ours = sorted(p for p in ups if p in nodes)
        if ours:
            nodes[iri]["parent"] = local_id(ours[0])
    return nodes


def _true(term: Any) -> bool:
    return term is not None and str(term).lower() in ("true", "1")


#: An edge row: subject, relation, object, tumor context, study (IRIs or None),
#: support, evidence level, year, extraction method, number of findings.
EdgeRow = tuple[str, str, str, "str | None", str, str, "int | None", "int | None", "str | None", int]


def edge_row(row: dict[str, Any]) -> EdgeRow:
    """An :data:`EdgeRow` from a row of :data:`EDGE_QUERY`."""

    def text(name: str) -> str | None:
        return str(row[name]) if row.get(name) is not None else None

    def number(name: str) -> int | None:
        return int(row[name].toPython()) if row.get(name) is not None else None

    n = int(row["n"].toPython()) if row.get("n") is not None else 1
    return (str(row["s"]), str(row["rel"]), str(row["o"]), text("ctx"), str(row["study"]), str(row["support"]),
            number("level"), number("year"), text("method"), n)


def fold_edges(rows: Iterable[EdgeRow]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(subject, relation, object) IRIs -> the edge's attributes (see the module docstring)."""
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    for s, rel, o, ctx, study_iri, support, level, year, method, n in rows:
        study = local_id(study_iri)[len("study/") :]
        edge = edges.setdefault(
            (s, rel, o),
            {
                "_support": set(),
                "_refute": set(),
                "_levels": [],
                "_years": [],
                "_contexts": defaultdict(set),
                "findings": 0,
                "_methods": set(),
            },
        )
        refute = support == "REFUTE"
        (edge["_refute"] if refute else edge["_support"]).add(study)
        edge["findings"] += n
        if not refute:
            if level is not None:
                edge["_levels"].append(level)
            if year is not None:
                edge["_years"].append(year)
            edge["_contexts"][local_id(ctx) if ctx is not None else ""].add(study)
        if method is not None:
            edge["_methods"].add(method)
    out = {}
    for key, edge in edges.items():
        supporting = sorted(edge["_support"])
        out[key] = {
            "relation": local_id(key[1]),
            "studies": supporting,
            "weight": len(supporting),
            "refuted_by": sorted(edge["_refute"]),
            "best_level": min(edge["_levels"]) if edge["_levels"] else None,
            "first_year": min(edge["_years"]) if edge["_years"] else None,
            "last_year": max(edge["_years"]) if edge["_years"] else None,
            "contexts": {k: len(v) for k, v in sorted(edge["_contexts"].items())},
            "context_studies": {k: sorted(v) for k, v in sorted(edge["_contexts"].items())},
            "findings": edge["findings"],
            "methods": sorted(edge["_methods"]),
        }
    return out


def _default_node(iri: str) -> dict[str, Any]:
    return {
        "id": local_id(iri),
        "iri": iri,
        "label": local_id(iri),
        "category": "Other",
        "parent": None,
        "modality": None,
        "tumor_kind": None,
        "is_modality": False,
        "is_product": False,
        "is_barrier_category": False,
    }


def assemble(
    vocabulary: dict[str, dict[str, Any]], edges: dict[tuple[str, str, str], dict[str, Any]], *, include_refuted: bool = True
) -> nx.MultiDiGraph:
    """The MultiDiGraph of ``edges`` ((subject, relation, object) IRIs -> attributes,
    as :func:`fold_edges` gives them), nodes described by ``vocabulary`` (:func:`node_vocabulary`).
    Edges are added in the order of their IRIs, so that equal inputs give equal graphs."""
    graph = nx.MultiDiGraph(name="tcell-kg")
    graph.graph["classes"] = {attrs["id"]: {k: v for k, v in attrs.items() if k not in ("id", "iri")} for attrs in vocabulary.values()}

    def add_node(iri: str) -> str:
        attrs = vocabulary.get(iri) or _default_node(iri)
        node_id = attrs["id"]
        if node_id not in graph:
            graph.add_node(node_id, **attrs)
        return node_id

    for (s, _rel, o), attrs in sorted(edges.items()):
        if not attrs.get("weight") and not include_refuted:
            continue
        graph.add_edge(add_node(s), add_node(o), key=attrs["relation"], **attrs)
    return graph


def node_vocabulary(kg: KnowledgeGraph) -> dict[str, dict[str, Any]]:
    """Node attributes of every class of the ontology, by IRI."""
    return _nodes(kg)


def project(kg: KnowledgeGraph, *, studies: bool = False, include_refuted: bool = True) -> nx.MultiDiGraph:
    """The typed MultiDiGraph of ``kg`` (see the module docstring).

    Only entities that take part in at least one finding become nodes (plus
    studies when ``studies`` is true, linked to the entities they report on
    by ``reports`` edges). An edge whose findings are all REFUTE is kept
    (weight 0, ``refuted_by`` set) when ``include_refuted`` is true.
    """
    edges = fold_edges(edge_row(row) for row in kg.query(EDGE_QUERY).rows)
    graph = assemble(_nodes(kg), edges, include_refuted=include_refuted)
    reports: dict[str, set[str]] = defaultdict(set)
    for u, v, data in graph.edges(data=True):
        for study in [*data["studies"], *data["refuted_by"]]:
            reports[study].update((u, v))
    if studies:
        for row in kg.query(STUDY_QUERY).rows:
            study = local_id(str(row["study"]))[len("study/") :]
            node_id = "study/" + study
            graph.add_node(
                node_id,
                id=node_id,
                iri=str(row["study"]),
                label=str(row["title"]) if row.get("title") is not None else study,
                category="Study",
                evidence_level=int(row["level"].toPython()) if row.get("level") is not None else None,
                year=int(row["year"].toPython()) if row.get("year") is not None else None,
            )
            for entity in sorted(reports.get(study, ())):
                graph.add_edge(node_id, entity, key="reports", relation="reports", studies=[study], weight=1)
    return graph
