"""Stores: one interface, backends chosen by a store URL.

==================  =================================================
URL                 backend
==================  =================================================
a directory path    embedded Oxigraph store (work store + releases)
``memory:``         rdflib in-memory dataset, for tests
``http(s)://...``   a SPARQL 1.1 server (registered by its own module)
==================  =================================================

Backends are registered by scheme with lazy imports; an unknown scheme gets
an error listing the valid ones.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rdflib import Graph, URIRef
from rdflib.term import Node

from ..errors import StoreError

#: scheme -> "module:class"; "" is a filesystem path.
BACKENDS: dict[str, str] = {
    "": "kg.stores.oxigraph:DirectoryStore",
    "memory": "kg.stores.memory:MemoryStore",
    "http": "kg.stores.remote:RemoteStore",  # http and https
}

RESULT_FORMATS = ("json", "xml", "csv", "tsv")
GRAPH_FORMATS = ("turtle", "nt", "jsonld", "rdfxml", "nquads", "trig")


@dataclass
class QueryResult:
    """A query result in backend-neutral form (rdflib terms).

    ``kind`` is "select", "ask" or "graph". Backends may override
    :meth:`serialize` with a native serializer.
    """

    kind: str
    variables: list[str] = field(default_factory=list)
    rows: list[dict[str, Node]] = field(default_factory=list)
    boolean: bool | None = None
    triples: list[tuple[Node, Node, Node]] = field(default_factory=list)

    def __iter__(self) -> Iterator[dict[str, Node]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows) if self.kind == "select" else len(self.triples)

    def values(self, var: str) -> list[str]:
        """The string values bound to ``var`` in each row (unbound rows skipped)."""
        return [str(row[var]) for row in self.rows if row.get(var) is not None]

    def to_graph(self) -> Graph:
        graph = Graph()
        for triple in self.triples:
            graph.add(triple)
        return graph

    def serialize(self, fmt: str) -> bytes:
        from .results import serialize_result

        return serialize_result(self, fmt)


class Store(ABC):
    """The operations every backend offers. Graph names are IRIs (str).

    The optional capabilities (releases, a folder on this machine, a native
    engine, serialization) are methods here with neutral defaults, so callers
    ask the store instead of probing its type."""

    url: str
    #: True when queries read a published release rather than the work store.
    read_only: bool = False
    #: True for a SPARQL server reached over HTTP: no releases, and counting is a query over everything.
    is_remote: bool = False

    @property
    def release(self) -> str | None:
        """The name of the published release this store reads (None: the store has no releases)."""
        return None

    def refresh(self) -> bool:
        """A long-lived reader follows a newer release; True if it switched."""
        return False

    def local_root(self) -> Path | None:
        """The store's folder on this machine (per-release files are kept under it), None if it has none."""
        return None

    def native(self) -> Any | None:
        """The embedded pyoxigraph Store behind this store, for native bulk work (None if there is none)."""
        return None

    def release_usage(self) -> list[dict[str, Any]]:
        """Each published release with the disk it uses; a store without releases refuses."""
        raise StoreError(f"{self.url} has no releases: only an embedded store (a directory) publishes releases")

    def pin(self, release: str, *, pinned: bool = True) -> None:
        """Keep a release whatever the retention policy says; a store without releases refuses."""
        raise StoreError(f"{self.url} has no releases: only an embedded store (a directory) publishes releases")

    def bulk_writer(self) -> Callable[..., Any] | None:
        """How this store writes many converted study files at once (``kg.bulk``):
        a function ``(converted, *, total, progress, on_error) -> IngestReport``, or
        None when it has no faster way than one study at a time."""
        return None

    def query_serialized(self, sparql: str, fmt: str, *, bindings: dict[str, Node] | None = None) -> tuple[str, bytes]:
        """Run a query and serialize its result: (kind, bytes). Backends override it with a native serializer."""
        result = self.query(sparql, bindings=bindings)
        return result.kind, result.serialize(fmt)

    @abstractmethod
    def replace_graph(self, graph: str, triples: Graph) -> None:
        """Replace a named graph's content atomically (no half-written graph)."""

    def replace_graphs(self, items: Iterable[tuple[str, Graph]]) -> int:
        """Replace many graphs, each atomically; returns the number of quads written."""
        count = 0
        for name, triples in items:
            self.replace_graph(name, triples)
            count += len(triples)
        return count

    @abstractmethod
    def rebuild(self, graphs: Iterable[tuple[str, Graph]], check: Callable[[Store], None] | None = None) -> int:
        """Replace the whole content with ``graphs``, loaded beside the current
        content and switched in only once loaded and accepted by ``check``
        (which raises to refuse). Returns the number of quads loaded."""

    @abstractmethod
    def drop_graph(self, graph: str) -> None: ...

    @abstractmethod
    def graph_names(self) -> list[str]: ...

    def has_graph(self, graph: str) -> bool:
        """Whether the named graph ``graph`` is in the store (stores that can look one up override this)."""
        return graph in self.graph_names()

    @abstractmethod
    def query(self, sparql: str, *, bindings: dict[str, Node] | None = None) -> QueryResult:
        """Run a query over the union of all graphs (the default graph)."""

    @abstractmethod
    def quads(self) -> Iterator[tuple[Node, Node, Node, URIRef]]: ...

    @abstractmethod
    def count(self) -> int:
        """Number of quads."""

    def dump(self, out: IO[bytes], fmt: str) -> None:
        from .results import dump_quads

        dump_quads(self.quads(), out, fmt)

    def publish(self, *, keep: int | None = None) -> str | None:
        """Make the current content visible to readers; returns a release name if
        any. A store with releases keeps the newest ``keep`` (and pinned ones)."""
        return None

    def pending_changes(self) -> set[str] | None:
        """The named graphs written or dropped since the last published release,
        or None when that is not known (no release yet, a rebuild, a store
        without releases): then everything derived from the graph is recomputed."""
        return None

    def begin_changes(self) -> str | None:
        """Before a write that does not go through this interface (the native bulk
        loader): mark the changes unknown until :meth:`end_changes` names them.
        Returns a token for :meth:`end_changes` (None where nothing is tracked)."""
        return None

    def end_changes(self, token: str | None, graphs: Iterable[str]) -> None:  # noqa: B027 - optional hook
        """After the write that :meth:`begin_changes` announced: the graphs it wrote."""

    def reader(self) -> Store:
        """A store for queries: the published release (directory store) or self."""
        return self

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_store(url: str, *, mode: str = "read", **options: Any) -> Store:
    """Open the store a URL names. ``mode`` is "read" (published graph) or "write"."""
    if mode not in ("read", "write"):
        raise StoreError(f"unknown store mode {mode!r}", expected="read or write")
    scheme = url.split(":", 1)[0].lower() if ":" in url and not url.startswith(("/", ".")) and len(url.split(":", 1)[0]) > 1 else ""
    if scheme in ("http", "https"):
        scheme = "http"
    target = BACKENDS.get(scheme)
    if target is None:
        valid = ", ".join(sorted(f"{s}:" for s in BACKENDS if s) + ["a directory path"])
        raise StoreError(f"unknown store URL scheme {scheme!r} in {url!r}", expected=valid)
    module, cls = target.split(":")
    backend = getattr(importlib.import_module(module), cls)
    return backend(url, mode=mode, **options)
