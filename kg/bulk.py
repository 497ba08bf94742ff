"""Bulk ingest: many study files converted on every core, loaded in batches.

``files -> process pool (chunks of files per task) -> N-Quads per file -> batches -> Oxigraph or a SPARQL server``

* **Conversion** (reading, extraction, RDF) runs in a pool of processes, one
  task per chunk of files, so both cores work; each worker loads the
  ontology once. A worker returns, per file, either its N-Quads (one named
  graph per study) or the error: a file that fails writes nothing and is
  reported, in file order, exactly as the one-file-at-a-time path does.
* **Loading** goes to pyoxigraph natively, in batches of files:

  - into an *empty* store, with the bulk loader (``bulk_extend``, not
    transactional, the fastest path): a crash leaves a partial work store,
    which nothing serves and the next run replaces;
  - into a store that already has content, each batch first drops the graphs
    of the studies it is about to write, then adds their quads in one
    transaction (``Store.extend``). Between the two a study graph is briefly
    missing from the *work* store; readers never see that, because they read
    the published release, and ``publish`` only runs after the whole ingest.

* **Remote servers** (``load_remote``): each study's graph goes in one
  Graph Store Protocol ``PUT`` (atomic, and a replacement), with several
  requests in flight at once.

Either way re-ingesting the same files gives the same graph (each study's
graph is replaced, never appended to), which is what idempotence needs.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from .errors import IngestError, TkgError

CHUNK_FILES = 50
#: Chunks per worker converted ahead of the loader.
AHEAD = 3
BATCH_FILES = 2000


@dataclass(frozen=True)
class Converted:
    """One file's outcome: its study ids and N-Quads, or the error message."""

    path: str
    ids: tuple[str, ...] = ()
    graphs: tuple[str, ...] = ()
    nquads: bytes = b""
    quads: int = 0
    error: str | None = None


def _convert_file(path: str, fmt: str | None) -> Converted:
    # rdflib's own N-Triples line writer (what Graph.serialize("nt") calls per
    # triple): no Graph is built, the triples go straight to N-Quads lines.
    from rdflib.plugins.serializers.nt import _nt_row

    from .ontology import default_ontology
    from .pipeline import records_from_file
    from .to_rdf import record_graph_iri, record_triples

    try:
        records = records_from_file(Path(path), fmt, default_ontology())
        parts: list[str] = []
        graphs: list[str] = []
        for record in records:
            name = str(record_graph_iri(record))
            graphs.append(name)
            suffix = f" <{name}> .\n"
            parts.extend(_nt_row(triple)[:-3] + suffix for triple in record_triples(record))
    except TkgError as exc:
        return Converted(path, error=str(exc))
    return Converted(path, tuple(r.id for r in records), tuple(graphs), "".join(parts).encode("utf-8"), len(parts))


def _convert_chunk(paths: list[str], fmt: str | None) -> list[Converted]:
    return [_convert_file(p, fmt) for p in paths]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def convert(
    paths: Iterable[str | Path], fmt: str | None = None, *, workers: int | None = None, chunk: int = CHUNK_FILES
) -> Iterator[Converted]:
    """Convert files in a process pool; results in file order.

    At most ``AHEAD`` chunks per worker are submitted ahead of the consumer, so
    a slow loader (a remote server) holds back conversion instead of letting
    every file's N-Quads pile up in memory (``pool.map`` submits them all)."""
    files = [str(p) for p in paths]
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(files) <= chunk:
        for path in files:
            yield _convert_file(path, fmt)
        return
    # spawn: the parent may hold an open RocksDB store and its threads; never fork that
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[list[Converted]]] = deque()
        for part in _chunks(files, chunk):
            pending.append(pool.submit(_convert_chunk, part, fmt))
            if len(pending) >= AHEAD * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="ingest", unit="file", file=sys.stderr, disable=not (enabled and sys.stderr.isatty()))


@dataclass
class BulkReport:
    loaded: list[tuple[str, list[str]]]
    failed: list[tuple[str, str]]
    quads: int = 0


