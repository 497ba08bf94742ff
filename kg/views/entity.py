"""An entity's page: label, definition, synonyms, mappings, hierarchy,
relations grouped by type with the number of supporting studies, the studies.

Findings about narrower classes count for the entity (a CAR-T product's
findings show on the CAR-T page, marked with the product), as in the matrix.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rdflib import Graph, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from ..namespaces import SPARQL_PREFIXES, TKG, local_name
from ..ontology import MappingSet, load_mappings
from .common import NotFound, Vocabulary, entity_iri, int_or_none, is_ours, value, vocabulary
from .relations import ItemRow, StudyRow, assemble
from .summaries import stored_relations

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

_DESCRIBE = "SELECT ?e ?p ?o WHERE { ?e ?p ?o }"
_SUBCLASSES = SPARQL_PREFIXES + "SELECT ?e ?sub WHERE { ?sub rdfs:subClassOf ?e }"
_ANCESTRY = SPARQL_PREFIXES + "SELECT ?e ?mid ?sup WHERE { ?e rdfs:subClassOf* ?mid . ?mid rdfs:subClassOf ?sup }"
#: The entity and every narrower class: their findings count for the entity.
_NARROWER = SPARQL_PREFIXES + "SELECT ?e ?via WHERE { ?via rdfs:subClassOf* ?e }"
#: The findings about the entity or a narrower class, once per direction they
#: match: ?via is the end that is the entity (or narrower), ?other the opposite
#: end. The classes are listed in VALUES (see :func:`_narrower`), not matched with a
#: subClassOf* path or a binding: Oxigraph then starts from these few classes
#: and looks their findings up by index, so a query costs the entity's findings,
#: not the corpus (with a path it scanned every finding, even for an entity
#: without any). VALUES comes last for rdflib (memory: stores), which then
#: still looks up each finding's properties instead of joining whole tables.
_ABOUT = """
  { ?finding tkg:subject ?via . BIND("out" AS ?dir) BIND(tkg:object AS ?end) }
  UNION
  { ?finding tkg:object ?via . BIND("in" AS ?dir) BIND(tkg:subject AS ?end) }
  ?finding a tkg:Finding ; ?end ?other ; tkg:relation ?relation ; tkg:support ?support ; prov:wasDerivedFrom ?study .
  VALUES ?via { @NARROWER@ }
"""
#: No evidence level (levels are 1 to 5): in Oxigraph, MIN over a group with an unbound value is unbound.
_NO_LEVEL = 1000
#: Per (direction, relation, other end) and side (supporting or not): distinct
#: studies, the best level of those studies, one non-empty quote (the least in
#: code point order, so that the stored summaries of kg/views/summaries.py give
#: the same one) and the narrower classes it goes through (IRIs never hold spaces).
_ITEMS = (
    SPARQL_PREFIXES
    + f"""SELECT ?dir ?relation ?other ?side (COUNT(DISTINCT ?study) AS ?studies) (MIN(COALESCE(?level, {_NO_LEVEL})) AS ?best)
       (MIN(?quote) AS ?example) (GROUP_CONCAT(DISTINCT STR(?via); separator=" ") AS ?vias)
