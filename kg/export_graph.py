"""Graph exports: the networkx projection (:mod:`kg.projection`) in the formats
other tools read, and the RDF dataset as compacted JSON-LD.

Each writer takes ``(kg, path)`` and writes **one file** (registered in
:data:`kg.export.GRAPH_EXPORTS`): pairs of tables go into an archive, so
``tkg export`` and the downloads page serve every format the same way.

* ``graphml`` (GraphML), ``gexf`` (GEXF 1.2): for Gephi, Cytoscape desktop,
  yEd. Attributes that are lists or dicts are written as JSON strings; None
  values are left out.
* ``cyjs``: Cytoscape.js JSON (``{"elements": {"nodes": [...], "edges": [...]}}``).
* ``csv``: a zip with ``nodes.csv`` and ``edges.csv``.
* ``kgx``: a ``.tar.gz`` with KGX TSV ``nodes.tsv`` / ``edges.tsv``: Biolink
  categories and predicates, Biolink edge provenance (see docs/exports.md).
* ``jsonld``: the RDF dataset (one named graph per study) compacted with the
  published context ``ontology/context.jsonld`` (embedded, so the file is
  self-contained; served at ``/context.jsonld``).
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import functools
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from .errors import TkgError
from .namespaces import BASE, STUDY

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

CONTEXT_PATH = Path(__file__).resolve().parents[1] / "ontology" / "context.jsonld"

INFORES = "infores:tcell-kg"

# -- Biolink mapping (see docs/exports.md for the reasons) -------------------------
CATEGORY_BIOLINK: dict[str, str] = {
    "Therapy": "biolink:Treatment",
    "TumorType": "biolink:Disease",
    "Barrier": "biolink:BiologicalProcess",
    "Toxicity": "biolink:PhenotypicFeature",
    "Strategy": "biolink:Treatment",
    "Antigen": "biolink:Protein",
    "MechanisticAttribute": "biolink:Attribute",
    "Study": "biolink:Study",
}
#: Antigens that are not single proteins: GD2 is a ganglioside (a glycosphingolipid with a defined
#: structure), CD3 a complex of three chains, gp100/HLA-A*02:01 a peptide-MHC complex, claudin 18.2 an isoform.
ANTIGEN_BIOLINK = {
    "GD2": "biolink:SmallMolecule",
    "CD3": "biolink:MacromolecularComplex",
    "GP100": "biolink:MacromolecularComplex",
    "Claudin182": "biolink:ProteinIsoform",
}
#: Products (approved or investigational agents) are drugs; barriers that are not biology are named things.
PRODUCT_BIOLINK = "biolink:Drug"
NON_BIOLOGICAL_BARRIERS = {"ManufacturingLogistics", "HLARestrictionBarrier"}
FALLBACK_CATEGORY = "biolink:NamedThing"

PREDICATE_BIOLINK: dict[str, str] = {
    "effectiveIn": "biolink:treats",
    "investigatedIn": "biolink:studied_to_treat",
    "causesToxicity": "biolink:has_adverse_event",
    "targetsAntigen": "biolink:directly_physically_interacts_with",
}
FALLBACK_PREDICATE = "biolink:related_to"

KGX_NODE_COLUMNS = [
    "id",
    "category",
    "name",
    "description",
    "xref",
    "provided_by",
    "iri",
    "tkg_category",
    "parent",
    "skos_close_match",
    "skos_broad_match",
]
KGX_EDGE_COLUMNS = [
    "id",
    "subject",
    "predicate",
    "object",
    "original_predicate",
    "primary_knowledge_source",
    "knowledge_level",
    "agent_type",
    "publications",
    "supporting_studies",
    "refuted_by",
    "evidence_level",
    "tumor_contexts",
    "first_year",
    "last_year",
]


def curie(node_id: str) -> str:
    return node_id if ":" in node_id else f"tkg:{node_id}"


def biolink_category(attrs: dict[str, Any]) -> str:
    if attrs.get("category") == "Therapy" and attrs.get("is_product"):
        return PRODUCT_BIOLINK
    if attrs.get("category") == "Barrier" and attrs.get("id") in NON_BIOLOGICAL_BARRIERS:
        return FALLBACK_CATEGORY
    if attrs.get("category") == "Antigen" and attrs.get("id") in ANTIGEN_BIOLINK:
        return ANTIGEN_BIOLINK[attrs["id"]]
    return CATEGORY_BIOLINK.get(attrs.get("category", ""), FALLBACK_CATEGORY)


#: Projections shared by the writers inside :func:`shared_projection` (per thread/context).
_shared: contextvars.ContextVar[dict[int, nx.MultiDiGraph] | None] = contextvars.ContextVar("tkg_shared_projection", default=None)


@contextlib.contextmanager
def shared_projection():
    """Within the block, the graph writers (csv, cyjs, gexf, graphml, kgx)
    project a store once instead of once each: the projection reads every
    finding (a quarter of a minute at 10,000 studies). Writers only read it."""
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


def _graph(kg: KnowledgeGraph) -> nx.MultiDiGraph:
    from .projection import project

    memo = _shared.get()
    if memo is None:
        return project(kg)
    if id(kg) not in memo:
        memo[id(kg)] = project(kg)
    return memo[id(kg)]


def _flat(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, dict)):
        return json.dumps(sorted(value) if isinstance(value, set) else value, sort_keys=True)
    return value


def flat_graph(graph: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy whose attribute values are str/int/float/bool only (None dropped,
    lists and dicts as JSON) and without graph-level attributes but the name."""
    flat = nx.MultiDiGraph(name=graph.graph.get("name", "tcell-kg"))
    for node, data in graph.nodes(data=True):
        flat.add_node(node, **{k: _flat(v) for k, v in data.items() if v is not None})
    for u, v, key, data in graph.edges(keys=True, data=True):
        flat.add_edge(u, v, key=key, **{k: _flat(x) for k, x in data.items() if x is not None})
    return flat


