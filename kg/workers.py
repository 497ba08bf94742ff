"""Query execution with a time limit and a row cap.

pyoxigraph (and rdflib) have no query timeout and no cancellation, so the
only way to stop a runaway query is to run it in a process that can be
killed. :class:`QueryPool` keeps ``size`` worker processes (``spawn``
context), each holding the store's published release open read-only:

* a request takes an idle worker, sends it a :class:`QueryJob` and waits at
  most the time limit for the serialized answer (bytes);
* a worker past the limit is killed and a fresh one is started in the
  background; the request gets :class:`~kg.errors.QueryTimeout`, and the other
  workers keep answering meanwhile;
* before each query a worker checks ``current`` and reopens the store when a
  new release was published.

The time limit is wall-clock per request and includes waiting for a free
worker; when none frees up in time the request gets :class:`WorkersBusy`.

Row cap: a SELECT (or the triples of a CONSTRUCT/DESCRIBE) is cut after
``max_rows`` results and the outcome says ``truncated``; the first rows are
kept in the query's order. Results are serialized natively by Oxigraph.

:class:`InProcessExecutor` runs queries in the calling process for stores
that have no release to share (``memory:``): row cap yes, time limit no.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NoReleaseError, QueryError, QueryRefused, QueryTimeout, StoreError, TkgError

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from .stores import Store

RESULT_FORMATS = ("json", "xml", "csv", "tsv")
GRAPH_FORMATS = ("turtle", "nt", "jsonld", "rdfxml", "nquads", "trig")
_ERRORS: dict[str, type[TkgError]] = {
    cls.__name__: cls for cls in (QueryError, QueryRefused, QueryTimeout, StoreError, NoReleaseError, TkgError)
}
MEMORY_MESSAGE = "query needs too much memory: it was stopped and its worker replaced; add LIMIT or make the patterns more selective"


class WorkersBusy(QueryError):
    """No query worker became free in time (503 with ``retry_after``)."""

    retry_after = 5


class TooManyQueries(QueryError):
    """The client already has its share of queries running or queued (429)."""

    retry_after = 1


class QueryPreempted(WorkersBusy):
    """The query ran long while quicker queries waited; it was stopped to give its worker back (503)."""


class QueryTooLarge(QueryError):
    """The query needed more memory than a worker may use (503); its worker was replaced."""


#: Niceness of query workers: the serving process (pages) and a shipped query get the CPU first.
WORKER_NICENESS = 10


def default_worker_memory(workers: int) -> int:
    """Address-space cap per query worker in MiB: a quarter of the machine's memory shared by the
    workers (the rest stays for the serving process, ingest and the page cache), at least 1 GiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 0
    return max(1024, total // 4 // max(1, workers))


@dataclass(eq=False)
class Ticket:
    """A query's hold on a worker slot (see :meth:`Admission.slot`)."""

    lane: str
    shipped: bool
    started: float
    cancel: threading.Event = field(default_factory=threading.Event)


class Admission:
    """Who may take a query worker, and for how long they may wait for one.

    Held in the serving process, in front of the pool (``slot()`` around each
    /sparql query). A client is a key (its address). Rules, checked together:

    * a client has at most ``per_client`` queries running or waiting (more:
      :class:`TooManyQueries`, 429 at once);
    * ``reserved`` slots are kept for the shipped named queries: other queries
      use at most ``general`` slots, so the competency queries still answer
      when every general slot is taken;
    * *heavy* clients share at most ``heavy_slots`` general slots. A client is
      heavy while the worker-seconds its own (not shipped) queries took, decaying with a
      half-life of ``half_life`` seconds, are ``heavy_seconds`` or more: a
      client that keeps running slow or runaway queries competes with its
      like for one slot, the other slots stay for quick queries;
    * a query that finds no slot within ``queue_timeout`` seconds gets
      :class:`WorkersBusy` (503 with Retry-After), and so does one that finds
      ``max_waiting`` queries already waiting (each waiting query holds an
      HTTP thread: the bound keeps threads free for pages).

    * a quick client waiting for a general slot takes one back: the longest
      query (not a shipped one) that has run ``preempt_after`` seconds or
      more is stopped (its worker killed and replaced, its client gets
      :class:`QueryPreempted`, 503) and the waiting query gets the slot. So
      runaway queries of clients not yet known as heavy hold the workers for
      ``preempt_after`` seconds, not for the whole time limit, while others wait.
    """

    def __init__(
        self,
        general: int,
        *,
        reserved: int = 1,
        per_client: int = 1,
        queue_timeout: float = 5.0,
        heavy_seconds: float = 2.0,
        half_life: float = 60.0,
        max_waiting: int | None = None,
        preempt_after: float | None = 2.0,
        clock: Any = time.monotonic,
    ):
        self.general = max(1, general)
        self.reserved = max(0, reserved)
        self.per_client = max(1, per_client)
        self.queue_timeout = queue_timeout
        self.heavy_seconds = heavy_seconds
        self.half_life = half_life
        self.heavy_slots = max(1, self.general // 2)
        self.max_waiting = 4 * self.general if max_waiting is None else max_waiting
        self._waiting = 0
        self.preempt_after = preempt_after
        self._tickets: set[Ticket] = set()
        self._clock = clock
        self._cond = threading.Condition()
        self._clients: dict[str, int] = {}  # queries running or waiting, per client
        self._usage: dict[str, tuple[float, float]] = {}  # client -> (decayed worker-seconds, when)
        self._running = {"general": 0, "reserved": 0, "heavy": 0}
        self.refused = Counter()  # reason -> count, for the docs' figures and tests

    def usage(self, client: str) -> float:
        value, when = self._usage.get(client, (0.0, 0.0))
        return value * 0.5 ** ((self._clock() - when) / self.half_life) if value else 0.0

    def _charge(self, client: str, seconds: float) -> None:
        self._usage[client] = (self.usage(client) + seconds, self._clock())
        if len(self._usage) > 10_000:  # bounded: forget the lightest
            for key, _ in sorted(self._usage.items(), key=lambda kv: kv[1][0])[:1000]:
                del self._usage[key]

    def _take(self, heavy: bool, shipped: bool) -> str | None:
        if shipped and self._running["reserved"] < self.reserved:
            return "reserved"  # the shipped queries use their own worker first, and leave the others to the rest
        if heavy and self._running["heavy"] >= self.heavy_slots:
            return None
        if self._running["general"] < self.general:
            return "general"
        return None

    def _preempt(self) -> None:
        """Take a general worker back for a quick client that waits: stop the longest-running query that
        is not a shipped one and has run ``preempt_after`` seconds or more (its client gets 503)."""
        now = time.monotonic()
        victims = [t for t in self._tickets if t.lane == "general" and not t.shipped and not t.cancel.is_set()]
        victims = [t for t in victims if now - t.started >= self.preempt_after]
        if victims:
            victim = min(victims, key=lambda t: t.started)
            victim.cancel.set()
            self.refused["preempted"] += 1

    @contextlib.contextmanager
    def slot(self, client: str, *, shipped: bool = False):
        """Hold a worker slot for one query; yields a :class:`Ticket` (its ``cancel`` event is set when
        the query must give its worker back to a quicker client)."""
        with self._cond:
            if self._clients.get(client, 0) >= self.per_client:
                self.refused["client"] += 1
                raise TooManyQueries(
                    f"too many queries at once: each client may have {self.per_client} SPARQL "
                    f"quer{'y' if self.per_client == 1 else 'ies'} running or waiting; wait for the answer before sending the next"
                )
            self._clients[client] = self._clients.get(client, 0) + 1
            try:
                heavy = self.usage(client) >= self.heavy_seconds
                deadline = time.monotonic() + self.queue_timeout
                lane = self._take(heavy, shipped)
                if lane is None and self._waiting >= self.max_waiting:
                    self.refused["queue"] += 1
                    raise WorkersBusy(f"all query workers are busy and {self._waiting} queries are waiting; try again shortly")
                self._waiting += lane is None
                while lane is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._waiting -= 1
                        self.refused["heavy" if heavy else "busy"] += 1
                        raise WorkersBusy(
                            f"all query workers are busy; no worker became free within {self.queue_timeout:g} s"
                            + (" (this client's recent queries were slow: it shares one worker with other slow clients)" if heavy else "")
                            + ", try again shortly"
                        )
                    if not heavy and self.preempt_after is not None:
                        self._preempt()
                    self._cond.wait(min(left, 0.25))  # running times grow without a notification: look again
                    lane = self._take(heavy, shipped)
                    if lane is not None:
                        self._waiting -= 1
                self._running[lane] += 1
                if heavy:
                    self._running["heavy"] += 1
                ticket = Ticket(lane, shipped, time.monotonic())
                self._tickets.add(ticket)
            except BaseException:
                self._release_client(client)
                raise
        started = self._clock()
        try:
            yield ticket
        finally:
            with self._cond:
                self._tickets.discard(ticket)
                self._running[lane] -= 1
                if heavy:
                    self._running["heavy"] -= 1
                if not shipped:  # the shipped queries are ours: running them does not make a client heavy
                    self._charge(client, self._clock() - started)
                self._release_client(client)
                self._cond.notify_all()

    def _release_client(self, client: str) -> None:
        left = self._clients.get(client, 0) - 1
        if left > 0:
            self._clients[client] = left
        else:
            self._clients.pop(client, None)


@dataclass(frozen=True)
class QueryJob:
    """One query to run. Graph IRIs are strings.

    ``default_graphs``/``named_graphs``: the dataset (from the protocol's
    default-graph-uri/named-graph-uri, else from the query's FROM/FROM NAMED);
    ``None`` for both means the default graph is the union of all graphs.
    ``required_graphs``: IRIs that must be graphs of the store (the query's
    FROM/FROM NAMED), else the job is refused; nothing is ever fetched.
    ``max_rows``: 0 for no cap.
    """

    sparql: str
    fmt: str
    default_graphs: tuple[str, ...] | None = None
    named_graphs: tuple[str, ...] | None = None
    required_graphs: tuple[str, ...] = ()
    max_rows: int = 0
    base: str | None = None  # base IRI for relative IRIs in the query (the endpoint's URL)


@dataclass(frozen=True)
class QueryOutcome:
    kind: str  # "select", "ask" or "graph"
    body: bytes
    truncated: bool = False
    count: int | None = None  # rows or triples written (None for ASK)


# -- execution on an Oxigraph store (runs inside a worker) -------------------
@dataclass(frozen=True)
class EndpointJob:
    """A request to the SPARQL endpoint, analyzed and run in one worker call.

    ``formats``: result format per kind of answer ("select", "ask", "graph")
    that the client accepts; a kind missing from it is not acceptable (the
    endpoint answers 406 once the worker says which kind the query is).
    ``default_graphs``/``named_graphs``: the protocol's default-graph-uri and
    named-graph-uri (None when not given: then the query's FROM clauses, else
    the union of all graphs).
    """

    sparql: str
    formats: dict[str, str]
    default_graphs: tuple[str, ...] | None = None
    named_graphs: tuple[str, ...] | None = None
    max_rows: int = 0
    base: str | None = None


def plan(job: EndpointJob) -> tuple[str, QueryJob | None]:
    """Parse and check the query (SERVICE/LOAD refused, syntax errors with
    their position), and the QueryJob that answers it in the accepted format
    (None when the client accepts no format for this kind of answer)."""
    from .sparql_guard import analyze_query

    analysis = analyze_query(job.sparql)
    kind = analysis.form if analysis.form in ("select", "ask") else "graph"
    fmt = job.formats.get(kind)
    if fmt is None:
        return kind, None
    text = analysis.text  # what was checked is what runs, never the text as received
    if job.default_graphs is not None or job.named_graphs is not None:  # the protocol dataset overrides FROM
        query = QueryJob(text, fmt, job.default_graphs or (), job.named_graphs or (), max_rows=job.max_rows, base=job.base)
    elif analysis.has_dataset_clause:
        required = analysis.from_graphs + analysis.from_named
        query = QueryJob(text, fmt, analysis.from_graphs, analysis.from_named, required, job.max_rows, job.base)
    else:
        query = QueryJob(text, fmt, max_rows=job.max_rows, base=job.base)
    return kind, query


def _term_tsv(term: Any) -> str:
    import pyoxigraph as ox

    if term is None:
        return ""
    if isinstance(term, ox.Triple):
        return f"<< {_term_tsv(term.subject)} {_term_tsv(term.predicate)} {_term_tsv(term.object)} >>"
    return str(term)


def serialize_solutions(names: list[str], rows: Any, fmt: str) -> bytes:
    """Serialize solutions (lists of pyoxigraph terms or None) natively.

    Oxigraph cannot serialize a list of solutions directly: the rows go
    through TSV (terms in N-Triples syntax, lossless) and are parsed back."""
    import pyoxigraph as ox

    from .stores.oxigraph import _RESULT_FORMATS

    if fmt not in _RESULT_FORMATS:
        raise QueryError(f"cannot write a SELECT result as {fmt!r}", expected=", ".join(RESULT_FORMATS))
    lines = ["\t".join(f"?{n}" for n in names)]
    lines.extend("\t".join(_term_tsv(term) for term in row) for row in rows)
    solutions = ox.parse_query_results("\n".join(lines).encode("utf-8") + b"\n", format=ox.QueryResultsFormat.TSV)
    return solutions.serialize(format=_RESULT_FORMATS[fmt])


def serialize_boolean(value: bool, fmt: str) -> bytes:
    import pyoxigraph as ox

    from .stores.oxigraph import _RESULT_FORMATS

    if fmt not in ("json", "xml"):
        raise QueryError(f"cannot write an ASK result as {fmt!r}", expected="json or xml")
    answer = ox.parse_query_results(b'{"head":{},"boolean":%s}' % (b"true" if value else b"false"), format=ox.QueryResultsFormat.JSON)
    return answer.serialize(format=_RESULT_FORMATS[fmt])


def serialize_triples(triples: list[Any], fmt: str) -> bytes:
    """Serialize pyoxigraph triples natively (Turtle, TriG and RDF/XML with the project's prefixes)."""
    import pyoxigraph as ox

    from .namespaces import PREFIXES
    from .stores.oxigraph import RDF_FORMATS

    if fmt not in RDF_FORMATS:
        raise QueryError(f"cannot write a graph result as {fmt!r}", expected=", ".join(GRAPH_FORMATS))
    if fmt in ("turtle", "trig", "rdfxml"):
        return ox.serialize(triples, format=RDF_FORMATS[fmt], prefixes=dict(PREFIXES))
    return ox.serialize(triples, format=RDF_FORMATS[fmt])


def _check_required(ox_store: Any, job: QueryJob) -> None:
    import pyoxigraph as ox

    missing = [iri for iri in job.required_graphs if not ox_store.contains_named_graph(ox.NamedNode(iri))]
    if missing:
        shown = ", ".join(f"<{iri}>" for iri in dict.fromkeys(missing))
        raise QueryRefused(
            f"FROM {shown} names no graph of this store; the server never fetches graphs from URLs. "
            "List the graphs with SELECT DISTINCT ?g WHERE { GRAPH ?g {} }"
        )


def execute_oxigraph(ox_store: Any, job: QueryJob) -> QueryOutcome:
    """Run ``job`` on a pyoxigraph Store and serialize the answer natively."""
    import pyoxigraph as ox

    from .stores.oxigraph import _RESULT_FORMATS, syntax_message

    _check_required(ox_store, job)
    kwargs: dict[str, Any] = {"base_iri": job.base} if job.base else {}
    if job.default_graphs is None and job.named_graphs is None:
        kwargs["use_default_graph_as_union"] = True
    else:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in job.default_graphs or ()]
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in job.named_graphs or ()]
    try:
        result = ox_store.query(job.sparql, **kwargs)
        if isinstance(result, ox.QueryBoolean):
            if job.fmt not in ("json", "xml"):
                raise QueryError(f"cannot write an ASK result as {job.fmt!r}", expected="json or xml")
            return QueryOutcome("ask", result.serialize(format=_RESULT_FORMATS[job.fmt]))
        cap = job.max_rows if job.max_rows > 0 else None
        if isinstance(result, ox.QuerySolutions):
            names = [v.value for v in result.variables]
            rows = list(itertools.islice(result, cap + 1 if cap else None))
            truncated = cap is not None and len(rows) > cap
            rows = rows[:cap] if truncated else rows
            body = serialize_solutions(names, ([row[n] for n in names] for row in rows), job.fmt)
            return QueryOutcome("select", body, truncated, len(rows))
        triples = list(itertools.islice(result, cap + 1 if cap else None))
        truncated = cap is not None and len(triples) > cap
        triples = triples[:cap] if truncated else triples
        return QueryOutcome("graph", serialize_triples(triples, job.fmt), truncated, len(triples))
    except SyntaxError as exc:
        raise QueryError(f"SPARQL syntax error: {syntax_message(exc)}") from None
    except OSError:
        raise StoreError("the store could not be read") from None
    except (ValueError, RuntimeError) as exc:
        raise QueryError(f"query failed: {' '.join(str(exc).split())[:300]}") from None