WHERE {{{_ABOUT}  BIND(IF(STR(?support) = "SUPPORT", "support", "other") AS ?side)
  OPTIONAL {{ ?study tkg:evidenceLevel ?level }}
  OPTIONAL {{ ?finding tkg:evidenceQuote ?quote FILTER(STR(?quote) != "") }}
}} GROUP BY ?dir ?relation ?other ?side"""
)
#: Per study and direction: its findings, the relations it supports (to count
#: a relation's distinct supporting studies), its title, level and year.
_STUDIES = (
    SPARQL_PREFIXES
    + f"""SELECT ?study ?dir ?findings ?supported ?title ?level ?year WHERE {{
  {{ SELECT ?study ?dir (COUNT(DISTINCT ?finding) AS ?findings) (GROUP_CONCAT(DISTINCT ?supports; separator=" ") AS ?supported)
    WHERE {{{_ABOUT}    BIND(IF(STR(?support) = "SUPPORT", STR(?relation), "") AS ?supports)
    }} GROUP BY ?study ?dir }}
  OPTIONAL {{ ?study dcterms:title ?title }}
  OPTIONAL {{ ?study tkg:evidenceLevel ?level }}
  OPTIONAL {{ ?study tkg:publicationYear ?year }}
}}"""
)
_RDF = (
    SPARQL_PREFIXES
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


@functools.lru_cache(maxsize=1)
def _mapping_set() -> MappingSet:
    return load_mappings()


def _mapping(iri: str, kind: str) -> dict[str, str | None]:
    """A standard identifier of the page's entity: its CURIE (by the curie_map of
    ontology/mappings.sssom.tsv), the resource's label, and the IRI as the link
    (OBO PURLs, identifiers.org and purl.uniprot.org resolve to the resource's page)."""
    mapping_set = _mapping_set()
    curie = mapping_set.compact(iri)
    label = next((m.object_label for m in mapping_set.mappings if m.object_iri == iri and m.object_label), None)
    return {"iri": iri, "curie": curie or iri, "source": curie.split(":", 1)[0] if curie else "external", "kind": kind, "label": label}


def entity_exists(kg: KnowledgeGraph, entity_id: str) -> URIRef:
    iri = entity_iri(entity_id)
    rows = kg.query(SPARQL_PREFIXES + "SELECT ?e ?label WHERE { ?e rdfs:label ?label } LIMIT 1", bindings={"e": iri}).rows
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
    mappings = [_mapping(str(o), "exact") for o in sorted(props.get(str(SKOS.exactMatch), []))]
    mappings += [_mapping(str(o), "close") for o in sorted(props.get(str(SKOS.closeMatch), []))]
    mappings += [_mapping(str(o), "broad") for o in sorted(props.get(str(SKOS.broadMatch), []))]
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
    stored = stored_relations(kg, entity_id)  # kept at publish (kg.views.summaries)
    relations, studies = stored if stored is not None else _relations(kg, iri, vocab)
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


def _narrower(kg: KnowledgeGraph, iri: URIRef) -> str:
    """The entity and its narrower classes, as the terms of :data:`_ABOUT`'s
    VALUES: IRIs read from the store and written by rdflib, which refuses any
    character that could end an IRI (no user text reaches the query)."""
    narrower = [r["via"] for r in kg.query(_NARROWER, bindings={"e": iri}).rows if isinstance(r.get("via"), URIRef)]
    return " ".join(dict.fromkeys(v.n3() for v in [iri, *narrower]))


def _relations(kg: KnowledgeGraph, iri: URIRef, vocab: Vocabulary) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Findings about the entity grouped by (direction, relation), then by the
    other end, counted by the store: one row per group and per study, whatever
    the number of findings (see :func:`assemble` for what the result holds).
    The publish step of :mod:`kg.views.summaries` computes the same from its
    index and stores it per release; this is the fallback for stores without
    releases."""
    classes = _narrower(kg, iri)
    items = []
    for row in kg.query(_ITEMS.replace("@NARROWER@", classes)).rows:
        if "dir" not in row:  # rdflib answers an empty grouping with one row of unbound keys
            continue
        best = int_or_none(row.get("best"))
        items.append(
            ItemRow(
                str(row["dir"]),
                str(row["relation"]),
                str(row["other"]),
                str(row["side"]) == "support",
                _count(row["studies"]),
                best if best != _NO_LEVEL else None,
                value(row.get("example")),
                str(row.get("vias") or "").split(),
            )
        )
    studies = []
    for row in kg.query(_STUDIES.replace("@NARROWER@", classes)).rows:
        if "dir" not in row:  # (rdflib, as above)
            continue
        studies.append(
            StudyRow(
                str(row["study"]),
                str(row["dir"]),
                _count(row["findings"]),
                str(row.get("supported") or "").split(),
                value(row.get("title")),
                int_or_none(row.get("level")),
                int_or_none(row.get("year")),
            )
        )
    return assemble(str(iri), items, studies, vocab)


def _count(term: Any) -> int:
    return int(str(term))


def entity_rdf(kg: KnowledgeGraph, entity_id: str) -> Graph:
    """The entity's own triples (ontology) and the convenience edges that point at it."""
    iri = entity_exists(kg, entity_id)
    result = kg.query(_RDF, bindings={"e": iri})
    graph = result.to_graph()
    for prefix, ns in (("tkg", str(TKG)), ("skos", str(SKOS)), ("owl", str(OWL))):
        graph.bind(prefix, ns)
    return graph
