"""Mutation fuzzing of every reader: real-shaped documents with parts replaced,
dropped, truncated or corrupted. No exception other than IngestError may
escape, and a record that comes out has fields of the declared types (a dict
where a string belongs would break the RDF stage later, far from its cause)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg.errors import IngestError
from kg.model import AdverseEvent, AdverseEventGroupCount, Finding, StudyRecord, TextBlock
from kg.readers.card import parse_card
from kg.readers.ctgov import parse_ctgov
from kg.readers.pubmed import parse_pubmed

DATA = Path(__file__).resolve().parent / "data" / "readers"
CTGOV = json.loads((DATA / "ctgov-v2-mini.json").read_text())
PUBMED = (DATA / "pubmed-mini.xml").read_bytes()
CARD = (DATA / "card-mini.txt").read_text()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_STR_OR_NONE = {"subtitle", "stated_study_type", "published", "journal", "first_author", "doi", "pmid", "nct", "acronym",
                "phase", "status", "sponsor", "note"}


def check_types(record: StudyRecord) -> None:
    assert isinstance(record, StudyRecord)
    for name in ("id", "title", "study_type", "source"):
        assert isinstance(getattr(record, name), str), name
    for name in _STR_OR_NONE:
        value = getattr(record, name)
        assert value is None or isinstance(value, str), (name, value)
    assert record.evidence_level is None or isinstance(record.evidence_level, int)
    assert record.enrollment is None or isinstance(record.enrollment, int)
    for name in ("keywords", "publication_types", "references_pmids", "mentions"):
        assert all(isinstance(v, str) for v in getattr(record, name)), name
    for block in record.texts:
        assert isinstance(block, TextBlock) and isinstance(block.text, str) and isinstance(block.section, str)
    for finding in record.findings:
        assert isinstance(finding, Finding)
        block = record.text(finding.section)
        assert block is not None and block[finding.start : finding.end] == finding.quote
    for event in record.adverse_events:
        assert isinstance(event, AdverseEvent) and isinstance(event.term, str)
        assert event.organ_system is None or isinstance(event.organ_system, str)
        assert event.vocabulary is None or isinstance(event.vocabulary, str)
        for count in event.counts:
            assert isinstance(count, AdverseEventGroupCount) and isinstance(count.group, str)
    for key, value in record.extras:
        assert isinstance(key, str) and isinstance(value, str)
    dataclasses.replace(record)  # still a well-formed frozen record


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, prefix + (i,))
    return out


CTGOV_PATHS = paths(CTGOV)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**12) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _set(document: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(CTGOV_PATHS), JSON_VALUES, st.booleans()), min_size=1, max_size=4))
def test_ctgov_mutated_documents(mutations):
    document = copy.deepcopy(CTGOV)
    for path, value, delete in mutations:
        try:
            document = _set(document, path, value, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    data = json.dumps(document).encode()
    for payload in (data, json.dumps({"studies": [document]}).encode()):
        try:
            records = parse_ctgov(payload, "fuzz.json")
        except IngestError:
            continue
        for record in records:
            check_types(record)


def _mutate_bytes(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data[: cut % (len(data) + 1)] if cut >= 0 else data)
    for position, value in flips:
        if out:
            out[position % len(out)] = value
    return bytes(out)


@FUZZ
@given(st.integers(-1, 10**6), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4))
def test_pubmed_truncated_and_corrupted(cut, flips):
    try:
        records = parse_pubmed(_mutate_bytes(PUBMED, cut, flips), "fuzz.xml")
    except IngestError:
        return
    for record in records:
        check_types(record)


ELEMENTS = ["PMID", "ArticleTitle", "AbstractText", "PubDate", "Year", "Month", "MedlineDate", "Season", "Title",
            "PublicationType", "DescriptorName", "Keyword", "AccessionNumber", "ELocationID", "ArticleId", "LastName"]


@FUZZ
@given(st.sampled_from(ELEMENTS), st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20))
def test_pubmed_element_text_replaced(element, value):
    from xml.sax.saxutils import escape

    text = PUBMED.decode()
    start = text.find(f"<{element}")
    if start < 0:
        return
    inner = text.find(">", start) + 1
    end = text.find(f"</{element}>", inner)
    mutated = (text[:inner] + escape(value) + text[end:]).encode()
    try:
        records = parse_pubmed(mutated, "fuzz.xml")
    except IngestError:
        return
    for record in records:
        check_types(record)


CARD_LINES = CARD.split("\n")


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(CARD_LINES) - 1), st.sampled_from(["drop", "dup", "text", "empty"]),
                          st.text(max_size=30)), min_size=1, max_size=5))
def test_card_lines_dropped_duplicated_or_replaced(edits):
    lines = list(CARD_LINES)
    for index, action, text in edits:
        index %= max(len(lines), 1)
        if not lines:
            break
        if action == "drop":
            del lines[index]
        elif action == "dup":
            lines.insert(index, lines[index])
        elif action == "text":
            lines[index] = text
        else:
            lines[index] = ""
    try:
        record = parse_card("\n".join(lines), "fuzz.txt")
    except IngestError:
        return
    check_types(record)


def test_the_fixtures_themselves_read():
    for record in parse_ctgov(json.dumps(CTGOV).encode(), "mini.json") + parse_pubmed(PUBMED, "mini.xml"):
        check_types(record)
    check_types(parse_card(CARD, "mini.txt"))
