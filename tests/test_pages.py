"""The page blueprint (web/pages.py over kg/views): dashboard and evidence
matrix, matrix cells, entity and study pages with their JSON and RDF twins,
search, downloads, /void, the per-release cache, and bad input.

Expected values come from independent SPARQL written here (or from CQ9), not
from the code under test."""

from __future__ import annotations

import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pyoxigraph
import pytest
import rdflib
from rdflib import URIRef
from rdflib.namespace import RDF

from kg import KnowledgeGraph
from kg.export import export_formats
from kg.queries import load_query
from web import create_app

TKG = "https://w3id.org/tcell-kg/"
VOID = rdflib.Namespace("http://rdfs.org/ns/void#")
ERROR_KEYS = {"ok", "status", "title", "error"}
RECORDS = Path(__file__).resolve().parent / "data" / "records"
PREFIXES = """PREFIX tkg: <https://w3id.org/tcell-kg/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
"""


@pytest.fixture(scope="module")
def graph(built_store):
    kg = KnowledgeGraph.open(built_store)
    yield kg
    kg.close()


@pytest.fixture(scope="module")
def client(built_store):
    app = create_app({"store": built_store, "rate_limit": "0"})
    return app.test_client()


def get_json(client, path, status=200):
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == status, (path, response.data[:300])
    return response.get_json()


def assert_error(response, status):
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert body is not None and set(body) == ERROR_KEYS, body
    assert body["ok"] is False and body["status"] == status and body["error"]


def parse_rdf(data: bytes, fmt: str) -> rdflib.Graph:
    """Parse with rdflib (its JSON-LD parser still builds a deprecated ConjunctiveGraph inside)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return rdflib.Graph().parse(data=data, format=fmt)


def local(iri) -> str:
    return str(iri).rsplit("/", 1)[-1]


class Marks(HTMLParser):
    """Collects the text inside <mark> elements (and ids of elements)."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.marks: list[str] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "mark":
            self.depth += 1
            self.marks.append("")

    def handle_endtag(self, tag):
        if tag == "mark":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.marks[-1] += data


def parse_html(body: bytes) -> Marks:
    parser = Marks()
    parser.feed(body.decode("utf-8"))
    return parser


# -- dashboard and matrix ----------------------------------------------------------------
def cq9(graph) -> dict[tuple[str, str], tuple[int, int | None]]:
    rows = graph.query(load_query("cq09-modality-barrier-matrix").sparql).rows
    out = {}
    for row in rows:
        level = row.get("bestLevel")
        out[(local(row["modality"]), local(row["category"]))] = (
            int(row["studies"].toPython()),
            int(level.toPython()) if level is not None else None,
        )
    return out


def test_matrix_cells_equal_cq9(client, graph):
    expected = cq9(graph)
    data = get_json(client, "/")
    cells = {(c["modality"], c["category"]): (c["studies"], c["best_level"]) for row in data["matrix"]["cells"] for c in row}
    assert cells == expected
    assert any(n for n, _ in expected.values()), "CQ9 found no evidence at all: the corpus is not loaded"
    assert [m["id"] for m in data["matrix"]["modalities"]] == [row[0]["modality"] for row in data["matrix"]["cells"]]
    assert [c["id"] for c in data["matrix"]["categories"]] == [c["category"] for c in data["matrix"]["cells"][0]]


