"""Watches (saved searches) and ``tkg update``: fetch what is new, ingest, publish, write a changelog.

State lives in a folder: the store directory itself for an embedded store
(``watches.json``, ``feed/``, ``changes/``), or a local folder for a remote
store, which keeps no files of ours (``--state-dir`` / ``TKG_STATE_DIR``,
default ``./tkg-state``).

An update is safe to run from cron:

* a lock file (``update.lock``, ``flock``) makes a second concurrent run
  refuse at once with a one-line message;
* a journal (``.update-journal.json``) records each step: the run's date,
  which watches are fetched, the files waiting to be ingested, whether the
  release is published. A killed run is resumed by the next one from its
  journal (fetches resume from their own state files); the published release
  is only switched when complete, so nothing published is lost;
* a watch's ``last_run`` moves only when the update finished and its fetches
  succeeded, so the next run fetches from there again (a day of overlap is
  harmless: unchanged records are not re-ingested); a watch the service
  refuses (a bad query, a quota) is reported and skipped, and the other
  watches still go in.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .errors import TkgError
from .fetch import FetchError, FetchSummary, Journal, write_atomic

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DEFAULT_REMOTE_STATE = "tkg-state"


class WatchError(TkgError):
    """A watch is malformed, missing or already exists, or an update cannot run."""


def is_directory_store(store: str) -> bool:
    return not (str(store).startswith(("http://", "https://")) or str(store).startswith("memory:"))


def state_dir(store: str, override: str | Path | None = None) -> Path:
    """Where watches, the feed and the changelog of ``store`` live."""
    chosen = override or os.environ.get("TKG_STATE_DIR")  # the state_dir setting (kg.config)
    if chosen:
        return Path(chosen).expanduser()
    return Path(str(store)).expanduser() if is_directory_store(store) else Path(DEFAULT_REMOTE_STATE)


def feed_dir(state: Path) -> Path:
    return state / "feed"


# -- watches ------------------------------------------------------------------------------
def _watches_file(state: Path) -> Path:
    return state / "watches.json"


def load_watches(state: Path) -> dict[str, dict[str, Any]]:
    path = _watches_file(state)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise WatchError(f"cannot read the watches: {exc}", where=str(path), expected="the JSON file tkg writes") from None
    watches = data.get("watches") if isinstance(data, dict) else None
    if not isinstance(watches, dict):
        raise WatchError("the watches file has no 'watches' object", where=str(path))
    return watches


def save_watches(state: Path, watches: dict[str, dict[str, Any]]) -> None:
    write_atomic(_watches_file(state), json.dumps({"watches": watches}, indent=1, sort_keys=True).encode("utf-8"))


def add_watch(state: Path, name: str, *, pubmed: str | None = None, ctgov: str | None = None, condition: str | None = None,
              intervention: str | None = None, since: dt.date | None = None) -> dict[str, Any]:
    if not NAME.fullmatch(name):
        raise WatchError(f"invalid watch name {name!r}",
                         expected="letters, digits, '.', '_' or '-', at most 64, starting with a letter or digit")
    if not any(x and x.strip() for x in (pubmed, ctgov, condition, intervention)):
        raise WatchError(f"watch {name!r} watches nothing", expected="--pubmed QUERY and/or --ctgov TERM (or --condition / --intervention)")
    watches = load_watches(state)
    if name in watches:
        raise WatchError(f"a watch named {name!r} already exists", expected="another name, or `tkg watch remove` first")
    watch = {"pubmed": pubmed or None, "ctgov": ctgov or None, "condition": condition or None, "intervention": intervention or None,
             "since": since.isoformat() if since else None, "last_run": None,
             "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    watches[name] = watch
    state.mkdir(parents=True, exist_ok=True)
    save_watches(state, watches)
    return watch


def remove_watch(state: Path, name: str) -> None:
    watches = load_watches(state)
    if name not in watches:
        raise WatchError(f"no watch named {name!r}", expected="one of: " + (", ".join(sorted(watches)) or "(none saved)"))
    del watches[name]
    save_watches(state, watches)


# -- the update lock ----------------------------------------------------------------------
class UpdateLock:
    """An exclusive, non-blocking lock on ``update.lock``; released when the process ends, even if killed."""

    def __init__(self, state: Path):
        self.path = state / "update.lock"
        self.handle: IO[str] | None = None

    def __enter__(self) -> UpdateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the update's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise WatchError(f"another tkg update is running ({holder}); this one did nothing", where=str(self.path)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.handle:
            self.handle.close()  # closing releases the flock


# -- update -------------------------------------------------------------------------------
@dataclass
class UpdateReport:
    summaries: list[tuple[str, FetchSummary]] = field(default_factory=list)
    ingested: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    release: str | None = None
    changelog: Path | None = None
    change: dict[str, Any] | None = None
    resumed: bool = False
    errors: list[tuple[str, str]] = field(default_factory=list)  # (watch and source, why it was refused)


def _since(watch: dict[str, Any]) -> dt.date | None:
    value = watch.get("last_run") or watch.get("since")
    return dt.date.fromisoformat(value) if value else None


def run_update(
    store: str,
    state: Path,
    *,
    eutils_url: str | None = None,
    ctgov_url: str | None = None,
    progress: bool = False,
    pubmed_client: Any = None,
    ctgov_client: Any = None,
    publish: bool = True,
    log: Callable[[str], None] = lambda line: None,
    after_step: Callable[[str], None] = lambda step: None,
) -> UpdateReport:
    """Fetch every watch since its last successful run, ingest, publish, write the changelog."""
    from . import diff as diffs
    from .fetch import ctgov as ctgov_fetch
    from .fetch import pubmed as pubmed_fetch
    from .graph import KnowledgeGraph

    report = UpdateReport()
    if str(store).startswith("memory:"):
        raise WatchError("`tkg update` needs a store that persists", where=str(store), expected="a store directory or a SPARQL server URL")
    with UpdateLock(state):
        watches = load_watches(state)
        if not watches:
            raise WatchError("no watches saved for this store", where=str(state), expected="`tkg watch add NAME --pubmed QUERY` first")
        journal = Journal(state / ".update-journal.json")
        feed = feed_dir(state)
        if journal.load():
            report.resumed = True
            log(f"resuming the update started {journal.data['started']}")
        else:
            journal.data = {"started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                            "run_date": dt.date.today().isoformat(), "fetched": {}, "pending": [], "ingested": False,
                            "published": None, "before": _current_label(store, state)}
            saved = diffs.load_snapshot(state, journal.data["before"]) if journal.data["before"] else None
            before = saved or _snapshot_of_current(store, journal.data["before"] or "empty")
            write_atomic(state / ".update-before.json", json.dumps(before).encode("utf-8"))
            journal.save()
        until = dt.date.fromisoformat(journal.data["run_date"])
        api_pubmed = pubmed_client or pubmed_fetch.client(eutils_url)
        api_ctgov = ctgov_client or ctgov_fetch.client(ctgov_url)
        for name, watch in sorted(watches.items()):
            done = journal.data["fetched"].setdefault(name, {})
            since = _since(watch)
            jobs: list[tuple[str, Callable[[], FetchSummary]]] = []
            if watch.get("pubmed"):
                jobs.append(("pubmed", lambda w=watch, s=since: pubmed_fetch.fetch_pubmed(
                    w["pubmed"], feed, since=s, until=until, api=api_pubmed, progress=progress)))
            if watch.get("ctgov") or watch.get("condition") or watch.get("intervention"):
                jobs.append(("ctgov", lambda w=watch, s=since: ctgov_fetch.fetch_ctgov(
                    feed, term=w.get("ctgov"), condition=w.get("condition"), intervention=w.get("intervention"), since=s,
                    api=api_ctgov, progress=progress)))
            for source, job in jobs:
                if done.get(source):
                    continue
                try:
                    summary = job()
                except FetchError as exc:  # one refused watch does not hold the others back
                    report.errors.append((f"{name} {source}", str(exc)))
                    log(f"error: watch {name}: {exc}")
                    continue
                report.summaries.append((f"{name} {source}", summary))
                _pend(journal, summary, name, source)
                after_step(f"fetched {name} {source}")
        pending = [Path(p) for p in journal.data["pending"]]
        if not journal.data["ingested"]:
            if pending:
                with KnowledgeGraph.open(store, mode="write") as kg:
                    result = kg.ingest(pending, progress=progress, on_error=lambda path, exc: log(f"error: {exc}"))
                    report.ingested = result.studies
                    report.failed = result.failed
                    after_step("ingested")
                    if publish:
                        journal.data["published"] = kg.publish()
            journal.data["ingested"] = True
            journal.save()
            after_step("published")
        report.release = journal.data.get("published")
        label = report.release or (None if is_directory_store(store) else f"update-{journal.data['started'].replace(':', '')}")
        if pending and label:
            before = json.loads((state / ".update-before.json").read_text(encoding="utf-8"))
            after = _snapshot_of_current(store, label)
            diffs.save_snapshot(state, after)
            if journal.data["before"] and diffs.load_snapshot(state, journal.data["before"]) is None:
                diffs.save_snapshot(state, before)
            report.change = diffs.diff(before, after)
            fetched = {name: {"since": (_since(w) or pubmed_fetch.EARLIEST).isoformat()} for name, w in watches.items()}
            report.changelog = diffs.write_changelog(state, report.change, {
                "watches": fetched, "ingested": [str(p) for p in pending],
                "failed": [{"file": f, "error": e} for f, e in report.failed]})
        refused = {key.rsplit(" ", 1)[0] for key, _ in report.errors}
        for name in watches:
            if name not in refused:  # a refused watch is fetched again from its last run next time
                watches[name]["last_run"] = journal.data["run_date"]
        save_watches(state, watches)
        journal.remove()
        (state / ".update-before.json").unlink(missing_ok=True)
    return report


def _pend(journal: Journal, summary: FetchSummary, name: str, source: str) -> None:
    pending = list(dict.fromkeys(journal.data["pending"] + [str(p) for p in summary.to_ingest()]))
    journal.data["pending"] = pending
    journal.data["fetched"][name][source] = True
    journal.data.setdefault("summaries", {})[f"{name} {source}"] = summary.line()
    journal.save()


def _current_label(store: str, state: Path) -> str | None:
    """The name of the published state before an update: the current release, or for a
    remote store (no releases) the last update recorded in the state folder."""
    from .diff import changes_dir
    from .errors import NoReleaseError
    from .graph import KnowledgeGraph

    if not is_directory_store(store):
        updates = sorted(p.stem for p in (changes_dir(state) / "snapshots").glob("update-*.json"))
        return updates[-1] if updates else None
    try:
        with KnowledgeGraph.open(store) as kg:
            return kg.store.release
    except NoReleaseError:
        return None


def _snapshot_of_current(store: str, label: str) -> dict[str, Any]:
    from . import diff as diffs
    from .errors import NoReleaseError
    from .graph import KnowledgeGraph

    try:
        with KnowledgeGraph.open(store) as kg:
            return diffs.snapshot(diffs.kg_select(kg), label, diffs.kg_fingerprints(kg))
    except NoReleaseError:
        return diffs.empty_snapshot(label)
