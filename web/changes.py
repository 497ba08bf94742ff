"""What changed: ``/changes`` (HTML, or JSON by ``.json`` or Accept) and the Atom feed of releases.

The entries are the changelog that ``tkg update`` writes (:mod:`kg.diff`), read
from the state folder of the served store; links in the feed are absolute,
built from the ``base_url`` setting (default: ``http://HOST:PORT/``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from lxml import etree

from kg.diff import changelog
from kg.watch import state_dir

ATOM = "http://www.w3.org/2005/Atom"
#: Entries shown and items listed per kind in each entry of the HTML page.
MAX_ENTRIES = 20
MAX_ITEMS = 50


def base_url() -> str:
    settings = current_app.extensions["tkg_settings"]
    if settings.base_url:
        return settings.base_url.rstrip("/") + "/"
    return f"http://{settings.host}:{settings.port}/"


def entries() -> list[dict[str, Any]]:
    settings = current_app.extensions["tkg_settings"]
    return changelog(state_dir(settings.store, settings.state_dir or None), MAX_ENTRIES)


def atom(items: list[dict[str, Any]], base: str) -> bytes:
    """An Atom 1.0 feed (RFC 4287): one entry per release, newest first."""
    E = lambda tag, text=None, **attrs: _element(tag, text, attrs)  # noqa: E731
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    updated = items[0]["date"] if items else dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc).isoformat()
    for child in (E("id", base + "changes"), E("title", "tcell-kg: what changed in each release"), E("updated", updated),
                  E("link", href=base + "changes.atom", rel="self", type="application/atom+xml"),
                  E("link", href=base + "changes", rel="alternate", type="text/html")):
        feed.append(child)
    author = E("author")
    author.append(E("name", "tcell-kg"))
    feed.append(author)
    for item in items:
        entry = E("entry")
        release = item["release"]
        for child in (E("id", f"{base}changes#{release}"), E("title", f"Release {release}"), E("updated", item["date"]),
                      E("link", href=f"{base}changes#{release}", rel="alternate", type="text/html"),
                      E("summary", item.get("summary", ""))):
            entry.append(child)
        added = item["diff"]["studies"]["added"][:MAX_ITEMS]
        if added:
            lines = [f"{s['title']} ({base}study/{s['id']})" for s in added]
            entry.append(E("content", "New studies:\n" + "\n".join(lines), type="text"))
        feed.append(entry)
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _element(tag: str, text: str | None, attrs: dict[str, str]) -> etree._Element:
    node = etree.Element(f"{{{ATOM}}}{tag}", {k: v for k, v in attrs.items()})
    if text is not None:
        node.text = text
    return node


def make_blueprint(app: Flask) -> Blueprint:
    bp = Blueprint("changes", __name__)

    @bp.get("/changes")
    @bp.get("/changes.json")
    def changes() -> Any:
        items = entries()
        wants_json = request.path.endswith(".json") or (
            request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
            and request.headers.get("Accept", "").strip() != ""
        )
        if wants_json:
            return jsonify({"base_url": base_url(), "feed": base_url() + "changes.atom", "entries": items})
        return render_template("changes.html", entries=items, max_items=MAX_ITEMS, feed=base_url() + "changes.atom")

    @bp.get("/changes.atom")
    def feed() -> Response:
        return Response(atom(entries(), base_url()), mimetype="application/atom+xml")

    return bp
