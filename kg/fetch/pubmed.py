"""PubMed through NCBI E-utilities: ESearch on the history server, EFetch XML in batches.

* ESearch (``db=pubmed``, ``usehistory=y``, ``retmode=json``) posts the result
  set to the history server; EFetch then pages through it by ``WebEnv``,
  ``query_key``, ``retstart`` and ``retmax`` (at most :data:`BATCH` = 200).
* Every request carries ``tool`` and ``email`` (NCBI's policy) and ``api_key``
  from ``NCBI_API_KEY`` when set; requests are spaced to 3 a second without a
  key, 10 with one.
* ESearch reaches at most :data:`ESEARCH_CAP` records of one query. A larger
  query is split into date ranges (halving the range) until each part fits.
* The date range ends on the day the fetch started, kept in its state file:
  an interrupted fetch re-runs ESearch for the unfinished range (a history
  server session expires) and continues at the saved ``retstart``.
* Each article is written to ``<feed>/pubmed/<PMID>.xml`` as a one-article
  ``PubmedArticleSet``; a byte-identical article counts as unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from lxml import etree

from ..errors import IngestError
from ..readers.xmlsafe import parse_xml
from . import FetchSummary, Journal, progress_bar, write_atomic
from .http import Client, FetchError, Truncated

EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
TOOL = "tcell-kg"
#: Most records EFetch is asked for at once.
BATCH = 200
#: Most records ESearch reaches for one query (retstart cannot go past it).
ESEARCH_CAP = 10_000
#: Start of the date range when no --since is given.
EARLIEST = dt.date(1800, 1, 1)
DATE_TYPES = ("edat", "mdat", "pdat")


def _describe(response: requests.Response) -> str:
    """E-utilities put the reason of a refusal in JSON {"error": ...} or in an <ERROR> element."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error", "ERROR"):
            if isinstance(data.get(key), str):
                return data[key]
        inner = data.get("esearchresult")
        if isinstance(inner, dict) and isinstance(inner.get("ERROR"), str):
            return inner["ERROR"]
    text = response.text
    start = text.find("<ERROR>")
    if start >= 0:
        return text[start + 7: text.find("</ERROR>", start)].strip()
    return ""


def client(base_url: str | None = None, *, api_key: str | None = None, email: str | None = None,
           sleep: Callable[[float], None] | None = None, retries: int = 5, backoff: float = 1.0) -> Client:
    """A client for E-utilities: base URL from the argument, $TKG_EUTILS_URL or NCBI's;
    API key from the argument or $NCBI_API_KEY; e-mail from the argument or $NCBI_EMAIL."""
    api_key = api_key if api_key is not None else os.environ.get("NCBI_API_KEY") or None
    email = email if email is not None else os.environ.get("NCBI_EMAIL") or None
    params = {"tool": TOOL}
    if email:
        params["email"] = email
    if api_key:
        params["api_key"] = api_key
    options: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return Client(base_url or os.environ.get("TKG_EUTILS_URL") or EUTILS_URL, "PubMed E-utilities", rate=10.0 if api_key else 3.0,
                  params=params, describe_error=_describe, retries=retries, backoff=backoff, **options)


def _ncbi_date(day: dt.date) -> str:
    return day.strftime("%Y/%m/%d")


def _esearch_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Truncated(f"ESearch JSON does not parse: {exc}") from None
    result = data.get("esearchresult") if isinstance(data, dict) else None
    if not isinstance(result, dict):
        raise Truncated("ESearch JSON has no esearchresult")
    return result


def esearch(api: Client, term: str, mindate: dt.date, maxdate: dt.date, datetype: str, *, history: bool) -> dict[str, Any]:
    params = {"db": "pubmed", "term": term, "retmode": "json", "retmax": "0", "datetype": datetype,
              "mindate": _ncbi_date(mindate), "maxdate": _ncbi_date(maxdate)}
    if history:
        params["usehistory"] = "y"
    _status, _body, result = api.get("esearch.fcgi", params, check=_esearch_json)
    if "ERROR" in result:
        raise FetchError(f"refused the query {term!r}: {result['ERROR']}", where=api.service)
    try:
        result["count"] = int(result["count"])
    except (KeyError, ValueError):
        raise FetchError("ESearch answered without a count", where=api.service) from None
    if history and not (result.get("webenv") and result.get("querykey")):
        raise FetchError("ESearch answered without a history session (WebEnv/query_key)", where=api.service)
    return result


def _efetch_xml(body: bytes) -> etree._Element:
    try:
        root = parse_xml(body, "EFetch response")
    except IngestError as exc:
        raise Truncated(str(exc)) from None
    if root.tag != "PubmedArticleSet":
        raise Truncated(f"EFetch answered <{root.tag}>, not a PubmedArticleSet")
    return root


