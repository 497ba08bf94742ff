"""Faults: concurrent ingests, queries during an ingest, a full disk and a
read-only store directory. Each gives a clear error and no corruption."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg import KnowledgeGraph
from kg.cli import main
from kg.errors import StoreError
from kg.validate import validate_store

DATA = Path(__file__).parent / "data" / "records"
TEMPLATE = (DATA / "mini-car-t.yaml").read_text()
CLI = [sys.executable, "-c", "from kg.cli import main; main()"]


def studies(directory: Path, count: int, prefix: str = "s") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"{prefix}{i:04d}.yaml").write_text(TEMPLATE.replace("id: mini-car-t", f"id: {prefix}{i:04d}"))
    return directory


@pytest.fixture
def published(tmp_path: Path) -> str:
    store = str(tmp_path / "var")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ensure_ontology()
        kg.ingest([DATA / "mini-car-t.yaml", DATA / "mini-til.yaml"])
        kg.publish()
    return store


def test_a_second_ingest_is_refused_with_a_clear_message_while_one_runs(published, tmp_path):
    holder = KnowledgeGraph.open(published, mode="write")  # an ingest in progress
    try:
        result = CliRunner().invoke(main, ["ingest", "--store", published, str(DATA / "mini-til.yaml")])
        assert result.exit_code == 1
        assert "in use by another process" in result.output and "Traceback" not in result.output
    finally:
        holder.close()
    again = CliRunner().invoke(main, ["ingest", "--store", published, str(DATA / "mini-til.yaml")])
    assert again.exit_code == 0, again.output


def test_queries_keep_answering_consistently_during_an_ingest(published, tmp_path):
    source = studies(tmp_path / "batch", 150)
    reader = KnowledgeGraph.open(published)
    before = reader.stats()["studies"]
    proc = subprocess.Popen([*CLI, "ingest", "--store", published, str(source)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = []
    while proc.poll() is None:
        seen.append(reader.stats()["studies"])
        time.sleep(0.05)
    _out, err = proc.communicate()
    assert proc.returncode == 0, err
    after = reader.stats()["studies"]  # the reader follows the new release
    assert len(seen) > 3, "the ingest finished before the reader could query during it"
    assert set(seen) <= {before, after}, "a reader saw a partly ingested state"
    assert after == before + 150


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    _mount_tmpfs(mount, "16m")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_gives_a_clear_error_and_no_corruption(small_disk, tmp_path):
    store = str(small_disk / "var")
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * 8_000_000)  # freed after the failure, as an operator would
    source = studies(tmp_path / "many", 400)
    result = CliRunner().invoke(main, ["ingest", "--store", store, "--no-publish", str(source)])
    for _ in range(8):
        if result.exit_code != 0:
            break
        # not full yet: ingest more
        source = studies(tmp_path / f"more{_}", 400, prefix=f"m{_}-")
        result = CliRunner().invoke(main, ["ingest", "--store", store, "--no-publish", str(source)])
    assert result.exit_code != 0, "the disk never filled up"
    assert "Traceback" not in result.output
    assert "No space left" in result.output or "space" in result.output.lower()
    ballast.unlink()
    with KnowledgeGraph.open(store, mode="write") as kg:
        sizes = kg.query("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g").rows
        counts = {int(r["n"].toPython()) for r in sizes if "/graph/ontology" not in str(r["g"])}
        assert len(counts) <= 1, f"some study graphs are half-written: {counts}"


def test_a_read_only_store_directory_gives_a_clear_error(published, tmp_path):
    mount = tmp_path / "ro"
    _mount_tmpfs(mount, "50m")
    try:
        subprocess.run(["cp", "-a", published, str(mount / "var")], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        result = CliRunner().invoke(main, ["ingest", "--store", str(mount / "var"), str(DATA / "mini-til.yaml")])
        assert result.exit_code == 1
        assert "Read-only file system" in result.output and "Traceback" not in result.output
        reader = KnowledgeGraph.open(str(mount / "var"))  # readers still work
        assert reader.stats()["studies"] == 2
        reader.close()
        with pytest.raises(StoreError):
            KnowledgeGraph.open(str(mount / "var"), mode="write")
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_the_validator_still_passes_after_all_that(published):
    with KnowledgeGraph.open(published, mode="write") as kg:
        assert validate_store(kg.store).ok
