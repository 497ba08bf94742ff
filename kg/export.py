"""Export formats: RDF serializations of the store, and graph formats
registered by their own modules (lazy imports; unknown names list the valid ones)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import TkgError

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

#: CLI format name -> store dump format, for RDF serializations.
RDF_EXPORTS: dict[str, str] = {
    "ttl": "turtle",
    "nt": "nt",
    "nq": "nquads",
    "trig": "trig",
    "jsonld": "jsonld",
    "rdfxml": "rdfxml",
}

#: Dataset formats keep one named graph per study; the others hold the union.
DATASET_EXPORTS = {"nq", "trig", "jsonld"}

#: Other formats: name -> "module:function(kg, path)".
GRAPH_EXPORTS: dict[str, str] = {
    "graphml": "kg.export_graph:write_graphml",
    "gexf": "kg.export_graph:write_gexf",
    "cyjs": "kg.export_graph:write_cyjs",
    "csv": "kg.export_graph:write_csv",
    "kgx": "kg.export_graph:write_kgx",
    "sssom": "kg.identifiers:write_sssom",
}

#: RDF formats written by our own function instead of the store's dump
#: (JSON-LD compacted with the published context ontology/context.jsonld).
RDF_WRITERS: dict[str, str] = {"jsonld": "kg.export_graph:write_jsonld"}

EXTENSIONS = {
    "ttl": ".ttl",
    "nt": ".nt",
    "nq": ".nq",
    "trig": ".trig",
    "jsonld": ".jsonld",
    "rdfxml": ".rdf",
    "graphml": ".graphml",
    "gexf": ".gexf",
    "cyjs": ".cyjs.json",
    "csv": ".csv.zip",
    "kgx": ".kgx.tar.gz",
    "sssom": ".sssom.tsv",
}


def export_formats() -> list[str]:
    return list(RDF_EXPORTS) + sorted(GRAPH_EXPORTS)


def export(kg: KnowledgeGraph, fmt: str, path: Path) -> None:
    """Write the graph to ``path`` in ``fmt``; nothing is left behind on failure."""
    if fmt not in RDF_EXPORTS and fmt not in GRAPH_EXPORTS:
        raise TkgError(f"unknown export format {fmt!r}", expected="one of " + ", ".join(export_formats()))
    tmp = path.with_name(path.name + ".part")
    try:
        if fmt in RDF_EXPORTS and fmt not in RDF_WRITERS:
            kg.export(RDF_EXPORTS[fmt], tmp)
        else:
            module, function = (RDF_WRITERS.get(fmt) or GRAPH_EXPORTS[fmt]).split(":")
            getattr(importlib.import_module(module), function)(kg, tmp)
        tmp.replace(path)
    except OSError as exc:
        raise TkgError(f"cannot write export: {exc.strerror}", where=str(path)) from None
    finally:
        if tmp.exists():
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()
