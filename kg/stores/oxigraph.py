"""The embedded store: Oxigraph on disk, written once and published.

Layout of the store directory::

    work -> stores/<stamp>  the only read-write store (ingest and build)
    releases/<stamp>/     immutable published checkpoints (Store.backup)
    current -> releases/<stamp>   switched atomically on publish
    changes.log           the named graphs written since the last release

``changes.log`` lets publishing recompute what is derived from the graph
(views, matrix cells, the explorer's projection) for the changed studies
only (:meth:`DirectoryStore.pending_changes`): every write names its graphs
there *before* it writes them (a crash in between costs a needless
recomputation, never a missed one); a rebuild marks everything changed.

A store opened for reading opens ``current`` read-only, so readers never see
a write in progress. Queries go to Oxigraph natively (no rdflib evaluator).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pyoxigraph as ox
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import XSD
from rdflib.term import Node

from ..errors import NoReleaseError, QueryError, StoreError
from . import QueryResult, Store

KEEP_RELEASES = 3
CHANGES = "changes.log"
#: Folder of pin markers (one empty file per pinned release).
PINS = "pins"

_RESULT_FORMATS = {
    "json": ox.QueryResultsFormat.JSON,
    "xml": ox.QueryResultsFormat.XML,
    "csv": ox.QueryResultsFormat.CSV,
    "tsv": ox.QueryResultsFormat.TSV,
}
RDF_FORMATS = {
    "turtle": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
    "jsonld": ox.RdfFormat.JSON_LD,
    "rdfxml": ox.RdfFormat.RDF_XML,
    "nquads": ox.RdfFormat.N_QUADS,
    "trig": ox.RdfFormat.TRIG,
}


def to_rdflib(term: Any) -> Node:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if isinstance(term, ox.Literal):
        if term.language:
            return Literal(term.value, lang=term.language)
        datatype = term.datatype.value
        if datatype == str(XSD.string):
            return Literal(term.value)
        return Literal(term.value, datatype=URIRef(datatype))
    raise StoreError(f"unsupported RDF term {term!r}")


def to_oxigraph(term: Node) -> Any:
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype is not None:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    raise StoreError(f"unsupported RDF term {term!r}")


def syntax_message(exc: BaseException) -> str:
    """Oxigraph's parser message on one readable line: position and a few expected tokens."""
    text = " ".join(str(exc).split())
    head, sep, alternatives = text.partition("expected one of ")
    if sep:
        items = [a.strip() for a in alternatives.split(", ")]
        shown = ", ".join(items[:8])
        return f"{head}expected one of {shown}{', ...' if len(items) > 8 else ''}"
    return text[:300]


