"""The SPARQL 1.1 Protocol endpoint, ``/sparql``.

Built from a store (:func:`sparql_blueprint`), so it can be mounted in any
Flask app; :func:`make_blueprint` builds it for :func:`web.create_app` from
the app's settings. What it does (see docs/sparql.md):

* queries by GET, form POST and direct POST; the protocol dataset
  (``default-graph-uri``/``named-graph-uri``) or the query's FROM clause,
  otherwise the union of all graphs as the default graph;
* results by content negotiation over explicit tables (:mod:`web.negotiation`);
* a service description on a bare GET;
* every request is parsed and checked by :mod:`kg.sparql_guard` before it
  runs: SERVICE and LOAD are refused, FROM/USING must name graphs of the store;
* queries run in killable worker processes (:mod:`kg.workers`) with a time
  limit (503) and a row cap (truncated, ``X-Result-Truncated: true``);
* updates only with the configured bearer token, applied to the work store
  and then published.
"""

from __future__ import annotations

import hmac
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Flask, Response, current_app, redirect, request, url_for
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, RDF, RDFS

from kg.errors import NoReleaseError, QueryError, QueryRefused, QueryTimeout, StoreError
from kg.sparql_guard import Analysis, analyze_update, unknown_graphs
from kg.stores import Store
from kg.workers import Admission, EndpointJob, InProcessExecutor, QueryPool, QueryTooLarge, RemoteExecutor, TooManyQueries, WorkersBusy

from . import negotiation as neg
from .errors import error_response

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
FORMATS = Namespace("http://www.w3.org/ns/formats/")
_SD_FORMATS = {
    "json": FORMATS.SPARQL_Results_JSON,
    "xml": FORMATS.SPARQL_Results_XML,
    "csv": FORMATS.SPARQL_Results_CSV,
    "tsv": FORMATS.SPARQL_Results_TSV,
    "turtle": FORMATS.Turtle,
    "nt": FORMATS["N-Triples"],
    "jsonld": FORMATS["JSON-LD"],
    "rdfxml": FORMATS.RDF_XML,
    "nquads": FORMATS["N-Quads"],
    "trig": FORMATS.TriG,
}
_RDFLIB_WRITERS = {"turtle": "turtle", "nt": "nt", "jsonld": "json-ld", "rdfxml": "xml"}
_FORM = "application/x-www-form-urlencoded"
_QUERY = "application/sparql-query"
_UPDATE = "application/sparql-update"
_CORS = {"Access-Control-Allow-Origin": "*"}
_ALLOW = "GET, HEAD, POST, OPTIONS"
QUERY_EDITOR = "/query"


