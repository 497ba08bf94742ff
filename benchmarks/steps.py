"""Run publish steps in full on the current release of a store, timing each.

For a store published by an older version (whose release lacks what newer
steps keep, e.g. the entity summaries) or to time one step alone:

    .venv/bin/python benchmarks/steps.py --store COPY entities report void

It writes into the release's cache folder and the steps' index, as a publish
does; run it on a copy of a store that nothing else uses.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg import KnowledgeGraph  # noqa: E402
from kg.artifacts import INDEX, Publication, _open_index, cache_dir, cache_root, steps  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("names", nargs="+", help="publish steps (entry point names)")
    args = parser.parse_args(argv)
    known = steps()
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown step {unknown[0]!r}: steps are {', '.join(known)}")
    with KnowledgeGraph.open(args.store, mode="write") as kg:
        release = kg.store.current_release()  # type: ignore[attr-defined]
        folder, base = cache_dir(kg, release), cache_root(kg)
        if folder is None or base is None:
            parser.error(f"{args.store} has no published release")
        db = _open_index(base / INDEX)
        try:
            publication = Publication(kg, release, folder, None, None, db)
            for name in args.names:
                db.execute("BEGIN IMMEDIATE")
                start = time.perf_counter()
                known[name](publication)
                db.execute("COMMIT")
                print(f"{name}: {time.perf_counter() - start:.1f} s (full, release {release})", flush=True)
        finally:
            db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
