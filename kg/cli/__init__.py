"""The ``tkg`` command line: a thin layer over :mod:`kg`.

Sub-commands live in their own modules and are imported only when used
(a registry with lazy imports), so ``tkg --help`` stays fast and a broken
optional dependency only affects its own command.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" (a click.Command)
COMMANDS: dict[str, str] = {
    "build": "kg.cli.core:build",
    "ingest": "kg.cli.core:ingest",
    "query": "kg.cli.core:query",
    "export": "kg.cli.core:export",
    "eval": "kg.cli.evaluate:eval_command",
    "explain": "kg.cli.explain:explain",
    "stats": "kg.cli.core:stats",
    "validate": "kg.cli.core:validate",
    "ontology": "kg.cli.core:ontology",
    "publish": "kg.cli.core:publish",
    "releases": "kg.cli.core:releases",
    "serve": "web.cli:serve",
    "bench": "kg.cli.bench:bench",
    "analyze": "kg.cli.analyze:analyze",
    "release": "kg.cli.release:release",
    "fetch": "kg.cli.fetch:fetch",
    "watch": "kg.cli.fetch:watch",
    "update": "kg.cli.fetch:update",
    "diff": "kg.cli.fetch:diff",
    "lexicon": "kg.cli.lexicon:lexicon",
}

# One-line help shown by `tkg --help` without importing each module.
SUMMARIES: dict[str, str] = {
    "build": "Rebuild the graph from ontology/ and data/, validate it and publish it.",
    "ingest": "Read study files (cards, PubMed XML, ClinicalTrials.gov JSON, YAML) into the graph.",
    "query": "Run a SPARQL query against the published graph.",
    "export": "Write the graph in an RDF or graph format.",
    "eval": "Score extraction on the gold set, and with --real DIR on annotated real texts (recall, precision, wrong links).",
    "explain": "Show sentence by sentence how the extractor reads a study file and why it made each finding.",
    "stats": "Count studies, findings, entities and triples.",
    "validate": "Check the graph against the SHACL shapes and every evidence quote against its text.",
    "ontology": "Check the ontology with the HermiT reasoner.",
    "publish": "Publish the work store as a new read-only release.",
    "releases": "List the published releases and their disk use; pin or unpin one.",
    "serve": "Serve the graph over HTTP: dashboard, SPARQL endpoint, pages, downloads.",
    "bench": "Measure ingest, query latency, startup and memory against rdflib, Oxigraph server and Virtuoso.",
    "analyze": "Rank shared barriers, contrast heme vs solid tumors, report evidence gaps (--plot for figures).",
    "release": "Write a dated release folder: every export format, checksums, VoID/DCAT and a QC report.",
    "fetch": "Download and ingest records from PubMed (E-utilities) or ClinicalTrials.gov (API v2).",
    "watch": "Save, list or remove the searches `tkg update` keeps current.",
    "update": "Fetch every watch since its last run, ingest what is new or changed, publish, write a changelog.",
    "diff": "What changed between two releases: studies, findings, matrix cells, new entities.",
    "lexicon": "List therapy-like names the lexicon does not know (candidates), with counts and examples.",
}


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        # Errors from bad input are one line and a non-zero exit, never a traceback.
        from ..errors import TkgError

        try:
            return super().invoke(ctx)
        except TkgError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUMMARIES.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tcell-kg", prog_name="tkg")
def main() -> None:
    """tcell-kg: a knowledge graph of T cell-based cancer therapies and their barriers.

    The graph lives in a store chosen by --store or TKG_STORE: a directory
    (default ./var: an embedded Oxigraph store with published releases) or
    `memory:` (in-memory, for tests).
    """
