"""The VoID description's counts (kg/void.py: distinct triples, subjects,
objects, classes, properties), kept per release: each is a query over every
quad (tens of seconds at 100,000 studies), so the ``void`` publish step runs
them once and ``/void`` reads ``void-counts.json`` from the release's cache
folder. Stores without releases count on first use (memoized per release key)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..artifacts import Publication, cache_dir, read_json, write_json_atomic

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

VOID_FILE = "void-counts.json"
VERSION = 1


def compute(kg: KnowledgeGraph) -> dict[str, int]:
    from .. import void

    return {**void.counts(kg), "sources": kg.stats()["studies"]}


def stored(kg: KnowledgeGraph) -> dict[str, int] | None:
    """The counts stored with the release ``kg`` serves (None without them)."""
    folder = cache_dir(kg)
    data: dict[str, Any] | None = read_json(folder / VOID_FILE, VERSION) if folder is not None else None
    return None if data is None else data["counts"]


def publish_step(publication: Publication) -> None:
    """The ``void`` publish step: count in full (the counts of a union of graphs
    are not sums of per-graph counts) and store them."""
    write_json_atomic(publication.folder / VOID_FILE, {"version": VERSION, "counts": compute(publication.kg)})
