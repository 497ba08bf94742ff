"""ClinicalTrials.gov through its API v2: ``GET /studies`` paged by ``pageToken``.

* ``query.term``, ``query.cond`` and ``query.intr`` carry the search;
  ``--since`` becomes ``filter.advanced=AREA[LastUpdatePostDate]RANGE[date,MAX]``;
  ``pageSize`` is at most :data:`PAGE_SIZE` (1000); ``countTotal=true`` on the
  first page sizes the progress bar; ``format=json``.
* Each study is written to ``<feed>/ctgov/<NCT id>.json``. A study whose
  ``lastUpdatePostDateStruct.date`` is not newer than the one on disk counts
  as unchanged and is neither rewritten nor re-ingested.
* The state file keeps the token of the next page, so an interrupted fetch
  continues there; a token the service no longer accepts restarts from the
  first page (records already seen stay counted once).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from . import FetchSummary, Journal, progress_bar, write_atomic
from .http import Client, FetchError, Truncated

CTGOV_URL = "https://clinicaltrials.gov/api/v2/"
#: Largest page the API serves.
PAGE_SIZE = 1000
NCT = re.compile(r"NCT\d{8}")


def _describe(response: requests.Response) -> str:
    text = " ".join(response.text.split())
    try:
        data = response.json()
    except ValueError:
        return text[:200]
    if isinstance(data, dict):
        for key in ("message", "error", "detail"):
            if isinstance(data.get(key), str):
                return data[key]
    return text[:200]


#: Requests a second: descriptions of the API report a limit of about 50 requests a minute.
RATE = 50 / 60


def client(base_url: str | None = None, *, sleep: Callable[[float], None] | None = None, retries: int = 5,
           backoff: float = 1.0, rate: float = RATE) -> Client:
    """A client for the v2 API: base URL from the argument, $TKG_CTGOV_URL or the registry's."""
    options: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return Client(base_url or os.environ.get("TKG_CTGOV_URL") or CTGOV_URL, "ClinicalTrials.gov API", rate=rate,
                  describe_error=_describe, retries=retries, backoff=backoff, **options)


def _page(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Truncated(f"page JSON does not parse: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("studies"), list):
        raise Truncated("page JSON has no studies list")
    return data


def nct_of(study: Any) -> str | None:
    try:
        nct = study["protocolSection"]["identificationModule"]["nctId"]
    except (KeyError, TypeError):
        return None
    return nct if isinstance(nct, str) and NCT.fullmatch(nct) else None


def last_update(study: Any) -> str | None:
    try:
        date = study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
    except (KeyError, TypeError):
        return None
    return date if isinstance(date, str) and re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", date) else None


def verdict(old: bytes | None, study: dict[str, Any], data: bytes) -> str:
    """new, changed or unchanged: by last-update date when both versions have one, else by content."""
    if old is None:
        return "new"
    try:
        previous = json.loads(old.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "changed"  # an unreadable file on disk is replaced
    before, after = last_update(previous), last_update(study)
    if before and after:
        return "changed" if after > before else "unchanged"
    return "unchanged" if old == data else "changed"


def fetch_ctgov(
    feed: Path,
    *,
    term: str | None = None,
    condition: str | None = None,
    intervention: str | None = None,
    since: dt.date | None = None,
    max_records: int | None = None,
    page_size: int = PAGE_SIZE,
    api: Client | None = None,
    progress: bool = False,
    on_page: Callable[[FetchSummary], None] | None = None,
) -> FetchSummary:
    """Fetch the studies matching the search into ``feed/ctgov/``; resumes an interrupted fetch."""
    if not any(x and x.strip() for x in (term, condition, intervention)):
        raise FetchError("no search given", expected="--query, --condition or --intervention")
    if not 1 <= page_size <= PAGE_SIZE:
        raise FetchError(f"page size {page_size} is out of range", expected=f"1 to {PAGE_SIZE}")
    own = api is None
    api = api or client()
    params: dict[str, str] = {"format": "json", "pageSize": str(page_size)}
    for key, value in (("query.term", term), ("query.cond", condition), ("query.intr", intervention)):
        if value and value.strip():
            params[key] = value.strip()
    if since:
        params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"
    journal = Journal.for_job(feed, "ctgov", sorted(params.items()), max_records)
    summary = FetchSummary("ctgov")
    folder = feed / "ctgov"
    try:
        if journal.load():
            summary.resumed = True
            summary.restore(journal.data.get("summary", {}))
        else:
            journal.data = {"params": params, "token": None, "started": False}
        base_retries = summary.retries
        bar = progress_bar(summary.total, "ctgov", progress)
        bar.update(len(summary.records))
        with bar:
            while True:
                if max_records is not None and len(summary.records) >= max_records:
                    break
                query = dict(params)
                token = journal.data.get("token")
                if token:
                    query["pageToken"] = token
                else:
                    query["countTotal"] = "true"
                status, _body, page = api.get("studies", query, check=_page,
                                              accept_status=lambda s, resumed=bool(token): s == 400 and resumed)
                if status == 400:  # the saved page token expired: start over, records seen stay counted
                    journal.data["token"] = None
                    journal.save()
                    continue
                if isinstance(page.get("totalCount"), int):
                    summary.total = page["totalCount"]
                    bar.total = summary.total
                writes = []
                for study in page["studies"]:
                    if max_records is not None and len(summary.records) >= max_records:
                        break
                    nct = nct_of(study)
                    if nct is None:
                        key = f"unnamed-{len(summary.failures) + 1}"
                        summary.failures[key] = "a study without a valid nctId"
                        summary.note(key, "failed")
                        continue
                    data = json.dumps(study, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8") + b"\n"
                    path = folder / f"{nct}.json"
                    old = path.read_bytes() if path.exists() else None
                    status = verdict(old, study, data)
                    summary.note(nct, status, path)
                    if status != "unchanged":
                        writes.append((path, data))
                    bar.update(1)
                summary.retries = base_retries + len(api.retried)
                journal.data["summary"] = summary.to_json()
                journal.save()  # verdicts first, then files (see kg.fetch.pubmed)
                for path, data in writes:
                    write_atomic(path, data)
                journal.data["token"] = page.get("nextPageToken") or None
                journal.data["summary"] = summary.to_json()
                journal.save()
                if on_page:
                    on_page(summary)
                if not journal.data["token"]:
                    break
        journal.remove()
        return summary
    finally:
        if own:
            api.close()
