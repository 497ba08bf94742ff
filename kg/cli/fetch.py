"""`tkg fetch pubmed|ctgov`, `tkg watch add|list|remove`, `tkg update`, `tkg diff`."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from ..errors import TkgError
from .common import fail, remote_options, store_option

_STATE_HELP = ("Folder for watches, the feed and the changelog (default: the store directory; "
               "for a SPARQL server store ./tkg-state).")
state_option = click.option("--state-dir", envvar="TKG_STATE_DIR", show_envvar=True, default=None, help=_STATE_HELP)
eutils_option = click.option("--eutils-url", envvar="TKG_EUTILS_URL", show_envvar=True, default=None,
                             help="Base URL of NCBI E-utilities (default https://eutils.ncbi.nlm.nih.gov/entrez/eutils/).")
ctgov_option = click.option("--ctgov-url", envvar="TKG_CTGOV_URL", show_envvar=True, default=None,
                            help="Base URL of the ClinicalTrials.gov API v2 (default https://clinicaltrials.gov/api/v2/).")


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date", param=param) from None


feed_option = click.option("--feed", type=click.Path(file_okay=False, path_type=Path), default=None,
                           help="Feed folder (default: feed/ in the state folder).")
since_option = click.option("--since", callback=_date, metavar="YYYY-MM-DD", help="Only records from this date on.")


def _feed(store: str, state_dir: str | None, feed: Path | None) -> Path:
    from ..watch import feed_dir
    from ..watch import state_dir as resolve_state

    return feed or feed_dir(resolve_state(store, state_dir))


def _ingest(store: str, paths: list[Path]) -> tuple[int, list[tuple[str, str]], str | None]:
    from ..graph import KnowledgeGraph

    def on_error(path: str, exc: TkgError) -> None:
        click.echo(f"error: {exc}", err=True)

    with KnowledgeGraph.open(store, mode="write") as kg:
        report = kg.ingest(paths, progress=True, on_error=on_error)
        release = kg.publish() if report.loaded else None
    return report.studies, report.failed, release


def _finish(summary, store: str, no_ingest: bool) -> None:
    from ..fetch import FetchSummary

    assert isinstance(summary, FetchSummary)
    paths = summary.to_ingest()
    failed: list[tuple[str, str]] = []
    if paths and not no_ingest:
        studies, failed, release = _ingest(store, paths)
        for path, _error in failed:
            record = Path(path).stem
            summary.records[record] = "failed"
        click.echo(summary.line())
        click.echo(f"ingested {studies} studies" + (f"; published release {release}" if release else ""))
    else:
        click.echo(summary.line())
        if paths:
            click.echo(f"{len(paths)} files downloaded, not ingested (--no-ingest): tkg ingest {paths[0].parent}")
    if failed or summary.failures:
        sys.exit(1)


@click.group()
def fetch() -> None:
    """Download records from PubMed or ClinicalTrials.gov into the feed folder and ingest them.

    One file per record (pubmed/<PMID>.xml, ctgov/<NCT id>.json): a re-fetch
    replaces the files it brings back. An interrupted fetch resumes when the
    same command runs again. Requests are rate-limited and retried with
    backoff on 429 and 5xx (honouring Retry-After).
    """


@fetch.command("pubmed")
@click.argument("query")
@since_option
@click.option("--max", "max_records", type=click.IntRange(min=1), default=None, help="Stop after this many records.")
@click.option("--date-type", type=click.Choice(["edat", "mdat", "pdat"]), default="edat", show_default=True,
              help="Which date --since filters on: Entrez (added to PubMed), modification or publication date.")
@feed_option
@click.option("--no-ingest", is_flag=True, help="Only download.")
@click.option("--email", envvar="NCBI_EMAIL", show_envvar=True, default=None, help="Your e-mail, sent as NCBI's policy asks.")
@eutils_option
@state_option
@store_option
@remote_options
def fetch_pubmed(query: str, since: dt.date | None, max_records: int | None, date_type: str, feed: Path | None, no_ingest: bool,
                 email: str | None, eutils_url: str | None, state_dir: str | None, store: str) -> None:
    """Fetch the PubMed articles matching QUERY (ESearch with the history server, EFetch in
    batches of 200). The NCBI API key is read from NCBI_API_KEY (10 requests a second
    instead of 3). Queries matching more than 10,000 records are split by date."""
    from ..fetch import pubmed

    api = pubmed.client(eutils_url, email=email)
    try:
        summary = pubmed.fetch_pubmed(query, _feed(store, state_dir, feed), since=since, max_records=max_records, datetype=date_type,
                                      api=api, progress=True)
    finally:
        api.close()
    _finish(summary, store, no_ingest)


@fetch.command("ctgov")
@click.option("--query", "term", default=None, help="Search terms (query.term).")
@click.option("--condition", default=None, help="Condition or disease (query.cond).")
@click.option("--intervention", default=None, help="Intervention or treatment (query.intr).")
@since_option
@click.option("--max", "max_records", type=click.IntRange(min=1), default=None, help="Stop after this many records.")
@click.option("--page-size", type=click.IntRange(1, 1000), default=1000, show_default=True, help="Studies per page.")
@feed_option
@click.option("--no-ingest", is_flag=True, help="Only download.")
@ctgov_option
@state_option
@store_option
@remote_options
def fetch_ctgov(term: str | None, condition: str | None, intervention: str | None, since: dt.date | None, max_records: int | None,
                page_size: int, feed: Path | None, no_ingest: bool, ctgov_url: str | None, state_dir: str | None, store: str) -> None:
    """Fetch trial records from the ClinicalTrials.gov API v2 (--since filters on the last-update
    date). A trial whose last-update date is not newer than the copy in the feed is unchanged
    and not re-ingested."""
    from ..fetch import ctgov

    if not any((term, condition, intervention)):
        raise click.UsageError("give --query, --condition or --intervention")
    api = ctgov.client(ctgov_url)
    try:
        summary = ctgov.fetch_ctgov(_feed(store, state_dir, feed), term=term, condition=condition, intervention=intervention,
                                    since=since, max_records=max_records, page_size=page_size, api=api, progress=True)
    finally:
        api.close()
    _finish(summary, store, no_ingest)


@click.group()
def watch() -> None:
    """Saved searches that `tkg update` keeps current (kept in the state folder)."""


@watch.command("add")
@click.argument("name")
@click.option("--pubmed", "pubmed_query", default=None, help="PubMed query.")
@click.option("--ctgov", "ctgov_term", default=None, help="ClinicalTrials.gov search terms (query.term).")
@click.option("--condition", default=None, help="ClinicalTrials.gov condition (query.cond).")
@click.option("--intervention", default=None, help="ClinicalTrials.gov intervention (query.intr).")
@since_option
@state_option
@store_option
def watch_add(name: str, pubmed_query: str | None, ctgov_term: str | None, condition: str | None, intervention: str | None,
              since: dt.date | None, state_dir: str | None, store: str) -> None:
    """Save a watch NAME; the first `tkg update` fetches everything it matches (or from --since)."""
    from ..watch import add_watch
    from ..watch import state_dir as resolve_state

    add_watch(resolve_state(store, state_dir), name, pubmed=pubmed_query, ctgov=ctgov_term, condition=condition,
              intervention=intervention, since=since)
    click.echo(f"added watch {name}")


@watch.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@state_option
@store_option
def watch_list(fmt: str, state_dir: str | None, store: str) -> None:
    """List the saved watches with their last successful update."""
    from ..watch import load_watches
    from ..watch import state_dir as resolve_state

    watches = load_watches(resolve_state(store, state_dir))
    if fmt == "json":
        click.echo(json.dumps(watches, indent=1, sort_keys=True))
        return
    if not watches:
        click.echo("no watches (add one with `tkg watch add NAME --pubmed QUERY --ctgov TERM`)")
    for name, w in sorted(watches.items()):
        parts = [f"{key}={w[key]!r}" for key in ("pubmed", "ctgov", "condition", "intervention") if w.get(key)]
        click.echo(f"{name}: {' '.join(parts)}; last run {w.get('last_run') or 'never'}")


@watch.command("remove")
@click.argument("name")
@state_option
@store_option
def watch_remove(name: str, state_dir: str | None, store: str) -> None:
    """Remove the watch NAME (fetched records stay in the graph and the feed)."""
    from ..watch import remove_watch
    from ..watch import state_dir as resolve_state

    remove_watch(resolve_state(store, state_dir), name)
    click.echo(f"removed watch {name}")


@click.command()
@eutils_option
@ctgov_option
@state_option
@store_option
@remote_options
def update(eutils_url: str | None, ctgov_url: str | None, state_dir: str | None, store: str) -> None:
    """Fetch every watch since its last successful run, ingest what is new or changed,
    publish, and write a changelog entry for the new release.

    Safe from cron: a second run while one is going refuses at once (exit 1);
    a killed run is resumed by the next one and the published release is only
    replaced by a complete one. A watch the service refuses is reported and
    fetched again next time; the others still go in (exit 1).
    """
    from ..watch import run_update
    from ..watch import state_dir as resolve_state

    report = run_update(store, resolve_state(store, state_dir), eutils_url=eutils_url, ctgov_url=ctgov_url, progress=True,
                        log=lambda line: click.echo(line, err=True))
    for name, summary in report.summaries:
        click.echo(f"{name}: {summary.line().split(': ', 1)[1]}")
    click.echo(f"ingested {report.ingested} studies" + (f"; {len(report.failed)} files failed" if report.failed else ""))
    if report.release:
        click.echo(f"published release {report.release}")
    if report.change is not None:
        from ..diff import headline

        click.echo(headline(report.change))
    elif not report.release:
        click.echo("nothing new")
    for where, error in report.errors:
        click.echo(f"failed: {where}: {error}", err=True)
    if report.failed or report.errors:
        sys.exit(1)


@click.command()
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@state_option
@store_option
def diff(old: str | None, new: str | None, fmt: str, state_dir: str | None, store: str) -> None:
    """What changed between two releases (default: the two latest): studies added, removed
    and changed, findings added and removed, evidence matrix cells whose counts changed,
    new entities and lexicon candidates. For a SPARQL server store, which has no
    releases, OLD and NEW name updates from the changelog."""
    from .. import diff as diffs
    from ..watch import is_directory_store
    from ..watch import state_dir as resolve_state

    state = resolve_state(store, state_dir)
    root = Path(store)
    labels = diffs.releases(root) if is_directory_store(store) else []
    saved = sorted(p.stem for p in (diffs.changes_dir(state) / "snapshots").glob("*.json"))
    known = sorted(set(labels) | set(saved))
    if new is None:
        if old is not None:
            new = known[-1] if known else None
        else:
            if len(known) < 2:
                fail(f"need two releases to compare, found {len(known)} ({', '.join(known) or 'none'}) in {state}")
            old, new = known[-2], known[-1]
    if new is None:
        fail("no release to compare with")

    def snap(label: str) -> dict:
        found = diffs.load_snapshot(state, label)
        if found is not None:
            return found
        if is_directory_store(store):
            return diffs.release_snapshot(root, label)
        raise diffs.DiffError(f"no saved snapshot {label!r}", where=str(state), expected="one of: " + (", ".join(saved) or "(none)"))

    change = diffs.diff(snap(old), snap(new))
    click.echo(json.dumps(change, indent=1) if fmt == "json" else diffs.to_text(change))