def write_graphml(kg: KnowledgeGraph, path: Path) -> None:
    nx.write_graphml(flat_graph(_graph(kg)), path, encoding="utf-8", named_key_ids=True)


def write_gexf(kg: KnowledgeGraph, path: Path) -> None:
    flat = flat_graph(_graph(kg))
    for node, data in flat.nodes(data=True):
        data["label"] = data.get("label", node)  # GEXF's own label attribute
    nx.write_gexf(flat, path, encoding="utf-8", version="1.2draft")


def cytoscape_elements(graph: nx.MultiDiGraph) -> dict[str, Any]:
    """Cytoscape.js elements: node data keeps its attributes, edges get a stable id."""
    nodes = [
        {"data": {**{k: v for k, v in data.items()}, "id": node, "name": data.get("label", node)}} for node, data in graph.nodes(data=True)
    ]
    edges = [
        {"data": {**data, "id": f"{u}|{key}|{v}", "source": u, "target": v, "interaction": key}}
        for u, v, key, data in graph.edges(keys=True, data=True)
    ]
    return {"format_version": "1.0", "generated_by": "tcell-kg", "data": {"name": "tcell-kg"}, "elements": {"nodes": nodes, "edges": edges}}


def write_cyjs(kg: KnowledgeGraph, path: Path) -> None:
    path.write_text(json.dumps(cytoscape_elements(_graph(kg)), indent=1, default=str), encoding="utf-8")


NODE_CSV_COLUMNS = [
    "id",
    "label",
    "category",
    "parent",
    "modality",
    "tumor_kind",
    "is_modality",
    "is_product",
    "is_barrier_category",
    "iri",
]
EDGE_CSV_COLUMNS = [
    "source",
    "target",
    "relation",
    "weight",
    "best_level",
    "first_year",
    "last_year",
    "studies",
    "refuted_by",
    "contexts",
    "findings",
    "methods",
]


def _table(columns: list[str], rows: list[dict[str, Any]], delimiter: str, multi: str | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, delimiter=delimiter, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        out = {}
        for key in columns:
            value = row.get(key)
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (list, tuple)) and multi is not None:
                value = multi.join(str(x) for x in value)
            elif isinstance(value, (list, tuple, dict)):
                value = json.dumps(value, sort_keys=True)
            out[key] = value
        writer.writerow(out)
    return buffer.getvalue().encode("utf-8")


def write_csv(kg: KnowledgeGraph, path: Path) -> None:
    graph = _graph(kg)
    nodes = [dict(data) for _, data in sorted(graph.nodes(data=True))]
    edges = [
        {**data, "source": u, "target": v, "relation": key}
        for u, v, key, data in sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3])
    ]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("nodes.csv", _table(NODE_CSV_COLUMNS, nodes, ","))
        archive.writestr("edges.csv", _table(EDGE_CSV_COLUMNS, edges, ","))


# -- KGX ------------------------------------------------------------------------
PUBLICATION_QUERY = """PREFIX tkg: <https://w3id.org/tcell-kg/>
SELECT ?study ?pmid ?doi ?nct WHERE {
  ?study a tkg:Study .
  OPTIONAL { ?study tkg:pmid ?pmid }
  OPTIONAL { ?study tkg:doi ?doi }
  OPTIONAL { ?study tkg:nctId ?nct }
}"""


