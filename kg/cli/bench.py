"""`tkg bench`: run the benchmarks in benchmarks/ (a checkout of the project)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import click

from .common import fail

RUNNER = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


@click.command()
@click.option("--sizes", default="1000", show_default=True, help="Comma-separated numbers of synthetic studies, e.g. 1000,10000,100000.")
@click.option("--systems", default="embedded,rdflib,oxigraph-server,virtuoso", show_default=True, help="Systems to measure side by side.")
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the markdown table here (e.g. docs/benchmarks.md)."
)
def bench(sizes: str, systems: str, out: Path | None) -> None:
    """Measure ingest throughput, competency-query latency, startup and memory
    on synthetic cards, for the embedded store, rdflib, Oxigraph server and Virtuoso."""
    if not RUNNER.exists():
        fail(f"the benchmark runner is not here ({RUNNER}); run tkg bench from a checkout of the project")
    argv = ["--sizes", sizes, "--systems", systems] + (["--out", str(out)] if out else [])
    module = runpy.run_path(str(RUNNER))
    sys.exit(module["main"](argv))