def plan_ranges(api: Client, term: str, start: dt.date, end: dt.date, datetype: str) -> list[dict[str, Any]]:
    """Date ranges that each match at most ESEARCH_CAP records (halving a range that matches more)."""
    count = esearch(api, term, start, end, datetype, history=False)["count"]
    if count <= ESEARCH_CAP:
        return [{"mindate": start.isoformat(), "maxdate": end.isoformat(), "count": count, "retstart": 0}] if count else []
    if start >= end:
        raise FetchError(f"{count} records match {term!r} on {start.isoformat()} alone, more than ESearch returns ({ESEARCH_CAP})",
                         where=api.service, expected="a narrower query")
    middle = start + (end - start) // 2
    return plan_ranges(api, term, start, middle, datetype) + plan_ranges(api, term, middle + dt.timedelta(days=1), end, datetype)


def _article_file(entry: etree._Element) -> tuple[str, bytes] | None:
    pmid = (entry.findtext("./MedlineCitation/PMID") or "").strip()
    if not pmid.isdigit():
        return None
    wrapper = etree.Element("PubmedArticleSet")
    wrapper.append(entry)
    return pmid, etree.tostring(wrapper, xml_declaration=True, encoding="UTF-8") + b"\n"


def fetch_pubmed(
    term: str,
    feed: Path,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    max_records: int | None = None,
    datetype: str = "edat",
    api: Client | None = None,
    progress: bool = False,
    on_batch: Callable[[FetchSummary], None] | None = None,
) -> FetchSummary:
    """Fetch the articles matching ``term`` (from ``since``, by ``datetype``) into ``feed/pubmed/``.

    Resumes an interrupted fetch of the same query and start date."""
    if not term.strip():
        raise FetchError("the PubMed query is empty", expected="a PubMed query such as 'CAR-T AND solid tumor'")
    if datetype not in DATE_TYPES:
        raise FetchError(f"unknown date type {datetype!r}", expected=", ".join(DATE_TYPES))
    own = api is None
    api = api or client()
    journal = Journal.for_job(feed, "pubmed", term, since, datetype, max_records)
    summary = FetchSummary("pubmed")
    try:
        if journal.load():
            summary.resumed = True
            summary.restore(journal.data.get("summary", {}))
        else:
            end = until or dt.date.today()
            start = since or EARLIEST
            if start > end:
                raise FetchError(f"--since {start.isoformat()} is after {end.isoformat()}", expected="a date in the past")
            journal.data = {"term": term, "since": start.isoformat(), "until": end.isoformat(), "datetype": datetype,
                            "ranges": plan_ranges(api, term, start, end, datetype)}
            summary.total = sum(r["count"] for r in journal.data["ranges"])
            journal.data["summary"] = summary.to_json()
            journal.save()
        folder = feed / "pubmed"
        base_retries = summary.retries
        limit = max_records if max_records is not None else None
        bar = progress_bar(min(summary.total or 0, limit or 1 << 60), "pubmed", progress)
        bar.update(len(summary.records))
        with bar:
            for part in journal.data["ranges"]:
                if part["retstart"] >= part["count"]:
                    continue
                session = esearch(api, term, dt.date.fromisoformat(part["mindate"]), dt.date.fromisoformat(part["maxdate"]),
                                  datetype, history=True)
                part["count"] = min(session["count"], ESEARCH_CAP)
                while part["retstart"] < part["count"]:
                    if limit is not None and len(summary.records) >= limit:
                        break
                    size = min(BATCH, part["count"] - part["retstart"])
                    if limit is not None:
                        size = min(size, limit - len(summary.records))
                    params = {"db": "pubmed", "WebEnv": session["webenv"], "query_key": session["querykey"],
                              "retstart": str(part["retstart"]), "retmax": str(size), "retmode": "xml"}
                    _status, _body, root = api.get("efetch.fcgi", params, check=_efetch_xml)
                    writes = []
                    entries = root.findall("./PubmedArticle")
                    for book in root.findall("./PubmedBookArticle"):  # the reader takes journal articles only
                        pmid = (book.findtext("./BookDocument/PMID") or "").strip() or f"book-{len(summary.failures) + 1}"
                        summary.note(pmid, "failed")
                        summary.failures[pmid] = "a PubMed book record (PubmedBookArticle), which tcell-kg does not read"
                    for entry in entries:
                        item = _article_file(entry)
                        if item is None:
                            continue
                        pmid, data = item
                        path = folder / f"{pmid}.xml"
                        old = path.read_bytes() if path.exists() else None
                        status = "new" if old is None else "unchanged" if old == data else "changed"
                        summary.note(pmid, status, path)
                        if status != "unchanged":
                            writes.append((path, data))
                    # the verdicts are saved before the files change, so a crash between the two
                    # cannot turn a new record into an "unchanged" one that is never ingested
                    summary.retries = base_retries + len(api.retried)
                    journal.data["summary"] = summary.to_json()
                    journal.save()
                    for path, data in writes:
                        write_atomic(path, data)
                    part["retstart"] += size
                    journal.data["summary"] = summary.to_json()
                    journal.save()
                    bar.update(len(entries))
                    if on_batch:
                        on_batch(summary)
                if limit is not None and len(summary.records) >= limit:
                    break
        journal.remove()
        return summary
    finally:
        if own:
            api.close()
