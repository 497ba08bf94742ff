"""PubMed reader on a hand-made fixture (dates, markup, own DOI, DataBank, MeSH)
and the safe-XML checks in every encoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.errors import IngestError
from kg.readers.pubmed import parse_pubmed

DATA = Path(__file__).resolve().parent / "data" / "readers"


def test_fixture_fields():
    first, second = parse_pubmed((DATA / "pubmed-mini.xml").read_bytes(), "mini.xml")
    assert first.id == "pmid-11110001" and first.pmid == "11110001"
    assert first.title == "Persistence of CD19-directed CAR T cells in lymphoma"  # <i> flattened
    assert first.published == "2019-12"  # MedlineDate "2019 Dec-2020 Jan"
    assert first.doi == "10.9999/jmo.2019.1"  # ELocationID, not the reference list's DOI
    assert first.nct == "NCT09990001" and first.study_type == "randomized controlled trial"
    assert "Immunotherapy, Adoptive" in first.keywords and "CAR-T" in first.keywords
    assert first.text("abstract").startswith("Background: CAR T cells")
    assert second.published == "2021-06"  # Season
    assert second.doi == "10.9999/aj.2021.7" and second.study_type == "narrative review"


def pubmed_doc(body: str, doctype: str, encoding: str) -> str:
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}\n<PubmedArticleSet><PubmedArticle><MedlineCitation>'
            f"<PMID>1</PMID><Article><ArticleTitle>T {body}</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>")


@pytest.mark.parametrize("codec,declared", [("utf-8", "UTF-8"), ("utf-16", "UTF-16"), ("utf-16-be", "UTF-16BE"),
                                           ("utf-16-le", "UTF-16LE"), ("utf-32", "UTF-32")])
def test_entity_declarations_refused_in_every_encoding_regression(codec, declared):
    """Bug: the entity check looked for b'<!ENTITY' in the raw bytes, so UTF-16/32 documents slipped past it."""
    doc = pubmed_doc("&x;", '<!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "file:///etc/hostname">]>', declared)
    with pytest.raises(IngestError, match="entit"):
        parse_pubmed(doc.encode(codec), "x.xml")


@pytest.mark.parametrize("codec,declared", [("utf-16", "UTF-16"), ("utf-32", "UTF-32"), ("latin-1", "ISO-8859-1")])
def test_plain_documents_in_other_encodings_still_read(codec, declared):
    (record,) = parse_pubmed(pubmed_doc("cells", "", declared).encode(codec), "x.xml")
    assert record.title == "T cells"


def test_unknown_declared_encoding_is_one_clear_error():
    with pytest.raises(IngestError, match="encoding"):
        parse_pubmed(pubmed_doc("x", "", "X-NO-SUCH").encode(), "x.xml")


@pytest.mark.parametrize("medline,expected", [("1998 Spring", "1998-03"), ("2001 Winter-2002 Spring", "2001-01"),
                                              ("2019 Dec-2020 Jan", "2019-12"), ("2005 Nov-Dec", "2005-11"), ("2010", "2010")])
def test_medline_dates_with_seasons_regression(medline, expected):
    """Bug: a MedlineDate naming a season ("1998 Spring") lost its month."""
    doc = (f"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>2</PMID><Article><Journal><JournalIssue><PubDate>"
           f"<MedlineDate>{medline}</MedlineDate></PubDate></JournalIssue></Journal><ArticleTitle>T</ArticleTitle></Article>"
           f"</MedlineCitation></PubmedArticle></PubmedArticleSet>")
    (record,) = parse_pubmed(doc.encode(), "x.xml")
    assert record.published == expected
