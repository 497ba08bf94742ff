"""The text the guard checks is the text that runs (issue 13, critical item).

A carriage return ended a ``#`` comment for Oxigraph but not for rdflib, so
``# c\\rSERVICE <...>`` passed the guard and Oxigraph made the call. Every
case here is a place where two parsers may disagree on where a comment, a
string or a keyword is. For each, either the guard refuses the request, or
the text it hands on (``Analysis.text``) runs in Oxigraph without a single
connection to a loopback listener. The controls show that the raw text of the
original attack does reach the listener, so the listener is a real witness.

Defense in depth: query workers have no network at all, so a SERVICE call
that reaches the engine (the guard bypassed on purpose) cannot connect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox
import pytest
import test_sparql_safety as safety
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sparql_safety import Listener

from kg.errors import QueryError, QueryRefused, TkgError
from kg.queries import list_queries
from kg.sparql_guard import analyze_query, analyze_update, canonical_text
from kg.workers import QueryJob, QueryPool
from web import create_app

TKG = Path(sys.executable).with_name("tkg")
# The loopback listener and the small published store of the SERVICE/LOAD tests.
listener = safety.listener
dir_store = safety.dir_store


def smuggled(url: str) -> dict[str, str]:
    """Requests that hide SERVICE from one parser or the other, by name."""
    service = f"SERVICE <{url}x> {{ ?x ?y ?z }}"
    return {
        "carriage return ends a comment": f"SELECT * WHERE {{ # c\r{service}\n}}",
        "carriage return, ASK": f"ASK {{ # c\r{service}\n}}",
        "carriage return, SILENT": f"SELECT * WHERE {{ # c\rSERVICE SILENT <{url}x> {{ ?x ?y ?z }}\n}}",
        "CR LF": f"SELECT * WHERE {{ # c\r\n{service}\r\n}}",
        "next line U+0085": f"SELECT * WHERE {{ # c\u0085{service}\n}}",
        "line separator U+2028": f"SELECT * WHERE {{ # c\u2028{service}\n}}",
        "paragraph separator U+2029": f"SELECT * WHERE {{ # c\u2029{service}\n}}",
        "vertical tab and form feed": f"SELECT * WHERE {{ # c\x0b\x0c{service}\n}}",
        "NUL in a comment": f"SELECT * WHERE {{ # c\x00{service}\n}}",
        "escaped line feed in a comment": f"SELECT * WHERE {{ # c\\u000A{service}\n}}",
        "escaped carriage return in a comment": f"SELECT * WHERE {{ # c\\u000D{service}\n}}",
        # rdflib expands the escape first: the comment ends early and SERVICE
        # lands in a long string; Oxigraph keeps the comment and runs SERVICE.
        "escaped line feed opens a string": f'SELECT * WHERE {{ # \\u000A BIND("""\n {service} # """ AS ?v)\n}}',
        "escaped quote closes a string": f'SELECT * WHERE {{ BIND("\\u0022 AS ?a) {service} BIND("" AS ?b) }}',
        "escaped keyword": f"SELECT * WHERE {{ \\u0053ERVICE <{url}x> {{ ?x ?y ?z }} }}",
        "escaped letter inside the keyword": f"SELECT * WHERE {{ SERV\\u0049CE <{url}x> {{ ?x ?y ?z }} }}",
        "escape of an escape": f"SELECT * WHERE {{ # \\u005Cu000A {service}\n}}",
        "escaped IRI": f"SELECT * WHERE {{ SERVICE <\\u0068ttp://127.0.0.1:{url.rsplit(':', 1)[1]}x> {{ ?x ?y ?z }} }}",
        "byte-order mark": f"\ufeffSELECT * WHERE {{ {service} }}",
        "BOM inside a comment": f"SELECT * WHERE {{ # \ufeff\r{service}\n}}",
        "escape beyond U+10FFFF": f"SELECT * WHERE {{ # \\UFFFFFFFF\r{service}\n}}",
        "comment in a prefix line": f"PREFIX x: <urn:x#> # c\r SELECT * WHERE {{ {service} }}",
    }


