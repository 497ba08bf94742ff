"""The Python API: ``from kg import KnowledgeGraph``.

>>> kg = KnowledgeGraph.open("memory:", mode="write")
>>> kg.build()                                  # ontology/ + data/
>>> kg.query("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }").rows
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from rdflib import Graph
from rdflib.term import Node

from .bulk import IngestReport
from .errors import IngestError, TkgError, ValidationError, unexpected_file_error
from .model import StudyRecord
from .namespaces import ONTOLOGY_GRAPH
from .ontology import ONTOLOGY_DIR, Ontology, load_ontology_graph
from .progress import progress_bar
from .stores import QueryResult, Store, open_store
from .to_rdf import record_graph_iri, record_to_graph

DEFAULT_STORE = "var"
#: From this many files, ingest converts on every core and bulk-loads (kg.bulk): natively into an
#: embedded store, with concurrent Graph Store Protocol requests into a remote server.
BULK_THRESHOLD = 200
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def _default() -> Ontology:
    from .ontology import default_ontology

    return default_ontology()


def default_store_url() -> str:
    return os.environ.get("TKG_STORE") or DEFAULT_STORE


class KnowledgeGraph:
    """A knowledge graph over one store."""

    def __init__(self, store: Store, ontology: Ontology | None = None):
        self.store = store
        self._ontology = ontology

    @classmethod
    def open(cls, url: str | None = None, *, mode: str = "read", **options: Any) -> KnowledgeGraph:
        """Open the store named by ``url`` (default: $TKG_STORE or ./var).

        ``mode="read"`` serves the published release; ``mode="write"`` opens the
        work store for ``ingest`` and ``build`` (its queries see the work store).
        """
        return cls(open_store(url or default_store_url(), mode=mode, **options))

    @property
    def ontology(self) -> Ontology:
        if self._ontology is None:
            from .ontology import default_ontology

            self._ontology = default_ontology()
        return self._ontology

    # -- writing ------------------------------------------------------------
    def ensure_ontology(self) -> None:
        if not self.store.has_graph(str(ONTOLOGY_GRAPH)):
            self.store.replace_graph(str(ONTOLOGY_GRAPH), self.ontology.graph)

    def add_records(self, records: Iterable[StudyRecord]) -> int:
        """Write records, each replacing its study's graph atomically; returns quads written."""
        return self.store.replace_graphs((str(record_graph_iri(r)), record_to_graph(r)) for r in records)

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        fmt: str | None = None,
        progress: bool = False,
        on_error: Callable[[str, TkgError], None] | None = None,
    ) -> IngestReport:
        """Read files and write their studies. A file that fails is reported and
        writes nothing; the other files still go in."""
        from .pipeline import records_from_file

        report = IngestReport()
        self.ensure_ontology()
        files = [Path(p) for p in paths]
        # Many files: converted on every core (the workers load the default ontology) and
        # written the way the store writes many studies at once, if it offers one.
        writer = self.store.bulk_writer() if len(files) >= BULK_THRESHOLD and self.ontology is _default() else None
        if writer is not None:
            from .bulk import convert

            return writer(convert(files, fmt), total=len(files), progress=progress, on_error=on_error)
        for path in progress_bar(files, desc="ingest", unit="file", enabled=progress):
            try:
                records = records_from_file(path, fmt, self.ontology)
                graphs = [(str(record_graph_iri(r)), record_to_graph(r)) for r in records]
            except Exception as exc:  # noqa: BLE001 - whatever one file raises, it is reported and the others go in
                error = exc if isinstance(exc, TkgError) else unexpected_file_error(path, exc)
                report.failed.append((str(path), str(error)))
                if on_error:
                    on_error(str(path), error)
                continue
            report.quads += self.store.replace_graphs(graphs)
            report.loaded.append((str(path), [r.id for r in records]))
        return report

    def build(
        self,
        data_dir: Path = DATA_DIR,
        ontology_dir: Path = ONTOLOGY_DIR,
        *,
        progress: bool = False,
        validate: bool = True,
    ) -> IngestReport:
        """Rebuild the whole graph from the ontology and the curated records.

        Any record that fails stops the build before anything replaces the
        current content; with ``validate`` the new content must pass
        :func:`kg.validate.validate_store` too.
        """
        from .pipeline import records_from_file

        # The shipped ontology is the shared default object: ingest bulk-loads (its
        # workers read that ontology) only when the graph's ontology is the default one.
        default = Path(ontology_dir).resolve() == ONTOLOGY_DIR.resolve()
        ontology = _default() if default else Ontology(load_ontology_graph(ontology_dir))
        files = sorted((data_dir / "studies").glob("*.yaml"))
        if not files:
            raise IngestError("no curated records found", where=str(data_dir / "studies"), expected="*.yaml files")
        graphs: list[tuple[str, Graph]] = [(str(ONTOLOGY_GRAPH), ontology.graph)]
        report = IngestReport()
        seen: dict[str, str] = {}
        for path in progress_bar(files, desc="build", unit="file", enabled=progress):
            records = records_from_file(path, None, ontology)
            for record in records:
                if record.id in seen:
                    raise IngestError(f"study id {record.id!r} is also used by {seen[record.id]}", where=str(path))
                seen[record.id] = str(path)
                graphs.append((str(record_graph_iri(record)), record_to_graph(record)))
            report.loaded.append((str(path), [r.id for r in records]))
        check = None
        if validate:
            from .validate import validate_store

            def check(candidate: Store) -> None:
                result = validate_store(candidate)
                if not result.ok:
                    raise ValidationError(f"the built graph is invalid, nothing was replaced: {result.summary()}")

        report.quads = self.store.rebuild(graphs, check)
        self._ontology = ontology
        return report

    def publish(self, *, keep: int | None = None, full: bool = False) -> str | None:
        """Make the work store the current release (keeping the newest ``keep``
        releases and pinned ones), then run the precompute steps of
        :mod:`kg.artifacts` (the views' dashboard, matrix and cells, the
        explorer's projection ...) for the graphs changed since the previous
        release (all of them with ``full``), storing their results beside the new one."""
        changed = self.store.pending_changes()
        release = self.store.publish(keep=keep)
        if release:
            from .artifacts import on_publish

            try:
                on_publish(self, release, changed, full=full)
            except (OSError, TkgError) as exc:  # the release stands; readers compute on first use
                print(f"tkg: could not precompute the views of release {release}: {exc}", file=sys.stderr)
        return release

    # -- reading ------------------------------------------------------------
    def query(self, sparql: str, *, bindings: dict[str, Node] | None = None) -> QueryResult:
        return self.store.query(sparql, bindings=bindings)

    def export(self, fmt: str, out: str | Path | IO[bytes]) -> None:
        """Write the graph as RDF. Dataset formats (nquads, trig, jsonld) keep one
        named graph per study; triple formats (turtle, nt, rdfxml) hold the union."""
        if isinstance(out, (str, Path)):
            with open(out, "wb") as handle:
                self.store.dump(handle, fmt)
        else:
            self.store.dump(out, fmt)

    def to_networkx(self, *, studies: bool = False) -> Any:
        """The typed networkx MultiDiGraph of the graph (see :mod:`kg.projection`)."""
        from .projection import project

        return project(self, studies=studies)

    def stats(self) -> dict[str, int]:
        from .queries import load_query

        row = self.query(load_query("stats").sparql).rows[0]
        return {k: int(v.toPython()) for k, v in row.items()}

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> KnowledgeGraph:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