def study_publications(kg: KnowledgeGraph) -> dict[str, list[str]]:
    """study id -> publication CURIEs (PMID:, doi:, clinicaltrials:NCT...) it has identifiers for."""
    out: dict[str, set[str]] = {}
    for row in kg.query(PUBLICATION_QUERY).rows:
        iri = str(row["study"])
        study = iri[len(str(STUDY)) :] if iri.startswith(str(STUDY)) else iri
        ids = out.setdefault(study, set())
        if row.get("pmid") is not None:
            ids.add(f"PMID:{str(row['pmid']).strip()}")
        if row.get("doi") is not None:
            doi = str(row["doi"]).strip()
            for prefix in ("https://doi.org/", "http://dx.doi.org/", "doi:"):
                if doi.lower().startswith(prefix):
                    doi = doi[len(prefix) :]
            ids.add(f"doi:{doi}")
        if row.get("nct") is not None:
            ids.add(f"clinicaltrials:{str(row['nct']).strip()}")
    return {k: sorted(v) for k, v in out.items()}


def _agent_type(methods: set[str]) -> str:
    """Biolink agent type of an edge: a person when a curated finding supports it, else the
    extractor when text was mined, else the reader that took it from a registry's own fields."""
    if "curated" in methods or not methods:
        return "manual_agent"
    return "text_mining_agent" if "text-mined" in methods else "automated_agent"


@functools.lru_cache(maxsize=1)
def biolink_id_prefixes() -> dict[str, list[str]]:
    """Biolink category CURIE (``biolink:Disease``) -> its ``id_prefixes`` in order of
    preference, read from the schema shipped in the ``biolink-model`` package."""
    from importlib.resources import files

    import yaml

    try:
        text = files("biolink_model").joinpath("schema/biolink_model.yaml").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TkgError("the biolink-model package is not installed", expected="pip install biolink-model") from exc
    schema = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {
        "biolink:" + "".join(word[:1].upper() + word[1:] for word in name.split()): list(cls.get("id_prefixes") or [])
        for name, cls in schema["classes"].items()
    }


MAPPINGS_QUERY = """SELECT ?s ?p ?o WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o VALUES ?p {{ {predicates} }} }} }}"""


def store_mappings(kg: KnowledgeGraph) -> dict[str, dict[str, list[str]]]:
    """entity local name -> {"exactMatch" | "closeMatch" | "broadMatch": [CURIE ...]} from the
    store's ontology graph (IRIs compacted with the curie_map of ontology/mappings.sssom.tsv)."""
    from .namespaces import ONTOLOGY_GRAPH
    from .ontology import MAPPING_PREDICATES, load_mappings

    mapping_set = load_mappings()
    predicates = " ".join(f"<{p}>" for p in MAPPING_PREDICATES.values())
    out: dict[str, dict[str, list[str]]] = {}
    for row in kg.query(MAPPINGS_QUERY.format(graph=ONTOLOGY_GRAPH, predicates=predicates)).rows:
        subject, target = str(row["s"]), mapping_set.compact(str(row["o"]))
        if subject.startswith(BASE) and target:
            out.setdefault(subject[len(BASE) :], {}).setdefault(str(row["p"]).rsplit("#", 1)[-1], []).append(target)
    return {name: {p: sorted(ids) for p, ids in by.items()} for name, by in out.items()}


def node_id(category: str, exact: list[str], prefixes: dict[str, list[str]]) -> str | None:
    """The exactMatch CURIE whose prefix comes first in the category's Biolink id_prefixes, or None."""
    for prefix in prefixes.get(category, []):
        for candidate in exact:
            if candidate.split(":", 1)[0] == prefix:
                return candidate
    return None