def _graph_to_quads(graph: str, triples: Graph) -> Iterator[ox.Quad]:
    g = ox.NamedNode(graph)
    for s, p, o in triples:
        yield ox.Quad(to_oxigraph(s), to_oxigraph(p), to_oxigraph(o), g)


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _switch_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically (rename of a fresh symlink)."""
    tmp = link.with_name(f".{link.name}-{_stamp()}")
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _acquire_writer_lock(root: Path) -> IO[bytes]:
    """One writer per store directory: ingest and build are serialized, never interleaved."""
    try:
        handle = open(root / "write.lock", "ab")  # noqa: SIM115 - held for the store's lifetime
    except OSError as exc:
        raise StoreError(f"cannot write in the store directory: {exc.strerror}", where=str(root)) from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreError(
            "the store is in use by another process (one writer at a time); try again when it finishes", where=str(root)
        ) from None
    return handle


def _open(path: Path, read_only: bool) -> ox.Store:
    try:
        return ox.Store.read_only(str(path)) if read_only else ox.Store(str(path))
    except OSError as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise StoreError("the store is in use by another process (one writer at a time)", where=str(path)) from None
        raise StoreError(f"cannot open store: {text}", where=str(path)) from None


class DirectoryStore(Store):
    def __init__(self, url: str, *, mode: str = "read", **_: Any):
        self.url = url
        self.root = Path(url).expanduser()
        self.read_only = mode == "read"
        self._lock: IO[bytes] | None = None
        if self.read_only:
            self.path = self._current_target()
        else:
            try:
                (self.root / "releases").mkdir(parents=True, exist_ok=True)
                (self.root / "stores").mkdir(exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create store directory: {exc.strerror}", where=str(self.root)) from None
            self._lock = _acquire_writer_lock(self.root)
            try:
                self.path = self._work_target()
            except OSError as exc:
                self._lock.close()
                raise StoreError(f"cannot prepare the work store: {exc.strerror}", where=str(self.root)) from None
            for orphan in (self.root / "stores").iterdir():  # left by a crashed rebuild
                if orphan != self.path:
                    shutil.rmtree(orphan, ignore_errors=True)
        self._store: ox.Store | None = _open(self.path, self.read_only)

    def _current_target(self) -> Path:
        current = self.root / "current"
        if not current.exists():
            raise NoReleaseError(f"no published graph in {self.root}; run `tkg build` first")
        return current.resolve()

    def _work_target(self) -> Path:
        """The work store: ``work`` is a symlink to ``stores/<stamp>``, switched
        atomically by rebuilds (a crash never leaves the project without one)."""
        work = self.root / "work"
        if work.is_symlink() and work.exists():
            return work.resolve()
        target = self.root / "stores" / _stamp()
        if work.is_dir() and not work.is_symlink():  # layout of version 0.1.0 before releases: adopt it
            os.replace(work, target)
        _switch_link(work, Path("stores") / target.name)
        return target

    def refresh(self) -> bool:
        """For a reader: reopen if a newer release was published. Returns True if it switched."""
        if not self.read_only:
            return False
        target = self._current_target()
        if target == self.path:
            return False
        self._store = _open(target, read_only=True)
        self.path = target
        return True

    @property
    def store(self) -> ox.Store:
        if self._store is None:
            raise StoreError("store is closed", where=str(self.path))
        return self._store

    def native(self) -> ox.Store:
        return self.store

    def bulk_writer(self) -> Any:
        """Batches of studies, each batch one native update (one transaction), past the change
        journal: the changes are marked unknown first, then named once written."""
        if self.read_only:
            return None
        from ..bulk import load
        from ..namespaces import study_graph

        def write(converted: Any, **options: Any) -> Any:
            token = self.begin_changes()
            report = load(self.store, converted, **options)
            self.end_changes(token, (str(study_graph(i)) for _, ids in report.loaded for i in ids))
            return report

        return write

    def local_root(self) -> Path:
        return self.root

    @property
    def release(self) -> str | None:
        return self.path.name if self.read_only else None

    def _writable(self) -> ox.Store:
        if self.read_only:
            raise StoreError("store was opened read-only", where=str(self.path))
        return self.store

    # -- the change journal ---------------------------------------------------
    def _journal(self, lines: Iterable[str]) -> None:
        """Append to changes.log and sync it, before the write it announces."""
        text = "".join(f"{line}\n" for line in lines)
        if not text:
            return
        try:
            with open(self.root / CHANGES, "a", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise StoreError(f"cannot record changes: {exc.strerror}", where=str(self.root / CHANGES)) from None

    def pending_changes(self) -> set[str] | None:
        """The graphs written or dropped since the newest release, from changes.log;
        None if unknown (no release yet, a rebuild, an unfinished bulk write, a
        journal that does not start at the newest release)."""
        try:
            lines = (self.root / CHANGES).read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        newest = self._releases()
        if not lines or not newest or lines[0] != f"SINCE {newest[-1].name}":
            return None
        changed: set[str] = set()
        open_tokens: set[str] = set()
        for line in lines[1:]:
            kind, _, rest = line.partition(" ")
            if kind == "G":
                changed.add(rest)
            elif kind == "BEGIN":
                open_tokens.add(rest)
            elif kind == "END":
                open_tokens.discard(rest)
            else:  # ALL, or a line that is not ours
                return None
        return None if open_tokens else changed

    def begin_changes(self) -> str:
        token = f"{_stamp()}-{os.getpid()}"
        self._journal([f"BEGIN {token}"])
        return token

    def end_changes(self, token: str | None, graphs: Iterable[str]) -> None:
        self._journal([*(f"G {g}" for g in graphs), f"END {token}"])

    # -- writing ------------------------------------------------------------
    def replace_graphs(self, items: Iterable[tuple[str, Graph]]) -> int:
        pending = list(items)
        self._journal(f"G {name}" for name, _ in pending)
        count = 0
        for name, triples in pending:
            self._replace(name, triples)
            count += len(triples)
        return count

    def replace_graph(self, graph: str, triples: Graph) -> None:
        self._journal([f"G {graph}"])
        self._replace(graph, triples)

    def _replace(self, graph: str, triples: Graph) -> None:
        store = self._writable()
        body = triples.serialize(format="nt", encoding="utf-8").decode("utf-8")
        try:
            store.update(f"DROP SILENT GRAPH <{graph}> ;\nINSERT DATA {{ GRAPH <{graph}> {{\n{body}\n}} }}")
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreError(f"write failed: {exc}", where=str(self.path)) from None

    def bulk_load_graphs(self, items: Iterable[tuple[str, Graph]]) -> int:
        """Load graphs into an empty store with the bulk loader (not atomic per graph)."""
        store = self._writable()
        count = 0

        def quads() -> Iterator[ox.Quad]:
            nonlocal count
            for name, triples in items:
                count += len(triples)
                yield from _graph_to_quads(name, triples)

        store.bulk_extend(quads())
        return count

    def rebuild(self, graphs: Iterable[tuple[str, Graph]], check: Callable[[Store], None] | None = None) -> int:
        """Bulk-load a new work store beside the old one; switch ``work`` to it
        only if ``check`` passes. A crash at any point leaves the old work store
        (and every published release) as it was."""
        self._writable()
        staging = self.root / "stores" / _stamp()
        fresh = DirectoryStore.__new__(DirectoryStore)
        fresh.url, fresh.root, fresh.read_only, fresh.path, fresh._lock = self.url, self.root, False, staging, None
        fresh._store = _open(staging, read_only=False)
        try:
            count = fresh.bulk_load_graphs(graphs)
            fresh.store.flush()
            if check is not None:
                check(fresh)
        except BaseException:
            fresh.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fresh.close()
        self._journal(["ALL rebuild"])
        old = self.path
        self._store = None
        _switch_link(self.root / "work", Path("stores") / staging.name)
        shutil.rmtree(old, ignore_errors=True)
        self.path = staging
        self._store = _open(self.path, read_only=False)
        return count

    def drop_graph(self, graph: str) -> None:
        self._writable()
        self._journal([f"G {graph}"])
        self.store.update(f"DROP SILENT GRAPH <{graph}>")

    def publish(self, *, keep: int | None = None) -> str:
        """Checkpoint the work store into a new release and switch ``current`` to it.

        The checkpoint (``Store.backup``: RocksDB hard-links the immutable
        files it shares with the work store, so a release costs only what
        changed since the files were written) is made under a temporary name
        and renamed when complete, so an interrupted publish leaves no half
        release behind ``current``. Then the change journal restarts at the
        new release and old releases beyond ``keep`` (default
        :data:`KEEP_RELEASES`) go, except pinned ones, the new current one and
        the one served until now (a reader may be in a query on it)."""
        store = self._writable()
        store.flush()
        stamp = _stamp()
        releases = self.root / "releases"
        serving = self.current_release()
        partial = releases / f".partial-{stamp}"
        try:
            store.backup(str(partial))
            os.replace(partial, releases / stamp)
            _switch_link(self.root / "current", Path("releases") / stamp)
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise StoreError(f"cannot publish release: {exc.strerror or exc}", where=str(releases)) from None
        self._restart_journal(stamp)
        # the release served until now stays too: readers switch at their next query
        self.prune(keep=KEEP_RELEASES if keep is None else keep, also=serving)
        return stamp

    def _restart_journal(self, stamp: str) -> None:
        tmp = self.root / f".{CHANGES}.{os.getpid()}"
        try:
            tmp.write_text(f"SINCE {stamp}\n", encoding="utf-8")
            os.replace(tmp, self.root / CHANGES)
        except OSError:
            (self.root / CHANGES).unlink(missing_ok=True)  # unknown changes: the next publish recomputes in full

    # -- releases: listing, pins, retention ---------------------------------------
    def _releases(self) -> list[Path]:
        folder = self.root / "releases"
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def current_release(self) -> str | None:
        current = self.root / "current"
        return current.resolve().name if current.exists() else None

    def pinned(self) -> set[str]:
        folder = self.root / PINS
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()

    def pin(self, release: str, *, pinned: bool = True) -> None:
        """Keep ``release`` whatever the retention (or stop keeping it)."""
        if release not in {p.name for p in self._releases()}:
            known = ", ".join(p.name for p in self._releases()[-5:]) or "none"
            raise StoreError(f"no release {release!r}", where=str(self.root / "releases"), expected=f"a release (newest: {known})")
        marker = self.root / PINS / release
        if pinned:
            marker.parent.mkdir(exist_ok=True)
            marker.touch()
        else:
            marker.unlink(missing_ok=True)

    def prune(self, *, keep: int = KEEP_RELEASES, also: str | None = None) -> list[str]:
        """Remove releases older than the newest ``keep`` (at least 1), except
        pinned ones, the current one and ``also``; returns the names removed."""
        if keep < 1:
            raise StoreError(f"cannot keep {keep} releases", expected="at least 1 (the current release)")
        releases_dir = self.root / "releases"
        for leftover in releases_dir.glob(".partial-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        current = self.current_release()
        pinned = self.pinned()
        removed = []
        for old in self._releases()[:-keep]:
            if old.name not in (current, also) and old.name not in pinned:
                shutil.rmtree(old, ignore_errors=True)
                removed.append(old.name)
        for marker in pinned - {p.name for p in self._releases()}:
            (self.root / PINS / marker).unlink(missing_ok=True)
        return removed

    def release_usage(self) -> list[dict[str, Any]]:
        """Per release: its name, whether current or pinned, its size as a copy
        (``size``) and what it alone holds on disk (``own``: files no other
        release nor the work store links), in bytes, oldest first. Releases share
        the files a checkpoint hard-linked, so ``own`` is what removing it frees."""
        owners: dict[tuple[int, int], set[str]] = {}
        sizes: dict[tuple[int, int], int] = {}
        folders = {p.name: p for p in self._releases()}
        work = (self.root / "work").resolve() if (self.root / "work").exists() else None
        if work is not None:
            folders[" work"] = work
        per: dict[str, list[tuple[int, int]]] = {}
        for name, folder in folders.items():
            keys = []
            for path in folder.rglob("*"):
                try:
                    info = path.stat(follow_symlinks=False)
                except OSError:
                    continue
                if not path.is_file():
                    continue
                key = (info.st_dev, info.st_ino)
                owners.setdefault(key, set()).add(name)
                sizes[key] = info.st_blocks * 512
                keys.append(key)
            per[name] = keys
        current, pinned = self.current_release(), self.pinned()
        return [
            {
                "release": name,
                "current": name == current,
                "pinned": name in pinned,
                "size": sum(sizes[k] for k in set(per[name])),
                "own": sum(sizes[k] for k in set(per[name]) if owners[k] == {name}),
            }
            for name in sorted(n for n in per if n != " work")
        ]

    # -- reading ------------------------------------------------------------
    def reader(self) -> Store:
        return self

    def graph_names(self) -> list[str]:
        return sorted(g.value for g in self.store.named_graphs() if isinstance(g, ox.NamedNode))

    def has_graph(self, graph: str) -> bool:
        # one lookup: listing every graph takes seconds at 100,000 studies (each ingest asks for the ontology's)
        return bool(self.store.contains_named_graph(ox.NamedNode(graph)))

    def _run(self, sparql: str, bindings: dict[str, Node] | None) -> Any:
        self.refresh()  # a long-lived reader follows new releases
        from ..sparql_guard import has_dataset_clause

        subs = {ox.Variable(k): to_oxigraph(v) for k, v in (bindings or {}).items()}
        # The default graph is the union of all graphs, unless the query names its own dataset.
        union = not has_dataset_clause(sparql)
        try:
            return self.store.query(sparql, use_default_graph_as_union=union, substitutions=subs or None)
        except SyntaxError as exc:
            raise QueryError(f"SPARQL syntax error: {syntax_message(exc)}") from None
        except (OSError, ValueError, RuntimeError) as exc:
            raise QueryError(f"query failed: {exc}") from None

    def query(self, sparql: str, *, bindings: dict[str, Node] | None = None) -> QueryResult:
        # Oxigraph evaluates lazily: errors of the evaluation (a SERVICE call that
        # failed, a type error) arrive while the rows are read, not when the query starts.
        try:
            return self._collect(self._run(sparql, bindings))
        except (OSError, ValueError, RuntimeError) as exc:
            raise QueryError(f"query failed: {' '.join(str(exc).split())[:300]}") from None

    def _collect(self, result: Any) -> QueryResult:
        if isinstance(result, ox.QueryBoolean):
            return QueryResult("ask", boolean=bool(result))
        if isinstance(result, ox.QuerySolutions):
            variables = [v.value for v in result.variables]
            rows = []
            # Each distinct term is converted once per result: labels, classes and
            # modalities repeat in every row (CQ1 at 100,000 studies: 22,000 rows).
            converted: dict[Any, Node] = {}
            for solution in result:
                row = {}
                for name, value in zip(variables, solution, strict=True):  # by position: a lookup by name costs more
                    if value is not None:
                        term = converted.get(value)
                        if term is None:
                            term = converted[value] = to_rdflib(value)
                        row[name] = term
                rows.append(row)
            return QueryResult("select", variables=variables, rows=rows)
        return QueryResult("graph", triples=[(to_rdflib(t.subject), to_rdflib(t.predicate), to_rdflib(t.object)) for t in result])

    def query_serialized(self, sparql: str, fmt: str, *, bindings: dict[str, Node] | None = None) -> tuple[str, bytes]:
        """Run a query and serialize its result natively: (kind, bytes)."""
        try:
            return self._serialize(self._run(sparql, bindings), fmt)
        except (OSError, ValueError, RuntimeError) as exc:  # evaluation errors arrive while serializing
            raise QueryError(f"query failed: {' '.join(str(exc).split())[:300]}") from None

    def _serialize(self, result: Any, fmt: str) -> tuple[str, bytes]:
        if isinstance(result, (ox.QueryBoolean, ox.QuerySolutions)):
            kind = "ask" if isinstance(result, ox.QueryBoolean) else "select"
            if fmt not in _RESULT_FORMATS or (kind == "ask" and fmt in ("csv", "tsv")):
                raise QueryError(f"cannot write a {kind.upper()} result as {fmt!r}")
            return kind, result.serialize(format=_RESULT_FORMATS[fmt])
        if fmt not in RDF_FORMATS:
            raise QueryError(f"cannot write a graph result as {fmt!r}", expected=", ".join(RDF_FORMATS))
        return "graph", result.serialize(format=RDF_FORMATS[fmt])

    def quads(self) -> Iterator[tuple[Node, Node, Node, URIRef]]:
        for q in self.store.quads_for_pattern(None, None, None, None):
            if isinstance(q.graph_name, ox.NamedNode):
                yield to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object), URIRef(q.graph_name.value)

    def count(self) -> int:
        return len(self.store)

    def dump(self, out: IO[bytes], fmt: str) -> None:
        from ..namespaces import PREFIXES

        fmt_ox = RDF_FORMATS.get(fmt)
        if fmt_ox is None:
            raise StoreError(f"unknown RDF format {fmt!r}", expected=", ".join(RDF_FORMATS))
        if fmt_ox.supports_datasets:
            named = (q for q in self.store.quads_for_pattern(None, None, None, None) if isinstance(q.graph_name, ox.NamedNode))
            data = ox.serialize(named, format=fmt_ox, prefixes=PREFIXES if fmt != "nquads" else None)
        else:
            seen = {q.triple for q in self.store.quads_for_pattern(None, None, None, None)}
            kwargs = {"prefixes": PREFIXES} if fmt in ("turtle", "rdfxml") else {}
            data = ox.serialize(seen, format=fmt_ox, **kwargs)
        out.write(data)

    def close(self) -> None:
        self._store = None
        if self._lock is not None:
            self._lock.close()  # releases the writer lock
            self._lock = None