class ProtocolError(Exception):
    """A request the protocol does not allow: status, message and headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


# -- request parsing -----------------------------------------------------------
def _pairs(raw: bytes, where: str) -> list[tuple[str, str]]:
    """Decode URL-encoded pairs exactly once, strictly as UTF-8."""
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=1000)
    except UnicodeDecodeError:
        raise ProtocolError(400, f"the {where} is not valid UTF-8; percent-encode the query as UTF-8") from None
    except ValueError as exc:
        raise ProtocolError(400, f"malformed {where}: {exc}") from None


def _charset_ok() -> None:
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.strip().lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise ProtocolError(415, f"charset {charset!r} is not supported; send the request body as UTF-8 (charset=utf-8)")


def _body_text() -> str:
    try:
        return request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(400, "the request body is not valid UTF-8; send the query as UTF-8") from None


def _read_params() -> dict[str, list[str]]:
    """All protocol parameters of the request: URL query string, then form body or direct body."""
    params: dict[str, list[str]] = {}

    def add(pairs: list[tuple[str, str]]) -> None:
        for key, value in pairs:
            params.setdefault(key, []).append(value)

    add(_pairs(request.query_string, "query string"))
    if request.method != "POST":
        return params
    mimetype = request.mimetype
    if not mimetype:
        if request.content_length or request.get_data(cache=True):
            raise ProtocolError(415, f"missing Content-Type: send {_QUERY}, {_UPDATE} or {_FORM}")
        return params
    if mimetype == _FORM:
        _charset_ok()
        add(_pairs(request.get_data(cache=True), "form body"))
    elif mimetype == _QUERY:
        _charset_ok()
        params.setdefault("query", []).append(_body_text())
    elif mimetype == _UPDATE:
        _charset_ok()
        params.setdefault("update", []).append(_body_text())
    else:
        raise ProtocolError(415, f"unsupported Content-Type {mimetype!r}: send {_QUERY}, {_UPDATE} or {_FORM}")
    return params


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise ProtocolError(400, f"the request has {len(values)} {name!r} parameters; send exactly one")
    return values[0] if values else None


# -- responses -------------------------------------------------------------------
def _error(status: int, message: str, headers: dict[str, str] | None = None, cors: bool = True) -> Any:
    all_headers = dict(headers or {})
    if cors:
        all_headers.update(_CORS)
    return error_response(status, _TITLES.get(status, "Error"), message, all_headers)


def _choose(params: dict[str, list[str]], table: dict[str, str]) -> tuple[str, str]:
    """(format, media type) for the response: ``format=`` first, then Accept."""
    requested = _one(params, "format")
    if requested:
        if requested.strip().lower() not in neg.FORMAT_PARAMS:
            valid = ", ".join(sorted(set(neg.FORMAT_PARAMS)))
            raise ProtocolError(400, f"unknown format={requested!r}; valid values: {valid}")
        fmt = neg.format_param(requested, table)
        if fmt is None:
            offered = ", ".join(sorted(k for k in neg.FORMAT_PARAMS if neg.format_param(k, table)))
            raise ProtocolError(406, f"format={requested!r} cannot express this result; use one of: {offered}")
        return fmt, neg.media_type(fmt)
    chosen = neg.negotiate(request.headers.get("Accept"), table)
    if chosen is None:
        offered = ", ".join(dict.fromkeys(table))
        raise ProtocolError(406, f"none of the accepted media types can express this result; acceptable: {offered}")
    fmt = chosen[1]
    return fmt, neg.media_type(fmt)


_KINDS = (("select", neg.SELECT_TYPES), ("ask", neg.ASK_TYPES), ("graph", neg.GRAPH_TYPES))
#: Format choices per (Accept, format=) pair: clients repeat the same few headers, and
#: negotiating three tables with werkzeug's parser cost about 0.25 ms a query. Bounded:
#: at most this many pairs, each header at most _FORMATS_KEY_CHARS long (longer ones are negotiated each time).
_FORMATS_KEPT = 256
_FORMATS_KEY_CHARS = 512
_formats_kept: dict[tuple[str | None, tuple[str, ...]], tuple[dict[str, tuple[str, str]], dict[str, ProtocolError]]] = {}


def _formats(params: dict[str, list[str]]) -> tuple[dict[str, tuple[str, str]], dict[str, ProtocolError]]:
    """(format and media type per kind of answer, refusal per kind the client accepts in no format)."""
    accept = request.headers.get("Accept")
    key = (accept, tuple(params.get("format") or ()))
    small = (accept is None or len(accept) <= _FORMATS_KEY_CHARS) and sum(map(len, key[1])) <= _FORMATS_KEY_CHARS
    kept = _formats_kept.get(key) if small else None
    if kept is not None:
        return kept
    formats: dict[str, tuple[str, str]] = {}
    refusals: dict[str, ProtocolError] = {}
    for kind, table in _KINDS:
        try:
            formats[kind] = _choose(params, table)
        except ProtocolError as exc:
            refusals[kind] = exc
    if small:
        if len(_formats_kept) >= _FORMATS_KEPT:
            _formats_kept.clear()  # rare: many distinct headers; start again rather than track recency
        _formats_kept[key] = (formats, refusals)
    return formats, refusals


def _send(body: bytes, fmt: str, mimetype: str, params: dict[str, list[str]], extra: dict[str, str] | None = None) -> Response:
    response = Response(body, status=200, content_type=mimetype)
    response.headers["Vary"] = "Accept"
    response.headers.update(_CORS)
    if extra:
        response.headers.update(extra)
    if (_one(params, "download") or "").lower() in ("1", "true", "yes"):
        response.headers["Content-Disposition"] = f'attachment; filename="results.{neg.extension(fmt)}"'
    return response


# -- the endpoint ------------------------------------------------------------------
class SparqlEndpoint:
    """The endpoint's state: the store, an executor, limits and the update token."""

    def __init__(
        self,
        store: Store | str,
        *,
        query_timeout: float = 10.0,
        max_rows: int = 10000,
        update_token: str = "",
        workers: int = 2,
        update_url: str = "",
        gsp_url: str = "",
        client_queries: int = 1,
        queue_timeout: float = 5.0,
        worker_memory: int | None = None,
    ):
        self.query_timeout = float(query_timeout)
        self.max_rows = int(max_rows)
        self._token = update_token or ""
        self.store_url = store if isinstance(store, str) else store.url
        if isinstance(store, str) and store.startswith(("http://", "https://")):
            from kg.stores import open_store

            mode = "write" if self._token else "read"
            store = open_store(store, mode=mode, update_url=update_url or None, gsp_url=gsp_url or None, timeout=self.query_timeout)
        self._store = None if isinstance(store, str) else store
        self.in_process = self._store is not None and not _is_directory(self._store)
        if _is_remote(self._store):
            self.executor: QueryPool | InProcessExecutor | RemoteExecutor = RemoteExecutor(self._store)  # type: ignore[arg-type]
        elif self.in_process:
            self.executor = InProcessExecutor(self._store)  # type: ignore[arg-type]
        else:
            # one worker more than `workers`: the slot Admission keeps for the shipped queries
            memory = worker_memory if worker_memory else None
            self.executor = QueryPool(str(Path(self.store_url).expanduser()), size=workers + 1, timeout=self.query_timeout, memory=memory)
        self.admission = Admission(workers, reserved=1, per_client=client_queries, queue_timeout=min(queue_timeout, self.query_timeout))
        from kg.queries import list_queries

        #: Texts of the shipped named queries: they may use the reserved worker, and their answers
        #: are kept per release (a published release never changes; a few answers per query and format).
        self.shipped = frozenset(named.sparql.strip() for named in list_queries())
        self._answers: dict[tuple[str | None, str], tuple[str, Any]] = {}
        self._answers_lock = threading.Lock()

    def _release(self) -> str | None:
        """The release the query workers serve now (None when answers must not be kept)."""
        if not isinstance(self.executor, QueryPool):
            return None
        try:
            return os.readlink(Path(self.store_url).expanduser() / "current")
        except OSError:
            return None

    @property
    def updates_enabled(self) -> bool:
        return bool(self._token)

    def token_matches(self, provided: str) -> bool:
        return hmac.compare_digest(provided.encode("utf-8"), self._token.encode("utf-8"))

    def start(self) -> None:
        if isinstance(self.executor, QueryPool):
            self.executor.start()

    def isolation_status(self) -> str:
        """One line for start-up: whether the query workers can reach the network ("" when no pool runs)."""
        if not isinstance(self.executor, QueryPool):
            return ""
        if self.executor.network_exposure is None:
            return "query workers have no network access (a network namespace of their own): SERVICE and LOAD reach nothing"
        return (
            f"WARNING: query workers can open network connections ({self.executor.network_exposure}); "
            "the SPARQL guard is the only protection against SERVICE and LOAD (see docs/security.md)"
        )

    def close(self) -> None:
        self.executor.close()

    # -- queries
    def run_query(self, text: str, params: dict[str, list[str]], base: str | None = None) -> Response:
        # the format for each kind of answer, before the worker says which kind this query gives
        formats, refusals = _formats(params)
        default = params.get("default-graph-uri")
        named = params.get("named-graph-uri")
        protocol_dataset = default is not None or named is not None  # overrides the query's FROM
        job = EndpointJob(
            text,
            {kind: chosen[0] for kind, chosen in formats.items()},
            tuple(default or ()) if protocol_dataset else None,
            tuple(named or ()) if protocol_dataset else None,
            self.max_rows,
            base,
        )
        client = request.remote_addr or "unknown"  # the socket peer, or the address a trusted proxy gave (ProxyFix)
        shipped = text.strip() in self.shipped
        key = (self._release(), repr(job)) if shipped else None  # repr: the job holds a dict, it is not hashable
        answer = self._answers.get(key) if key and key[0] else None
        if answer is None:
            with self.admission.slot(client, shipped=shipped) as ticket:
                if isinstance(self.executor, QueryPool):
                    answer = self.executor.run_endpoint(job, timeout=self.query_timeout, cancel=ticket.cancel)
                else:
                    answer = self.executor.run_endpoint(job, timeout=self.query_timeout)
            if key and key[0]:
                with self._answers_lock:
                    self._answers = {k: v for k, v in self._answers.items() if k[0] == key[0]}  # drop older releases
                    self._answers[key] = answer
        kind, outcome = answer
        if outcome is None:
            refused = refusals[kind]  # kept across requests: raise a copy of its own
            raise ProtocolError(refused.status, refused.message, dict(refused.headers))
        fmt, mimetype = formats[kind]
        extra = {}
        if outcome.truncated:
            extra["X-Result-Truncated"] = "true"
            extra["X-Result-Limit"] = str(self.max_rows)
        return _send(outcome.body, fmt, mimetype, params, extra)

    # -- updates
    def run_update(self, text: str, params: dict[str, list[str]], base: str) -> None:
        """Apply an update; relative IRIs resolve against ``base`` (the endpoint's URL)."""
        if params.get("using-graph-uri") is not None or params.get("using-named-graph-uri") is not None:
            analysis = analyze_update(text)
            if analysis.from_graphs or analysis.from_named or analysis.with_graphs:
                raise ProtocolError(
                    400, "using-graph-uri/using-named-graph-uri conflict with USING or WITH in the update; use one or the other"
                )
            raise ProtocolError(
                400, "using-graph-uri and using-named-graph-uri are not supported: write USING <graph> in the update itself"
            )
        analysis = analyze_update(text)
        known = set(self.executor.graph_names(timeout=self.query_timeout))
        missing = unknown_graphs(analysis, known)
        if missing:
            raise QueryRefused(f"USING <{missing[0]}> names no graph of this store; the server never fetches graphs from URLs")
        self._apply_update(analysis.text, analysis, base)  # the checked text, not the one received

    def _apply_update(self, text: str, analysis: Analysis, base: str) -> None:
        from kg.stores.memory import MemoryStore

        if isinstance(self._store, MemoryStore):
            if analysis.from_graphs or analysis.from_named:
                raise QueryRefused(
                    "USING is not supported on a memory: store (rdflib would fetch the graph); use GRAPH in the WHERE clause"
                )
            import warnings

            from rdflib.plugins.sparql.algebra import translateUpdate
            from rdflib.plugins.sparql.parser import parseUpdate
            from rdflib.plugins.sparql.update import evalUpdate

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"Dataset\.(contexts|default_context) is deprecated", category=DeprecationWarning)
                evalUpdate(self._store.dataset, translateUpdate(parseUpdate(text), base))
            return
        if _is_remote(self._store):
            self._store.update(text)  # type: ignore[union-attr]
            return
        if not _is_directory(self._store) and self._store is not None:
            raise StoreError("this store does not accept updates through the endpoint")
        _update_directory_store(self.store_url, text, base)

    # -- service description
    def description(self, endpoint: str) -> Graph:
        g = Graph()
        g.bind("sd", SD)
        g.bind("formats", FORMATS)
        service = URIRef(endpoint)
        g.add((service, RDF.type, SD.Service))
        g.add((service, SD.endpoint, service))
        g.add((service, DCTERMS.title, Literal("tcell-kg SPARQL endpoint")))
        g.add((service, SD.supportedLanguage, SD.SPARQL11Query))
        if self.updates_enabled:
            g.add((service, SD.supportedLanguage, SD.SPARQL11Update))
        g.add((service, SD.feature, SD.UnionDefaultGraph))
        for iri in _SD_FORMATS.values():
            g.add((service, SD.resultFormat, iri))
        g.add(
            (
                service,
                RDFS.comment,
                Literal(
                    f"Read-only unless an update token is configured. SERVICE, LOAD and FROM IRIs outside the store are refused. "
                    f"Queries stop after {self.query_timeout:g} s (503); SELECT results are cut after {self.max_rows} rows "
                    "(header X-Result-Truncated: true)."
                ),
            )
        )
        dataset = BNode()
        default = BNode()
        g.add((service, SD.defaultDataset, dataset))
        g.add((dataset, RDF.type, SD.Dataset))
        g.add((dataset, SD.defaultGraph, default))
        g.add((default, RDF.type, SD.Graph))
        try:
            names = self.executor.graph_names(timeout=self.query_timeout)
        except (NoReleaseError, StoreError, QueryError):
            names = []
        for name in names:
            node = BNode()
            g.add((dataset, SD.namedGraph, node))
            g.add((node, RDF.type, SD.NamedGraph))
            g.add((node, SD.name, URIRef(name)))
        return g


