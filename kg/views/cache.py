"""Per-release precomputation of the page views: the dashboard and the
evidence matrix are computed once per published release, not on every request.

Release keys, cache folders, atomic writes and the in-process memo are
:mod:`kg.artifacts`'; this module holds what the views store there:
``views.json`` (dashboard and matrix) and each matrix cell's index in pages
(:mod:`kg.views.cells`), so that a cell page only reads the findings it shows.
:func:`publish_step` writes them when a release is published (registered as the
``views`` publish step in ``pyproject.toml``); a process that finds them missing
computes and stores them on first use. Stores without releases (``memory:``,
remote servers) are keyed by their quad count and a short time-to-live
(:func:`kg.artifacts.release_key`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifacts import LIVE_TTL, MEMO_SIZE, Publication, cache_dir, memo, read_json, release_key, write_json_atomic
from .cells import CELLS_DIR, PAGES_DIR, VIEWS_VERSION, CellFindings, cell_file, chunks, write_cell, write_page

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

__all__ = [
    "CELLS_DIR",
    "LIVE_TTL",
    "MEMO_SIZE",
    "VIEWS_VERSION",
    "cache_dir",
    "cell_index",
    "memo",
    "publish_step",
    "release_key",
    "views",
    "write_json_atomic",
]

VIEWS_FILE = "views.json"

_lock = threading.Lock()  # held while the views of a release are computed
_memory: dict[tuple[int, str], dict[str, Any]] = {}


def _compute(kg: KnowledgeGraph) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The views (dashboard, matrix) and the index of every matrix cell."""
    from .dashboard import dashboard, matrix_and_cells

    matrix, cells = matrix_and_cells(kg)
    return {"version": VIEWS_VERSION, "dashboard": dashboard(kg), "matrix": matrix}, cells


def _write(folder: Path, data: dict[str, Any], cells: dict[str, dict[str, Any]]) -> None:
    """The cell indexes and their pages, then views.json (which marks the folder complete)."""
    pool = folder.parent / PAGES_DIR
    for key, index in cells.items():
        modality, category = key.split("/")
        pages = [(write_page(pool, page), len(page)) for page in chunks(index["findings"])]
        write_cell(folder, (modality, category), {k: v for k, v in index.items() if k != "findings"}, pages)
    write_json_atomic(folder / VIEWS_FILE, data)


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
