"""PubMed / MEDLINE XML (E-utilities efetch ``PubmedArticleSet``).

One record per ``PubmedArticle``: PMID, title (inline markup flattened),
abstract (structured sections keep their labels), journal, publication date
(numeric or text month, ``MedlineDate``, ``Season``), publication types, MeSH
headings, keywords, the article's own DOI (from its ArticleIdList or
ELocationID, never from the reference list) and ClinicalTrials.gov numbers
from the DataBank list and from the title and abstract (written as
``tkg:nctId`` of the first and ``dcterms:references`` to each trial's study). Parsed with :mod:`kg.readers.xmlsafe`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from ..errors import IngestError
from ..model import StudyRecord, TextBlock
from . import read_bytes
from .xmlsafe import parse_xml, text_of

MONTHS = {m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
SEASONS = {"winter": 1, "spring": 3, "summer": 6, "fall": 9, "autumn": 9}

#: PubMed publication types -> study type keys (first match wins, most specific first).
PUBLICATION_TYPES = [
    ("Meta-Analysis", "meta-analysis"),
    ("Systematic Review", "systematic review"),
    ("Randomized Controlled Trial", "randomized controlled trial"),
    ("Clinical Trial, Phase III", "clinical trial"),
    ("Clinical Trial, Phase II", "clinical trial"),
    ("Clinical Trial, Phase I", "clinical trial"),
    ("Clinical Trial", "clinical trial"),
    ("Observational Study", "observational study"),
    ("Case Reports", "case report"),
    ("Practice Guideline", "consensus statement"),
    ("Guideline", "consensus statement"),
    ("Consensus Development Conference", "consensus statement"),
    ("Review", "narrative review"),
]
EVIDENCE_LEVELS = {"meta-analysis": 1, "systematic review": 1, "randomized controlled trial": 2, "clinical trial": 3,
                   "observational study": 3, "case report": 4, "narrative review": 4, "consensus statement": 5}


def _month(value: str) -> int | None:
    value = value.strip().lower()
    if value.isdigit() and 1 <= int(value) <= 12:
        return int(value)
    return MONTHS.get(value[:3])


def publication_date(article: etree._Element) -> str | None:
    """YYYY or YYYY-MM from the journal issue's PubDate (MedlineDate and Season included),
    falling back to the electronic ArticleDate."""
    pub = article.find("./Journal/JournalIssue/PubDate")
    if pub is not None:
        year = pub.findtext("Year")
        if year and year.strip().isdigit():
            month = _month(pub.findtext("Month") or "") or SEASONS.get((pub.findtext("Season") or "").strip().lower())
            return f"{year.strip()}-{month:02d}" if month else year.strip()
        medline = pub.findtext("MedlineDate")
        if medline:
            match = re.match(r"\s*(\d{4})(?:\s+([A-Za-z]+))?", medline)
            if match:
                word = (match.group(2) or "").lower()
                month = SEASONS.get(word) or _month(word)
                return f"{match.group(1)}-{month:02d}" if month else match.group(1)
    electronic = article.find("./ArticleDate")
    if electronic is not None and (electronic.findtext("Year") or "").isdigit():
        month = _month(electronic.findtext("Month") or "")
        return f"{electronic.findtext('Year')}-{month:02d}" if month else electronic.findtext("Year")
    return None


def _doi(entry: etree._Element, article: etree._Element) -> str | None:
    # the article's own ids: PubmedData/ArticleIdList directly under PubmedData, not under ReferenceList
    for node in entry.findall("./PubmedData/ArticleIdList/ArticleId[@IdType='doi']"):
        value = (node.text or "").strip()
        if value.startswith("10."):
            return value
    for node in article.findall("./ELocationID[@EIdType='doi']"):
        value = (node.text or "").strip()
        if value.startswith("10."):
            return value
    return None


def _abstract(article: etree._Element) -> str:
    parts = []
    for node in article.findall("./Abstract/AbstractText"):
        text = text_of(node)
        if not text:
            continue
        label = node.get("Label")
        parts.append(f"{label.capitalize() if label.isupper() else label}: {text}" if label else text)
    return " ".join(parts)


def parse_article(entry: etree._Element, source: str) -> StudyRecord:
    citation = entry.find("./MedlineCitation")
    if citation is None:
        raise IngestError("a PubmedArticle has no MedlineCitation", where=source)
    pmid = (citation.findtext("PMID") or "").strip()
    if not pmid.isdigit():
        raise IngestError("a PubmedArticle has no numeric PMID", where=source)
    article = citation.find("./Article")
    if article is None:
        raise IngestError(f"PMID {pmid} has no Article element", where=source)
    title = text_of(article.find("./ArticleTitle")) or text_of(article.find("./VernacularTitle"))
    if not title:
        raise IngestError(f"PMID {pmid} has no title", where=source)
    types = tuple(text_of(t) for t in article.findall("./PublicationTypeList/PublicationType"))
    study_type = next((key for name, key in PUBLICATION_TYPES if name in types), "study")
    mesh = [text_of(d) for d in citation.findall("./MeshHeadingList/MeshHeading/DescriptorName")]
    keywords = [text_of(k) for k in citation.findall("./KeywordList/Keyword")]
    accessions = article.findall("./DataBankList/DataBank[DataBankName='ClinicalTrials.gov']/AccessionNumberList/AccessionNumber")
    ncts = sorted({(a.text or "").strip() for a in accessions if re.fullmatch(r"NCT\d{8}", (a.text or "").strip())})
    author = article.find("./AuthorList/Author")
    first_author = None
    if author is not None:
        last, initials = author.findtext("LastName"), author.findtext("Initials")
        first_author = f"{last} {initials}".strip() if last else text_of(author.find("CollectiveName")) or None
    texts = [TextBlock("title", title)]
    abstract = _abstract(article)
    if abstract:
        texts.append(TextBlock("abstract", abstract))
    # trials named in the abstract ("... (NCT01234567)") count like those of the DataBank list
    ncts = sorted(set(ncts) | set(re.findall(r"\bNCT\d{8}\b", f"{title} {abstract}")))
    extras = tuple(("nct", n) for n in ncts[1:])
    return StudyRecord(
        id=f"pmid-{pmid}",
        title=title.rstrip("."),
        study_type=study_type,
        stated_study_type="; ".join(types) or None,
        evidence_level=EVIDENCE_LEVELS.get(study_type),
        published=publication_date(article),
        journal=text_of(article.find("./Journal/Title")) or None,
        first_author=first_author,
        doi=_doi(entry, article),
        pmid=pmid,
        nct=ncts[0] if ncts else None,
        keywords=tuple(dict.fromkeys(mesh + keywords)),
        publication_types=types,
        source=source,
        texts=tuple(texts),
        extras=extras,
    )


def parse_pubmed(data: bytes, source: str) -> list[StudyRecord]:
    root = parse_xml(data, source)
    if root.tag == "PubmedArticle":
        entries = [root]
    elif root.tag == "PubmedArticleSet":
        entries = root.findall("./PubmedArticle")
    else:
        raise IngestError(f"unexpected XML root <{root.tag}>", where=source, expected="a PubMed efetch PubmedArticleSet")
    if not entries:
        raise IngestError("the PubmedArticleSet holds no PubmedArticle", where=source)
    return [parse_article(entry, source) for entry in entries]


def read_pubmed(path: Path) -> Iterator[StudyRecord]:
    yield from parse_pubmed(read_bytes(path), str(path))
