"""Analytics: exact values on a small hand-built graph, agreement with
independent SPARQL counts on the shipped corpus, and `tkg analyze` output."""

from __future__ import annotations

import json

import networkx as nx
import pytest
from click.testing import CliRunner

from kg import KnowledgeGraph
from kg import analytics as A
from kg.cli import main

PREFIXES = """PREFIX tkg: <https://w3id.org/tcell-kg/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX prov: <http://www.w3.org/ns/prov#>
"""


def edge(
    g: nx.MultiDiGraph,
    u: str,
    rel: str,
    v: str,
    studies: list[str],
    contexts: dict[str, list[str]] | None = None,
    refuted: list[str] | None = None,
):
    contexts = contexts if contexts is not None else ({"": studies} if studies else {})
    g.add_edge(
        u,
        v,
        key=rel,
        relation=rel,
        studies=studies,
        weight=len(studies),
        refuted_by=refuted or [],
        contexts={k: len(s) for k, s in contexts.items()},
        context_studies=contexts,
    )


@pytest.fixture()
def small() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.graph["classes"] = {"AHE": {"label": "antigen heterogeneity and escape", "is_barrier_category": True, "parent": "Barrier"}}
    for m in ("CART", "TIL", "TCE"):
        g.add_node(m, label=m, category="Therapy", modality=m, is_modality=True, parent="ACT")
    g.add_node("Tisa", label="tisa-cel", category="Therapy", modality="CART", is_product=True, parent="CART")
    g.add_node("Lifi", label="lifileucel", category="Therapy", modality="TIL", is_product=True, parent="TIL")
    g.add_node("TME", label="TME", category="Barrier", is_barrier_category=True, parent="Barrier")
    g.add_node("Immuno", label="immunosuppression", category="Barrier", parent="TME")
    g.add_node("Escape", label="antigen escape", category="Barrier", parent="AHE")
    g.add_node("Manuf", label="manufacturing", category="Barrier", is_barrier_category=True, parent="Barrier")
    g.add_node("LBCL", label="LBCL", category="TumorType", tumor_kind="heme")
    g.add_node("Melanoma", label="melanoma", category="TumorType", tumor_kind="solid")
    g.add_node("SolidTumor", label="solid tumor", category="TumorType", tumor_kind="solid")
    g.add_node("CRS", label="CRS", category="Toxicity")
    for s in ("Strat1", "Strat2"):
        g.add_node(s, label=s, category="Strategy")
    edge(g, "Tisa", "facesBarrier", "Escape", ["s1", "s2"], {"LBCL": ["s1", "s2"]})
    edge(g, "CART", "facesBarrier", "Immuno", ["s3"], {"SolidTumor": ["s3"]})
    edge(g, "CART", "facesBarrier", "Escape", ["s4"])
    edge(g, "Lifi", "facesBarrier", "Manuf", ["s5"])
    edge(g, "Lifi", "investigatedIn", "Melanoma", ["s5"])
    edge(g, "TIL", "facesBarrier", "Escape", ["s6"], {"Melanoma": ["s6"]})
    edge(g, "TCE", "facesBarrier", "Immuno", ["s7"], refuted=["s8"])
    edge(g, "Lifi", "causesToxicity", "CRS", [], refuted=["s9"])
    edge(g, "Strat1", "addressesBarrier", "Immuno", ["s3"])
    edge(g, "Strat1", "appliedTo", "CART", ["s3"])
    edge(g, "Strat2", "addressesBarrier", "Escape", ["s10"])
    edge(g, "Strat2", "appliedTo", "Tisa", ["s10"])
    return g


def test_rollups(small):
    assert A.barrier_category(small, "Immuno") == "TME"
    assert A.barrier_category(small, "Escape") == "AHE"  # the category is known only from graph["classes"]
    assert A.barrier_category(small, "Manuf") == "Manuf"
    assert A.modality_barriers(small) == {
        "CART": {"Escape": {"s1", "s2", "s4"}, "Immuno": {"s3"}},
        "TIL": {"Escape": {"s6"}, "Manuf": {"s5"}},
        "TCE": {"Immuno": {"s7"}},
    }
    assert {m: set(b) for m, b in A.modality_barriers(small, level="category").items()} == {
        "CART": {"AHE", "TME"},
        "TIL": {"AHE", "Manuf"},
        "TCE": {"TME"},
    }