def test_dashboard_counts(client, graph):
    data = get_json(client, "/dashboard.json")
    studies = graph.query(PREFIXES + "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a tkg:Study }").rows[0]["n"].toPython()
    findings = graph.query(PREFIXES + "SELECT (COUNT(DISTINCT ?f) AS ?n) WHERE { ?f a tkg:Finding }").rows[0]["n"].toPython()
    assert data["stats"]["studies"] == studies and data["stats"]["findings"] == findings
    assert sum(t["studies"] for t in data["studies_by_type"]) == studies
    years = graph.query(
        PREFIXES + "SELECT ?y (COUNT(DISTINCT ?s) AS ?n) WHERE { ?s a tkg:Study ; tkg:publicationYear ?y } GROUP BY ?y"
    ).rows
    assert {r["y"].toPython(): r["n"].toPython() for r in years} == {y["year"]: y["studies"] for y in data["studies_by_year"]}
    modalities = {local(r["m"]) for r in graph.query(PREFIXES + "SELECT ?m WHERE { ?m tkg:isModality true }").rows}
    assert {m["id"] for m in data["modalities"]} == modalities
    cart = (
        graph.query(
            PREFIXES
            + """SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { ?t rdfs:subClassOf* tkg:CART .
        ?f a tkg:Finding ; tkg:subject ?t ; tkg:support "SUPPORT" ; prov:wasDerivedFrom ?s }"""
        )
        .rows[0]["n"]
        .toPython()
    )
    assert next(m for m in data["modalities"] if m["id"] == "CART")["studies"] == cart


def test_dashboard_html_has_every_cell_and_legend(client, graph):
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200
    page = response.data.decode()
    for (m, c), (n, level) in cq9(graph).items():
        assert f'href="/matrix/{m}/{c}"' in page
        if n:
            assert f"{n} studies, best evidence level {level}" in page
    assert "legend" in page and re.search(r'class="cell heat-[1-5]"', page)
    assert "<script>" not in page.replace('<script src="', "")  # no inline script (CSP)
    assert ' style="' not in page


def test_cart_tme_cell_quotes_are_in_their_studies(client, graph):
    cell = get_json(client, "/matrix/CART/TumorMicroenvironmentBarrier.json")
    assert cell["studies"] == cq9(graph)[("CART", "TumorMicroenvironmentBarrier")][0] > 0
    assert cell["findings"]
    texts: dict[str, list[str]] = {}
    for f in cell["findings"]:
        sid = f["study"]["id"]
        if sid not in texts:
            study = get_json(client, f"/study/{sid}.json")
            texts[sid] = [t["content"] for t in study["texts"]]
        assert any(f["quote"] in t for t in texts[sid]), f
        assert f["relation"] == "facesBarrier"
    # the same findings as an independent query: facesBarrier, object under TME, subject under CART
    expected = graph.query(
        PREFIXES
        + """SELECT DISTINCT ?f WHERE { ?t rdfs:subClassOf* tkg:CART . ?b rdfs:subClassOf* tkg:TumorMicroenvironmentBarrier .
        ?f a tkg:Finding ; tkg:subject ?t ; tkg:relation tkg:facesBarrier ; tkg:object ?b }"""
    ).values("f")
    assert {f["id"] for f in cell["findings"]} == {local(f) for f in expected}


def test_matrix_cell_html_page_shows_quotes_escaped(client):
    cell = get_json(client, "/matrix/CART/TumorMicroenvironmentBarrier.json")
    response = client.get("/matrix/CART/TumorMicroenvironmentBarrier", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    from markupsafe import escape

    page = response.data.decode()
    for f in cell["findings"]:
        assert str(escape(f["quote"])) in page
        assert f'href="/study/{f["study"]["id"]}#' in page
        assert f'href="/entity/{f["object"]["id"]}"' in page


def test_empty_and_invalid_cells(client, graph):
    empty = [k for k, (n, _) in cq9(graph).items() if n == 0]
    if empty:
        m, c = empty[0]
        cell = get_json(client, f"/matrix/{m}/{c}.json")
        assert cell["studies"] == 0 and all(f["support"] == "REFUTE" for f in cell["findings"])
    assert_error(client.get("/matrix/CART/CART", headers={"Accept": "application/json"}), 404)
    assert_error(client.get("/matrix/Nope/TumorMicroenvironmentBarrier", headers={"Accept": "application/json"}), 404)
    assert_error(client.get("/matrix/CART/%3Cx%3E", headers={"Accept": "application/json"}), 404)


# -- entity --------------------------------------------------------------------------------
RDF_ACCEPT = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
    "application/rdf+xml": "xml",
}
RDF_PARAM = {"ttl": "turtle", "jsonld": "json-ld", "nt": "nt", "rdfxml": "xml"}


