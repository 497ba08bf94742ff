"""Safety of /sparql: no outbound request for SERVICE, LOAD, FROM or the
protocol dataset (asserted with a loopback listener), updates only with the
bearer token, and the guard's parse-tree analysis (P14, P15, P25, P26,
P35-P37, P40)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from kg import KnowledgeGraph
from kg.errors import QueryError, QueryRefused
from kg.sparql_guard import analyze_query, analyze_update, lexical_keywords
from web import create_app

RECORDS = Path(__file__).resolve().parent / "data" / "records"
TOKEN = "s3cret-token-value"


class Listener:
    """A loopback HTTP server that counts every request it receives."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def _hit(self) -> None:
                hits.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Content-Type", "text/turtle")
                self.end_headers()
                self.wfile.write(b"<urn:a> <urn:b> <urn:c> .\n")

            do_GET = do_POST = do_HEAD = _hit

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    lis = Listener()
    yield lis
    lis.close()


def memory_graph() -> KnowledgeGraph:
    kg = KnowledgeGraph.open("memory:", mode="write")
    kg.ingest(sorted(RECORDS.glob("*.yaml")))
    return kg


@pytest.fixture(scope="module")
def dir_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    store = str(tmp_path_factory.mktemp("safety") / "var")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest(sorted(RECORDS.glob("*.yaml")))
        kg.publish()
    return store


@pytest.fixture(params=["memory", "directory"])
def client(request, dir_store):
    """A public endpoint over each backend (rdflib in process; Oxigraph in workers)."""
    if request.param == "memory":
        app = create_app({"store": "memory:", "TKG_GRAPH": memory_graph()})
    else:
        app = create_app({"store": dir_store, "workers": 1, "query_timeout": 10})
    yield app.test_client()
    app.extensions["tkg_sparql"].close()


def q(text: str) -> str:
    return "/sparql?query=" + quote(text, safe="")


def service_queries(url: str) -> list[str]:
    return [
        f"SELECT * WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ BIND(<{url}> AS ?ep) SERVICE ?ep {{ ?s ?p ?o }} }}",
        f"ASK {{ FILTER EXISTS {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }}",
        f"SELECT * WHERE {{ {{ SELECT ?s WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }} }}",
        f"select * where {{ service <{url}> {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ ?x ?y ?z MINUS {{ SERVICE <{url}> {{ ?x ?y ?z }} }} }}",
        f"SELECT * WHERE {{ OPTIONAL {{ GRAPH ?g {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }} }}",
        f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
        f"PREFIX ep: <{url}> SELECT * WHERE {{ SERVICE ep: {{ ?s ?p ?o }} }}",
        f"SELECT * WHERE {{ \\u0053ERVICE <{url}> {{ ?s ?p ?o }} }}",
    ]


# -- P35: SERVICE, in every form, never reaches the network --------------------------------
def test_p35_service_refused_with_zero_hits(client, listener):
    for text in service_queries(listener.url):
        for response in (client.get(q(text)), client.post("/sparql", data=text, content_type="application/sparql-query")):
            assert response.status_code in (400, 403), (text, response.data)
            assert "SERVICE" in json.loads(response.data)["error"]
    assert listener.hits == []


# -- P14, P15, P37: no fetch for datasets -----------------------------------------------
def test_p14_protocol_dataset_not_in_store_is_empty_and_not_fetched(client, listener):
    url = quote(listener.url, safe="")
    r = client.get(q("SELECT * WHERE { ?s ?p ?o }") + f"&default-graph-uri={url}")
    assert r.status_code == 200 and json.loads(r.data)["results"]["bindings"] == []
    r = client.get(q("SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }") + f"&named-graph-uri={url}")
    assert r.status_code == 200 and json.loads(r.data)["results"]["bindings"] == []
    assert listener.hits == []


@pytest.mark.parametrize("clause", ["FROM", "FROM NAMED"])
def test_p15_from_url_refused_and_not_fetched(client, listener, clause):
    r = client.get(q(f"SELECT * {clause} <{listener.url}> WHERE {{ ?s ?p ?o }}"))
    assert r.status_code in (400, 403)
    assert "names no graph of this store" in json.loads(r.data)["error"]
    assert listener.hits == []


