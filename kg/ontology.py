"""The ontology as data: loading the Turtle sources, an index of classes with
their labels, synonyms and ancestors, and resolution of names to classes.

The lexicon for entity recognition and the record validator are both built
from this index, so adding a synonym to ``ontology/`` is how recognition
improves.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

import yaml
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from .errors import StoreError, ValidationError
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
    """The ontology's Turtle files, plus the SKOS mappings of ``mappings.sssom.tsv`` when present."""
    graph = Graph()
    for path in ontology_files(directory):
        graph.parse(path, format="turtle")
    add_mapping_triples(graph, load_mappings(directory))
    return graph


# -- standard identifiers (SSSOM) --------------------------------------------------
#: The mappings of tkg entities to standard identifiers (MONDO, NCIt, HGNC, UniProtKB):
#: SSSOM TSV, its metadata a YAML block in ``#`` comment lines (https://mapping-commons.github.io/sssom/).
MAPPINGS_FILE = "mappings.sssom.tsv"
MAPPING_PREDICATES = {"skos:exactMatch": SKOS.exactMatch, "skos:closeMatch": SKOS.closeMatch, "skos:broadMatch": SKOS.broadMatch}
MAPPING_COLUMNS = (
    "subject_id",
    "subject_label",
    "predicate_id",
    "object_id",
    "object_label",
    "mapping_justification",
    "author_id",
    "mapping_date",
    "comment",
)
MAPPING_JUSTIFICATION = "semapv:ManualMappingCuration"
# A CURIE as SSSOM writes one: a prefix (letter first), a colon, a local id without blanks.
_CURIE = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*):(\S+)$")


@dataclass(frozen=True)
class Mapping:
    """One row of the mappings file: a tkg entity (local name) matched to a standard identifier."""

    subject: str
    predicate: str  # "exactMatch", "closeMatch" or "broadMatch"
    object_id: str  # CURIE, e.g. "MONDO:0006486"
    object_iri: str
    object_label: str
    comment: str
    line: int
    subject_label: str = ""
    author_id: str = ""
    mapping_date: str = ""

    @property
    def prefix(self) -> str:
        return self.object_id.split(":", 1)[0]


@dataclass(frozen=True)
class MappingSet:
    metadata: dict = field(default_factory=dict)
    mappings: tuple[Mapping, ...] = ()

    @property
    def curie_map(self) -> dict[str, str]:
        return dict(self.metadata.get("curie_map") or {})

    def for_subject(self, name: str) -> list[Mapping]:
        return [m for m in self.mappings if m.subject == name]

    def by_curie(self, curie: str) -> list[Mapping]:
        """Mappings whose object is ``curie`` (the prefix compared case-insensitively)."""
        match = _CURIE.match(curie.strip())
        if not match:
            return []
        prefix, local = match.group(1).casefold(), match.group(2)
        return [m for m in self.mappings if m.prefix.casefold() == prefix and m.object_id.split(":", 1)[1] == local]

    def compact(self, iri: str) -> str | None:
        """The CURIE of an IRI under the file's curie_map, or None."""
        for prefix, base in self.curie_map.items():
            if iri.startswith(base) and len(iri) > len(base):
                return f"{prefix}:{iri[len(base) :]}"
        return None


