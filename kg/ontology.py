"""The ontology as data: loading the Turtle sources, an index of classes with
their labels, synonyms and ancestors, and resolution of names to classes.

The lexicon for entity recognition and the record validator are both built
from this index, so adding a synonym to ``ontology/`` is how recognition
improves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from .errors import StoreError
from .namespaces import BASE, TKG

#: The directory holding the ontology shipped with the project.
ONTOLOGY_DIR = Path(__file__).resolve().parent.parent / "ontology"
SHAPES_FILE = "shapes.ttl"

#: Top-level categories of domain entities, in the order pages show them.
CATEGORIES = ("Therapy", "TumorType", "Barrier", "Toxicity", "Strategy", "Antigen", "MechanisticAttribute")


def ontology_files(directory: Path = ONTOLOGY_DIR) -> list[Path]:
    """The Turtle files that make up the ontology (the SHACL shapes excluded)."""
    if not directory.is_dir():
        raise StoreError("ontology directory not found", where=str(directory))
    return sorted(p for p in directory.glob("*.ttl") if p.name != SHAPES_FILE)


def load_ontology_graph(directory: Path = ONTOLOGY_DIR) -> Graph:
    graph = Graph()
    for path in ontology_files(directory):
        graph.parse(path, format="turtle")
    return graph


def load_shapes(directory: Path = ONTOLOGY_DIR) -> Graph:
    return Graph().parse(directory / SHAPES_FILE, format="turtle")


@dataclass(frozen=True)
class Entity:
    iri: str
    name: str  # local name
    label: str
    kind: str  # "class" or "individual"
    category: str | None  # one of CATEGORIES, or None for schema classes
    synonyms: tuple[str, ...]
    definition: str | None


class Ontology:
    """An index over the ontology graph (rdflib), built once per process."""

    def __init__(self, graph: Graph):
        self.graph = graph

    @classmethod
    def load(cls, directory: Path = ONTOLOGY_DIR) -> Ontology:
        return cls(load_ontology_graph(directory))

    # -- hierarchy ----------------------------------------------------------
    @cached_property
    def _parents(self) -> dict[str, set[str]]:
        parents: dict[str, set[str]] = {}
        for child, parent in self.graph.subject_objects(RDFS.subClassOf):
            if isinstance(child, URIRef) and isinstance(parent, URIRef):
                parents.setdefault(str(child), set()).add(str(parent))
        return parents

    def ancestors(self, iri: str) -> set[str]:
        """All superclasses of a class (transitively), the class included."""
        seen = {iri}
        todo = [iri]
        while todo:
            for parent in self._parents.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    def is_a(self, name: str, category: str) -> bool:
        """True if the class (or individual) ``name`` falls under ``category``."""
        iri = str(TKG[name])
        if iri in self._individual_types:
            return any(str(TKG[category]) in self.ancestors(t) for t in self._individual_types[iri])
        return str(TKG[category]) in self.ancestors(iri)

    @cached_property
    def _individual_types(self) -> dict[str, list[str]]:
        types: dict[str, list[str]] = {}
        for ind in self.graph.subjects(RDF.type, OWL.NamedIndividual):
            types[str(ind)] = [str(t) for t in self.graph.objects(ind, RDF.type) if t != OWL.NamedIndividual]
        return types

    # -- entities -----------------------------------------------------------
    @cached_property
    def entities(self) -> dict[str, Entity]:
        """Domain entities (classes and individuals under one of CATEGORIES), by local name."""
        out: dict[str, Entity] = {}
        candidates = [(s, "class") for s in self.graph.subjects(RDF.type, OWL.Class)]
        candidates += [(s, "individual") for s in self.graph.subjects(RDF.type, OWL.NamedIndividual)]
        for subject, kind in candidates:
            iri = str(subject)
            if not iri.startswith(BASE):
                continue
            name = iri[len(BASE):]
            category = next((c for c in CATEGORIES if self.is_a(name, c)), None)
            label = self._literal(subject, RDFS.label) or name
            synonyms = tuple(sorted(str(o) for o in self.graph.objects(subject, SKOS.altLabel)))
            out[name] = Entity(iri, name, label, kind, category, synonyms, self._literal(subject, SKOS.definition))
        return out

    def _literal(self, subject: URIRef, predicate: URIRef) -> str | None:
        for obj in self.graph.objects(subject, predicate):
            if isinstance(obj, Literal):
                return str(obj)
        return None

    @cached_property
    def relations(self) -> set[str]:
        rel = TKG["relatesTo"]
        return {str(s)[len(BASE):] for s in self.graph.subjects(RDFS.subPropertyOf, rel)}

    @cached_property
    def _names_by_term(self) -> dict[str, set[str]]:
        index: dict[str, set[str]] = {}
        for entity in self.entities.values():
            for term in (entity.name, entity.label, *entity.synonyms):
                index.setdefault(term.casefold(), set()).add(entity.name)
        return index

    def resolve(self, term: str) -> set[str]:
        """Local names of the entities whose name, label or synonym is ``term``."""
        return set(self._names_by_term.get(term.casefold(), ()))

    def terms(self) -> Iterable[tuple[str, str]]:
        """(surface form, entity local name) pairs for building a lexicon."""
        for entity in self.entities.values():
            for term in (entity.label, *entity.synonyms):
                yield term, entity.name

    def modalities(self) -> list[str]:
        return sorted(str(s)[len(BASE):] for s in self.graph.subjects(TKG["isModality"], Literal(True)))

    def barrier_categories(self) -> list[str]:
        return sorted(str(s)[len(BASE):] for s in self.graph.subjects(TKG["isBarrierCategory"], Literal(True)))


_DEFAULT: Ontology | None = None


def default_ontology() -> Ontology:
    """The shipped ontology, loaded once (read-only; tests build their own)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Ontology.load()
    return _DEFAULT
