"""CQ8-CQ10 and CQ12-CQ14 on the shipped corpus (the answers COMPETENCY-QUESTIONS.md expects)."""

from __future__ import annotations

from collections import defaultdict

from rdflib.namespace import RDF

from kg.namespaces import ONTOLOGY_GRAPH, TKG, study_graph
from kg.ontology import default_ontology
from kg.queries import load_query


def run(graph, name):
    return graph.query(load_query(name).sparql).rows


def local(term) -> str:
    return str(term).rsplit("/", 1)[-1]


def num(term) -> int:
    return int(term.toPython())


def test_cq8_where_each_modality_succeeded(built_graph):
    rows = run(built_graph, "cq8")
    cells = defaultdict(set)
    studies = defaultdict(int)
    for r in rows:
        key = (local(r["modality"]), local(r["category"]))
        cells[key].add(local(r["tumor"]))
        studies[key] += num(r["studies"])
    # CAR-T: hematologic malignancies, where most of its evidence sits
    assert {"LBCL", "BALL", "MultipleMyeloma", "MantleCellLymphoma"} <= cells[("CART", "HematologicMalignancy")]
    assert studies[("CART", "HematologicMalignancy")] > studies[("CART", "SolidTumor")]
    # TIL: solid tumors (melanoma), never hematologic
    assert "Melanoma" in cells[("TIL", "SolidTumor")]
    assert ("TIL", "HematologicMalignancy") not in cells
    # T cell engagers: hematologic, and solid tumors with tebentafusp and tarlatamab
    assert {"BALL", "MultipleMyeloma"} <= cells[("TCellEngager", "HematologicMalignancy")]
    assert {"UvealMelanoma", "SmallCellLungCancer"} <= cells[("TCellEngager", "SolidTumor")]
    solid_tce = " ".join(
        str(r["therapies"]) for r in rows if local(r["modality"]) == "TCellEngager" and local(r["category"]) == "SolidTumor"
    )
    assert "tebentafusp" in solid_tce and "tarlatamab" in solid_tce
    # TCR-T: synovial sarcoma
    assert "SynovialSarcoma" in cells[("TCRT", "SolidTumor")]
    for r in rows:
        assert 1 <= num(r["bestLevel"]) <= 5


def test_cq9_matrix_is_full_and_has_no_empty_modality_row(built_graph):
    rows = run(built_graph, "cq9")
    modalities = {local(r["modality"]) for r in rows}
    categories = {local(r["category"]) for r in rows}
    assert modalities == {"CART", "TIL", "TCellEngager", "TCRT"}
    assert {
        "TumorMicroenvironmentBarrier",
        "ManufacturingLogistics",
        "LimitedPersistence",
        "SafetyBarrier",
        "TCellExhaustion",
        "AntigenHeterogeneityAndEscape",
        "HLARestrictionBarrier",
    } <= categories
    assert len(rows) == len(modalities) * len(categories)  # every cell present, empty ones with 0
    cell = {(local(r["modality"]), local(r["category"])): r for r in rows}
    for modality in modalities:
        assert sum(num(cell[(modality, c)]["studies"]) for c in categories) > 0, f"empty row {modality}"
    for r in rows:
        if num(r["studies"]) > 0:
            assert 1 <= num(r["bestLevel"]) <= 5
        else:
            assert "bestLevel" not in r or r["bestLevel"] is None
    expected_nonempty = [
        ("CART", "TumorMicroenvironmentBarrier"),
        ("CART", "AntigenHeterogeneityAndEscape"),
        ("CART", "TCellExhaustion"),
        ("CART", "SafetyBarrier"),
        ("CART", "ManufacturingLogistics"),
        ("TIL", "ManufacturingLogistics"),
        ("TIL", "VariableTumorImmunogenicity"),
        ("TCellEngager", "LimitedPersistence"),
        ("TCellEngager", "SafetyBarrier"),
        ("TCellEngager", "TCellExhaustion"),
        ("TCRT", "HLARestrictionBarrier"),
        ("TCRT", "SafetyBarrier"),
    ]
    for key in expected_nonempty:
        assert num(cell[key]["studies"]) > 0, key
    # randomized evidence sits behind CAR-T safety and manufacturing cells
    assert num(cell[("CART", "SafetyBarrier")]["bestLevel"]) <= 2
    assert num(cell[("CART", "SafetyBarrier")]["studies"]) >= 10