def test_p37_from_file_reads_nothing(client):
    r = client.get(q("SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }"))
    assert r.status_code in (200, 400, 403)
    assert b"root:" not in r.data
    if r.status_code == 200:
        assert json.loads(r.data)["results"]["bindings"] == []


def test_from_graph_in_store_is_allowed(client):
    r = client.get(q("SELECT (COUNT(*) AS ?n) FROM <https://w3id.org/tcell-kg/graph/mini-til> WHERE { ?s ?p ?o }"))
    assert r.status_code == 200
    assert int(json.loads(r.data)["results"]["bindings"][0]["n"]["value"]) > 0


# -- P36 / P25 / P26: LOAD and updates ------------------------------------------------------
@pytest.fixture
def admin_app():
    app = create_app({"store": "memory:", "TKG_GRAPH": memory_graph(), "update_token": TOKEN})
    yield app
    app.extensions["tkg_sparql"].close()


def test_p36_load_refused_in_every_mode(client, admin_app, listener):
    text = f"LOAD <{listener.url}> INTO GRAPH <urn:x>"
    r = client.post("/sparql", data=text, content_type="application/sparql-update", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 403
    for body in (text, f"load silent <{listener.url}>"):
        r = admin_app.test_client().post(
            "/sparql", data=body, content_type="application/sparql-update", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert r.status_code == 403 and "LOAD" in json.loads(r.data)["error"]
    assert listener.hits == []


def test_service_in_update_refused(admin_app, listener):
    text = f"INSERT {{ GRAPH <urn:g> {{ ?s ?p ?o }} }} WHERE {{ SERVICE <{listener.url}> {{ ?s ?p ?o }} }}"
    r = admin_app.test_client().post(
        "/sparql", data=text, content_type="application/sparql-update", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code in (400, 403)
    text = f"INSERT {{ GRAPH <urn:g> {{ ?s ?p ?o }} }} USING <{listener.url}> WHERE {{ ?s ?p ?o }}"
    r = admin_app.test_client().post(
        "/sparql", data=text, content_type="application/sparql-update", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code in (400, 403)
    assert listener.hits == []


def test_p25_public_mode_refuses_every_update(client):
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        r = client.post("/sparql", data="CLEAR ALL", content_type="application/sparql-update", headers=headers)
        assert r.status_code == 403
        r = client.post("/sparql", data={"update": "CLEAR ALL"}, headers=headers)
        assert r.status_code == 403
    assert client.get(q("ASK { ?s ?p ?o }")).status_code == 200  # nothing was cleared


def test_p26_token_required_when_updates_enabled(admin_app, caplog):
    c = admin_app.test_client()
    insert = "INSERT DATA { GRAPH <urn:g> { <urn:a> <urn:b> <urn:c> } }"
    with caplog.at_level(logging.DEBUG):
        r = c.post("/sparql", data=insert, content_type="application/sparql-update")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        for bad in ("Bearer wrong", f"Basic {TOKEN}", "Bearer ", f"Bearer {TOKEN}x"):
            assert c.post("/sparql", data=insert, content_type="application/sparql-update", headers={"Authorization": bad}).status_code in (
                401,
                403,
            )
        assert json.loads(c.get(q("ASK { GRAPH <urn:g> { ?s ?p ?o } }")).data)["boolean"] is False
        r = c.post("/sparql", data=insert, content_type="application/sparql-update", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 204
    assert json.loads(c.get(q("ASK { GRAPH <urn:g> { ?s ?p ?o } }")).data)["boolean"] is True
    assert TOKEN not in caplog.text


def test_update_on_directory_store_goes_to_work_store_and_is_published(tmp_path):
    store = str(tmp_path / "var")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.ingest([RECORDS / "mini-til.yaml"])
        kg.publish()
    app = create_app({"store": store, "update_token": TOKEN, "workers": 1})
    c = app.test_client()
    try:
        ask = q("ASK { GRAPH <urn:tkg:added> { ?s ?p ?o } }")
        assert json.loads(c.get(ask).data)["boolean"] is False
        r = c.post(
            "/sparql",
            data="INSERT DATA { GRAPH <urn:tkg:added> { <urn:a> <urn:b> 'c' } }",
            content_type="application/sparql-update",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert r.status_code == 204, r.data
        assert json.loads(c.get(ask).data)["boolean"] is True  # the worker followed the new release
    finally:
        app.extensions["tkg_sparql"].close()
    with KnowledgeGraph.open(store) as published:
        assert "urn:tkg:added" in published.store.graph_names()


# -- P40: errors never show internals ---------------------------------------------------------
def test_p40_no_paths_or_tracebacks(client, dir_store):
    for path in (q("SELECT * WHERE { ?s ?p }"), q("SELECT * FROM <file:///etc/passwd> { ?s ?p ?o }"), q("SELECT * { ?s ?p ?o } LIMIT -1")):
        text = client.get(path).data.decode()
        assert "Traceback" not in text and dir_store not in text and "/work/" not in text


def test_p40_no_release_gives_clean_503(tmp_path):
    app = create_app({"store": str(tmp_path / "empty"), "workers": 1})
    try:
        r = app.test_client().get(q("ASK {}"))
        assert r.status_code == 503
        assert str(tmp_path) not in r.data.decode() and "tkg build" in json.loads(r.data)["error"]
    finally:
        app.extensions["tkg_sparql"].close()


# -- the guard itself ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        'SELECT ?service WHERE { ?s <http://ex/service> "SERVICE" }',
        "PREFIX service: <http://ex/> SELECT * WHERE { ?s service:load ?o } # SERVICE <http://evil/>",
        "SELECT * WHERE { ?s <http://ex/SERVICE> ?o . ?o <http://ex/p> '''LOAD <x>''' }",
        "SELECT * WHERE { ?s ?p ?o FILTER(?s < ?o && ?o > 3) }",
    ],
)
def test_guard_does_not_refuse_look_alikes(text):
    assert analyze_query(text).form == "select"


def test_guard_reports_dataset_clauses():
    a = analyze_query("PREFIX g: <https://w3id.org/tcell-kg/graph/> SELECT * FROM g:a FROM NAMED <https://x/b> WHERE { ?s ?p ?o }")
    assert a.from_graphs == ("https://w3id.org/tcell-kg/graph/a",) and a.from_named == ("https://x/b",)
    u = analyze_update("PREFIX g: <urn:g:> WITH g:w DELETE { ?s ?p ?o } USING g:u USING NAMED g:n WHERE { ?s ?p ?o }")
    assert (u.from_graphs, u.from_named, u.with_graphs) == (("urn:g:u",), ("urn:g:n",), ("urn:g:w",))


def test_guard_errors():
    with pytest.raises(QueryRefused):
        analyze_query("SELECT * { SERVICE <http://x/> {} }")
    with pytest.raises(QueryRefused):
        analyze_update("LOAD <http://x/>")
    with pytest.raises(QueryError, match="line 2, column"):
        analyze_query("SELECT *\n WHERE { ?s ?p }")
    with pytest.raises(QueryError, match="unknown prefix nope:"):
        analyze_query("SELECT * WHERE { ?s nope:p ?o }")
    assert lexical_keywords("SELECT * { ?s ?p ?o } # service") == set()
    assert lexical_keywords("sElEcT * { SeRvIcE <x> {} }") == {"SERVICE"}


def test_guard_keeps_analyses_of_repeated_texts_but_never_a_refusal(monkeypatch):
    import kg.sparql_guard as guard

    parses = []
    real = guard.parseQuery
    monkeypatch.setattr(guard, "parseQuery", lambda text: parses.append(text) or real(text))
    text = "SELECT ?s WHERE { ?s ?p 'kept-analysis-test' } LIMIT 3"
    assert analyze_query(text) is analyze_query(text) and len(parses) == 1
    refused = "SELECT * { SERVICE <http://x/kept> {} }"
    for _ in range(2):
        with pytest.raises(QueryRefused):
            analyze_query(refused)
    assert parses.count(refused) == 2
    # past the size limit a text is analyzed every time, and still refused
    long_refused = refused.replace("{}", "{ ?s ?p ?o }" + " " * guard.ANALYSIS_CACHE_MAX_CHARS)
    for _ in range(2):
        with pytest.raises(QueryRefused):
            analyze_query(long_refused)
    long_ok = text + " " * guard.ANALYSIS_CACHE_MAX_CHARS
    analyze_query(long_ok), analyze_query(long_ok)
    assert parses.count(long_ok) == 2