def test_ranking_degree_and_betweenness(small):
    rows = {r["id"]: r for r in A.barrier_ranking(small)}
    assert rows["Escape"]["modalities"] == ["CART", "TIL"] and rows["Escape"]["n_modalities"] == 2
    assert rows["Escape"]["studies"] == 4
    assert rows["Escape"]["degree"] == pytest.approx(2 / 3, abs=1e-3)
    assert rows["Manuf"]["degree"] == pytest.approx(1 / 3, abs=1e-3)
    # the bipartite graph is the path TCE-Immuno-CART-Escape-TIL-Manuf: Escape lies on more shortest paths than Immuno
    assert rows["Escape"]["betweenness"] > rows["Immuno"]["betweenness"] > rows["Manuf"]["betweenness"] == 0
    assert [r["id"] for r in A.barrier_ranking(small)] == ["Escape", "Immuno", "Manuf"]
    cats = {r["id"]: r for r in A.barrier_ranking(small, level="category")}
    assert cats["AHE"]["label"] == "antigen heterogeneity and escape" and cats["AHE"]["n_modalities"] == 2


def test_one_modality_facing_one_barrier_has_betweenness_zero():
    """networkx's bipartite betweenness divides by zero here (a store with one study
    failed its publish on it); every betweenness is 0."""
    g = nx.MultiDiGraph()
    g.add_node("CART", label="CAR-T", category="Therapy", modality="CART", is_modality=True)
    g.add_node("Escape", label="antigen escape", category="Barrier")
    edge(g, "CART", "facesBarrier", "Escape", ["s1"])
    assert [(r["id"], r["betweenness"], r["degree"]) for r in A.barrier_ranking(g)] == [("Escape", 0.0, 1.0)]
    assert A.report(g)["rankings"]["categories"][0]["betweenness"] == 0.0


def test_jaccard(small):
    overlap = {(r["a"], r["b"]): r for r in A.modality_overlap(small)}
    assert overlap[("CART", "TIL")]["jaccard"] == pytest.approx(1 / 3, abs=1e-3)
    assert overlap[("CART", "TIL")]["shared"] == ["Escape"]
    assert overlap[("CART", "TCE")]["jaccard"] == pytest.approx(1 / 2, abs=1e-3)
    assert overlap[("TCE", "TIL")]["jaccard"] == 0
    assert A.jaccard(set(), set()) == 0


def test_heme_solid(small):
    contrast = A.heme_solid(small)
    cart = {r["id"]: r for r in contrast["CART"]["barriers"]}
    assert (cart["Escape"]["heme"], cart["Escape"]["solid"], cart["Escape"]["unspecified"]) == (2, 0, 1)
    assert (cart["Immuno"]["heme"], cart["Immuno"]["solid"]) == (0, 1)
    til = {r["id"]: r for r in contrast["TIL"]["barriers"]}
    # lifileucel is only investigated in melanoma: its context-free finding counts as solid, inferred
    assert (til["Manuf"]["solid"], til["Manuf"]["inferred"], til["Manuf"]["unspecified"]) == (1, 1, 0)
    assert til["Escape"]["solid"] == 1 and til["Escape"]["inferred"] == 0
    tce = {r["id"]: r for r in contrast["TCE"]["barriers"]}
    assert tce["Immuno"]["unspecified"] == 1
    assert contrast["TIL"]["toxicities"] == []  # refuted-only toxicity is not a reported toxicity
    cats = A.heme_solid_categories(small)
    # Tisa (LBCL: s1, s2) and CART (no context: s4) both face antigen escape -> category AHE
    assert cats["CART"]["AHE"] == {"heme": 2, "solid": 0, "unspecified": 1, "inferred": 0}
    assert cats["CART"]["TME"]["solid"] == 1 and cats["TIL"]["Manuf"]["inferred"] == 1
    # the same study reporting a second barrier of the category counts once for the category
    edge(small, "CART", "facesBarrier", "TME", ["s3"], {"SolidTumor": ["s3"]})
    assert A.heme_solid_categories(small)["CART"]["TME"]["solid"] == 1