def _is_remote(store: Any) -> bool:
    return store is not None and store.is_remote


def _is_directory(store: Any) -> bool:
    """An embedded store: releases in a folder on this machine, served by query worker processes."""
    return store is not None and store.local_root() is not None


def _update_directory_store(url: str, text: str, base: str) -> None:
    """Apply an update to the work store, then publish it as a new release
    (the query workers follow ``current`` on their next query)."""
    from kg import KnowledgeGraph

    with KnowledgeGraph.open(url, mode="write") as kg:
        store = kg.store.store  # type: ignore[attr-defined]
        kg.store.begin_changes()  # an update may touch any graph: the next publish recomputes its views in full
        try:
            store.update(text, base_iri=base)
        except SyntaxError as exc:
            from kg.stores.oxigraph import syntax_message

            raise QueryError(f"SPARQL Update syntax error: {syntax_message(exc)}") from None
        except OSError:
            raise StoreError("the update could not be written") from None
        except (ValueError, RuntimeError) as exc:
            raise QueryError(f"update failed: {' '.join(str(exc).split())[:300]}") from None
        kg.publish()


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def sparql_blueprint(endpoint: SparqlEndpoint, *, name: str = "sparql", url: str = "/sparql") -> Blueprint:
    """A blueprint serving ``endpoint`` at ``url``: mount it in any Flask app."""
    bp = Blueprint(name, __name__)

    @bp.route(url, methods=["GET", "POST", "OPTIONS"], provide_automatic_options=False, endpoint="endpoint")
    def sparql() -> Any:
        if request.method == "OPTIONS":
            return _preflight()
        is_update = False
        try:
            params = _read_params()
            is_update = "update" in params
            query = _one(params, "query")
            update = _one(params, "update")
            if query is not None and update is not None:
                raise ProtocolError(400, "send either a query or an update, not both")
            if update is not None:
                return _handle_update(update, params)
            if query is None:
                if request.method == "POST":
                    raise ProtocolError(
                        400, "missing query: send the query as the 'query' parameter or as an application/sparql-query body"
                    )
                return _describe(params)
            return endpoint.run_query(query, params, url_for(f"{bp.name}.endpoint", _external=True))
        except ProtocolError as exc:
            return _error(exc.status, exc.message, exc.headers, cors=not is_update)
        except QueryTimeout as exc:
            return _error(503, str(exc), {"Retry-After": "5"})
        except WorkersBusy as exc:
            return _error(503, str(exc), {"Retry-After": str(exc.retry_after)})
        except TooManyQueries as exc:
            return _error(429, str(exc), {"Retry-After": str(exc.retry_after)})
        except QueryTooLarge as exc:
            return _error(503, str(exc))
        except QueryRefused as exc:
            return _error(403, str(exc))
        except NoReleaseError:
            return _error(503, "the graph has not been published yet: run `tkg build`")
        except QueryError as exc:
            return _error(400, str(exc))
        except StoreError as exc:
            current_app.logger.error("SPARQL endpoint store error: %s", exc)
            return _error(503, "the graph store is not available; try again shortly")

    @bp.route(url, methods=["PUT", "DELETE", "PATCH"], endpoint="not_allowed")
    def not_allowed() -> Any:
        return _error(
            405, f"{request.method} is not part of the SPARQL protocol: query with GET or POST, update with POST", {"Allow": _ALLOW}
        )

    def _preflight() -> Response:
        response = Response(status=204)
        response.headers.update(_CORS)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Accept, Content-Type"  # no Authorization: updates are not cross-origin
        response.headers["Access-Control-Max-Age"] = "86400"
        response.headers["Allow"] = _ALLOW
        return response

    def _handle_update(text: str, params: dict[str, list[str]]) -> Any:
        if request.method != "POST":
            raise ProtocolError(400, "updates must be sent with POST (form parameter 'update' or an application/sparql-update body)")
        if not endpoint.updates_enabled:
            return _error(403, "this endpoint is read-only: SPARQL Update is disabled (set an update token to enable it)", cors=False)
        provided = _bearer()
        if provided is None:
            return _error(
                401,
                "SPARQL Update needs the update token as 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": 'Bearer realm="tcell-kg"'},
                cors=False,
            )
        if not endpoint.token_matches(provided):
            return _error(403, "the update token is not valid", cors=False)
        try:
            endpoint.run_update(text, params, url_for(f"{bp.name}.endpoint", _external=True))
        except QueryRefused as exc:
            return _error(403, str(exc), cors=False)
        except QueryError as exc:
            return _error(400, str(exc), cors=False)
        return Response(status=204)

    def _describe(params: dict[str, list[str]]) -> Any:
        table = {**neg.DESCRIPTION_TYPES, "text/html": "html", "application/xhtml+xml": "html"}
        chosen = neg.negotiate(request.headers.get("Accept"), table)
        requested = _one(params, "format")
        if requested:
            fmt, mimetype = _choose(params, neg.DESCRIPTION_TYPES)
        elif chosen is None:
            raise ProtocolError(406, f"the service description is available as: {', '.join(table)}")
        else:
            mimetype, fmt = chosen
            if fmt == "html":
                return _editor_link()
            mimetype = neg.media_type(fmt)
        graph = endpoint.description(url_for(f"{bp.name}.endpoint", _external=True))
        body = graph.serialize(format=_RDFLIB_WRITERS[fmt], encoding="utf-8")
        return _send(body, fmt, mimetype, params)

    def _editor_link() -> Any:
        if any(rule.rule == QUERY_EDITOR and "GET" in (rule.methods or ()) for rule in current_app.url_map.iter_rules()):
            response = redirect(QUERY_EDITOR, code=303)  # the app serves the editor (web/query.py)
        else:
            html = (
                "<!doctype html><html lang=en><head><meta charset=utf-8><title>SPARQL endpoint · tcell-kg</title></head>"
                f'<body><h1>SPARQL endpoint</h1><p>Write queries in the <a href="{QUERY_EDITOR}">query editor</a>, or send them here '
                "with the SPARQL 1.1 Protocol (<code>?query=</code>). The service description is available as "
                '<a href="?format=ttl">Turtle</a> and <a href="?format=jsonld">JSON-LD</a>.</p></body></html>'
            )
            response = Response(html, content_type="text/html; charset=utf-8")
            response.headers["Link"] = f'<{QUERY_EDITOR}>; rel="alternate"; type="text/html"'
        response.headers["Vary"] = "Accept"
        return response

    return bp


def make_blueprint(app: Flask) -> Blueprint:
    """The endpoint for :func:`web.create_app`: over the app's ``TKG_GRAPH`` if
    given (tests), else over the store URL of the settings."""
    settings = app.config["TKG"]
    graph = app.config.get("TKG_GRAPH")
    store: Store | str = graph.store if graph is not None else settings.store
    endpoint = SparqlEndpoint(
        store,
        query_timeout=settings.query_timeout,
        max_rows=settings.max_rows,
        update_token=settings.update_token,
        workers=settings.workers,
        update_url=settings.update_url,
        gsp_url=settings.gsp_url,
        client_queries=settings.client_queries,
        queue_timeout=settings.queue_timeout,
        worker_memory=settings.worker_memory,
    )
    app.extensions["tkg_sparql"] = endpoint
    return sparql_blueprint(endpoint)


def get_endpoint(app: Flask) -> SparqlEndpoint:
    """The app's endpoint (to start its workers up front, or close them)."""
    return app.extensions["tkg_sparql"]
