"""Release artifacts: what is computed once per published release and kept beside it.

A published release is immutable, so its name is a complete cache key. This
module is the one place that knows

* the **release key** of what a :class:`~kg.graph.KnowledgeGraph` serves now
  (:func:`release_key`; a reader follows a newer release first);
* the **cache directory** of a release, ``<store>/cache/<release>/``
  (:func:`cache_dir`), for stores that have releases;
* **atomic writes** of files there (:func:`write_json_atomic`: temp file, then
  rename) and versioned reads (:func:`read_json`);
* the **in-process memo** of values per release (:func:`memo`, a
  ``cachetools`` LRU keyed by the store object and the release);
* the **registry of precompute steps** that publishing runs after the store
  published (:func:`register`, :func:`on_publish`).

Layering: this module sits below the page views (:mod:`kg.views`) and the graph
explorer (:mod:`kg.graphview`), above :mod:`kg.stores`. The core
(:meth:`kg.graph.KnowledgeGraph.publish`) calls :func:`on_publish` and never
imports the layers above; their steps come from the ``tcell_kg.publish_steps``
entry points of the installed distributions (see ``pyproject.toml``) or from
:func:`register`. A step that fails is reported and skipped: the release stands,
and readers compute what is missing on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cachetools import LRUCache

from .errors import TkgError

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

#: Seconds a value computed for a store without releases is reused.
LIVE_TTL = 30.0
#: Values (pages, matrix cells, vocabularies ...) kept per process, least recently used dropped.
MEMO_SIZE = 512
#: Entry point group of the precompute steps run at publish.
ENTRY_POINT_GROUP = "tcell_kg.publish_steps"
CACHE = "cache"
#: Folder under the cache root for files that releases share (each release's
#: files list the ones they use; :func:`prune` leaves it alone).
SHARED = "shared"


# -- release key and cache folder -------------------------------------------------
def release_key(kg: KnowledgeGraph, *, exact: bool = False) -> str:
    """The name of the release ``kg`` serves now (after following a newer one).

    Stores without releases get ``live-...``: their quad count and a
    :data:`LIVE_TTL` time window; a remote server (where counting is a query
    over everything) only the time window, unless ``exact`` asks for the count
    (downloads, which must not be regenerated every window)."""
    store = kg.store
    store.refresh()
    release = store.release
    if release:
        return str(release)
    remote = store.is_remote
    if exact:
        return f"live-{store.count()}"
    window = int(time.monotonic() // LIVE_TTL)
    return f"live-t{window}" if remote else f"live-{store.count()}-{window}"


def is_release(key: str) -> bool:
    """True for the name of a published release (not a ``live-`` key)."""
    return bool(key) and not key.startswith("live-")


def cache_root(kg: KnowledgeGraph) -> Path | None:
    root = kg.store.local_root()
    return None if root is None else root / CACHE


def cache_dir(kg: KnowledgeGraph, release: str | None = None) -> Path | None:
    """``<store>/cache/<release>`` (default: the release ``kg`` serves) for a
    store with releases, else None."""
    base = cache_root(kg)
    if base is None:
        return None
    name = release or kg.store.release
    if not name or not is_release(name):
        return None
    return base / name


# -- files ------------------------------------------------------------------------
def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path``: a temp file beside it, then a rename,
    so a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path, version: int) -> dict[str, Any] | None:
    """The JSON object in ``path`` if it has ``"version": version``; None when
    missing, damaged or of another version (then it is computed again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == version else None


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` hold ``source``'s content: a hard link where the file
    system allows (artifacts are never modified in place), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


# -- in-process memo ----------------------------------------------------------------
class ReleaseMemo:
    """Values computed once per (store, release, key), least recently used
    dropped. ``compute`` runs outside the lock (it may use the memo itself,
    for other keys: an entity page's HTML asks for the page's data, pages ask
    for the vocabulary; no key's computation may ask for a key that asks for
    it, or both would wait); errors are not kept.

    Callers that ask for a key while it is being computed wait for that
    computation instead of starting their own: eight clients opening a page
    on its first view after a release (CAR-T's entity page computed from a
    store without summaries took over a minute at 1,000,000 studies) cost
    one computation, not eight side by side on two cores. If it fails, one of
    the waiters computes again."""

    def __init__(self, maxsize: int):
        self._cache: LRUCache[tuple[int, str, Hashable], Any] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self._pending: dict[tuple[int, str, Hashable], threading.Event] = {}

    def get(self, kg: KnowledgeGraph, key: Hashable, compute: Callable[[], Any], *, release: str | None = None) -> Any:
        full = (id(kg.store), release or release_key(kg), key)
        while True:
            with self._lock:
                try:
                    return self._cache[full]
                except KeyError:
                    pass
                pending = self._pending.get(full)
                if pending is None:
                    done = self._pending[full] = threading.Event()
            if pending is None:
                break
            pending.wait()  # then the value is kept (or was dropped, or its computation failed): look again
        try:
            result = compute()
            with self._lock:
                self._cache[full] = result
        finally:
            with self._lock:
                del self._pending[full]
            done.set()
        return result

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


_memo = ReleaseMemo(MEMO_SIZE)


def memo(kg: KnowledgeGraph, key: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per release for ``key`` (errors are not kept)."""
    return _memo.get(kg, key, compute)


def clear_memo() -> None:
    _memo.clear()


# -- precompute steps at publish ------------------------------------------------------
#: The steps' per-study index (SQLite), beside the release folders: the rows each
#: study contributes to what the steps store, as of the release in its meta table.
INDEX = "index.sqlite"
COMPLETE = "complete.json"


@dataclass
class Publication:
    """What a precompute step gets: the graph (reading the work store, whose
    content the new release holds), the new release's name and cache folder,
    the previous release's cache folder (None: recompute in full), the named
    graphs that changed since it (None: recompute in full) and ``index``, a
    SQLite connection inside the publication's transaction where a step keeps
    the per-study rows it maintains (its own tables, emptied when ``full``)."""

    kg: KnowledgeGraph
    release: str
    folder: Path
    previous: Path | None = None
    changed: set[str] | None = None
    index: sqlite3.Connection | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: What a step says about how it worked (e.g. that it converted an index of an earlier version).
    notes: list[str] = field(default_factory=list)

    @property
    def incremental(self) -> bool:
        return self.previous is not None and self.changed is not None

    @property
    def full(self) -> bool:
        return not self.incremental


Step = Callable[[Publication], None]
_registered: dict[str, Step] = {}


def register(name: str, step: Step | None = None) -> Any:
    """Register a precompute step (also usable as a decorator). Steps run in
    the order of their names."""

    def add(fn: Step) -> Step:
        _registered[name] = fn
        return fn

    return add(step) if step is not None else add


def unregister(name: str) -> None:
    _registered.pop(name, None)


def steps() -> dict[str, Step]:
    """The registered steps and those of the ``tcell_kg.publish_steps`` entry points."""
    found: dict[str, Step] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            found[entry.name] = entry.load()
        except (ImportError, AttributeError) as exc:
            print(f"tkg: publish step {entry.name!r} ({entry.value}) cannot be loaded: {exc}", file=sys.stderr)
    found.update(_registered)
    return dict(sorted(found.items()))


#: Graphs per VALUES list in one query of :func:`select`.
BATCH = 200
_IRI = re.compile(r"^[^\s<>\"{}|^`\\]+$")


