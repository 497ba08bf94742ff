"""Core commands: build, ingest, query, export, stats, validate, ontology, publish."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from ..errors import TkgError
from ..export import export_formats
from ..export import formats as export_registry
from ..graph import DATA_DIR, KnowledgeGraph
from ..namespaces import PREFIXES
from ..ontology import ONTOLOGY_DIR
from ..readers import formats, study_suffixes
from .common import bulk_options, fail, keep_option, remote_options, store_option

QUERY_FORMATS = ("table", "json", "csv", "tsv", "turtle", "xml")


@click.command()
@store_option
@remote_options
@click.option(
    "--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=DATA_DIR,
    show_default="data/ of the project", help="Directory with studies/*.yaml.",
)
@click.option(
    "--ontology", "ontology_dir", type=click.Path(file_okay=False, path_type=Path), default=ONTOLOGY_DIR,
    show_default="ontology/ of the project", help="Directory with the ontology Turtle files and shapes.ttl.",
)
@click.option("--no-validate", is_flag=True, help="Skip the SHACL and quote checks (not recommended).")
@click.option("--no-publish", is_flag=True, help="Leave the new graph in the work store without publishing it.")
@keep_option
def build(store: str, data_dir: Path, ontology_dir: Path, no_validate: bool, no_publish: bool, keep: int) -> None:
    """Rebuild the graph from the ontology and the curated records.

    The new graph is loaded beside the current one, validated (SHACL shapes
    and evidence quotes), and only then replaces it and is published. On any
    error the current graph stays as it was.
    """
    with KnowledgeGraph.open(store, mode="write") as kg:
        report = kg.build(data_dir, ontology_dir, progress=True, validate=not no_validate)
        release = None if no_publish else kg.publish(keep=keep)
    click.echo(f"built {report.studies} studies from {len(report.loaded)} records, {report.quads} quads")
    if release:
        click.echo(f"published release {release}")




class RegistryChoice(click.Choice):
    """The names a registry holds, read when the option is used (plugins included),
    not when the command is imported."""

    def __init__(self, names: Callable[[], list[str]]) -> None:
        self._names = names
        super().__init__([])

    @property
    def choices(self) -> list[str]:  # type: ignore[override]
        return self._names()

    @choices.setter
    def choices(self, value: object) -> None:
        pass


class ExportFormatOption(click.Option):
    """--format of `tkg export`: its help lists the registered formats when it is shown."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = "One of the registered export formats: " + "; ".join(f"{f.name}: {f.description}" for f in export_registry()) + "."
        return super().get_help_record(ctx)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_option