def read_mappings(path: Path) -> MappingSet:
    """Parse and check an SSSOM TSV file; bad input raises ValidationError naming the line.

    Hand-written rather than with the ``sssom`` package, which pulls in pandas and
    a network-fetched context: the file is one table with a YAML header.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot read the mappings file: {exc.strerror}", where=str(path)) from exc
    lines = text.splitlines()
    header = [line[1:] for line in lines if line.startswith("#")]
    body = [(n, line) for n, line in enumerate(lines, 1) if not line.startswith("#") and line.strip()]
    try:
        metadata = yaml.safe_load("\n".join(header)) or {}
    except yaml.YAMLError as exc:
        raise ValidationError(f"metadata block is not YAML: {exc}", where=str(path)) from exc
    if not isinstance(metadata, dict) or not isinstance(metadata.get("curie_map"), dict):
        raise ValidationError(
            "the metadata block has no curie_map", where=str(path), expected="'# curie_map:' with one '#   PREFIX: IRI' line per prefix"
        )
    curie_map = {str(k): str(v) for k, v in metadata["curie_map"].items()}
    if not body:
        raise ValidationError("no header row", where=str(path), expected="a tab-separated row of column names")
    columns = body[0][1].split("\t")
    missing = [c for c in MAPPING_COLUMNS if c not in columns]
    if missing:
        raise ValidationError(
            f"missing column(s) {', '.join(missing)}", where=f"{path}:{body[0][0]}", expected="SSSOM columns " + ", ".join(MAPPING_COLUMNS)
        )
    mappings = []
    for number, line in body[1:]:
        where = f"{path}:{number}"
        cells = next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
        if len(cells) != len(columns):
            raise ValidationError(f"{len(cells)} cells", where=where, expected=f"{len(columns)} tab-separated cells")
        row = dict(zip(columns, cells, strict=True))
        subject = row["subject_id"]
        if not subject.startswith("tkg:") or not subject[4:]:
            raise ValidationError(f"subject_id {subject!r} is not a tkg entity", where=where, expected="tkg:LocalName")
        if row["predicate_id"] not in MAPPING_PREDICATES:
            raise ValidationError(f"predicate_id {row['predicate_id']!r} not allowed", where=where, expected=" / ".join(MAPPING_PREDICATES))
        match = _CURIE.match(row["object_id"])
        if not match:
            raise ValidationError(f"object_id {row['object_id']!r} is not a CURIE", where=where, expected="PREFIX:local_id")
        for column in ("subject_id", "object_id", "mapping_justification", "author_id"):
            prefix = row[column].split(":", 1)[0]
            if prefix not in curie_map:
                raise ValidationError(
                    f"{column} prefix {prefix!r} is not in the curie_map", where=where, expected=", ".join(sorted(curie_map))
                )
        if row["mapping_justification"] != MAPPING_JUSTIFICATION:
            raise ValidationError(f"mapping_justification {row['mapping_justification']!r}", where=where, expected=MAPPING_JUSTIFICATION)
        try:
            date.fromisoformat(row["mapping_date"])
        except ValueError as exc:
            raise ValidationError(f"mapping_date {row['mapping_date']!r}", where=where, expected="YYYY-MM-DD") from exc
        if not row["comment"].strip():
            raise ValidationError("empty comment", where=where, expected="the source the identifier was read from")
        mappings.append(
            Mapping(
                subject=subject[4:],
                predicate=row["predicate_id"].split(":", 1)[1],
                object_id=row["object_id"],
                object_iri=curie_map[match.group(1)] + match.group(2),
                object_label=row["object_label"],
                comment=row["comment"],
                line=number,
                subject_label=row["subject_label"],
                author_id=row["author_id"],
                mapping_date=row["mapping_date"],
            )
        )
    return MappingSet(metadata=metadata, mappings=tuple(mappings))


def load_mappings(directory: Path = ONTOLOGY_DIR) -> MappingSet:
    """The mapping set of an ontology directory (empty if it has no mappings file)."""
    path = directory / MAPPINGS_FILE
    return read_mappings(path) if path.is_file() else MappingSet()


def add_mapping_triples(graph: Graph, mapping_set: MappingSet) -> None:
    """Add one SKOS triple per mapping; a subject the ontology does not define is an error."""
    for predicate in MAPPING_PREDICATES.values():
        graph.add((predicate, RDF.type, OWL.AnnotationProperty))  # keeps the schema in OWL 2 DL
    for m in mapping_set.mappings:
        subject = URIRef(BASE + m.subject)
        if (subject, RDFS.label, None) not in graph:
            raise ValidationError(f"mapping subject tkg:{m.subject} is not an ontology entity", where=f"{MAPPINGS_FILE}:{m.line}")
        graph.add((subject, SKOS[m.predicate], URIRef(m.object_iri)))


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
            name = iri[len(BASE) :]
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
        return {str(s)[len(BASE) :] for s in self.graph.subjects(RDFS.subPropertyOf, rel)}

    @cached_property
    def relation_labels(self) -> dict[str, str]:
        """Each relation's rdfs:label ("faces barrier"): the one place pages and the explorer read it from."""
        return {name: self._literal(TKG[name], RDFS.label) or name for name in sorted(self.relations)}

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
        return sorted(str(s)[len(BASE) :] for s in self.graph.subjects(TKG["isModality"], Literal(True)))

    def barrier_categories(self) -> list[str]:
        return sorted(str(s)[len(BASE) :] for s in self.graph.subjects(TKG["isBarrierCategory"], Literal(True)))


_DEFAULT: Ontology | None = None


def default_ontology() -> Ontology:
    """The shipped ontology, loaded once (read-only; tests build their own)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Ontology.load()
    return _DEFAULT
