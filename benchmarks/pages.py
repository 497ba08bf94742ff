"""First and later views of the pages of issue 17, each on a fresh ``tkg serve``.

For every page this starts ``tkg serve --store STORE`` (the release's
precomputed files on disk, nothing in memory), waits until it serves a static
file (which does not touch the store), times one request (the first view
after a release), then ``--later`` requests of the same page from
``--threads`` threads (p50 and p95 of those), reads the server's peak memory
(its processes' VmHWM, workers included), and stops the server. A first view
without an answer within ``--timeout`` is reported as such, without later
views. Prints a table; nothing is asserted.

    .venv/bin/python benchmarks/pages.py --store /path/to/store --port 8799

The entity pages are those of every modality, of the tumor type with the most
studies (found by a query before the servers start, or ``--tumor``) and
``--extra`` ones; the study page is the first study of CAR-T's entity page
(or ``--study``); the neighborhood is that of the first therapy the graph
explorer finds for "CAR-T".
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg import KnowledgeGraph  # noqa: E402
from kg.namespaces import SPARQL_PREFIXES, local_name  # noqa: E402

#: A study whose page is measured when CAR-T's entity page gives none in time.
ANY_STUDY = SPARQL_PREFIXES + "SELECT ?s WHERE { ?s a tkg:Study } LIMIT 1"
MODALITIES = SPARQL_PREFIXES + "SELECT ?m WHERE { ?m tkg:isModality true } ORDER BY ?m"
#: Tumor types by the studies whose findings name them (their own findings, not narrower classes').
TUMORS = (
    SPARQL_PREFIXES
    + """SELECT ?t (COUNT(DISTINCT ?study) AS ?n) WHERE {
  ?t rdfs:subClassOf+ tkg:TumorType . { ?f tkg:object ?t } UNION { ?f tkg:subject ?t } ?f prov:wasDerivedFrom ?study
} GROUP BY ?t ORDER BY DESC(?n) LIMIT 1"""
)


def get(url: str, timeout: float = 600.0) -> tuple[int, float, int]:
    """Status, seconds and body bytes of one GET; status 0 when no answer came within ``timeout``."""
    start = time.perf_counter()
    request = urllib.request.Request(url, headers={"Accept": "text/html"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    except (TimeoutError, urllib.error.URLError) as exc:
        if not isinstance(getattr(exc, "reason", exc), TimeoutError):
            raise
        body, status = b"", 0
    return status, time.perf_counter() - start, len(body)


def wait_ready(base: str, process: subprocess.Popen, limit: float = 300.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"tkg serve exited with {process.returncode} before it served")
        try:
            if get(base + "/static/css/graph.css", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"tkg serve did not answer within {limit:.0f} s")


def pages(store: str, tumor: str | None, study: str | None, extra: list[str]) -> list[str]:
    with KnowledgeGraph.open(store) as kg:
        modalities = [local_name(str(r["m"])) for r in kg.query(MODALITIES).rows]
        if tumor is None:
            rows = kg.query(TUMORS).rows
            tumor = local_name(str(rows[0]["t"])) if rows and "t" in rows[0] else None
    listed = [
        "/",
        "/query",
        "/graph",
        "/api/graph/options",
        "NEIGHBORHOOD",
        "/analytics",
        "/downloads",
        "/void",
        "/changes",
        *(f"/entity/{m}" for m in modalities),
        *([f"/entity/{tumor}"] if tumor else []),
        *(f"/entity/{e}" for e in extra),
        f"/study/{study}" if study else "STUDY",
        "/matrix/CART/TumorMicroenvironmentBarrier",
    ]
    return listed


def tree_hwm_mib(pid: int) -> float:
    """Sum of the peak RSS (VmHWM) of a process and all its descendants, in MiB
    (a server's memory, its workers included)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def measure(store: str, port: int, path: str, later: int, threads: int, timeout: float = 600.0) -> dict[str, object]:
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "TKG_RATE_LIMIT": "0"}
    tkg = str(Path(sys.executable).with_name("tkg"))
    process = subprocess.Popen(
        [tkg, "serve", "--store", store, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_ready(base, process)
        status, first, size = get(base + path, timeout)
        if status == 0:  # no first view within the timeout: the later ones would wait as long
            return {"status": "-", "first": None, "p50": None, "p95": None, "bytes": None, "rss_mib": tree_hwm_mib(process.pid)}
        with ThreadPoolExecutor(threads) as pool:
            times = sorted(t for _s, t, _n in pool.map(lambda _i: get(base + path, timeout), range(later)))
        return {
            "status": status,
            "first": first,
            "p50": statistics.median(times),
            "p95": times[min(len(times) - 1, int(0.95 * len(times)))],
            "bytes": size,
            "rss_mib": tree_hwm_mib(process.pid),
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def first_ids(store: str, port: int, study: bool, node: bool, timeout: float) -> tuple[str | None, str | None]:
    """The first study on CAR-T's entity page (if ``study``; any study when
    that page does not answer within ``timeout``) and the graph
    explorer's first therapy node found by a search for CAR-T (if ``node``; the
    projection's nodes are the findings' ends, products rather than the
    modality class): one server, stopped after."""
    import json

    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("tkg")), "serve", "--store", store, "--port", str(port)],
        env={**os.environ, "TKG_RATE_LIMIT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first_study = first_node = None
    try:
        wait_ready(base, process)
        if study:
            try:
                with urllib.request.urlopen(base + "/entity/CART.json?limit=1", timeout=timeout) as response:
                    first_study = json.loads(response.read())["studies"][0]["id"]
            except OSError:  # (no answer in time: a store without entity summaries at 1,000,000)
                with KnowledgeGraph.open(store) as kg:
                    rows = kg.query(ANY_STUDY).rows
                first_study = local_name(str(rows[0]["s"])) if rows else None
        if node:
            with urllib.request.urlopen(base + "/api/graph/nodes?q=CAR-T", timeout=timeout) as response:
                found = json.loads(response.read())["results"]
            first_node = next(r["id"] for r in found if r.get("category") == "Therapy")
        return first_study, first_node
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="a published store directory (use a copy: nothing is written, but be safe)")
    parser.add_argument("--port", type=int, default=8799, help="port of the servers started one after another")
    parser.add_argument("--later", type=int, default=20, help="requests after the first view")
    parser.add_argument("--threads", type=int, default=8, help="threads sending the later requests")
    parser.add_argument("--tumor", help="id of the tumor type whose entity page is measured (default: the one with most studies)")
    parser.add_argument("--study", help="id of the study whose page is measured (default: CAR-T's first)")
    parser.add_argument("--node", help="id of the graph explorer's node whose neighborhood is measured (default: CAR-T's first therapy)")
    parser.add_argument("--extra", nargs="*", default=[], help="more entity ids")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a request may take; a first view over it is reported as such")
    parser.add_argument("--only", nargs="*", default=[], help="measure only the paths containing one of these texts")
    args = parser.parse_args(argv)
    listed = pages(args.store, args.tumor, args.study, args.extra)
    study = node = None
    if "STUDY" in listed or args.node is None:
        study, node = first_ids(args.store, args.port, "STUDY" in listed, args.node is None, args.timeout)
    named = {"STUDY": f"/study/{study}", "NEIGHBORHOOD": f"/api/graph/neighborhood?id={args.node or node}&depth=1"}
    listed = [named.get(p, p) for p in listed]
    if args.only:
        listed = [p for p in listed if any(o in p for o in args.only)]
    print(f"store {args.store}; first view on a fresh `tkg serve`, then {args.later} views from {args.threads} threads")
    print(f"{'page':52} {'status':>6} {'first ms':>10} {'p50 ms':>8} {'p95 ms':>8} {'KiB':>8} {'peak MiB':>9}")
    for path in listed:
        r = measure(args.store, args.port, path, args.later, args.threads, args.timeout)
        if r["first"] is None:
            over = f"> {args.timeout:g} s"
            print(f"{path:52} {'-':>6} {over:>10} {'-':>8} {'-':>8} {'-':>8} {r['rss_mib']:>9.0f}", flush=True)
            continue
        print(
            f"{path:52} {r['status']:>6} {1000 * r['first']:>10.0f} {1000 * r['p50']:>8.0f} {1000 * r['p95']:>8.0f}"
            f" {r['bytes'] / 1024:>8.0f} {r['rss_mib']:>9.0f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
