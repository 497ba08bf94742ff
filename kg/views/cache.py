"""Per-release precomputation of the page views: the dashboard and the
evidence matrix are computed once per published release, not on every request.

Release keys, cache folders, atomic writes and the in-process memo are
:mod:`kg.artifacts`'; this module holds what the views store there:
``views.json`` (dashboard and matrix) and each matrix cell's index, so that a
cell page only reads the findings it shows:

* ``cells/<modality>--<category>.json`` in the release's folder: the cell's
  counts and the list of its pages (file name and number of findings each);
* the pages, ``shared/cell-pages/<sha1>.json`` under the cache root (beside
  the release folders, shared by them: :data:`kg.artifacts.SHARED`): up to about :data:`PAGE_SIZE` findings each, in page
  order. A page is named by its content and never changed, so a publish writes
  only the pages where findings moved; every other page of the cell is the one
  the previous release listed (:func:`collect_pages` removes the pages no
  release lists any more).

:func:`publish_step` writes them when a release is published (registered as the
``views`` publish step in ``pyproject.toml``); a process that finds them missing
computes and stores them on first use. Stores without releases (``memory:``,
remote servers) are keyed by their quad count and a short time-to-live
(:func:`kg.artifacts.release_key`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from ..artifacts import LIVE_TTL, MEMO_SIZE, SHARED, Publication, cache_dir, memo, read_json, release_key, write_json_atomic

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

__all__ = ["LIVE_TTL", "MEMO_SIZE", "cache_dir", "cell_index", "memo", "publish_step", "release_key", "views", "write_json_atomic"]

VIEWS_FILE = "views.json"
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

_lock = threading.Lock()  # held while the views of a release are computed
_memory: dict[tuple[int, str], dict[str, Any]] = {}


def _compute(kg: KnowledgeGraph) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The views (dashboard, matrix) and the index of every matrix cell."""
    from .dashboard import dashboard, matrix_and_cells

    matrix, cells = matrix_and_cells(kg)
    return {"version": VIEWS_VERSION, "dashboard": dashboard(kg), "matrix": matrix}, cells


# -- the stored cells ---------------------------------------------------------------
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


def _write(folder: Path, data: dict[str, Any], cells: dict[str, dict[str, Any]]) -> None:
    """The cell indexes and their pages, then views.json (which marks the folder complete)."""
    pool = folder.parent / PAGES_DIR
    for key, index in cells.items():
        modality, category = key.split("/")
        pages = [(write_page(pool, page), len(page)) for page in chunks(index["findings"])]
        write_cell(folder, (modality, category), {k: v for k, v in index.items() if k != "findings"}, pages)
    write_json_atomic(folder / VIEWS_FILE, data)


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
    cells list (nor ``keep``), once older than :data:`PAGE_GRACE`; returns how many."""
    pool = root / PAGES_DIR
    if not pool.is_dir():
        return 0
    listed = set(keep)
    for folder in root.iterdir():
        if folder.is_dir() and folder.name != SHARED:
            listed |= listed_pages(folder)
    removed = 0
    now = time.time()
    for path in pool.glob("*.json"):
        if path.stem not in listed:
            try:
                if now - path.stat().st_mtime > PAGE_GRACE:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
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


def cell_index(kg: KnowledgeGraph, modality_id: str, category_id: str) -> dict[str, Any]:
    """A matrix cell's index (:func:`kg.views.dashboard.cell_index`): read from
    the release's cache folder, computed from the store where there is none.
    Its ``findings`` read the stored pages a slice covers (:class:`CellFindings`)."""
    from .common import check_id
    from .dashboard import cell_index as compute

    def load() -> dict[str, Any]:
        folder = cache_dir(kg)
        if folder is not None:
            stored = read_json(folder / CELLS_DIR / cell_file(check_id(modality_id), check_id(category_id)), VIEWS_VERSION)
            if stored is not None and isinstance(stored.get("pages"), list):
                pages = stored.pop("pages")
                stored.pop("version")
                whole = lambda: compute(kg, modality_id, category_id)["findings"]  # noqa: E731
                stored["findings"] = CellFindings(folder.parent / PAGES_DIR, pages, whole)
                return stored
        return compute(kg, modality_id, category_id)  # an unknown cell raises NotFound here

    return memo(kg, ("cell-index", modality_id, category_id), load)


def views(kg: KnowledgeGraph) -> dict[str, Any]:
    """The precomputed views of the release ``kg`` serves: ``{"release", "dashboard", "matrix"}``."""
    release = release_key(kg)
    key = (id(kg.store), release)
    cached = _memory.get(key)
    if cached is not None:
        return cached
    with _lock:
        cached = _memory.get(key)
        if cached is not None:
            return cached
        folder = cache_dir(kg, release)
        data = read_json(folder / VIEWS_FILE, VIEWS_VERSION) if folder else None
        if data is None:
            data, cells = _compute(kg)
            if folder is not None:
                try:
                    _write(folder, data, cells)
                except OSError:
                    pass  # a read-only store directory: keep it in memory only
        data = {**data, "release": release}
        for old in [k for k in _memory if k[0] == key[0]]:
            del _memory[old]  # one release per store in memory
        _memory[key] = data
        return data


def publish_step(publication: Publication) -> None:
    """The ``views`` publish step: write the new release's views and cell
    indexes, from the changed studies where it can (:mod:`kg.views.publish`)."""
    from .publish import publish_views

    publish_views(publication, version=VIEWS_VERSION, views_file=VIEWS_FILE, cells_dir=CELLS_DIR)
