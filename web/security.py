"""Web hardening for every response of the app, registered by :func:`init_security`.

* **Security headers** on every response: a Content-Security-Policy that
  allows only this origin (``default-src 'self'``, no inline scripts or
  styles, ``frame-ancestors 'none'``), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy``, ``X-Frame-Options`` for older browsers and
  ``Cross-Origin-Opener-Policy``. A template that really needs an inline
  ``<script>`` or ``<style>`` element writes ``nonce="{{ csp_nonce() }}"`` on
  it: the nonce is made once per request and added to the policy only for
  responses that used it.
* **Request body size**: a body whose declared length is over ``max_body``
  gets ``413`` on every route, before any view reads it (bodies without a
  length are cut by Werkzeug's stream limit, also ``413``).
* **Rate limit** on ``/sparql``: a token bucket per client address
  (``rate_limit`` setting, e.g. ``60/minute``; ``0`` or empty disables it).
  A client over it gets ``429`` with ``Retry-After``, in the app's one error
  shape. The address is the socket peer, or the one set by
  ``trusted_proxies`` reverse proxies in ``X-Forwarded-For`` (never a header
  a client can forge when no proxy is trusted).

* **Absolute links from the configured base URL**: with ``base_url`` set
  (``tkg serve`` sets it from the bind address unless given), the request's
  ``Host`` header is replaced by it before the app runs, so ``/void``
  dataDump links, ``url_for(_external=True)`` and redirect ``Location``s never
  repeat what a client wrote in ``Host``.
* **Downloads built in the background** (``tkg serve``): the first request
  for the downloads of a new release used to build every export in its
  request thread (minutes at 100,000 studies, one thread per impatient
  client). Under ``tkg serve`` the exports are built once, in one background
  process (low priority), at start-up and when a new release appears; meanwhile the
  downloads routes answer ``503`` with ``Retry-After``.

Nothing here logs request headers, so the update token is never logged.
"""

from __future__ import annotations

import io
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flask import Flask, Response, abort, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from kg.config import Settings
from kg.errors import ConfigError

from .errors import error_response

#: Endpoints (Flask endpoint names) the rate limit applies to.
RATE_LIMITED_ENDPOINTS = frozenset({"sparql.endpoint"})

#: The Content-Security-Policy of every response; ``{nonce}`` is filled in for
#: responses whose template called ``csp_nonce()``.
CSP_DIRECTIVES: tuple[tuple[str, str], ...] = (
    ("default-src", "'self'"),
    ("script-src", "'self'{nonce}"),
    ("style-src", "'self'{nonce}"),
    ("img-src", "'self' data:"),
    ("connect-src", "'self'"),
    ("object-src", "'none'"),
    ("base-uri", "'none'"),
    ("form-action", "'self'"),
    ("frame-ancestors", "'none'"),
)

STATIC_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+?)s?\s*$", re.I)


# -- rate limit ------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """``requests`` per ``period`` seconds (also the burst a client may send at once)."""

    requests: int
    period: float

    @property
    def per_second(self) -> float:
        return self.requests / self.period


def parse_rate(spec: str | int | None) -> Rate | None:
    """``"60/minute"``, ``"10/s"``, ``"1000 per hour"``, ``"5/10s"`` -> Rate;
    ``0``, ``"0"``, empty or ``"off"`` -> None (no limit)."""
    text = str(spec if spec is not None else "").strip().lower()
    if text in ("", "0", "off", "none", "disabled"):
        return None
    match = _RATE.match(text)
    if not match or match.group(3) not in _UNITS:
        raise ConfigError(f"invalid rate limit {spec!r}", expected='"<requests>/<second|minute|hour|day>", e.g. "60/minute"; 0 disables it')
    requests = int(match.group(1))
    if requests == 0:
        return None
    period = _UNITS[match.group(3)] * (int(match.group(2)) if match.group(2) else 1)
    if period <= 0:
        raise ConfigError(f"invalid rate limit {spec!r}: the period must be positive", expected='e.g. "60/minute"')
    return Rate(requests, period)


