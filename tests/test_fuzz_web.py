"""Fuzzing the HTTP surface with Hypothesis: /sparql (random and mutated
queries, random Accept/Content-Type, default-graph-uri, updates without the
token) and every /api/* route. Never a 500, never a traceback, never a partial
write. Bounded: max_examples 150, no deadline."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg import KnowledgeGraph
from web import create_app

RECORDS = Path(__file__).resolve().parent / "data" / "records"
TOKEN = "fuzz-token-0c4d"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
VALID = [
    "SELECT * WHERE { ?s ?p ?o } LIMIT 3",
    "ASK { ?s a ?c }",
    "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } } LIMIT 5",
    'SELECT ?l WHERE { ?s <http://www.w3.org/2000/01/rdf-schema#label> ?l FILTER(CONTAINS(?l, "T")) } ORDER BY ?l',
    "DESCRIBE <https://w3id.org/tcell-kg/CART>",
    "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o OPTIONAL { ?o ?q ?r } }",
]
UPDATES = ["INSERT DATA { <urn:a> <urn:b> <urn:c> }", "DELETE WHERE { ?s ?p ?o }", "CLEAR ALL", "DROP ALL", "LOAD <http://127.0.0.1:9/x>"]
MEDIA = [
    "application/sparql-results+json", "application/sparql-results+xml", "text/csv", "text/tab-separated-values", "text/turtle",
    "application/ld+json", "application/rdf+xml", "text/html", "*/*", "application/*", "text/*;q=0.1", "image/png", "", "bogus",
    "application/json;q=0.5, text/csv;q=0.9", "application/sparql-query", "application/sparql-update",
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1", "multipart/form-data; boundary=x",
]  # fmt: skip
PIECES = ["{", "}", "(", ")", "<", ">", '"', "'", "?", "$", "#", "\\", ".", ";", ",", "*", "^", "|", "!", "FILTER", "UNION",
          "SERVICE", "GRAPH", "VALUES", "BIND", "FROM", "OPTIONAL", "MINUS", "EXISTS", "SELECT", "PREFIX", "BASE",
          "<urn:x>", "<http://127.0.0.1:9/>", "'\\u0000'", "\x00", "\ud7ff", "é", "%00", "\n", "a"]  # fmt: skip


def small_graph() -> KnowledgeGraph:
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.ingest(sorted(RECORDS.glob("*.yaml")))
    return kg


@pytest.fixture(scope="module")
def fuzz_app():
    graph = small_graph()
    app = create_app({"store": "memory:", "TKG_GRAPH": graph, "update_token": TOKEN, "rate_limit": "0", "max_body": 20_000})
    return app, graph


@st.composite
def mutated_query(draw) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "swap"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(PIECES)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 6)) :]
        else:
            text = text[:at] + draw(st.sampled_from(VALID))[: draw(st.integers(0, 30))]
    return text


QUERIES = st.one_of(st.text(max_size=200), mutated_query(), st.sampled_from(VALID))


def assert_clean(response, *allowed: int) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code != 500, body[:300]
    assert response.status_code < 500 or response.status_code == 503, (response.status_code, body[:300])
    if allowed:
        assert response.status_code in allowed, (response.status_code, body[:300])
    assert "Traceback" not in body and 'File "/' not in body and "/work/" not in body


@FUZZ
@given(
    query=QUERIES,
    accept=st.sampled_from(MEDIA),
    graphs=st.lists(st.one_of(st.text(max_size=30), st.sampled_from(["urn:x", "https://w3id.org/tcell-kg/graph/mini-car-t"])), max_size=3),
    how=st.sampled_from(["get", "form", "direct"]),
    fmt=st.one_of(st.none(), st.sampled_from(["json", "csv", "ttl", "x", ""])),
)
def test_sparql_queries_never_500(fuzz_app, query, accept, graphs, how, fmt):
    app, _ = fuzz_app
    client = app.test_client()
    params = [("query", query)] + [("default-graph-uri", g) for g in graphs] + ([("format", fmt)] if fmt is not None else [])
    headers = {"Accept": accept}
    if how == "get":
        r = client.get("/sparql", query_string=params, headers=headers)
    elif how == "form":
        r = client.post("/sparql", data=dict(params), headers=headers)
    else:
        r = client.post("/sparql", data=query.encode("utf-8", "surrogatepass"), content_type="application/sparql-query", headers=headers)
    assert_clean(r, 200, 400, 403, 406, 413, 414, 415)


@FUZZ
@given(body=st.binary(max_size=300), ctype=st.sampled_from(MEDIA), method=st.sampled_from(["POST", "GET", "PUT", "PATCH", "DELETE"]))
def test_sparql_random_bodies_and_content_types(fuzz_app, body, ctype, method):
    app, _ = fuzz_app
    r = app.test_client().open("/sparql", method=method, data=body, content_type=ctype or None)
    assert_clean(r, 200, 400, 401, 403, 405, 406, 413, 415)


@FUZZ
@given(
    update=st.one_of(st.sampled_from(UPDATES), st.text(max_size=120)),
    auth=st.one_of(
        st.none(),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
        st.sampled_from(["Bearer", "Bearer ", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"bearer{TOKEN}"]),
    ),
    how=st.sampled_from(["form", "direct", "get"]),
)
def test_updates_without_the_token_write_nothing(fuzz_app, update, auth, how):
    app, graph = fuzz_app
    before = graph.store.count()
    headers = {"Authorization": auth} if auth is not None else {}
    client = app.test_client()
    if how == "form":
        r = client.post("/sparql", data={"update": update}, headers=headers)
    elif how == "direct":
        r = client.post("/sparql", data=update.encode("utf-8", "surrogatepass"), content_type="application/sparql-update", headers=headers)
    else:
        r = client.get("/sparql", query_string={"update": update}, headers=headers)
    assert_clean(r, 400, 401, 403, 415)
    assert graph.store.count() == before


@FUZZ
@given(data=st.data())
def test_api_parameters_never_500(fuzz_app, data):
    app, graph = fuzz_app
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api") and "GET" in (r.methods or ())]
    if not rules:
        pytest.skip("no /api/* route is registered yet (web/api.py has not landed)")
    before = graph.store.count()
    rule = data.draw(st.sampled_from(rules))
    path = rule.rule
    for name in rule.arguments:
        value = data.draw(st.one_of(st.text(min_size=1, max_size=40), st.sampled_from(["CART", "mini-car-t", "..", "%2e%2e"])))
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", quote(value, safe=""), path)
    names = st.sampled_from(["q", "id", "limit", "offset", "depth", "type", "format", "node", "entity", "study", "relation"])
    params = data.draw(st.dictionaries(st.one_of(names, st.text(max_size=10)), st.text(max_size=40), max_size=5))
    r = app.test_client().get(path, query_string=params, headers={"Accept": data.draw(st.sampled_from(MEDIA))})
    assert_clean(r)
    assert graph.store.count() == before
