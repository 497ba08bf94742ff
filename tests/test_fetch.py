"""Fetching from PubMed and ClinicalTrials.gov against the local stub (tests/stub_apis.py):
request parameters, paging, retries (429 with Retry-After, 503, truncated bodies),
clear refusals, resumption and the one-file-per-record feed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from stub_apis import StubAPIs

from kg.cli import main
from kg.fetch import FetchError, ctgov, pubmed
from kg.fetch.http import RateLimiter, retry_after

#: Matches all five stored PubMed records in the stub (alternatives joined by OR).
QUERY = "car OR checkpoint"


def real_pubmed(shared: Path) -> list[Path]:
    return sorted((shared / "real-texts" / "texts").glob("pubmed-*.xml")) + sorted((shared / "real-records").glob("pubmed-*.xml"))


def real_trials(shared: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((shared / "real-texts" / "texts").glob("ctgov-*.json"))]


def dated(study: dict, date: str) -> dict:
    """A real trial record with its last-update date set by the test (the stored copies have none)."""
    study = json.loads(json.dumps(study))
    study["protocolSection"].setdefault("statusModule", {})["lastUpdatePostDateStruct"] = {"date": date, "type": "ACTUAL"}
    return study


@pytest.fixture
def stub(shared_dir):
    apis = StubAPIs()
    for day, path in enumerate(real_pubmed(shared_dir), start=10):
        apis.add_pubmed(path, f"2024/01/{day}")  # five articles on five days
    for study in real_trials(shared_dir):
        apis.add_trial(dated(study, "2024-01-10"))
    apis.url = apis.start()
    yield apis
    apis.stop()


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def eutils(stub, **kw):
    sleeps = kw.pop("sleeps", Sleeps())
    return pubmed.client(stub.url + "/eutils", sleep=sleeps, **kw), sleeps


# -- PubMed ------------------------------------------------------------------------------
def test_pubmed_uses_the_history_server_and_sends_tool_email_and_key(stub, tmp_path, monkeypatch):
    monkeypatch.setenv("NCBI_API_KEY", "k123")
    api, _ = eutils(stub, email="me@example.org")
    assert api.rate == 10.0
    summary = pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    assert summary.count("new") == 5 and summary.total == 5
    searches = [p for path, p in stub.log if path.endswith("esearch.fcgi")]
    fetches = [p for path, p in stub.log if path.endswith("efetch.fcgi")]
    assert searches[-1]["usehistory"] == "y" and searches[-1]["retmode"] == "json" and searches[-1]["db"] == "pubmed"
    for params in searches + fetches:
        assert params["tool"] == "tcell-kg" and params["email"] == "me@example.org" and params["api_key"] == "k123"
    assert fetches and all(p["WebEnv"] == "STUB_1" and p["query_key"] == "1" and p["retmode"] == "xml" for p in fetches)
    assert all(int(p["retmax"]) <= pubmed.BATCH for p in fetches)
    assert sorted(f.name for f in (tmp_path / "pubmed").iterdir()) == sorted(f"{pmid}.xml" for pmid in stub.articles)


def test_without_a_key_the_client_keeps_to_three_requests_a_second(monkeypatch):
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    assert pubmed.client("http://127.0.0.1:9/").rate == 3.0
    clock = [0.0]
    waits = Sleeps()
    limiter = RateLimiter(3.0, clock=lambda: clock[0], sleep=waits)
    for _ in range(4):
        limiter.wait()
    assert waits == pytest.approx([1 / 3, 2 / 3, 1.0])  # four requests at once are spread over a second


def test_efetch_batches_page_with_retstart(stub, tmp_path, monkeypatch):
    monkeypatch.setattr(pubmed, "BATCH", 2)
    api, _ = eutils(stub)
    pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    pages = [(p["retstart"], p["retmax"]) for path, p in stub.log if path.endswith("efetch.fcgi")]
    assert pages == [("0", "2"), ("2", "2"), ("4", "1")]


def test_a_query_past_the_esearch_cap_is_split_by_date(stub, tmp_path, monkeypatch):
    monkeypatch.setattr(pubmed, "ESEARCH_CAP", 2)
    stub.cap = 2  # the stub, like ESearch, cannot reach past its cap
    api, _ = eutils(stub)
    summary = pubmed.fetch_pubmed(QUERY, tmp_path, since=dt.date(2024, 1, 1), until=dt.date(2024, 1, 31), api=api)
    assert summary.count("new") == 5, "every record is fetched although the whole query matches more than the cap"
    ranges = {(p["mindate"], p["maxdate"]) for path, p in stub.log if path.endswith("esearch.fcgi") and p.get("usehistory")}
    assert len(ranges) >= 3


def test_a_single_day_past_the_cap_is_a_clear_error(stub, tmp_path, monkeypatch):
    monkeypatch.setattr(pubmed, "ESEARCH_CAP", 1)
    for item in stub.articles.values():
        item.date = "2024/01/10"
    api, _ = eutils(stub)
    with pytest.raises(FetchError, match="more than ESearch returns"):
        pubmed.fetch_pubmed(QUERY, tmp_path, since=dt.date(2024, 1, 10), until=dt.date(2024, 1, 10), api=api)


def test_since_filters_on_the_entrez_date(stub, tmp_path):
    api, _ = eutils(stub)
    summary = pubmed.fetch_pubmed(QUERY, tmp_path, since=dt.date(2024, 1, 13), until=dt.date(2024, 1, 31), api=api)
    assert set(summary.records) == {p for p, a in stub.articles.items() if a.date >= "2024/01/13"}
    search = next(p for path, p in stub.log if path.endswith("esearch.fcgi"))
    assert (search["datetype"], search["mindate"], search["maxdate"]) == ("edat", "2024/01/13", "2024/01/31")


def test_429_with_retry_after_503_and_a_truncated_body_are_retried(stub, tmp_path):
    stub.retry_after = "7"
    stub.faults += [("efetch.fcgi", 429), ("efetch.fcgi", 503), ("efetch.fcgi", "truncate"), ("esearch.fcgi", "truncate")]
    api, sleeps = eutils(stub)
    summary = pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    assert summary.count("new") == 5 and summary.count("failed") == 0
    assert "efetch.fcgi: HTTP 429, retrying in 7.0s" in api.retried and 7.0 in sleeps, "the 429's Retry-After is honoured"
    assert len(api.retried) == 4 and summary.retries == 4
    for path in (tmp_path / "pubmed").iterdir():  # every file is a whole, parseable article
        assert path.read_bytes().rstrip().endswith(b"</PubmedArticleSet>")


def test_a_service_that_stays_down_gives_one_line(stub, tmp_path):
    stub.faults += [("esearch.fcgi", 503)] * 3
    api, sleeps = eutils(stub, retries=2)
    with pytest.raises(FetchError) as info:
        pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    assert "HTTP 503" in str(info.value) and "after 3 attempts" in str(info.value) and "\n" not in str(info.value)
    waits = [float(line.rsplit(" ", 1)[1].rstrip("s")) for line in api.retried]
    assert waits == pytest.approx([1.0, 2.0], rel=0.3)  # backoff doubles without Retry-After


def test_retry_after_as_an_http_date():
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=dt.datetime(2015, 10, 21, 7, 27, 30, tzinfo=dt.timezone.utc).timestamp()) == 30
    assert retry_after("soon") is None and retry_after("100000") == 300.0


def test_bad_query_and_bad_key_are_refused_in_one_line(stub, tmp_path, monkeypatch):
    runner = CliRunner()
    base = ["fetch", "pubmed", "--eutils-url", stub.url + "/eutils", "--store", str(tmp_path / "var")]
    result = runner.invoke(main, [*base, "car AND (solid"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "refused the query" in result.output and "Invalid query" in result.output
    stub.bad_keys.add("wrong")
    monkeypatch.setenv("NCBI_API_KEY", "wrong")
    result = runner.invoke(main, [*base, QUERY])
    assert result.exit_code == 1 and "error: PubMed E-utilities: refused the request (HTTP 400): API key invalid" in result.output
    assert not (tmp_path / "var" / "current").exists()


def test_refetch_replaces_the_files_and_reports_changes(stub, tmp_path):
    api, _ = eutils(stub)
    pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    pmid = sorted(stub.articles)[0]
    item = stub.articles[pmid]
    item.xml = item.xml.replace(b"</ArticleTitle>", b" (corrected)</ArticleTitle>", 1)  # a revised record
    again = pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    assert again.count("changed") == 1 and again.count("unchanged") == 4 and again.count("new") == 0
    assert again.to_ingest() == [tmp_path / "pubmed" / f"{pmid}.xml"]
    assert b"(corrected)" in (tmp_path / "pubmed" / f"{pmid}.xml").read_bytes()
    assert len(list((tmp_path / "pubmed").iterdir())) == 5


def test_an_interrupted_fetch_resumes_where_it_stopped(stub, tmp_path, monkeypatch):
    monkeypatch.setattr(pubmed, "BATCH", 2)
    api, _ = eutils(stub)

    def stop_after_first_batch(summary):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pubmed.fetch_pubmed(QUERY, tmp_path, api=api, on_batch=stop_after_first_batch)
    assert len(list((tmp_path / "pubmed").glob("*.xml"))) == 2
    stub.log.clear()
    summary = pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    assert summary.resumed and summary.count("new") == 5 and len(summary.to_ingest()) == 5
    assert [p["retstart"] for path, p in stub.log if path.endswith("efetch.fcgi")] == ["2", "4"]
    assert not list((tmp_path / ".state").glob("*.json")), "a finished fetch leaves no state behind"


def test_a_crash_between_writing_files_and_saving_progress_loses_no_record(stub, tmp_path, monkeypatch):
    """The batch is fetched again after the crash and finds its first file already written:
    that record must still be ingested as new (the verdicts are saved before the files)."""
    api, _ = eutils(stub)
    real_write = pubmed.write_atomic
    calls = []

    def crash_after_first_file(path, data):
        real_write(path, data)
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(pubmed, "write_atomic", crash_after_first_file)
    with pytest.raises(KeyboardInterrupt):
        pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    monkeypatch.setattr(pubmed, "write_atomic", real_write)
    summary = pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    assert summary.count("new") == 5 and len(summary.to_ingest()) == 5


def test_max_stops_early(stub, tmp_path):
    api, _ = eutils(stub)
    assert len(pubmed.fetch_pubmed(QUERY, tmp_path, api=api, max_records=3).records) == 3


# -- ClinicalTrials.gov ------------------------------------------------------------------
def registry(stub):
    sleeps = Sleeps()
    return ctgov.client(stub.url, sleep=sleeps), sleeps


def test_ctgov_pages_with_next_page_token(stub, tmp_path):
    api, _ = registry(stub)
    summary = ctgov.fetch_ctgov(tmp_path, term="cell", page_size=3, api=api)
    pages = [p for path, p in stub.log if path.endswith("/studies")]
    assert len(pages) == 3 and "pageToken" not in pages[0] and all("pageToken" in p for p in pages[1:])
    assert pages[0]["countTotal"] == "true" and all(p["format"] == "json" and p["pageSize"] == "3" for p in pages)
    assert summary.total == len(summary.records) == summary.count("new")
    assert {f.stem for f in (tmp_path / "ctgov").iterdir()} == set(summary.records)


def test_ctgov_search_fields_and_since(stub, tmp_path):
    api, _ = registry(stub)
    ctgov.fetch_ctgov(tmp_path, condition="myeloma", intervention="car-t", since=dt.date(2024, 1, 1), api=api)
    params = stub.log[-1][1]
    assert params["query.cond"] == "myeloma" and params["query.intr"] == "car-t"
    assert params["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2024-01-01,MAX]" and params["pageSize"] == "1000"


def test_a_newer_trial_version_replaces_and_an_unchanged_one_is_left(stub, tmp_path):
    api, _ = registry(stub)
    ctgov.fetch_ctgov(tmp_path, term="cell", api=api)
    nct = sorted(stub.trials)[0]
    path = tmp_path / "ctgov" / f"{nct}.json"
    before = path.stat().st_mtime_ns
    again = ctgov.fetch_ctgov(tmp_path, term="cell", api=api)
    assert again.count("new") == again.count("changed") == 0 and path.stat().st_mtime_ns == before
    stub.trials[nct] = dated(stub.trials[nct], "2025-03-01")
    third = ctgov.fetch_ctgov(tmp_path, term="cell", api=api)
    assert third.records[nct] == "changed" and third.count("changed") == 1 and third.to_ingest() == [path]
    assert json.loads(path.read_text())["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] == "2025-03-01"


def test_ctgov_retries_and_resumes(stub, tmp_path):
    stub.faults += [("/studies", 503), ("/studies", "truncate"), ("/studies", 429)]
    api, _ = registry(stub)

    def stop(summary):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ctgov.fetch_ctgov(tmp_path, term="cell", page_size=3, api=api, on_page=stop)
    assert len(api.retried) == 3
    stub.log.clear()
    summary = ctgov.fetch_ctgov(tmp_path, term="cell", page_size=3, api=api)
    assert summary.resumed and summary.count("new") == len(list((tmp_path / "ctgov").iterdir()))
    assert len(stub.log) == 2 and all("pageToken" in p for _, p in stub.log), "the first page is not fetched again"


def test_ctgov_page_size_and_refusals(stub, tmp_path):
    api, _ = registry(stub)
    with pytest.raises(FetchError, match="1 to 1000"):
        ctgov.fetch_ctgov(tmp_path, term="cell", page_size=1001, api=api)
    with pytest.raises(FetchError, match="no search given"):
        ctgov.fetch_ctgov(tmp_path, api=api)
    stub.faults.append(("/studies", 400))
    with pytest.raises(FetchError, match=r"ClinicalTrials.gov API: refused the request \(HTTP 400\): busy"):
        ctgov.fetch_ctgov(tmp_path, term="cell", api=api)


def test_cli_fetch_no_ingest_only_downloads(stub, tmp_path):
    store = tmp_path / "var"
    result = CliRunner().invoke(main, ["fetch", "ctgov", "--query", "cell", "--no-ingest", "--ctgov-url", stub.url, "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "0 changed, 0 unchanged, 0 failed" in result.output and "not ingested" in result.output
    assert list((store / "feed" / "ctgov").glob("NCT*.json")) and not (store / "current").exists()


def test_cli_fetch_pubmed_ingests_and_publishes(stub, tmp_path):
    store = tmp_path / "var"
    result = CliRunner().invoke(main, ["fetch", "pubmed", QUERY, "--eutils-url", stub.url + "/eutils", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "pubmed: 5 new" in result.output and "ingested 5 studies; published release" in result.output


def test_a_book_record_is_reported_as_failed_not_dropped(stub, tmp_path):
    from stub_apis import Article

    book = b"<PubmedBookArticle><BookDocument><PMID Version=\"1\">99999999</PMID></BookDocument></PubmedBookArticle>"
    stub.articles["99999999"] = Article("99999999", book, "2024/01/20", "car t cell book chapter")
    api, _ = eutils(stub)
    summary = pubmed.fetch_pubmed(QUERY, tmp_path, api=api)
    assert summary.count("new") == 5 and summary.records["99999999"] == "failed" and "book" in summary.failures["99999999"]
    assert not (tmp_path / "pubmed" / "99999999.xml").exists()
