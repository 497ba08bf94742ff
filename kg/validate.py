"""Validation of the graph: SHACL shapes per study graph, and every evidence
quote checked against the text at its offsets (claims that can be checked)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rdflib import Graph, URIRef
from rdflib.namespace import SH

from .namespaces import ONTOLOGY_GRAPH, SPARQL_PREFIXES, local_name
from .ontology import load_shapes
from .stores import Store

QUOTE_QUERY = SPARQL_PREFIXES + """
SELECT ?g ?finding ?quote ?start ?end ?content WHERE {
  GRAPH ?g {
    ?finding a tkg:Finding ; tkg:evidenceQuote ?quote ; tkg:quoteStart ?start ; tkg:quoteEnd ?end .
    OPTIONAL { ?finding tkg:quoteIn ?block . ?block tkg:content ?content . }
  }
}"""


@dataclass(frozen=True)
class Problem:
    graph: str  # the study's named graph
    focus: str
    message: str

    @property
    def study(self) -> str:
        return local_name(self.graph)


@dataclass
class ValidationResult:
    shacl: list[Problem] = field(default_factory=list)
    quotes: list[Problem] = field(default_factory=list)
    graphs: int = 0
    findings: int = 0

    @property
    def ok(self) -> bool:
        return not self.shacl and not self.quotes

    def by_study(self) -> dict[str, list[Problem]]:
        grouped: dict[str, list[Problem]] = defaultdict(list)
        for problem in self.shacl + self.quotes:
            grouped[problem.study].append(problem)
        return dict(grouped)

    def summary(self) -> str:
        if self.ok:
            return f"{self.graphs} study graphs, {self.findings} evidence quotes: no violations"
        studies = ", ".join(sorted(self.by_study())[:5])
        return (
            f"{len(self.shacl)} SHACL violation(s) and {len(self.quotes)} failed quote check(s) "
            f"in {len(self.by_study())} study graph(s) ({studies}{', ...' if len(self.by_study()) > 5 else ''})"
        )


def check_quotes(store: Store) -> tuple[int, list[Problem]]:
    problems = []
    rows = store.query(QUOTE_QUERY).rows
    for row in rows:
        graph, finding, quote = str(row["g"]), str(row["finding"]), str(row["quote"])
        start, end = int(row["start"].toPython()), int(row["end"].toPython())
        content = row.get("content")
        if content is None:
            problems.append(Problem(graph, finding, "the quote's text block is missing"))
        elif str(content)[start:end] != quote:
            found = str(content)[start:end]
            problems.append(Problem(graph, finding, f"quote does not match the text at [{start}:{end}]: text has {found[:50]!r}"))
    return len(rows), problems


def shacl_problems(graph_name: str, data: Graph, ontology: Graph, shapes: Graph) -> list[Problem]:
    from pyshacl import validate

    conforms, report, _text = validate(
        data, shacl_graph=shapes, ont_graph=ontology, inference="none", advanced=True, allow_warnings=True
    )
    if conforms:
        return []
    problems = []
    for result in report.subjects(SH.resultSeverity, SH.Violation):
        focus = report.value(result, SH.focusNode)
        path = report.value(result, SH.resultPath)
        message = report.value(result, SH.resultMessage) or "constraint violated"
        where = f" ({local_name(str(path))})" if isinstance(path, URIRef) else ""
        problems.append(Problem(graph_name, str(focus), f"{message}{where}"))
    return problems


def validate_store(store: Store) -> ValidationResult:
    """Run the SHACL shapes on every study graph and check every quote."""
    result = ValidationResult()
    shapes = load_shapes()
    graphs: dict[str, Graph] = defaultdict(Graph)
    for s, p, o, g in store.quads():
        graphs[str(g)].add((s, p, o))
    ontology = graphs.pop(str(ONTOLOGY_GRAPH), Graph())
    for name, data in sorted(graphs.items()):
        result.shacl.extend(shacl_problems(name, data, ontology, shapes))
    result.graphs = len(graphs)
    result.findings, result.quotes = check_quotes(store)
    return result
