"""Attack `tkg serve` from 127.0.0.1 and measure what normal clients still get (issue 13).

Scenarios (each bounded by --seconds, aimed only at 127.0.0.x addresses of this machine):

* ``slow N``: N slow clients beside 8 normal ones. A third send half a request
  line and then nothing, a third send a POST body at one byte every 2 s, a
  third ask for the largest download with a tiny receive window and never
  read it. Prints the normal clients' latencies and errors, and how many slow
  sockets the server closed (and after how long).
* ``queries``: 4 abusive clients (127.0.0.2-5), each looping on the worst
  queries we could write (cartesian COUNT, unbounded ORDER BY, a regex over
  every literal), beside 16 normal clients (127.0.0.10-25) that load pages
  and run the shipped competency queries and small queries. Prints p50/p95
  per kind of request and every status seen.

    python benchmarks/abuse.py --store var slow 8 32 128
    python benchmarks/abuse.py --store /tmp/store10k queries

The store must hold a published release. The machine may be shared with other
work: run twice and compare before trusting a figure.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORST_QUERIES = [
    "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }",
    "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f } ORDER BY ?c ?f LIMIT 1",
    'SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o . ?s2 ?p2 ?o2 FILTER(REGEX(STR(?o), "(a|b|c)*x$") && STR(?o) != STR(?o2)) }',
    "SELECT ?s (GROUP_CONCAT(STR(?o)) AS ?all) WHERE { ?s ?p ?o . ?x ?y ?s } GROUP BY ?s ORDER BY DESC(?all)",
]
SMALL_QUERIES = [
    "SELECT ?s WHERE { ?s a <https://w3id.org/tcell-kg/ontology#Study> } LIMIT 5",
    "ASK { ?s ?p ?o }",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s a <https://w3id.org/tcell-kg/ontology#Study> }",
]
PAGES = ["/", "/dashboard.json", "/stats.json", "/search?q=lymphoma", "/query", "/analytics"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: str, port: int, env: dict[str, str]) -> subprocess.Popen:
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"tkg-abuse-{port}.log", "wb")  # noqa: SIM115 - lives as long as the server
    tkg = [sys.executable, "-c", "from kg.cli import main; main()"]
    proc = subprocess.Popen([*tkg, "serve", "--store", store, "--port", str(port)], stdout=log, stderr=log, env={**os.environ, **env})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            status, _ = request(port, "/stats.json", timeout=5)
            if status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"tkg serve did not start; see {log.name}")


def request(port: int, path: str, *, source: str = "127.0.0.1", method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        conn.close()


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.status: dict[str, Counter] = defaultdict(Counter)

    def add(self, kind: str, status: int | str, seconds: float) -> None:
        with self.lock:
            self.status[kind][status] += 1
            if status == 200:
                self.times[kind].append(seconds)

    def report(self, title: str) -> None:
        print(f"  {title}")
        for kind in sorted(self.status):
            times = sorted(self.times[kind])
            figures = "no 200 answers"
            if times:
                p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
                figures = f"p50 {statistics.median(times) * 1000:7.0f} ms  p95 {p95 * 1000:7.0f} ms  max {times[-1] * 1000:7.0f} ms"
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.status[kind].items(), key=lambda kv: str(kv[0])))
            print(f"    {kind:8s} {sum(self.status[kind].values()):5d} requests  {figures}  ({statuses})")


def normal_client(port: int, source: str, until: float, rec: Recorder, *, queries: list[tuple[str, str]], rng: random.Random) -> None:
    while time.monotonic() < until:
        roll = rng.random()
        if roll < 0.85 or not queries:  # mostly pages; a query now and then
            kind, path, method, body, headers = "page", rng.choice(PAGES), "GET", None, {}
        else:
            kind, text = rng.choice(queries)
            path, method, body = "/sparql", "POST", text.encode()
            headers = {"Content-Type": "application/sparql-query", "Accept": "application/sparql-results+json"}
        try:
            status, seconds = request(port, path, source=source, method=method, body=body, headers=headers, timeout=30)
        except OSError as exc:
            status, seconds = type(exc).__name__, 0.0
        rec.add(kind, status, seconds)
        time.sleep(rng.uniform(0.05, 0.25))  # people click, they do not hammer


def abusive_client(port: int, source: str, until: float, rec: Recorder, rng: random.Random) -> None:
    while time.monotonic() < until:
        text = rng.choice(WORST_QUERIES)
        try:
            status, seconds = request(port, "/sparql", source=source, method="POST", body=text.encode(),
                                      headers={"Content-Type": "application/sparql-query"}, timeout=60)
        except OSError as exc:
            status, seconds = type(exc).__name__, 0.0
        rec.add("abusive", status, seconds)
        if status in (429, 503):
            time.sleep(0.2)  # an attacker retries at once; a little pause keeps the load generator itself cheap


# -- slow clients ----------------------------------------------------------------------------------
def slow_socket(port: int, kind: str, download: str, closed: list[float], stop: threading.Event) -> None:
    started = time.monotonic()
    try:
        sock = socket.socket()
        if kind == "noread":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.settimeout(1.0)
        if kind == "half":
            sock.sendall(b"GET /stats.json HT")
        elif kind == "body":
            sock.sendall(b"POST /sparql HTTP/1.1\r\nHost: x\r\nContent-Type: application/sparql-query\r\nContent-Length: 500\r\n\r\n")
        else:
            sock.sendall(f"GET /downloads/{download} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        while not stop.is_set():
            if kind == "body":
                sock.sendall(b"A")
                stop.wait(2.0)
                continue
            if kind == "half":
                try:
                    if sock.recv(1) == b"":
                        break  # closed by the server
                except TimeoutError:
                    continue
            else:
                stop.wait(1.0)  # never read
                try:
                    sock.send(b"")
                    probe = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                    if probe == b"":
                        break
                except BlockingIOError:
                    continue
    except OSError:
        pass  # reset or broken pipe: the server closed it
    else:
        if stop.is_set():
            return
    closed.append(time.monotonic() - started)


def largest_download(port: int) -> str:
    import json

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("GET", "/downloads.json")
    listing = json.loads(conn.getresponse().read())
    files = [f for f in listing["files"] if f.get("available") and f.get("size")]
    return max(files, key=lambda f: f["size"])["name"] if files else "tcell-kg.nt"


def run_slow(port: int, counts: list[int], seconds: float) -> None:
    download = largest_download(port)
    print(f"slow clients beside 8 normal clients, {seconds:g} s each run; largest download: {download}")
    for count in counts:
        stop = threading.Event()
        closed: list[float] = []
        kinds = ["half", "body", "noread"]
        threads = [threading.Thread(target=slow_socket, args=(port, kinds[i % 3], download, closed, stop), daemon=True)
                   for i in range(count)]
        for t in threads:
            t.start()
        time.sleep(2)  # let them take their sockets
        rec = Recorder()
        until = time.monotonic() + seconds
        rng = random.Random(count)
        normal = [threading.Thread(target=normal_client, args=(port, f"127.0.0.{10 + i}", until, rec),
                                   kwargs={"queries": [("small", q) for q in SMALL_QUERIES], "rng": random.Random(rng.random())})
                  for i in range(8)]
        for t in normal:
            t.start()
        for t in normal:
            t.join()
        stop.set()
        for t in threads:
            t.join(5)
        closed_by_server = sorted(closed)
        median = f"median {statistics.median(closed_by_server):.0f} s" if closed_by_server else "none"
        rec.report(f"{count} slow clients: {len(closed_by_server)} of them closed by the server within {seconds + 2:g} s ({median})")


def run_queries(port: int, seconds: float, abusers: int = 4) -> None:
    from kg.queries import list_queries

    cqs = [("cq", q.sparql) for q in list_queries() if q.name.startswith("cq")]
    queries = cqs + [("small", q) for q in SMALL_QUERIES] * 8
    rec = Recorder()
    until = time.monotonic() + seconds
    rng = random.Random(13)
    threads = [threading.Thread(target=abusive_client, args=(port, f"127.0.0.{2 + i}", until, rec, random.Random(i)), daemon=True)
               for i in range(abusers)]
    threads += [threading.Thread(target=normal_client, args=(port, f"127.0.0.{10 + i}", until, rec),
                                 kwargs={"queries": queries, "rng": random.Random(rng.random())}, daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 90)
    rec.report(f"{abusers} abusive clients beside 16 normal clients for {seconds:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="store directory with a published release")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run (default 30)")
    parser.add_argument("--port", type=int, default=0, help="serve on this port (default: a free one)")
    parser.add_argument("--abusers", type=int, default=4, help="queries: abusive clients (default 4; 0 for a baseline)")
    parser.add_argument("--wait-downloads", type=float, default=900, help="seconds to wait for the downloads to be built first")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for tkg serve, e.g. TKG_WORKERS=2 (repeatable)")
    parser.add_argument("scenario", choices=["slow", "queries"])
    parser.add_argument("counts", nargs="*", type=int, help="slow: numbers of slow clients (default 8 32 128)")
    args = parser.parse_args()
    port = args.port or free_port()
    env = dict(item.split("=", 1) for item in args.env)
    server = start_server(args.store, port, env)
    try:
        print(f"tkg serve on 127.0.0.1:{port}, store {args.store}, {os.cpu_count()} cores (shared with other work)")
        started, statuses, last = time.monotonic(), Counter(), 503
        while time.monotonic() - started < args.wait_downloads:  # the exports are built in the background at start-up
            status, _ = request(port, "/downloads.json", timeout=30)
            statuses[status] += 1
            last = status
            if status != 503:
                break
            time.sleep(2)
        for path in PAGES:  # a page computed on its first request (and then kept) is timed here, not below
            status, took = request(port, path, timeout=600)
            print(f"first request {path}: {status} in {took * 1000:.0f} ms")
        state = "ready" if last != 503 else "still being built"
        print(f"downloads {state} after {time.monotonic() - started:.0f} s (answers: {dict(statuses)})")
        if args.scenario == "slow":
            run_slow(port, args.counts or [8, 32, 128], args.seconds)
        else:
            run_queries(port, args.seconds, args.abusers)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            print("tkg serve did not stop within 20 s of SIGTERM")
        else:
            print(f"tkg serve stopped on SIGTERM (exit status {server.returncode})")


if __name__ == "__main__":
    main()
