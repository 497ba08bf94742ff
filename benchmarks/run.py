"""Benchmark runner: ingest throughput, CQ latency, startup and peak memory,
side by side on the same synthetic cards (kg.generate), for tcell-kg embedded,
rdflib's in-memory store (capped), Oxigraph server and Virtuoso (both through
kg.stores.remote, i.e. the same urllib HTTP client).

    python benchmarks/run.py --sizes 1000,10000 [--systems embedded,rdflib,oxigraph-server,virtuoso] [--out docs/benchmarks.md]
                             [--remote-load bulk|gsp|both]

The servers are loaded by their own bulk loaders by default (``--remote-load``):
Oxigraph server with ``oxigraph load`` before ``oxigraph serve`` (its time is
reported beside the embedded store's end-to-end ingest: the target is within
3x), Virtuoso with ``tkg ingest --bulk-dir`` (its bulk loader through isql).

Oxigraph server runs without ``--timeout-s``: with it, Oxigraph server 0.5
answered 500 ("Resource temporarily unavailable", os error 11) to about five
of six requests from the 8 HTTP clients, and its rate counted only the rest
(1,635 answers/s and 7,985 errors/s at 10,000 studies, against 4,633
answers/s and no errors without it, same data and client).

Figures, not tests: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pages import tree_hwm_mib  # noqa: E402  (benchmarks/pages.py, beside this file)
from servers import free_port  # noqa: E402  (tests/servers.py: the test servers' helpers)

from kg import KnowledgeGraph  # noqa: E402
from kg.errors import TkgError  # noqa: E402
from kg.generate import write_cards  # noqa: E402
from kg.queries import list_queries  # noqa: E402

CQS = [q for q in list_queries() if q.is_competency_question]
RDFLIB_CAP_S = 120.0


#: A query whose warm-up run takes longer than this is timed over 3 runs, not 5
#: (at 100,000 studies some take 20 s and more).
SLOW_WARMUP_S = 2.0
#: A query whose warm-up run takes longer than this is reported by that one run
#: (Virtuoso took minutes on some CQs at 100,000: five more runs would take most of an hour).
ONE_RUN_S = 30.0
#: Virtuoso's page buffers (8 KiB each) for the runner's server: the tier that the
#: virtuoso.ini shipped by Debian's virtuoso-opensource marks "8 GB system memory
#: free" (NumberOfBuffers 680000, MaxDirtyBuffers 500000). The test servers' 60,000
#: (about 470 MiB) made the bulk load at 100,000 studies thrash the disk.
VIRTUOSO_BUFFERS = 680_000


def median_latency(graph: KnowledgeGraph, sparql: str, runs: int = 5) -> float:
    start = time.perf_counter()
    graph.query(sparql)  # warm-up
    warmup = time.perf_counter() - start
    if warmup > ONE_RUN_S:
        return warmup
    if warmup > SLOW_WARMUP_S:
        runs = min(runs, 3)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        graph.query(sparql)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def no_figure(exc: Exception) -> str:
    """What a table shows for a query that gave no answer: the store's message, cut short."""
    return "no answer: " + " ".join(str(exc).split())[:80]


def first_runs(graph: KnowledgeGraph) -> dict[str, float | str]:
    """Each CQ once, in turn: a remote server's first runs after a load (Virtuoso's
    took 30-40 s each at 100,000 studies, its later runs a fraction of that), reported
    on their own so that :func:`cq_latencies` after them times warm runs."""
    out: dict[str, float | str] = {}
    for q in CQS:
        start = time.perf_counter()
        try:
            graph.query(q.sparql)
            out[q.title] = time.perf_counter() - start
        except TkgError as exc:
            out[q.title] = no_figure(exc)  # e.g. the server's own time limit
    return out


def cq_latencies(graph: KnowledgeGraph) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for q in CQS:
        try:
            out[q.title] = median_latency(graph, q.sparql)
        except TkgError as exc:
            out[q.title] = no_figure(exc)  # e.g. the store's own time limit
    return out