def test_cq10_toxicities_per_modality_and_shared_ones(built_graph):
    rows = run(built_graph, "cq10")
    by_toxicity = defaultdict(set)
    shared = set()
    for r in rows:
        by_toxicity[local(r["toxicity"])].add(local(r["modality"]))
        if r["sharedByAll"].toPython():
            shared.add(local(r["toxicity"]))
    assert "OnTargetOffTumorToxicity" in shared
    assert by_toxicity["OnTargetOffTumorToxicity"] == {"CART", "TIL", "TCellEngager", "TCRT"}
    assert {"CART", "TCellEngager"} <= by_toxicity["CytokineReleaseSyndrome"]
    assert {"CART", "TCellEngager"} <= by_toxicity["ICANS"]
    assert "TIL" not in by_toxicity["ICANS"]
    assert "CytokineReleaseSyndrome" not in shared


def test_cq12_gap_list(built_graph):
    rows = run(built_graph, "cq12")
    assert rows
    gaps = {(local(r["subject"]), local(r["relation"]), local(r["object"])): r for r in rows}
    for r in rows:
        studies, primary = num(r["studies"]), num(r["primaryStudies"])
        assert studies == 1 or primary == 0
        assert str(r["gap"]) in ("single review", "reviews only", "single primary study")
    # a finding backed by a single primary study
    assert ("HER2CART", "facesBarrier", "LimitedPersistence") in gaps
    assert str(gaps[("HER2CART", "facesBarrier", "LimitedPersistence")]["gap"]) == "single primary study"
    # the mechanistic contrast of engagers rests on reviews only
    assert str(gaps[("TCellEngager", "hasMechanisticAttribute", "OffTheShelf")]["gap"]) in ("reviews only", "single review")
    # well-supported findings are not gaps
    assert ("CART", "facesBarrier", "AntigenEscape") not in gaps
    assert ("Blinatumomab", "effectiveIn", "BALL") not in gaps


def test_findings_are_only_in_study_graphs(built_graph):
    """CQ13 counts a product's studies as the graphs holding a finding about it, without
    leaving out the ontology graph: the ontology (what goes into that graph) has no finding."""
    ontology = default_ontology().graph
    assert not any(True for _ in ontology.triples((None, TKG.subject, None)))
    assert not any(True for _ in ontology.triples((None, RDF.type, TKG.Finding)))
    ask = "PREFIX tkg: <https://w3id.org/tcell-kg/> ASK { GRAPH <%s> { { ?f tkg:subject ?s } UNION { ?f a tkg:Finding } } }"
    assert built_graph.query(ask % ONTOLOGY_GRAPH).boolean is False
    assert built_graph.query(ask % study_graph("review-2026-tcell-therapies")).boolean is True  # the ASK can see one


def test_cq13_products_per_modality(built_graph):
    rows = run(built_graph, "cq13")
    product = {local(r["product"]): r for r in rows}
    by_modality = defaultdict(set)
    for r in rows:
        by_modality[local(r["modality"])].add(local(r["product"]))
    assert {
        "Tisagenlecleucel",
        "AxicabtageneCiloleucel",
        "BrexucabtageneAutoleucel",
        "LisocabtageneMaraleucel",
        "IdecabtageneVicleucel",
        "CiltacabtageneAutoleucel",
    } <= by_modality["CART"]
    assert "Lifileucel" in by_modality["TIL"]
    assert {"Blinatumomab", "Tebentafusp", "Tarlatamab", "Teclistamab"} <= by_modality["TCellEngager"]
    assert "AfamitresgeneAutoleucel" in by_modality["TCRT"]
    assert local(product["Tisagenlecleucel"]["antigen"]) == "CD19"
    assert local(product["IdecabtageneVicleucel"]["antigen"]) == "BCMA"
    assert local(product["Tebentafusp"]["indication"]) == "UvealMelanoma"
    assert local(product["Tarlatamab"]["indication"]) == "SmallCellLungCancer"
    assert str(product["Lifileucel"]["status"]) == "approved"
    # the pivotal studies of the approved products are in the graph
    for name in (
        "AxicabtageneCiloleucel",
        "Tisagenlecleucel",
        "IdecabtageneVicleucel",
        "CiltacabtageneAutoleucel",
        "Lifileucel",
        "Blinatumomab",
        "Teclistamab",
        "Tebentafusp",
        "Tarlatamab",
        "AfamitresgeneAutoleucel",
    ):
        assert num(product[name]["studies"]) >= 1, name


