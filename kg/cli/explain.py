"""`tkg explain FILE`: the extractor's reasoning on one study file, sentence by sentence."""

from __future__ import annotations

from pathlib import Path

import click

from ..readers import formats
from .core import RegistryChoice


@click.command("explain")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=RegistryChoice(formats), help="Force a format instead of detecting it.")
@click.option("--findings-only", is_flag=True, help="Show only the sentences where a finding was made or rejected.")
def explain(file: Path, fmt: str | None, findings_only: bool) -> None:
    """Show, sentence by sentence, how FILE is read: the mentions and the lexicon
    entry each matched, the clauses and their subjects, negation and hedges, and
    every finding made or rejected with the extraction rule that decided.

    It runs the same extractor as `tkg ingest` and writes nothing to any store.
    """
    from ..errors import IngestError
    from ..explain import format_trace, trace_record
    from ..extract import Extractor
    from ..ontology import default_ontology
    from ..readers import detect_format, read_file, reader

    fmt = fmt or detect_format(file)
    if not reader(fmt).text_mined:
        raise IngestError(
            f"a {fmt} record carries its own findings, nothing is extracted from it",
            where=str(file),
            expected="a file whose texts are mined (a study card, PubMed XML or ClinicalTrials.gov JSON)",
        )
    extractor = Extractor(default_ontology())
    for record in read_file(file, fmt):
        notes, findings = trace_record(record, extractor)
        click.echo(format_trace(record, notes, findings, only_findings=findings_only))
