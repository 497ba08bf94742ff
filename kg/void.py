"""The one VoID + DCAT description of the dataset, for a release folder
(``tkg release``: dumps named relative to the folder) and for the web app
(``/void``: dumps and endpoint under the app's base URL).

The counts are those of the union of all graphs, as the Turtle, N-Triples and
RDF/XML dumps hold it (distinct triples); the N-Quads/TriG dumps hold one
named graph per study, so they may repeat a triple (the ontology's labels
in every study that cites an entity, for example).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD

from .namespaces import BASE

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

VOID = Namespace("http://rdfs.org/ns/void#")
DATASET_IRI = URIRef(BASE + "dataset")
TITLE = "tcell-kg: T cell-based cancer therapies, barriers, toxicities and strategies"
DESCRIPTION = (
    "T cell therapies (CAR-T, TIL, T cell engagers, TCR-T), tumor types, barriers, toxicities and strategies; "
    "every link traced to its evidence sentence and study."
)
LICENSE = URIRef("https://opensource.org/licenses/MIT")
#: dcat:version is DCAT 3; rdflib's closed DCAT namespace is DCAT 2.
DCAT_VERSION = URIRef(str(DCAT) + "version")

#: VoID property -> the query that counts it over the union of all graphs.
COUNT_QUERIES: dict[str, str] = {
    "triples": "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }",
    "entities": "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o FILTER(isIRI(?s)) }",
    "classes": "SELECT (COUNT(DISTINCT ?c) AS ?n) WHERE { ?x a ?c }",
    "properties": "SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE { ?s ?p ?o }",
    "distinctSubjects": "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s ?p ?o }",
    "distinctObjects": "SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE { ?s ?p ?o }",
}
SOURCES_QUERY = "PREFIX tkg: <https://w3id.org/tcell-kg/> SELECT DISTINCT ?s WHERE { ?s a tkg:Study } ORDER BY ?s"


@dataclass(frozen=True)
class Dump:
    """A distribution of the dataset: where it is, its export format, media type and size (None if unknown)."""

    url: str
    format: str
    media_type: str
    size: int | None = None


def counts(kg: KnowledgeGraph) -> dict[str, int]:
    return {key: int(kg.query(query).rows[0]["n"].toPython()) for key, query in COUNT_QUERIES.items()}


def sources(kg: KnowledgeGraph) -> list[str]:
    """IRIs of the studies the graph was built from."""
    return [str(row["s"]) for row in kg.query(SOURCES_QUERY).rows]


def describe(
    counted: dict[str, int],
    dumps: Iterable[Dump],
    *,
    endpoint: str | None,
    version: str,
    release: str | None = None,
    issued: str | None = None,
    modified: str | None = None,
    study_sources: Iterable[str] = (),
) -> Graph:
    """The VoID/DCAT graph. ``issued`` is a date, ``modified`` a date-time (both optional)."""
    graph = Graph()
    for prefix, namespace in (("void", VOID), ("dcat", DCAT), ("dcterms", DCTERMS), ("owl", OWL), ("xsd", XSD)):
        graph.bind(prefix, namespace)
    ds = DATASET_IRI
    graph.add((ds, RDF.type, VOID.Dataset))
    graph.add((ds, RDF.type, DCAT.Dataset))
    graph.add((ds, DCTERMS.title, Literal(TITLE, lang="en")))
    graph.add((ds, DCTERMS.description, Literal(DESCRIPTION, lang="en")))
    graph.add((ds, DCTERMS.license, LICENSE))
    graph.add((ds, OWL.versionInfo, Literal(version)))
    if release:
        graph.add((ds, DCAT_VERSION, Literal(release)))
    if issued:
        graph.add((ds, DCTERMS.issued, Literal(issued, datatype=XSD.date)))
    if modified:
        graph.add((ds, DCTERMS.modified, Literal(modified, datatype=XSD.dateTime)))
    graph.add((ds, VOID.uriSpace, Literal(BASE)))
    if endpoint:
        graph.add((ds, VOID.sparqlEndpoint, URIRef(endpoint)))
    for vocabulary in (URIRef(BASE), URIRef(str(PROV)), URIRef(str(SKOS))):
        graph.add((ds, VOID.vocabulary, vocabulary))
    graph.add((ds, VOID.rootResource, URIRef(BASE + "Therapy")))
    for key in COUNT_QUERIES:
        if key in counted:
            graph.add((ds, VOID[key], Literal(counted[key], datatype=XSD.integer)))
    if "sources" in counted:
        graph.add((ds, RDFS.comment, Literal(f"{counted['sources']} source studies, one named graph each", lang="en")))
    for study in study_sources:
        graph.add((ds, DCTERMS.source, URIRef(study)))
    for dump in dumps:
        url = URIRef(dump.url)
        distribution = URIRef(f"{dump.url}#distribution")
        graph.add((ds, VOID.dataDump, url))
        graph.add((ds, DCAT.distribution, distribution))
        graph.add((distribution, RDF.type, DCAT.Distribution))
        graph.add((distribution, DCAT.downloadURL, url))
        graph.add((distribution, DCAT.mediaType, Literal(dump.media_type.split(";")[0])))
        graph.add((distribution, DCTERMS.format, Literal(dump.format)))
        if dump.size is not None:
            graph.add((distribution, DCAT.byteSize, Literal(dump.size, datatype=XSD.integer)))
    return graph