def _reaches(text: str, listener: Listener) -> bool:
    """Run ``text`` in an in-process Oxigraph store; True if the listener saw a request."""
    before = len(listener.hits)
    try:
        result = ox.Store().query(text)
        if not isinstance(result, ox.QueryBoolean):
            list(result)
    except (SyntaxError, OSError, ValueError, RuntimeError):
        pass
    return len(listener.hits) > before


def test_control_the_raw_attack_reaches_the_listener(listener):
    """Without the guard, Oxigraph runs the smuggled SERVICE: the witness works."""
    assert _reaches(smuggled(listener.url)["carriage return ends a comment"], listener)


@pytest.mark.parametrize("case", list(smuggled("http://127.0.0.1:1/")))
def test_what_the_guard_passes_reaches_nothing(listener, case):
    text = smuggled(listener.url)[case]
    try:
        analysis = analyze_query(text)
    except QueryError:
        return  # refused (QueryRefused) or rejected as malformed: nothing runs
    assert not _reaches(analysis.text, listener), f"{case}: the checked text made a request"


@pytest.mark.parametrize(
    "case",
    ["carriage return ends a comment", "line separator U+2028", "escaped line feed in a comment", "escaped keyword"],
)
def test_the_original_spellings_are_refused_as_service(case):
    with pytest.raises(QueryRefused, match="SERVICE"):
        analyze_query(smuggled("http://127.0.0.1:1/")[case])


def test_load_hidden_by_a_carriage_return_is_refused():
    with pytest.raises(QueryRefused, match="LOAD"):
        analyze_update("INSERT DATA { <urn:a> <urn:b> <urn:c> } ; # c\rLOAD <http://127.0.0.1:1/x>\n")
    with pytest.raises(QueryRefused, match="LOAD"):
        analyze_update("# c\\u000ALOAD <http://127.0.0.1:1/x>")


def test_canonical_text_normalizes_once():
    assert canonical_text("a\r\nb\rc\u0085d\u2028e\u2029f") == "a\nb\nc\nd\ne\nf"
    assert canonical_text("\ufeffASK {}") == "ASK {}"
    assert canonical_text('ASK { FILTER("\\u00e9" = "é") }') == 'ASK { FILTER("é" = "é") }'
    assert canonical_text("ASK {\t}") == "ASK {\t}"
    with pytest.raises(QueryError, match=r"U\+0000 at line 2, column 3"):
        canonical_text("ASK\n{ \x00 }")
    with pytest.raises(QueryError, match="another escape"):
        canonical_text("ASK { # \\u005Cu0041\n}")
    with pytest.raises(QueryError, match="not a Unicode character"):
        canonical_text('ASK { FILTER("\\uD800") }')


def test_the_endpoint_runs_the_checked_text(dir_store, listener):
    """POST body, GET with %0D, ASK: 403 and no request, on the worker pool."""
    app = create_app({"store": dir_store, "rate_limit": 0, "query_timeout": 10})
    client = app.test_client()
    try:
        cases = smuggled(listener.url)
        for name in ("carriage return ends a comment", "carriage return, ASK", "carriage return, SILENT"):
            response = client.post("/sparql", data=cases[name].encode(), content_type="application/sparql-query")
            assert response.status_code == 403, (name, response.get_data(as_text=True))
            response = client.get("/sparql?query=" + quote(cases[name], safe=""))
            assert response.status_code == 403, name
        response = client.post("/sparql", data=cases["escaped line feed opens a string"].encode(), content_type="application/sparql-query")
        assert response.status_code == 200  # SERVICE is inside a string in the text that runs
        response = client.get("/sparql?query=" + quote("ASK{} #\\UFFFFFFFF", safe=""))
        assert response.status_code == 400 and "not a Unicode character" in response.get_data(as_text=True)
        assert client.get("/sparql?query=" + quote("ASK {}", safe="")).status_code == 200  # the worker lives
    finally:
        app.extensions["tkg_sparql"].close()
    assert listener.hits == []


