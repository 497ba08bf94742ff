"""Per-release precomputation: the dashboard and the evidence matrix are
computed once per published release, not on every request.

A release is immutable, so its name is a complete cache key. Readers of a
directory store follow new releases (``DirectoryStore.refresh``); the key
follows them. Values live in memory (per process) and, for directory stores,
as JSON in ``<store>/cache/<release>/views.json``, written at publish time by
:func:`on_publish` (temp file + rename) so that a freshly started server reads
them instead of computing. So is the graph explorer's networkx projection
(``projection.json``, :func:`kg.graphview.projection`). Beside them, ``cells/<modality>--<category>.json``
holds each matrix cell's index (counts, findings in page order): a cell page
then only looks up the findings it shows. Stores without releases (``memory:``, remote
servers) are keyed by their quad count and a short time-to-live.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

VIEWS_FILE = "views.json"
#: Format of views.json; bump when the shape of the precomputed views changes.
VIEWS_VERSION = 2
CELLS_DIR = "cells"
#: Seconds a computed view of a store without releases is reused.
LIVE_TTL = 30.0

_lock = threading.Lock()  # held while the views of a release are computed
_memo_lock = threading.Lock()  # never held while computing (compute() may use memo itself)
_memory: dict[tuple[int, str], dict[str, Any]] = {}
#: Pages (matrix cells, entities, studies) kept per release, least recently used dropped.
MEMO_SIZE = 512
_memo: OrderedDict[tuple[int, str, Hashable], Any] = OrderedDict()


def release_key(kg: KnowledgeGraph, *, exact: bool = False) -> str:
    """The name of the release ``kg`` serves now (after following a new one).

    Stores without releases get ``live-...``: their quad count and a
    :data:`LIVE_TTL` time window; a remote server (where counting is a query
    over everything) only the time window, unless ``exact`` asks for the count
    (downloads, which must not be regenerated every window)."""
    store = kg.store
    refresh = getattr(store, "refresh", None)
    if refresh is not None:
        refresh()
    release = getattr(store, "release", None)
    if release:
        return str(release)
    remote = str(getattr(store, "url", "")).startswith(("http://", "https://"))
    if exact:
        return f"live-{store.count()}"
    window = int(time.monotonic() // LIVE_TTL)
    return f"live-t{window}" if remote else f"live-{store.count()}-{window}"


def cache_dir(kg: KnowledgeGraph, release: str | None = None) -> Path | None:
    """``<store>/cache/<release>`` for a directory store, else None."""
    root = getattr(kg.store, "root", None)
    if root is None:
        return None
    name = release or getattr(kg.store, "release", None)
    if not name or name.startswith("live-"):
        return None
    return Path(root) / "cache" / name


def _compute(kg: KnowledgeGraph) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The views (dashboard, matrix) and the index of every matrix cell."""
    from .dashboard import dashboard, matrix_and_cells

    matrix, cells = matrix_and_cells(kg)
    return {"version": VIEWS_VERSION, "dashboard": dashboard(kg), "matrix": matrix}, cells


def _write(folder: Path, data: dict[str, Any], cells: dict[str, dict[str, Any]]) -> None:
    """The cell indexes, then views.json (which marks the folder complete)."""
    for key, index in cells.items():
        modality, category = key.split("/")
        write_json_atomic(folder / CELLS_DIR / f"{modality}--{category}.json", {"version": VIEWS_VERSION, **index})
    write_json_atomic(folder / VIEWS_FILE, data)


def cell_index(kg: KnowledgeGraph, modality_id: str, category_id: str) -> dict[str, Any]:
    """A matrix cell's index (:func:`kg.views.dashboard.cell_index`): read from
    the release's cache folder, computed from the store where there is none."""
    from .common import check_id
    from .dashboard import cell_index as compute

    def load() -> dict[str, Any]:
        folder = cache_dir(kg)
        if folder is not None:
            name = f"{check_id(modality_id)}--{check_id(category_id)}.json"
            stored = _read(folder / CELLS_DIR / name)
            if stored is not None:
                stored.pop("version")
                return stored
        return compute(kg, modality_id, category_id)  # an unknown cell raises NotFound here

    return memo(kg, ("cell-index", modality_id, category_id), load)


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == VIEWS_VERSION else None


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
        data = _read(folder / VIEWS_FILE) if folder else None
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


def on_publish(kg: KnowledgeGraph, release: str) -> None:
    """Called by :meth:`KnowledgeGraph.publish` with the new release's name:
    write its views beside it and drop caches of releases that are gone."""
    folder = cache_dir(kg, release)
    if folder is None:
        return
    from ..graphview import compute_projection, store_projection

    _write(folder, *_compute(kg))
    store_projection(folder, compute_projection(kg))
    prune(Path(kg.store.root))  # type: ignore[attr-defined]


def prune(root: Path) -> None:
    """Remove cache folders of releases that no longer exist."""
    releases = root / "releases"
    base = root / "cache"
    if not base.is_dir():
        return
    for folder in base.iterdir():
        if not (releases / folder.name).is_dir():
            shutil.rmtree(folder, ignore_errors=True)


def memo(kg: KnowledgeGraph, key: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per release for ``key`` (errors are not kept)."""
    full = (id(kg.store), release_key(kg), key)
    with _memo_lock:
        if full in _memo:
            _memo.move_to_end(full)
            return _memo[full]
    result = compute()
    with _memo_lock:
        _memo[full] = result
        while len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)
    return result
