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

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, RDF, XSD

from .. import export as exports
from ..namespaces import BASE
from .cache import cache_dir, release_key, write_json_atomic
from .common import PREFIXES, NotFound

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

VOID = Namespace("http://rdfs.org/ns/void#")
MANIFEST = "manifest.json"
DATASET_IRI = URIRef(BASE + "dataset")

#: Export format -> (media type, description).
FORMAT_INFO: dict[str, tuple[str, str]] = {
    "ttl": ("text/turtle; charset=utf-8", "Turtle, the union of all graphs"),
    "nt": ("application/n-triples", "N-Triples, the union of all graphs, one triple per line"),
    "nq": ("application/n-quads", "N-Quads, one named graph per study"),
    "trig": ("application/trig", "TriG, one named graph per study"),
    "jsonld": ("application/ld+json", "JSON-LD (compacted with the project's context), one named graph per study"),
    "rdfxml": ("application/rdf+xml", "RDF/XML, the union of all graphs"),
    "graphml": ("application/graphml+xml", "GraphML of the entity graph (yEd, Gephi, networkx)"),
    "gexf": ("application/gexf+xml", "GEXF of the entity graph (Gephi)"),
    "cyjs": ("application/json", "Cytoscape.js JSON of the entity graph"),
    "csv": ("application/zip", "CSV tables of nodes and edges, zipped"),
    "kgx": ("application/gzip", "KGX TSV nodes and edges (Biolink), tar.gz"),
    "sssom": ("text/tab-separated-values; charset=utf-8", "SSSOM TSV: entities mapped to MONDO, NCIt, HGNC, UniProtKB ids, with sources"),
}

_DISTINCT_TRIPLES = "SELECT (COUNT(*) AS ?n) WHERE { SELECT DISTINCT ?s ?p ?o WHERE { ?s ?p ?o } }"
_QUADS = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"

log = logging.getLogger(__name__)
_lock = threading.Lock()
_tmp_dirs: dict[int, Path] = {}


def filename(fmt: str) -> str:
    ext = exports.EXTENSIONS.get(fmt, f".{fmt}")
    return f"tcell-kg{ext}"


def formats() -> dict[str, str]:
    """File name -> export format, for every registered format."""
    return {filename(fmt): fmt for fmt in exports.export_formats()}


def media_type(fmt: str) -> str:
    return FORMAT_INFO.get(fmt, ("application/octet-stream", ""))[0]


def _folder(kg: KnowledgeGraph, release: str) -> Path:
    folder = cache_dir(kg, release)
    if folder is None:
        base = _tmp_dirs.get(id(kg.store))
        if base is None:
            base = _tmp_dirs[id(kg.store)] = Path(tempfile.mkdtemp(prefix="tkg-downloads-"))
        folder = base / release
    return folder / "downloads"


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
                if fmt in exports.RDF_EXPORTS:
                    if fmt in exports.DATASET_EXPORTS:
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
                "description": FORMAT_INFO.get(fmt, ("", fmt))[1] or fmt,
                "size": info["size"],
                "available": not info.get("error"),
                "triples": info["triples"],
                "generated": info["generated"],
                "dataset": fmt in exports.DATASET_EXPORTS,
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
    """A VoID description of the dataset. ``base_url`` is the app's root URL
    (for the data dumps and the SPARQL endpoint)."""
    graph = Graph()
    graph.bind("void", VOID)
    graph.bind("dcterms", DCTERMS)
    ds = DATASET_IRI
    graph.add((ds, RDF.type, VOID.Dataset))
    graph.add((ds, DCTERMS.title, Literal("tcell-kg: T cell cancer therapies knowledge graph", lang="en")))
    graph.add(
        (
            ds,
            DCTERMS.description,
            Literal(
                "T cell therapies (CAR-T, TIL, T cell engagers, TCR-T), tumor types, barriers, toxicities and strategies; "
                "every finding traceable to its evidence sentence and study.",
                lang="en",
            ),
        )
    )
    graph.add((ds, VOID.uriSpace, Literal(BASE)))
    graph.add((ds, VOID.triples, Literal(kg.store.count(), datatype=XSD.integer)))
    counts = kg.query(
        PREFIXES
        + """SELECT ?entities ?classes ?properties ?subjects ?objects WHERE {
      { SELECT (COUNT(DISTINCT ?e) AS ?entities) WHERE { ?e ?p0 ?o0 FILTER(isIRI(?e)) } }
      { SELECT (COUNT(DISTINCT ?c) AS ?classes) WHERE { ?x a ?c } }
      { SELECT (COUNT(DISTINCT ?p) AS ?properties) WHERE { ?s1 ?p ?o1 } }
      { SELECT (COUNT(DISTINCT ?s) AS ?subjects) WHERE { ?s ?p2 ?o2 } }
      { SELECT (COUNT(DISTINCT ?o) AS ?objects) WHERE { ?s3 ?p3 ?o } }
    }"""
    ).rows[0]
    for key, prop in (
        ("entities", VOID.entities),
        ("classes", VOID.classes),
        ("properties", VOID.properties),
        ("subjects", VOID.distinctSubjects),
        ("objects", VOID.distinctObjects),
    ):
        graph.add((ds, prop, Literal(int(counts[key].toPython()), datatype=XSD.integer)))
    release = release_key(kg, exact=True)
    modified = _release_time(release)
    if modified:
        graph.add((ds, DCTERMS.modified, Literal(modified, datatype=XSD.dateTime)))
    root = base_url.rstrip("/")
    graph.add((ds, VOID.sparqlEndpoint, URIRef(f"{root}/sparql")))
    for name in formats():
        graph.add((ds, VOID.dataDump, URIRef(f"{root}/downloads/{name}")))
    graph.add((ds, VOID.rootResource, URIRef(BASE + "Therapy")))
    return graph


def _release_time(release: str) -> str | None:
    """The publication time a release name (``20261128T195856248824Z``) encodes."""
    try:
        stamp = dt.datetime.strptime(release, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    return stamp.isoformat(timespec="seconds")
