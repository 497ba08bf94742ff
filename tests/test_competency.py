"""CQ1-CQ7 and CQ11 on the shipped corpus: the answers the project exists to give."""

from __future__ import annotations

import pytest

from kg import KnowledgeGraph
from kg.model import REFUTE, Finding, StudyRecord, TextBlock
from kg.namespaces import TKG
from kg.queries import list_queries, load_query


def run(graph, name):
    return graph.query(load_query(name).sparql).rows


def names(rows, var):
    return {str(r[var]).rsplit("/", 1)[-1] for r in rows if var in r}


def test_every_named_query_has_a_description_and_parses(built_graph):
    queries = list_queries()
    assert {q.title for q in queries} >= {"CQ1", "CQ2", "CQ3", "CQ4", "CQ5", "CQ6", "CQ7", "CQ11"}
    for query in queries:
        assert len(query.description) > 20, query.name
        built_graph.query(query.sparql)  # raises QueryError if it does not parse


def test_cq1_car_t_faces_the_tme_in_solid_tumors_with_study_and_quote(built_graph):
    rows = run(built_graph, "cq1")
    car_t = [r for r in rows if r["modality"] == TKG.CART]
    assert car_t, "CAR-T must face tumor-microenvironment barriers in solid tumors"
    review = [r for r in car_t if str(r["study"]).endswith("/review-2026-tcell-therapies")]
    assert review
    quotes = {str(r["quote"]) for r in review}
    assert "In solid tumors, CAR-T cells are held back by the hostile tumor microenvironment." in quotes
    assert {"TumorMicroenvironmentBarrier", "MetabolicInsulation", "PhysicalExclusion", "Immunosuppression"} <= names(review, "barrier")


def test_cq2_til_barriers(built_graph):
    barriers = names(run(built_graph, "cq2"), "barrier")
    assert {"ManufacturingLogistics", "VariableTumorImmunogenicity"} <= barriers


def test_cq3_tce_persistence_and_on_target_off_tumor(built_graph):
    rows = run(built_graph, "cq3")
    barriers = {str(r["object"]).rsplit("/", 1)[-1] for r in rows if str(r["kind"]) == "barrier"}
    toxicities = {str(r["object"]).rsplit("/", 1)[-1] for r in rows if str(r["kind"]) == "toxicity"}
    assert "LimitedPersistence" in barriers
    assert "OnTargetOffTumorToxicity" in toxicities


def test_cq4_sub_barriers_of_the_tme(built_graph):
    rows = run(built_graph, "cq4")
    assert {"MetabolicInsulation", "PhysicalExclusion", "Immunosuppression"} <= names(rows, "subBarrier")
    supported = {str(r["subBarrier"]).rsplit("/", 1)[-1] for r in rows if int(r["studies"].toPython()) > 0}
    assert {"MetabolicInsulation", "PhysicalExclusion", "Immunosuppression"} <= supported


def test_cq5_strategies_for_solid_tumors(built_graph):
    rows = run(built_graph, "cq5")
    families = names(rows, "family")
    assert {"AdvancedGeneticEngineering", "MetabolicReprogramming", "TMEModulatingAgent"} <= families
    assert "OncolyticVirus" in names(rows, "strategy")
    metabolic = [r for r in rows if r["strategy"] == TKG.MetabolicReprogramming]
    assert {str(r["barrier"]).rsplit("/", 1)[-1] for r in metabolic} >= {"MetabolicInsulation"}


def test_cq6_resistance_mechanisms_per_modality(built_graph):
    rows = run(built_graph, "cq6")
    pairs = {(str(r["mechanism"]).rsplit("/", 1)[-1], str(r["modality"]).rsplit("/", 1)[-1]) for r in rows}
    assert ("AntigenEscape", "CART") in pairs
    assert ("TCellExhaustion", "CART") in pairs
    assert ("TCellExhaustion", "TCellEngager") in pairs


def test_cq7_mechanistic_contrast(built_graph):
    rows = run(built_graph, "cq7")
    attrs: dict[str, set[str]] = {}
    studied: dict[str, set[str]] = {}
    for r in rows:
        modality = str(r["modality"]).rsplit("/", 1)[-1]
        attribute = str(r["attribute"]).rsplit("/", 1)[-1]
        attrs.setdefault(modality, set()).add(attribute)
        if int(r["studies"].toPython()) > 0:
            studied.setdefault(modality, set()).add(attribute)
    assert {"SyntheticReceptor", "MHCIndependent"} <= attrs["CART"]
    assert {"Polyclonal", "MHCRestricted"} <= attrs["TIL"]
    assert {"OffTheShelf", "TransientBridging"} <= attrs["TCellEngager"]
    # the review states each contrast: they are backed by a study, not only by the ontology
    assert (
        {"MHCIndependent"} <= studied["CART"] and {"MHCRestricted"} <= studied["TIL"] and {"TransientBridging"} <= studied["TCellEngager"]
    )
    assert "MHCIndependent" not in attrs["TIL"]


