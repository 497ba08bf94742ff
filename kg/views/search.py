"""Search over entity labels and synonyms (for the autocomplete).

The index (every domain class with its label, synonyms, standard identifiers
as CURIEs and category) is
read once per release; matching runs in Python, so the user's text never
reaches a SPARQL query. Ranking: exact match, then prefix of the label or a
synonym, then prefix of a word, then substring; a label before a synonym, then
shorter labels first.
"""

from __future__ import annotations

import threading
import unicodedata
from typing import TYPE_CHECKING, Any

from ..namespaces import local_name
from ..ontology import load_mappings
from .cache import release_key
from .common import CATEGORY_LABELS, PREFIXES, Vocabulary, is_ours

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

_TERMS = (
    PREFIXES
    + """SELECT ?e ?label ?syn WHERE {
  ?e a owl:Class ; rdfs:label ?label . OPTIONAL { ?e skos:altLabel ?syn }
}"""
)

#: Standard identifiers (ontology/mappings.sssom.tsv) are searchable too: "MONDO:0006486", "HGNC:1633".
_IDS = PREFIXES + "SELECT ?e ?id WHERE { ?e skos:exactMatch|skos:closeMatch|skos:broadMatch ?id }"

MAX_LIMIT = 50
_lock = threading.Lock()
_indexes: dict[int, tuple[str, list[dict[str, Any]]]] = {}


def fold(text: str) -> str:
    """Lowercase, accents and punctuation-insensitive form for matching."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


def build_index(kg: KnowledgeGraph) -> list[dict[str, Any]]:
    vocab = Vocabulary(kg)
    entries: dict[str, dict[str, Any]] = {}
    for row in kg.query(_TERMS).rows:
        iri = str(row["e"])
        if not is_ours(iri):
            continue
        entry = entries.setdefault(iri, {"id": local_name(iri), "label": vocab.label(iri), "category": vocab.category(iri), "names": set()})
        entry["names"].add(str(row["label"]))
        if row.get("syn") is not None:
            entry["names"].add(str(row["syn"]))
    mapping_set = load_mappings()
    for row in kg.query(_IDS).rows:
        entry = entries.get(str(row["e"]))
        curie = mapping_set.compact(str(row["id"]))
        if entry is not None and curie:
            entry["names"].add(curie)  # folded "mondo 0006486": typed as MONDO:0006486 or mondo:0006486 it matches exactly
    index = []
    for entry in entries.values():
        if entry["category"] == "Other":
            continue  # relations' and the schema's own classes (Study, Finding ...)
        names = sorted(entry["names"], key=lambda n: (n != entry["label"], n.lower()))
        index.append({**entry, "names": [(n, fold(n)) for n in names]})
    return index


def _index(kg: KnowledgeGraph) -> list[dict[str, Any]]:
    release = release_key(kg)
    cached = _indexes.get(id(kg.store))
    if cached and cached[0] == release:
        return cached[1]
    with _lock:
        index = build_index(kg)
        _indexes[id(kg.store)] = (release, index)
        return index


def search(kg: KnowledgeGraph, q: str, limit: int = 10) -> list[dict[str, Any]]:
    """Entities whose label or a synonym matches ``q``: ``id, label, category,
    category_label, matched`` (the synonym that matched, or None for the label)."""
    needle = fold(q or "")
    if not needle:
        return []
    limit = max(1, min(int(limit), MAX_LIMIT))
    hits = []
    for entry in _index(kg):
        best: tuple[int, str] | None = None
        for name, folded in entry["names"]:
            if folded == needle:
                rank = 0
            elif folded.startswith(needle):
                rank = 1
            elif f" {needle}" in f" {folded}":
                rank = 2
            elif needle in folded:
                rank = 3
            else:
                continue
            if best is None or rank < best[0]:
                best = (rank, name)
        if best is not None:
            hits.append((best[0], best[1] != entry["label"], len(entry["label"]), entry["label"].lower(), entry, best[1]))
    hits.sort(key=lambda h: h[:4])
    return [
        {
            "id": entry["id"],
            "label": entry["label"],
            "category": entry["category"],
            "category_label": CATEGORY_LABELS.get(entry["category"], entry["category"]),
            "matched": None if matched == entry["label"] else matched,
        }
        for *_, entry, matched in hits[:limit]
    ]