def graph_batches(graphs: set[str] | None) -> Iterator[str]:
    """``VALUES ?g { ... }`` texts for ``graphs`` (one empty text: every graph).
    Graph names come from the store's change journal; any that could not be an
    IRI is refused rather than pasted into a query."""
    if graphs is None:
        yield ""
        return
    names = sorted(graphs)
    bad = [g for g in names if not _IRI.match(g)]
    if bad:
        raise TkgError(f"the change journal names a graph that is not an IRI: {bad[0][:80]!r}")
    for start in range(0, len(names), BATCH):
        yield "VALUES ?g { " + " ".join(f"<{g}>" for g in names[start : start + BATCH]) + " }"


def select(kg: KnowledgeGraph, sparql: str, graphs: set[str] | None) -> Iterator[dict[str, Any]]:
    """The rows of ``sparql`` for the named graphs ``graphs`` (None: all): the
    query says ``@VALUES@`` where the list of ``?g`` goes, in batches."""
    for values in graph_batches(graphs):
        yield from kg.query(sparql.replace("@VALUES@", values)).rows


def previous_release(kg: KnowledgeGraph, release: str) -> str | None:
    """The release published just before ``release`` (None for the first)."""
    releases = Path(kg.store.root) / "releases"  # type: ignore[attr-defined]
    if not releases.is_dir():
        return None
    earlier = sorted(p.name for p in releases.iterdir() if not p.name.startswith(".") and p.name < release)
    return earlier[-1] if earlier else None


def ensure_tables(db: sqlite3.Connection, tables: dict[str, str], *, drop: bool = False) -> bool:
    """Create a step's tables (name -> column definitions) in the index; with
    ``drop``, or where a table is missing or its columns differ (an older
    version of the step), start them all empty. Returns True if they were
    (re)created empty, so that the step must load every graph's rows."""
    fresh = drop
    for name, columns in tables.items():
        wanted = [c.split()[0] for c in columns.split(",")]
        have = [row[1] for row in db.execute(f"PRAGMA table_info({name})")]
        if have != wanted:
            fresh = True
    for name, columns in tables.items():
        if fresh:
            db.execute(f"DROP TABLE IF EXISTS {name}")
        db.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")
    return fresh


