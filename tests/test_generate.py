"""The synthetic card generator, and a batch of 1,000 generated cards going in
with a progress bar and one transaction per study."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kg import KnowledgeGraph
from kg.generate import generate_cards, write_cards
from kg.readers.card import parse_card


def test_cards_are_reproducible_and_parse():
    first = list(generate_cards(20, seed=3))
    assert first == list(generate_cards(20, seed=3))
    assert first != list(generate_cards(20, seed=4))
    for name, text in first:
        record = parse_card(text, name)
        assert record.subtitle and record.evidence_level in (1, 2, 3, 4)
        assert {b.section for b in record.texts} >= {"key takeaway", "clinician summary", "abstract"}


def test_shards_numbered_from_start_give_distinct_studies():
    """benchmarks/million.py ingests in shards: a shard numbered from ``start``
    must not reuse the file names or study ids of an earlier shard."""
    first = [parse_card(text, name) for name, text in generate_cards(3, seed=1)]
    later = list(generate_cards(3, seed=2, start=3))
    assert [name for name, _ in later] == ["synthetic-000003.txt", "synthetic-000004.txt", "synthetic-000005.txt"]
    ids = {r.id for r in first} | {parse_card(text, name).id for name, text in later}
    assert len(ids) == 6


def test_generated_cards_yield_every_kind_of_finding_the_matrix_needs():
    """The benchmark's CQs (the evidence matrix above all) must have data to
    chew on: every relation the matrix and the gap report use is extracted."""
    from kg.extract import extract_findings

    relations: dict[str, int] = {}
    for name, text in generate_cards(50, seed=7):
        for finding in extract_findings(parse_card(text, name)):
            relations[finding.relation] = relations.get(finding.relation, 0) + 1
    for relation in ("facesBarrier", "addressesBarrier", "causesToxicity", "effectiveIn", "targetsAntigen"):
        assert relations.get(relation, 0) >= 25, (relation, relations)


def test_small_batch_one_transaction_per_file(tmp_path: Path, monkeypatch):
    """Below the bulk threshold each file's studies replace their graphs in one call."""
    paths = write_cards(tmp_path / "cards", 30, seed=5)
    kg = KnowledgeGraph.open(str(tmp_path / "var"), mode="write")
    try:
        kg.ensure_ontology()
        calls: list[list[str]] = []
        original = kg.store.replace_graphs

        def spy(graphs):
            graphs = list(graphs)
            calls.append([name for name, _ in graphs])
            return original(graphs)

        monkeypatch.setattr(kg.store, "replace_graphs", spy)
        report = kg.ingest(paths)
        assert report.studies == 30 and not report.failed
        assert len(calls) == 30 and all(len(c) == 1 for c in calls)  # each study its own atomic update
        assert len({c[0] for c in calls}) == 30
        assert kg.stats()["studies"] == 30
    finally:
        kg.close()


@pytest.mark.slow
def test_a_thousand_cards_go_in_as_a_thousand_studies(tmp_path: Path):
    """1,000 generated cards (the bulk path): distinct ids, every one a study."""
    paths = write_cards(tmp_path / "cards", 1000, seed=1)
    kg = KnowledgeGraph.open(str(tmp_path / "var"), mode="write")
    try:
        report = kg.ingest(paths)
        assert report.studies == 1000 and not report.failed
        assert len({i for _, ids in report.loaded for i in ids}) == 1000
        assert kg.stats()["studies"] == 1000
    finally:
        kg.close()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("script") is None, reason="needs `script` (util-linux) for a pseudo-terminal")
def test_ingest_shows_a_progress_bar_on_a_terminal_and_not_in_pipes(tmp_path: Path):
    write_cards(tmp_path / "cards", 150, seed=2)
    command = f"{sys.executable} -c 'from kg.cli import main; main()' ingest --store {tmp_path / 'var'} {tmp_path / 'cards'}"
    on_tty = subprocess.run(
        ["script", "-qec", f"stty cols 120 rows 40; {command}", "/dev/null"], capture_output=True, text=True, timeout=300
    )
    assert on_tty.returncode == 0, on_tty.stdout
    assert "150/150" in on_tty.stdout and "ingest" in on_tty.stdout
    piped = subprocess.run(
        [sys.executable, "-c", "from kg.cli import main; main()", "ingest", "--store", str(tmp_path / "var2"), str(tmp_path / "cards")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0 and "150/150" not in piped.stderr
    assert "ingested 150 studies" in piped.stdout
