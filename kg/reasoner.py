"""Reasoning over the ontology with owlready2 and HermiT (needs Java).

owlready2 reads RDF/XML and N-Triples, not Turtle, so the Turtle sources are
converted with rdflib into a temporary N-Triples file first. Each check runs
in a fresh owlready2 World, so checks do not leak into each other.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rdflib import Graph

from .errors import ValidationError
from .ontology import ONTOLOGY_DIR, load_ontology_graph


@dataclass
class ReasonerReport:
    classes: int = 0
    consistent: bool = True
    unsatisfiable: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.consistent and not self.unsatisfiable

    def summary(self) -> str:
        if not self.consistent:
            return f"ontology is INCONSISTENT: {self.message}"
        if self.unsatisfiable:
            return f"{len(self.unsatisfiable)} unsatisfiable class(es): " + ", ".join(self.unsatisfiable)
        return f"ontology is consistent: {self.classes} classes, none unsatisfiable (HermiT)"


def check_graph(graph: Graph) -> ReasonerReport:
    """Run HermiT on an ontology graph."""
    if shutil.which("java") is None:
        raise ValidationError(
            "the HermiT reasoner needs Java, which is not installed", expected="a `java` on PATH (apt-get install default-jre-headless)"
        )
    import owlready2
    from owlready2 import OwlReadyInconsistentOntologyError, World, sync_reasoner

    report = ReasonerReport()
    with tempfile.TemporaryDirectory(prefix="tkg-reasoner-") as tmp:
        path = Path(tmp) / "ontology.nt"
        graph.serialize(path, format="nt", encoding="utf-8")
        world = World()
        onto = world.get_ontology(path.as_uri()).load(format="ntriples")
        report.classes = len(list(onto.classes()))
        try:
            with onto:
                sync_reasoner(world, infer_property_values=False, debug=0)
        except OwlReadyInconsistentOntologyError as exc:
            report.consistent = False
            report.message = str(exc).strip().splitlines()[0] if str(exc).strip() else "the reasoner found a contradiction"
            return report
        except (owlready2.OwlReadyJavaError, OSError) as exc:
            raise ValidationError(f"the reasoner failed to run: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}") from None
        nothing = owlready2.Nothing
        report.unsatisfiable = sorted(c.iri for c in world.inconsistent_classes() if c is not nothing)
    return report


def check_ontology(directory: Path = ONTOLOGY_DIR) -> ReasonerReport:
    return check_graph(load_ontology_graph(directory))
