"""Query admission and worker limits (issue 13): slow queries must not starve the rest.

* a client holds at most its share of the query workers (429 beyond it);
* a queued query waits a bounded time and gets 503 with Retry-After;
* the shipped competency queries keep a worker of their own;
* clients whose queries were slow share one worker, the others stay for quick queries;
* a query worker's memory is capped: a query over the cap gets 503 "query needs too much memory"
  and the worker is replaced.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from kg import KnowledgeGraph
from kg.queries import load_query
from kg.workers import Admission, QueryJob, QueryPool, QueryTooLarge, TooManyQueries, WorkersBusy
from web import create_app

RECORDS = Path(__file__).resolve().parent / "data" / "records"
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?n2 ?o }"
SMALL = "ASK { ?s ?p ?o }"
LIMIT = 3.0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = str(tmp_path_factory.mktemp("admission") / "var")
    with KnowledgeGraph.open(url, mode="write") as kg:
        kg.ingest(sorted(RECORDS.glob("*.yaml")))
        kg.publish()
    return url


# -- the rules, without processes -------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_client_holds_at_most_its_share():
    admission = Admission(2, per_client=1, queue_timeout=0.1)
    with admission.slot("10.0.0.1"):
        with pytest.raises(TooManyQueries):
            with admission.slot("10.0.0.1"):
                pass
        with admission.slot("10.0.0.2"):  # another client still gets the other worker
            pass
    with admission.slot("10.0.0.1"):  # released: the client may query again
        pass


def test_a_queued_query_waits_a_bounded_time():
    admission = Admission(1, reserved=0, queue_timeout=0.3, preempt_after=None)
    with admission.slot("a"):
        started = time.monotonic()
        with pytest.raises(WorkersBusy) as caught:
            with admission.slot("b"):
                pass
        assert 0.25 < time.monotonic() - started < 2
        assert caught.value.retry_after > 0


def test_the_shipped_queries_keep_a_worker_of_their_own():
    admission = Admission(2, reserved=1, queue_timeout=0.1, preempt_after=None)
    with admission.slot("a"), admission.slot("b"):
        with pytest.raises(WorkersBusy):
            with admission.slot("c"):
                pass
        with admission.slot("c", shipped=True) as ticket:
            assert ticket.lane == "reserved"


def test_slow_clients_share_one_worker_and_quick_ones_keep_the_others():
    clock = Clock()
    admission = Admission(2, reserved=0, queue_timeout=0.05, heavy_seconds=2.0, clock=clock, preempt_after=None)
    for client in ("slow-1", "slow-2"):  # each ran a 10 s query a moment ago
        with admission.slot(client):
            clock.now += 10
    with admission.slot("slow-1"):
        with pytest.raises(WorkersBusy) as caught:  # the second slow client waits: one worker for slow clients
            with admission.slot("slow-2"):
                pass
        assert "slow" in str(caught.value)
        with admission.slot("quick"):  # a quick client gets the other worker
            pass
    clock.now += 60 * 10  # usage decays: after ten half-lives a client is quick again
    with admission.slot("slow-1"), admission.slot("slow-2"):
        pass


def test_the_waiting_line_is_bounded():
    admission = Admission(1, reserved=0, queue_timeout=5.0, max_waiting=1, preempt_after=None)
    errors: list[Exception] = []
    with admission.slot("a"):
        waiter = threading.Thread(target=lambda: _try(admission, "b", errors))
        waiter.start()
        time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(WorkersBusy):  # the line is full: refused at once, not after 5 s
            with admission.slot("c"):
                pass
        assert time.monotonic() - started < 1
    waiter.join(10)
    assert not errors  # the one waiting got the worker when it freed


def test_a_quick_client_takes_a_worker_back_from_a_long_query():
    admission = Admission(1, reserved=0, queue_timeout=3.0, preempt_after=0.3)
    with admission.slot("runaway") as ticket:
        started = time.monotonic()
        waiter = threading.Thread(target=lambda: _try(admission, "quick", []))
        waiter.start()
        assert ticket.cancel.wait(2), "the long query was not asked to give its worker back"
        assert 0.25 < time.monotonic() - started < 2
    waiter.join(5)
    assert not waiter.is_alive() and admission.refused["preempted"] == 1


def _try(admission: Admission, client: str, errors: list[Exception]) -> None:
    try:
        with admission.slot(client):
            pass
    except Exception as exc:  # noqa: BLE001 - collected for the assertion
        errors.append(exc)


# -- over HTTP, with real workers ---------------------------------------------------------------
def _get(app, text: str, client: str):
    return app.test_client().get("/sparql?query=" + quote(text, safe=""), environ_base={"REMOTE_ADDR": client})


@pytest.mark.slow
def test_runaway_queries_leave_room_for_the_competency_and_the_quick_queries(store):
    app = create_app({"store": store, "query_timeout": 8, "workers": 2, "queue_timeout": 4.0, "rate_limit": "0"})
    endpoint = app.extensions["tkg_sparql"]
    try:
        endpoint.start()
        results: dict[str, tuple[int, bytes]] = {}

        def run(client: str, text: str) -> None:
            response = _get(app, text, client)
            results[client] = (response.status_code, response.data)

        runaways = [threading.Thread(target=run, args=(f"127.0.0.{2 + i}", RUNAWAY)) for i in range(2)]
        for thread in runaways:
            thread.start()
        time.sleep(0.5)
        # the same client again: its share is taken
        again = _get(app, SMALL, "127.0.0.2")
        assert again.status_code == 429 and again.headers["Retry-After"]
        # a competency query from another client: the reserved worker answers it
        started = time.monotonic()
        cq = _get(app, load_query("cq2").sparql, "127.0.0.20")
        assert cq.status_code == 200, cq.data[:300]
        assert time.monotonic() - started < 8
        # a quick query from another client takes a worker back from a runaway (run 2 s or more)
        started = time.monotonic()
        quick = _get(app, SMALL, "127.0.0.21")
        assert quick.status_code == 200, quick.data[:300]
        assert time.monotonic() - started < 8
        for thread in runaways:
            thread.join(20)
        statuses = sorted(status for status, _ in results.values())
        assert statuses == [503, 503]
        assert any(b"quicker queries" in body for _, body in results.values())  # one was preempted, not timed out
    finally:
        endpoint.close()


# -- memory cap ------------------------------------------------------------------------------------
HUNGRY = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i } ORDER BY ?c ?f ?i LIMIT 1"


@pytest.mark.slow
def test_a_query_over_the_memory_cap_gets_503_and_a_fresh_worker(store):
    with QueryPool(store, size=1, timeout=60, memory=600) as pool:
        before = pool.pids()
        with pytest.raises(QueryTooLarge, match="too much memory"):
            pool.run(QueryJob(HUNGRY, "json"))
        deadline = time.monotonic() + 60
        while (not pool.pids() or pool.pids() == before) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pool.pids() and pool.pids() != before  # replaced
        assert b"true" in pool.run(QueryJob(SMALL, "json")).body  # and the fresh worker answers


@pytest.mark.slow
def test_the_competency_queries_answer_under_the_default_cap(store):
    from kg.queries import list_queries

    with QueryPool(store, size=2, timeout=60) as pool:
        assert pool.memory >= 1024
        for named in list_queries():
            assert pool.run(QueryJob(named.sparql, "json")).body


def test_http_maps_the_memory_error_to_503(store, monkeypatch):
    app = create_app({"store": store, "workers": 1, "rate_limit": "0"})
    endpoint = app.extensions["tkg_sparql"]

    def too_large(job, timeout=None, cancel=None):
        raise QueryTooLarge("query needs too much memory: it was stopped and its worker replaced")

    monkeypatch.setattr(endpoint.executor, "run_endpoint", too_large)
    response = _get(app, SMALL, "127.0.0.30")
    assert response.status_code == 503 and b"too much memory" in response.data


def test_the_answers_of_shipped_queries_are_kept_per_release(store, monkeypatch):
    app = create_app({"store": store, "workers": 1, "rate_limit": "0"})
    endpoint = app.extensions["tkg_sparql"]
    try:
        text = load_query("cq2").sparql
        first = _get(app, text, "127.0.0.40")
        assert first.status_code == 200
        calls = []
        real = endpoint.executor.run_endpoint
        def spy(job, timeout=None, cancel=None):
            calls.append(job)
            return real(job, timeout)

        monkeypatch.setattr(endpoint.executor, "run_endpoint", spy)
        again = _get(app, text, "127.0.0.41")
        assert again.status_code == 200 and again.data == first.data and not calls  # answered without a worker
        assert _get(app, SMALL, "127.0.0.42").status_code == 200 and len(calls) == 1  # other queries always run
        with KnowledgeGraph.open(store, mode="write") as kg:  # a new release: the kept answers no longer apply
            kg.publish()
        assert _get(app, text, "127.0.0.43").status_code == 200 and len(calls) == 2
    finally:
        endpoint.close()