#: Columns of a table of running counts (:func:`add_counts`); give it a unique index on (kind, key).
COUNTS_COLUMNS = "kind TEXT, key TEXT, n INTEGER"


def _stored_key(key: str, hashed: bool) -> str | bytes:
    return hashlib.blake2b(key.encode("utf-8"), digest_size=12).digest() if hashed else key


def load_counts(db: sqlite3.Connection, table: str, kind: str, items: Iterable[tuple[str, int]], *, hashed: bool = False) -> None:
    """Insert the counts of ``kind`` into ``table`` where it has none (a full
    publish): (key, count) pairs, streamed (e.g. from a GROUP BY over the index)."""
    db.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", ((kind, _stored_key(key, hashed), n) for key, n in items if n))


def add_counts(
    db: sqlite3.Connection, table: str, kind: str, deltas: dict[str, int], *, fresh: bool = False, hashed: bool = False
) -> Counter[str]:
    """Add ``deltas`` (key -> change) to the running counts of ``kind`` in
    ``table`` (:data:`COUNTS_COLUMNS`, unique on kind and key; a count that falls
    to 0 is removed). Returns key -> 1 where a count rose from 0 and -1 where it
    fell to 0, so that a caller can count distinct keys in turn. ``fresh``: the
    counts are empty (a full publish), so every key is inserted at once.
    ``hashed``: store a 96-bit hash of each key instead of the key (for kinds
    that are only counted, never listed: keys of two IRIs each make the index
    several times larger)."""
    moved: Counter[str] = Counter()
    items = [(key, d) for key, d in deltas.items() if d]
    if fresh:
        load_counts(db, table, kind, items, hashed=hashed)
        moved.update({key: 1 for key, d in items if d > 0})
        return moved
    for key, d in items:
        skey = _stored_key(key, hashed)
        row = db.execute(f"SELECT n FROM {table} WHERE kind = ? AND key = ?", (kind, skey)).fetchone()
        old = row[0] if row else 0
        new = old + d
        if new < 0:
            raise TkgError(f"the publication index's count {kind} {key[:80]!r} went below zero (the next publish recomputes in full)")
        if new == 0:
            db.execute(f"DELETE FROM {table} WHERE kind = ? AND key = ?", (kind, skey))
        else:
            db.execute(f"INSERT INTO {table} VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET n = excluded.n", (kind, skey, new))
        if old == 0 < new:
            moved[key] += 1
        elif new == 0 < old:
            moved[key] -= 1
    return moved


def _open_index(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    return db


def on_publish(kg: KnowledgeGraph, release: str, changed: set[str] | None = None, *, full: bool = False) -> Publication | None:
    """Run every precompute step for the new ``release`` (after the store
    published it). ``changed``: the named graphs written or dropped since the
    previous release, None when unknown. Steps work incrementally when the
    previous release's steps completed, the index holds that release, and the
    ontology did not change; else (or with ``full``) in full. Returns what
    was run, with timings."""
    from .namespaces import ONTOLOGY_GRAPH

    folder = cache_dir(kg, release)
    base = cache_root(kg)
    if folder is None or base is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    db = _open_index(base / INDEX)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'release'").fetchone()
        before = previous_release(kg, release)
        usable = (
            not full
            and changed is not None
            and str(ONTOLOGY_GRAPH) not in changed
            and before is not None
            and row is not None
            and row[0] == before
            and (base / before / COMPLETE).is_file()
        )
        publication = Publication(kg, release, folder, base / before if usable and before else None, changed if usable else None, db)
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM meta WHERE key = 'release'")  # until every step has completed
        ok = True
        for name, step in steps().items():
            start = time.perf_counter()
            try:
                step(publication)
            except (OSError, TkgError, ValueError, KeyError, sqlite3.Error) as exc:  # the release stands; readers compute on first use
                ok = False
                print(f"tkg: could not precompute {name} for release {release}: {exc}", file=sys.stderr)
            publication.timings[name] = time.perf_counter() - start
        if ok:
            db.execute("INSERT INTO meta (key, value) VALUES ('release', ?)", (release,))
        db.execute("COMMIT")
    finally:
        db.close()
    if ok:
        write_json_atomic(folder / COMPLETE, {"release": release, "incremental": publication.incremental, "timings": publication.timings})
    prune(kg)
    return publication


def prune(kg: KnowledgeGraph) -> None:
    """Remove the cache folders of releases that no longer exist (not :data:`SHARED`)."""
    base = cache_root(kg)
    releases = Path(kg.store.root) / "releases"  # type: ignore[attr-defined]
    if base is None or not base.is_dir():
        return
    for folder in base.iterdir():
        if folder.is_dir() and folder.name != SHARED and not (releases / folder.name).is_dir():
            shutil.rmtree(folder, ignore_errors=True)