def limit_memory(mib: int) -> str | None:
    """Cap this process's address space at ``mib`` MiB (RLIMIT_AS); a reason when it cannot."""
    if mib <= 0:
        return None
    try:
        import resource

        limit = mib * 1024 * 1024
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError) as exc:
        return f"no memory cap ({exc})"
    return None


def _worker_main(conn: Connection, store_url: str, isolate: bool = True, memory: int = 0) -> None:
    """A worker process: answer jobs until the pipe closes or None arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    with contextlib.suppress(OSError, AttributeError):
        os.nice(WORKER_NICENESS)  # the serving process answers pages first
    # First, before anything can start a thread: no network from here on, so a
    # SERVICE or LOAD that ever got past the guard reaches nothing (kg.sandbox).
    from .sandbox import isolate_network

    isolation = isolate_network() if isolate else "network isolation turned off"
    from .stores.oxigraph import DirectoryStore


    store: DirectoryStore | None = None
    current = Path(store_url).expanduser() / "current"
    seen: str | None = None  # where `current` pointed when the store was last opened or refreshed

    def open_store() -> DirectoryStore:
        nonlocal store, seen
        # one readlink per query; the full check (resolving the path) only when the link changed:
        # it cost about 0.3 ms of a 1-2 ms query (releases are immutable folders with unique names)
        try:
            link: str | None = os.readlink(current)
        except OSError:
            link = None
        if store is None:
            store = DirectoryStore(store_url, mode="read")
        elif link is None or link != seen:
            store.refresh()
        seen = link
        return store

    with contextlib.suppress(TkgError):  # warm up: open now if a release exists
        open_store()
    # and import the guard and build rdflib's query grammar now (about 1 s of one core): otherwise
    # the first query of every fresh worker, a replacement after a timeout too, pays it within its time limit
    from .sparql_guard import analyze_query

    with contextlib.suppress(TkgError):
        analyze_query("ASK {}")
    # after the imports and the store's opening (RocksDB starts threads, whose stacks count against
    # RLIMIT_AS: under a small cap opening could fail): what a query allocates is what the cap catches
    limit_memory(memory)
    conn.send(("ready", isolation))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            if job == "graphs":
                reply: tuple[Any, ...] = ("ok", open_store().graph_names())
            elif isinstance(job, EndpointJob):
                kind, query = plan(job)
                reply = ("ok", (kind, execute_oxigraph(open_store().store, query) if query else None))
            else:
                reply = ("ok", execute_oxigraph(open_store().store, job))
        except TkgError as exc:
            reply = ("error", type(exc).__name__, exc.message)
        except OSError:
            reply = ("error", "StoreError", "the store could not be read")
        except RecursionError:
            reply = ("error", "QueryError", "the query is nested too deeply")
        except MemoryError:
            reply = ("memory",)  # the parent replaces this worker: its heap may be in any state
        except Exception as exc:  # noqa: BLE001 - whatever a request does, the worker answers and lives on
            reply = ("error", "QueryError", f"the query failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


class _Worker:
    def __init__(self, ctx: Any, store_url: str, isolate: bool = True, memory: int = 0):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, store_url, isolate, memory), daemon=True, name="tkg-query-worker")
        self.process.start()
        child.close()
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.isolation: str | None = None  # why the worker can still reach the network (None: it cannot)

    def wait_ready(self, timeout: float) -> bool:
        try:
            if not self.conn.poll(timeout):
                return False
            message = self.conn.recv()
        except (EOFError, OSError):
            return False
        if not (isinstance(message, tuple) and message and message[0] == "ready"):
            return False
        self.isolation = message[1] if len(message) > 1 else "unknown"
        return True

    def stop(self, kill: bool = False) -> None:
        """Stop the process and close the pipe; safe to call twice or from two threads."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            if not kill:
                with contextlib.suppress(OSError, ValueError):
                    self.conn.send(None)
                self.process.join(2)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
            self.conn.close()
            with contextlib.suppress(ValueError):
                self.process.close()


