"""Standard identifiers (ontology/mappings.sssom.tsv): CURIEs checked against a
prefix registry (bioregistry, curies), one entity per exactMatch id, object
labels that agree with the entity, sources recorded, no MedDRA, the loader's
refusals, and the coverage report kept true."""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

from kg.errors import ValidationError
from kg.identifiers import coverage
from kg.ontology import MAPPINGS_FILE, ONTOLOGY_DIR, Ontology, load_mappings, load_ontology_graph, read_mappings

bioregistry = pytest.importorskip("bioregistry")
curies = pytest.importorskip("curies")

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def mapping_set():
    return load_mappings()


@pytest.fixture(scope="module")
def onto() -> Ontology:
    return Ontology.load()


# -- CURIEs and prefixes -------------------------------------------------------------
def test_every_curie_is_valid_for_its_registered_prefix(mapping_set):
    converter = curies.Converter.from_prefix_map(mapping_set.curie_map)
    assert len(mapping_set.mappings) > 50
    for m in mapping_set.mappings:
        prefix, local = m.object_id.split(":", 1)
        assert converter.expand(m.object_id) == m.object_iri, m
        assert converter.compress(m.object_iri) == m.object_id, m
        registered = bioregistry.normalize_prefix(prefix)
        assert registered is not None, f"{m.object_id}: prefix unknown to bioregistry"
        # the spelling is the one Biolink and SSSOM use (MONDO, NCIT, HGNC, UniProtKB), a synonym of the registered prefix
        assert bioregistry.is_valid_identifier(registered, local), f"line {m.line}: {m.object_id} does not match the {registered} pattern"


def test_curie_map_expansions_agree_with_the_registry_or_biolink(mapping_set):
    import json
    from importlib.resources import files

    biolink = json.loads(files("biolink_model").joinpath("prefixmaps/biolink_model_prefix_map.json").read_text())
    for prefix, base in mapping_set.curie_map.items():
        if prefix == "tkg":  # the project's own namespace (bioregistry's "tkg" is an unrelated resource)
            assert base == "https://w3id.org/tcell-kg/"
            continue
        registered = bioregistry.normalize_prefix(prefix)
        assert registered, prefix
        assert base in {bioregistry.get_uri_prefix(registered), biolink.get(prefix)}, f"{prefix}: {base}"


def test_the_pattern_check_rejects_malformed_ids():
    # the check above is not vacuous: these fail it
    assert not bioregistry.is_valid_identifier("mondo", "6486")
    assert not bioregistry.is_valid_identifier("hgnc", "HGNC:1633")
    assert not bioregistry.is_valid_identifier("uniprot", "CD19")


# -- one entity per exact id -----------------------------------------------------------
def exact_duplicates(mappings) -> dict[str, set[str]]:
    subjects: dict[str, set[str]] = defaultdict(set)
    for m in mappings:
        if m.predicate == "exactMatch":
            subjects[m.object_id].add(m.subject)
    return {obj: subs for obj, subs in subjects.items() if len(subs) > 1}


def test_no_standard_id_maps_two_entities_by_exact_match(mapping_set):
    assert exact_duplicates(mapping_set.mappings) == {}


def test_the_duplicate_check_finds_a_duplicate(mapping_set):
    first = next(m for m in mapping_set.mappings if m.predicate == "exactMatch")
    from dataclasses import replace

    twin = replace(first, subject="SomeOtherEntity")
    assert exact_duplicates([*mapping_set.mappings, twin]) == {first.object_id: {first.subject, "SomeOtherEntity"}}


# -- labels agree in substance ---------------------------------------------------------
_SAME = {"cancer": ("malignant", "neoplasm"), "leukaemia": ("leukemia",), "tumour": ("tumor",)}