def test_cq14_paths_from_car_t_to_strategies(built_graph):
    rows = run(built_graph, "cq14")
    paths = {(local(r["barrier"]), local(r["addressed"]), local(r["strategy"])) for r in rows}
    assert ("TumorMicroenvironmentBarrier", "TumorMicroenvironmentBarrier", "OncolyticVirus") in paths
    assert ("TumorMicroenvironmentBarrier", "MetabolicInsulation", "MetabolicReprogramming") in paths
    assert ("Immunosuppression", "Immunosuppression", "DominantNegativeTGFBR") in paths
    assert ("AntigenEscape", "AntigenEscape", "MultiTargetCAR") in paths
    for r in rows:
        assert local(r["start"]) == "CART"
        assert num(r["barrierStudies"]) >= 1 and num(r["strategyStudies"]) >= 1
        assert str(r["exampleBarrierQuote"]) and str(r["exampleStrategyQuote"])
    applied = {local(r["strategy"]) for r in rows if r["appliedToTherapy"].toPython()}
    assert {"OncolyticVirus", "DominantNegativeTGFBR"} <= applied


_QUOTES = """
PREFIX tkg: <https://w3id.org/tcell-kg/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?subject ?relation ?object ?quote WHERE {
  ?finding tkg:subject ?subject ; tkg:relation ?relation ; tkg:object ?object ; tkg:support "SUPPORT" ; tkg:evidenceQuote ?quote .
}
"""


def _supported_quotes(graph) -> dict[tuple[str, str, str], set[str]]:
    """Every supported finding's quote, by (subject, relation, object)."""
    quotes: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for r in graph.query(_QUOTES).rows:
        quotes[(local(r["subject"]), local(r["relation"]), local(r["object"]))].add(str(r["quote"]))
    return quotes


def _subclasses(graph, root: str) -> set[str]:
    rows = graph.query(
        f"PREFIX tkg: <https://w3id.org/tcell-kg/> PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
        f"SELECT ?c WHERE {{ ?c rdfs:subClassOf* tkg:{root} }}"
    ).rows
    return {local(r["c"]) for r in rows}


def test_cq3_and_cq14_example_quotes_are_quotes_of_the_rows_supporting_findings(built_graph):
    # the quote is looked up in one of the row's study graphs only: it must still be the quote
    # of a supported finding of that row (subject under the therapy asked about, same relation and object)
    quotes = _supported_quotes(built_graph)

    def quoted_by(subjects: set[str], relation: str, obj: str) -> set[str]:
        return set().union(*(quotes.get((s, relation, obj), set()) for s in subjects))

    engagers = _subclasses(built_graph, "TCellEngager")
    rows = run(built_graph, "cq3")
    assert rows
    for r in rows:
        relation = "facesBarrier" if str(r["kind"]) == "barrier" else "causesToxicity"
        assert str(r["exampleQuote"]) in quoted_by(engagers, relation, local(r["object"])), r

    car_t = _subclasses(built_graph, "CART")
    rows = run(built_graph, "cq14")
    assert rows
    for r in rows:
        assert str(r["exampleBarrierQuote"]) in quoted_by(car_t, "facesBarrier", local(r["barrier"])), r
        assert str(r["exampleStrategyQuote"]) in quotes[(local(r["strategy"]), "addressesBarrier", local(r["addressed"]))], r