@remote_options
@bulk_options
@click.option("--format", "fmt", type=RegistryChoice(formats), help="Force a format instead of detecting it.")
@click.option("--no-publish", is_flag=True, help="Do not publish a release after ingesting (batch several commands).")
@click.option("--follow-symlinks", is_flag=True, help="Read symbolic links in a directory that lead outside it (refused by default).")
@keep_option
def ingest(files: tuple[Path, ...], store: str, fmt: str | None, no_publish: bool, follow_symlinks: bool, keep: int) -> None:
    """Read study files into the graph: study cards (.txt), PubMed XML,
    ClinicalTrials.gov API v2 JSON, or curated YAML records.

    Directories are searched for such files; symbolic links that lead outside
    a directory are refused unless --follow-symlinks. Each study replaces its
    own named graph; a file that cannot be read writes nothing and is
    reported, the other files still go in; a study id found in two files is
    reported as a conflict (the later file's version stays). Exits with
    status 1 if any file failed.
    """
    suffixes = study_suffixes()  # what the registered readers read
    paths: list[Path] = []
    skipped: list[Path] = []
    outside: list[Path] = []
    for item in files:
        if item.is_dir():
            root = item.resolve()
            found = sorted(p for p in item.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not follow_symlinks:  # a link inside DIR must not read a file elsewhere on the machine
                outside.extend(p for p in found if not p.resolve().is_relative_to(root))
                found = [p for p in found if p.resolve().is_relative_to(root)]
            paths.extend(p for p in found if p.suffix.lower() in suffixes)
            skipped.extend(p for p in found if p.suffix.lower() not in suffixes)
        else:
            paths.append(item)
    for path in skipped:
        click.echo(f"skipped: {path}: not a study file (expected {', '.join(suffixes)})", err=True)
    for path in outside:
        click.echo(f"refused: {path}: a symbolic link to {path.resolve()}, outside the directory (--follow-symlinks reads it)", err=True)
    if not paths:
        fail("no study files found in the given directories")

    def on_error(path: str, exc: TkgError) -> None:
        message = str(exc)
        click.echo(f"error: {message if message.startswith(path) else f'{path}: {message}'}", err=True)

    with KnowledgeGraph.open(store, mode="write") as kg:
        report = kg.ingest(paths, fmt=fmt, progress=True, on_error=on_error)
        release = kg.publish(keep=keep) if report.loaded and not no_publish else None
    conflicts = report.conflicts
    summary = f"ingested {report.studies} studies from {len(report.loaded)} of {len(paths)} files ({report.quads} quads)"
    summary += f"; {len(report.failed)} failed"
    if outside:
        summary += f"; {len(outside)} symbolic links leading outside the directory refused"
    if conflicts:
        summary += f"; {len(conflicts)} study ids in more than one file"
    click.echo(summary)
    for study, owners in conflicts:
        click.echo(f"conflict: study id {study!r} is in {', '.join(owners)}; the store holds the version of {owners[-1]}", err=True)
    if report.failed:
        click.echo("failed: " + ", ".join(path for path, _ in report.failed), err=True)
    if release:
        click.echo(f"published release {release}")
    if report.failed:
        sys.exit(1)


def _short(term: object) -> str:
    text = str(term)
    for prefix, iri in PREFIXES.items():
        if text.startswith(iri) and "/" not in text[len(iri):] and "#" not in text[len(iri):]:
            return f"{prefix}:{text[len(iri):]}"
    return text


def _table(result) -> str:
    if result.kind == "ask":
        return "true" if result.boolean else "false"
    variables = result.variables
    rows = [[_short(row.get(v, "")) for v in variables] for row in result.rows]
    widths = [min(60, max([len(v)] + [len(r[i]) for r in rows])) for i, v in enumerate(variables)]

    def fit(cell: str, width: int) -> str:
        return cell if len(cell) <= width else cell[: width - 1] + "…"

    lines = ["  ".join(v.ljust(w) for v, w in zip(variables, widths, strict=True)).rstrip(), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(fit(c, w).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


@click.command()
@click.argument("sparql", required=False)
@click.option("-f", "--file", "file", type=click.File("r", encoding="utf-8"), help="Read the query from a file (- for standard input).")
@click.option("-n", "--name", help="Run a shipped named query, e.g. cq1 (see --list).")
@click.option("--list", "list_", is_flag=True, help="List the shipped named queries.")
@click.option("--format", "fmt", type=click.Choice(QUERY_FORMATS), default="table", show_default=True,
              help="table for people; json, xml, csv, tsv: W3C SPARQL results formats; turtle for CONSTRUCT/DESCRIBE.")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Let SERVICE and LOAD call other servers from this machine (refused by default, as on /sparql).",
)
@store_option
@remote_options
def query(sparql: str | None, file, name: str | None, list_: bool, fmt: str, allow_remote: bool, store: str) -> None:
    """Run a SPARQL query against the published graph.

    The default graph is the union of all named graphs (one per study, plus
    the ontology). Give the query as an argument, with -f FILE, or with
    --name for a shipped competency question. The query passes the same
    guard as the /sparql endpoint: SERVICE and LOAD are refused unless
    --allow-remote is given.
    """
    from ..errors import QueryRefused
    from ..queries import list_queries, load_query
    from ..sparql_guard import analyze_query

    if list_:
        for q in list_queries():
            click.echo(f"{q.name:40s} {q.title}: {q.description}")
        return
    given = [x for x in (sparql, file, name) if x]
    if len(given) != 1:
        raise click.UsageError("give exactly one of: a query argument, -f FILE, or --name NAME")
    text = sparql or (file.read() if file else load_query(name).sparql)  # type: ignore[union-attr]
    if not allow_remote:
        try:
            text = analyze_query(text).text  # the text the guard checked is the one that runs
        except QueryRefused as exc:
            raise QueryRefused(f"{exc.message} On your own machine, --allow-remote lets this query call other servers.") from None
    with KnowledgeGraph.open(store) as kg:
        if fmt == "table":
            click.echo(_table(kg.query(text)))
            return
        out_fmt = "turtle" if fmt == "turtle" else fmt
        _kind, data = kg.store.query_serialized(text, out_fmt)
    sys.stdout.buffer.write(data)
    if not data.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")


@click.command()
@click.option(
    "--format",
    "fmt",
    required=True,
    type=RegistryChoice(export_formats),
    cls=ExportFormatOption,
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@store_option
@remote_options
def export(fmt: str, output: Path, store: str) -> None:
    """Write the published graph to a file.

    nq, trig and jsonld keep one named graph per study (jsonld compacted
    with the published context ontology/context.jsonld); ttl, nt and rdfxml
    hold the union of all graphs. The graph formats hold the typed graph of
    entities and their relations, each edge with its supporting studies.
    sssom writes the entities' MONDO, NCIt, HGNC and UniProtKB ids with their
    sources (ontology/mappings.sssom.tsv).
    """
    from ..export import export as do_export

    with KnowledgeGraph.open(store) as kg:
        do_export(kg, fmt, output)
    click.echo(f"wrote {output}")


@click.command()
@store_option
@remote_options
def stats(store: str) -> None:
    """Count studies, findings, domain entities, named graphs and quads, and
    the coverage of standard identifiers (MONDO, NCIt, HGNC ...) by category."""
    from ..identifiers import store_coverage

    with KnowledgeGraph.open(store) as kg:
        for key, value in kg.stats().items():
            click.echo(f"{key:10s} {value}")
        click.echo("standard identifiers (ontology/mappings.sssom.tsv), coverage by category:")
        for row in store_coverage(kg):
            click.echo("  " + row.line())


@click.command()
@store_option
@remote_options
def validate(store: str) -> None:
    """Run the SHACL shapes over every study graph and check every evidence
    quote against the text at its offsets. Exits with status 1 on any problem."""
    from ..validate import validate_store

    with KnowledgeGraph.open(store) as kg:
        result = validate_store(kg.store)
    for study, problems in sorted(result.by_study().items()):
        click.echo(f"{study}:")
        for problem in problems:
            click.echo(f"  {problem.focus}: {problem.message}")
    click.echo(result.summary())
    if not result.ok:
        sys.exit(1)


@click.group()
def ontology() -> None:
    """Work with the ontology."""


@ontology.command("check")
@click.option(
    "--ontology", "ontology_dir", type=click.Path(file_okay=False, path_type=Path), default=ONTOLOGY_DIR,
    show_default="ontology/ of the project",
)
@click.option("--store", default=None, help="Check the schema part of this built graph (its ontology graph) instead of the Turtle sources.")
def ontology_check(ontology_dir: Path, store: str | None) -> None:
    """Load the ontology with owlready2 and run the HermiT reasoner (needs Java).
    Fails on inconsistency or unsatisfiable classes."""
    from ..namespaces import ONTOLOGY_GRAPH
    from ..reasoner import check_graph, check_ontology

    if store:
        with KnowledgeGraph.open(store) as kg:
            schema = kg.query(f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{ONTOLOGY_GRAPH}> {{ ?s ?p ?o }} }}").to_graph()
        if not len(schema):
            fail(f"the graph in {store} has no ontology graph")
        report = check_graph(schema)
    else:
        report = check_ontology(ontology_dir)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@click.command()
@store_option
@remote_options
@keep_option
@click.option("--full", is_flag=True, help="Recompute the precomputed views, matrix cells and projection over the whole graph.")
def publish(store: str, keep: int, full: bool) -> None:
    """Publish the work store as a new read-only release (after --no-publish).

    The release is a checkpoint that shares unchanged files with the earlier
    ones. What publishing precomputes (dashboard, matrix cells, the explorer's
    projection) is updated from the studies changed since the previous
    release, or recomputed in full when the ontology changed or with --full."""
    with KnowledgeGraph.open(store, mode="write") as kg:
        release = kg.publish(keep=keep, full=full)
    click.echo(f"published release {release}" if release else "nothing to publish for this store")


def _size(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)  # pragma: no cover


@click.command()
@store_option
@click.option("--pin", "pin", metavar="RELEASE", help="Keep this release whatever --keep says.")
@click.option("--unpin", "unpin", metavar="RELEASE", help="Let retention remove this release again.")
def releases(store: str, pin: str | None, unpin: str | None) -> None:
    """List the published releases of an embedded store with the disk each uses.

    SIZE is a release's size as a copy; OWN is what it alone holds on disk
    (files no other release nor the work store shares), i.e. what removing it
    frees. Releases share unchanged files (hard links of RocksDB checkpoints)."""
    with KnowledgeGraph.open(store, mode="write" if pin or unpin else "read") as kg:
        if pin:
            kg.store.pin(pin)
        if unpin:
            kg.store.pin(unpin, pinned=False)
        rows = kg.store.release_usage()
    click.echo(f"{'RELEASE':26s} {'SIZE':>10s} {'OWN':>10s}")
    for row in rows:
        marks = " ".join(m for m, on in (("current", row["current"]), ("pinned", row["pinned"])) if on)
        click.echo(f"{row['release']:26s} {_size(row['size']):>10s} {_size(row['own']):>10s} {marks}".rstrip())
    click.echo(f"{len(rows)} releases, {_size(sum(r['own'] for r in rows))} held by releases alone")