@pytest.mark.parametrize("accept", list(RDF_ACCEPT))
def test_entity_rdf_by_accept(client, accept):
    response = client.get("/entity/CART", headers={"Accept": accept})
    assert response.status_code == 200 and response.mimetype == accept
    g = parse_rdf(response.data, RDF_ACCEPT[accept])
    cart = URIRef(TKG + "CART")
    assert (cart, rdflib.RDFS.label, None) in g
    assert (cart, rdflib.RDFS.subClassOf, URIRef(TKG + "AdoptiveCellTherapy")) in g


@pytest.mark.parametrize("param", list(RDF_PARAM))
def test_entity_rdf_by_format_param(client, param):
    response = client.get(f"/entity/CART?format={param}")
    assert response.status_code == 200
    g = parse_rdf(response.data, RDF_PARAM[param])
    assert any(s == URIRef(TKG + "CART") for s in g.subjects())


def test_entity_json_twin(client, graph):
    label = graph.query(PREFIXES + "SELECT ?l WHERE { tkg:CART rdfs:label ?l }").values("l")[0]
    synonyms = set(graph.query(PREFIXES + "SELECT ?s WHERE { tkg:CART skos:altLabel ?s }").values("s"))
    children = {local(x) for x in graph.query(PREFIXES + "SELECT ?c WHERE { ?c rdfs:subClassOf tkg:CART }").values("c")}
    for path, headers in (("/entity/CART.json", {}), ("/entity/CART", {"Accept": "application/json"})):
        response = client.get(path, headers=headers)
        assert response.mimetype == "application/json"
        data = response.get_json()
        assert data["id"] == "CART" and data["label"] == label
        assert set(data["synonyms"]) == synonyms - {label}
        assert {c["id"] for c in data["subclasses"]} == children
        assert "AdoptiveCellTherapy" in [a["id"] for a in data["lineage"]]
        assert any(m["iri"].endswith("NCIT_C126102") for m in data["mappings"])


def test_entity_relation_counts(client, graph):
    data = get_json(client, "/entity/CART.json")
    faces = next(g for g in data["relations"] if g["relation"] == "facesBarrier" and g["direction"] == "out")
    for item in faces["items"]:
        n = (
            graph.query(
                PREFIXES
                + """SELECT ?o (COUNT(DISTINCT ?s) AS ?n) WHERE { ?t rdfs:subClassOf* tkg:CART .
            ?f a tkg:Finding ; tkg:subject ?t ; tkg:relation tkg:facesBarrier ; tkg:object ?o ; tkg:support "SUPPORT" ;
               prov:wasDerivedFrom ?s } GROUP BY ?o""",
                bindings={"o": URIRef(item["entity"]["iri"])},
            )
            .rows[0]["n"]
            .toPython()
        )
        assert item["studies"] == n, item["entity"]["id"]
    studies = graph.query(
        PREFIXES
        + """SELECT DISTINCT ?s WHERE { ?t rdfs:subClassOf* tkg:CART .
        { ?f tkg:subject ?t } UNION { ?f tkg:object ?t } ?f a tkg:Finding ; prov:wasDerivedFrom ?s }"""
    ).values("s")
    assert {s["id"] for s in data["studies"]} == {local(s) for s in studies}


