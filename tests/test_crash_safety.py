"""Crash safety: `tkg ingest` and `tkg build` killed with SIGKILL at random
points, many times. After each kill the store opens, validates, and holds
either the old or the new state of each study, never a mix; the published
release keeps answering."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kg import KnowledgeGraph
from kg.validate import check_quotes, validate_store

DATA = Path(__file__).parent / "data" / "records"
TEMPLATE = (DATA / "mini-car-t.yaml").read_text()
N = 120  # studies per ingest: enough for kills to land mid-way
CLI = [sys.executable, "-c", "from kg.cli import main; main()"]


def graph_sizes(kg: KnowledgeGraph) -> dict[str, int]:
    rows = kg.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g").rows
    return {str(r["g"]).rsplit("/", 1)[-1]: int(r["n"].toPython()) for r in rows}


def write_versions(directory: Path, count: int, version: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        text = TEMPLATE.replace("id: mini-car-t", f"id: crash-{i:03d}")
        if version == 2:  # the new version has one more keyword triple
            text = text.replace("journal: Test Journal", "journal: Test Journal\nkeywords: [version two]")
        (directory / f"crash-{i:03d}.yaml").write_text(text)


@pytest.mark.slow
def test_ingest_killed_at_random_points_never_leaves_a_mixed_study(tmp_path: Path):
    store = str(tmp_path / "var")
    write_versions(tmp_path / "v1", N, 1)
    write_versions(tmp_path / "v2", N, 2)
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ensure_ontology()
        kg.ingest(sorted((tmp_path / "v1").glob("*.yaml")))
        kg.publish()
        old_sizes = graph_sizes(kg)
    old = old_sizes["crash-000"]
    rng = random.Random(7)
    started = time.monotonic()  # one uninterrupted run tells how long an ingest takes here
    subprocess.run([*CLI, "ingest", "--store", store, str(tmp_path / "v1")], check=True, capture_output=True)
    duration = time.monotonic() - started
    interrupted_midway = 0
    for attempt in range(6):
        source = tmp_path / ("v2" if attempt % 2 == 0 else "v1")  # every attempt rewrites every study
        proc = subprocess.Popen([*CLI, "ingest", "--store", store, str(source)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 0.95) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with KnowledgeGraph.open(store, mode="write") as kg:
            sizes = graph_sizes(kg)
            _checked, bad_quotes = check_quotes(kg.store)
            assert not bad_quotes, f"attempt {attempt}: {bad_quotes[:3]}"
        for i in range(N):
            assert sizes[f"crash-{i:03d}"] in (old, old + 1), f"attempt {attempt}: crash-{i:03d} is half-written"
        if len({sizes[f"crash-{i:03d}"] for i in range(N)}) == 2:
            interrupted_midway += 1
        reader = KnowledgeGraph.open(store)
        assert reader.stats()["studies"] == N
        reader.close()
    assert interrupted_midway > 0, "no kill landed in the middle of an ingest: the test proved nothing"
    with KnowledgeGraph.open(store, mode="write") as kg:
        assert validate_store(kg.store).ok


@pytest.mark.slow
def test_build_killed_at_random_points_leaves_the_published_graph(tmp_path: Path):
    data = tmp_path / "data"
    write_versions(data / "studies", 40, 1)
    store = str(tmp_path / "var")
    first = subprocess.run([*CLI, "build", "--store", store, "--data", str(data)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    before = KnowledgeGraph.open(store).stats()
    duration = time.monotonic()
    subprocess.run([*CLI, "build", "--store", store, "--data", str(data), "--no-publish"], check=True, capture_output=True)
    duration = time.monotonic() - duration
    write_versions(data / "studies", 60, 2)
    rng = random.Random(11)
    for attempt in range(4):
        proc = subprocess.Popen(
            [*CLI, "build", "--store", store, "--data", str(data)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader = KnowledgeGraph.open(store)
        stats = reader.stats()
        assert stats["studies"] in (before["studies"], 60), f"attempt {attempt}: {stats}"
        assert validate_store(reader.store).ok
        reader.close()
        with KnowledgeGraph.open(store, mode="write") as kg:  # the work store opens and is whole
            assert validate_store(kg.store).ok
    final = subprocess.run([*CLI, "build", "--store", store, "--data", str(data)], capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert KnowledgeGraph.open(store).stats()["studies"] == 60
    assert len(list((Path(store) / "stores").iterdir())) == 1  # no orphaned work stores


# -- the bulk path (issue 13): a killed re-ingest loses no published study ----------------------------

BULK_N = 240  # above kg.graph.BULK_THRESHOLD: the bulk path (process pool, batched writes)

#: Runs `tkg ingest` with the native store wrapped so that the process SIGKILLs itself right after its
#: AFTER-th write call returns: a kill exactly between two writes, where the old bulk path had dropped a
#: batch's graphs and not yet added them back.
KILL_AFTER_WRITE = """
import os, signal, sys
import kg.bulk as bulk
AFTER = int(sys.argv[1])
real = bulk.load