def test_gaps(small):
    info = {"s1": {"review": True}, "s2": {"review": True}, "s5": {"preclinical": True}}
    gaps = A.gaps(small, info)
    key = lambda rows: {(r["subject"], r["relation"], r["object"]) for r in rows}  # noqa: E731
    assert len(gaps["single_study"]) == 10
    assert ("Tisa", "facesBarrier", "Escape") not in key(gaps["single_study"])
    assert key(gaps["reviews_only"]) == {("Tisa", "facesBarrier", "Escape")}
    assert key(gaps["preclinical_only"]) == {("Lifi", "facesBarrier", "Manuf"), ("Lifi", "investigatedIn", "Melanoma")}
    assert key(gaps["contradictions"]) == {("TCE", "facesBarrier", "Immuno")}
    assert key(gaps["refuted_only"]) == {("Lifi", "causesToxicity", "CRS")}
    cells = {(r["modality"], r["category"]): r["status"] for r in gaps["uncovered"]}
    assert cells == {
        ("TIL", "AHE"): "no strategy applied to the modality",
        ("TIL", "Manuf"): "no strategy",
        ("TCE", "TME"): "no strategy applied to the modality",
    }
    assert A.gaps(small)["reviews_only"] == []


def test_paths(small):
    rows = A.therapy_strategies(small, "Tisa")
    assert [(r["id"], r["faced_by"], [s["id"] for s in r["strategies"]]) for r in rows] == [
        ("Escape", "Tisa", ["Strat2"]),
        ("Immuno", "CART", ["Strat1"]),
    ]
    path = A.shortest_path(small, "Tisa", "TCE")
    assert [s["id"] for s in path] == ["Tisa", "Escape", "CART", "Immuno", "TCE"]
    assert [s["relation"] for s in path] == [None, "facesBarrier", "facesBarrier", "facesBarrier", "facesBarrier"]
    assert [s["forward"] for s in path[1:]] == [True, False, True, False]
    assert A.shortest_path(small, "Tisa", "Lifi") == []  # the refuted CRS edge does not connect
    with pytest.raises(KeyError):
        A.shortest_path(small, "Tisa", "Nope")


# -- the shipped corpus, checked against independent SPARQL ------------------------------
@pytest.fixture(scope="module")
def corpus(built_store):
    with KnowledgeGraph.open(built_store) as kg:
        graph = kg.to_networkx()
        yield kg, graph, A.report(graph, A.study_facts(kg))


def test_study_facts_match_the_property_path_query(corpus):
    """study_facts decides reviews and preclinical studies from the class tree in
    Python; the property-path query it replaced (slow at scale) is the oracle."""
    kg, _graph, _report = corpus
    rows = kg.query(
        PREFIXES
        + """SELECT ?study ?type ?review ?preclinical WHERE {
  ?study a tkg:Study .
  OPTIONAL { ?study a ?type . FILTER(?type != tkg:Study && STRSTARTS(STR(?type), STR(tkg:))) }
  OPTIONAL { ?study a/rdfs:subClassOf* tkg:Review . BIND(true AS ?review) }
  OPTIONAL { ?study a/rdfs:subClassOf* tkg:PreclinicalStudy . BIND(true AS ?preclinical) }
}"""
    ).rows
    want: dict[str, dict] = {}
    for row in rows:
        study = str(row["study"]).rsplit("/", 1)[-1]
        entry = want.setdefault(study, {"types": set(), "review": False, "preclinical": False})
        if row.get("type") is not None:
            entry["types"].add(str(row["type"]).rsplit("/", 1)[-1])
        entry["review"] |= row.get("review") is not None
        entry["preclinical"] |= row.get("preclinical") is not None
    got = A.study_facts(kg)
    assert got == {k: {**v, "types": sorted(v["types"])} for k, v in want.items()}
    assert any(f["review"] for f in got.values()) and any(f["preclinical"] for f in got.values())


def test_modalities_per_barrier_match_sparql(corpus):
    kg, _graph, report = corpus
    rows = kg.query(
        PREFIXES
        + """SELECT ?b (COUNT(DISTINCT ?m) AS ?n) WHERE {
  ?f a tkg:Finding ; tkg:subject ?t ; tkg:relation tkg:facesBarrier ; tkg:object ?b ; tkg:support "SUPPORT" .
  ?m tkg:isModality true . ?t rdfs:subClassOf* ?m .
} GROUP BY ?b"""
    ).rows
    expected = {str(r["b"]).rsplit("/", 1)[-1]: int(r["n"].toPython()) for r in rows}
    assert expected
    assert {r["id"]: r["n_modalities"] for r in report["rankings"]["barriers"]} == expected