def startup_seconds(store: str) -> float:
    code = (
        "import time; t=time.perf_counter(); from kg import KnowledgeGraph; "
        f"g=KnowledgeGraph.open({store!r}); g.query('ASK {{ ?s ?p ?o }}'); print(time.perf_counter()-t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(done.stdout.strip())


def serving_rss_mib(store: str) -> float:
    """Peak RSS of a process that opens the release and answers every CQ once."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec, so a child
    # of this (large) process would report the parent's peak as its own.
    code = (
        "from kg import KnowledgeGraph; from kg.queries import list_queries; "
        f"g=KnowledgeGraph.open({store!r}); [g.query(q.sparql) for q in list_queries()]; "
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))/1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(done.stdout.strip())


RDFLIB_MEMORY_GIB = 8
#: rdflib: each CQ (warm-up and 3 runs) is stopped after this many seconds, and
#: no CQ is started after RDFLIB_CQS_CAP_S.
RDFLIB_CQ_CAP_S = 30
RDFLIB_CQS_CAP_S = 240


def rdflib_in_child(cards: Path, n: int) -> tuple[tuple | None, dict]:
    """rdflib's in-memory store, measured in a child process with an address-space
    limit (one CQ took 20 GB at 300 studies) and a time cap per step."""
    import json

    done = subprocess.run(
        [sys.executable, __file__, "--rdflib-child", str(cards), str(n)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    try:
        out = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        print(f"rdflib child failed: {done.stderr[-500:]}", file=sys.stderr)
        return None, {}
    return (tuple(out["ingest"]) if out["ingest"] else None), out["cq"]


def _rdflib_child(cards: Path, n: int) -> None:
    import json
    import signal

    limit = RDFLIB_MEMORY_GIB << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    class Late(Exception):
        pass

    def late(*_args: object) -> None:
        raise Late

    signal.signal(signal.SIGALRM, late)
    g = KnowledgeGraph.open("memory:", mode="write")
    start = time.perf_counter()
    loaded = 0
    for path in sorted(cards.iterdir()):
        if time.perf_counter() - start > RDFLIB_CAP_S:
            break
        loaded += g.ingest([path]).studies
    took = time.perf_counter() - start
    ingest = (loaded / took, None, took) if loaded == n else None
    cq: dict[str, float | str | None] = {}
    started = time.perf_counter()
    for q in CQS if ingest else []:
        if time.perf_counter() - started > RDFLIB_CQS_CAP_S:
            cq[q.title] = "not run (time cap)"
            continue
        signal.alarm(RDFLIB_CQ_CAP_S)
        try:
            cq[q.title] = median_latency(g, q.sparql, runs=3)
        except Late:
            cq[q.title] = f"> {RDFLIB_CQ_CAP_S} s"
        except MemoryError:
            cq[q.title] = f"> {RDFLIB_MEMORY_GIB} GiB"
        finally:
            signal.alarm(0)
    print(json.dumps({"ingest": ingest, "cq": cq}))


SMALL_SELECT = "PREFIX tkg: <https://w3id.org/tcell-kg/> SELECT ?s WHERE { ?s a tkg:Study } LIMIT 10"
HTTP_SECONDS = 10.0
HTTP_CLIENTS = 8


def http_throughput(url: str, seconds: float = HTTP_SECONDS, clients: int = HTTP_CLIENTS, accept: str = "*/*") -> dict:
    """Requests/s and latency of GET ``url`` from ``clients`` keep-alive threads for ``seconds``.

    Each thread is a client of its own: it connects from its own loopback address
    (127.0.0.2, 127.0.0.3, ...), so a server that admits a number of queries per
    client address (`tkg serve`'s ``client_queries``, 1 by default) sees eight
    clients with one request each in flight, not one client with eight."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(number: int) -> None:
        source = (f"127.0.0.{2 + number}", 0) if parts.hostname in ("127.0.0.1", "localhost") else None

        def connect() -> http.client.HTTPConnection:
            return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60, source_address=source)

        conn = connect()
        mine: list[float] = []
        failed = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                conn.request("GET", path, headers={"Accept": accept})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = connect()
            if ok:
                mine.append(time.perf_counter() - start)
            else:
                failed += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    if not latencies:
        return {"rps": 0.0, "p50": None, "p95": None, "errors": errors[0]}
    return {
        "rps": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2],
        "p95": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))],
        "errors": errors[0],
    }


