"""Load test of `tkg serve` (standard library only; a benchmark, not a test).

32 concurrent clients send a mix of the competency queries (kg.queries), entity
pages and graph/API JSON requests for a fixed time, while one more client sends
deliberately slow queries that must end in a clean 503 "timeout". Only
127.0.0.1 is targeted; the run stops by itself (time and request count bound).

    .venv/bin/tkg build --store /tmp/tkgload
    TKG_RATE_LIMIT=0 .venv/bin/tkg serve --store /tmp/tkgload --port 5077 &
    .venv/bin/python benchmarks/loadtest.py --port 5077 --clients 32 --seconds 60

Prints a JSON report (throughput, p50/p95/p99 latency, errors by kind).
"""

from __future__ import annotations

import argparse
import http.client
import json
import platform
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
ENTITIES = ["CART", "TIL", "TCellEngager", "TCRT", "TumorMicroenvironment", "CytokineReleaseSyndrome", "LBCL"]
GRAPH_CANDIDATES = [
    "/api/graph/neighborhood?id=CART&depth=1",
    "/api/graph/neighborhood?id=TIL&depth=1",
    "/api/graph/strategies?therapy=CART",
    "/api/graph/path?from=TCellEngager&to=CytokineReleaseSyndrome",
    "/api/search?q=CAR",
    "/dashboard.json",
    "/matrix/CART/TumorMicroenvironmentBarrier",
]


def competency_queries() -> list[str]:
    from kg.queries import list_queries

    queries = []
    for item in list_queries():
        text = getattr(item, "text", None) or getattr(item, "sparql", None) or getattr(item, "query", None)
        if text is None and isinstance(item, dict):
            text = item.get("text") or item.get("sparql") or item.get("query")
        if isinstance(text, str):
            queries.append(text)
    return queries


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)
            if error:
                self.errors[f"{kind}: {error}"] = self.errors.get(f"{kind}: {error}", 0) + 1


def request(conn: http.client.HTTPConnection, path: str, accept: str) -> tuple[int, bytes]:
    conn.request("GET", path, headers={"Accept": accept, "Connection": "keep-alive"})
    response = conn.getresponse()
    return response.status, response.read()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--slow-interval", type=float, default=2.0, help="seconds between slow queries of the slow client")
    args = parser.parse_args()
    host = "127.0.0.1"  # never anything else

    queries = competency_queries()
    probe = http.client.HTTPConnection(host, args.port, timeout=30)
    graph_paths = []
    for path in GRAPH_CANDIDATES:
        status, _ = request(probe, path, "application/json")
        if status == 200:
            graph_paths.append(path)
    entity_paths = []
    for name in ENTITIES:
        status, _ = request(probe, f"/entity/{name}", "text/html")
        if status == 200:
            entity_paths.append(f"/entity/{name}")
    probe.close()
    mix: list[tuple[str, str, str]] = [("query", "/sparql?" + urlencode({"query": q}), "application/sparql-results+json") for q in queries]
    mix += [("entity", p, "text/html") for p in entity_paths]
    mix += [("graph", p, "application/json") for p in graph_paths]

    stats = Stats()
    deadline = time.monotonic() + args.seconds
    budget = threading.Semaphore(args.max_requests)

    def client(seed: int) -> None:
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(host, args.port, timeout=60)
        while time.monotonic() < deadline and budget.acquire(blocking=False):
            kind, path, accept = rnd.choice(mix)
            t0 = time.monotonic()
            try:
                status, _ = request(conn, path, accept)
                error = None if status == 200 else f"HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, args.port, timeout=60)
            stats.record(kind, time.monotonic() - t0, error)
        conn.close()

    def slow_client() -> None:
        conn = http.client.HTTPConnection(host, args.port, timeout=120)
        while time.monotonic() < deadline - 1:
            t0 = time.monotonic()
            try:
                status, body = request(conn, "/sparql?query=" + quote(SLOW, safe=""), "application/sparql-results+json")
                clean = status == 503 and b"timeout" in body
                error = None if clean else f"HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, args.port, timeout=120)
            stats.record("slow (expect 503 timeout)", time.monotonic() - t0, error)
            time.sleep(args.slow_interval)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    threads.append(threading.Thread(target=slow_client))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    fast = [v for kind, values in stats.latencies.items() if not kind.startswith("slow") for v in values]
    report = {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": len(fast),
        "throughput_rps": round(len(fast) / elapsed, 1),
        "latency_ms": {p: round(percentile(fast, q) * 1000, 1) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
        "by_kind": {
            kind: {
                "requests": len(values),
                "p50_ms": round(statistics.median(values) * 1000, 1),
                "p95_ms": round(percentile(values, 95) * 1000, 1),
                "p99_ms": round(percentile(values, 99) * 1000, 1),
            }
            for kind, values in sorted(stats.latencies.items())
        },
        "errors": stats.errors,
        "mix": {"competency_queries": len(queries), "entity_pages": entity_paths, "graph_json": graph_paths},
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": __import__("os").cpu_count()},
    }
    print(json.dumps(report, indent=2))
    return 1 if stats.errors else 0


if __name__ == "__main__":
    sys.exit(main())