def _batches(
    converted: Iterable[Converted],
    report: BulkReport,
    *,
    total: int,
    progress: bool,
    on_error: Callable[[str, TkgError], None] | None,
    batch_files: int,
) -> Iterator[list[Converted]]:
    """Group converted files into batches to write, reporting the failed ones.

    A study met twice ends the batch, so the later file wins, as with one
    file at a time. The caller writes each batch before asking for the next;
    its files are then recorded as loaded."""
    batch: list[Converted] = []
    names: set[str] = set()

    def done() -> Iterator[list[Converted]]:
        if batch:
            yield batch
            for c in batch:
                report.loaded.append((c.path, list(c.ids)))
                report.quads += c.quads
            batch.clear()
            names.clear()

    with _progress(total, progress) as bar:
        for item in converted:
            bar.update(1)
            if item.error is not None:
                report.failed.append((item.path, item.error))
                if on_error:
                    on_error(item.path, IngestError(item.error))  # the message already names the file
                continue
            if names.intersection(item.graphs):
                yield from done()
            batch.append(item)
            names.update(item.graphs)
            if len(batch) >= batch_files:
                yield from done()
        yield from done()


def load(
    store: ox.Store,
    converted: Iterable[Converted],
    *,
    total: int,
    progress: bool = False,
    on_error: Callable[[str, TkgError], None] | None = None,
    batch_files: int = BATCH_FILES,
) -> BulkReport:
    """Write converted files into a pyoxigraph store, one batch at a time."""
    report = BulkReport([], [])
    fresh = len(store) == 0
    seen: set[str] = set()
    for batch in _batches(converted, report, total=total, progress=progress, on_error=on_error, batch_files=batch_files):
        data = b"".join(c.nquads for c in batch)
        names = [g for c in batch for g in c.graphs]
        try:
            if fresh and not seen.intersection(names):
                store.bulk_extend(ox.parse(data, format=ox.RdfFormat.N_QUADS))
            else:
                store.update(";\n".join(f"DROP SILENT GRAPH <{g}>" for g in names))
                store.extend(ox.parse(data, format=ox.RdfFormat.N_QUADS))
        except (OSError, SyntaxError, ValueError) as exc:
            from .errors import StoreError

            raise StoreError(f"bulk load failed: {exc}") from None
        seen.update(names)
    return report


#: Concurrent Graph Store Protocol requests when loading into a remote server.
REMOTE_CONNECTIONS = 4
REMOTE_BATCH_FILES = 64


def _split_graphs(item: Converted) -> list[tuple[str, bytes]]:
    """One file's N-Quads as N-Triples per named graph (our lines end ``<graph> .``)."""
    per: dict[bytes, list[bytes]] = {f"<{g}>".encode(): [] for g in item.graphs}
    for line in item.nquads.splitlines():
        triple, graph, _dot = line.rsplit(b" ", 2)
        per[graph].append(triple + b" .\n")
    return [(g, b"".join(per[f"<{g}>".encode()])) for g in item.graphs]


def load_remote(
    store: Any,
    converted: Iterable[Converted],
    *,
    total: int,
    progress: bool = False,
    on_error: Callable[[str, TkgError], None] | None = None,
    connections: int = REMOTE_CONNECTIONS,
    batch_files: int = REMOTE_BATCH_FILES,
) -> BulkReport:
    """Write converted files to a remote SPARQL server (``RemoteStore``): each
    study's graph with one atomic ``PUT`` (or ``DROP; INSERT DATA``), several
    requests in flight at once, one batch at a time. A failed request stops the
    ingest with the server's message; the studies written before it stay (each
    is whole) and re-running completes the rest."""
    from concurrent.futures import ThreadPoolExecutor

    report = BulkReport([], [])
    with ThreadPoolExecutor(max_workers=connections) as pool:
        for batch in _batches(converted, report, total=total, progress=progress, on_error=on_error, batch_files=batch_files):
            list(pool.map(lambda part: store.put_ntriples(*part), [part for c in batch for part in _split_graphs(c)]))
    return report


def bulk_ingest(
    store: ox.Store,
    paths: list[Path],
    *,
    fmt: str | None = None,
    progress: bool = False,
    on_error: Callable[[str, TkgError], None] | None = None,
    workers: int | None = None,
) -> BulkReport:
    """Convert ``paths`` on every core and load them into ``store``."""
    return load(store, convert(paths, fmt, workers=workers), total=len(paths), progress=progress, on_error=on_error)
