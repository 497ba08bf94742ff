"""Every export format is read back by a tool other than the one that wrote it:
rapper (raptor2) for Turtle, N-Triples and RDF/XML; rdflib and pyoxigraph for
N-Quads and TriG; pyld for JSON-LD; networkx for GraphML and GEXF; the csv,
json, tarfile and zipfile modules for Cytoscape.js, the CSV pair and KGX."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import tarfile
import warnings
import zipfile
from pathlib import Path

import networkx as nx
import pyoxigraph
import pytest
from click.testing import CliRunner
from rdflib import BNode, Graph, URIRef
from rdflib.compare import isomorphic

from kg import KnowledgeGraph
from kg.cli import main
from kg.export import export_format, export_formats
from kg.export_graph import biolink_category
from kg.stores.oxigraph import to_rdflib

RAPPER = shutil.which("rapper") or ("/usr/bin/rapper" if Path("/usr/bin/rapper").exists() else None)
CONTEXT = Path(__file__).resolve().parents[1] / "ontology" / "context.jsonld"
BIOLINK_PREFIXES = ("biolink:",)


@pytest.fixture(scope="module")
def exported(built_store, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exports")
    paths = {}
    for fmt in export_formats():
        path = out / f"graph{export_format(fmt).extension}"
        result = CliRunner().invoke(main, ["export", "--store", built_store, "--format", fmt, "-o", str(path)])
        assert result.exit_code == 0, result.output
        paths[fmt] = path
    return paths


@pytest.fixture(scope="module")
def store_quads(built_store) -> dict[str, Graph]:
    graphs: dict[str, Graph] = {}
    with KnowledgeGraph.open(built_store) as kg:
        for s, p, o, g in kg.store.quads():
            graphs.setdefault(str(g), Graph()).add((s, p, o))
    return graphs


@pytest.fixture(scope="module")
def projection(built_store) -> nx.MultiDiGraph:
    with KnowledgeGraph.open(built_store) as kg:
        return kg.to_networkx()


def union_size(graphs: dict[str, Graph]) -> int:
    union = Graph()
    for graph in graphs.values():
        for triple in graph:
            union.add(triple)
    return len(union)


def test_every_format_is_one_non_empty_file(exported):
    assert {"graphml", "gexf", "cyjs", "csv", "kgx", "jsonld", "ttl"} <= set(exported)
    for fmt, path in exported.items():
        assert path.is_file() and path.stat().st_size > 0, fmt


@pytest.mark.parametrize(("fmt", "syntax"), [("ttl", "turtle"), ("nt", "ntriples"), ("rdfxml", "rdfxml")])
def test_rapper_parses_triple_formats(exported, store_quads, fmt, syntax):
    if RAPPER is None:
        pytest.skip("rapper (Debian package raptor2-utils) is not installed; .ci/run installs it")
    result = subprocess.run([RAPPER, "-i", syntax, "-o", "ntriples", "-q", str(exported[fmt])], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[:2000]
    lines = [line for line in result.stdout.decode("utf-8").splitlines() if line.strip()]
    # rapper's N-Triples parsed back by rdflib: same graph as the store's union
    parsed = Graph().parse(data="\n".join(lines), format="nt")
    assert len(lines) == union_size(store_quads)
    union = Graph()
    for graph in store_quads.values():
        for triple in graph:
            union.add(triple)
    assert isomorphic(parsed, union)


@pytest.mark.parametrize(
    ("fmt", "ox_format", "rdflib_format"), [("nq", pyoxigraph.RdfFormat.N_QUADS, "nquads"), ("trig", pyoxigraph.RdfFormat.TRIG, "trig")]
)
def test_dataset_formats_rdflib_and_oxigraph_agree(exported, store_quads, fmt, ox_format, rdflib_format):
    quads = list(pyoxigraph.parse(exported[fmt].read_bytes(), format=ox_format))
    expected = sum(len(g) for g in store_quads.values())
    assert len(quads) == expected
    from rdflib import Dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = Dataset()
        ds.parse(data=exported[fmt].read_text(encoding="utf-8"), format=rdflib_format)
        assert len(list(ds.quads((None, None, None, None)))) == expected
        names = {str(c.identifier) for c in ds.contexts() if len(c)}
    assert names == set(store_quads)


def test_jsonld_uses_the_published_context_and_pyld_yields_the_same_triples(exported, store_quads):
    pyld = pytest.importorskip("pyld.jsonld")
    doc = json.loads(exported["jsonld"].read_text(encoding="utf-8"))
    published = json.loads(CONTEXT.read_text(encoding="utf-8"))["@context"]
    assert doc["@context"] == published  # compacted with the published context
    assert "@graph" in doc and all("@id" in g for g in doc["@graph"])
    nquads = pyld.to_rdf(doc, {"format": "application/n-quads"})
    parsed: dict[str, Graph] = {}
    for quad in pyoxigraph.parse(nquads.encode("utf-8"), format=pyoxigraph.RdfFormat.N_QUADS):
        name = quad.graph_name.value if isinstance(quad.graph_name, pyoxigraph.NamedNode) else ""
        parsed.setdefault(name, Graph()).add((to_rdflib(quad.subject), to_rdflib(quad.predicate), to_rdflib(quad.object)))
    assert set(parsed) == set(store_quads)
    for name, graph in store_quads.items():
        assert isomorphic(parsed[name], graph), name


def test_jsonld_of_quads_that_come_back_to_an_earlier_graph(tmp_path):
    """Written graph by graph: a graph met again after another one (a store
    that does not list its quads grouped by graph) is a second object with the
    same @id, and the file still holds exactly the dataset."""
    from types import SimpleNamespace

    from rdflib import Literal

    from kg.export_graph import write_jsonld
    from kg.namespaces import RDFS, TKG

    a, b = URIRef("https://w3id.org/tcell-kg/graph/a"), URIRef("https://w3id.org/tcell-kg/graph/b")
    quads = [
        (TKG.CART, RDFS.label, Literal("CAR-T"), a),
        (TKG.TIL, RDFS.label, Literal("TIL"), b),
        (TKG.CART, TKG.facesBarrier, TKG.AntigenEscape, a),
        (BNode(), RDFS.label, Literal("é, \"quoted\""), b),
    ]
    path = tmp_path / "x.jsonld"
    write_jsonld(SimpleNamespace(store=SimpleNamespace(quads=lambda: iter(quads))), path)
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert len(doc["@graph"]) == 4  # a, b, a again, b again
    parsed = pyoxigraph.Store()
    parsed.load(path=str(path), format=pyoxigraph.RdfFormat.JSON_LD)
    got = {
        (str(q.graph_name.value), to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object))
        for q in parsed
        if not isinstance(q.subject, pyoxigraph.BlankNode)
    }
    assert got == {(str(g), s, p, o) for s, p, o, g in quads if not isinstance(s, BNode)}
    assert [str(to_rdflib(q.object)) for q in parsed if isinstance(q.subject, pyoxigraph.BlankNode)] == ['é, "quoted"']


def test_context_expands_its_terms_to_our_iris():
    pyld = pytest.importorskip("pyld.jsonld")
    ctx = json.loads(CONTEXT.read_text(encoding="utf-8"))
    doc = {**ctx, "@id": "tkg:finding/x", "subject": "tkg:CART", "facesBarrier": "tkg:AntigenEscape", "label": "x"}
    expanded = pyld.expand(doc)[0]
    assert expanded["https://w3id.org/tcell-kg/subject"] == [{"@id": "https://w3id.org/tcell-kg/CART"}]
    assert expanded["https://w3id.org/tcell-kg/facesBarrier"] == [{"@id": "https://w3id.org/tcell-kg/AntigenEscape"}]
    assert expanded["http://www.w3.org/2000/01/rdf-schema#label"] == [{"@value": "x"}]


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_networkx_reads_graphml_and_gexf_back(exported, projection, fmt):
    reader = nx.read_graphml if fmt == "graphml" else nx.read_gexf
    graph = reader(exported[fmt])
    assert graph.number_of_nodes() == projection.number_of_nodes()
    assert graph.number_of_edges() == projection.number_of_edges()
    assert set(graph.nodes) == set(projection.nodes)
    some = next(iter(projection.nodes))
    attrs = graph.nodes[some]
    assert attrs.get("category") == projection.nodes[some]["category"]


def test_graphml_is_read_by_a_plain_xml_parser(exported, projection):
    import xml.etree.ElementTree as ET

    root = ET.parse(exported["graphml"]).getroot()
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert len(root.findall(".//g:node", ns)) == projection.number_of_nodes()
    assert len(root.findall(".//g:edge", ns)) == projection.number_of_edges()


def test_cytoscape_json_loads(exported, projection):
    doc = json.loads(exported["cyjs"].read_text(encoding="utf-8"))
    nodes, edges = doc["elements"]["nodes"], doc["elements"]["edges"]
    assert len(nodes) == projection.number_of_nodes() and len(edges) == projection.number_of_edges()
    ids = {n["data"]["id"] for n in nodes}
    assert all(e["data"]["source"] in ids and e["data"]["target"] in ids for e in edges)
    assert len({e["data"]["id"] for e in edges}) == len(edges)


def test_csv_pair(exported, projection):
    with zipfile.ZipFile(exported["csv"]) as archive:
        assert sorted(archive.namelist()) == ["edges.csv", "nodes.csv"]
        nodes = list(csv.DictReader(io.StringIO(archive.read("nodes.csv").decode("utf-8"))))
        edges = list(csv.DictReader(io.StringIO(archive.read("edges.csv").decode("utf-8"))))
    assert len(nodes) == projection.number_of_nodes() and len(edges) == projection.number_of_edges()
    ids = {n["id"] for n in nodes}
    assert all(e["source"] in ids and e["target"] in ids for e in edges)
    assert sum(int(e["weight"]) for e in edges) == sum(d["weight"] for _, _, d in projection.edges(data=True))


def read_kgx(path: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    with tarfile.open(path, "r:gz") as archive:
        assert sorted(archive.getnames()) == ["edges.tsv", "nodes.tsv"]
        tables = {}
        for name in ("nodes.tsv", "edges.tsv"):
            text = archive.extractfile(name).read().decode("utf-8")  # type: ignore[union-attr]
            tables[name] = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    return tables["nodes.tsv"], tables["edges.tsv"]


def test_kgx_columns_categories_predicates_and_provenance(exported, projection, built_store):
    nodes, edges = read_kgx(exported["kgx"])
    assert {"id", "category", "name", "provided_by"} <= set(nodes[0])
    required = {"id", "subject", "predicate", "object", "primary_knowledge_source", "knowledge_level", "agent_type", "publications"}
    assert required <= set(edges[0])
    node_ids = {n["id"] for n in nodes}
    assert len(nodes) == projection.number_of_nodes()
    for node in nodes:
        assert ":" in node["id"] and node["name"]
        assert all(c.startswith(BIOLINK_PREFIXES) and c[8:9].isupper() for c in node["category"].split("|")), node
    # KGX edges are the supported assertions only
    supported = [d for _, _, d in projection.edges(data=True) if d["studies"]]
    assert len(edges) == len(supported)
    knowledge_levels = {"knowledge_assertion", "logical_entailment", "prediction", "statistical_association", "observation", "not_provided"}
    agent_types = {
        "manual_agent",
        "automated_agent",
        "data_analysis_pipeline",
        "computational_model",
        "text_mining_agent",
        "image_processing_agent",
        "manual_validation_of_automated_agent",
        "not_provided",
    }
    for edge in edges:
        assert edge["subject"] in node_ids and edge["object"] in node_ids
        assert edge["predicate"].startswith("biolink:") and edge["predicate"][8:9].islower()
        assert edge["primary_knowledge_source"].startswith("infores:")
        assert edge["knowledge_level"] in knowledge_levels and edge["agent_type"] in agent_types
        for pub in filter(None, edge["publications"].split("|")):
            assert pub.split(":", 1)[0] in ("PMID", "doi", "clinicaltrials"), pub
    # toxicities are adverse events, effectiveIn is treats
    by_original = {(e["subject"], e["original_predicate"], e["object"]): e["predicate"] for e in edges}
    some_tox = next(k for k in by_original if k[1] == "tkg:causesToxicity")
    assert by_original[some_tox] == "biolink:has_adverse_event"
    # publications: every edge lists the identifiers its supporting studies have in the store
    query = "PREFIX tkg: <https://w3id.org/tcell-kg/> SELECT ?s ?p ?id WHERE { VALUES ?p { tkg:pmid tkg:doi tkg:nctId } ?s ?p ?id }"
    with KnowledgeGraph.open(built_store) as kg:
        identifiers: dict[str, set[str]] = {}
        for r in kg.query(query).rows:
            local = str(r["id"]).split("doi.org/")[-1]
            identifiers.setdefault(str(r["s"]).rsplit("/", 1)[-1], set()).add(local)
    checked = 0
    for edge in edges:
        listed = {p.split(":", 1)[1] for p in filter(None, edge["publications"].split("|"))}
        for study in filter(None, edge["supporting_studies"].split("|")):
            for local in identifiers.get(study.rsplit("/", 1)[-1], ()):
                assert local in listed, (edge["id"], local)
                checked += 1
    assert checked > 0


def test_unknown_format_lists_graph_formats(built_store, tmp_path):
    result = CliRunner().invoke(main, ["export", "--store", built_store, "--format", "nope", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2  # a value out of the choices is a usage error (README, "Exit codes")
    assert "kgx" in result.output and "graphml" in result.output


def test_no_blank_node_subjects_leak_into_projection(projection):
    assert not any(isinstance(n, BNode) or str(n).startswith("_:") for n in projection.nodes)
    assert all(isinstance(URIRef(d["iri"]), URIRef) for _, d in projection.nodes(data=True))


#: Runs the KGX validator offline: kgx fetches the Biolink model and its JSON-LD
#: context from the network when first used, so the check points bmt at the schema
#: shipped in the biolink-model package and fills kgx's context map from its prefix map.
#: Prints one JSON object: {"counts": error type -> count, "tkg_ids": ids flagged for the tkg prefix}.
KGX_CHECK = r"""
import json, os, sys
import bmt, yaml
import biolink_model
LOCAL = os.path.join(list(biolink_model.__path__)[0], "schema", "biolink_model.yaml")
_init = bmt.Toolkit.__init__
def init(self, schema=LOCAL, *args, **kwargs):
    kwargs.pop("predicate_map", None)
    schema = LOCAL if isinstance(schema, str) and schema.startswith("http") else schema
    _init(self, schema, predicate_map={"predicate mappings": []}, **kwargs)
