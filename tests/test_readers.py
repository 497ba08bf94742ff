"""Readers on real records and on bad input: every file either becomes study
records or gets one IngestError naming the file and what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg import KnowledgeGraph
from kg.errors import IngestError
from kg.pipeline import records_from_file
from kg.readers import MAX_FILE_BYTES, detect_format
from kg.readers.card import parse_card, split_title
from kg.readers.ctgov import parse_ctgov
from kg.readers.pubmed import parse_pubmed

CARD = """Mode
Text Size
Log in / Sign up

T cell-based therapies show promise but face barriers in solid tumorsCAR-T and TIL therapies face hurdles in treating solid tumors

AI-generated summary of the cited source, checked by automated accuracy review. How we work

Key Takeaway
Consider that CAR-T, TIL and TCE therapies face barriers in solid tumors.

This narrative review compares CAR-T therapy, TIL therapy and T cell engagers (TCEs). In solid tumors, CAR-T cells are limited by the hostile tumor microenvironment.

TIL therapy is hindered by complex manufacturing.

What this means for you:
Combination approaches may be needed.

Study Details

Study typeSystematic review
EvidenceLevel 1
PublishedJun 2026
View Original Abstract ↓
An abstract in the curators' own words about three T cell therapies.
Free Newsletter

Clinical research that matters. Delivered to your inbox.
"""


def finding_set(record):
    return {(f.subject, f.relation, f.object, f.support) for f in record.findings}


def test_the_example_card(shared_dir):
    [record] = records_from_file(shared_dir / "examples" / "card-tarlatamab.txt")
    assert record.title == "DLL3-directed T cell engager shows durable responses in small cell lung cancer"
    assert record.subtitle == "Tarlatamab brings bispecific T cell engagement to a solid tumor"
    assert record.study_type == "randomized controlled trial" and record.evidence_level == 2 and record.published == "2023-11"
    found = finding_set(record)
    assert ("Tarlatamab", "targetsAntigen", "DLL3", "SUPPORT") in found
    assert ("Tarlatamab", "causesToxicity", "CytokineReleaseSyndrome", "SUPPORT") in found
    assert ("Tarlatamab", "causesToxicity", "ICANS", "SUPPORT") in found
    for f in record.findings:
        assert record.text(f.section)[f.start : f.end] == f.quote
    sections = [b.section for b in record.texts]
    assert sections == ["key takeaway", "clinician summary", "lay summary", "what this means for you", "abstract"]
    assert "Newsletter" not in " ".join(b.text for b in record.texts)


def test_example_card_in_the_graph_answers_as_a_t_cell_engager_in_a_solid_tumor(shared_dir):
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.ensure_ontology()
    report = kg.ingest([shared_dir / "examples" / "card-tarlatamab.txt"])
    assert report.studies == 1 and not report.failed
    rows = kg.query("""PREFIX tkg: <https://w3id.org/tcell-kg/> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        ASK { tkg:Tarlatamab rdfs:subClassOf* tkg:TCellEngager . tkg:SmallCellLungCancer rdfs:subClassOf* tkg:SolidTumor .
              ?f tkg:subject tkg:Tarlatamab ; tkg:relation tkg:targetsAntigen ; tkg:object tkg:DLL3 ; tkg:evidenceQuote ?q . }""")
    assert rows.boolean


def test_a_card_whose_text_contradicts_its_metadata_keeps_both():
    record = parse_card(CARD, "review.txt")
    assert record.title == "T cell-based therapies show promise but face barriers in solid tumors"
    assert record.subtitle == "CAR-T and TIL therapies face hurdles in treating solid tumors"
    assert record.stated_study_type == "Systematic review" and record.evidence_level == 1
    assert [(c.field, c.metadata_value, c.text_value) for c in record.conflicts] == [("studyType", "Systematic review", "narrative review")]
    assert record.study_type == "review"


@pytest.mark.parametrize(
    ("line", "title", "subtitle"),
    [
        (
            "DLL3-directed T cell engager shows responsesTarlatamab brings engagement",
            "DLL3-directed T cell engager shows responses",
            "Tarlatamab brings engagement",
        ),
        ("A BiTE antibody for mRNA deliveryNew hope in leukemia", "A BiTE antibody for mRNA delivery", "New hope in leukemia"),
        ("No subtitle on this card at all", "No subtitle on this card at all", None),
    ],
)
def test_title_and_subtitle_split(line, title, subtitle):
    assert split_title(line) == (title, subtitle)


def test_pubmed_records(shared_dir):
    [review] = records_from_file(shared_dir / "real-records" / "pubmed-36873252.xml")
    assert review.id == "pmid-36873252" and review.pmid == "36873252"
    assert review.doi == "10.2147/CMAR.S400013"  # its own DOI, not one of its 98 references'
    assert review.study_type == "narrative review" and review.published == "2023" and review.journal == "Cancer management and research"
    assert review.first_author == "Zhang J"
    assert "Diffuse large B-cell lymphoma (DLBCL)" in review.text("abstract")
    # the CAR-T review names CAR-T therapy and the tumor microenvironment in one statement; the
    # abstract asserts no barrier, so the graph links them as mentions, not as a finding
    assert {"CART", "TumorMicroenvironmentBarrier", "LBCL"} <= set(review.mentions)
    [cohort] = records_from_file(shared_dir / "real-records" / "pubmed-38704912.xml")
    assert cohort.published == "2024-06" and cohort.study_type == "observational study"
    assert cohort.text("abstract").startswith("Introduction: Checkpoint inhibitors")
    assert "Quality of Life" in cohort.keywords and "Checkpoint inhibitors" in cohort.keywords


PUBMED_TEMPLATE = """<?xml version="1.0"?>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>123</PMID><Article>
<Journal><Title>J</Title><JournalIssue><PubDate>{date}</PubDate></JournalIssue></Journal>
<ArticleTitle>CAR T cells and <i>the</i> TME</ArticleTitle>
<Abstract><AbstractText Label="BACKGROUND">CAR-T cells face the tumor microenvironment in solid tumors.</AbstractText></Abstract>
<DataBankList><DataBank><DataBankName>ClinicalTrials.gov</DataBankName><AccessionNumberList><AccessionNumber>NCT01234567</AccessionNumber></AccessionNumberList></DataBank></DataBankList>
<PublicationTypeList><PublicationType>Review</PublicationType></PublicationTypeList></Article></MedlineCitation>
<PubmedData><ArticleIdList><ArticleId IdType="doi">10.1000/own</ArticleId></ArticleIdList>
<ReferenceList><Reference><ArticleIdList><ArticleId IdType="doi">10.1000/other</ArticleId></ArticleIdList></Reference></ReferenceList></PubmedData>
</PubmedArticle></PubmedArticleSet>"""


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("<Year>2021</Year><Month>Mar</Month>", "2021-03"),
        ("<Year>2021</Year><Month>11</Month><Day>2</Day>", "2021-11"),
        ("<MedlineDate>2019 Nov-Dec</MedlineDate>", "2019-11"),
        ("<MedlineDate>2018</MedlineDate>", "2018"),
        ("<Year>2020</Year><Season>Summer</Season>", "2020-06"),
    ],
)
def test_pubmed_dates_markup_ids(date, expected):
    [record] = parse_pubmed(PUBMED_TEMPLATE.format(date=date).encode(), "x.xml")
    assert record.published == expected
    assert record.title == "CAR T cells and the TME"
    assert record.doi == "10.1000/own" and record.nct == "NCT01234567"
    assert record.text("abstract") == "Background: CAR-T cells face the tumor microenvironment in solid tumors."


def test_ctgov_records(shared_dir):
    [certolizumab] = records_from_file(shared_dir / "real-records" / "ctgov-v2-NCT02552212.json")
    assert certolizumab.id == "nct02552212" and certolizumab.nct == "NCT02552212"
    assert certolizumab.phase == "3" and certolizumab.enrollment == 317 and certolizumab.status == "COMPLETED"
    assert "35296532" in certolizumab.references_pmids
    serious = [e for e in certolizumab.adverse_events if e.serious]
    other = [e for e in certolizumab.adverse_events if not e.serious]
    assert len(serious) == 36 and len(other) == 9
    glaucoma = next(e for e in serious if e.term == "Glaucoma")
    assert glaucoma.organ_system == "Eye disorders" and glaucoma.vocabulary == "MedDRA19.0"
    assert any(c.affected == 1 and c.at_risk == 159 for c in glaucoma.counts)
    [dupilumab] = records_from_file(shared_dir / "real-records" / "ctgov-v2-NCT02210780.json")
    assert dupilumab.references_pmids == () and dupilumab.adverse_events


def _study(**protocol) -> dict:
    base = {
        "identificationModule": {"nctId": "NCT09999999", "briefTitle": "CAR-T in lymphoma", "acronym": "TEST-1"},
        "conditionsModule": {"conditions": ["Diffuse Large B-cell Lymphoma"]},
        "armsInterventionsModule": {"interventions": [{"name": "Axicabtagene ciloleucel", "otherNames": ["KTE-C19"]}]},
        "designModule": {"phases": ["PHASE1", "PHASE2"], "studyType": "INTERVENTIONAL"},
        "referencesModule": {"references": [{"pmid": "28968163"}]},
    }
    base.update(protocol)
    return {
        "protocolSection": base,
        "resultsSection": {
            "adverseEventsModule": {
                "eventGroups": [{"id": "EG000", "title": "Axi-cel"}],
                "seriousEvents": [
                    {
                        "term": "Cytokine release syndrome",
                        "organSystem": "Immune system disorders",
                        "sourceVocabulary": "MedDRA 20.0",
                        "stats": [{"groupId": "EG000", "numAffected": 12, "numAtRisk": 100}],
                    },
                    {"term": "Pyrexia", "stats": [{"groupId": "EG000", "numAffected": 3, "numAtRisk": 100}]},
                ],
            }
        },
    }


def test_ctgov_maps_interventions_conditions_and_events():
    [record] = parse_ctgov(json.dumps({"studies": [_study()]}).encode(), "page.json")
    assert record.phase == "1/2" and record.acronym == "TEST-1"
    assert ("AxicabtageneCiloleucel", "investigatedIn", "LBCL", "SUPPORT") in finding_set(record)
    crs, fever = record.adverse_events
    assert crs.toxicity == "CytokineReleaseSyndrome" and crs.counts[0].affected == 12
    assert fever.toxicity is None  # kept as a counted event
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.add_records([record])
    assert kg.query(
        "ASK { <https://w3id.org/tcell-kg/study/nct09999999> <http://purl.org/dc/terms/references> "
        "<https://w3id.org/tcell-kg/study/pmid-28968163> }"
    ).boolean


def test_legacy_ctgov_xml_is_refused_with_what_to_download(shared_dir):
    path = shared_dir / "real-records" / "ctgov-legacy-NCT01207388.xml"
    assert detect_format(path) == "ctgov-legacy"
    with pytest.raises(IngestError) as info:
        records_from_file(path)
    assert str(path) in str(info.value) and "API v2 JSON" in str(info.value) and "NCT01207388" in str(info.value)


def test_every_real_record_ingests_or_is_refused_clearly(shared_dir):
    files = sorted((shared_dir / "real-records").glob("*.*"))
    files = [f for f in files if f.suffix in (".xml", ".json")]
    kg = KnowledgeGraph.open("memory:", mode="write")
    report = kg.ingest(files)
    assert report.studies == 4
    assert [Path(p).name for p, _ in report.failed] == ["ctgov-legacy-NCT01207388.xml"]


BAD_INPUTS = {
    "empty.txt": (b"", "file is empty"),
    "binary.txt": (b"\x00\x01\x02 card", "binary"),
    "latin1.txt": ("Study Details caf\xe9".encode("latin-1"), "not valid UTF-8"),
    "truncated.xml": (PUBMED_TEMPLATE.format(date="<Year>2020</Year>").encode()[:400], "malformed XML"),
    "malformed.json": (b'{"studies": [', "malformed JSON"),
    "bomb.xml": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<PubmedArticleSet>&lol2;</PubmedArticleSet>",
        "entities",
    ),
    "xxe.xml": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><PubmedArticleSet>&x;</PubmedArticleSet>',
        "entities",
    ),
    "deep.xml": (b"<PubmedArticleSet>" + b"<a>" * 300 + b"</a>" * 300 + b"</PubmedArticleSet>", "nested"),
    "nostudy.json": (b'{"hello": 1}', "protocolSection"),
    "no-details.txt": (b"Mode\n\nA titleSubtitle here\n\nKey Takeaway\nSomething.\n", "Study Details"),
    "wrongroot.xml": (b"<html><body/></html>", "unexpected XML root"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_gets_one_clear_message(tmp_path, name):
    data, expected = BAD_INPUTS[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(IngestError) as info:
        records_from_file(path)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message, message
    assert "\n" not in message


def test_oversized_files_are_refused_before_reading(tmp_path):
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(IngestError, match="too large"):
        records_from_file(path)


def test_a_batch_goes_in_except_the_bad_files(tmp_path, shared_dir):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    kg = KnowledgeGraph.open("memory:", mode="write")
    before = kg.store.count()
    report = kg.ingest([bad, shared_dir / "examples" / "card-tarlatamab.txt"])
    assert report.studies == 1 and [p for p, _ in report.failed] == [str(bad)]
    assert kg.store.count() > before


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text(max_size=600))
def test_card_reader_raises_only_ingest_errors(text):
    try:
        parse_card(text, "fuzz.txt")
    except IngestError:
        pass


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=400),
        st.text(max_size=400).map(str.encode),
        st.sampled_from([PUBMED_TEMPLATE.format(date=d) for d in ("<Year>x</Year>", "", "<MedlineDate>?</MedlineDate>")]).map(str.encode),
    )
)
def test_pubmed_reader_raises_only_ingest_errors(data):
    try:
        parse_pubmed(data, "fuzz.xml")
    except IngestError:
        pass


@FUZZ
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "protocolSection",
                        "identificationModule",
                        "nctId",
                        "studies",
                        "designModule",
                        "phases",
                        "resultsSection",
                        "adverseEventsModule",
                        "seriousEvents",
                        "stats",
                        "term",
                        "x",
                    ]
                ),
                children,
                max_size=4,
            )
        ),
        max_leaves=20,
    )
)
def test_ctgov_reader_raises_only_ingest_errors(document):
    try:
        parse_ctgov(json.dumps(document).encode(), "fuzz.json")
    except IngestError:
        pass
