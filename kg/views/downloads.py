"""Downloads of the graph in every export format, and its VoID description.

Files are written once per published release into
``<store>/cache/<release>/downloads/`` (a temporary directory for stores
without releases) by :func:`kg.export.export` (temp name, then rename), with a
manifest of sizes and triple counts. Only names from the export registry are
ever served, so a request cannot name another file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdflib import Graph

from .. import export as exports
from ..export_graph import shared_projection
from .cache import cache_dir, release_key, write_json_atomic
from .common import NotFound

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

MANIFEST = "manifest.json"

_DISTINCT_TRIPLES = "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"
_QUADS = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"

log = logging.getLogger(__name__)
_lock = threading.Lock()
_tmp_dirs: dict[int, Path] = {}


def filename(fmt: str) -> str:
    return exports.export_format(fmt).filename


def formats() -> dict[str, str]:
    """File name -> export format, for every registered format (:mod:`kg.export`)."""
    return {f.filename: f.name for f in exports.formats()}


def media_type(fmt: str) -> str:
    return exports.export_format(fmt).media_type


def _folder(kg: KnowledgeGraph, release: str) -> Path:
    folder = cache_dir(kg, release)
    if folder is None:
        base = _tmp_dirs.get(id(kg.store))
        if base is None:
            base = _tmp_dirs[id(kg.store)] = Path(tempfile.mkdtemp(prefix="tkg-downloads-"))
        folder = base / release
    return folder / "downloads"


def is_built(kg: KnowledgeGraph, release: str) -> bool:
    """Whether every export file of ``release`` is in its folder (or failed with a
    recorded error): :func:`downloads` would then answer without building anything."""
    folder = _folder(kg, release)
    try:
        files = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        return False
    return all(name in files and (files[name].get("error") or (folder / name).is_file()) for name in formats())


def _count(kg: KnowledgeGraph, sparql: str) -> int:
    rows = kg.query(sparql).rows
    return int(rows[0]["n"].toPython()) if rows else 0


def downloads(kg: KnowledgeGraph) -> dict[str, Any]:
    """Every export file of the current release (generated on first use):
    ``{"release", "generated", "files": [{name, format, media_type, size, triples, description}]}``."""
    release = release_key(kg, exact=True)
    folder = _folder(kg, release)
    manifest_path = folder / MANIFEST
    wanted = formats()
    with _lock:
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {"release": release, "files": {}}
        files: dict[str, Any] = manifest.setdefault("files", {})
        missing = [name for name in wanted if name not in files or (not files[name].get("error") and not (folder / name).is_file())]
        if missing:
            folder.mkdir(parents=True, exist_ok=True)
            quads = union = None
            with shared_projection():  # the graph formats' writers project the store once, not once each
                for name in missing:
                    fmt = wanted[name]
                    try:
                        exports.export(kg, fmt, folder / name)
                    except Exception as exc:  # noqa: BLE001 - one broken exporter must not hide the others
                        log.error("export %s failed: %s", fmt, exc)
                        files[name] = {"size": None, "triples": None, "generated": None, "error": str(exc)[:200]}
                        continue
                    if not (folder / name).is_file():
                        files[name] = {"size": None, "triples": None, "generated": None, "error": "the export is not a single file"}
                        continue
                    if exports.export_format(fmt).is_rdf:
                        if exports.export_format(fmt).dataset:
                            quads = _count(kg, _QUADS) if quads is None else quads
                            triples: int | None = quads
                        else:
                            union = _count(kg, _DISTINCT_TRIPLES) if union is None else union
                            triples = union
                    else:
                        triples = None
                    files[name] = {
                        "size": (folder / name).stat().st_size,
                        "triples": triples,
                        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    }
            write_json_atomic(manifest_path, manifest)
    listing = []
    for name, fmt in wanted.items():
        info = files[name]
        listing.append(
            {
                "name": name,
                "format": fmt,
                "media_type": media_type(fmt),
                "description": exports.export_format(fmt).description,
                "size": info["size"],
                "available": not info.get("error"),
                "triples": info["triples"],
                "generated": info["generated"],
                "dataset": exports.export_format(fmt).dataset,
            }
        )
    return {"release": release, "files": listing}


def download_path(kg: KnowledgeGraph, name: str) -> tuple[Path, str]:
    """(path, media type) of a download by file name; NotFound for any name
    not in the registry (so ``../`` and friends never reach the filesystem)."""
    wanted = formats()
    if not isinstance(name, str) or name not in wanted:
        raise NotFound(f"no download named {name[:80]!r}", expected="one of " + ", ".join(wanted))
    listing = {f["name"]: f for f in downloads(kg)["files"]}
    if not listing[name]["available"]:
        raise NotFound(f"the {wanted[name]} export is not available for this release")
    folder = _folder(kg, release_key(kg, exact=True))
    return folder / name, media_type(wanted[name])


def void_graph(kg: KnowledgeGraph, base_url: str) -> Graph:
    """The dataset's VoID description (:mod:`kg.void`, the same builder as a
    release folder's void.ttl), with the data dumps and the SPARQL endpoint
    under ``base_url``, the app's root URL. The counts are computed once per release
    (:func:`kg.views.voidcounts.counts`)."""
    from .. import void
    from ..release import version

    release = release_key(kg, exact=True)
    from .voidcounts import counts

    counted = counts(kg)  # kept per release; large ones are counted in the background (kg/views/voidcounts.py)
    root = base_url.rstrip("/")
    dumps = [void.Dump(f"{root}/downloads/{f.filename}", f.name, f.media_type) for f in exports.formats()]
    return void.describe(counted, dumps, endpoint=f"{root}/sparql", version=version(), release=release, modified=_release_time(release))


def _release_time(release: str) -> str | None:
    """The publication time a release name (``20261128T195856248824Z``) encodes."""
    try:
        stamp = dt.datetime.strptime(release, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    return stamp.isoformat(timespec="seconds")