def test_entity_html_page(client):
    response = client.get("/entity/CART", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.data.decode()
    assert "CAR-T cell therapy" in page and "faces barrier" in page
    assert 'href="/entity/TumorMicroenvironmentBarrier"' in page
    assert 'href="http://purl.obolibrary.org/obo/NCIT_C126102"' in page


def test_product_page_shows_facts(client, graph):
    row = graph.query(PREFIXES + "SELECT ?p ?b WHERE { ?p tkg:brandName ?b } LIMIT 1").rows[0]
    data = get_json(client, f"/entity/{local(row['p'])}.json")
    brand = next(f for f in data["facts"] if f["property"] == "brandName")
    assert str(row["b"]) in [v["value"] for v in brand["values"]]


# -- study ---------------------------------------------------------------------------------------
def test_study_page_highlights_every_quote(client, graph):
    sid = "review-2026-tcell-therapies"
    quotes = graph.query(
        PREFIXES + "SELECT ?s ?q WHERE { ?f a tkg:Finding ; prov:wasDerivedFrom ?s ; tkg:evidenceQuote ?q }",
        bindings={"s": URIRef(f"{TKG}study/{sid}")},
    ).values("q")
    assert quotes
    response = client.get(f"/study/{sid}", headers={"Accept": "text/html"})
    assert response.status_code == 200
    parsed = parse_html(response.data)
    for quote in quotes:
        assert any(quote in mark for mark in parsed.marks), quote
    data = get_json(client, f"/study/{sid}.json")
    for f in data["findings"]:
        assert f"q-{f['id']}" in parsed.ids and f["id"] in parsed.ids  # the highlight and the table row are linkable
        text = next(t["content"] for t in data["texts"] if t["id"] == f["block"])
        assert text[f["start"] : f["end"]] == f["quote"]
    assert data["conflicts"] and data["identifiers_unverified"] is True


def test_study_identifier_links(client, graph):
    rows = graph.query(PREFIXES + "SELECT ?s ?nct WHERE { ?s tkg:nctId ?nct } LIMIT 1").rows
    sid, nct = local(rows[0]["s"]), str(rows[0]["nct"])
    page = client.get(f"/study/{sid}", headers={"Accept": "text/html"}).data.decode()
    assert f'href="https://clinicaltrials.gov/study/{nct}"' in page
    rows = graph.query(PREFIXES + "SELECT ?s ?doi WHERE { ?s tkg:doi ?doi } LIMIT 1").rows
    sid, doi = local(rows[0]["s"]), str(rows[0]["doi"])
    page = client.get(f"/study/{sid}", headers={"Accept": "text/html"}).data.decode()
    assert f'href="https://doi.org/{doi}"' in page


def test_study_rdf_is_its_named_graph(client, graph):
    sid = "review-2026-tcell-therapies"
    count = graph.query(
        "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g", bindings={"g": URIRef(f"{TKG}graph/{sid}")}
    ).rows
    response = client.get(f"/study/{sid}", headers={"Accept": "text/turtle"})
    g = rdflib.Graph().parse(data=response.data, format="turtle")
    assert len(g) == count[0]["n"].toPython()
    assert (URIRef(f"{TKG}study/{sid}"), RDF.type, URIRef(TKG + "Study")) in g


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    ["/entity/NoSuchThing", "/entity/%3Cscript%3E", "/entity/a%20b", "/study/no-such-study", "/study/CART", "/study/..", "/entity/CART%00"],
)
def test_unknown_ids_are_404_in_the_error_shape(client, path):
    assert_error(client.get(path, headers={"Accept": "application/json"}), 404)
    html = client.get(path, headers={"Accept": "text/html"})
    assert html.status_code == 404 and b"Back to the dashboard" in html.data


def test_bad_format_and_unacceptable_types(client):
    assert_error(client.get("/entity/CART?format=docx", headers={"Accept": "application/json"}), 400)
    assert_error(client.get("/entity/CART", headers={"Accept": "image/png"}), 406)
    assert_error(client.get("/study/review-2026-tcell-therapies", headers={"Accept": "application/pdf"}), 406)
    assert_error(client.get("/api/search?q=car&limit=x"), 400)
    assert_error(client.get("/api/search?q=car&limit=1000"), 400)


