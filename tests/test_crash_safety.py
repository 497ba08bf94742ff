"""Crash safety: `tkg ingest` and `tkg build` killed with SIGKILL at random
points, many times. After each kill the store opens, validates, and holds
either the old or the new state of each study, never a mix; the published
release keeps answering."""

from __future__ import annotations

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
