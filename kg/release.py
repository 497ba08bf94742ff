"""``tkg release OUTDIR``: a dated, self-describing release folder.

::

    OUTDIR/
      2026-11-28/                 (a second release that day: 2026-11-28.2, ...)
        tcell-kg.ttl ... tcell-kg.kgx.tar.gz   every format of export_formats()
        void.ttl                  VoID + DCAT description of the dataset
        qc.json, qc.md            counts per type, identifier coverage, SHACL/quote validation, gap report
        SHA256SUMS                `sha256sum -c SHA256SUMS` verifies every file
      latest -> 2026-11-28        replaced atomically

The folder is written under ``OUTDIR/.partial-<stamp>-<pid>`` and renamed into
place only when complete; on any error the partial folder is removed, so a
failed release leaves nothing half-written (and ``latest`` unchanged).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import version
from .errors import TkgError

if TYPE_CHECKING:
    from .graph import KnowledgeGraph

BASENAME = "tcell-kg"




def qc_report(kg: KnowledgeGraph) -> dict[str, Any]:
    """Counts per type, the validation result and the gap report."""
    from .analytics import gaps, study_facts
    from .identifiers import store_coverage
    from .projection import project
    from .validate import validate_store

    graph = project(kg)
    facts = study_facts(kg)
    result = validate_store(kg.store)
    gap = gaps(graph, facts)
    return {
        "stats": kg.stats(),
        "entities_per_category": dict(sorted(Counter(d["category"] for _, d in graph.nodes(data=True)).items())),
        "edges_per_relation": dict(sorted(Counter(k for _, _, k in graph.edges(keys=True)).items())),
        "studies_per_type": dict(sorted(Counter(t for f in facts.values() for t in f["types"]).items())),
        "validation": {
            "ok": result.ok,
            "summary": result.summary(),
            "shacl_violations": len(result.shacl),
            "quote_failures": len(result.quotes),
            "problems": [{"study": p.study, "focus": p.focus, "message": p.message} for p in (result.shacl + result.quotes)[:200]],
        },
        "gaps": {"counts": {k: len(v) for k, v in gap.items()}, **gap},
        "identifier_coverage": {
            c.category: {"mapped": len(c.mapped), "total": c.total, "exact": len(c.exact), "unmapped": list(c.unmapped)}
            for c in store_coverage(kg)
        },
    }


def _gap_line(r: dict[str, Any]) -> str:
    supported = ", ".join(r["studies"]) or "-"
    refuted = ", ".join(r["refuted_by"]) or "-"
    return f"- {r['subject_label']} *{r['relation']}* {r['object_label']} (supported by: {supported}; refuted by: {refuted})"


def qc_markdown(qc: dict[str, Any], release: str) -> str:
    out = [f"# tcell-kg release {release}: QC report", ""]
    out += ["## Counts", "", "| what | count |", "| --- | --- |"]
    out += [f"| {k} | {v} |" for k, v in qc["stats"].items()]
    for key, title in (
        ("entities_per_category", "Entities per category"),
        ("edges_per_relation", "Assertions per relation"),
        ("studies_per_type", "Studies per type"),
    ):
        out += ["", f"## {title}", "", "| | count |", "| --- | --- |"]
        out += [f"| {k} | {v} |" for k, v in qc[key].items()]
    out += [
        "",
        "## Standard identifiers (ontology/mappings.sssom.tsv)",
        "",
        "| category | mapped | by exactMatch | unmapped |",
        "| --- | --- | --- | --- |",
    ]
    for category, c in qc.get("identifier_coverage", {}).items():
        out.append(f"| {category} | {c['mapped']} / {c['total']} | {c['exact']} | {', '.join(c['unmapped']) or '-'} |")
    v = qc["validation"]
    out += ["", "## Validation (SHACL shapes and evidence quotes)", "", f"**{'passed' if v['ok'] else 'FAILED'}**: {v['summary']}"]
    for p in v["problems"]:
        out.append(f"- {p['study']}: {p['focus']}: {p['message']}")
    g = qc["gaps"]
    out += ["", "## Gap report", "", "| gap | assertions |", "| --- | --- |"]
    out += [f"| {k.replace('_', ' ')} | {n} |" for k, n in g["counts"].items()]
    for key, title in (
        ("contradictions", "Both SUPPORT and REFUTE evidence"),
        ("refuted_only", "REFUTE evidence only"),
        ("reviews_only", "Reviews only"),
        ("preclinical_only", "Preclinical only"),
    ):
        out += ["", f"### {title}", ""]
        rows = g[key]
        out += [_gap_line(r) for r in rows] or ["(none)"]
    out += ["", "### Modality x barrier-category cells without a strategy", ""]
    out += [f"- {r['modality_label']} / {r['category_label']}: {r['status']}" for r in g["uncovered"]] or ["(none)"]
    return "\n".join(out) + "\n"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(outdir: Path, today: str) -> str:
    stamp, n = today, 1
    while (outdir / stamp).exists():
        n += 1
        stamp = f"{today}.{n}"
    return stamp


def make_release(kg: KnowledgeGraph, outdir: Path, *, stamp: str | None = None, formats: list[str] | None = None) -> Path:
    """Write a release folder into ``outdir`` and point ``outdir/latest`` at it."""
    from .export import export, export_format, export_formats

    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TkgError(f"cannot create release directory: {exc.strerror}", where=str(outdir)) from None
    today = _dt.datetime.now(_dt.timezone.utc).date().isoformat()
    stamp = stamp or _stamp(outdir, today)
    if "/" in stamp or stamp.startswith(".") or (outdir / stamp).exists():
        raise TkgError(f"release {stamp!r} already exists or is not a folder name", where=str(outdir))
    partial = outdir / f".partial-{stamp}-{os.getpid()}"
    try:
        partial.mkdir()
        files: list[tuple[str, str, int]] = []
        for fmt in formats or export_formats():
            name = export_format(fmt).filename
            export(kg, fmt, partial / name)
            files.append((name, fmt, (partial / name).stat().st_size))
        from . import void

        studies = void.sources(kg)
        counted = {**void.counts(kg), "sources": len(studies)}
        dumps = [void.Dump(name, fmt, export_format(fmt).media_type, size) for name, fmt, size in files]
        description = void.describe(counted, dumps, endpoint=None, version=version(), release=stamp, issued=today, study_sources=studies)
        (partial / "void.ttl").write_text(description.serialize(format="turtle"), encoding="utf-8")
        qc = qc_report(kg)
        qc["release"] = {"name": stamp, "issued": today, "version": version(), "store_release": kg.store.release}
        (partial / "qc.json").write_text(json.dumps(qc, indent=2, default=str) + "\n", encoding="utf-8")
        (partial / "qc.md").write_text(qc_markdown(qc, stamp), encoding="utf-8")
        names = sorted(p.name for p in partial.iterdir() if p.is_file())
        (partial / "SHA256SUMS").write_text("".join(f"{sha256(partial / n)}  {n}\n" for n in names), encoding="utf-8")
        os.rename(partial, outdir / stamp)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    link_tmp = outdir / f".latest-{os.getpid()}"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    os.symlink(stamp, link_tmp)
    os.replace(link_tmp, outdir / "latest")
    return outdir / stamp