# -- search ---------------------------------------------------------------------------------------
def test_search_finds_synonyms(client, graph):
    rows = graph.query(PREFIXES + "SELECT ?e ?s WHERE { ?e skos:altLabel ?s ; rdfs:subClassOf+ tkg:Therapy ; tkg:brandName ?b }").rows
    assert rows
    for row in rows[:5]:
        synonym = str(row["s"])
        data = get_json(client, f"/api/search?q={synonym}")
        hit = next((r for r in data["results"] if r["id"] == local(row["e"])), None)
        assert hit is not None, synonym
        assert hit["matched"] in (synonym, None)


def test_search_prefix_first_and_limit(client):
    data = get_json(client, "/api/search?q=CAR-T&limit=3")
    assert len(data["results"]) <= 3 and data["results"][0]["id"] == "CART"
    assert get_json(client, "/api/search?q=")["results"] == []
    assert get_json(client, "/api/search?q=%27%20%7D%20DROP")["results"] == []


# -- downloads and void ------------------------------------------------------------------------------
def test_downloads_list_every_format_and_serve_them(client, graph):
    data = get_json(client, "/downloads.json")
    assert sorted(f["format"] for f in data["files"]) == sorted(export_formats())
    html = client.get("/downloads", headers={"Accept": "text/html"}).data.decode()
    for f in data["files"]:
        assert f["available"], f
        assert f"/downloads/{f['name']}" in html
    ttl = next(f for f in data["files"] if f["format"] == "ttl")
    response = client.get(f"/downloads/{ttl['name']}")
    body = response.data
    response.close()
    assert response.status_code == 200 and response.mimetype == "text/turtle"
    assert "attachment" in response.headers["Content-Disposition"] and ttl["name"] in response.headers["Content-Disposition"]
    g = rdflib.Graph().parse(data=body, format="turtle")
    distinct = graph.query("SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }").rows[0]["n"].toPython()
    assert len(g) == distinct == ttl["triples"]
    assert len(body) == ttl["size"]
    nq = next(f for f in data["files"] if f["format"] == "nq")
    response = client.get(f"/downloads/{nq['name']}")
    body = response.data
    response.close()
    quads = list(pyoxigraph.parse(body, format=pyoxigraph.RdfFormat.N_QUADS))
    assert len(quads) == nq["triples"] == graph.store.count()


@pytest.mark.parametrize(
    "path",
    [
        "/downloads/..%2f..%2fetc%2fpasswd",
        "/downloads/../../etc/passwd",
        "/downloads/%2e%2e%2fmanifest.json",
        "/downloads/manifest.json",
        "/downloads/tcell-kg.ttl.part",
        "/downloads/views.json",
        "/downloads/.tcell-kg.ttl",
    ],
)
def test_download_traversal_refused(client, path):
    response = client.get(path, headers={"Accept": "application/json"})
    assert response.status_code in (400, 404)
    assert set(response.get_json()) == ERROR_KEYS
    assert b"root:" not in response.data


def test_void(client, graph):
    response = client.get("/void")
    assert response.status_code == 200 and response.mimetype == "text/turtle"
    g = rdflib.Graph().parse(data=response.data, format="turtle")
    dataset = next(g.subjects(RDF.type, VOID.Dataset))
    distinct = graph.query("SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }").rows[0]["n"].toPython()
    assert int(g.value(dataset, VOID.triples)) == distinct  # the union of all graphs, as in a release's void.ttl
    dumps = {str(o) for o in g.objects(dataset, VOID.dataDump)}
    listed = {f["name"] for f in get_json(client, "/downloads.json")["files"]}
    assert {d.rsplit("/", 1)[-1] for d in dumps} == listed
    assert g.value(dataset, VOID.sparqlEndpoint) is not None
    assert g.value(dataset, rdflib.DCTERMS.modified) is not None
    jsonld = client.get("/void", headers={"Accept": "application/ld+json"})
    assert len(parse_rdf(jsonld.data, "json-ld")) == len(g)
    assert client.get("/void", headers={"Accept": "text/html"}).mimetype == "text/html"


# -- per-release cache ---------------------------------------------------------------------------------
def test_views_written_at_publish(built_store):
    current = (Path(built_store) / "current").resolve().name
    views = json.loads((Path(built_store) / "cache" / current / "views.json").read_text())
    assert views["matrix"]["cells"] and views["dashboard"]["stats"]["studies"] > 0


