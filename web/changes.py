"""What changed: ``/changes`` (HTML, or JSON by ``.json``, ``?format=json`` or Accept) and the
Atom feed of releases at ``/changes.atom``.

The entries are the changelog that ``tkg update`` writes (:mod:`kg.diff`), read
from the state folder of the served store; links in the feed are absolute,
built from the ``base_url`` setting (default: ``http://HOST:PORT/``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from lxml import etree

from kg.diff import changelog
from kg.watch import state_dir

from .pages import represent

ATOM = "http://www.w3.org/2005/Atom"
#: Entries shown (newest first); each entry of the HTML page lists at most 50 items of a kind.
MAX_ENTRIES = 20
MAX_ITEMS = 50

bp = Blueprint("changes", __name__)


def base_url() -> str:
    settings = current_app.extensions["tkg_settings"]
    if settings.base_url:
        return settings.base_url.rstrip("/") + "/"
    return f"http://{settings.host}:{settings.port}/"


def changes_data() -> dict[str, Any]:
    settings = current_app.extensions["tkg_settings"]
    entries = changelog(state_dir(settings.store, settings.state_dir or None), MAX_ENTRIES)
    return {"base_url": base_url(), "feed": base_url() + "changes.atom", "entries": entries}


def _element(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.Element(f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def atom(items: list[dict[str, Any]], base: str) -> bytes:
    """An Atom 1.0 feed (RFC 4287): one entry per release, newest first."""
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    updated = items[0]["date"] if items else dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc).isoformat()
    for child in (_element("id", base + "changes"), _element("title", "tcell-kg: what changed in each release"),
                  _element("updated", updated), _element("link", href=base + "changes.atom", rel="self", type="application/atom+xml"),
                  _element("link", href=base + "changes", rel="alternate", type="text/html")):
        feed.append(child)
    author = _element("author")
    author.append(_element("name", "tcell-kg"))
    feed.append(author)
    for item in items:
        entry = _element("entry")
        release = item["release"]
        link = f"{base}changes#{release}"
        for child in (_element("id", link), _element("title", f"Release {release}"), _element("updated", item["date"]),
                      _element("link", href=link, rel="alternate", type="text/html"), _element("summary", item.get("summary", ""))):
            entry.append(child)
        added = item["diff"]["studies"]["added"][:MAX_ITEMS]
        if added:
            lines = [f"{s['title']} ({base}study/{s['id']})" for s in added]
            entry.append(_element("content", "New studies:\n" + "\n".join(lines), type="text"))
        feed.append(entry)
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


@bp.get("/changes")
def page():
    return represent("changes.html", changes_data)


@bp.get("/changes.json")
def page_json():
    return jsonify(changes_data())


@bp.get("/changes.atom")
def feed() -> Response:
    return Response(atom(changes_data()["entries"], base_url()), mimetype="application/atom+xml")
