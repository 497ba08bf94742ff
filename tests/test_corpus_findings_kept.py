"""Before/after: the curated corpus (data/studies with its cards) and the seed
cards lose no finding they produced before the extractor work of issue 14.

The expected findings (study, subject, relation, object, support) sit in
tests/data/corpus_findings.json, written by tests/corpus_findings.py; each must
still be produced. New findings are fine; a lost one fails with its source."""

from __future__ import annotations

import json
import os

import pytest
from corpus_findings import EXPECTED, ROOT, SEED_CARDS, findings_of

EXPECTED_SOURCES: dict[str, list[list[str]]] = json.loads(EXPECTED.read_text(encoding="utf-8"))["sources"]


def _path(source: str):
    return SEED_CARDS.get(source) or ROOT / source


def test_the_expected_file_covers_the_corpus():
    studies = {f"data/studies/{p.name}" for p in (ROOT / "data" / "studies").glob("*.yaml")}
    recorded = {s for s in EXPECTED_SOURCES if s.startswith("data/")}
    assert recorded <= studies, f"recorded sources no longer in data/studies: {sorted(recorded - studies)}"
    assert set(SEED_CARDS) <= set(EXPECTED_SOURCES)
    assert sum(len(rows) for rows in EXPECTED_SOURCES.values()) >= 400  # the corpus as recorded: 440 findings


@pytest.mark.parametrize("source", sorted(EXPECTED_SOURCES))
def test_no_finding_is_lost(source: str):
    path = _path(source)
    if not path.is_file():
        message = f"{path} is missing"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(message + "; CI must run this test")
        pytest.skip(message)
    now = set(findings_of(path))
    lost = [tuple(row) for row in EXPECTED_SOURCES[source] if tuple(row) not in now]
    assert not lost, f"{source} lost {len(lost)} finding(s): " + "; ".join(" ".join(row) for row in lost)
