"""``tkg release OUTDIR``: a dated release folder (see kg.release)."""

from __future__ import annotations

from pathlib import Path

import click

from ..graph import KnowledgeGraph
from .common import remote_options, store_option


@click.command()
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@store_option
@remote_options
@click.option("--name", "stamp", default=None, help="Folder name of the release (default: today's date, YYYY-MM-DD[.N]).")
def release(outdir: Path, store: str, stamp: str | None) -> None:
    """Write a release folder OUTDIR/<date>/ with every export format,
    SHA256SUMS, a VoID/DCAT description (void.ttl) and a QC report (qc.md,
    qc.json: counts, validation, gap report), then point OUTDIR/latest at it.

    The folder is assembled beside its final place and renamed in when
    complete: a failed release leaves nothing behind.
    """
    from ..release import make_release

    with KnowledgeGraph.open(store) as kg:
        folder = make_release(kg, outdir, stamp=stamp)
    click.echo(f"wrote release {folder}")
