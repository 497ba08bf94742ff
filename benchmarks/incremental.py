"""Incremental publish: ingest 100 new or changed studies into a published store of N synthetic studies.

Sets up (once, kept in --workdir) a store with the shipped corpus plus N
synthetic studies from kg.generate, published in full; then measures, in
rounds (--rounds), ingesting CHANGED studies (half new cards, half existing cards
changed: another evidence level and barrier sentence) and publishing them:
once in this process with a breakdown (ingest, checkpoint, each precompute
step), once end to end through ``tkg ingest`` in a fresh process. Prints the
figures and the disk used per release.

    .venv/bin/python benchmarks/incremental.py --studies 10000 --changed 100 --workdir /tmp/tkg-incremental
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg import KnowledgeGraph  # noqa: E402
from kg.artifacts import on_publish  # noqa: E402
from kg.generate import generate_cards, write_cards  # noqa: E402


def setup(work: Path, n: int) -> str:
    store = str(work / f"store-{n}")
    if (Path(store) / "current").exists():
        print(f"store with {n} synthetic studies: {store} (kept from an earlier run)")
        return store
    cards = write_cards(work / f"cards-{n}", n, seed=n)
    with KnowledgeGraph.open(store, mode="write") as kg:
        start = time.perf_counter()
        kg.build(progress=True)
        report = kg.ingest(cards, progress=True)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        changed = kg.store.pending_changes()
        release = kg.store.publish()
        checkpoint = time.perf_counter() - start
        publication = on_publish(kg, release, changed, full=True)
        total = time.perf_counter() - start
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in publication.timings.items()) if publication else "-"
    print(f"setup: build + ingest of {report.studies} studies {loaded:.1f} s")
    print(f"full publish: {total:.1f} s (checkpoint {checkpoint:.2f} s; {steps})")
    return store


def changes(work: Path, n: int, changed: int, round_no: int) -> Path:
    """``changed`` card files: half new studies, half existing ones with new content."""
    folder = work / f"changes-{n}-{round_no}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    new = changed // 2
    for name, text in generate_cards(new, seed=10_000_000 + round_no):
        (folder / f"new-{round_no}-{name}").write_text(text.replace("Cohort ", f"Round {round_no} cohort "), encoding="utf-8")
    existing = sorted((work / f"cards-{n}").iterdir())
    for index, path in enumerate(existing[round_no * (changed - new) : (round_no + 1) * (changed - new)]):
        text = re.sub(r"EvidenceLevel \d", f"EvidenceLevel {1 + (index + round_no) % 5}", path.read_text(encoding="utf-8"))
        (folder / path.name).write_text(text.replace("limited by", f"limited (round {round_no}) by"), encoding="utf-8")
    return folder


def mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB"


def measure(args: argparse.Namespace, store: str) -> None:
    """One round: CHANGED cards ingested and published in this process (with a
    breakdown), then CHANGED other cards through ``tkg ingest`` in a fresh process."""
    existing = len(list(args.workdir.glob(f"changes-{args.studies}-*")))  # a new round number: other cards each round
    folder = changes(args.workdir, args.studies, args.changed, existing)
    files = sorted(folder.iterdir())
    start = time.perf_counter()
    with KnowledgeGraph.open(store, mode="write") as kg:
        opened = time.perf_counter()
        report = kg.ingest(files)
        ingested = time.perf_counter()
        changed = kg.store.pending_changes()
        release = kg.store.publish()
        checkpoint = time.perf_counter()
        publication = on_publish(kg, release, changed)
        done = time.perf_counter()
    assert publication is not None and publication.incremental, "the publish was not incremental"
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in publication.timings.items())
    print(
        f"in process: {report.studies} studies ({len(changed or ())} graphs changed): open {opened - start:.2f} s, "
        f"ingest {ingested - opened:.2f} s, checkpoint {checkpoint - ingested:.2f} s, steps {done - checkpoint:.2f} s ({steps}); "
        f"total {done - start:.2f} s"
    )
    for note in publication.notes:
        print(f"  ({note})")

    folder = changes(args.workdir, args.studies, args.changed, existing + 1)
    tkg = str(Path(sys.executable).with_name("tkg"))
    start = time.perf_counter()
    subprocess.run([tkg, "ingest", str(folder), "--store", store], check=True, stdout=subprocess.DEVNULL)
    print(f"end to end (tkg ingest DIR of {args.changed} files, publish included, fresh process): {time.perf_counter() - start:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10_000, help="synthetic studies in the published store")
    parser.add_argument("--changed", type=int, default=100, help="new or changed studies per round")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/tkg-incremental"))
    parser.add_argument("--rounds", type=int, default=1, help="rounds to measure (each: one publish in process, one end to end)")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    store = setup(args.workdir, args.studies)
    for _ in range(args.rounds):
        measure(args, store)

    with KnowledgeGraph.open(store) as kg:
        usage = kg.store.release_usage()
    for row in usage:
        marks = " current" if row["current"] else ""
        print(f"release {row['release']}{marks}: {mib(row['size'])} as a copy, {mib(row['own'])} its own")
    return 0


if __name__ == "__main__":
    sys.exit(main())
