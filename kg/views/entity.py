"""An entity's page: label, definition, synonyms, mappings, hierarchy,
relations grouped by type with the number of supporting studies, the studies.

Findings about narrower classes count for the entity (a CAR-T product's
findings show on the CAR-T page, marked with the product), as in the matrix.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rdflib import Graph, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from ..namespaces import TKG, local_name
from .common import PREFIXES, NotFound, Vocabulary, entity_iri, int_or_none, is_ours, min_level, value, vocabulary

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

_DESCRIBE = "SELECT ?e ?p ?o WHERE { ?e ?p ?o }"
_SUBCLASSES = PREFIXES + "SELECT ?e ?sub WHERE { ?sub rdfs:subClassOf ?e }"
_ANCESTRY = PREFIXES + "SELECT ?e ?mid ?sup WHERE { ?e rdfs:subClassOf* ?mid . ?mid rdfs:subClassOf ?sup }"
_FINDINGS = (
    PREFIXES
    + """SELECT ?e ?finding ?dir ?subject ?relation ?object ?support ?study ?title ?level ?year ?quote WHERE {
  { ?subject rdfs:subClassOf* ?e . ?finding tkg:subject ?subject . BIND("out" AS ?dir) }
  UNION
  { ?object rdfs:subClassOf* ?e . ?finding tkg:object ?object . BIND("in" AS ?dir) }
  ?finding a tkg:Finding ; tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object ;
           tkg:support ?support ; prov:wasDerivedFrom ?study .
  OPTIONAL { ?finding tkg:evidenceQuote ?quote }
  OPTIONAL { ?study dcterms:title ?title }
  OPTIONAL { ?study tkg:evidenceLevel ?level }
  OPTIONAL { ?study tkg:publicationYear ?year }
}"""
)
_RDF = (
    PREFIXES
    + """CONSTRUCT { ?e ?p ?o . ?s ?q ?e . } WHERE {
  { ?e ?p ?o } UNION { ?s ?q ?e . FILTER(isIRI(?s) && ?q != rdfs:subClassOf && ?q != tkg:subject && ?q != tkg:object
        && ?q != tkg:tumorContext && ?q != tkg:mentions && ?q != tkg:mapsToToxicity) }
}"""
)

#: Annotation properties shown as "facts" on a page, in this order.
FACTS: tuple[tuple[URIRef, str], ...] = (
    (TKG.brandName, "Brand name"),
    (TKG.approvalStatus, "Approval status"),
    (TKG.firstApprovalYear, "First approval (US FDA)"),
    (TKG.firstIndication, "First indication"),
    (TKG.targetAntigen, "Target antigen"),
    (TKG.mechanisticAttribute, "Mechanistic attributes"),
    (TKG.hasComponent, "Components"),
)

#: Where an external IRI of a mapping points, by its prefix.
MAPPING_SOURCES = {
    "http://purl.obolibrary.org/obo/NCIT_": "NCIt",
    "http://purl.obolibrary.org/obo/MONDO_": "MONDO",
    "http://purl.obolibrary.org/obo/": "OBO",
    "http://www.wikidata.org/entity/": "Wikidata",
}


def _mapping(iri: str, kind: str) -> dict[str, str]:
    source = next((name for prefix, name in MAPPING_SOURCES.items() if iri.startswith(prefix)), "external")
    return {"iri": iri, "curie": f"{source}:{iri.rsplit('/', 1)[-1].rsplit('_', 1)[-1]}", "source": source, "kind": kind}


def entity_exists(kg: KnowledgeGraph, entity_id: str) -> URIRef:
    iri = entity_iri(entity_id)
    rows = kg.query(PREFIXES + "SELECT ?e ?label WHERE { ?e rdfs:label ?label } LIMIT 1", bindings={"e": iri}).rows
    if not rows:
        raise NotFound(f"no entity with id {entity_id!r}", expected="an id from the search, e.g. CART or TumorMicroenvironmentBarrier")
    return iri


def entity_page(kg: KnowledgeGraph, entity_id: str) -> dict[str, Any]:
    iri = entity_exists(kg, entity_id)
    vocab = vocabulary(kg)
    props: dict[str, list[Any]] = defaultdict(list)
    for row in kg.query(_DESCRIBE, bindings={"e": iri}).rows:
        if row["o"] not in props[str(row["p"])]:
            props[str(row["p"])].append(row["o"])

    def texts(prop: URIRef) -> list[str]:
        return sorted({str(o) for o in props.get(str(prop), [])}, key=str.lower)

    definitions = texts(SKOS.definition) or texts(RDFS.comment)
    mappings = [_mapping(str(o), "exact") for o in props.get(str(SKOS.exactMatch), [])]
    mappings += [_mapping(str(o), "close") for o in props.get(str(SKOS.closeMatch), [])]
    facts = []
    for prop, label in FACTS:
        objects = props.get(str(prop), [])
        if objects:
            facts.append(
                {
                    "property": local_name(str(prop)),
                    "label": label,
                    "values": [vocab.ref(o) if isinstance(o, URIRef) else {"value": value(o)} for o in objects],
                }
            )
    types = [vocab.ref(t) for t in props.get(str(RDF.type), []) if isinstance(t, URIRef) and t != OWL.Class and is_ours(str(t))]
    # hierarchy: the chain(s) of direct superclasses up to the top
    parents: dict[str, set[str]] = defaultdict(set)
    for row in kg.query(_ANCESTRY, bindings={"e": iri}).rows:
        if is_ours(str(row["sup"])):
            parents[str(row["mid"])].add(str(row["sup"]))
    lineage: list[dict[str, Any]] = []
    node, seen = str(iri), {str(iri)}
    while parents.get(node):
        node = sorted(parents[node])[0]
        if node in seen:
            break
        seen.add(node)
        lineage.append(vocab.ref(node))  # type: ignore[arg-type]
    lineage.reverse()
    subclasses = sorted(
        (vocab.ref(r["sub"]) for r in kg.query(_SUBCLASSES, bindings={"e": iri}).rows if r["sub"] != iri),
        key=lambda ref: ref["label"].lower(),  # type: ignore[index]
    )
    relations, studies = _relations(kg, iri, vocab)
    return {
        **(vocab.ref(iri) or {}),
        "definition": definitions[0] if definitions else None,
        "synonyms": [s for s in texts(SKOS.altLabel) if s != vocab.label(iri)],
        "mappings": mappings,
        "types": types,
        "is_modality": any(value(o) is True for o in props.get(str(TKG.isModality), [])),
        "is_barrier_category": any(value(o) is True for o in props.get(str(TKG.isBarrierCategory), [])),
        "facts": facts,
        "superclasses": [vocab.ref(p) for p in sorted(parents.get(str(iri), ()))],
        "lineage": lineage,
        "subclasses": subclasses,
        "relations": relations,
        "studies": studies,
    }


def _relations(kg: KnowledgeGraph, iri: URIRef, vocab: Vocabulary) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Findings about the entity grouped by (direction, relation), then by the other end."""
    groups: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    studies: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    for row in kg.query(_FINDINGS, bindings={"e": iri}).rows:
        direction = str(row["dir"])
        if (str(row["finding"]), direction) in seen:
            continue
        seen.add((str(row["finding"]), direction))
        relation = str(row["relation"])
        other = row["object"] if direction == "out" else row["subject"]
        via = row["subject"] if direction == "out" else row["object"]
        study = str(row["study"])
        level = int_or_none(row.get("level"))
        entry = groups[(direction, relation)].setdefault(
            str(other), {"entity": vocab.ref(other), "studies": set(), "refuting": set(), "levels": [], "via": set(), "quote": None}
        )
        if value(row["support"]) == "SUPPORT":
            entry["studies"].add(study)
            entry["levels"].append(level)
            entry["quote"] = entry["quote"] or value(row.get("quote"))
        else:
            entry["refuting"].add(study)
        if via != iri:
            entry["via"].add(str(via))
        studies.setdefault(
            study,
            {
                "id": local_name(study),
                "iri": study,
                "title": value(row.get("title")) or local_name(study),
                "level": level,
                "year": int_or_none(row.get("year")),
                "findings": 0,
            },
        )
        studies[study]["findings"] += 1
    relations = []
    for (direction, relation), others in groups.items():
        items = [
            {
                "entity": e["entity"],
                "studies": len(e["studies"]),
                "refuting_studies": len(e["refuting"]),
                "best_level": min_level(e["levels"]),
                "via": sorted((vocab.ref(v) for v in e["via"]), key=lambda r: r["label"]),  # type: ignore[index]
                "example_quote": e["quote"],
            }
            for e in others.values()
        ]
        items.sort(key=lambda i: (-i["studies"], i["entity"]["label"].lower()))
        relations.append(
            {
                "relation": local_name(relation),
                "label": vocab.label(relation),
                "direction": direction,
                "items": items,
                "studies": len({s for e in others.values() for s in e["studies"]}),
            }
        )
    relations.sort(key=lambda r: (r["direction"] != "out", -r["studies"], r["label"]))
    ordered = sorted(studies.values(), key=lambda s: (s["level"] if s["level"] is not None else 99, -(s["year"] or 0), s["title"].lower()))
    return relations, ordered


def entity_rdf(kg: KnowledgeGraph, entity_id: str) -> Graph:
    """The entity's own triples (ontology) and the convenience edges that point at it."""
    iri = entity_exists(kg, entity_id)
    result = kg.query(_RDF, bindings={"e": iri})
    graph = result.to_graph()
    for prefix, ns in (("tkg", str(TKG)), ("skos", str(SKOS)), ("owl", str(OWL))):
        graph.bind(prefix, ns)
    return graph
