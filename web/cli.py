"""`tkg serve`: serve the published graph over HTTP."""

from __future__ import annotations

import click

from kg.cli.common import store_option
from kg.config import resolve


@click.command()
@store_option
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1; TKG_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 5000; TKG_PORT).")
def serve(store: str, host: str | None, port: int | None) -> None:
    """Serve the published graph: dashboard, SPARQL endpoint, pages and downloads."""
    from . import create_app

    settings = resolve({"store": store, "host": host, "port": port})
    app = create_app({"store": settings.store, "host": settings.host, "port": settings.port})
    click.echo(f"serving {settings.store} on http://{settings.host}:{settings.port}/")
    app.run(host=settings.host, port=settings.port, threaded=True)
