"""The shipped evidence corpus (data/): size, record validity, identifiers,
cards, provenance of findings, and the data README (study list, product table)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from kg.products import product_table_markdown, products, readme_table
from kg.readers.curated import read_curated

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
STUDIES = sorted((DATA / "studies").glob("*.yaml"))
CARDS = sorted((DATA / "cards").glob("*.txt"))
README = DATA / "README.md"

ID_PATTERNS = {"doi": r"^10\.\d{4,9}/\S+$", "pmid": r"^[1-9]\d{0,8}$", "nct": r"^NCT\d{8}$"}


def raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def records():
    return {path.name: list(read_curated(path))[0] for path in STUDIES}


def test_corpus_has_at_least_60_studies_and_20_cards():
    assert len(STUDIES) >= 60
    assert len(CARDS) >= 20
    sidecars = {raw(p).get("card") for p in STUDIES} - {None}
    assert len(sidecars) >= 20
    # every card has exactly one sidecar record, and every sidecar's card exists
    assert sidecars == {f"../cards/{c.name}" for c in CARDS}


def test_every_record_parses(records):
    assert len(records) == len(STUDIES)
    ids = Counter(r.id for r in records.values())
    assert not [i for i, n in ids.items() if n > 1]
    for name, record in records.items():
        assert record.id == Path(name).stem
        assert record.texts, name
        assert record.findings, name
        assert record.evidence_level in (1, 2, 3, 4, 5), name
        assert record.published and record.journal, name
        if record.id != "review-2026-tcell-therapies":  # its first author is not verified
            assert record.first_author, name


def test_identifiers_have_valid_syntax_and_are_not_shared():
    seen: dict[tuple[str, str], str] = {}
    for path in STUDIES:
        data = raw(path)
        ids = data.get("identifiers") or {}
        assert set(ids) <= set(ID_PATTERNS), path.name
        for kind, value in ids.items():
            assert isinstance(value, str) and re.match(ID_PATTERNS[kind], value), f"{path.name}: {kind} {value!r}"
            key = (kind, value.lower())
            assert key not in seen, f"{kind} {value} is used by {seen.get(key)} and {path.name}"
            seen[key] = path.name


def test_records_without_full_identifiers_say_so():
    for path in STUDIES:
        data = raw(path)
        ids = data.get("identifiers") or {}
        if not {"doi", "pmid"} <= set(ids):
            assert data.get("identifiers_unverified") is True, path.name


def test_every_curated_finding_states_how_it_was_obtained(records):
    for path in STUDIES:
        if path.stem == "review-2026-tcell-therapies":  # the foundation record relies on the default (curated)
            continue
        for finding in raw(path).get("findings") or []:
            assert finding.get("method") in ("curated", "text-mined"), path.name
    for record in records.values():
        for finding in record.findings:
            block = record.text(finding.section)
            assert block is not None and block[finding.start:finding.end] == finding.quote, record.id


def test_cards_have_the_card_layout():
    for card in CARDS:
        text = card.read_text(encoding="utf-8")
        lines = text.splitlines()
        assert lines[:3] == ["Mode", "Text Size", "Log in / Sign up"], card.name
        for marker in ("Key Takeaway", "What this means for you:", "Study Details", "View Original Abstract ↓", "Free Newsletter"):
            assert marker in lines, (card.name, marker)
        assert re.search(r"^Study type\S", text, re.M), card.name
        assert re.search(r"^EvidenceLevel [1-5]$", text, re.M), card.name
        assert re.search(r"^Published[A-Z][a-z]{2} \d{4}$", text, re.M), card.name


def test_card_records_take_their_texts_from_the_card(records):
    for path in STUDIES:
        card = raw(path).get("card")
        if not card:
            continue
        record = records[path.name]
        card_text = (path.parent / card).read_text(encoding="utf-8")
        assert all(block.text in card_text for block in record.texts), path.name


def test_the_corpus_covers_every_modality_and_evidence_level(records):
    levels = Counter(r.evidence_level for r in records.values())
    assert set(levels) == {1, 2, 3, 4, 5}
    subjects = {f.subject for r in records.values() for f in r.findings}
    for needed in (
        "CART",
        "TIL",
        "TCellEngager",
        "TCRT",
        "Lifileucel",
        "Blinatumomab",
        "Teclistamab",
        "Tebentafusp",
        "Tarlatamab",
        "AfamitresgeneAutoleucel",
    ):
        assert needed in subjects, needed
    refuted = [f for r in records.values() for f in r.findings if f.support == "REFUTE"]
    assert len(refuted) >= 3


def test_readme_lists_every_study():
    text = README.read_text(encoding="utf-8")
    for path in STUDIES:
        assert f"`{path.stem}`" in text, path.stem


def test_readme_product_table_is_the_generated_one():
    table = readme_table(README.read_text(encoding="utf-8"))
    assert table is not None, "data/README.md lacks the product table markers"
    assert table == product_table_markdown()


def test_product_table_covers_the_approved_products():
    approved = {p.id: p for p in products()}
    for name in (
        "Tisagenlecleucel",
        "AxicabtageneCiloleucel",
        "IdecabtageneVicleucel",
        "CiltacabtageneAutoleucel",
        "Lifileucel",
        "Blinatumomab",
        "Teclistamab",
        "Tebentafusp",
        "Tarlatamab",
        "AfamitresgeneAutoleucel",
    ):
        assert name in approved, name
    for product in approved.values():
        assert product.generic_name and product.brand_name and product.modality and product.first_indication, product.id
        assert product.first_approval_year and 2014 <= product.first_approval_year <= 2030, product.id
    assert approved["Blinatumomab"].first_approval_year == 2014
    assert approved["Tisagenlecleucel"].first_approval_year == 2017
    assert approved["Lifileucel"].modality == "tumor-infiltrating lymphocyte therapy"
