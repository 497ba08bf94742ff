"""Fetch study records from PubMed (E-utilities) and ClinicalTrials.gov (API v2).

What is fetched is kept in a feed folder, one file per record named by its id
(``pubmed/<PMID>.xml``, ``ctgov/<NCT id>.json``), so a re-fetch replaces
exactly the records it brings back and a later extractor can re-read the
originals. Each fetch keeps a small state file while it runs (``.state/``) so
that an interrupted fetch picks up where it stopped.

* :mod:`kg.fetch.http`: rate limit, retries, Retry-After, complete responses.
* :mod:`kg.fetch.pubmed`: ESearch with the history server, EFetch in batches.
* :mod:`kg.fetch.ctgov`: the v2 ``studies`` endpoint with page tokens.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .http import FetchError

__all__ = ["FetchError", "FetchSummary", "write_atomic", "Journal"]

STATUSES = ("new", "changed", "unchanged", "failed")


@dataclass
class FetchSummary:
    """What one fetch brought: each record id with its status, the files to ingest."""

    source: str  # "pubmed" or "ctgov"
    records: dict[str, str] = field(default_factory=dict)  # id -> new / changed / unchanged / failed
    paths: dict[str, str] = field(default_factory=dict)  # id -> feed file (new and changed records)
    failures: dict[str, str] = field(default_factory=dict)  # id -> why
    retries: int = 0
    resumed: bool = False
    total: int | None = None  # what the service said matched

    def count(self, status: str) -> int:
        return sum(1 for s in self.records.values() if s == status)

    def to_ingest(self) -> list[Path]:
        return [Path(self.paths[r]) for r, s in self.records.items() if s in ("new", "changed") and r in self.paths]

    def line(self) -> str:
        parts = ", ".join(f"{self.count(s)} {s}" for s in STATUSES)
        extra = f"; {self.retries} retried requests" if self.retries else ""
        resumed = " (resumed an interrupted fetch)" if self.resumed else ""
        return f"{self.source}: {parts}{extra}{resumed}"

    def note(self, record: str, status: str, path: Path | None = None) -> None:
        """Record a status; the first new/changed verdict sticks (a batch re-fetched after a
        crash finds its own files already written and would call them unchanged)."""
        if self.records.get(record) in ("new", "changed") and status == "unchanged":
            return
        self.records[record] = status
        if path is not None:
            self.paths[record] = str(path)

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "paths": self.paths, "failures": self.failures, "retries": self.retries, "total": self.total}

    def restore(self, data: dict[str, Any]) -> None:
        self.records.update(data.get("records", {}))
        self.paths.update(data.get("paths", {}))
        self.failures.update(data.get("failures", {}))
        self.retries += int(data.get("retries", 0))
        self.total = data.get("total", self.total)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Journal:
    """A JSON state file written atomically after every step of a long job."""

    def __init__(self, path: Path):
        self.path = path
        self.data: dict[str, Any] = {}

    @classmethod
    def for_job(cls, folder: Path, kind: str, *key: object) -> Journal:
        digest = hashlib.sha1(json.dumps([kind, *map(str, key)]).encode()).hexdigest()[:16]
        return cls(folder / ".state" / f"{kind}-{digest}.json")

    def load(self) -> bool:
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            raise FetchError(f"cannot read the state of an interrupted fetch: {exc}", where=str(self.path),
                             expected="a JSON file written by tkg (delete it to start over)") from None
        return True

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True).encode("utf-8"))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    """A bar counting records (:func:`kg.progress.progress_bar`)."""
    from ..progress import progress_bar as bar

    return bar(total=total, desc=desc, unit="record", enabled=enabled)
