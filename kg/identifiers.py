"""Coverage of the standard identifiers (``ontology/mappings.sssom.tsv``) by
category: how many tumor types, antigens, products ... carry a MONDO, NCIt,
HGNC or UniProtKB id. ``tkg stats`` and the release QC report print it, and
docs/identifier-coverage.md lists the entities left unmapped with the sources
searched (a test keeps that list equal to :func:`coverage`'s).

Works on an ontology graph (rdflib): the shipped one or a store's ontology graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdflib import Graph, URIRef
from rdflib.namespace import SKOS

from .namespaces import BASE, TKG
from .ontology import MAPPING_PREDICATES, Ontology

#: (row name, how its members are chosen). Category roots (tkg:TumorType ...) are not entities to map.
COVERAGE_CATEGORIES = ("tumor types", "antigens", "products", "modalities", "toxicities", "barriers", "strategies")
_BY_CATEGORY = {
    "tumor types": "TumorType",
    "antigens": "Antigen",
    "toxicities": "Toxicity",
    "barriers": "Barrier",
    "strategies": "Strategy",
}


@dataclass(frozen=True)
class Coverage:
    category: str
    total: int
    mapped: tuple[str, ...]  # local names with at least one mapping
    exact: tuple[str, ...]  # local names with at least one skos:exactMatch
    unmapped: tuple[str, ...]

    def line(self) -> str:
        pct = 100 * len(self.mapped) / self.total if self.total else 0.0
        return f"{self.category:12s} {len(self.mapped):3d}/{self.total:<3d} mapped ({pct:3.0f}%), {len(self.exact)} by exactMatch"


def members(ontology: Ontology, category: str) -> list[str]:
    graph = ontology.graph
    if category == "products":
        return sorted(str(s)[len(BASE) :] for s in set(graph.subjects(TKG.approvalStatus, None)) if str(s).startswith(BASE))
    if category == "modalities":
        return ontology.modalities()
    root = _BY_CATEGORY[category]
    return sorted(e.name for e in ontology.entities.values() if e.category == root and e.name != root)


def coverage(graph: Graph) -> list[Coverage]:
    """Identifier coverage of an ontology graph, one row per category of :data:`COVERAGE_CATEGORIES`."""
    ontology = Ontology(graph)
    rows = []
    for category in COVERAGE_CATEGORIES:
        names = members(ontology, category)
        mapped, exact = [], []
        for name in names:
            subject = URIRef(BASE + name)
            objects = [o for p in MAPPING_PREDICATES.values() for o in graph.objects(subject, p) if isinstance(o, URIRef)]
            if objects:
                mapped.append(name)
            if any(isinstance(o, URIRef) for o in graph.objects(subject, SKOS.exactMatch)):
                exact.append(name)
        rows.append(Coverage(category, len(names), tuple(mapped), tuple(exact), tuple(n for n in names if n not in mapped)))
    return rows


def coverage_lines(graph: Graph) -> list[str]:
    return [row.line() for row in coverage(graph)]
