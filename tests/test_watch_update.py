"""Watches and `tkg update` end to end against the local stub: from an empty store to a
graph, then only the new and changed records, papers and trials linked both ways, the
changelog and `tkg diff`; a second concurrent run refuses; a killed run resumes."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from stub_apis import StubAPIs
from test_fetch import dated, real_pubmed, real_trials

from kg import KnowledgeGraph
from kg.cli import main
from kg.queries import load_query
from kg.views.study import study_page
from kg.watch import UpdateLock, WatchError, add_watch, load_watches, remove_watch, state_dir

PUBMED_QUERY = "car OR checkpoint"
CTGOV_TERM = "cell OR melanoma"
LATE_TRIAL = "NCT06703346"  # served only from the second update on
PAPER_NAMING_A_TRIAL = "36873252"  # served from the second update on, naming TRIAL_NAMED
TRIAL_NAMED = "NCT03271632"
TRIAL_CITING = "NCT04404595"  # its second version references PAPER_CITED
PAPER_CITED = "37020537"  # its abstract yields facesBarrier findings


def with_databank(path: Path, nct: str) -> bytes:
    """A real PubMed record with a ClinicalTrials.gov DataBank entry added by the test."""
    root = etree.fromstring(path.read_bytes())
    article = root.find("./PubmedArticle/MedlineCitation/Article")
    bank = etree.SubElement(etree.SubElement(article, "DataBankList", CompleteYN="Y"), "DataBank")
    etree.SubElement(bank, "DataBankName").text = "ClinicalTrials.gov"
    etree.SubElement(etree.SubElement(bank, "AccessionNumberList"), "AccessionNumber").text = nct
    return etree.tostring(root.find("./PubmedArticle"))


@pytest.fixture
def world(shared_dir, tmp_path):
    """The stub serving the first state of the literature, and a helper to move it on."""
    stub = StubAPIs()
    papers = real_pubmed(shared_dir)
    for path in papers:
        if PAPER_NAMING_A_TRIAL not in path.name:
            stub.add_pubmed(path, "2024/01/15")
    trials = {t["protocolSection"]["identificationModule"]["nctId"]: t for t in real_trials(shared_dir)}
    for nct, study in trials.items():
        if nct != LATE_TRIAL:
            stub.add_trial(dated(study, "2024-01-10"))
    url = stub.start()

    def advance() -> None:
        """Day two: a new paper naming a trial, a new trial, a new version of a trial citing a paper."""
        today = dt.date.today()
        stub.add_pubmed(next(p for p in papers if PAPER_NAMING_A_TRIAL in p.name), today.strftime("%Y/%m/%d"))
        stub.articles[PAPER_NAMING_A_TRIAL].xml = with_databank(next(p for p in papers if PAPER_NAMING_A_TRIAL in p.name), TRIAL_NAMED)
        stub.add_trial(dated(trials[LATE_TRIAL], today.isoformat()))
        newer = dated(trials[TRIAL_CITING], today.isoformat())
        newer["protocolSection"]["referencesModule"] = {"references": [{"pmid": PAPER_CITED, "type": "RESULT"}]}
        stub.add_trial(newer)

    store = tmp_path / "var"
    args = ["--store", str(store)]
    urls = ["--eutils-url", url + "/eutils", "--ctgov-url", url]
    yield stub, store, args, urls, advance
    stub.stop()


def tkg(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    # Each command is its own process in real use; here they share one, and an embedded store's
    # files stay locked until the garbage collector frees the last reference to a closed store.
    gc.collect()
    return result


def studies(store: Path) -> set[str]:
    with KnowledgeGraph.open(str(store)) as kg:
        rows = kg.query("PREFIX tkg: <https://w3id.org/tcell-kg/> SELECT ?s WHERE { ?s a tkg:Study }").rows
    return {str(r["s"]).rsplit("/", 1)[1] for r in rows}


def test_watch_then_update_builds_a_graph_then_takes_only_what_is_new(world):
    stub, store, args, urls, advance = world
    result = tkg("watch", "add", "tcell", "--pubmed", PUBMED_QUERY, "--ctgov", CTGOV_TERM, *args)
    assert result.exit_code == 0 and "added watch tcell" in result.output

    first = tkg("update", *args, *urls)
    assert first.exit_code == 0, first.output
    assert "tcell pubmed: 4 new" in first.output and "tcell ctgov: 9 new" in first.output
    assert "ingested 13 studies" in first.output and "published release" in first.output
    assert len(studies(store)) == 13
    assert load_watches(store)["tcell"]["last_run"] == dt.date.today().isoformat()

    advance()
    stub.log.clear()
    stub.every = 2  # the services refuse every second request (429 with Retry-After, 503) during this run
    second = tkg("update", *args, *urls)
    stub.every = 0
    assert second.exit_code == 0, second.output
    assert len(stub.log) >= 6, "at least one 429 and one 503 were answered (and the run still completed)"
    assert "tcell pubmed: 1 new, 0 changed, 0 unchanged" in second.output
    assert "tcell ctgov: 1 new, 1 changed, 0 unchanged" in second.output
    assert "ingested 3 studies" in second.output, "only the new and changed records are ingested"
    since = dt.date.today()
    search = next(p for path, p in stub.log if path.endswith("esearch.fcgi") and p.get("usehistory"))
    assert search["mindate"] == since.strftime("%Y/%m/%d"), "the second run asks only for what came since the first"
    page = next(p for path, p in stub.log if path.endswith("/studies"))
    assert page["filter.advanced"] == f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"
    assert len(studies(store)) == 15

    diff = tkg("diff", *args)
    assert diff.exit_code == 0
    assert f"study added: pmid-{PAPER_NAMING_A_TRIAL}" in diff.output and f"study added: {LATE_TRIAL.lower()}" in diff.output
    assert f"study changed: {TRIAL_CITING.lower()}" in diff.output
    as_json = json.loads(tkg("diff", *args, "--format", "json").output)
    assert {s["id"] for s in as_json["studies"]["added"]} == {f"pmid-{PAPER_NAMING_A_TRIAL}", LATE_TRIAL.lower()}
    assert [s["id"] for s in as_json["studies"]["changed"]] == [TRIAL_CITING.lower()] and not as_json["studies"]["removed"]

    third = tkg("update", *args, *urls)  # the same records again: nothing is re-ingested, nothing published
    assert "ingested 0 studies" in third.output and "nothing new" in third.output
    assert "0 new, 0 changed, 2 unchanged" in third.output


def test_papers_and_trials_are_linked_both_ways(world):
    stub, store, args, urls, advance = world
    tkg("watch", "add", "tcell", "--pubmed", PUBMED_QUERY, "--ctgov", CTGOV_TERM, *args)
    tkg("update", *args, *urls)
    advance()
    tkg("update", *args, *urls)
    with KnowledgeGraph.open(str(store)) as kg:
        paper = study_page(kg, f"pmid-{PAPER_NAMING_A_TRIAL}")
        assert [t["id"] for t in paper["reports_results_of"]] == [TRIAL_NAMED.lower()]
        trial = study_page(kg, TRIAL_NAMED.lower())
        assert [p["id"] for p in trial["results_reported_in"]] == [f"pmid-{PAPER_NAMING_A_TRIAL}"]
        citing = study_page(kg, TRIAL_CITING.lower())
        assert [p["id"] for p in citing["results_reported_in"]] == [f"pmid-{PAPER_CITED}"]
        cited = study_page(kg, f"pmid-{PAPER_CITED}")
        assert [t["id"] for t in cited["reports_results_of"]] == [TRIAL_CITING.lower()]
        rows = kg.query(load_query("cq17").sparql).rows
    from web import create_app

    client = create_app({"store": str(store)}).test_client()
    paper_html = client.get(f"/study/pmid-{PAPER_NAMING_A_TRIAL}").get_data(as_text=True)
    assert "Reports results of" in paper_html and f'href="/study/{TRIAL_NAMED.lower()}"' in paper_html
    trial_html = client.get(f"/study/{TRIAL_NAMED.lower()}").get_data(as_text=True)
    assert "Results reported in" in trial_html and f'href="/study/pmid-{PAPER_NAMING_A_TRIAL}"' in trial_html
    pairs = {(str(r["nct"]), str(r["reportedIn"]).rsplit("/", 1)[1]) for r in rows if str(r["role"]) == "publication"}
    assert pairs == {(TRIAL_NAMED, f"pmid-{PAPER_NAMING_A_TRIAL}"), (TRIAL_CITING, f"pmid-{PAPER_CITED}")}
    barriers = {str(r["item"]).rsplit("/", 1)[1] for r in rows
                if str(r["nct"]) == TRIAL_CITING and str(r["role"]) == "publication" and str(r.get("kind")) == "barrier"}
    with KnowledgeGraph.open(str(store)) as kg:
        graph = f"https://w3id.org/tcell-kg/graph/pmid-{PAPER_CITED}"
        found = kg.query(f"SELECT ?b WHERE {{ GRAPH <{graph}> {{ ?t <https://w3id.org/tcell-kg/facesBarrier> ?b }} }}").rows
        expected = {str(r["b"]).rsplit("/", 1)[1] for r in found}
    assert expected and barriers == expected, "CQ17 lists the barriers the trial's publication reports"


def test_the_same_pmid_from_two_watches_is_one_study(world):
    stub, store, args, urls, _ = world
    tkg("watch", "add", "car", "--pubmed", "car", *args)
    tkg("watch", "add", "solid", "--pubmed", "solid tumor", *args)
    result = tkg("update", *args, *urls)
    assert result.exit_code == 0, result.output
    assert "car pubmed: 3 new" in result.output and "solid pubmed: 0 new, 0 changed, 2 unchanged" in result.output
    assert sorted(p.name for p in (store / "feed" / "pubmed").iterdir()) == ["29458388.xml", "37020537.xml", "38673757.xml"]
    assert studies(store) == {"pmid-29458388", "pmid-37020537", "pmid-38673757"}


def test_watch_add_list_remove_and_their_errors(tmp_path):
    state = tmp_path / "state"
    add_watch(state, "a", pubmed="car")
    with pytest.raises(WatchError, match="already exists"):
        add_watch(state, "a", pubmed="til")
    with pytest.raises(WatchError, match="watches nothing"):
        add_watch(state, "b")
    with pytest.raises(WatchError, match="invalid watch name"):
        add_watch(state, "../x", pubmed="car")
    listed = tkg("watch", "list", "--state-dir", str(state))
    assert "a: pubmed='car'; last run never" in listed.output
    remove_watch(state, "a")
    assert load_watches(state) == {}
    missing = tkg("watch", "remove", "a", "--state-dir", str(state))
    assert missing.exit_code == 1 and "no watch named 'a'" in missing.output


def test_a_remote_store_keeps_its_watches_in_a_local_state_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TKG_STATE_DIR", raising=False)
    assert state_dir("http://127.0.0.1:7878/query") == Path("tkg-state")
    assert state_dir("var") == Path("var")
    assert state_dir("http://127.0.0.1:7878/query", tmp_path) == tmp_path
    monkeypatch.setenv("TKG_STATE_DIR", str(tmp_path / "s"))
    assert state_dir("var") == tmp_path / "s"


def test_update_without_watches_says_so(tmp_path):
    result = tkg("update", "--store", str(tmp_path / "var"))
    assert result.exit_code == 1 and "no watches saved" in result.output


def _update_process(store: Path, urls: list[str]) -> subprocess.Popen:
    code = "import sys; from kg.cli import main; sys.exit(main())"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", code, "update", "--store", str(store), *urls], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_update_refuses_and_a_killed_one_resumes(world):
    """A real `tkg update` process is held at its first ClinicalTrials.gov request (after the
    PubMed records are in the feed); a second update refuses at once; the first is killed
    with SIGKILL; the next update resumes and ingests the PubMed records fetched before."""
    stub, store, args, urls, _ = world
    tkg("watch", "add", "tcell", "--pubmed", PUBMED_QUERY, "--ctgov", CTGOV_TERM, *args)
    release = threading.Event()
    stub.stalls["/studies"] = release
    process = _update_process(store, urls)
    try:
        assert stub.reached.wait(60), "the update never reached ClinicalTrials.gov"
        assert len(list((store / "feed" / "pubmed").glob("*.xml"))) == 4
        second = tkg("update", *args, *urls)
        assert second.exit_code == 1
        assert "another tkg update is running (pid" in second.output and "this one did nothing" in second.output
        process.send_signal(signal.SIGKILL)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes
    assert process.returncode == -signal.SIGKILL
    del stub.stalls["/studies"]
    assert not (store / "current").exists(), "nothing was published by the killed run"
    resumed = tkg("update", *args, *urls)
    assert resumed.exit_code == 0, resumed.output
    assert "tcell ctgov: 9 new" in resumed.output and "ingested 13 studies" in resumed.output
    assert len(studies(store)) == 13, "the PubMed records fetched before the kill were not lost"
    assert not (store / ".update-journal.json").exists()


def test_a_run_killed_after_publishing_loses_nothing_published(world):
    stub, store, args, urls, advance = world
    tkg("watch", "add", "tcell", "--pubmed", PUBMED_QUERY, "--ctgov", CTGOV_TERM, *args)
    tkg("update", *args, *urls)
    first_release = (store / "current").resolve().name
    advance()
    from kg import watch as watch_module

    def crash(step: str) -> None:
        if step == "published":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        watch_module.run_update(str(store), store, eutils_url=urls[1], ctgov_url=urls[3], after_step=crash)
    published = (store / "current").resolve().name
    assert published != first_release and len(studies(store)) == 15
    resumed = tkg("update", *args, *urls)
    assert resumed.exit_code == 0, resumed.output
    assert (store / "current").resolve().name == published, "the finished release is not published twice"
    entry = json.loads((store / "changes" / f"{published}.json").read_text())
    assert {s["id"] for s in entry["diff"]["studies"]["added"]} == {f"pmid-{PAPER_NAMING_A_TRIAL}", LATE_TRIAL.lower()}


def test_the_lock_is_released_when_its_holder_ends(tmp_path):
    with UpdateLock(tmp_path):
        with pytest.raises(WatchError, match="another tkg update is running"):
            with UpdateLock(tmp_path):
                pass
    with UpdateLock(tmp_path):  # free again
        pass


def test_nct_ids_in_an_abstract_link_the_paper_to_each_trial(shared_dir):
    """A real PubMed record whose abstract the test extends with two registry numbers."""
    from rdflib import URIRef
    from rdflib.namespace import DCTERMS

    from kg.readers.pubmed import parse_pubmed
    from kg.to_rdf import record_to_graph

    data = (shared_dir / "real-records" / "pubmed-36873252.xml").read_bytes()
    data = data.replace(b"</AbstractText>", b" (NCT03271632; NCT04404595)</AbstractText>", 1)
    (record,) = parse_pubmed(data, "test.xml")
    assert record.nct == "NCT03271632" and ("nct", "NCT04404595") in record.extras
    graph = record_to_graph(record)
    paper = URIRef("https://w3id.org/tcell-kg/study/pmid-36873252")
    assert set(graph.objects(paper, DCTERMS.references)) >= {URIRef("https://w3id.org/tcell-kg/study/nct03271632"),
                                                             URIRef("https://w3id.org/tcell-kg/study/nct04404595")}


@pytest.mark.servers
def test_update_of_a_sparql_server_store_keeps_state_and_changelog_locally(world, tmp_path):
    """A remote store has no releases: the changelog comes from what each update wrote."""
    from servers import ServerUnavailable, start_oxigraph

    from kg.stores.remote import StoreURL

    stub, _store, _args, urls, advance = world
    try:
        server = start_oxigraph(tmp_path / "oxigraph")
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        remote = StoreURL(server.query_url, server.update_url, server.gsp_url)
        state = tmp_path / "state"
        args = ["--store", server.query_url, "--update-url", server.update_url, "--gsp-url", server.gsp_url, "--state-dir", str(state)]
        assert tkg("watch", "add", "tcell", "--pubmed", PUBMED_QUERY, "--ctgov", CTGOV_TERM, "--store", server.query_url,
                   "--state-dir", str(state)).exit_code == 0
        first = tkg("update", *args, *urls)
        assert first.exit_code == 0, first.output
        assert "ingested 13 studies" in first.output and "published release" not in first.output
        advance()
        second = tkg("update", *args, *urls)
        assert "ingested 3 studies" in second.output and "2 studies added, 1 changed" in second.output
        entries = sorted((state / "changes").glob("update-*.json"))
        assert len(entries) == 2
        latest = json.loads(entries[-1].read_text())
        assert [s["id"] for s in latest["diff"]["studies"]["changed"]] == [TRIAL_CITING.lower()]
        assert latest["diff"]["old"] == entries[0].stem and latest["diff"]["new"] == entries[1].stem
        diff = tkg("diff", "--store", server.query_url, "--state-dir", str(state))
        assert diff.exit_code == 0 and f"study changed: {TRIAL_CITING.lower()}" in diff.output
        with KnowledgeGraph.open(remote) as kg:
            assert len(kg.query("PREFIX tkg: <https://w3id.org/tcell-kg/> SELECT ?s WHERE { ?s a tkg:Study }").rows) == 15
        assert not list(tmp_path.glob("var")), "nothing is written beside a remote store but the state folder"
    finally:
        server.stop()


def test_a_refused_watch_is_reported_and_the_others_still_go_in(world):
    stub, store, args, urls, _ = world
    tkg("watch", "add", "good", "--pubmed", "car", *args)
    tkg("watch", "add", "bad", "--pubmed", "car AND (solid", *args)
    result = CliRunner().invoke(main, ["update", *args, *urls])
    gc.collect()
    assert result.exit_code == 1
    assert "good pubmed: 3 new" in result.output and "ingested 3 studies" in result.output
    assert "failed: bad pubmed: PubMed E-utilities: refused the query 'car AND (solid'" in result.output
    watches = load_watches(store)
    assert watches["good"]["last_run"] == dt.date.today().isoformat() and watches["bad"]["last_run"] is None
