"""The findings the curated corpus and the seed cards produce, as plain tuples
(study, subject, relation, object, support), for tests/test_corpus_findings_kept.py.

The expected file tests/data/corpus_findings.json records them as they were
on `main` on 2026-12-07, before the extractor work of issue 14. Regenerate it
only on purpose (a finding deliberately given up, said in the commit):

    .venv/bin/python tests/corpus_findings.py --write
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ROOT / "tests" / "data" / "corpus_findings.json"

#: Sources beside the curated records: the example card of the project's brief
#: (../shared, read there, never copied) and the review card of the reader tests.
SEED_CARDS = {
    "shared:examples/card-tarlatamab.txt": ROOT.parent / "shared" / "examples" / "card-tarlatamab.txt",
    "tests:data/readers/card-mini.txt": ROOT / "tests" / "data" / "readers" / "card-mini.txt",
}

Row = tuple[str, str, str, str, str]  # study, subject, relation, object, support


def findings_of(path: Path) -> list[Row]:
    from kg.pipeline import records_from_file

    return sorted({(r.id, f.subject, f.relation, f.object, f.support) for r in records_from_file(path) for f in r.findings})


def current() -> dict[str, list[Row]]:
    """Findings per source: every data/studies/*.yaml (cards through their sidecars) and the seed cards."""
    sources = {f"data/studies/{p.name}": p for p in sorted((ROOT / "data" / "studies").glob("*.yaml"))}
    sources.update(SEED_CARDS)
    return {name: findings_of(path) for name, path in sources.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {EXPECTED.relative_to(ROOT)} (else print it)")
    args = parser.parse_args()
    missing = [str(p) for p in SEED_CARDS.values() if not p.is_file()]
    if missing:
        print(f"corpus_findings.py: missing {', '.join(missing)}", file=sys.stderr)
        return 2
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    sources = current()
    about = f"Findings (study, subject, relation, object, support) produced at commit {commit or '?'}; see tests/corpus_findings.py"
    # one finding a line, so a diff of the file shows which findings came and went
    blocks = [
        f"  {json.dumps(name)}: [\n" + ",\n".join(f"   {json.dumps(list(row))}" for row in rows) + "\n  ]"
        if rows
        else f"  {json.dumps(name)}: []"
        for name, rows in sources.items()
    ]
    text = "{\n" + f' "_about": {json.dumps(about)},\n "sources": {{\n' + ",\n".join(blocks) + "\n }\n}\n"
    data = json.loads(text)  # the file is JSON
    if args.write:
        EXPECTED.write_text(text, encoding="utf-8")
        print(f"wrote {sum(len(v) for v in data['sources'].values())} findings of {len(data['sources'])} sources to {EXPECTED}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
