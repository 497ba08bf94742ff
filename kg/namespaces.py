"""IRIs of the graph: one base, entities and ontology terms directly under it,
studies, findings and named graphs in their own paths."""

from __future__ import annotations

import re

from rdflib import Namespace
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD

BASE = "https://w3id.org/tcell-kg/"
TKG = Namespace(BASE)
STUDY = Namespace(BASE + "study/")
FINDING = Namespace(BASE + "finding/")
GRAPH = Namespace(BASE + "graph/")
ONTOLOGY_GRAPH = GRAPH["ontology"]

PREFIXES: dict[str, str] = {
    "tkg": BASE,
    "study": str(STUDY),
    "finding": str(FINDING),
    "graph": str(GRAPH),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "owl": str(OWL),
    "xsd": str(XSD),
    "skos": str(SKOS),
    "dcterms": str(DCTERMS),
    "prov": str(PROV),
}

SPARQL_PREFIXES = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in PREFIXES.items())

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.match(value))


def slugify(text: str) -> str:
    """A lowercase ASCII slug suitable as the last path segment of a study IRI."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:120].rstrip("-") or "study"


def study_iri(study_id: str):
    return STUDY[study_id]


def study_graph(study_id: str):
    return GRAPH[study_id]


def local_name(iri: str) -> str:
    """The last path segment of an IRI (the id used in /entity/<id>)."""
    return iri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
