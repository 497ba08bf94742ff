"""A local stand-in for NCBI E-utilities and the ClinicalTrials.gov API v2 on 127.0.0.1.

It behaves like the real services in what the fetchers rely on:

* ``/eutils/esearch.fcgi``: JSON (``esearchresult`` with ``count``, ``idlist``,
  ``webenv`` and ``querykey`` when ``usehistory=y``); ``datetype``/``mindate``/
  ``maxdate`` filter on each record's date; at most ``cap`` records are
  reachable (NCBI: 10,000); an unparseable term gets an ``ERROR``.
* ``/eutils/efetch.fcgi``: a ``PubmedArticleSet`` for ``WebEnv``/``query_key``
  with ``retstart``/``retmax`` (over 10,000 refused); a bad ``api_key`` is
  refused with NCBI's JSON error.
* ``/ctgov/studies``: v2 JSON pages with ``nextPageToken``, ``pageSize`` (1 to
  1000, else 400), ``countTotal``, ``query.term``/``query.cond``/``query.intr``
  and ``filter.advanced=AREA[LastUpdatePostDate]RANGE[date,MAX]``.
* Faults on demand: a 429 with ``Retry-After``, a 503, or a truncated body
  (full Content-Length announced, half sent, connection closed); a stall
  (the request waits until the test releases it) to kill a client mid-run.

Records are the real ones under ``../shared`` (tests pass them in); every
request is logged with its parameters so tests can check what was sent.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from lxml import etree


@dataclass
class Article:
    pmid: str
    xml: bytes  # one <PubmedArticle> element
    date: str  # YYYY/MM/DD, what datetype filters on
    text: str  # lower-cased searchable text


def articles_from(path: Path, date: str) -> list[Article]:
    """The PubmedArticle elements of a real efetch file, each dated ``date``."""
    root = etree.fromstring(path.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    for entry in root.iter("PubmedArticle"):
        pmid = entry.findtext("./MedlineCitation/PMID").strip()
        out.append(Article(pmid, etree.tostring(entry), date, " ".join(entry.itertext()).lower()))
    return out


@dataclass
class StubAPIs:
    articles: dict[str, Article] = field(default_factory=dict)
    trials: dict[str, dict[str, Any]] = field(default_factory=dict)
    cap: int = 10_000
    faults: list[tuple[str, Any]] = field(default_factory=list)  # (path suffix, 429 / 503 / "truncate")
    retry_after: str = "1"
    every: int = 0  # when set, every Nth request is refused, alternately with a 429 and a 503
    bad_keys: set[str] = field(default_factory=set)
    stalls: dict[str, threading.Event] = field(default_factory=dict)  # path suffix -> released when set
    reached: threading.Event = field(default_factory=threading.Event)  # set when a request stalls
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    _history: dict[str, list[str]] = field(default_factory=dict)

    # -- records -----------------------------------------------------------
    def add_pubmed(self, path: Path, date: str = "2024/01/15") -> list[str]:
        items = articles_from(path, date)
        for item in items:
            self.articles[item.pmid] = item
        return [i.pmid for i in items]

    def add_trial(self, study: dict[str, Any]) -> str:
        nct = study["protocolSection"]["identificationModule"]["nctId"]
        self.trials[nct] = copy.deepcopy(study)
        return nct

    # -- matching ----------------------------------------------------------
    @staticmethod
    def matches(term: str, text: str) -> bool:
        """Alternatives joined by OR; within one, every word must occur ([tags] and quotes ignored)."""
        term = re.sub(r"\[[^\]]*\]", " ", term.lower()).replace('"', " ")
        for alternative in re.split(r"\bor\b", term):
            words = [w for w in re.split(r"\s+|\band\b|[()]", alternative) if w and w != "and"]
            if words and all(w in text for w in words):
                return True
        return False

    def search(self, term: str, mindate: str | None, maxdate: str | None) -> list[str]:
        hits = [a for a in self.articles.values() if self.matches(term, a.text)
                and (not mindate or a.date >= mindate) and (not maxdate or a.date <= maxdate)]
        return [a.pmid for a in sorted(hits, key=lambda a: (a.date, a.pmid), reverse=True)]

    def trial_text(self, study: dict[str, Any], part: str) -> str:
        protocol = study.get("protocolSection", {})
        if part == "cond":
            return " ".join(protocol.get("conditionsModule", {}).get("conditions", [])).lower()
        if part == "intr":
            items = protocol.get("armsInterventionsModule", {}).get("interventions", [])
            return " ".join(i.get("name", "") + " " + " ".join(i.get("otherNames", [])) for i in items).lower()
        return json.dumps(protocol).lower()

    # -- server ------------------------------------------------------------
    def start(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                stub.log.append((url.path, params))
                if stub.every and len(stub.log) % stub.every == 0:
                    busy = 429 if (len(stub.log) // stub.every) % 2 else 503
                    return self.reply(busy, b"busy", headers={"Retry-After": stub.retry_after} if busy == 429 else {})
                for index, (suffix, kind) in enumerate(stub.faults):
                    if url.path.endswith(suffix):
                        del stub.faults[index]
                        if kind == "truncate":
                            return self.reply(200, b"", truncate=True, real=stub.route(url.path, params))
                        return self.reply(kind, b"busy", headers={"Retry-After": stub.retry_after} if kind == 429 else {})
                for suffix, release in list(stub.stalls.items()):
                    if url.path.endswith(suffix):
                        stub.reached.set()
                        release.wait(60)  # a client killed meanwhile is the point of stalling
                status, body, kind = stub.route(url.path, params)
                self.reply(status, body, ctype=kind)

            def reply(self, status: int, body: bytes, *, ctype: str = "text/plain", headers: dict[str, str] | None = None,
                      truncate: bool = False, real: tuple[int, bytes, str] | None = None) -> None:
                if real:
                    status, body, ctype = real
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if truncate:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if truncate else body)
                if truncate:
                    self.wfile.flush()
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, path: str, params: dict[str, str]) -> tuple[int, bytes, str]:
        if params.get("api_key") in self.bad_keys:
            body = {"error": "API key invalid", "api-key": params["api_key"], "type": "invalid"}
            return 400, json.dumps(body).encode(), "application/json"
        if path.endswith("/esearch.fcgi"):
            return self.esearch(params)
        if path.endswith("/efetch.fcgi"):
            return self.efetch(params)
        if path.endswith("/studies"):
            return self.studies(params)
        return 404, b"not found", "text/plain"

    def esearch(self, p: dict[str, str]) -> tuple[int, bytes, str]:
        term = p.get("term", "")
        if not term.strip() or term.count("(") != term.count(")"):
            result: dict[str, Any] = {"ERROR": f"Invalid query: {term}"}
        else:
            dates = [d.replace("/", "") for d in (p.get("mindate"), p.get("maxdate"))]
            ids = self.search(term, *(f"{d[:4]}/{d[4:6]}/{d[6:8]}" if d else None for d in dates))
            result = {"count": str(len(ids)), "retmax": "0", "retstart": p.get("retstart", "0"), "idlist": []}
            retmax = int(p.get("retmax", "20"))
            if retmax:
                start = int(p.get("retstart", "0"))
                result["idlist"] = ids[start: min(start + retmax, self.cap)]
            if p.get("usehistory") == "y":
                key = f"STUB_{len(self._history) + 1}"
                self._history[key] = ids[: self.cap]
                result.update(webenv=key, querykey="1")
        body = {"header": {"type": "esearch", "version": "0.3"}, "esearchresult": result}
        return 200, json.dumps(body).encode(), "application/json"

    def efetch(self, p: dict[str, str]) -> tuple[int, bytes, str]:
        ids = self._history.get(p.get("WebEnv", ""))
        if ids is None or p.get("query_key") != "1":
            return 400, b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>", "text/xml"
        start, size = int(p.get("retstart", "0")), int(p.get("retmax", "20"))
        if size > 10_000 or start >= self.cap:
            return 400, b"<eFetchResult><ERROR>retstart/retmax out of range</ERROR></eFetchResult>", "text/xml"
        body = b"".join(self.articles[i].xml for i in ids[start: start + size] if i in self.articles)
        head = b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" ' \
               b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
        return 200, head + b"<PubmedArticleSet>" + body + b"</PubmedArticleSet>\n", "text/xml"

    def studies(self, p: dict[str, str]) -> tuple[int, bytes, str]:
        size = int(p.get("pageSize", "10"))
        if not 1 <= size <= 1000:
            return 400, b"pageSize must be between 1 and 1000", "text/plain"
        hits = []
        since = re.fullmatch(r"AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]", p.get("filter.advanced", ""))
        if p.get("filter.advanced") and not since:
            return 400, b"unsupported filter.advanced", "text/plain"
        for nct, study in sorted(self.trials.items()):
            checks = [(p.get("query.term"), "term"), (p.get("query.cond"), "cond"), (p.get("query.intr"), "intr")]
            if not all(self.matches(q, self.trial_text(study, part)) for q, part in checks if q):
                continue
            date = study["protocolSection"].get("statusModule", {}).get("lastUpdatePostDateStruct", {}).get("date", "")
            if since and date < since.group(1):
                continue
            hits.append(nct)
        start = 0
        if p.get("pageToken"):
            try:
                start = int(base64.urlsafe_b64decode(p["pageToken"]).decode().split(":")[1])
            except (ValueError, IndexError):
                return 400, b"invalid pageToken", "text/plain"
        page = {"studies": [self.trials[n] for n in hits[start: start + size]]}
        if start + size < len(hits):
            page["nextPageToken"] = base64.urlsafe_b64encode(f"page:{start + size}".encode()).decode()
        if p.get("countTotal") == "true":
            page["totalCount"] = len(hits)
        return 200, json.dumps(page).encode(), "application/json"
