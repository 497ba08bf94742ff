"""Coverage of the standard identifiers (``ontology/mappings.sssom.tsv``) by
category: how many tumor types, antigens, products ... carry a MONDO, NCIt,
HGNC or UniProtKB id. ``tkg stats`` and the release QC report print it, and
docs/identifier-coverage.md lists the entities left unmapped with the sources
searched (a test keeps that list equal to :func:`coverage`'s).

Works on an ontology graph (rdflib): the shipped one or a store's ontology graph.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from rdflib import Graph, URIRef
from rdflib.namespace import SKOS

from .namespaces import BASE, TKG
from .ontology import MAPPING_COLUMNS, MAPPING_JUSTIFICATION, MAPPING_PREDICATES, ONTOLOGY_DIR, Ontology, load_mappings

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

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


def store_coverage(kg: KnowledgeGraph) -> list[Coverage]:
    """Coverage of the ontology graph a built store holds (what its exports carry)."""
    from .namespaces import ONTOLOGY_GRAPH

    graph = kg.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{ONTOLOGY_GRAPH}> {{ ?s ?p ?o }} }}").to_graph()
    return coverage(graph)


def write_sssom(kg: KnowledgeGraph, path: Path) -> None:
    """``tkg export --format sssom``: the mapping set of ``ontology/mappings.sssom.tsv``
    (validated on reading), restricted to the mappings the store's ontology graph
    holds, with ``mapping_set_version`` set to the package version."""
    from .config import version
    from .namespaces import ONTOLOGY_GRAPH

    mapping_set = load_mappings(ONTOLOGY_DIR)
    predicates = " ".join(f"<{p}>" for p in MAPPING_PREDICATES.values())
    query = f"SELECT ?s ?o WHERE {{ GRAPH <{ONTOLOGY_GRAPH}> {{ ?s ?p ?o VALUES ?p {{ {predicates} }} }} }}"
    held = {(str(row["s"]), str(row["o"])) for row in kg.query(query).rows}
    metadata = {**mapping_set.metadata, "mapping_set_version": version()}
    header = "".join("#" + line + "\n" for line in yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000).splitlines())
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header)
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
        writer.writerow(MAPPING_COLUMNS)
        for m in mapping_set.mappings:
            if (BASE + m.subject, m.object_iri) not in held:
                continue
            row = [f"tkg:{m.subject}", m.subject_label, f"skos:{m.predicate}", m.object_id, m.object_label]
            writer.writerow([*row, MAPPING_JUSTIFICATION, m.author_id, m.mapping_date, m.comment])