def test_contradictions_match_sparql(corpus):
    kg, _graph, report = corpus
    rows = kg.query(
        PREFIXES
        + """SELECT DISTINCT ?s ?r ?o WHERE {
  ?f1 a tkg:Finding ; tkg:subject ?s ; tkg:relation ?r ; tkg:object ?o ; tkg:support "SUPPORT" .
  ?f2 a tkg:Finding ; tkg:subject ?s ; tkg:relation ?r ; tkg:object ?o ; tkg:support "REFUTE" .
}"""
    ).rows
    expected = {tuple(str(r[k]).rsplit("/", 1)[-1] for k in ("s", "r", "o")) for r in rows}
    assert {(r["subject"], r["relation"], r["object"]) for r in report["gaps"]["contradictions"]} == expected


def test_single_study_and_reviews_only_match_sparql(corpus):
    kg, _graph, report = corpus
    rows = kg.query(
        PREFIXES
        + """SELECT ?s ?r ?o (COUNT(DISTINCT ?study) AS ?n) (COUNT(DISTINCT ?review) AS ?reviews) WHERE {
  ?f a tkg:Finding ; tkg:subject ?s ; tkg:relation ?r ; tkg:object ?o ; tkg:support "SUPPORT" ; prov:wasDerivedFrom ?study .
  OPTIONAL { ?study a/rdfs:subClassOf* tkg:Review . BIND(?study AS ?review) }
} GROUP BY ?s ?r ?o"""
    ).rows
    local = lambda r: tuple(str(r[k]).rsplit("/", 1)[-1] for k in ("s", "r", "o"))  # noqa: E731
    single = {local(r) for r in rows if int(r["n"].toPython()) == 1}
    reviews = {local(r) for r in rows if int(r["n"].toPython()) == int(r["reviews"].toPython())}
    as_set = lambda rows: {(r["subject"], r["relation"], r["object"]) for r in rows}  # noqa: E731
    assert as_set(report["gaps"]["single_study"]) == single
    assert as_set(report["gaps"]["reviews_only"]) == reviews


def test_heme_solid_on_corpus_matches_sparql_for_contexted_findings(corpus):
    kg, _graph, report = corpus
    # studies reporting a CAR-T barrier in an explicitly hematologic context
    rows = kg.query(
        PREFIXES
        + """SELECT ?b (COUNT(DISTINCT ?study) AS ?n) WHERE {
  ?f a tkg:Finding ; tkg:subject ?t ; tkg:relation tkg:facesBarrier ; tkg:object ?b ; tkg:support "SUPPORT" ;
     tkg:tumorContext ?ctx ; prov:wasDerivedFrom ?study .
  ?t rdfs:subClassOf* tkg:CART . ?ctx rdfs:subClassOf* tkg:HematologicMalignancy .
} GROUP BY ?b"""
    ).rows
    expected = {str(r["b"]).rsplit("/", 1)[-1]: int(r["n"].toPython()) for r in rows}
    got = {r["id"]: r["heme"] - r["inferred"] for r in report["contrast"]["CART"]["barriers"] if r["heme"] - r["inferred"]}
    # a study with two findings of one barrier in two heme contexts counts once per edge (subject) in
    # our table and once overall in SPARQL, so ours is >= and equal when no such duplicate exists
    assert set(got) == set(expected)
    for barrier, n in expected.items():
        assert got[barrier] >= n


def test_paths_on_corpus(corpus):
    _kg, graph, _report = corpus
    rows = A.therapy_strategies(graph, "Tisagenlecleucel")
    assert rows and all(r["strategies"] is not None for r in rows)
    strategies = {s["id"] for r in rows for s in r["strategies"]}
    for r in rows:
        ids = [s["id"] for s in r["strategies"]]
        assert len(ids) == len(set(ids))  # a strategy is listed once per barrier
        for s in r["strategies"]:
            assert graph.has_edge(s["id"], s["via"], key="addressesBarrier")
    assert strategies
    path = A.shortest_path(graph, "Tisagenlecleucel", "Lifileucel")
    assert path[0]["id"] == "Tisagenlecleucel" and path[-1]["id"] == "Lifileucel"
    for a, b in zip(path, path[1:], strict=False):
        assert graph.has_edge(a["id"], b["id"]) or graph.has_edge(b["id"], a["id"])


# -- the command ------------------------------------------------------------------
def test_analyze_prints_the_three_sections(built_store):
    result = CliRunner().invoke(main, ["analyze", "--store", built_store])
    assert result.exit_code == 0, result.output
    for title in ("== Rankings", "== Hematologic vs solid", "== Gaps and contradictions"):
        assert title in result.output
    assert "CAR-T cell therapy" in result.output and "Jaccard" in result.output


