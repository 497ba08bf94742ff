"""Export formats: each is one record (:class:`ExportFormat`) in one registry.

`tkg export`, `tkg release`, the downloads page and the VoID description all
read this registry: a new format is one record here (or a plugin's entry in
the ``tcell_kg.export_formats`` entry point group) plus its writer and test.
RDF formats are dumped natively by the store unless a writer is named.
"""

from __future__ import annotations

import functools
import importlib
import shutil
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import TkgError

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

#: Every release file and download is named ``BASENAME + extension``.
BASENAME = "tcell-kg"


@dataclass(frozen=True)
class ExportFormat:
    """What the project knows about one export format.

    ``name``: the value of ``tkg export --format``. ``extension``: of the file
    (``.csv.zip``). ``media_type``: sent with the download. ``description``:
    one line for people (downloads page, help). ``dump``: the store's native
    serialization for RDF formats (None for the others). ``writer``:
    "module:function(kg, path)" when the project writes the file itself.
    ``dataset``: the file keeps one named graph per study (N-Quads, TriG,
    JSON-LD); other RDF formats hold the union of all graphs.
    """

    name: str
    extension: str
    media_type: str
    description: str
    dump: str | None = None
    writer: str | None = None
    dataset: bool = False

    @property
    def is_rdf(self) -> bool:
        return self.dump is not None

    @property
    def filename(self) -> str:
        return BASENAME + self.extension


_FORMATS: dict[str, ExportFormat] = {}


def register(fmt: ExportFormat) -> None:
    """Add an export format (a plugin's, through the ``tcell_kg.export_formats`` entry point group, or a test's)."""
    if fmt.dump is None and fmt.writer is None:
        raise TkgError(f"export format {fmt.name!r} has neither a store dump nor a writer")
    _FORMATS[fmt.name] = fmt


for _fmt in (
    ExportFormat("ttl", ".ttl", "text/turtle; charset=utf-8", "Turtle, the union of all graphs", dump="turtle"),
    ExportFormat("nt", ".nt", "application/n-triples", "N-Triples, the union of all graphs, one triple per line", dump="nt"),
    ExportFormat("nq", ".nq", "application/n-quads", "N-Quads, one named graph per study", dump="nquads", dataset=True),
    ExportFormat("trig", ".trig", "application/trig", "TriG, one named graph per study", dump="trig", dataset=True),
    ExportFormat(
        "jsonld",
        ".jsonld",
        "application/ld+json",
        "JSON-LD (compacted with the project's context), one named graph per study",
        dump="jsonld",
        writer="kg.export_graph:write_jsonld",  # compacted with the published context ontology/context.jsonld
        dataset=True,
    ),
    ExportFormat("rdfxml", ".rdf", "application/rdf+xml", "RDF/XML, the union of all graphs", dump="rdfxml"),
    ExportFormat("csv", ".csv.zip", "application/zip", "CSV tables of nodes and edges, zipped", writer="kg.export_graph:write_csv"),
    ExportFormat("cyjs", ".cyjs.json", "application/json", "Cytoscape.js JSON of the entity graph", writer="kg.export_graph:write_cyjs"),
    ExportFormat("gexf", ".gexf", "application/gexf+xml", "GEXF of the entity graph (Gephi)", writer="kg.export_graph:write_gexf"),
    ExportFormat(
        "graphml",
        ".graphml",
        "application/graphml+xml",
        "GraphML of the entity graph (yEd, Gephi, networkx)",
        writer="kg.export_graph:write_graphml",
    ),
    ExportFormat("kgx", ".kgx.tar.gz", "application/gzip", "KGX TSV nodes and edges (Biolink), tar.gz", writer="kg.export_graph:write_kgx"),
    ExportFormat(
        "sssom",
        ".sssom.tsv",
        "text/tab-separated-values; charset=utf-8",
        "SSSOM TSV: entities mapped to MONDO, NCIt, HGNC, UniProtKB ids, with sources",
        writer="kg.identifiers:write_sssom",
    ),
):
    register(_fmt)


@functools.cache
def _load_plugins() -> None:
    for entry in entry_points(group="tcell_kg.export_formats"):
        fmt = entry.load()
        if not isinstance(fmt, ExportFormat):
            raise TkgError(f"entry point {entry.name!r} of tcell_kg.export_formats is not a kg.export.ExportFormat")
        register(fmt)


def formats() -> list[ExportFormat]:
    """Every export format: RDF first, then the others (registry order)."""
    _load_plugins()
    return [f for f in _FORMATS.values() if f.is_rdf] + [f for f in _FORMATS.values() if not f.is_rdf]


def export_formats() -> list[str]:
    return [f.name for f in formats()]


def export_format(name: str) -> ExportFormat:
    _load_plugins()
    try:
        return _FORMATS[name]
    except KeyError:
        raise TkgError(f"unknown export format {name!r}", expected="one of " + ", ".join(export_formats())) from None


def export(kg: KnowledgeGraph, fmt: str, path: Path) -> None:
    """Write the graph to ``path`` in ``fmt``; nothing is left behind on failure."""
    spec = export_format(fmt)
    tmp = path.with_name(path.name + ".part")
    try:
        if spec.writer is None:
            kg.export(spec.dump, tmp)
        else:
            module, function = spec.writer.split(":")
            getattr(importlib.import_module(module), function)(kg, tmp)
        tmp.replace(path)
    except OSError as exc:
        raise TkgError(f"cannot write export: {exc.strerror}", where=str(path)) from None
    finally:
        if tmp.exists():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()
