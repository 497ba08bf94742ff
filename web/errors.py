"""One error shape for the whole app, produced by one handler.

JSON clients get ``{"ok": false, "status": 404, "title": "Not Found",
"error": "message"}``; browsers get the same fields rendered as a page.
Messages say how to fix the problem and never contain tracebacks or paths.
"""

from __future__ import annotations

from flask import Flask, jsonify, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from kg.errors import NoReleaseError, QueryError, StoreError, TkgError

from .negotiation import prefers_html


def error_response(status: int, title: str, message: str, headers: dict[str, str] | None = None):
    body = {"ok": False, "status": status, "title": title, "error": message}
    if prefers_html():
        response = render_template("error.html", **body), status
    else:
        response = jsonify(body), status
    if headers:
        return (*response, headers)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after", "www-authenticate")}
        return error_response(exc.code or 500, exc.name, message, headers)

    @app.errorhandler(QueryError)
    def query_error(exc: QueryError):
        return error_response(400, "Bad Request", str(exc))

    @app.errorhandler(NoReleaseError)
    def no_release(exc: NoReleaseError):
        return error_response(503, "Service Unavailable", "the graph has not been built yet: run `tkg build`")

    @app.errorhandler(StoreError)
    def store_error(exc: StoreError):
        app.logger.error("store error: %s", exc)
        return error_response(503, "Service Unavailable", "the graph store is not available")

    @app.errorhandler(TkgError)
    def tkg_error(exc: TkgError):
        return error_response(400, "Bad Request", str(exc))

    @app.errorhandler(InternalServerError)
    def internal(exc: InternalServerError):
        app.logger.error("internal error: %s", getattr(exc, "original_exception", exc))
        return error_response(500, "Internal Server Error", "something went wrong on our side; the error was logged")