def test_analyze_json_and_section(built_store):
    result = CliRunner().invoke(main, ["analyze", "--store", built_store, "--json", "--section", "gaps"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "gaps" in data and "rankings" not in data
    assert set(data["gaps"]) >= {"single_study", "reviews_only", "preclinical_only", "contradictions", "uncovered"}
    bad = CliRunner().invoke(main, ["analyze", "--store", built_store, "--section", "nope"])
    assert bad.exit_code == 2


def test_analyze_plot_writes_png_and_svg(built_store, tmp_path):
    result = CliRunner().invoke(main, ["analyze", "--store", built_store, "--section", "rankings", "--plot", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "plots").iterdir())
    assert sorted(p.suffix for p in files) == [".png"] * 3 + [".svg"] * 3
    for path in files:
        data = path.read_bytes()
        assert len(data) > 5000, path
        if path.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
        else:
            assert b"<svg" in data[:2000]


# -- the web page -------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(built_store):
    from web import create_app

    return create_app({"store": built_store, "rate_limit": "0"}).test_client()


def test_analytics_page_and_json(client, corpus):
    _kg, _graph, report = corpus
    page = client.get("/analytics")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    top = report["rankings"]["barriers"][0]
    assert f'href="/entity/{top["id"]}"' in html
    for plot in ("heatmap", "heme-solid", "centrality"):
        assert f"/analytics/plots/{plot}.svg" in html
    assert "<script>" not in html and "style=" not in html  # CSP: no inline scripts or styles
    data = client.get("/analytics.json").get_json()
    assert data["rankings"]["barriers"] == report["rankings"]["barriers"]
    negotiated = client.get("/analytics", headers={"Accept": "application/json"})
    assert negotiated.mimetype == "application/json" and negotiated.get_json()["rankings"] == data["rankings"]
    assert {k: len(v) for k, v in data["gaps"].items()} == {k: len(v) for k, v in report["gaps"].items()}


def test_analytics_paths_params(client):
    data = client.get("/analytics.json?therapy=Tisagenlecleucel&from=Tisagenlecleucel&to=Lifileucel").get_json()
    assert data["therapy"]["id"] == "Tisagenlecleucel" and data["therapy"]["barriers"]
    assert data["path"]["steps"][0]["id"] == "Tisagenlecleucel" and data["path"]["steps"][-1]["id"] == "Lifileucel"
    page = client.get("/analytics?therapy=CART&from=CART&to=Lifileucel")
    assert page.status_code == 200 and "Shortest path" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/analytics.json?therapy=Nope",
        "/analytics.json?therapy=Melanoma",
        "/analytics?from=CART",
        "/analytics.json?bogus=1",
        "/analytics.json?from=CART&to=%00x",
    ],
)
def test_bad_params_give_the_one_error_shape(client, url):
    response = client.get(url, headers={"Accept": "application/json"})
    assert response.status_code == 400
    body = response.get_json()
    assert body["ok"] is False and body["status"] == 400 and body["title"] == "Bad Request" and body["error"]


@pytest.mark.parametrize(
    ("name", "mime", "magic"), [("heatmap.svg", "image/svg+xml", b"<svg"), ("centrality.png", "image/png", b"\x89PNG")]
)
def test_plot_routes(client, name, mime, magic):
    response = client.get(f"/analytics/plots/{name}")
    assert response.status_code == 200 and response.mimetype == mime
    assert magic in response.data[:2000]
    missing = client.get("/analytics/plots/nope.svg", headers={"Accept": "application/json"})
    assert missing.status_code == 404 and missing.get_json()["ok"] is False


def test_context_is_served(client):
    response = client.get("/context.jsonld")
    assert response.status_code == 200 and response.mimetype == "application/ld+json"
    assert response.get_json()["@context"]["tkg"] == "https://w3id.org/tcell-kg/"


def test_analytics_page_is_rendered_once_per_release_without_a_question(client, monkeypatch):
    import web.analytics as page_module

    calls: list[str] = []
    real = page_module.render_template

    def counting(name, **context):
        calls.append(name)
        return real(name, **context)

    monkeypatch.setattr(page_module, "render_template", counting)
    from kg.artifacts import clear_memo

    clear_memo()
    first = client.get("/analytics").get_data(as_text=True)
    second = client.get("/analytics").get_data(as_text=True)
    assert first == second and calls == ["analytics.html"]  # rendered once, then kept for the release
    asked = client.get("/analytics?therapy=Tisagenlecleucel").get_data(as_text=True)
    assert asked != first and calls[-1] == "analytics.html"  # a path question is answered, not the kept page
