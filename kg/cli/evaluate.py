"""`tkg eval`: precision, recall and F1 of entity recognition and relation
extraction on the hand-annotated gold set."""

from __future__ import annotations

from pathlib import Path

import click

from ..evaluate import DEFAULT_GOLD_DIR, Evaluation, Score, evaluate


def _row(name: str, score: Score) -> str:
    return f"{name:<10} {score.precision:>9.3f} {score.recall:>7.3f} {score.f1:>7.3f} {score.tp:>5} {score.fp:>5} {score.fn:>5}"


def format_report(result: Evaluation, verbose: bool = False) -> str:
    lines = [
        f"gold texts: {result.texts}",
        f"{'':<10} {'precision':>9} {'recall':>7} {'F1':>7} {'TP':>5} {'FP':>5} {'FN':>5}",
        _row("entities", result.entities),
        _row("relations", result.relations),
    ]
    if verbose:
        for report in result.errors:
            if report.empty:
                continue
            lines.append(f"\n{report.id}")
            lines += [f"  entity FP   {text!r} -> {name}" for text, name in report.entity_fp]
            lines += [f"  entity FN   {text!r} -> {name}" for text, name in report.entity_fn]
            lines += [f"  relation FP {' '.join(t)}" for t in report.relation_fp]
            lines += [f"  relation FN {' '.join(t)}" for t in report.relation_fn]
    return "\n".join(lines)


@click.command("eval")
@click.option(
    "--gold",
    "gold_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEFAULT_GOLD_DIR,
    show_default="tests/gold of the project",
    help="Directory of annotated *.yaml texts.",
)
@click.option("--verbose", "-v", is_flag=True, help="List every false positive and false negative, per text.")
def eval_command(gold_dir: Path, verbose: bool) -> None:
    """Score entity recognition and relation extraction against the gold set."""
    click.echo(format_report(evaluate(gold_dir), verbose))
