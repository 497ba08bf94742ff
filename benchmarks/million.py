"""The 1,000,000-study run, staged and resumable (issue 17).

One working session is shorter than the whole run, so it is cut into stages
that each record their figures in ``WORKDIR/state.json`` when they finish; a
second invocation skips what is done and carries on:

* ``shard-K`` (K = 0 .. studies/shard - 1): write the shard's synthetic cards
  (numbered from K * shard, so study ids never collide between shards), ingest
  them into the work store without publishing (the store's bulk writer), then
  delete the cards. A shard interrupted half-way is ingested again: each study
  replaces its own named graph, so nothing is counted twice.
* ``checkpoint``: make the work store a release, without the precompute steps.
* ``cqs``: startup and every competency query on that release (they read the
  store, not the steps' index), each in a child process stopped after
  ``--cq-timeout`` seconds.
* ``publish``: every precompute step (or ``--steps``), in full, for that
  release, in a child process that is stopped when the disk is about to fill (one transaction: the
  index is left as it was); samples of its time, index size, free disk and
  peak memory are recorded either way.
* ``pages``: the pages' first and later views and the server's memory
  (``benchmarks/pages.py``), once a publish has completed (the pages of a
  step that did not run are computed from the store).

Before each shard the free disk space is checked against what the shard will
need (``--min-free-gib``); the run stops with a message instead of filling the
disk. Figures, not tests: nothing is asserted.

    .venv/bin/python benchmarks/million.py --workdir /work/m1 [--studies 1000000] [--shard 50000]
        [--max-shards N] [--stages shards,checkpoint,cqs,publish,pages]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pages import tree_hwm_mib  # noqa: E402  (benchmarks/pages.py, beside this file)

from kg import KnowledgeGraph  # noqa: E402
from kg.artifacts import steps, write_json_atomic  # noqa: E402
from kg.generate import write_cards  # noqa: E402
from kg.queries import list_queries  # noqa: E402

STATE = "state.json"
STAGES = ("shards", "checkpoint", "cqs", "publish", "pages")


def load_state(work: Path) -> dict[str, Any]:
    try:
        return json.loads((work / STATE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"done": {}}


def save_state(work: Path, state: dict[str, Any]) -> None:
    write_json_atomic(work / STATE, state)  # a stage is recorded whole or not at all


def disk_gib(path: Path) -> float:
    """Bytes the files under ``path`` occupy (hard links counted once), in GiB."""
    done = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0]) / (1 << 30)


def free_gib(path: Path) -> float:
    usage = shutil.disk_usage(path)
    return usage.free / (1 << 30)


def shards_left(state: dict[str, Any]) -> list[int]:
    """The numbers of the plan's shards not ingested yet."""
    plan = state["plan"]
    return [k for k in range(-(-plan["studies"] // plan["shard"])) if f"shard-{k}" not in state["done"]]


def run_shards(work: Path, state: dict[str, Any], studies: int, shard: int, min_free: float, most: int | None = None) -> bool:
    """Ingest the shards not done yet, at most ``most`` of them; True when every shard is done."""
    store = str(work / "store")
    count = -(-studies // shard)
    ran = 0
    for k in range(count):
        name = f"shard-{k}"
        if name in state["done"]:
            continue
        if most is not None and ran >= most:
            print(f"million: {ran} shard(s) ingested in this invocation, {len(shards_left(state))} left: run again to continue", flush=True)
            return False
        ran += 1
        if free_gib(work) < min_free:
            raise SystemExit(f"million: stopping before {name}: {free_gib(work):.1f} GiB free in {work}, expected at least {min_free} GiB")
        start_index, n = k * shard, min(shard, studies - k * shard)
        cards = work / "cards"
        shutil.rmtree(cards, ignore_errors=True)
        began = time.perf_counter()
        paths = write_cards(cards, n, seed=1_000_000 + k, start=start_index)
        written = time.perf_counter()
        with KnowledgeGraph.open(store, mode="write") as kg:
            if "build" not in state["done"]:  # the ontology and the curated corpus, as `tkg build --no-publish`
                kg.build(progress=True)
                state["done"]["build"] = {"at": time.strftime("%Y-%m-%d %H:%M:%S")}
            report = kg.ingest(paths, progress=True)
        ingested = time.perf_counter()
        shutil.rmtree(cards, ignore_errors=True)
        state["done"][name] = {
            "studies": report.studies,
            "quads": report.quads,
            "failed": len(report.failed),
            "generate_s": round(written - began, 1),
            "ingest_s": round(ingested - written, 1),
            "store_gib": round(disk_gib(Path(store)), 2),
            "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        save_state(work, state)
        print(f"{name}: {report.studies} studies, {report.quads} quads, ingest {ingested - written:.0f} s", flush=True)
    return True


def run_checkpoint(work: Path, state: dict[str, Any]) -> None:
    """Make the work store a release without the precompute steps: enough for
    the CQs, which read the store, not the steps' index."""
    if "checkpoint" in state["done"]:
        return
    left = shards_left(state)
    if left:
        raise SystemExit(f"million: {len(left)} shard(s) not ingested yet (shard-{left[0]} first): run the shards stage first")
    store = str(work / "store")
    with KnowledgeGraph.open(store, mode="write") as kg:
        began = time.perf_counter()
        release = kg.store.publish()
        took = time.perf_counter() - began
    state["done"]["checkpoint"] = {"release": release, "checkpoint_s": round(took, 1), "store_gib": round(disk_gib(Path(store)), 2)}
    save_state(work, state)
    print(f"checkpoint: release {release} in {took:.1f} s", flush=True)


#: The precompute steps for the checkpoint's release, in a child process that
#: the parent watches (free disk, the child's memory) and can stop.
_PUBLISH_CHILD = """
import json, sys, time
from kg import KnowledgeGraph
from kg import artifacts
from kg.artifacts import on_publish
chosen = {{name: step for name, step in artifacts.steps().items() if not {only!r} or name in {only!r}}}
artifacts.steps = lambda: chosen  # (on_publish runs the steps this returns)
# the release, read-only: opened for writing, the work store is compacted by RocksDB, and the
# files it rewrites no longer share the release's (at 1,000,000: 11 GiB more disk in 11 minutes)
with KnowledgeGraph.open({store!r}) as kg:
    began = time.perf_counter()
    publication = on_publish(kg, {release!r}, None, full=True)
    print(json.dumps({{"total_s": time.perf_counter() - began, "steps_s": publication.timings if publication else {{}}}}))
"""


def publish_key(only: list[str]) -> str:
    """The state's key of a publish of the steps ``only`` (all: ``publish``)."""
    return "publish" + "".join(f"-{name}" for name in sorted(only))


def run_publish(work: Path, state: dict[str, Any], min_free: float, only: list[str], every: float = 30.0) -> None:
    """The precompute steps (``only`` these, if given), in full, for the
    checkpoint's release (one transaction: a child stopped half-way leaves
    the index as it was). The child is stopped when less than ``min_free`` GiB
    of disk is left; the figures say how far it got (samples of time, index
    size, free disk and the child's peak memory every ``every`` seconds)."""
    key = publish_key(only)
    if key in state["done"] or "checkpoint" not in state["done"]:
        return
    store = work / "store"
    release = state["done"]["checkpoint"]["release"]
    index = store / "cache" / "index.sqlite"
    code = _PUBLISH_CHILD.format(store=str(store), release=release, only=sorted(only))
    began = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    samples: list[dict[str, float | None]] = []
    stopped = ""
    last = began
    peak: float | None = None
    while child.poll() is None:
        time.sleep(1.0)
        peak = tree_hwm_mib(child.pid) / 1024 or peak  # (0 once the child has exited)
        free = free_gib(work)
        now = time.perf_counter()
        if now - last >= every or free < min_free:
            last = now
            sizes = [p.stat().st_size for p in index.parent.glob(index.name + "*") if p.is_file()]
            samples.append(
                {"s": round(now - began), "index_gib": round(sum(sizes) / (1 << 30), 2), "free_gib": round(free, 1), "rss_gib": peak}
            )
            print(f"{key}: {samples[-1]}", flush=True)
        if free < min_free:
            child.kill()
            stopped = f"stopped after {now - began:.0f} s: {free:.1f} GiB free, expected at least {min_free} GiB"
            break
    out = child.communicate()[0]
    figures: dict[str, Any] = {"release": release, "steps": sorted(only) or "all", "samples": samples, "peak_rss_gib": peak}
    if stopped:
        figures["stopped"] = stopped
    elif child.returncode != 0:
        figures["stopped"] = f"the child exited with status {child.returncode}"
    else:
        result = json.loads(out.strip().splitlines()[-1])
        figures.update(total_s=round(result["total_s"], 1), steps_s={k: round(v, 1) for k, v in result["steps_s"].items()})
        figures["store_gib"] = round(disk_gib(store), 2)
    state["done"][key] = figures
    save_state(work, state)
    print(f"{key}: {figures.get('stopped') or str(figures['total_s']) + ' s'}", flush=True)


def _child(code: str, timeout: float) -> tuple[str | None, str]:
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return None, f"stopped after {timeout:.0f} s"
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or ["failed"])[-1][:200]
    return done.stdout.strip(), ""


def run_cqs(work: Path, state: dict[str, Any], cq_timeout: float) -> None:
    """Startup and every competency query (first and second run), on the
    checkpoint's release; each query in a child process stopped after ``cq_timeout``."""
    if "checkpoint" not in state["done"]:
        return
    store = str(work / "store")
    figures: dict[str, Any] = state["done"].get("cqs", {})
    if "startup_s" not in figures:
        out, _ = _child(
            "import time; t=time.perf_counter(); from kg import KnowledgeGraph; "
            f"g=KnowledgeGraph.open({store!r}); g.query('ASK {{ ?s ?p ?o }}'); print(time.perf_counter()-t)",
            120,
        )
        figures["startup_s"] = None if out is None else round(float(out), 2)
    cqs = figures.setdefault("cqs", {})
    for q in list_queries():
        if not q.is_competency_question or q.name in cqs:
            continue
        code = (
            "import time; from kg import KnowledgeGraph; from kg.queries import load_query; "
            f"g=KnowledgeGraph.open({store!r}); q=load_query({q.name!r}); t=time.perf_counter(); n=len(g.query(q.sparql).rows); "
            "w=time.perf_counter()-t; t=time.perf_counter(); g.query(q.sparql); print(w, time.perf_counter()-t, n)"
        )
        out, why = _child(code, cq_timeout)
        if out:
            first, second, rows = out.split()
            cqs[q.name] = {"first_s": round(float(first), 2), "second_s": round(float(second), 2), "rows": int(rows)}
        else:
            cqs[q.name] = {"error": why}
        state["done"]["cqs"] = figures
        save_state(work, state)
        print(f"{q.name}: {cqs[q.name]}", flush=True)
    state["done"]["cqs"] = figures
    save_state(work, state)


def run_pages(work: Path, state: dict[str, Any], timeout: float) -> None:
    """The pages' first and later views and the server's memory
    (``benchmarks/pages.py``, each request stopped after ``timeout`` s), once
    a publish is done (pages whose step did not run are computed from the store)."""
    if "pages" in state["done"]:
        return
    published = [key for key, figures in state["done"].items() if key.startswith("publish") and not figures.get("stopped")]
    if not published:
        print("pages: not measured: no publish has completed", flush=True)
        return
    store = str(work / "store")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "pages.py"), "--store", store, "--timeout", str(timeout)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    state["done"]["pages"] = {"after": published, "table": done.stdout} if done.returncode == 0 else {"error": done.stderr.strip()[-300:]}
    save_state(work, state)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="store, cards and state.json (kept between invocations)")
    parser.add_argument("--studies", type=int, default=1_000_000)
    parser.add_argument("--shard", type=int, default=50_000, help="studies per ingest stage")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"which of {', '.join(STAGES)} to run (done stages are skipped)")
    parser.add_argument(
        "--min-free-gib", type=float, default=8.0, help="stop before a shard, or stop the publish, when less disk than this is free"
    )
    parser.add_argument(
        "--max-shards", type=int, default=None, help="ingest at most this many shards in this invocation, then stop (the later stages wait)"
    )
    parser.add_argument(
        "--steps", default="", help="the publish stage runs only these precompute steps (comma-separated; default: all)"
    )
    parser.add_argument("--page-timeout", type=float, default=600.0, help="seconds a page request may take in the pages stage")
    parser.add_argument("--cq-timeout", type=float, default=300.0, help="seconds before a competency query's child process is stopped")
    args = parser.parse_args(argv)
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stage {unknown[0]!r}: expected some of {', '.join(STAGES)}")
    only = [s.strip() for s in args.steps.split(",") if s.strip()]
    known = steps()
    if set(only) - set(known):
        parser.error(f"unknown step {sorted(set(only) - set(known))[0]!r} in --steps: expected some of {', '.join(known)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    state = load_state(args.workdir)
    state.setdefault("plan", {"studies": args.studies, "shard": args.shard})
    if state["plan"] != {"studies": args.studies, "shard": args.shard}:
        parser.error(f"{args.workdir} holds a run of {state['plan']}; use another --workdir or the same --studies and --shard")
    save_state(args.workdir, state)
    if "shards" in stages and not run_shards(args.workdir, state, args.studies, args.shard, args.min_free_gib, args.max_shards):
        return 0  # publishing a part of the store would measure the wrong thing
    if "checkpoint" in stages:
        run_checkpoint(args.workdir, state)
    if "cqs" in stages:
        run_cqs(args.workdir, state, args.cq_timeout)
    if "publish" in stages:
        run_publish(args.workdir, state, args.min_free_gib, only)
    if "pages" in stages:
        run_pages(args.workdir, state, args.page_timeout)
    print(json.dumps(state, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
