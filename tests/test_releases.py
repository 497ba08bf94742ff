"""Releases of the embedded store: checkpoints share unchanged files, retention
keeps the newest N plus pinned ones and never the current or the just-served
release, a published release stays readable while the next is published, and
`tkg releases` reports the disk each uses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from kg import KnowledgeGraph
from kg.cli import main
from kg.errors import StoreError
from kg.readers.curated import read_curated

DATA = Path(__file__).parent / "data" / "records"
RECORDS = [next(read_curated(p)) for p in sorted(DATA.glob("*.yaml"))]


def _names(url: str) -> list[str]:
    return sorted(p.name for p in (Path(url) / "releases").iterdir() if not p.name.startswith("."))


@pytest.fixture()
def url(tmp_path) -> str:
    url = str(tmp_path / "var")
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.ensure_ontology()
        kg.add_records(RECORDS[:1])
        kg.publish()
    return url


def test_retention_keeps_the_newest_n_and_pinned_ones(url):
    with KnowledgeGraph.open(url, mode="write") as kg:
        for _ in range(3):
            kg.publish(keep=10)
        made = _names(url)
        assert len(made) == 4
        kg.store.pin(made[1])
        with pytest.raises(StoreError, match="no release"):
            kg.store.pin("20000101T000000000000Z")
        newest = kg.publish(keep=2)
    kept = _names(url)
    # the newest two, the pinned one, and the one served until this publish (the newest before it)
    assert kept == sorted({made[1], made[3], newest})
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.publish(keep=2)
        assert made[1] in _names(url) and made[3] not in _names(url)
        kg.store.pin(made[1], pinned=False)
        removed = kg.store.prune(keep=2)
    assert removed == [made[1]]
    assert len(_names(url)) == 2


def test_retention_never_removes_the_current_release(url):
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.publish()
        kg.publish()
        oldest = _names(url)[0]
        # a rollback by hand: current points at the oldest release again
        tmp = Path(url) / ".current-test"
        tmp.symlink_to(Path("releases") / oldest)
        os.replace(tmp, Path(url) / "current")
        removed = kg.store.prune(keep=1)
        assert oldest not in removed and oldest in _names(url)
        assert _names(url) == sorted({oldest, _names(url)[-1]})
        with pytest.raises(StoreError, match="at least 1"):
            kg.store.prune(keep=0)
    assert KnowledgeGraph.open(url).store.release == oldest


def test_a_release_stays_readable_while_the_next_is_published(url):
    reader = KnowledgeGraph.open(url)
    first = reader.store.release
    expected = reader.store.count()
    quads = reader.store.store.quads_for_pattern(None, None, None, None)  # a long read in progress
    seen = [next(quads) for _ in range(10)]
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.add_records(RECORDS[1:])
        kg.publish(keep=1)
    assert first in _names(url)  # kept: it was the one served
    seen += list(quads)
    assert len(seen) == expected
    assert reader.store.path.name == first
    reader.store.refresh()  # at its next query a reader follows the new release
    assert reader.store.release != first and reader.store.count() > expected
    reader.close()


def test_releases_share_unchanged_files(url):
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.add_records(RECORDS[1:2])
        kg.publish()
        usage = kg.store.release_usage()
    first, second = (Path(url) / "releases" / name for name in _names(url))
    inodes = {p.stat().st_ino for p in first.rglob("*") if p.is_file()}
    shared = [p for p in second.rglob("*") if p.is_file() and p.stat().st_ino in inodes]
    assert shared, "the second checkpoint shares no file with the first"
    assert all(row["own"] < row["size"] for row in usage)


def test_tkg_releases_lists_pins_and_reports_disk(url):
    runner = CliRunner()
    name = _names(url)[0]
    result = runner.invoke(main, ["releases", "--store", url, "--pin", name])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith(name))
    assert "current" in line and "pinned" in line and ("KiB" in line or "MiB" in line)
    result = runner.invoke(main, ["releases", "--store", url, "--unpin", "nope"])
    assert result.exit_code != 0 and "no release 'nope'" in result.output
    result = runner.invoke(main, ["releases", "--store", "memory:"])
    assert result.exit_code != 0 and "only an embedded store" in result.output
    result = runner.invoke(main, ["publish", "--store", url, "--keep", "0"])
    assert result.exit_code == 2 and "--keep" in result.output
