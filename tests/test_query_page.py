"""The query editor (/query, /api/examples) and the graph explorer's routes
(/graph, /api/graph/*) through the Flask test client: pages, JSON twins,
the CSP of the editor page, and bad input answered in the one error shape."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from kg.queries import list_queries
from web import create_app
from web.query import YASGUI_STYLE_HASHES


@pytest.fixture(scope="module")
def app(built_store):
    app = create_app({"store": built_store, "rate_limit": "0", "workers": 1})
    app.extensions["tkg_sparql"].start()
    yield app
    app.extensions["tkg_sparql"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def error_shape(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["ok"] is False and body["status"] == status and body["error"] and body["title"]
    assert "Traceback" not in body["error"]
    return body


# -- /query and /api/examples ------------------------------------------------------
def test_api_examples_lists_every_named_query_with_its_description(client):
    body = client.get("/api/examples").get_json()
    listed = {e["name"]: e for e in body["examples"]}
    shipped = list_queries()
    assert set(listed) == {q.name for q in shipped}
    for query in shipped:
        example = listed[query.name]
        assert example["description"] == query.description and example["title"] == query.title
        assert example["query"] == query.sparql
    assert body["endpoint"] == "/sparql" and body["prefixes"]["tkg"] == "https://w3id.org/tcell-kg/"


@pytest.mark.parametrize("name", [q.name for q in list_queries()])
def test_each_example_runs_on_the_endpoint(client, name):
    example = next(e for e in client.get("/api/examples").get_json()["examples"] if e["name"] == name)
    r = client.post(
        "/sparql",
        data=example["query"].encode(),
        content_type="application/sparql-query",
        headers={"Accept": "application/sparql-results+json"},
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:300]


def test_query_page_lists_examples_and_loads_yasgui(client):
    r = client.get("/query", headers={"Accept": "text/html"})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "vendor/yasgui/yasgui.min.js" in html and "js/query.js" in html
    for query in list_queries():
        assert f'data-name="{query.name}"' in html
    assert "<script>" not in html and "style=" not in html  # no inline scripts or styles
    assert "PREFIX tkg:" in html  # the default query carries the prefixes


def test_query_page_csp_adds_only_the_yasgui_style_hashes(client):
    policy = client.get("/query").headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert "script-src 'self';" in policy
    for digest in YASGUI_STYLE_HASHES:
        assert digest in policy
    other = client.get("/graph").headers["Content-Security-Policy"]
    assert not any(d in other for d in YASGUI_STYLE_HASHES)


def test_query_page_opens_an_example_or_a_given_query(client):
    html = client.get("/query?example=cq1").get_data(as_text=True)
    assert "CQ1:" in html and 'aria-current="true"' in html and 'data-run="true"' in html
    text = "SELECT ?s WHERE { ?s a <https://w3id.org/tcell-kg/Study> } LIMIT 3"
    r = client.get("/query?query=" + quote(text))
    assert r.status_code == 200 and "?s a &lt;https://w3id.org/tcell-kg/Study&gt;" in r.get_data(as_text=True)
    twin = client.get("/query?example=cq2", headers={"Accept": "application/json"}).get_json()
    assert twin["example"].startswith("cq02") and twin["run"] is True and twin["examples"]


def test_query_page_bad_input(client):
    error_shape(client.get("/query?example=no-such-query", headers={"Accept": "application/json"}), 404)
    error_shape(client.get("/query?query=" + "x" * 20_001, headers={"Accept": "application/json"}), 413)
    assert client.get("/query?example=no-such-query", headers={"Accept": "text/html"}).status_code == 404


# -- /graph and /api/graph/* -----------------------------------------------------------
def test_graph_page(client):
    r = client.get("/graph", headers={"Accept": "text/html"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "vendor/cytoscape/cytoscape.min.js" in html and "js/graph.js" in html
    assert "<script>" not in html and "style=" not in html
    assert "Nodes" in html and "Edges" in html  # the legend
    twin = client.get("/graph", headers={"Accept": "application/json"}).get_json()
    assert {m["id"] for m in twin["modalities"]} >= {"CART", "TIL"}


def test_nodes_search(client):
    body = client.get("/api/graph/nodes?q=car-t").get_json()
    assert body["results"][0]["id"] == "CART"
    assert client.get("/api/graph/nodes?q=").get_json()["results"] == []
    error_shape(client.get("/api/graph/nodes?q=" + "a" * 201), 400)
    error_shape(client.get("/api/graph/nodes?q=car&limit=abc"), 400)


def test_neighborhood(client):
    body = client.get("/api/graph/neighborhood?id=CART&depth=1").get_json()
    ids = {e["data"]["id"] for e in body["elements"] if e["group"] == "nodes"}
    assert "CART" in ids and "AntigenEscape" in ids and body["capped"] is False
    capped = client.get("/api/graph/neighborhood?id=CART&depth=2&limit=5").get_json()
    assert capped["capped"] is True and capped["nodes"] == 5
    filtered = client.get(
        "/api/graph/neighborhood?id=CART&relation=facesBarrier&tumor=solid&level=3&year_from=2010&year_to=2026"
    ).get_json()
    assert {e["data"]["relation"] for e in filtered["elements"] if e["group"] == "edges"} == {"facesBarrier"}
    assert filtered["filters"]["tumor"] == "solid"


@pytest.mark.parametrize(
    "query,status",
    [
        ("id=NoSuchNode", 404),
        ("", 400),
        ("id=CART&depth=3", 400),
        ("id=CART&depth=0", 400),
        ("id=CART&depth=two", 400),
        ("id=CART&year_from=19x", 400),
        ("id=CART&year_from=2020&year_to=2000", 400),
        ("id=CART&level=9", 400),
        ("id=CART&tumor=liquid", 400),
        ("id=CART&modality=Nope", 400),
        ("id=CART&relation=loves", 400),
        ("id=CART&limit=100000", 400),
        ("id=%00%ff", 404),
    ],
)
def test_neighborhood_bad_input(client, query, status):
    error_shape(client.get("/api/graph/neighborhood?" + query), status)


def test_edge_evidence(client):
    body = client.get("/api/graph/edge?source=CART&relation=facesBarrier&target=AntigenEscape").get_json()
    assert body["findings"] and body["edge"]["weight"] == len({f["study"] for f in body["findings"] if f["support"] == "SUPPORT"})
    first = body["findings"][0]
    assert first["quote"] and first["title"] and first["level"] and first["year"] and first["study_url"].startswith("/study/")
    error_shape(client.get("/api/graph/edge?source=CART&relation=facesBarrier&target=Nope"), 404)
    error_shape(client.get("/api/graph/edge?source=CART&relation=facesBarrier&target=CytokineReleaseSyndrome"), 404)
    error_shape(client.get("/api/graph/edge?source=CART&relation=bogus&target=AntigenEscape"), 400)
    error_shape(client.get("/api/graph/edge?source=CART"), 400)


def test_path(client):
    body = client.get("/api/graph/path?from=CART&to=Tebentafusp").get_json()
    assert body["connected"] and body["paths"][0][0]["id"] == "CART" and body["paths"][0][-1]["id"] == "Tebentafusp"
    error_shape(client.get("/api/graph/path?from=CART&to=Nope"), 404)
    error_shape(client.get("/api/graph/path?from=CART"), 400)
    error_shape(client.get("/api/graph/path?from=CART&to=TIL&level=0"), 400)


def test_strategies(client):
    body = client.get("/api/graph/strategies?therapy=CART").get_json()
    assert body["barriers"] and body["strategies"]
    roles = {e["data"].get("role") for e in body["elements"] if e["group"] == "nodes"}
    assert {"therapy", "barrier", "strategy"} <= roles
    error_shape(client.get("/api/graph/strategies?therapy=AntigenEscape"), 400)
    error_shape(client.get("/api/graph/strategies?therapy=Nope"), 404)
    error_shape(client.get("/api/graph/strategies"), 400)


def test_options(client):
    body = client.get("/api/graph/options").get_json()
    assert body["max_depth"] == 2 and "facesBarrier" in body["relations"] and body["tumor"] == ["heme", "solid"]