# -- defense in depth: workers without network --------------------------------
def _service_job(url: str) -> QueryJob:
    # A QueryJob goes straight to the engine: this is the guard bypassed on purpose.
    return QueryJob(f"SELECT * WHERE {{ SERVICE <{url}x> {{ ?x ?y ?z }} }}", "json")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="network namespaces are Linux only")
def test_a_worker_cannot_reach_a_loopback_listener(dir_store, listener):
    with QueryPool(dir_store, size=1, timeout=20) as pool:
        assert pool.network_exposure is None, pool.network_exposure
        with pytest.raises(TkgError):  # Oxigraph's "Network is unreachable" (an OSError in the worker)
            pool.run(_service_job(listener.url))
        assert json.loads(pool.run(QueryJob("ASK {}", "json")).body)["boolean"] is True  # the store is still read
    assert listener.hits == []


def test_control_a_worker_without_isolation_reaches_it(dir_store, listener):
    """The same job in a worker that keeps its network: the listener sees it, so the test above can fail."""
    with QueryPool(dir_store, size=1, timeout=20, isolate_network=False) as pool:
        assert pool.network_exposure == "network isolation turned off"
        with pytest.raises(TkgError):  # the listener answers Turtle, not SPARQL results: but it was called
            pool.run(_service_job(listener.url))
    assert listener.hits


# -- the command line goes through the same guard ------------------------------
def _tkg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(TKG), *args], capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})


def test_tkg_query_refuses_service_and_allows_it_on_request(dir_store, listener):
    text = smuggled(listener.url)["carriage return ends a comment"]
    refused = _tkg("query", "--store", dir_store, text)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: SERVICE") and "--allow-remote" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert listener.hits == []
    allowed = _tkg("query", "--store", dir_store, "--allow-remote", "--format", "json", text)
    assert listener.hits, "--allow-remote runs the SERVICE call"
    assert "Traceback" not in allowed.stderr


# -- every failure of the guard is a QueryError, never a crash ------------------
SHIPPED = [q.sparql for q in list_queries()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(text):
    try:
        analyze_query(text)
    except QueryError:
        pass
    try:
        analyze_update(text)
    except QueryError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SHIPPED), st.integers(min_value=0), st.text(min_size=1, max_size=12), st.integers(min_value=0, max_value=8))
def test_fuzz_mutated_shipped_queries(query, at, insert, cut):
    position = at % (len(query) + 1)
    mutated = query[:position] + insert + query[position + cut :]
    try:
        analysis = analyze_query(mutated)
    except QueryError:
        return
    assert analysis.form in ("select", "ask", "construct", "describe")
    assert "\r" not in analysis.text


def test_plan_hands_on_the_checked_text():
    from kg.workers import EndpointJob, plan

    text = smuggled("http://127.0.0.1:1/")["escaped line feed opens a string"]
    _kind, job = plan(EndpointJob(text, {"select": "json"}))
    assert job is not None and job.sparql == analyze_query(text).text != text


def test_an_update_runs_the_checked_text(tmp_path, listener):
    """Updates run in the serving process (no worker): only the checked text may run there."""
    from kg import KnowledgeGraph

    store = str(tmp_path / "var")
    with KnowledgeGraph.open(store, mode="write") as kg:
        kg.publish()
    update = f'# \\u000A INSERT DATA {{ <urn:a> <urn:b> """\n LOAD <{listener.url}x> # """ }}\n'
    assert _reaches_by_update(update, listener)  # control: the raw text loads from the listener
    seen = len(listener.hits)
    app = create_app({"store": store, "rate_limit": 0, "update_token": "t0ken-for-the-test"})
    try:
        response = app.test_client().post(
            "/sparql",
            data=update.encode(),
            content_type="application/sparql-update",
            headers={"Authorization": "Bearer t0ken-for-the-test"},
        )
        assert response.status_code == 204, response.get_data(as_text=True)
    finally:
        app.extensions["tkg_sparql"].close()
    assert len(listener.hits) == seen


def _reaches_by_update(text: str, listener: Listener) -> bool:
    before = len(listener.hits)
    try:
        ox.Store().update(text)
    except (SyntaxError, OSError, ValueError, RuntimeError):
        pass
    return len(listener.hits) > before