class KillAfter:
    def __init__(self, store):
        self.store, self.calls = store, 0
    def __len__(self):
        return len(self.store)
    def __getattr__(self, name):
        attr = getattr(self.store, name)
        if name not in ("update", "extend", "bulk_extend", "load", "bulk_load", "remove_graph", "clear_graph"):
            return attr
        def call(*args, **kwargs):
            result = attr(*args, **kwargs)
            self.calls += 1
            if self.calls == AFTER:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return call

def load(store, converted, **kwargs):
    return real(KillAfter(store), converted, **{**kwargs, "batch_files": 60})

bulk.load = load
from kg.cli import main
main(sys.argv[2:])
"""


def _descendants(pid: int) -> set[int]:
    """Processes whose parent chain leads to ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _published_store(tmp_path: Path) -> tuple[str, Path]:
    store = str(tmp_path / "var")
    write_versions(tmp_path / "v1", BULK_N, 1)
    write_versions(tmp_path / "v2", BULK_N, 2)
    done = subprocess.run([*CLI, "ingest", "--store", store, str(tmp_path / "v1")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return store, tmp_path / "v2"


def _studies(store: str) -> tuple[int, dict[str, int]]:
    with KnowledgeGraph.open(store, mode="write") as kg:
        sizes = graph_sizes(kg)
        studies = kg.stats()["studies"]
    return studies, sizes


@pytest.mark.slow
@pytest.mark.parametrize("after", [1, 2, 3])
def test_bulk_reingest_killed_between_writes_keeps_every_study(tmp_path: Path, after: int):
    """SIGKILL right after the n-th write of a bulk re-ingest (4 batches of 60): every study is still in
    the work store, old or new, and the next ingest publishes all of them. Before the fix the first
    write was the batch's DROP, and 60 studies were gone."""
    store, v2 = _published_store(tmp_path)
    _count, before = _studies(store)
    old = before["crash-000"]
    log = tmp_path / "stderr.txt"
    with log.open("wb") as err:  # a file, not a pipe: orphaned pool workers would hold a pipe open
        proc = subprocess.run([sys.executable, "-c", KILL_AFTER_WRITE, str(after), "ingest", "--no-publish", "--store", store, str(v2)],
                              stdout=subprocess.DEVNULL, stderr=err, timeout=300)
    assert proc.returncode == -signal.SIGKILL, log.read_text()
    studies, sizes = _studies(store)
    assert studies == BULK_N
    assert all(sizes[f"crash-{i:03d}"] in (old, old + 1) for i in range(BULK_N))
    assert sum(sizes[f"crash-{i:03d}"] == old + 1 for i in range(BULK_N)) == 60 * after  # whole batches went in
    # the next, unrelated ingest publishes a release with every study
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.yaml").write_text(TEMPLATE.replace("id: mini-car-t", "id: other-1"))
    subprocess.run([*CLI, "ingest", "--store", store, str(tmp_path / "other")], check=True, capture_output=True)
    with KnowledgeGraph.open(store) as reader:
        assert reader.stats()["studies"] == BULK_N + 1


@pytest.mark.slow
def test_bulk_reingest_killed_at_several_moments_loses_nothing_and_leaves_no_pool(tmp_path: Path):
    """SIGKILL a bulk re-ingest at several moments after its conversion pool started: no study is
    lost, and the pool's processes die with their parent (they stayed alive, forever, before)."""
    store, v2 = _published_store(tmp_path)
    for attempt, delay in enumerate((0.0, 0.7, 1.5, 3.0)):
        command = [*CLI, "ingest", "--no-publish", "--store", store, str(v2)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children: set[int] = set()
        deadline = time.monotonic() + 60
        while len(children) < 2 and time.monotonic() < deadline and proc.poll() is None:
            children = _descendants(proc.pid)
            time.sleep(0.05)
        assert children, f"attempt {attempt}: the ingest started no conversion pool"
        time.sleep(delay)
        children |= _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _alive(children)
        for pid in left:  # do not leak them into the rest of the test run
            os.kill(pid, signal.SIGKILL)
        assert not left, f"attempt {attempt}: pool processes outlived the killed ingest"
        studies, _sizes = _studies(store)
        assert studies == BULK_N, f"attempt {attempt}: {studies} studies"
