"""Benchmark runner: ingest throughput, CQ latency, startup and peak memory,
side by side on the same synthetic cards (kg.generate), for tcell-kg embedded,
rdflib's in-memory store (capped), Oxigraph server and Virtuoso (both through
kg.stores.remote, i.e. the same urllib HTTP client).

    python benchmarks/run.py --sizes 1000,10000 [--systems embedded,rdflib,oxigraph-server,virtuoso] [--out docs/benchmarks.md]

Figures, not tests: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from kg import KnowledgeGraph  # noqa: E402
from kg.errors import TkgError  # noqa: E402
from kg.generate import write_cards  # noqa: E402
from kg.queries import list_queries  # noqa: E402

CQS = [q for q in list_queries() if q.is_competency_question]
RDFLIB_CAP_S = 120.0


def median_latency(graph: KnowledgeGraph, sparql: str, runs: int = 5) -> float:
    graph.query(sparql)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        graph.query(sparql)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cq_latencies(graph: KnowledgeGraph, cap: float | None = None) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    spent = 0.0
    for q in CQS:
        if cap is not None and spent > cap:
            out[q.title] = None
            continue
        start = time.perf_counter()
        try:
            out[q.title] = median_latency(graph, q.sparql, runs=3 if cap else 5)
        except TkgError:
            out[q.title] = None
        spent += time.perf_counter() - start
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
    code = (
        "import resource; from kg import KnowledgeGraph; from kg.queries import list_queries; "
        f"g=KnowledgeGraph.open({store!r}); [g.query(q.sparql) for q in list_queries()]; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(done.stdout.strip())


def bench_size(n: int, systems: list[str], work: Path) -> dict:
    cards = write_cards(work / f"cards-{n}", n, seed=n)
    result: dict = {"n": n, "ingest": {}, "cq": {}, "startup": None, "rss": None}
    if "embedded" in systems:
        store = str(work / f"var-{n}")
        start = time.perf_counter()
        with KnowledgeGraph.open(store, mode="write") as g:
            report = g.ingest(cards)
            g.publish()
        took = time.perf_counter() - start
        result["ingest"]["embedded"] = (report.studies / took, report.quads / took, took)
        with KnowledgeGraph.open(store) as g:
            result["cq"]["embedded"] = cq_latencies(g)
        result["startup"] = startup_seconds(store)
        result["rss"] = serving_rss_mib(store)
    if "rdflib" in systems:
        start = time.perf_counter()
        g = KnowledgeGraph.open("memory:", mode="write")
        loaded = 0
        for path in cards:
            if time.perf_counter() - start > RDFLIB_CAP_S:
                break
            loaded += g.ingest([path]).studies
        took = time.perf_counter() - start
        result["ingest"]["rdflib"] = (loaded / took, None, took) if loaded == n else None
        result["cq"]["rdflib"] = cq_latencies(g, cap=RDFLIB_CAP_S) if loaded == n else {}
    for name in ("oxigraph-server", "virtuoso"):
        if name not in systems:
            continue
        from servers import ServerUnavailable, start_oxigraph, start_virtuoso

        try:
            server = (start_oxigraph if name == "oxigraph-server" else start_virtuoso)(work / f"{name}-{n}")
        except ServerUnavailable as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            continue
        try:
            start = time.perf_counter()
            with KnowledgeGraph.open(server.query_url, mode="write", **server.options()) as g:
                report = g.ingest(cards)
            took = time.perf_counter() - start
            result["ingest"][name] = (report.studies / took, report.quads / took, took)
            time.sleep(2)  # Oxigraph server is slower right after a load (DESIGN.md)
            with KnowledgeGraph.open(server.query_url, **server.options()) as g:
                result["cq"][name] = cq_latencies(g)
        finally:
            server.stop()
    return result


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f}"


def render(results: list[dict], systems: list[str], command: str) -> str:
    import pyoxigraph
    import rdflib

    lines = [
        "# Benchmarks",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work while measured), "
        f"Python {platform.python_version()}, pyoxigraph {pyoxigraph.__version__}, rdflib {rdflib.__version__}, "
        f"Oxigraph server {subprocess.run(['oxigraph', '--version'], capture_output=True, text=True).stdout.strip() or 'n/a'}, "
        "Virtuoso open source 7.2 (Debian).",
        "",
        f"Reproduce: `{command}`",
        "",
    ]
    for r in results:
        n = r["n"]
        lines += [f"## {n:,} studies", "", "| system | ingest studies/s | ingest quads/s | ingest s |", "| --- | ---: | ---: | ---: |"]
        for system in systems:
            value = r["ingest"].get(system)
            if value is None:
                lines.append(f"| {system} | not finished within {RDFLIB_CAP_S:.0f} s / not run | | |")
            else:
                qps = "n/a" if value[1] is None else f"{value[1]:,.0f}"
                lines.append(f"| {system} | {value[0]:,.0f} | {qps} | {value[2]:.1f} |")
        lines += ["", "CQ latency, median of 5 after one warm-up, ms:", "", "| CQ | " + " | ".join(systems) + " |",
                  "| --- |" + " ---: |" * len(systems)]
        for q in CQS:
            lines.append(f"| {q.title} | " + " | ".join(fmt_ms(r["cq"].get(s, {}).get(q.title)) for s in systems) + " |")
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
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    systems = [s.strip() for s in args.systems.split(",")]
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="tkg-bench-", dir=args.workdir) as tmp:
        results = [bench_size(n, systems, Path(tmp)) for n in sizes]
    text = render(results, systems, command)
    text += f"\nPeak RSS of the benchmark process itself: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
