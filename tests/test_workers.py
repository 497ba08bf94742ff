"""The query worker pool: time limit by killing the worker, row cap, release
switches (P33, P34), over a real directory store built in a tmp dir, and
the same limits through HTTP while a second request is answered."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from rdflib import Graph, Literal, URIRef

from kg import KnowledgeGraph
from kg.errors import NoReleaseError, QueryError, QueryTimeout
from kg.workers import QueryJob, QueryPool
from web import create_app

RECORDS = Path(__file__).resolve().parent / "data" / "records"
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"  # all triples ^5
COUNT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
LIMIT = 1.5


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = str(tmp_path_factory.mktemp("workers") / "var")
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.ingest(sorted(RECORDS.glob("*.yaml")))
        kg.publish()
    return url


@pytest.fixture(scope="module")
def pool(store):
    with QueryPool(store, size=2, timeout=LIMIT) as p:
        yield p


def count(outcome) -> int:
    return int(json.loads(outcome.body)["results"]["bindings"][0]["n"]["value"])


def test_pool_answers(pool):
    assert count(pool.run(QueryJob(COUNT, "json"))) > 100
    assert b"true" in pool.run(QueryJob("ASK {}", "xml")).body
    assert "https://w3id.org/tcell-kg/graph/mini-car-t" in pool.graph_names()


def test_p33_runaway_query_is_stopped_and_others_are_answered(pool):
    before = set(pool.pids())
    started = time.monotonic()
    with ThreadPoolExecutor(2) as ex:
        runaway = ex.submit(pool.run, QueryJob(RUNAWAY, "json"))
        time.sleep(0.2)
        t0 = time.monotonic()
        assert count(pool.run(QueryJob(COUNT, "json"))) > 100  # the other worker answers meanwhile
        assert time.monotonic() - t0 < 1.0
        with pytest.raises(QueryTimeout, match="timeout"):
            runaway.result()
    assert time.monotonic() - started < LIMIT + 2
    # the killed worker is replaced
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (len(pool.pids()) < 2 or set(pool.pids()) == before):
        time.sleep(0.1)
    assert len(pool.pids()) == 2 and set(pool.pids()) != before
    assert pool.restarts >= 1
    t0 = time.monotonic()
    assert count(pool.run(QueryJob(COUNT, "json"))) > 100
    assert time.monotonic() - t0 < 1.0


def test_p34_row_cap_truncates(pool):
    outcome = pool.run(QueryJob("SELECT ?s ?p ?o WHERE { ?s ?p ?o }", "json", max_rows=5))
    assert outcome.truncated and outcome.count == 5
    assert len(json.loads(outcome.body)["results"]["bindings"]) == 5
    outcome = pool.run(QueryJob("SELECT ?s WHERE { ?s ?p ?o } LIMIT 3", "tsv", max_rows=5))
    assert not outcome.truncated and outcome.body.count(b"\n") == 4
    outcome = pool.run(QueryJob("CONSTRUCT WHERE { ?s ?p ?o }", "nt", max_rows=7))
    assert outcome.truncated and len(Graph().parse(data=outcome.body, format="nt")) == 7


def test_errors_come_back_as_query_errors(pool):
    with pytest.raises(QueryError, match="syntax"):
        pool.run(QueryJob("SELECT * WHERE { ?s ?p }", "json"))
    assert count(pool.run(QueryJob(COUNT, "json"))) > 0


def test_crashed_worker_is_replaced(store):
    with QueryPool(store, size=1, timeout=5) as p:
        victim = p.pids()[0]
        import os
        import signal

        os.kill(victim, signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(QueryError):
            p.run(QueryJob(COUNT, "json"))
        assert count(p.run(QueryJob(COUNT, "json"))) > 0
        assert victim not in p.pids()


def test_workers_follow_new_releases(tmp_path):
    url = str(tmp_path / "var")
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.ingest([RECORDS / "mini-til.yaml"])
        kg.publish()
    with QueryPool(url, size=1, timeout=5) as p:
        ask = QueryJob("ASK { GRAPH <urn:tkg:later> { ?s ?p ?o } }", "json")
        assert b"false" in p.run(ask).body
        with KnowledgeGraph.open(url, mode="write") as kg:
            g = Graph()
            g.add((URIRef("urn:a"), URIRef("urn:b"), Literal("c")))
            kg.store.replace_graph("urn:tkg:later", g)
            kg.publish()
        assert b"true" in p.run(ask).body


def test_no_release_is_reported(tmp_path):
    with QueryPool(str(tmp_path / "nothing"), size=1, timeout=5) as p, pytest.raises(NoReleaseError):
        p.run(QueryJob(COUNT, "json"))


# -- through HTTP --------------------------------------------------------------------------
def test_p33_http_timeout_while_another_request_is_served(store):
    app = create_app({"store": store, "query_timeout": LIMIT, "workers": 2})
    try:
        app.extensions["tkg_sparql"].start()
        results: dict[str, object] = {}

        def runaway() -> None:
            t0 = time.monotonic()
            r = app.test_client().get("/sparql?query=" + quote(RUNAWAY, safe=""), environ_base={"REMOTE_ADDR": "127.0.0.2"})
            results["runaway"] = (r.status_code, r.data.decode(), time.monotonic() - t0)

        thread = threading.Thread(target=runaway)
        thread.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        r = app.test_client().get("/sparql?query=" + quote(COUNT, safe=""))
        assert r.status_code == 200 and time.monotonic() - t0 < 1.0
        thread.join(LIMIT + 5)
        status, body, elapsed = results["runaway"]
        assert status == 503 and "timeout" in body
        assert elapsed < LIMIT + 2
        # the freed worker (a fresh one) serves the next query promptly
        t0 = time.monotonic()
        assert app.test_client().get("/sparql?query=" + quote(COUNT, safe="")).status_code == 200
        assert time.monotonic() - t0 < 5
    finally:
        app.extensions["tkg_sparql"].close()


def test_p34_http_truncation_header(store):
    app = create_app({"store": store, "max_rows": 4, "workers": 1})
    try:
        c = app.test_client()
        r = c.get("/sparql?query=" + quote("SELECT * WHERE { ?s ?p ?o }", safe=""), headers={"Accept": "text/csv"})
        assert r.status_code == 200 and r.headers["X-Result-Truncated"] == "true"
        assert len(r.data.decode().splitlines()) == 5
        r = c.get("/sparql?query=" + quote("SELECT * WHERE { ?s ?p ?o } LIMIT 2", safe=""))
        assert r.status_code == 200 and "X-Result-Truncated" not in r.headers
    finally:
        app.extensions["tkg_sparql"].close()


def test_serve_command_binds_settings():
    from click.testing import CliRunner

    from kg.config import resolve
    from web.cli import serve, server_options

    options = server_options(resolve({"port": 5001, "workers": 3, "request_timeout": 7.5, "max_body": 5000}, environ={}))
    assert options["host"] == "127.0.0.1" and options["port"] == 5001
    assert options["threads"] >= 3 + 1 + 4 * 3  # running + waiting queries, and threads left for pages
    assert options["channel_timeout"] == 7 and options["max_request_body_size"] > 5000
    help_text = CliRunner().invoke(serve, ["--help"]).output
    for flag in ("--host", "--port", "--workers", "--timeout", "--dev", "--base-url", "TKG_QUERY_TIMEOUT", "TKG_WORKERS"):
        assert flag in help_text
