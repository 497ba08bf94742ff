"""`tkg serve`: serve the published graph over HTTP with gunicorn.

One gunicorn process with threads (``gthread``) answers requests; SPARQL
queries are dispatched to the query worker pool (:mod:`kg.workers`), which is
started once in that process after it is forked and stopped when it exits.
"""

from __future__ import annotations

from typing import Any

import click

from kg.cli.common import store_option
from kg.config import SETTINGS, resolve

_HELP = {s.name: s for s in SETTINGS}


def _setting_help(name: str, extra: str = "") -> str:
    setting = _HELP[name]
    return f"{setting.help.rstrip('.')}{extra} (default {setting.default}; {setting.env})."


def threads_for(workers: int) -> int:
    """HTTP threads: enough to keep every query worker busy and still answer pages."""
    return max(8, 4 * workers)


def gunicorn_options(host: str, port: int, workers: int, query_timeout: float) -> dict[str, Any]:
    return {
        "bind": f"{host}:{port}",
        "workers": 1,  # one process: it owns the query worker pool
        "worker_class": "gthread",
        "threads": threads_for(workers),
        # gunicorn restarts a worker that stops answering its heartbeat; queries
        # are bounded by the pool's time limit, so this only catches real hangs.
        "timeout": int(query_timeout) + 30,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "control_socket_disable": True,  # no admin socket in the user's home directory
    }


def run_gunicorn(app: Any, options: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication

    from .sparql import get_endpoint

    def post_worker_init(worker: Any) -> None:
        endpoint = get_endpoint(app)
        endpoint.start()  # the pool lives in the serving process, started once
        status = endpoint.isolation_status()
        if status:
            (worker.log.info if status.startswith("query workers have no network") else worker.log.warning)(status)

    def worker_exit(server: Any, worker: Any) -> None:
        get_endpoint(app).close()

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            self.cfg.set("post_worker_init", post_worker_init)
            self.cfg.set("worker_exit", worker_exit)

        def load(self) -> Any:
            return app

    Server().run()


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
    help="Use Flask's development server instead of gunicorn (debugging only: single process, not for production).",
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

    Runs gunicorn (threads) in one process that owns a pool of query worker
    processes; a query past the time limit is stopped by killing its worker.
    With an http(s) --store, queries are forwarded to that SPARQL server and
    the process keeps no graph state (run as many as the server allows).
    """
    from . import create_app
    from .sparql import get_endpoint

    overrides = {"store": store, "host": host, "port": port, "workers": workers, "query_timeout": query_timeout}
    overrides |= {"update_url": update_url, "gsp_url": gsp_url, "base_url": base_url}
    settings = resolve(overrides)
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
    run_gunicorn(app, gunicorn_options(settings.host, settings.port, settings.workers, settings.query_timeout))