def test_cell_indexes_written_at_publish_equal_the_ones_computed_on_request(built_store, graph):
    """Every matrix cell's index (counts, findings in page order) is stored with
    the release, and is what the store gives when asked for that cell alone."""
    from kg.views.cells import PAGES_DIR
    from kg.views.dashboard import cell_index

    folder = Path(built_store) / "cache" / (Path(built_store) / "current").resolve().name / "cells"
    expected = cq9(graph)
    assert {tuple(p.stem.split("--")) for p in folder.glob("*.json")} == set(expected)
    for (m, c), (studies, level) in expected.items():
        stored = json.loads((folder / f"{m}--{c}.json").read_text())
        assert (stored["studies"], stored["best_level"]) == (studies, level)
        stored.pop("version")
        # the findings are stored in pages (kg.views.cache), shared by releases under cache/shared
        pages = [json.loads((folder.parent.parent / PAGES_DIR / f"{page}.json").read_text()) for page, _n in stored.pop("pages")]
        stored["findings"] = [finding for page in pages for finding in page["findings"]]
        assert stored == cell_index(graph, m, c)


def test_cell_page_reads_the_stored_index_and_shows_only_its_page(tmp_path, monkeypatch):
    from kg.generate import write_cards
    from kg.views import dashboard
    from kg.views.cells import PAGES_DIR, write_page

    store = str(tmp_path / "var")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest(write_cards(tmp_path / "cards", 40, seed=7))
        release = kg.publish()
    path = Path(store) / "cache" / release / "cells" / "CART--TumorMicroenvironmentBarrier.json"
    stored = json.loads(path.read_text())
    pool = Path(store) / "cache" / PAGES_DIR
    findings = [f for page, _n in stored["pages"] for f in json.loads((pool / f"{page}.json").read_text())["findings"]]
    assert len(findings) >= 2
    # a served cell comes from the stored index and pages, not from the store: a marked copy shows
    stored["findings"] = findings = findings[::-1]
    stored["pages"] = [[write_page(pool, page), len(page)] for page in (findings[:1], findings[1:])]
    stored["studies"] = 999
    path.write_text(json.dumps(stored))

    def no_computing(*_args, **_kwargs):
        raise AssertionError("the cell index was computed on request")

    monkeypatch.setattr(dashboard, "cell_index", no_computing)
    client = create_app({"store": store, "rate_limit": "0"}).test_client()
    cell = get_json(client, "/matrix/CART/TumorMicroenvironmentBarrier.json?limit=1&offset=1")
    assert cell["studies"] == 999 and cell["findings_page"]["total"] == len(stored["findings"])
    assert [f["id"] for f in cell["findings"]] == [stored["findings"][1].rsplit("/", 1)[-1]]
    # an unknown cell still falls through to the store (and its 404)
    monkeypatch.undo()
    assert_error(client.get("/matrix/CART/Nope", headers={"Accept": "application/json"}), 404)


def test_cell_lists_supporting_findings_first_best_level_first(client):
    cell = get_json(client, "/matrix/CART/SafetyBarrier.json?limit=1000")
    keys = [(f["support"] != "SUPPORT", f["study"]["level"] if f["study"]["level"] is not None else 99) for f in cell["findings"]]
    assert keys == sorted(keys) and len(keys) >= 2


def test_readers_follow_a_new_release(tmp_path):
    store = str(tmp_path / "var")
    records = sorted(RECORDS.glob("*.yaml"))
    assert len(records) > 1
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest(records[:1])
        first_release = kg.publish()
    # the app serves the views written at publish time, not a fresh computation:
    # a marked copy on disk is what it shows
    path = Path(store) / "cache" / first_release / "views.json"
    views = json.loads(path.read_text())
    assert views["dashboard"]["stats"]["studies"] == 1
    views["dashboard"]["stats"]["studies"] = 999
    path.write_text(json.dumps(views))
    client = create_app({"store": store, "rate_limit": "0"}).test_client()
    first = get_json(client, "/dashboard.json")
    assert first["release"] == first_release and first["stats"]["studies"] == 999
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest(records)
        release = kg.publish()
    second = get_json(client, "/dashboard.json")
    assert second["release"] == release != first_release
    assert second["stats"]["studies"] == len(records)
    assert (Path(store) / "cache" / release / "views.json").is_file()