def test_cq11_level_1_studies_of_2026_keep_the_stated_type_and_the_conflict(built_graph):
    rows = run(built_graph, "cq11")
    review = [r for r in rows if str(r["study"]).endswith("/review-2026-tcell-therapies")]
    assert review
    row = review[0]
    assert str(row["statedType"]) == "Systematic review"
    assert int(row["level"].toPython()) == 1
    assert str(row["conflictText"]) == "narrative review"
    assert all(int(r["year"].toPython()) == 2026 for r in rows)


def test_engine_texts_replace_only_their_shipped_query():
    from kg.queries import ENGINES, QUERY_DIR, WRITTEN_ORDER, _written_order, for_engine, list_queries

    queries = {q.name: q for q in list_queries()}
    for engine in ENGINES:
        ordered = _written_order(engine)
        assert ordered <= set(queries), f"{engine}/written-order.txt names no shipped query: {ordered - set(queries)}"
        for name in ordered:  # the engine's pragma after the title line, then its text (its own, else the standard one)
            own = QUERY_DIR / engine / f"{name}.rq"
            lines = queries[name].text_for(engine).split("\n")
            assert lines[1] == WRITTEN_ORDER[engine]
            assert "\n".join(lines[:1] + lines[2:]) == (own.read_text(encoding="utf-8") if own.is_file() else queries[name].sparql)
        for path in sorted((QUERY_DIR / engine).glob("*.rq")):
            assert path.stem in queries, f"{engine}/{path.name} has no standard text of the same name"
            query = queries[path.stem]
            if path.stem not in ordered:
                assert query.text_for(engine) == path.read_text(encoding="utf-8")
            assert path.read_text(encoding="utf-8") != query.sparql
            assert for_engine(query.sparql, engine) == query.text_for(engine)
            assert for_engine(query.sparql, None) == query.sparql
            assert query.text_for(engine).splitlines()[0] == query.sparql.splitlines()[0], "same title line"
    assert for_engine("ASK {}", "virtuoso") == "ASK {}"


def _small_graph(url: str):
    """One study with a supported and a refuted TME finding in glioblastoma, and a supported one
    in a hematologic malignancy: what CQ1 and CQ16 must keep apart."""
    text = (
        "CAR-T cells meet immunosuppression in glioblastoma. They are not physically excluded. "
        "In myeloma, CAR-T cells meet immunosuppression."
    )
    sentences = text.split(". ")

    def finding(index: int, obj: str, context: str, support: str = "SUPPORT") -> Finding:
        start = text.index(sentences[index])
        return Finding("CART", "facesBarrier", obj, sentences[index], "abstract", start, start + len(sentences[index]), support, context)

    record = StudyRecord(
        id="small-study",
        title="A small study",
        study_type="review",
        source="test",
        texts=(TextBlock("abstract", text),),
        findings=(
            finding(0, "Immunosuppression", "Glioblastoma"),
            finding(1, "PhysicalExclusion", "Glioblastoma", REFUTE),
            finding(2, "Immunosuppression", "MultipleMyeloma"),
        ),
    )
    graph = KnowledgeGraph.open(url, mode="write")
    graph.ensure_ontology()
    graph.add_records([record])
    return graph


@pytest.mark.parametrize("backend", ["oxigraph", "memory"])
def test_cq1_and_cq16_leave_out_refuted_findings(backend, tmp_path):
    graph = _small_graph(str(tmp_path / "store") if backend == "oxigraph" else "memory:")
    with graph:
        cq1 = [(str(r["barrier"]).rsplit("/", 1)[-1], str(r["quote"])) for r in run(graph, "cq1")]
        assert cq1 == [("Immunosuppression", "CAR-T cells meet immunosuppression in glioblastoma")]  # solid, supported
        cq16 = {str(r["tumor"]).rsplit("/", 1)[-1]: str(r["barriers"]) for r in run(graph, "cq16")}
        assert cq16["Glioblastoma"] == "immunosuppression"  # the refuted physical exclusion is not listed
        assert cq16["MultipleMyeloma"] == "immunosuppression"