bmt.Toolkit.__init__ = init
import kgx.config
PREFIX_MAP = os.path.join(list(biolink_model.__path__)[0], "prefixmaps", "biolink-model-prefix-map.json")
kgx.config.jsonld_context_map["biolink"] = {**yaml.safe_load(open(LOCAL)).get("prefixes", {}), **json.load(open(PREFIX_MAP))}
from kgx.transformer import Transformer
from kgx.validator import Validator
folder = sys.argv[1]
validator = Validator()
inputs = {"filename": [folder + "/nodes.tsv", folder + "/edges.tsv"], "format": "tsv"}
Transformer(stream=True).transform(input_args=inputs, inspector=validator)
counts, tkg_ids = {}, set()
for level, kinds in validator.get_errors().items():
    for kind, messages in kinds.items():
        for message, ids in messages.items():
            tkg = "CURIE prefix 'tkg'" in message
            key = level + " " + kind + (": tkg prefix" if tkg else ": " + message)
            counts[key] = counts.get(key, 0) + len(ids)
            if tkg:
                tkg_ids.update(str(i) for i in ids)
print(json.dumps({"counts": counts, "tkg_ids": sorted(tkg_ids)}))
"""


def kgx_python() -> str | None:
    """This interpreter when kgx is installed (a test dependency), else TKG_KGX_PYTHON."""
    import importlib.util
    import sys

    if importlib.util.find_spec("kgx") is not None:
        return sys.executable
    return os.environ.get("TKG_KGX_PYTHON")


def test_kgx_validator(exported, tmp_path):
    python = kgx_python()
    if not python:
        pytest.skip("the kgx package (a test dependency) is not installed and TKG_KGX_PYTHON is not set")
    with tarfile.open(exported["kgx"], "r:gz") as archive:
        archive.extractall(tmp_path, filter="data")
    script = tmp_path / "kgx_check.py"
    script.write_text(KGX_CHECK, encoding="utf-8")
    env = {**os.environ, "no_proxy": "*", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}  # prove it is offline
    result = subprocess.run([python, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # our own tkg: prefix is not in the Biolink context; nothing else may be reported
    assert {k: v for k, v in report["counts"].items() if not k.endswith(": tkg prefix")} == {}
    # and it is reported only for nodes without a standard id (edges name their tkg: ends)
    nodes, _ = read_kgx(exported["kgx"])
    tkg_nodes = {n["id"] for n in nodes if n["id"].startswith("tkg:")}
    assert tkg_nodes < {n["id"] for n in nodes}
    for flagged in report["tkg_ids"]:
        assert any(part in tkg_nodes for part in flagged.replace("-", " ").split() + [flagged]) or flagged.startswith("tkg:"), flagged


def biolink_schema() -> dict:
    from importlib.resources import files

    import yaml

    return yaml.safe_load(files("biolink_model").joinpath("schema/biolink_model.yaml").read_text(encoding="utf-8"))


def test_kgx_node_ids_follow_biolink_preferred_prefixes(exported):
    """Read the id_prefixes from the biolink-model package, not from the exporter."""
    from kg.ontology import load_mappings

    classes = {"biolink:" + "".join(w[:1].upper() + w[1:] for w in name.split()): c for name, c in biolink_schema()["classes"].items()}
    exact: dict[str, list[str]] = {}
    for m in load_mappings().mappings:
        if m.predicate == "exactMatch":
            exact.setdefault(f"tkg:{m.subject}", []).append(m.object_id)
    nodes, edges = read_kgx(exported["kgx"])
    by_tkg = {}
    for node in nodes:
        xrefs = [x for x in node["xref"].split("|") if x]
        own = node["id"] if node["id"].startswith("tkg:") else next(x for x in xrefs if x.startswith("tkg:"))
        by_tkg[own] = node
        category = node["category"]
        preferred = classes[category].get("id_prefixes") or []
        candidates = [c for p in preferred for c in exact.get(own, []) if c.split(":", 1)[0] == p]
        assert node["id"] == (candidates[0] if candidates else own), (own, category, node["id"])
        assert set(exact.get(own, [])) | {own} == set(xrefs) | {node["id"]}, own
    assert by_tkg["tkg:UvealMelanoma"]["id"] == "MONDO:0006486" and "NCIT:C7712" in by_tkg["tkg:UvealMelanoma"]["xref"]
    assert by_tkg["tkg:CD19"]["id"] == "UniProtKB:P15391" and "HGNC:1633" in by_tkg["tkg:CD19"]["xref"]
    # Biolink lists no NCIt prefix for Drug: products keep tkg: and carry NCIt as an xref
    assert by_tkg["tkg:Tebentafusp"]["id"] == "tkg:Tebentafusp" and "NCIT:C94208" in by_tkg["tkg:Tebentafusp"]["xref"]
    assert by_tkg["tkg:LBCL"]["id"] == "tkg:LBCL" and "MONDO:0018905" in by_tkg["tkg:LBCL"]["skos_close_match"]
    # GD2 is a ganglioside, not a protein
    assert by_tkg["tkg:GD2"]["category"] == "biolink:SmallMolecule"
    assert biolink_category({"category": "Antigen", "id": "CD3"}) == "biolink:MacromolecularComplex"
    assert biolink_category({"category": "Antigen", "id": "CD19"}) == "biolink:Protein"
    node_ids = {n["id"] for n in nodes}
    assert all(e["subject"] in node_ids and e["object"] in node_ids for e in edges)
    assert any(e["object"] == "MONDO:0006486" for e in edges)


def test_docs_join_example_runs_on_the_export(exported, tmp_path):
    """docs/exports.md's worked join (its node lines and its code) gives the output it shows."""
    import re
    import sys

    doc = (Path(__file__).resolve().parents[1] / "docs" / "exports.md").read_text(encoding="utf-8")
    section = doc[doc.index("### Joining with another KG") :]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)
    (tmp_path / "other-nodes.tsv").write_text(blocks[0][1], encoding="utf-8")
    shutil.copy(exported["kgx"], tmp_path / "tcell-kg.kgx.tar.gz")
    result = subprocess.run([sys.executable, "-c", blocks[1][1]], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    printed = set(result.stdout.splitlines())
    shown = set(re.findall(r"`((?:MONDO|HGNC):\d+ [^`]+ <-> [^`]+)`", section.replace("\n", " ")))
    assert len(shown) == 4 and shown == printed, (shown, printed)