def kgx_tables(
    graph: nx.MultiDiGraph, publications: dict[str, list[str]], mappings: dict[str, dict[str, list[str]]] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """KGX node and edge rows. A node's id is its standard id (exactMatch only) with the
    prefix its Biolink category prefers, else ``tkg:``; the tkg CURIE and the other exact
    ids are xrefs. Edges with REFUTE evidence only are left out (KGX edges are
    assertions); their refutations stay in the RDF and the other formats."""
    mappings = mappings or {}
    prefixes = biolink_id_prefixes()
    ids: dict[str, str] = {}
    taken: set[str] = set()
    nodes = []
    for node, data in sorted(graph.nodes(data=True)):
        category = biolink_category(data)
        by = mappings.get(node, {})
        exact = by.get("exactMatch", [])
        chosen = node_id(category, exact, prefixes)
        if chosen is None or chosen in taken:  # two nodes never share an id (the mapping tests forbid it anyway)
            chosen = curie(node)
        taken.add(chosen)
        ids[node] = chosen
        nodes.append(
            {
                "id": chosen,
                "category": [category],
                "name": data.get("label", node),
                "xref": [x for x in [curie(node), *exact] if x != chosen],
                "provided_by": [INFORES],
                "iri": data.get("iri"),
                "tkg_category": data.get("category"),
                "parent": data.get("parent"),
                "skos_close_match": by.get("closeMatch", []),
                "skos_broad_match": by.get("broadMatch", []),
            }
        )
    for row in nodes:
        row["parent"] = ids.get(row["parent"], curie(row["parent"])) if row["parent"] else None

    def ref(name: str) -> str:
        return ids.get(name) or curie(name)

    edges = []
    for u, v, key, data in sorted(graph.edges(keys=True, data=True), key=lambda e: e[:3]):
        studies = data.get("studies") or []
        if not studies:
            continue
        methods = set(data.get("methods") or [])
        edges.append(
            {
                "id": f"tkg:edge/{u}/{key}/{v}",
                "subject": ref(u),
                "predicate": PREDICATE_BIOLINK.get(key, FALLBACK_PREDICATE),
                "object": ref(v),
                "original_predicate": f"tkg:{key}",
                "primary_knowledge_source": INFORES,
                "knowledge_level": "knowledge_assertion",
                "agent_type": _agent_type(methods),
                "publications": sorted({p for s in studies for p in publications.get(s, [])}),
                "supporting_studies": [f"tkg:study/{s}" for s in studies],
                "refuted_by": [f"tkg:study/{s}" for s in data.get("refuted_by") or []],
                "evidence_level": data.get("best_level"),
                "tumor_contexts": [ref(c) for c in (data.get("contexts") or {}) if c],
                "first_year": data.get("first_year"),
                "last_year": data.get("last_year"),
            }
        )
    return nodes, edges


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def write_kgx(kg: KnowledgeGraph, path: Path) -> None:
    nodes, edges = kgx_tables(_graph(kg), study_publications(kg), store_mappings(kg))
    with tarfile.open(path, "w:gz") as archive:
        _add(archive, "nodes.tsv", _table(KGX_NODE_COLUMNS, nodes, "\t", multi="|"))
        _add(archive, "edges.tsv", _table(KGX_EDGE_COLUMNS, edges, "\t", multi="|"))


# -- JSON-LD with the published context ----------------------------------------------
def context() -> dict[str, Any]:
    """The published JSON-LD context (the object under ``@context``)."""
    return json.loads(CONTEXT_PATH.read_text(encoding="utf-8"))["@context"]


def write_jsonld(kg: KnowledgeGraph, path: Path) -> None:
    """The dataset (one named graph per study) as JSON-LD compacted with the context:
    ``{"@context": ..., "@graph": [{"@id": <graph>, "@graph": [...nodes]}, ...]}``.

    Written graph by graph: rdflib's converter (the one its JSON-LD serializer
    uses) compacts each named graph on its own, and the document around them
    is written here, so memory holds one study graph at a time instead of an
    rdflib Dataset of the whole store (about 250 s and many GiB at 10,000
    studies that way). A graph name met again after another graph (stores
    that do not list quads graph by graph) becomes a second object with the
    same ``@id``: JSON-LD merges them into one named graph."""
    import warnings

    from rdflib import Graph
    from rdflib.plugins.serializers.jsonld import Converter
    from rdflib.plugins.shared.jsonld.context import Context

    data = context()
    compact = Context(data)
    converter = Converter(compact, True, False)

    def graph_object(name: Any, triples: Graph) -> str:
        obj = {compact.id_key: compact.shrink_iri(name), compact.graph_key: converter.from_graph(triples)}
        return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)

    with warnings.catch_warnings(), path.open("w", encoding="utf-8") as out:  # kg.export writes a temporary name
        warnings.simplefilter("ignore", DeprecationWarning)  # rdflib's own deprecated internals
        out.write('{\n"@context": ' + json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + ',\n"@graph": [')
        first, name, triples = True, None, Graph()
        for s, p, o, g in kg.store.quads():
            if g != name:
                if name is not None and len(triples):
                    out.write(("\n" if first else ",\n") + graph_object(name, triples))
                    first = False
                name, triples = g, Graph()
            triples.add((s, p, o))
        if name is not None and len(triples):
            out.write(("\n" if first else ",\n") + graph_object(name, triples))
        out.write("\n]\n}\n")