class QueryPool:
    """Worker processes for one directory store; thread-safe, started lazily."""

    def __init__(
        self,
        store_url: str,
        *,
        size: int = 2,
        timeout: float = 10.0,
        start_method: str = "spawn",
        isolate_network: bool = True,
        memory: int | None = None,
    ):
        """``isolate_network``: workers drop network access at start (:mod:`kg.sandbox`);
        False only for tests that show what the isolation prevents. ``memory``: address-space
        cap per worker in MiB (None: :func:`default_worker_memory`; 0: none)."""
        if size < 1:
            raise StoreError("the query pool needs at least one worker", expected="workers >= 1")
        self.store_url = store_url
        self.size = size
        self.timeout = timeout
        self._ctx = multiprocessing.get_context(start_method)
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._respawns: list[threading.Thread] = []
        self.restarts = 0  # workers replaced after a timeout or a crash
        self.isolate_network = isolate_network
        self.memory = default_worker_memory(size) if memory is None else memory
        #: Why the workers can still open network connections; None when they cannot
        #: (known once the pool has started; `tkg serve` prints it at start-up).
        self.network_exposure: str | None = None

    def start(self) -> QueryPool:
        """Start the workers (idempotent) and wait until they are ready."""
        with self._lock:
            if self._started or self._closed:
                return self
            self._started = True
            workers = [_Worker(self._ctx, self.store_url, self.isolate_network, self.memory) for _ in range(self.size)]
            self._all.update(workers)
        for worker in workers:
            self._admit(worker)
        return self

    def _admit(self, worker: _Worker) -> None:
        if worker.wait_ready(60) and not self._closed:
            if worker.isolation is not None:
                self.network_exposure = worker.isolation
            self._idle.put(worker)
            return
        self._discard(worker, kill=True)
        if not self._closed:
            raise StoreError("a query worker failed to start")

    def _discard(self, worker: _Worker, kill: bool) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.stop(kill=kill)

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start a fresh one in the background."""
        self.restarts += 1
        self._discard(worker, kill=True)

        def spawn() -> None:
            with self._lock:
                if self._closed:
                    return
                fresh = _Worker(self._ctx, self.store_url, self.isolate_network, self.memory)
                self._all.add(fresh)
            with contextlib.suppress(StoreError):
                self._admit(fresh)

        thread = threading.Thread(target=spawn, name="tkg-worker-respawn", daemon=True)
        with self._lock:
            self._respawns = [t for t in self._respawns if t.is_alive()] + [thread]
        thread.start()

    def _call(self, message: Any, timeout: float | None, cancel: threading.Event | None = None) -> Any:
        if self._closed:
            raise StoreError("the query pool is closed")
        self.start()
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        try:
            worker = self._idle.get(timeout=max(limit, 0.001))
        except queue.Empty:
            raise WorkersBusy(
                f"all query workers are busy; no worker became free within the time limit of {limit:g} s, try again shortly"
            ) from None
        try:
            worker.conn.send(message)
            ready = False
            while not ready:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if cancel is not None and cancel.is_set():
                    self._replace(worker)
                    raise QueryPreempted(
                        "query stopped to give its worker to quicker queries: it ran long while others waited; "
                        "add LIMIT, make the patterns more selective, or retry when the endpoint is quieter"
                    )
                ready = worker.conn.poll(min(left, 0.1) if cancel is not None else left)
            reply = worker.conn.recv() if ready else None
        except (EOFError, OSError, ValueError):
            self._replace(worker)
            # a worker dies during a query when an allocation fails under its memory cap (Oxigraph aborts)
            raise QueryTooLarge(MEMORY_MESSAGE) from None
        if reply is None:
            self._replace(worker)
            raise QueryTimeout(
                f"query timeout: the query ran longer than the time limit of {limit:g} s and was stopped; "
                "add LIMIT, make the patterns more selective or avoid cartesian products"
            )
        if reply[0] == "memory":
            self._replace(worker)
            raise QueryTooLarge(MEMORY_MESSAGE)
        self._idle.put(worker)
        if reply[0] == "error":
            raise _ERRORS.get(reply[1], QueryError)(reply[2])
        return reply[1]

    def run(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        return self._call(job, timeout)

    def graph_names(self, timeout: float | None = None) -> list[str]:
        return self._call("graphs", timeout)

    def run_endpoint(
        self, job: EndpointJob, timeout: float | None = None, cancel: threading.Event | None = None
    ) -> tuple[str, QueryOutcome | None]:
        """Analyze and run an endpoint request in one worker call, under the time limit
        (stopped early when ``cancel`` is set: :class:`QueryPreempted`).

        rdflib's parser is pure Python: a huge query (a VALUES block of half a
        megabyte) takes seconds. In a worker it cannot hold the web process's
        GIL, and a parse that outlives the limit is stopped like a query that
        does (503). One call, not two: a worker is taken from the pool once.
        """
        return self._call(job, timeout, cancel)

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(w.process.pid for w in self._all if w.process.pid is not None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            respawns = list(self._respawns)
        for thread in respawns:  # let a replacement being started finish first
            thread.join(30)
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop()

    def __enter__(self) -> QueryPool:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- in-process execution (memory: stores, tests) ----------------------------
class InProcessExecutor:
    """Runs jobs in the calling thread: row cap yes, time limit no.

    For an rdflib-backed store (``memory:``) the dataset clause is applied
    here and stripped from the query, so rdflib never fetches FROM IRIs.
    """

    def __init__(self, store: Store):
        self.store = store

    def graph_names(self, timeout: float | None = None) -> list[str]:
        return self.store.graph_names()

    def run_endpoint(self, job: EndpointJob, timeout: float | None = None) -> tuple[str, QueryOutcome | None]:
        kind, query = plan(job)
        return kind, (self.run(query, timeout) if query else None)

    def run(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        from .stores.memory import MemoryStore

        native = self.store.native()
        if native is not None:  # an embedded Oxigraph store
            return execute_oxigraph(native, job)
        if not isinstance(self.store, MemoryStore):  # rdflib's dataset (tests), the one other in-process engine
            raise StoreError(f"the SPARQL endpoint cannot run queries on a {type(self.store).__name__}")
        known = set(self.store.graph_names())
        missing = [iri for iri in job.required_graphs if iri not in known]
        if missing:
            shown = ", ".join(f"<{iri}>" for iri in dict.fromkeys(missing))
            raise QueryRefused(f"FROM {shown} names no graph of this store; the server never fetches graphs from URLs")
        return execute_rdflib(self.store.dataset, job)

    def close(self) -> None:
        pass


# -- a remote SPARQL server (the web app holds no state) ----------------------
class RemoteExecutor:
    """Forwards jobs to the remote SPARQL server of a :class:`RemoteStore`.

    The web app keeps no graph state, so it can run as many processes and
    machines as the server allows. The time limit is the HTTP timeout of the
    request (the server's own limit applies too); the row cap is applied to
    the parsed answer. The protocol's ``default-graph-uri``/``named-graph-uri``
    are refused (servers scope them differently); FROM clauses are checked
    against the server's graphs and then passed on.
    """

    def __init__(self, store: Store):
        self.store = store

    def graph_names(self, timeout: float | None = None) -> list[str]:
        return self.store.graph_names()

    def run_endpoint(self, job: EndpointJob, timeout: float | None = None) -> tuple[str, QueryOutcome | None]:
        kind, query = plan(job)
        return kind, (self.run(query, timeout) if query else None)

    def run(self, job: QueryJob, timeout: float | None = None) -> QueryOutcome:
        if job.default_graphs is not None and not job.required_graphs or job.named_graphs and not job.required_graphs:
            raise QueryRefused(
                "default-graph-uri and named-graph-uri are not supported when serving a remote SPARQL server: "
                "write FROM <graph> or GRAPH <graph> in the query"
            )
        known = set(self.store.graph_names())
        missing = [iri for iri in job.required_graphs if iri not in known]
        if missing:
            shown = ", ".join(f"<{iri}>" for iri in dict.fromkeys(missing))
            raise QueryRefused(f"FROM {shown} names no graph of this store; the server never fetches graphs from URLs")
        previous = getattr(self.store, "timeout", None)
        if timeout is not None and previous is not None:
            self.store.timeout = timeout  # type: ignore[attr-defined]
        try:
            result = self.store.query(job.sparql)
        finally:
            if previous is not None:
                self.store.timeout = previous  # type: ignore[attr-defined]
        cap = job.max_rows if job.max_rows > 0 else None
        truncated = False
        if result.kind == "select" and cap is not None and len(result.rows) > cap:
            result.rows, truncated = result.rows[:cap], True
        elif result.kind == "graph" and cap is not None and len(result.triples) > cap:
            result.triples, truncated = result.triples[:cap], True
        return QueryOutcome(result.kind, result.serialize(job.fmt), truncated, len(result))

    def close(self) -> None:
        pass


def execute_rdflib(dataset: Any, job: QueryJob) -> QueryOutcome:
    """Run ``job`` with rdflib's engine over an rdflib Dataset (memory: stores).

    The query's own dataset clause is removed before evaluation (rdflib would
    fetch FROM IRIs); the dataset the job names is assembled here from graphs
    already in ``dataset``.
    """
    import warnings

    import pyoxigraph as ox
    from pyparsing import ParseBaseException
    from rdflib import Dataset, Graph, URIRef
    from rdflib.plugins.sparql import prepareQuery
    from rdflib.plugins.sparql.evaluate import evalPart
    from rdflib.plugins.sparql.processor import SPARQLResult
    from rdflib.plugins.sparql.sparql import QueryContext

    from .stores.oxigraph import to_oxigraph

    try:
        prepared = prepareQuery(job.sparql, base=job.base)
    except ParseBaseException as exc:
        raise QueryError(f"SPARQL syntax error at line {exc.lineno}, column {exc.col}: {exc.msg}") from None
    prepared.algebra["datasetClause"] = None  # never let rdflib load FROM IRIs
    cap = job.max_rows if job.max_rows > 0 else None
    with warnings.catch_warnings():
        # rdflib's own GRAPH evaluation calls its deprecated Dataset.contexts
        warnings.filterwarnings("ignore", message=r"Dataset\.(contexts|default_context) is deprecated", category=DeprecationWarning)
        if job.default_graphs is None and job.named_graphs is None:
            ctx = QueryContext(dataset, initBindings={})
        else:
            target = Dataset(default_union=False)
            default = Graph()
            for name in job.default_graphs or ():
                for triple in Graph(store=dataset.store, identifier=URIRef(name)):
                    default.add(triple)
            for name in job.named_graphs or ():
                named = target.graph(URIRef(name))
                for triple in Graph(store=dataset.store, identifier=URIRef(name)):
                    named.add(triple)
            ctx = QueryContext(target, initBindings={})
            ctx.graph = default
        ctx.prologue = prepared.prologue
        result = SPARQLResult(evalPart(ctx, prepared.algebra))
        if result.type == "ASK":
            if job.fmt not in ("json", "xml"):
                raise QueryError(f"cannot write an ASK result as {job.fmt!r}", expected="json or xml")
            return QueryOutcome("ask", serialize_boolean(bool(result.askAnswer), job.fmt))
        if result.type == "SELECT":
            variables = [str(v) for v in result.vars or []]
            rows = list(itertools.islice(iter(result), cap + 1 if cap else None))
            truncated = cap is not None and len(rows) > cap
            rows = rows[:cap] if truncated else rows
            try:
                table = [[None if term is None else to_oxigraph(term) for term in row] for row in rows]
            except ValueError as exc:
                raise QueryError(f"the result holds an invalid RDF term: {exc}") from None
            return QueryOutcome("select", serialize_solutions(variables, table, job.fmt), truncated, len(rows))
        triples = list(itertools.islice(iter(result.graph or []), cap + 1 if cap else None))
        truncated = cap is not None and len(triples) > cap
        triples = triples[:cap] if truncated else triples
        try:
            converted = [ox.Triple(to_oxigraph(a), to_oxigraph(b), to_oxigraph(c)) for a, b, c in triples]
        except ValueError as exc:
            raise QueryError(f"the result holds an invalid RDF term: {exc}") from None
        return QueryOutcome("graph", serialize_triples(converted, job.fmt), truncated, len(triples))
