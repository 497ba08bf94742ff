"""The VoID description's counts (kg/void.py: distinct triples, subjects,
objects, classes, properties), kept per release in ``void-counts.json``.

Each count is a query over every quad: about 20 s at 10,000 studies on 2
busy cores, minutes at 100,000, so they are neither counted at publish (it
would cost every incremental publish that long) nor while a page waits. A
release's first ``/void`` view starts counting them in a process of its own
(once per serving process and release, at low priority, like the downloads)
and is answered without them (the number of studies only, from the
dashboard's precomputed stats); later views have them. Small stores (up to
:data:`SYNC_QUADS` quads) are counted at once, and stores without releases
on first use (memoized per release key)."""

from __future__ import annotations

import multiprocessing
import threading
from typing import TYPE_CHECKING, Any

from ..artifacts import cache_dir, memo, read_json, release_key, write_json_atomic

if TYPE_CHECKING:
    from ..graph import KnowledgeGraph

VOID_FILE = "void-counts.json"
VERSION = 1
#: Stores up to this many quads are counted while the page waits (well under a second).
SYNC_QUADS = 200_000

_lock = threading.Lock()
_found: dict[tuple[int, str], dict[str, int]] = {}
_started: dict[tuple[int, str], Any] = {}


def compute(kg: KnowledgeGraph) -> dict[str, int]:
    from .. import void

    return {**void.counts(kg), "sources": kg.stats()["studies"]}


def counts(kg: KnowledgeGraph) -> dict[str, int]:
    """The counts of the release ``kg`` serves; while a large release's are
    being counted in the background, only ``sources`` (the number of studies)."""
    folder = cache_dir(kg)
    if folder is None:
        return memo(kg, ("void-counts",), lambda: compute(kg))
    release = release_key(kg)
    key = (id(kg.store), release)
    if key in _found:
        return _found[key]
    data = read_json(folder / VOID_FILE, VERSION)
    if data is None:
        from .cache import views

        stats = views(kg)["dashboard"]["stats"]
        if stats["quads"] > SYNC_QUADS:
            _start(kg, release)
            return {"sources": stats["studies"]}
        data = {"version": VERSION, "counts": compute(kg)}
        try:
            write_json_atomic(folder / VOID_FILE, data)
        except OSError:
            pass  # a read-only store: kept in memory only
    with _lock:
        _found[key] = data["counts"]
    return data["counts"]


def _start(kg: KnowledgeGraph, release: str) -> None:
    """Count ``release`` in a separate process (one at a time per serving process and release)."""
    url = getattr(kg.store, "url", None)
    if not isinstance(url, str):
        return
    with _lock:
        process = _started.get((id(kg.store), release))
        if process is not None and (process.is_alive() or process.exitcode == 0):
            return
        process = multiprocessing.get_context("spawn").Process(target=_count_release, args=(url, release), daemon=True)
        _started[(id(kg.store), release)] = process
        process.start()


def _count_release(url: str, release: str) -> None:
    """In a process of its own, at low priority: count the release and store the counts."""
    import os

    from ..graph import KnowledgeGraph

    os.nice(10)
    with KnowledgeGraph.open(url) as kg:
        folder = cache_dir(kg)
        if folder is None or release_key(kg) != release:
            return  # a newer release came: its own first view counts it
        write_json_atomic(folder / VOID_FILE, {"version": VERSION, "counts": compute(kg)})
