"""The stored matrix cells of a release (the ``views`` step's files, read by
:func:`kg.views.cache.cell_index`).

* ``cells/<modality>--<category>.json`` in the release's cache folder: the
  cell's counts and the list of its pages (file name and number of findings each);
* the pages, ``shared/cell-pages/<sha1>.json`` under the cache root (beside
  the release folders, shared by them: :data:`kg.artifacts.SHARED`): up to
  about :data:`PAGE_SIZE` findings each, in page order. A page is named by its
  content and never changed, so a publish writes only the pages where findings
  moved; every other page of a cell is the one the previous release listed
  (:func:`collect_pages` removes the pages no release lists any more).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import Any, overload

from ..artifacts import SHARED, read_json, write_json_atomic

#: Format of views.json and the cell files; bump when the shape of the precomputed views changes.
VIEWS_VERSION = 3
CELLS_DIR = "cells"
#: Folder of the cells' pages under the cache root (shared by the releases).
PAGES_DIR = f"{SHARED}/cell-pages"
#: Findings per stored page of a cell (a page grows to twice this before it is split).
PAGE_SIZE = 100
#: Pages that no release lists are removed once they are this old (seconds): a
#: serving process that writes a missing release's cells lists its pages just after.
PAGE_GRACE = 600.0


def cell_file(modality: str, category: str) -> str:
    """The file name of a cell's index (local names of its modality and category)."""
    return f"{modality}--{category}.json"


def write_page(pool: Path, findings: list[str]) -> str:
    """Store one page of a cell (finding IRIs in page order) in ``pool``; returns its name."""
    text = json.dumps({"version": VIEWS_VERSION, "findings": findings})
    name = hashlib.sha1(text.encode("utf-8")).hexdigest()
    path = pool / f"{name}.json"
    try:
        os.utime(path)  # the same page again: keep it, as new (see PAGE_GRACE)
    except FileNotFoundError:
        write_json_atomic(path, {"version": VIEWS_VERSION, "findings": findings})
    return name


def chunks(findings: list[Any], size: int | None = None) -> Iterator[list[Any]]:
    """``findings`` in pages of ``size`` (default :data:`PAGE_SIZE`)."""
    size = size or PAGE_SIZE
    for start in range(0, len(findings), size):
        yield findings[start : start + size]


def write_cell(folder: Path, key: tuple[str, str], summary: dict[str, Any], pages: list[tuple[str, int]]) -> None:
    """A cell's index: its counts (``summary``: modality, category, studies,
    refuting_findings, best_level) and its pages, in order."""
    data = {"version": VIEWS_VERSION, **summary, "pages": [[name, n] for name, n in pages]}
    write_json_atomic(folder / CELLS_DIR / cell_file(*key), data)


def listed_pages(folder: Path) -> set[str]:
    """The pages the cell files in a release's cache folder list."""
    names: set[str] = set()
    cells = folder / CELLS_DIR
    if cells.is_dir():
        for path in cells.glob("*.json"):
            data = read_json(path, VIEWS_VERSION)
            for entry in (data or {}).get("pages", ()):
                names.add(entry[0])
    return names


def collect_pages(root: Path, keep: Iterable[str] = ()) -> int:
    """Remove the pages under ``root`` (the cache root) that no release folder's
    cells list (nor ``keep``), once older than :data:`PAGE_GRACE`; returns how
    many. They are unlinked here, while the publish waits (about 0.6 s for a few
    hundred pages on a busy disk): a detached process would save that, but forking
    a process that may run threads (``tkg update``) risks a child stuck on a lock."""
    pool = root / PAGES_DIR
    if not pool.is_dir():
        return 0
    listed = set(keep)
    for folder in root.iterdir():
        if folder.is_dir() and folder.name != SHARED:
            listed |= listed_pages(folder)
    now = time.time()
    removed = 0
    for path in pool.glob("*.json"):
        if path.stem in listed:
            continue
        try:
            if now - path.stat().st_mtime > PAGE_GRACE:
                path.unlink()
                removed += 1
        except OSError:
            pass  # gone already, or not removable now: found again next time
    return removed


class CellFindings(Sequence[str]):
    """A stored cell's findings in page order, read a page at a time (only the
    pages a slice covers). A page that is missing or damaged makes ``fallback``
    (the whole list, computed from the store) answer instead."""

    def __init__(self, pool: Path, pages: list[list[Any]], fallback: Callable[[], list[str]]):
        self._pool = pool
        self._names = [str(name) for name, _n in pages]
        self._ends = list(accumulate(int(n) for _name, n in pages))
        self._pages: dict[int, list[str]] = {}
        self._fallback = fallback
        self._all: list[str] | None = None

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def _page(self, index: int) -> list[str] | None:
        if index not in self._pages:
            data = read_json(self._pool / f"{self._names[index]}.json", VIEWS_VERSION)
            findings = (data or {}).get("findings")
            start = self._ends[index - 1] if index else 0
            if not isinstance(findings, list) or len(findings) != self._ends[index] - start:
                return None
            self._pages[index] = findings
        return self._pages[index]

    def _range(self, start: int, stop: int) -> list[str]:
        if start >= stop:
            return []
        if self._all is not None:
            return self._all[start:stop]
        out: list[str] = []
        first = bisect_right(self._ends, start)
        for index in range(first, len(self._names)):
            begin = self._ends[index - 1] if index else 0
            if begin >= stop:
                break
            page = self._page(index)
            if page is None:
                self._all = self._fallback()
                return self._all[start:stop]
            out.extend(page[max(start - begin, 0) : stop - begin])
        return out

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return self._range(start, stop)
            return self._range(0, len(self))[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._range(index, index + 1)[0]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (CellFindings, list)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CellFindings({len(self)} findings in {len(self._names)} pages)"
