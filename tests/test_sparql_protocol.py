"""The SPARQL 1.1 Protocol on /sparql: the W3C protocol manifest, table-driven,
and the checks P01-P40 of ../shared/w3c/PROTOCOL-CHECKS.md that concern the
protocol itself (the safety checks are in test_sparql_safety.py, the limits in
test_workers.py). Apps are built from the factory over tiny in-code data."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pyoxigraph as ox
import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.namespace import RDF, RDFS
from werkzeug.serving import make_server

from kg import KnowledgeGraph
from web import create_app
from web.negotiation import ASK_TYPES, GRAPH_TYPES, SELECT_TYPES, negotiate

W3C = Path(__file__).resolve().parents[1].parent / "shared" / "w3c"
MANIFEST = W3C / "sparql11-protocol-manifest.ttl"
RECORDS = Path(__file__).resolve().parent / "data" / "records"
TOKEN = "test-update-token"
KASEI = "http://kasei.us/2009/09/sparql/data/"
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
EX = "http://example.org/tkg-test/"

MF = Namespace("http://www.w3.org/2001/sw/DataAccess/tests/test-manifest#")
HT = Namespace("http://www.w3.org/2011/http#")
CNT = Namespace("http://www.w3.org/2011/content#")
UT = Namespace("http://www.w3.org/2009/sparql/tests/test-update#")
HTS = Namespace("http://www.w3.org/2011/http-statusCodes#")


def small_graph(with_kasei: bool = True) -> KnowledgeGraph:
    """Two tiny study records, plus the W3C protocol tests' graphs data1-3.rdf.

    The manifest's data files are not shipped beside it; their graphs only need
    ``<dataN.rdf> a ?type`` with one shared type, which is what this adds."""
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.ingest(sorted(RECORDS.glob("*.yaml")))
    if with_kasei:
        for n in (1, 2, 3):
            g = Graph()
            g.add((URIRef(f"{KASEI}data{n}.rdf"), RDF.type, FOAF.Document))
            kg.store.replace_graph(f"{KASEI}data{n}.rdf", g)
    g = Graph()
    g.add((URIRef(EX + "s"), URIRef(EX + "p"), Literal('tab\there, quote " and newline\n')))
    g.add((URIRef(EX + "s"), RDFS.label, Literal("étoile", lang="fr")))
    kg.store.replace_graph(EX + "graph", g)
    return kg


@pytest.fixture
def app():
    return create_app({"store": "memory:", "TKG_GRAPH": small_graph(), "update_token": TOKEN, "max_body": 100_000})


@pytest.fixture
def public_app():
    return create_app({"store": "memory:", "TKG_GRAPH": small_graph()})


@pytest.fixture
def client(app):
    return app.test_client()


def parse_rdf(data: bytes, fmt: str) -> Graph:
    """Parse a response into an rdflib Graph; JSON-LD through pyoxigraph (rdflib's
    JSON-LD parser raises a deprecation warning, and warnings are errors)."""
    if fmt != "json-ld":
        return Graph().parse(data=data, format=fmt)
    from kg.stores.oxigraph import to_rdflib

    g = Graph()
    for quad in ox.parse(data, format=ox.RdfFormat.JSON_LD):
        g.add((to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object)))
    return g


def q(text: str) -> str:
    return "/sparql?query=" + quote(text, safe="")


def select_json(response) -> list[dict]:
    assert response.status_code == 200, response.data
    return json.loads(response.data)["results"]["bindings"]


# -- the W3C manifest, table-driven ---------------------------------------------------------
def _manifest_tests() -> list:
    if not MANIFEST.is_file():
        return [pytest.param(None, id="manifest-missing", marks=pytest.mark.skip(reason=f"W3C manifest not found at {MANIFEST}"))]
    g = Graph().parse(MANIFEST, format="turtle")
    manifest = next(g.subjects(RDF.type, MF.Manifest))
    entries = Collection(g, g.value(manifest, MF.entries))
    params = []
    for test in entries:
        name = str(test).rsplit("#", 1)[-1]
        action = g.value(test, MF.action)
        requests = []
        for req in Collection(g, g.value(action, HT.requests)):
            headers = {}
            header_list = g.value(req, HT.headers)
            if header_list is not None:
                for h in Collection(g, header_list):
                    headers[str(g.value(h, HT.fieldName))] = str(g.value(h, HT.fieldValue))
            body = g.value(req, HT.body)
            resp = g.value(req, HT.resp)
            requests.append(
                {
                    "method": str(g.value(req, HT.methodName)),
                    "path": str(g.value(req, HT.absolutePath)),
                    "headers": headers,
                    "body": str(g.value(body, CNT.chars)) if body is not None else None,
                    "status": {str(s).rsplit("#", 1)[-1] for s in g.objects(resp, MF.expectedStatus)},
                    "boolean": g.value(resp, MF.expectedBoolean),
                    "format": g.value(resp, MF.expectedFormat),
                }
            )
        marks = []
        if name.startswith("update_dataset_"):
            marks.append(
                pytest.mark.skip(reason="using-graph-uri/using-named-graph-uri are not supported (documented in docs/sparql.md: 400)")
            )
        params.append(pytest.param(requests, id=name, marks=marks))
    return params


def _status_ok(status: int, expected: set[str]) -> bool:
    return any(f"StatusCode{status // 100}xx" == e for e in expected)


@pytest.mark.parametrize("requests", _manifest_tests())
def test_w3c_protocol_manifest(client, requests):
    for spec in requests:
        path = spec["path"].replace("/sparql/", "/sparql", 1)
        headers = {k: v for k, v in spec["headers"].items() if k.lower() != "content-type"}
        content_type = spec["headers"].get("content-type")
        body = spec["body"]
        if body is not None and ("update" in (content_type or "") or body.startswith("update=") or "CLEAR" in body or "DROP" in body):
            headers["Authorization"] = f"Bearer {TOKEN}"
        kwargs = {"headers": headers}
        if body is not None:
            raw = body.encode("utf-16") if "UTF-16" in (content_type or "") else body.encode("utf-8")
            kwargs["data"] = raw
            if content_type:
                kwargs["content_type"] = content_type
        response = client.open(path, method=spec["method"], **kwargs)
        assert _status_ok(response.status_code, spec["status"]), (response.status_code, response.data[:300])
        if spec["format"] is not None and response.status_code < 300:
            ctype = response.mimetype
            if str(spec["format"]) == "boolean":
                assert ctype in ASK_TYPES
            elif str(spec["format"]) == "tabular":
                assert ctype in SELECT_TYPES
            else:
                assert ctype in GRAPH_TYPES
        if spec["boolean"] is not None:
            answer = ox.parse_query_results(response.data, format=ox.QueryResultsFormat.JSON)
            assert bool(answer) is spec["boolean"].toPython()


# -- P01-P11: transport ----------------------------------------------------------------
def test_p01_get_ask(client):
    r = client.get("/sparql?query=ASK{}")
    assert r.status_code == 200 and r.mimetype == "application/sparql-results+json"
    assert json.loads(r.data)["boolean"] is True


@pytest.mark.parametrize(
    "ctype", ["application/sparql-query", "application/sparql-query; charset=utf-8", "application/sparql-query;charset=UTF-8"]
)
def test_p03_direct_post(client, ctype):
    r = client.post("/sparql", data="ASK {}", content_type=ctype)
    assert r.status_code == 200 and json.loads(r.data)["boolean"] is True


def test_p02_form_post(client):
    r = client.post("/sparql", data={"query": "ASK {}"})
    assert r.status_code == 200 and json.loads(r.data)["boolean"] is True


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_p04_wrong_method(client, method):
    r = client.open("/sparql?query=ASK{}", method=method)
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allow and method not in allow


def test_p05_two_queries(client):
    assert client.get("/sparql?query=ASK{}&query=ASK{}").status_code == 400
    assert client.post("/sparql?query=ASK{}", data={"query": "ASK {}"}).status_code == 400


@pytest.mark.parametrize(
    "data, ctype, status",
    [
        ("ASK {}", "text/plain", 415),
        ("ASK {}", None, 415),
        ("query=ASK%20%7B%7D", None, 415),
        ("ASK {}", "application/json", 415),
    ],
)
def test_p06_media_types(client, data, ctype, status):
    kwargs = {"data": data.encode()}
    if ctype:
        kwargs["content_type"] = ctype
    assert client.post("/sparql", **kwargs).status_code == status


def test_p07_charsets_and_bad_bytes(client):
    r = client.post("/sparql", data="ASK {}".encode("utf-16"), content_type="application/sparql-query; charset=UTF-16")
    assert r.status_code == 415
    r = client.post("/sparql", data=b'ASK { FILTER("\xff\xfe") }', content_type="application/sparql-query")
    assert r.status_code == 400
    r = client.post("/sparql", data=b"query=ASK%7B%FF%7D", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    r = client.get("/sparql?query=ASK%7B%FF%7D")
    assert r.status_code == 400


def test_p08_syntax_error_has_line_and_column(client):
    r = client.get(q("SELECT ?s WHERE {\n  ?s ?p \n}"))
    assert r.status_code == 400
    message = json.loads(r.data)["error"]
    assert "line " in message and "column " in message


def test_p09_query_and_update(client):
    r = client.post("/sparql", data={"query": "ASK {}", "update": "CLEAR ALL"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 400


def test_p10_form_decoded_exactly_once(client):
    body = "query=" + quote('SELECT ?v WHERE { BIND("100%25" AS ?v) BIND("a+b" AS ?w) }', safe="")
    rows = select_json(client.post("/sparql", data=body, content_type="application/x-www-form-urlencoded"))
    assert rows[0]["v"]["value"] == "100%25"
    body = "query=SELECT+%3Fv+WHERE+%7B+BIND%28%22a+b%22+AS+%3Fv%29+%7D"
    assert select_json(client.post("/sparql", data=body, content_type="application/x-www-form-urlencoded"))[0]["v"]["value"] == "a b"


def test_p11_long_query_by_post(client):
    values = " ".join(f'"{i:05d}"' for i in range(3000))
    text = f"SELECT (COUNT(*) AS ?n) WHERE {{ VALUES ?x {{ {values} }} }}"
    assert len(text) > 20_000
    rows = select_json(client.post("/sparql", data=text, content_type="application/sparql-query"))
    assert rows[0]["n"]["value"] == "3000"


# -- P12-P13: dataset -------------------------------------------------------------------
def test_p12_protocol_dataset(client):
    two = f"default-graph-uri={quote(KASEI + 'data1.rdf', safe='')}&default-graph-uri={quote(KASEI + 'data2.rdf', safe='')}"
    text = "SELECT (COUNT(*) AS ?n) WHERE { ?s a ?t }"
    assert select_json(client.get(q(text) + "&" + two))[0]["n"]["value"] == "2"
    named = two.replace("default-graph-uri", "named-graph-uri")
    text = "SELECT (COUNT(DISTINCT ?g) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
    assert select_json(client.get(q(text) + "&" + named))[0]["n"]["value"] == "2"
    # named graphs only: the default graph is empty
    assert select_json(client.get(q("SELECT (COUNT(*) AS ?n) { ?s ?p ?o }") + "&" + named))[0]["n"]["value"] == "0"


def test_p13_protocol_dataset_overrides_from(client):
    text = f"SELECT ?s FROM <{KASEI}data3.rdf> WHERE {{ ?s a ?t }}"
    rows = select_json(client.get(q(text) + "&default-graph-uri=" + quote(KASEI + "data1.rdf", safe="")))
    assert [r["s"]["value"] for r in rows] == [KASEI + "data1.rdf"]
    rows = select_json(client.get(q(text)))
    assert [r["s"]["value"] for r in rows] == [KASEI + "data3.rdf"]


def test_default_graph_is_union(client):
    rows = select_json(client.get(q("SELECT (COUNT(*) AS ?n) WHERE { ?s a <http://xmlns.com/foaf/0.1/Document> }")))
    assert rows[0]["n"]["value"] == "3"


# -- P16-P22: results and negotiation -----------------------------------------------------
SELECT_TEXT = f"SELECT ?o WHERE {{ <{EX}s> ?p ?o }} ORDER BY ?o"


@pytest.mark.parametrize(
    "accept, ctype, fmt",
    [
        ("application/sparql-results+json", "application/sparql-results+json", ox.QueryResultsFormat.JSON),
        ("application/sparql-results+xml", "application/sparql-results+xml", ox.QueryResultsFormat.XML),
        ("text/csv", "text/csv", ox.QueryResultsFormat.CSV),
        ("text/tab-separated-values", "text/tab-separated-values", ox.QueryResultsFormat.TSV),
    ],
)
def test_p16_select_formats(client, accept, ctype, fmt):
    r = client.get(q(SELECT_TEXT), headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == ctype
    if fmt == ox.QueryResultsFormat.CSV:  # plain values, not parseable back into terms
        lines = r.data.decode().splitlines()
        assert lines[0] == "o" and "étoile" in lines
        return
    solutions = list(ox.parse_query_results(r.data, format=fmt))
    assert len(solutions) == 2
    if fmt == ox.QueryResultsFormat.TSV:
        assert '"étoile"@fr' in r.data.decode()  # TSV terms in N-Triples syntax
    else:
        values = {s["o"].value for s in solutions}
        assert 'tab\there, quote " and newline\n' in values


@pytest.mark.parametrize(
    "accept, fmt",
    [("application/sparql-results+json", ox.QueryResultsFormat.JSON), ("application/sparql-results+xml", ox.QueryResultsFormat.XML)],
)
def test_p17_ask_formats(client, accept, fmt):
    r = client.get(q(f"ASK {{ <{EX}s> ?p ?o }}"), headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == accept
    assert bool(ox.parse_query_results(r.data, format=fmt)) is True


def test_p17_ask_as_csv_is_406(client):
    r = client.get(q("ASK {}"), headers={"Accept": "text/csv"})
    assert r.status_code == 406 and "application/sparql-results+json" in json.loads(r.data)["error"]


@pytest.mark.parametrize(
    "accept, rdflib_format",
    [("text/turtle", "turtle"), ("application/n-triples", "nt"), ("application/ld+json", "json-ld"), ("application/rdf+xml", "xml")],
)
@pytest.mark.parametrize("query", [f"CONSTRUCT WHERE {{ <{EX}s> ?p ?o }}", f"DESCRIBE <{EX}s>"])
def test_p18_graph_formats(client, accept, rdflib_format, query):
    r = client.get(q(query), headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == accept
    got = parse_rdf(r.data, rdflib_format)
    assert (URIRef(EX + "s"), RDFS.label, Literal("étoile", lang="fr")) in got


@pytest.mark.parametrize(
    "accept, expected",
    [
        ("application/sparql-results+xml;q=0.5, application/sparql-results+json", "application/sparql-results+json"),
        ("*/*", "application/sparql-results+json"),
        ("text/*", "text/csv"),
        ("text/*, text/tab-separated-values;q=1.0, text/csv;q=0.2", "text/tab-separated-values"),
        ("application/sparql-results+json;q=0.1, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
        ("text/html, */*;q=0.8", "application/sparql-results+json"),
    ],
)
def test_p19_accept_q_values_and_wildcards(client, accept, expected):
    r = client.get(q(SELECT_TEXT), headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == expected


def test_p19_nothing_acceptable(client):
    r = client.get(q(SELECT_TEXT), headers={"Accept": "image/png"})
    assert r.status_code == 406
    r = client.get(q(SELECT_TEXT), headers={"Accept": "application/sparql-results+json;q=0, image/*"})
    assert r.status_code == 406


def test_p20_service_description_and_ui(client):
    r = client.get("/sparql")
    assert r.status_code == 200 and r.mimetype == "text/turtle"
    r = client.get("/sparql", headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert r.status_code in (200, 303)
    if r.status_code == 303:
        assert urlsplit(r.headers["Location"]).path == "/query"
    else:
        assert r.mimetype == "text/html" and b'href="/query"' in r.data


@pytest.mark.parametrize(
    "fmt, ctype",
    [
        ("json", "application/sparql-results+json"),
        ("xml", "application/sparql-results+xml"),
        ("csv", "text/csv"),
        ("tsv", "text/tab-separated-values"),
    ],
)
def test_p21_format_override_select(client, fmt, ctype):
    r = client.get(q(SELECT_TEXT) + f"&format={fmt}", headers={"Accept": "application/sparql-results+xml"})
    assert r.status_code == 200 and r.mimetype == ctype
    assert "Content-Disposition" not in r.headers
    r = client.get(q(SELECT_TEXT) + f"&format={fmt}&download=1")
    assert r.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    "fmt, ctype",
    [
        ("ttl", "text/turtle"),
        ("nt", "application/n-triples"),
        ("jsonld", "application/ld+json"),
        ("json", "application/ld+json"),
        ("xml", "application/rdf+xml"),
    ],
)
def test_p21_format_override_graph(client, fmt, ctype):
    r = client.get(q(f"CONSTRUCT WHERE {{ <{EX}s> ?p ?o }}") + f"&format={fmt}")
    assert r.status_code == 200 and r.mimetype == ctype


def test_p21_bad_format(client):
    assert client.get(q(SELECT_TEXT) + "&format=png").status_code == 400
    assert client.get(q(SELECT_TEXT) + "&format=ttl").status_code == 406


def test_p22_vary_accept(client):
    for path in (q(SELECT_TEXT), q("ASK {}"), "/sparql"):
        assert "Accept" in client.get(path).headers.get("Vary", "")


# -- P23-P28: updates and service description ------------------------------------------------
def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_p23_update_transport(client):
    assert client.get("/sparql?update=CLEAR%20ALL", headers=auth()).status_code in (400, 405)
    r = client.post(
        "/sparql",
        data=f"INSERT DATA {{ GRAPH <{EX}new> {{ <{EX}a> <{EX}b> 1 }} }}",
        content_type="application/sparql-update",
        headers=auth(),
    )
    assert r.status_code == 204
    r = client.post("/sparql", data={"update": f"INSERT DATA {{ GRAPH <{EX}new> {{ <{EX}a> <{EX}b> 2 }} }}"}, headers=auth())
    assert r.status_code == 204
    rows = select_json(client.get(q(f"SELECT ?o {{ GRAPH <{EX}new> {{ ?s ?p ?o }} }} ORDER BY ?o")))
    assert [r["o"]["value"] for r in rows] == ["1", "2"]


def test_p24_using_graph_uri_conflicting_with_with(client):
    text = f"WITH <{EX}graph> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}"
    r = client.post(
        "/sparql?using-named-graph-uri=" + quote(EX + "graph", safe=""), data=text, content_type="application/sparql-update", headers=auth()
    )
    assert r.status_code == 400


def test_p25_public_mode_refuses_updates_and_says_so(public_app):
    c = public_app.test_client()
    r = c.post("/sparql", data="CLEAR ALL", content_type="application/sparql-update", headers=auth())
    assert r.status_code == 403
    sd = Graph().parse(data=c.get("/sparql", headers={"Accept": "text/turtle"}).data, format="turtle")
    sdns = Namespace("http://www.w3.org/ns/sparql-service-description#")
    languages = set(sd.objects(None, sdns.supportedLanguage))
    assert sdns.SPARQL11Query in languages and sdns.SPARQL11Update not in languages


def test_update_enabled_advertised(client):
    sd = Graph().parse(data=client.get("/sparql", headers={"Accept": "text/turtle"}).data, format="turtle")
    assert URIRef("http://www.w3.org/ns/sparql-service-description#SPARQL11Update") in set(sd.objects())


@pytest.mark.parametrize("accept, fmt", [("text/turtle", "turtle"), ("application/ld+json", "json-ld")])
def test_p27_p28_service_description(client, accept, fmt):
    r = client.get("/sparql", headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == accept
    sd = parse_rdf(r.data, fmt)
    sdns = Namespace("http://www.w3.org/ns/sparql-service-description#")
    endpoint = URIRef("http://localhost/sparql")
    assert (endpoint, sdns.endpoint, endpoint) in sd
    assert sdns.BasicFederatedQuery not in set(sd.objects(None, sdns.feature))
    formats = {str(o).rsplit("/", 1)[-1] for o in sd.objects(endpoint, sdns.resultFormat)}
    assert {"SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV", "Turtle", "JSON-LD"} <= formats
    names = {str(o) for o in sd.objects(None, sdns.name)}
    assert KASEI + "data1.rdf" in names


# -- P38-P40: limits, CORS, error hygiene ---------------------------------------------------
def test_p38_body_limit(client):
    r = client.post("/sparql", data="ASK {} #" + "x" * 200_000, content_type="application/sparql-query")
    assert r.status_code == 413


def test_p39_cors(client):
    r = client.options("/sparql", headers={"Origin": "https://example.org", "Access-Control-Request-Method": "POST"})
    assert r.status_code in (200, 204)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert "authorization" not in r.headers.get("Access-Control-Allow-Headers", "").lower()
    assert client.get("/sparql?query=ASK{}").headers["Access-Control-Allow-Origin"] == "*"
    r = client.post("/sparql", data="CLEAR SILENT GRAPH <urn:x>", content_type="application/sparql-update", headers=auth())
    assert r.status_code == 204 and "Access-Control-Allow-Origin" not in r.headers
    r = client.post("/sparql", data="CLEAR ALL", content_type="application/sparql-update")
    assert r.status_code == 401 and "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize(
    "path",
    [
        q("SELECT * WHERE { ?s ?p }"),
        q("SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }"),
        q("SELECT * WHERE { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }"),
        q("SELECT * WHERE { ?s nope:p ?o }"),
        "/sparql?query=%FF",
    ],
)
def test_p40_errors_are_clean(client, path):
    r = client.get(path)
    assert 400 <= r.status_code < 500
    text = r.data.decode("utf-8", "replace")
    assert "Traceback" not in text and 'File "' not in text
    assert "/work/" not in text and "site-packages" not in text and "/tmp" not in text
    assert json.loads(text)["ok"] is False


# -- negotiation tables, table-driven ----------------------------------------------------------
@pytest.mark.parametrize(
    "header, table, expected",
    [
        (None, SELECT_TYPES, "json"),
        ("", SELECT_TYPES, "json"),
        ("*/*", GRAPH_TYPES, "turtle"),
        ("application/*", GRAPH_TYPES, "nt"),
        ("text/plain", GRAPH_TYPES, "nt"),
        ("application/json", ASK_TYPES, "json"),
        ("application/json", GRAPH_TYPES, "jsonld"),
        ("application/xml;q=0.9, text/turtle;q=0.8", GRAPH_TYPES, "rdfxml"),
        ("text/turtle;q=0, */*", GRAPH_TYPES, "nt"),
        ("text/csv", ASK_TYPES, None),
        ("garbage", SELECT_TYPES, "json"),
        ("application/sparql-results+json;q=abc, text/csv", SELECT_TYPES, "csv"),
    ],
)
def test_negotiation_table(header, table, expected):
    chosen = negotiate(header, table)
    assert (chosen[1] if chosen else None) == expected


def test_accept_specificity_decides():
    """The most specific range gives a type its quality (werkzeug's parser)."""
    assert negotiate("text/*;q=0.3, text/csv;q=0.9, */*;q=0.1", SELECT_TYPES) == ("text/csv", "csv")
    assert negotiate("text/*;q=0.3, text/csv;q=0, */*;q=0.1", SELECT_TYPES) == ("text/tab-separated-values", "tsv")
    assert negotiate("*/*;q=0.1, text/csv;q=0", SELECT_TYPES) == ("application/sparql-results+json", "json")


# -- SPARQLWrapper against a live server -------------------------------------------------------
@pytest.fixture
def live_server(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/sparql"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_sparqlwrapper_select_ask_construct(live_server):
    from SPARQLWrapper import JSON, POST, TURTLE, XML, SPARQLWrapper

    sw = SPARQLWrapper(live_server)
    sw.setQuery(SELECT_TEXT)
    sw.setReturnFormat(JSON)
    rows = sw.queryAndConvert()["results"]["bindings"]
    assert len(rows) == 2
    sw.setMethod(POST)
    sw.setQuery(f"ASK {{ <{EX}s> ?p ?o }}")
    assert sw.queryAndConvert()["boolean"] is True
    sw.setQuery(SELECT_TEXT)
    sw.setReturnFormat(XML)
    assert len(sw.queryAndConvert().getElementsByTagName("result")) == 2
    sw.setQuery(f"CONSTRUCT WHERE {{ <{EX}s> ?p ?o }}")
    sw.setReturnFormat(TURTLE)
    data = sw.queryAndConvert()
    assert len(Graph().parse(data=data, format="turtle")) == 2


def test_sparqlwrapper_update_needs_token(live_server):
    import urllib.error

    from SPARQLWrapper import POST, SPARQLWrapper
    from SPARQLWrapper.SPARQLExceptions import SPARQLWrapperException

    sw = SPARQLWrapper(live_server)
    sw.setMethod(POST)
    sw.setQuery(f"INSERT DATA {{ GRAPH <{EX}sw> {{ <{EX}a> <{EX}b> <{EX}c> }} }}")
    with pytest.raises((SPARQLWrapperException, urllib.error.HTTPError)):
        sw.query()
    sw.addCustomHttpHeader("Authorization", f"Bearer {TOKEN}")
    sw.query()
    check = SPARQLWrapper(live_server)
    check.setQuery(f"ASK {{ GRAPH <{EX}sw> {{ ?s ?p ?o }} }}")
    check.setReturnFormat("json")
    assert check.queryAndConvert()["boolean"] is True


def test_kept_format_choices_follow_accept_and_format_of_each_request(client):
    """The endpoint keeps its format choices per (Accept, format=) pair: each pair still gets its own answer."""
    select = "/sparql?query=" + quote("SELECT ?s WHERE { ?s ?p ?o } LIMIT 1")
    ask = "/sparql?query=" + quote("ASK { ?s ?p ?o }")
    seen = []
    for _ in range(2):  # the second round is answered from the kept choices
        pairs = ((select, "text/csv"), (select, "text/tab-separated-values"), (select, None), (select + "&format=xml", "text/csv"))
        for url, accept in pairs:
            r = client.get(url, headers={"Accept": accept} if accept else {})
            assert r.status_code == 200
            seen.append(r.mimetype)
        r = client.get(ask, headers={"Accept": "text/csv"})
        assert r.status_code == 406 and "application/sparql-results+json" in json.loads(r.data)["error"]
    expected = ["text/csv", "text/tab-separated-values", "application/sparql-results+json", "application/sparql-results+xml"]
    assert seen == expected * 2