class RateLimiter:
    """Token buckets per key, in process and thread-safe. Each bucket holds at
    most ``rate.requests`` tokens and refills at ``rate.per_second``; memory is
    bounded by dropping the least recently seen keys beyond ``max_keys``."""

    def __init__(self, rate: Rate, *, max_keys: int = 10_000, clock=time.monotonic):
        self.rate = rate
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        capacity = float(self.rate.requests)
        with self._lock:
            tokens, seen = self._buckets.pop(key, (capacity, now))
            tokens = min(capacity, tokens + (now - seen) * self.rate.per_second)
            if tokens >= 1.0:
                tokens -= 1.0
                wait = 0.0
            else:
                wait = (1.0 - tokens) / self.rate.per_second
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


# -- CSP nonce -------------------------------------------------------------------
def csp_nonce() -> str:
    """The current request's CSP nonce (made on first use)."""
    nonce = g.get("_csp_nonce")
    if nonce is None:
        nonce = secrets.token_urlsafe(18)
        g._csp_nonce = nonce
    return nonce


def content_security_policy(nonce: str | None = None) -> str:
    extra = f" 'nonce-{nonce}'" if nonce else ""
    return "; ".join(f"{name} {value.format(nonce=extra)}" for name, value in CSP_DIRECTIVES)


