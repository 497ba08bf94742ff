"""`tkg serve`: serve the published graph over HTTP with waitress (:mod:`web.server`).

One process: waitress's event loop reads every request whole before one of
its threads runs the app (slow clients cost a socket, not a thread); SPARQL
queries go to the query worker pool (:mod:`kg.workers`), started once in this
process before the first request and stopped when it exits.
"""

from __future__ import annotations

from typing import Any

import click

from kg.cli.common import store_option
from kg.config import SETTINGS, resolve

_HELP = {s.name: s for s in SETTINGS}


def _setting_help(name: str, extra: str = "") -> str:
    setting = _HELP[name]
    default = setting.default if setting.default != "" else "empty"
    return f"{setting.help.rstrip('.')}{extra} (default {default}; {setting.env})."


def threads_for(workers: int) -> int:
    """HTTP threads: the queries running (workers + 1) and waiting (at most 4 x workers, kg.workers.Admission)
    still leave threads for pages."""
    return max(16, 8 * workers)


def server_options(settings: Any) -> dict[str, Any]:
    from .server import server_options as options

    return options(
        settings.host,
        settings.port,
        threads=threads_for(settings.workers),
        max_body=settings.max_body,
        request_timeout=settings.request_timeout,
        connections=settings.connections,
    )


def run_server(app: Any, settings: Any) -> None:
    from . import server
    from .sparql import get_endpoint

    endpoint = get_endpoint(app)

    def on_start() -> None:
        endpoint.start()  # the pool lives in the serving process, started once
        app.config["TKG_BACKGROUND_DOWNLOADS"] = True  # never build every export in a request thread
        with app.app_context():
            from .state import get_graph

            try:
                app.extensions["tkg_downloads"].start(get_graph())
            except Exception as exc:  # noqa: BLE001 - no release yet, or a store error: pages say so
                server.log.warning("downloads not prepared at start-up: %s", exc)
        status = endpoint.isolation_status()
        if status:
            (server.log.info if status.startswith("query workers have no network") else server.log.warning)(status)

    def on_stop() -> None:
        app.extensions["tkg_downloads"].close()
        endpoint.close()

    server.run(app, server_options(settings), settings.request_timeout, on_start=on_start, on_stop=on_stop)


@click.command()
@store_option
@click.option("--host", default=None, help=_setting_help("host"))
@click.option("--port", type=int, default=None, help=_setting_help("port"))
@click.option("--workers", type=int, default=None, help=_setting_help("workers", "; each holds the published release open read-only"))
@click.option(
    "--timeout",
    "query_timeout",
    type=float,
    default=None,
    help=_setting_help("query_timeout", "; a query past it gets 503 and its worker is replaced"),
)
@click.option(
    "--update-url", default=None, help="SPARQL Update endpoint of a remote --store, when it differs from the store URL (TKG_UPDATE_URL)."
)
@click.option(
    "--gsp-url", default=None, help="Graph Store Protocol endpoint of a remote --store, when it differs from the store URL (TKG_GSP_URL)."
)
@click.option("--base-url", default=None, help=_setting_help("base_url"))
@click.option(
    "--dev",
    is_flag=True,
    help="Use Flask's development server instead of waitress (debugging only: not for production).",
)
def serve(
    store: str,
    host: str | None,
    port: int | None,
    workers: int | None,
    query_timeout: float | None,
    update_url: str | None,
    gsp_url: str | None,
    base_url: str | None,
    dev: bool,
) -> None:
    """Serve the published graph: dashboard, SPARQL endpoint, pages and downloads.

    Runs waitress in one process that owns a pool of query worker processes:
    requests are read whole before a thread runs them (a request must arrive
    within TKG_REQUEST_TIMEOUT seconds), and a query past the time limit is
    stopped by killing its worker.
    With an http(s) --store, queries are forwarded to that SPARQL server and
    the process keeps no graph state (run as many as the server allows).
    """
    from . import create_app
    from .sparql import get_endpoint

    overrides = {"store": store, "host": host, "port": port, "workers": workers, "query_timeout": query_timeout}
    overrides |= {"update_url": update_url, "gsp_url": gsp_url, "base_url": base_url}
    settings = resolve(overrides)
    if not settings.base_url:  # absolute links never come from the request's Host header
        shown = f"[{settings.host}]" if ":" in settings.host else settings.host
        settings["base_url"] = overrides["base_url"] = f"http://{shown}:{settings.port}/"
    app = create_app({k: settings[k] for k in overrides})
    limits = f"{settings.workers} query workers, {settings.query_timeout:g} s limit"
    click.echo(f"serving {settings.store} on http://{settings.host}:{settings.port}/ ({limits})")
    if dev:
        endpoint = get_endpoint(app)
        endpoint.start()
        if endpoint.isolation_status():
            click.echo(endpoint.isolation_status(), err=True)
        try:
            app.run(host=settings.host, port=settings.port, threaded=True)
        finally:
            endpoint.close()
        return
    run_server(app, settings)