def normalized(text: str) -> frozenset[str]:
    """Words of a label, case- and accent-folded, hyphens and punctuation as spaces,
    'cancer' read as 'malignant neoplasm' (NCIt's wording)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()
    words = []
    for word in re.split(r"[^a-z0-9]+", text):
        words.extend(_SAME.get(word, (word,)) if word else ())
    return frozenset(words)


def agrees(object_label: str, names: list[str]) -> bool:
    """Same words, or the words of one contained in the other (qualifiers such as
    'B-cell', 'pleural', 'syndrome' on one side only)."""
    target = normalized(object_label)
    return any(target == normalized(n) or target <= normalized(n) or normalized(n) <= target for n in names if normalized(n))


#: Deliberate exceptions: the resource's label names the same concept in other words.
LABEL_EXCEPTIONS = {
    ("CAIX", "CA9"): "HGNC symbol; HGNC lists CAIX among CA9's synonyms",
    ("PSMA", "FOLH1"): "HGNC symbol; HGNC lists PSMA among FOLH1's synonyms",
    ("NonSmallCellLungCancer", "non-small cell lung carcinoma"): "MONDO's 'carcinoma' for 'cancer' (NSCLC is a carcinoma)",
    ("NonSmallCellLungCancer", "Lung Non-Small Cell Carcinoma"): "NCIt word order and 'carcinoma' for 'cancer'",
    ("ProstateCancer", "prostate carcinoma"): "closeMatch: carcinoma is the main histology of prostate cancer",
    ("ProstateCancer", "Prostate Carcinoma"): "closeMatch, as above (NCIt label)",
    ("GastricCancer", "gastric carcinoma"): "closeMatch: carcinoma is the main histology of gastric cancer",
    ("GastricCancer", "Gastric Carcinoma"): "closeMatch, as above (NCIt label)",
    ("BALL", "B Lymphoblastic Leukemia/Lymphoma"): "closeMatch: the NCIt concept also covers the lymphoma presentation",
    ("Infection", "infectious disease"): "closeMatch: MONDO's disease class for infection",
    ("Infection", "Infectious Disorder"): "closeMatch: NCIt's class for infection",
}


def test_every_object_label_agrees_with_the_entity(mapping_set, onto):
    used = set()
    for m in mapping_set.mappings:
        if not m.object_label:
            # only UniProtKB rows read from the HGNC download, which gives no protein name
            assert m.prefix == "UniProtKB" and "hgnc_entries.tsv" in m.comment, m
            continue
        entity = onto.entities[m.subject]
        names = [entity.label, *entity.synonyms, m.subject]
        if agrees(m.object_label, names):
            continue
        assert (m.subject, m.object_label) in LABEL_EXCEPTIONS, (
            f"line {m.line}: {m.object_label!r} does not agree with {entity.label!r} or its synonyms"
        )
        used.add((m.subject, m.object_label))
    stale = set(LABEL_EXCEPTIONS) - used
    assert not stale, f"exceptions no longer needed: {stale}"


def test_the_label_check_rejects_a_wrong_label():
    assert not agrees("CD22", ["CD19", "B-lymphocyte antigen CD19"])
    assert not agrees("acute myeloid leukemia", ["chronic lymphocytic leukemia", "CLL"])
    assert agrees("Malignant Breast Neoplasm", ["breast cancer"])
    assert agrees("diffuse intrinsic pontine glioma", ["diffuse midline glioma", "diffuse intrinsic pontine glioma"])


# -- sources, MedDRA, subjects -------------------------------------------------------------
SOURCE = re.compile(r"https?://\S+|[\w.-]+/[\w.-]+ \S+@[0-9a-f]{40}")


def test_every_mapping_names_its_source(mapping_set):
    for m in mapping_set.mappings:
        assert SOURCE.search(m.comment), f"line {m.line}: comment names no URL or repository file at a commit"


def test_no_meddra_codes():
    text = (ONTOLOGY_DIR / MAPPINGS_FILE).read_text(encoding="utf-8")
    assert "meddra" not in text.casefold()
    for m in load_mappings().mappings:
        assert bioregistry.normalize_prefix(m.prefix) != "meddra"


def test_entities_without_a_single_counterpart_are_not_exact_matches(mapping_set):
    exact = {m.subject for m in mapping_set.mappings if m.predicate == "exactMatch"}
    assert not exact & {"CD3", "GD2", "EGFRvIII", "Claudin182", "GP100", "LBCL"}
    assert not mapping_set.for_subject("CD3") and not mapping_set.for_subject("GD2")


def test_a_known_mapping_per_category(mapping_set):
    got = {(m.subject, m.object_id, m.predicate) for m in mapping_set.mappings}
    assert ("UvealMelanoma", "MONDO:0006486", "exactMatch") in got
    assert ("CD19", "HGNC:1633", "exactMatch") in got
    assert ("CD19", "UniProtKB:P15391", "exactMatch") in got
    assert ("Tebentafusp", "NCIT:C94208", "exactMatch") in got
    assert ("CART", "NCIT:C126102", "exactMatch") in got
    assert mapping_set.by_curie("hgnc:1633")[0].subject == "CD19"


# -- the loader's refusals -----------------------------------------------------------------
GOOD_ROW = (
    "tkg:CD19\tCD19\tskos:exactMatch\tHGNC:1633\tCD19\tsemapv:ManualMappingCuration\ttkg:curators\t2026-12-07\thttps://example.org/src"
)


def write_set(tmp_path: Path, rows: list[str], header: str | None = None) -> Path:
    original = (ONTOLOGY_DIR / MAPPINGS_FILE).read_text(encoding="utf-8").splitlines()
    meta = [line for line in original if line.startswith("#")] if header is None else header.splitlines()
    columns = next(line for line in original if line.startswith("subject_id"))
    path = tmp_path / MAPPINGS_FILE
    path.write_text("\n".join([*meta, columns, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (GOOD_ROW.replace("skos:exactMatch", "skos:relatedMatch"), "predicate_id 'skos:relatedMatch' not allowed"),
        (GOOD_ROW.replace("HGNC:1633", "HGNC 1633"), "is not a CURIE"),
        (GOOD_ROW.replace("HGNC:1633", "MEDDRA:10011"), "prefix 'MEDDRA' is not in the curie_map"),
        (GOOD_ROW.replace("tkg:CD19", "CD19", 1), "is not a tkg entity"),
        (GOOD_ROW.replace("2026-12-07", "07/12/2026"), "mapping_date"),
        (GOOD_ROW.replace("https://example.org/src", " "), "empty comment"),
        (GOOD_ROW.replace("semapv:ManualMappingCuration", "semapv:LexicalMatching"), "mapping_justification"),
        (GOOD_ROW + "\textra", "10 cells"),
    ],
)
def test_a_bad_row_is_refused_with_its_line(tmp_path, row, message):
    path = write_set(tmp_path, [GOOD_ROW, row])
    with pytest.raises(ValidationError) as info:
        read_mappings(path)
    assert message in str(info.value)
    assert f"{MAPPINGS_FILE}:" in str(info.value) and info.value.where.endswith(str(len(path.read_text().splitlines())))


def test_a_file_without_curie_map_is_refused(tmp_path):
    path = write_set(tmp_path, [GOOD_ROW], header="# mapping_set_id: x")
    with pytest.raises(ValidationError, match="no curie_map"):
        read_mappings(path)


def test_an_unknown_subject_is_refused_by_the_ontology_loader(tmp_path):
    directory = tmp_path / "ontology"
    shutil.copytree(ONTOLOGY_DIR, directory)
    write_set(directory, [GOOD_ROW, GOOD_ROW.replace("tkg:CD19", "tkg:NoSuchAntigen")])
    with pytest.raises(ValidationError, match="tkg:NoSuchAntigen is not an ontology entity"):
        load_ontology_graph(directory)


# -- coverage and its report ---------------------------------------------------------------
def test_coverage_target_and_report_agree(onto):
    rows = {row.category: row for row in coverage(onto.graph)}
    # every tumor type and antigen a source names is mapped; the roots are groupings, CD3 a complex, GD2 a ganglioside
    assert set(rows["tumor types"].unmapped) == {"HematologicMalignancy", "SolidTumor"}
    assert set(rows["antigens"].unmapped) == {"CD3", "GD2"}
    report = (DOCS / "identifier-coverage.md").read_text(encoding="utf-8")
    for row in rows.values():
        for name in row.unmapped:
            assert f"`{name}`" in report, f"{name} is unmapped but not listed in docs/identifier-coverage.md"
        assert f"| {row.category} | {len(row.mapped)} / {row.total} |" in report, row.category
    listed = set(re.findall(r"^\| `(\w+)` \|", report, flags=re.M))
    assert listed == {n for row in rows.values() for n in row.unmapped}, "the report lists an entity that is mapped"


# -- export -----------------------------------------------------------------------------
def test_export_sssom_round_trips(tmp_path):
    from click.testing import CliRunner

    from kg.cli import main

    data = tmp_path / "data" / "studies"
    data.mkdir(parents=True)
    for path in (Path(__file__).parent / "data" / "records").glob("*.yaml"):
        shutil.copy(path, data / path.name)
    store = str(tmp_path / "var")
    runner = CliRunner()
    built = runner.invoke(main, ["build", "--store", store, "--data", str(tmp_path / "data")])
    assert built.exit_code == 0, built.output
    out = tmp_path / "tcell-kg.sssom.tsv"
    result = runner.invoke(main, ["export", "--store", store, "--format", "sssom", "-o", str(out)])
    assert result.exit_code == 0, result.output
    exported = read_mappings(out)  # the exported file passes the same checks as the source
    assert exported.metadata["mapping_set_version"] and exported.curie_map == load_mappings().curie_map
    assert [(m.subject, m.predicate, m.object_id, m.object_label, m.comment) for m in exported.mappings] == [
        (m.subject, m.predicate, m.object_id, m.object_label, m.comment) for m in load_mappings().mappings
    ]


# -- pages: identifiers as links, search by CURIE, the download -------------------------------------
@pytest.fixture(scope="module")
def client(built_store):
    from web import create_app

    return create_app({"store": built_store, "rate_limit": "0"}).test_client()


def test_entity_page_links_its_identifiers(client):
    data = client.get("/entity/CD19.json").get_json()
    got = {(m["curie"], m["kind"], m["label"]) for m in data["mappings"]}
    assert ("HGNC:1633", "exact", "CD19") in got and ("UniProtKB:P15391", "exact", None) in got
    page = client.get("/entity/LBCL", headers={"Accept": "text/html"}).data.decode()
    assert 'href="http://purl.obolibrary.org/obo/MONDO_0018905"' in page and "(close match)" in page
    page = client.get("/entity/EGFRvIII", headers={"Accept": "text/html"}).data.decode()
    assert 'href="http://identifiers.org/hgnc/3236"' in page and "(broad match)" in page


@pytest.mark.parametrize(("q", "entity"), [("MONDO:0006486", "UvealMelanoma"), ("hgnc:1633", "CD19"), ("NCIT:C94208", "Tebentafusp")])
def test_search_finds_an_entity_by_its_curie(client, q, entity):
    results = client.get(f"/api/search?q={q}").get_json()["results"]
    assert results[0]["id"] == entity and results[0]["matched"].casefold() == q.casefold()


def test_search_by_an_unknown_curie_finds_nothing(client):
    assert client.get("/api/search?q=MONDO:9999999").get_json()["results"] == []


def test_downloads_list_the_sssom_file(client):
    files = {f["format"]: f for f in client.get("/downloads.json").get_json()["files"]}
    assert files["sssom"]["name"] == "tcell-kg.sssom.tsv"
    response = client.get("/downloads/tcell-kg.sssom.tsv")
    try:
        assert response.status_code == 200 and response.mimetype == "text/tab-separated-values"
        assert "HGNC:1633" in response.data.decode()
    finally:
        response.close()


# -- the two competency questions that start from standard ids ---------------------------------
def run_named(built_store, name, replace: tuple[str, str] | None = None):
    from kg import KnowledgeGraph
    from kg.queries import load_query

    sparql = load_query(name).sparql
    if replace:
        assert replace[0] in sparql
        sparql = sparql.replace(*replace)
    with KnowledgeGraph.open(built_store) as kg:
        return kg.query(sparql).rows


def local(term) -> str:
    return str(term).rsplit("/", 1)[-1]


def test_cq15_from_an_hgnc_id_to_therapies_and_toxicities(built_store):
    rows = run_named(built_store, "cq15")  # HGNC:11913 (TNFRSF17, BCMA)
    therapies = {local(r["therapy"]) for r in rows}
    assert {"Teclistamab", "Elranatamab", "IdecabtageneVicleucel", "CiltacabtageneAutoleucel"} <= therapies
    assert {local(r["antigen"]) for r in rows} == {"BCMA"}
    tox = {(local(r["therapy"]), local(r["toxicity"])) for r in rows if r.get("toxicity") is not None}
    assert ("Teclistamab", "CytokineReleaseSyndrome") in tox
    for r in rows:  # each toxicity with its label, counted in at least one study
        assert r.get("toxicityLabel") is not None and int(r["studies"].toPython()) >= 1 or r.get("toxicity") is None
    # a therapy without toxicities: one row, no toxicity, no study (not one row per label of the store)
    assert [(r.get("toxicity"), int(r["studies"].toPython())) for r in rows if local(r["therapy"]) == "Linvoseltamab"] == [(None, 0)]
    # another gene through a broadMatch: EGFR -> the EGFRvIII antigen and its CAR-T cells
    rows = run_named(built_store, "cq15", ("hgnc/11913", "hgnc/3236"))
    assert {local(r["antigen"]) for r in rows} == {"EGFRvIII"} and "EGFRvIIICART" in {local(r["therapy"]) for r in rows}
    assert [r.get("toxicity") for r in rows if local(r["therapy"]) == "EGFRvIIICART"] == [None]
    assert {str(r["match"]).rsplit("#", 1)[-1] for r in rows} == {"broadMatch"}


def test_cq16_tumor_types_by_mondo_id(built_store, mapping_set):
    rows = run_named(built_store, "cq16")
    by_tumor = {local(r["tumor"]): r for r in rows}
    mondo = {m.subject: m.object_id for m in mapping_set.mappings if m.prefix == "MONDO"}
    assert set(by_tumor) == {s for s in mondo if s not in {"Infection"}}  # tumor types only
    for name, row in by_tumor.items():
        assert str(row["mondoId"]) == mondo[name]
    uveal = by_tumor["UvealMelanoma"]
    assert "T cell engager" in str(uveal["modalities"]) and "HLA-restricted eligibility" in str(uveal["barriers"])
    assert "immunosuppression" in str(by_tumor["Glioblastoma"]["barriers"])