def pages_table(store: str) -> str:
    """benchmarks/pages.py on the release: each page of issue 17 on a fresh `tkg
    serve`, its first view and later views (its table, as printed)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pages.py"), "--store", store, "--port", str(free_port())],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    return done.stdout if done.returncode == 0 else f"benchmarks/pages.py failed: {done.stderr.strip()[-500:]}"


def serve_and_measure(store: str, build_downloads: bool = True) -> dict:
    """Start `tkg serve` on the release (waitress, default workers) and measure
    /sparql with a small SELECT, the dashboard, a matrix cell, the entity page
    of CAR-T and the neighborhood of a CAR-T product in the graph explorer (first view and
    throughput)."""
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    # The release's download files first: `tkg serve` builds them in a background process when they
    # are missing (minutes at 10,000 studies, on the same cores), which would be measured as well.
    from kg.views.downloads import downloads

    start = time.perf_counter()
    if build_downloads:
        with KnowledgeGraph.open(store) as graph:
            downloads(graph)
    downloads_s = time.perf_counter() - start if build_downloads else None
    port = free_port()
    env = dict(os.environ, TKG_RATE_LIMIT="0")
    tkg = str(Path(sys.executable).with_name("tkg"))
    process = subprocess.Popen(
        [tkg, "serve", "--store", store, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/sparql?query=" + quote("ASK {}"), timeout=2).read()
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        out = {"sparql": http_throughput(base + "/sparql?query=" + quote(SMALL_SELECT), accept="application/sparql-results+json")}
        out["downloads_s"] = downloads_s
        # the dashboard (evidence matrix, counts) is computed at publish time
        out["dashboard"] = http_throughput(base + "/", accept="text/html")
        cell = base + "/matrix/CART/TumorMicroenvironmentBarrier"
        start = time.perf_counter()
        urllib.request.urlopen(cell, timeout=300).read()  # the cell's index is stored at publish; its first page is looked up
        out["cell_first_s"] = time.perf_counter() - start
        out["cell"] = http_throughput(cell, accept="text/html")
        try:
            start = time.perf_counter()
            # the first view is computed, then kept per release
            urllib.request.urlopen(base + "/entity/CART", timeout=300).read()
            out["entity_first_s"] = time.perf_counter() - start
            out["entity"] = http_throughput(base + "/entity/CART", accept="text/html")
        except (urllib.error.URLError, OSError):
            out["entity"] = None  # no entity page in this version
        import json

        # a CAR-T product of the data (the generated cards name products, not the modality)
        start = time.perf_counter()  # the projection is stored at publish; read once per process
        found = json.loads(urllib.request.urlopen(base + "/api/graph/nodes?q=CAR-T", timeout=600).read())["results"]
        product = next(r["id"] for r in found if r.get("category") == "Therapy")
        graph = base + "/api/graph/neighborhood?id=" + product
        urllib.request.urlopen(graph, timeout=600).read()
        out["graph_first_s"] = time.perf_counter() - start
        out["graph_node"] = product
        out["graph"] = http_throughput(graph, accept="application/json")
        out["memory_mib"] = tree_hwm_mib(process.pid)
        return out
    finally:
        process.terminate()
        process.wait(30)


def oxigraph_bulk_load(cards: list[Path], location: Path, folder: Path) -> tuple[float, float, int]:
    """The quads `tkg ingest` writes (the ontology graph and one graph per study),
    converted to N-Quads files (timed), then loaded by ``oxigraph load`` into an
    empty store at ``location`` (timed: Oxigraph's bulk loader, files in parallel).
    Returns (conversion s, load s, quads)."""
    import pyoxigraph as ox

    from kg.bulk import convert
    from kg.ontology import default_ontology
    from kg.stores.remote import ONTOLOGY_GRAPH_IRI

    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ontology = ox.Store()
    text = default_ontology().graph.serialize(format="nt", encoding="utf-8")
    ontology.load(text, ox.RdfFormat.N_TRIPLES, to_graph=ox.NamedNode(ONTOLOGY_GRAPH_IRI))
    files = [folder / "ontology.nq"]
    ontology.dump(str(files[0]), ox.RdfFormat.N_QUADS)
    quads = len(ontology)
    part = None
    for number, item in enumerate(convert(cards)):
        if number % 2000 == 0:
            if part is not None:
                part.close()
            files.append(folder / f"studies-{number // 2000:03d}.nq")
            part = open(files[-1], "wb")  # noqa: SIM115 - closed when the next part starts or after the loop
        assert part is not None
        part.write(item.nquads)
        quads += item.quads
    if part is not None:
        part.close()
    took_convert = time.perf_counter() - start
    binary = Path(sys.executable).with_name("oxigraph")
    start = time.perf_counter()
    location.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(binary), "load", "--location", str(location), "--file", *map(str, files)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"oxigraph load failed: {done.stderr[-500:]}")
    return took_convert, time.perf_counter() - start, quads


def bench_size(
    n: int,
    systems: list[str],
    work: Path,
    done: Callable[[dict], None] = lambda _r: None,
    remote_load: str = "bulk",
    downloads_max: int | None = None,
) -> dict:
    """Run every system at ``n`` studies; ``done(result)`` is called after each
    system, so a long run leaves its figures so far on disk."""
    cards = write_cards(work / f"cards-{n}", n, seed=n)
    result: dict = {"n": n, "ingest": {}, "cq": {}, "startup": None, "rss": None, "http": {}}
    if "embedded" in systems:
        store = str(work / f"var-{n}")
        start = time.perf_counter()
        with KnowledgeGraph.open(store, mode="write") as g:
            report = g.ingest(cards)
            loaded = time.perf_counter() - start
            release = g.publish()
        took = time.perf_counter() - start
        result["ingest"]["embedded"] = (report.studies / took, report.quads / took, took)
        import json

        complete = Path(store) / "cache" / str(release) / "complete.json"
        steps = json.loads(complete.read_text()).get("timings", {}) if complete.is_file() else {}
        result["publish"] = {"ingest_s": loaded, "publish_s": took - loaded, "steps": steps}
        with KnowledgeGraph.open(store) as g:
            result["cq"]["embedded"] = cq_latencies(g)
        result["startup"] = startup_seconds(store)
        result["rss"] = serving_rss_mib(store)
        result["http"]["embedded"] = serve_and_measure(store, build_downloads=downloads_max is None or n <= downloads_max)
        done(result)
        result["pages"] = pages_table(store)
        done(result)
    if "rdflib" in systems:
        ingest, cqs = rdflib_in_child(work / f"cards-{n}", n)
        result["ingest"]["rdflib"] = ingest
        result["cq"]["rdflib"] = cqs
        done(result)
    for name in ("oxigraph-server", "virtuoso"):
        if name not in systems:
            continue
        from servers import ServerUnavailable, start_oxigraph, start_virtuoso

        methods = ["gsp", "bulk"] if remote_load == "both" else [remote_load]
        server = None
        for method in methods:  # the last one's server is queried
            if server is not None:
                server.stop()
                server = None
            directory = work / f"{name}-{method}-{n}"
            label = f"{name} ({'Graph Store Protocol' if method == 'gsp' else 'bulk loader'})"
            try:
                if name == "oxigraph-server" and method == "bulk":
                    # Oxigraph's own bulk loader, offline, into the folder the server then opens
                    took_convert, took_load, quads = oxigraph_bulk_load(cards, directory / "db", work / f"nquads-{n}")
                    result["bulk"] = {"convert_s": took_convert, "load_s": took_load, "quads": quads}
                    server = start_oxigraph(directory, timeout_s=None)
                    took = took_convert + took_load
                    result["ingest"][label] = (n / took, quads / took, took)
                    continue
                server = (
                    start_oxigraph(directory, timeout_s=None)
                    if name == "oxigraph-server"
                    else start_virtuoso(directory, buffers=VIRTUOSO_BUFFERS)
                )
            except ServerUnavailable as exc:
                print(f"{name}: {exc}", file=sys.stderr)
                break
            options: dict = dict(server.options())
            if name == "virtuoso" and method == "bulk":
                # the runner's Virtuoso lists its own folder in DirsAllowed (tests/servers.py)
                (directory / "bulk").mkdir(exist_ok=True)
                options.update(bulk_dir=str(directory / "bulk"), isql=server.extra["sql_port"])
                os.environ.setdefault("TKG_ISQL_PASSWORD", "dba")  # the throw-away server's dba password
            start = time.perf_counter()
            with KnowledgeGraph.open(server.query_url, mode="write", **options) as g:
                report = g.ingest(cards)
            took = time.perf_counter() - start
            result["ingest"][label] = (report.studies / took, report.quads / took, took)
            if name == "virtuoso" and method == "bulk":
                # Restarted after its bulk load, as docs/remote-stores.md advises: right after a
                # load its plans differ from those after a restart (at 100,000 studies CQ12 gave
                # no answer within the client's time limit after every load, about 12 s after a
                # restart, and the abandoned runs kept it busy through the HTTP measurement).
                server.stop()
                try:
                    server = start_virtuoso(directory, buffers=VIRTUOSO_BUFFERS)
                except ServerUnavailable as exc:
                    print(f"{name}: restart after the load: {exc}", file=sys.stderr)
                    server = None
                    break
                result["restarted"] = True
        if server is None:
            continue
        try:
            time.sleep(2)  # Oxigraph server is slower right after a load (DESIGN.md)
            with KnowledgeGraph.open(server.query_url, **server.options()) as g:
                result.setdefault("cq_first", {})[name] = first_runs(g)
                result["cq"][name] = cq_latencies(g)
            from urllib.parse import quote

            # the server's own endpoint, same client and query as tkg serve's /sparql
            union = "union-default-graph&" if name == "oxigraph-server" else ""
            url = server.query_url + "?" + union + "query=" + quote(SMALL_SELECT)
            result["http"][name] = {"sparql": http_throughput(url, accept="application/sparql-results+json")}
        finally:
            server.stop()
        done(result)
    return result


def fmt_ms(value: float | str | None) -> str:
    if isinstance(value, str):
        return value  # why it has no figure, e.g. "> 120 s"
    return "n/a" if value is None else f"{value * 1000:,.1f}"


def _oxigraph_version() -> str:
    binary = Path(sys.executable).with_name("oxigraph")
    if not binary.exists():
        return "n/a"
    return subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip() or "n/a"


def render(results: list[dict], systems: list[str], command: str) -> str:
    import pyoxigraph
    import rdflib

    lines = [
        "# Benchmarks",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pyoxigraph {pyoxigraph.__version__}, rdflib {rdflib.__version__}, "
        f"Oxigraph server {_oxigraph_version()}, "
        "Virtuoso open source 7.2 (Debian).",
        "",
        f"Reproduce: `{command}`",
        "",
    ]
    for r in results:
        n = r["n"]
        lines += [f"## {n:,} studies", "", "| system | ingest studies/s | ingest quads/s | ingest s |", "| --- | ---: | ---: | ---: |"]
        rows = [s for s in systems if s in ("embedded", "rdflib")] + [k for k in r["ingest"] if k not in ("embedded", "rdflib")]
        for system in rows:
            value = r["ingest"].get(system)
            if value is None:
                lines.append(f"| {system} | not finished within {RDFLIB_CAP_S:.0f} s / not run | | |")
            else:
                qps = "n/a" if value[1] is None else f"{value[1]:,.0f}"
                lines.append(f"| {system} | {value[0]:,.0f} | {qps} | {value[2]:.1f} |")
        bulk = r.get("bulk")
        if bulk:
            lines += ["", f"Oxigraph's bulk loader (`oxigraph load`, offline) took {bulk['load_s']:.1f} s for the {bulk['quads']:,} quads "
                      f"that `tkg ingest` writes (converted to N-Quads files first in {bulk['convert_s']:.1f} s, not included)."]
            embedded = r["ingest"].get("embedded")
            if embedded:
                lines.append(f"End-to-end ingest into the embedded store (read, extract, convert, load, publish): {embedded[2]:.1f} s, "
                             f"{embedded[2] / bulk['load_s']:.1f}x that bulk load (target: within 3x).")
        how = (
            f"median of 5 runs after one warm-up (of 3 where the warm-up took over {SLOW_WARMUP_S:.0f} s;"
            f" the warm-up alone where it took over {ONE_RUN_S:.0f} s)"
        )
        lines += ["", f"CQ latency, ms, {how}:", "", "| CQ | " + " | ".join(systems) + " |",
                  "| --- |" + " ---: |" * len(systems)]
        for q in CQS:
            lines.append(f"| {q.title} | " + " | ".join(fmt_ms(r["cq"].get(s, {}).get(q.title)) for s in systems) + " |")
        first = r.get("cq_first") or {}
        if first:
            servers = list(first)
            after = "the load (Virtuoso: its restart after the load)" if r.get("restarted") else "the load"
            lines += ["", f"Remote servers' first run of each CQ after {after}, ms (each CQ once, in turn, before the runs above):", "",
                      "| CQ | " + " | ".join(servers) + " |", "| --- |" + " ---: |" * len(servers)]
            for q in CQS:
                lines.append(f"| {q.title} | " + " | ".join(fmt_ms(first[s].get(q.title)) for s in servers) + " |")
        if r["http"]:
            lines += ["", f"HTTP, {HTTP_CLIENTS} keep-alive clients for {HTTP_SECONDS:.0f} s (same Python client for both servers):", "",
                      "| system | request | req/s | p50 ms | p95 ms | errors |", "| --- | --- | ---: | ---: | ---: | ---: |"]
            for system, figures in r["http"].items():
                pages = (
                    ("sparql", "small SELECT at the SPARQL endpoint"),
                    ("dashboard", "/ (dashboard and evidence matrix)"),
                    ("cell", "/matrix/CART/TumorMicroenvironmentBarrier (first 100 findings)"),
                    ("entity", "/entity/CART page"),
                    ("graph", f"/api/graph/neighborhood?id={figures.get('graph_node')} (graph explorer)"),
                )
                for what, label in pages:
                    f = figures.get(what)
                    if f is None:
                        continue
                    lines.append(f"| {system} | {label} | {f['rps']:,.0f} | {fmt_ms(f['p50'])} | {fmt_ms(f['p95'])} | {f['errors']} |")
                firsts = (
                    ("cell_first_s", "matrix cell first view (index stored at publish, first 100 findings looked up)"),
                    ("entity_first_s", "/entity/CART first view (computed once per release)"),
                    ("graph_first_s", "graph explorer first search and neighborhood (projection read from the release)"),
                )
                for what, label in firsts:
                    if figures.get(what) is not None:
                        lines.append(f"| {system} | {label} | | {figures[what] * 1000:,.0f} | | |")
        if r.get("publish"):
            pub = r["publish"]
            steps = ", ".join(f"{k} {v:.0f} s" for k, v in pub["steps"].items())
            lines += ["", f"Embedded end to end: read, extract, convert and load {pub['ingest_s']:.0f} s; publish {pub['publish_s']:.0f} s"
                      f" (checkpoint and precompute steps: {steps})."]
        if "embedded" in r["http"]:
            built = r["http"]["embedded"].get("downloads_s")
            if built is not None:
                lines += ["", f"The release's download files were built before `tkg serve` started ({built:.0f} s), not during HTTP runs."]
            else:
                lines += ["", "The release's download files were not built before serving (--downloads-max)."]
        sparql = {k: v["sparql"]["rps"] for k, v in r["http"].items() if v.get("sparql")}
        if "embedded" in sparql and sparql.get("oxigraph-server"):
            ratio = sparql["embedded"] / sparql["oxigraph-server"]
            lines += ["", f"/sparql small SELECT: {ratio:.0%} of Oxigraph server's rate (target: 70 %)."]
        if r.get("pages"):
            what = "Pages (benchmarks/pages.py: each on a fresh `tkg serve` of the release, first view, then 20 views from 8 threads)"
            lines += ["", what + ":",
                      "", "```", r["pages"].rstrip(), "```"]
        serving = r["http"].get("embedded", {}).get("memory_mib")
        if serving is not None:
            what = "Peak memory of `tkg serve` after the HTTP runs (sum of VmHWM over the serving process and its query workers)"
            lines += ["", f"{what}: {serving:.0f} MiB."]
        if r["startup"] is not None:
            lines += ["", f"Startup from the published release (open + first query, fresh process): {r['startup']:.2f} s; "
                      f"peak RSS of a process answering every named query once: {r['rss']:.0f} MiB.", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000")
    parser.add_argument("--systems", default="embedded,rdflib,oxigraph-server,virtuoso")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--remote-load",
        choices=("bulk", "gsp", "both"),
        default="bulk",
        help="How the servers are loaded: their bulk loaders (Oxigraph: `oxigraph load` offline before `oxigraph serve`; "
        "Virtuoso: tkg ingest --bulk-dir), the Graph Store Protocol (tkg ingest), or both one after the other "
        "(each into a fresh server; the bulk-loaded one is queried).",
    )
    parser.add_argument(
        "--downloads-max",
        type=int,
        default=None,
        metavar="STUDIES",
        help="Build the release's download files before serving only up to this many studies (default: at every size; "
        "at 10,000 it took about 3 minutes on 2 cores, and it grows with the store).",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="Keep the working directory (cards, stores, the servers' databases) after the run, for measurements "
        "after it; its path is printed at the end. Without it, the directory is removed.",
    )
    parser.add_argument("--rdflib-child", nargs=2, metavar=("CARDS", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rdflib_child:
        _rdflib_child(Path(args.rdflib_child[0]), int(args.rdflib_child[1]))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    systems = [s.strip() for s in args.systems.split(",")]
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results: list[dict] = []

    def save(partial: dict | None = None) -> str:
        text = render(results + ([partial] if partial is not None else []), systems, command)
        text += f"\nPeak RSS of the benchmark process itself: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.\n"
        if args.out:
            args.out.write_text(text, encoding="utf-8")
        return text

    if args.keep:
        workdir = contextlib.nullcontext(tempfile.mkdtemp(prefix="tkg-bench-", dir=args.workdir))
    else:
        workdir = tempfile.TemporaryDirectory(prefix="tkg-bench-", dir=args.workdir)
    with workdir as tmp:
        for n in sizes:
            results.append(bench_size(n, systems, Path(tmp), done=save, remote_load=args.remote_load, downloads_max=args.downloads_max))
    print(save())
    if args.keep:
        print(f"kept: {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
