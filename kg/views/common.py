"""Shared pieces of the page views: ids, labels, categories, term values.

Every query here takes user values only through ``bindings`` (never pasted
into the query text; the entity page writes IRIs it read from the store into a
``VALUES`` list, serialized by rdflib, see kg/views/entity.py); ids are checked against :data:`ID_RE` first so that a
bad id is a clean :class:`NotFound`, not a query error.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rdflib import Literal, URIRef
from rdflib.term import Node

from ..artifacts import memo
from ..errors import TkgError
from ..namespaces import BASE, ONTOLOGY_GRAPH, SPARQL_PREFIXES, STUDY, TKG, local_name

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph


#: The last path segment of an entity or study IRI.
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")

#: Top-level categories of domain entities, in display order.
TOP_CATEGORIES: tuple[str, ...] = ("Therapy", "TumorType", "Barrier", "Toxicity", "Strategy", "Antigen", "MechanisticAttribute")
CATEGORY_LABELS = {
    "Therapy": "therapy",
    "TumorType": "tumor type",
    "Barrier": "barrier",
    "Toxicity": "toxicity",
    "Strategy": "strategy",
    "Antigen": "antigen",
    "MechanisticAttribute": "mechanistic attribute",
    "Study": "study",
    "Relation": "relation",
    "Other": "other",
}


class NotFound(TkgError):
    """An entity, study or cell that the graph does not have (HTTP 404)."""


class BadParameter(TkgError):
    """A parameter with a value the view cannot use (HTTP 400)."""


def check_id(value: str, what: str = "entity") -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise NotFound(f"no {what} with id {value[:80]!r}", expected="the last path segment of an IRI, e.g. CART")
    return value


def entity_iri(entity_id: str) -> URIRef:
    return TKG[check_id(entity_id)]


def study_ref(study_id: str) -> URIRef:
    return STUDY[check_id(study_id, "study")]


def value(term: Node | None) -> Any:
    """A plain Python value of an rdflib term (IRIs as strings)."""
    if term is None:
        return None
    if isinstance(term, Literal):
        py = term.toPython()
        return py if isinstance(py, (int, float, bool, str)) else str(term)
    return str(term)


def int_or_none(term: Node | None) -> int | None:
    if term is None:
        return None
    try:
        return int(str(term))
    except ValueError:
        return None


def local(term: Node | str | None) -> str | None:
    return local_name(str(term)) if term is not None else None


def is_ours(iri: str) -> bool:
    return iri.startswith(BASE)


class Vocabulary:
    """Labels and top-level categories of the ontology's terms, read once
    per view call (a few hundred rows)."""

    def __init__(self, kg: KnowledgeGraph):
        self.labels: dict[str, str] = {}
        self.categories: dict[str, str] = {}
        self.modality_of: dict[str, str] = {}
        self.tumor_kind: dict[str, str] = {}
        rows = kg.query(
            SPARQL_PREFIXES + "SELECT ?g ?x ?label WHERE { GRAPH ?g { ?x rdfs:label ?label } }",
            bindings={"g": ONTOLOGY_GRAPH},
        ).rows
        for row in rows:
            iri = str(row["x"])
            label = str(row["label"])
            if iri not in self.labels or (isinstance(row["label"], Literal) and row["label"].language == "en"):
                self.labels[iri] = label
        tops = " ".join(f"tkg:{t}" for t in TOP_CATEGORIES)
        for row in kg.query(
            SPARQL_PREFIXES
            + f"""SELECT ?x ?top WHERE {{
              {{ VALUES ?top {{ {tops} }} ?x rdfs:subClassOf* ?top }}
              UNION {{ ?x a tkg:MechanisticAttribute . BIND(tkg:MechanisticAttribute AS ?top) }}
            }}"""
        ).rows:
            self.categories.setdefault(str(row["x"]), local_name(str(row["top"])))
        for row in kg.query(SPARQL_PREFIXES + "SELECT ?x ?m WHERE { ?m tkg:isModality true . ?x rdfs:subClassOf* ?m }").rows:
            self.modality_of[str(row["x"])] = str(row["m"])
        for row in kg.query(
            SPARQL_PREFIXES
            + """SELECT ?x ?kind WHERE { VALUES ?kind { tkg:HematologicMalignancy tkg:SolidTumor } ?x rdfs:subClassOf* ?kind }"""
        ).rows:
            self.tumor_kind[str(row["x"])] = "heme" if str(row["kind"]).endswith("HematologicMalignancy") else "solid"

    def label(self, iri: Node | str | None) -> str:
        if iri is None:
            return ""
        text = str(iri)
        return self.labels.get(text) or local_name(text)

    def category(self, iri: Node | str | None) -> str:
        if iri is None:
            return "Other"
        text = str(iri)
        if text.startswith(str(STUDY)):
            return "Study"
        return self.categories.get(text, "Other")

    def ref(self, iri: Node | str | None) -> dict[str, Any] | None:
        """``{"id", "iri", "label", "category"}`` for a term (``id`` is None outside our base)."""
        if iri is None:
            return None
        text = str(iri)
        return {
            "id": local_name(text) if is_ours(text) else None,
            "iri": text,
            "label": self.label(text),
            "category": self.category(text),
        }


def vocabulary(kg: KnowledgeGraph) -> Vocabulary:
    """The :class:`Vocabulary` of the release ``kg`` serves, read once per release."""
    return memo(kg, ("vocabulary",), lambda: Vocabulary(kg))


def min_level(levels: list[int | None]) -> int | None:
    known = [lv for lv in levels if lv is not None]
    return min(known) if known else None