def test_hostile_title_is_escaped(tmp_path):
    text = (RECORDS / "mini-car-t.yaml").read_text()
    hostile = text.replace("title: A small CAR-T test study", 'title: "<script>alert(1)</script> & <b>bold</b>"')
    assert hostile != text
    (tmp_path / "hostile.yaml").write_text(hostile)
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.ingest([tmp_path / "hostile.yaml"])
    client = create_app({"store": "memory:", "TKG_GRAPH": kg, "rate_limit": "0"}).test_client()
    # a store without releases computes the dashboard on request (this once deadlocked on the cache lock)
    assert get_json(client, "/dashboard.json")["stats"]["studies"] == 1
    for path in ("/", "/study/mini-car-t", "/entity/CART", "/matrix/CART/SafetyBarrier"):
        page = client.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 200, path
        assert b"<script>alert(1)</script>" not in page.data
        if path != "/":  # the dashboard shows no study titles
            assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.data, path


def test_long_lists_come_a_page_at_a_time(client):
    """A cell's findings and an entity's studies are paged (?offset=&limit=):
    the pages join up to the whole list, in order, without overlap."""
    whole = client.get("/matrix/CART/TumorMicroenvironmentBarrier.json?limit=1000").get_json()
    everything = [f["id"] for f in whole["findings"]]
    assert whole["findings_page"]["total"] == len(everything) >= 4 and whole["findings_page"]["next_offset"] is None
    seen, offset = [], 0
    while offset is not None:
        part = client.get(f"/matrix/CART/TumorMicroenvironmentBarrier.json?limit=3&offset={offset}").get_json()
        assert len(part["findings"]) <= 3 and part["studies"] == whole["studies"]
        seen += [f["id"] for f in part["findings"]]
        offset = part["findings_page"]["next_offset"]
    assert seen == everything
    html = client.get("/matrix/CART/TumorMicroenvironmentBarrier?limit=3").get_data(as_text=True)
    assert f"Findings 1–3 of {len(everything)}" in html and "offset=3&amp;limit=3" in html
    entity = client.get("/entity/CART.json?limit=2&offset=1").get_json()
    full = client.get("/entity/CART.json?limit=1000").get_json()
    assert [s["id"] for s in entity["studies"]] == [s["id"] for s in full["studies"]][1:3]
    assert entity["studies_page"]["total"] == len(full["studies"])
    for bad in ("limit=0", "limit=1001", "offset=-1", "offset=x"):
        r = client.get(f"/entity/CART.json?{bad}")
        assert r.status_code == 400 and r.get_json()["ok"] is False


def test_downloads_serve_registered_names_only_even_for_files_that_exist(client, graph):
    """A file lying in the downloads folder (a leftover, a planted file) is not
    served unless its name is one of the export formats: the registry, not the
    filesystem, decides (routing alone already stops names with slashes)."""
    from kg.views.cache import release_key
    from kg.views.downloads import _folder

    assert client.get("/downloads.json").status_code == 200  # the folder exists once listed
    folder = _folder(graph, release_key(graph, exact=True))
    folder.mkdir(parents=True, exist_ok=True)
    planted = folder / "planted-secret.txt"
    planted.write_text("root:x:0:0\n")
    try:
        for name in ("planted-secret.txt", "..", "."):
            response = client.get(f"/downloads/{name}", headers={"Accept": "application/json"})
            assert response.status_code == 404 and b"root:" not in response.data, name
    finally:
        planted.unlink()
