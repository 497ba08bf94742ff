"""The HTTP server of `tkg serve`: waitress, hardened against slow clients.

Why waitress (issue 13): gunicorn's ``gthread`` worker handed a connection to a
thread before the request had arrived, so eight sockets that sent half a
request line (or a POST body at less than a byte a second, or never read a
large download) held every thread and the whole site stopped answering.
Waitress reads each request (headers and body, bodies beyond 512 KB spooled
to a temporary file) in its event loop and only hands *complete* requests to
its threads; responses are buffered and written by the event loop too, so a
client that does not read costs a socket, not a thread.

Two things waitress lacks are added here (``TkgServer``, ``TkgChannel``):

* **a deadline for the whole request**: waitress closes a connection that is
  silent for ``channel_timeout`` seconds, but a client sending a byte every
  few seconds is never silent that long; here a request must arrive whole
  within ``request_timeout`` seconds of its first byte or the connection is
  closed;
* **a response nobody reads**: a response larger than waitress's high-water
  mark (16 MB) makes the app's thread wait for the client; a connection whose
  client has not read for ``request_timeout`` seconds is closed, which frees
  the thread;
* **security headers on the responses waitress writes itself** (400 on bad
  headers, 413, 431, 500): the same ``Content-Security-Policy``, ``nosniff``
  and ``X-Frame-Options`` as the app's.

The access log (one line per request, Apache combined format without any
request header but Referer and User-Agent) never holds ``Authorization``.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask

from .security import STATIC_HEADERS, content_security_policy

log = logging.getLogger("tkg.server")
access = logging.getLogger("tkg.access")


def security_headers() -> list[tuple[str, str]]:
    return [("Content-Security-Policy", content_security_policy()), *STATIC_HEADERS.items()]


class TkgErrorTask(ErrorTask):
    """Waitress's own error responses (400, 413, 431, 500), with the app's security headers."""

    def execute(self) -> None:  # waitress's ErrorTask.execute, with the headers added before the write
        status, headers, body = self.request.error.to_response(self.channel.server.adj.ident)
        self.status = status
        self.response_headers.extend(headers)
        present = {name.lower() for name, _ in self.response_headers}
        self.response_headers.extend((n, v) for n, v in security_headers() if n.lower() not in present)
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class TkgChannel(HTTPChannel):
    """A connection that remembers when its current request began to arrive."""

    error_task_class = TkgErrorTask
    request_started: float | None = None

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_started = time.monotonic()
        result = super().received(data)
        if self.request is None:
            self.request_started = None  # complete (handed to a thread) or nothing pending
        elif self.request_started is None:
            self.request_started = time.monotonic()  # a pipelined request began in this chunk
        return result


class TkgServer(TcpWSGIServer):
    channel_class = TkgChannel
    request_timeout: float = 30.0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # connections silent for channel_timeout
        mono = time.monotonic()
        stalled = now - self.adj.channel_timeout
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "request_started", None)
            if started is not None and mono - started > self.request_timeout:
                channel.will_close = True  # the request did not arrive whole in time
            elif channel.requests and channel.total_outbufs_len > self.adj.outbuf_high_watermark and channel.last_activity < stalled:
                channel.will_close = True  # a thread waits for a client that does not read
                channel.server.pull_trigger()


class AccessLog:
    """WSGI middleware: one access-log line per request, no request headers but Referer and User-Agent."""

    def __init__(self, app: Callable[..., Iterable[bytes]], logger: logging.Logger = access):
        self.app = app
        self.logger = logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.monotonic()
        seen: dict[str, Any] = {}

        def recording_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status.split(" ", 1)[0]
            seen["length"] = next((v for n, v in headers if n.lower() == "content-length"), "-")
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return self.app(environ, recording_start)
        finally:
            self.logger.info(access_line(environ, seen.get("status", "-"), seen.get("length", "-"), time.monotonic() - started))


def access_line(environ: dict[str, Any], status: str, length: str, seconds: float) -> str:
    path = environ.get("PATH_INFO", "")
    if environ.get("QUERY_STRING"):
        path += "?" + environ["QUERY_STRING"]
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime())
    request_line = f"{environ.get('REQUEST_METHOD', '-')} {path} {environ.get('SERVER_PROTOCOL', '-')}"

    def quoted(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return (
        f'{environ.get("REMOTE_ADDR", "-")} - - [{stamp}] "{quoted(request_line)}" {status} {length} '
        f'"{quoted(environ.get("HTTP_REFERER", "-"))}" "{quoted(environ.get("HTTP_USER_AGENT", "-"))}" {seconds:.3f}'
    )


def server_options(host: str, port: int, *, threads: int, max_body: int, request_timeout: float, connections: int) -> dict[str, Any]:
    """Waitress adjustments for `tkg serve` (see docs/configuration.md)."""
    return {
        "host": host,
        "port": port,
        "threads": threads,
        "connection_limit": connections,
        # a connection silent this long is closed (waitress's own timer; also keep-alive idle time)
        "channel_timeout": max(1, int(request_timeout)),
        "cleanup_interval": 1,  # how often the deadlines above are checked
        # bodies a little over max_body still reach the app (its 413 in the error shape);
        # far larger ones are refused by waitress from the Content-Length alone
        "max_request_body_size": max_body + 65536,
        "ident": "tcell-kg",
        "expose_tracebacks": False,
        "log_untrusted_proxy_headers": False,
        "asyncore_use_poll": True,  # select() stops at file descriptor 1024; poll() does not
    }


def make_server(app: Any, options: dict[str, Any], request_timeout: float) -> TkgServer:
    from waitress.adjustments import Adjustments

    server = TkgServer(AccessLog(app), adj=Adjustments(**options))
    server.request_timeout = request_timeout
    return server


def run(app: Any, options: dict[str, Any], request_timeout: float, *, on_start: Callable[[], None], on_stop: Callable[[], None]) -> None:
    """Serve until SIGINT or SIGTERM; ``on_start`` runs in this process before the first request."""
    if not access.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    on_start()
    server = make_server(app, options, request_timeout)

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)  # waitress's loop ends on SystemExit and shuts its threads down

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        log.info("listening on http://%s:%s/", server.effective_host, server.effective_port)
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
        server.task_dispatcher.shutdown()
        on_stop()
