"""Bulk ingest (kg.bulk): the same graph as one file at a time, per-file errors, idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg import KnowledgeGraph
from kg.bulk import bulk_ingest
from kg.generate import write_cards


@pytest.fixture(scope="module")
def cards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    directory = tmp_path_factory.mktemp("cards")
    paths = write_cards(directory, 24, seed=11)
    bad = directory / "zz-broken.txt"
    bad.write_text("not a study card\n", encoding="utf-8")
    return [*paths[:12], bad, *paths[12:]]


def quad_set(graph: KnowledgeGraph) -> set[tuple]:
    """The study graphs' quads (the ontology graph has blank nodes with random labels)."""
    return {tuple(map(str, q)) for q in graph.store.quads() if not str(q[3]).endswith("/ontology")}


def test_bulk_ingest_writes_what_one_file_at_a_time_writes(cards, tmp_path):
    errors: list[str] = []
    with KnowledgeGraph.open(str(tmp_path / "one"), mode="write") as one:
        expected = one.ingest(cards)
        reference = quad_set(one)
    with KnowledgeGraph.open(str(tmp_path / "bulk"), mode="write") as bulk:
        bulk.ensure_ontology()
        report = bulk_ingest(bulk.store.store, cards, workers=2, on_error=lambda path, exc: errors.append(path))
        assert report.loaded == expected.loaded
        assert [p for p, _ in report.failed] == [p for p, _ in expected.failed] == [str(cards[12])] == errors
        assert report.quads == expected.quads
        assert quad_set(bulk) == reference


def test_re_ingest_is_idempotent_and_small_batches_replace_graphs(cards, tmp_path):
    with KnowledgeGraph.open(str(tmp_path / "s"), mode="write") as graph:
        graph.ensure_ontology()
        first = bulk_ingest(graph.store.store, cards, workers=1)
        count = graph.store.count()
        from kg.bulk import convert, load

        again = load(graph.store.store, convert(cards, workers=1), total=len(cards), batch_files=5)
        assert graph.store.count() == count
        assert again.loaded == first.loaded


@pytest.fixture()
def bulk_calls(monkeypatch) -> list[int]:
    """The number of files of each call of the embedded store's bulk writer (from 10 files on)."""
    import kg.bulk

    calls: list[int] = []
    real = kg.bulk.load

    def spy(store, converted, **kwargs):
        calls.append(kwargs["total"])
        return real(store, converted, **kwargs)

    monkeypatch.setattr("kg.graph.BULK_THRESHOLD", 10)
    monkeypatch.setattr(kg.bulk, "load", spy)
    return calls


def test_knowledge_graph_ingest_takes_the_bulk_path_above_the_threshold(cards, tmp_path, bulk_calls):
    with KnowledgeGraph.open(str(tmp_path / "t"), mode="write") as graph:
        report = graph.ingest(cards)
        graph.publish()
    assert bulk_calls == [len(cards)]
    assert report.studies == 24 and len(report.failed) == 1
    with KnowledgeGraph.open(str(tmp_path / "t")) as reader:
        assert reader.stats()["studies"] == 24


def test_ingest_after_build_still_bulk_loads(tmp_path, bulk_calls):
    """build() used to keep its own copy of the shipped ontology, and ingest only
    bulk-loads with the default one: a build then an ingest in one process
    (benchmarks/incremental.py, million.py) went one file at a time on one core."""
    cards = write_cards(tmp_path / "cards", 12, seed=5)
    with KnowledgeGraph.open(str(tmp_path / "t"), mode="write") as graph:
        graph.build()
        report = graph.ingest(cards)
    assert bulk_calls == [12]
    assert report.studies == 12


def test_conversion_runs_only_a_few_chunks_ahead_of_a_slow_loader(monkeypatch, tmp_path):
    """pool.map submitted every chunk at once: with a remote server as the
    loader, the N-Quads of all files piled up in memory (2 GB at 10,000)."""
    from concurrent.futures import Future

    from kg import bulk

    submitted: list[int] = []

    class Inline:
        def __init__(self, **_kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, fn, part, fmt):
            submitted.append(len(part))
            future: Future = Future()
            future.set_result([bulk.Converted(p) for p in part])
            return future

    monkeypatch.setattr(bulk, "ProcessPoolExecutor", Inline)
    files = [str(tmp_path / f"{i}.txt") for i in range(100)]
    most_ahead = 0
    for consumed, item in enumerate(bulk.convert(files, workers=2, chunk=5), start=1):
        assert item.path == files[consumed - 1]  # file order kept
        most_ahead = max(most_ahead, sum(submitted) - consumed)
    assert sum(submitted) == 100
    assert most_ahead < bulk.AHEAD * 2 * 5