# -- body size -------------------------------------------------------------------
def _buffer_chunked_body(max_body: int) -> None:
    """Read a chunked body (no Content-Length) up to ``max_body`` bytes, or refuse it.

    Werkzeug's own limit on such a stream stops reading at ``max_body`` bytes
    without an error, so a view would silently get a truncated body (a
    truncated query or update). Here the body is read once, refused with 413
    if it is longer, and otherwise handed on as a finite buffer."""
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= max_body:
        chunk = stream.read(max_body + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > max_body:
        abort(413, description=f"the request body is over the limit of {max_body} bytes (max_body)")
    data = b"".join(chunks)
    request.environ["wsgi.input"] = io.BytesIO(data)
    request.environ["wsgi.input_terminated"] = True  # a finite buffer now: Werkzeug may read it to the end


# -- base URL ----------------------------------------------------------------------------
class BaseUrl:
    """WSGI middleware: the scheme and host of every request come from ``base_url`` (its path is not a
    mount point: the app's own links stay root-relative; a proxy that mounts it elsewhere says so itself)."""

    def __init__(self, app, base_url: str):
        import urllib.parse

        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(f"invalid base_url {base_url!r}", expected="an http(s) URL such as https://kg.example.org/ (no query)")
        self.app = app
        self.scheme = parts.scheme
        self.host = parts.netloc
        self.server_name = parts.hostname or ""
        self.server_port = str(parts.port or (443 if parts.scheme == "https" else 80))

    def __call__(self, environ, start_response):
        environ["HTTP_HOST"] = self.host
        environ["wsgi.url_scheme"] = self.scheme
        environ["SERVER_NAME"] = self.server_name
        environ["SERVER_PORT"] = self.server_port
        return self.app(environ, start_response)


# -- downloads, built once in the background --------------------------------------------
#: Routes that would build every export of a release on first use (web/pages.py).
DOWNLOAD_ENDPOINTS = frozenset({"pages.download", "pages.downloads_page", "pages.downloads_json"})
DOWNLOADS_RETRY_AFTER = 30


class DownloadBuilder:
    """Builds a release's downloads in one background thread; ``ready()`` never builds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: set[str] = set()
        self._building: dict[str, threading.Thread] = {}

    def ready(self, graph) -> bool:
        from kg.views import downloads as dl
        from kg.views.cache import release_key

        release = release_key(graph, exact=True)
        if release in self._ready:
            return True
        if dl.is_built(graph, release):
            with self._lock:
                self._ready.add(release)
            return True
        self.start(graph, release)
        return False

    def start(self, graph, release: str | None = None) -> None:
        """Build the downloads of ``release`` in a separate process (one at a time per release).

        A process, not a thread: the exporters are Python (rdflib, networkx) and would hold the
        serving process's GIL for minutes at 10,000 studies, stalling every page."""
        import multiprocessing

        from kg.views.cache import release_key

        release = release or release_key(graph, exact=True)
        url = getattr(graph.store, "url", None)
        if not isinstance(url, str) or url.startswith("memory:"):
            return  # nothing another process can open: the downloads view builds on first use
        with self._lock:
            process = self._building.get(release)
            if process is not None and process.is_alive():
                return
            if process is not None:
                process.join(0)
            process = multiprocessing.get_context("spawn").Process(
                target=_build_downloads, args=(url,), name=f"tkg-downloads-{release}", daemon=True
            )
            self._building[release] = process
            process.start()

    def close(self) -> None:
        with self._lock:
            for process in self._building.values():
                if process.is_alive():
                    process.kill()
                process.join(5)
            self._building.clear()


def _build_downloads(url: str) -> None:
    """In a process of its own, at low priority: write every export of the current release."""
    import contextlib
    import logging
    import os

    from kg import KnowledgeGraph
    from kg.views.downloads import downloads

    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    try:
        with KnowledgeGraph.open(url, mode="read") as kg:
            downloads(kg)
    except Exception as exc:  # noqa: BLE001 - logged; the next request starts a new attempt
        logging.getLogger(__name__).error("building the downloads failed: %s", exc)


# -- registration ------------------------------------------------------------------
def init_security(app: Flask, settings: Settings) -> None:
    """Security headers, body limit and rate limit for ``app`` (call before blueprints)."""
    rate = parse_rate(settings.rate_limit)
    limiter = RateLimiter(rate) if rate else None
    app.extensions["tkg_rate_limiter"] = limiter
    hops = int(settings.trusted_proxies)
    if hops < 0:
        raise ConfigError(f"invalid value {hops} for setting trusted_proxies", expected="0 or the number of reverse proxies in front")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)  # type: ignore[method-assign]
    if str(settings.get("base_url", "") or ""):
        app.wsgi_app = BaseUrl(app.wsgi_app, str(settings.base_url))  # type: ignore[method-assign]
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    max_body = int(settings.max_body)

    @app.before_request
    def _limit_body() -> None:
        length = request.content_length
        if length is not None and max_body and length > max_body:
            abort(413, description=f"the request body is {length} bytes; the limit is {max_body} bytes (max_body)")
        if length is None and max_body and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            _buffer_chunked_body(max_body)

    @app.before_request
    def _rate_limit():
        if limiter is None or request.endpoint not in RATE_LIMITED_ENDPOINTS or request.method == "OPTIONS":
            return None
        wait = limiter.acquire(request.remote_addr or "unknown")
        if wait <= 0.0:
            return None
        retry = max(1, math.ceil(wait))
        message = (
            f"too many requests: this endpoint allows {limiter.rate.requests} requests per {limiter.rate.period:g} s "
            f"per client; retry after {retry} s"
        )
        return error_response(429, "Too Many Requests", message, {"Retry-After": str(retry), "Access-Control-Allow-Origin": "*"})

    builder = DownloadBuilder()
    app.extensions["tkg_downloads"] = builder

    @app.before_request
    def _downloads_ready():
        if not app.config.get("TKG_BACKGROUND_DOWNLOADS") or request.endpoint not in DOWNLOAD_ENDPOINTS:
            return None
        from .state import get_graph

        if builder.ready(get_graph()):
            return None
        message = f"the downloads of this release are being prepared; retry after {DOWNLOADS_RETRY_AFTER} s"
        return error_response(503, "Service Unavailable", message, {"Retry-After": str(DOWNLOADS_RETRY_AFTER)})

    @app.after_request
    def _headers(response: Response) -> Response:
        policy = content_security_policy(g.get("_csp_nonce"))
        extra_styles = g.get("csp_style_hashes")  # a page may allow fixed style texts by hash (the query editor)
        if extra_styles and response.mimetype == "text/html":
            policy = "; ".join(f"{part} {' '.join(extra_styles)}" if part.startswith("style-src ") else part for part in policy.split("; "))
        response.headers["Content-Security-Policy"] = policy
        for name, value in STATIC_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
