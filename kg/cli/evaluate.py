"""`tkg eval`: extraction measured on the self-written gold set and, with
``--real DIR``, on a set of annotated real texts (reported apart)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..evaluate import DEFAULT_GOLD_DIR, Evaluation, RealEvaluation, Score, Totals, evaluate, evaluate_real
from .common import fail


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


def _quote(text: str, width: int = 140) -> str:
    text = " ".join(text.split())
    return f'"{text[:width]}{"..." if len(text) > width else ""}"'


def _overall(t: Totals) -> str:
    return (
        f"link recall {t.link_recall:.2f} ({t.found}/{t.must}), precision {t.precision:.2f} ({t.found}/{t.found + t.wrong}), "
        f"wrong links {t.wrong} of {t.must_not}, entity recall {t.entity_recall:.2f} ({t.entities_found}/{t.entities}), "
        f"unannotated findings {t.unannotated} of {t.findings} ({t.unannotated_share:.0%})"
    )


def format_real_report(result: RealEvaluation, verbose: bool = False) -> str:
    totals = result.totals
    lines = [f"real texts: {totals.texts} from {result.directory} ({totals.failed} with ingest errors) in {result.seconds:.1f} s", ""]
    for s in result.scores:
        lines.append(
            f"{s.text.name}: links {len(s.found)}/{len(s.text.must)}, wrong {len(s.wrong)}/{len(s.text.must_not)}, "
            f"entities {len(s.entities_found)}/{len(s.text.entities)}, findings {len(s.findings)} ({len(s.unannotated)} unannotated)"
        )
        if s.error:
            lines.append(f"  ingest error: {s.error}")
        lines += [f"  miss  {link.shown}" for link in s.missed]
        lines += [f"  WRONG {link.shown}  <- {_quote(quote)}" for link, quote in s.wrong]
        lines += [f"  unannotated {f.describe()}  <- {_quote(f.quote)}" for f in s.unannotated]
        if verbose:
            lines += [f"  ok    {link.shown}" for link in s.found]
            lines += [f"  entity not found: {e}" for e in s.text.entities if e not in s.entities_found]
    lines += ["", "by kind of text:"]
    for kind, t in sorted(result.by_kind().items()):
        lines.append(f"  {kind} ({t.texts} texts): {_overall(t)}")
    if result.has_rules:
        lines += [
            "",
            "by rule (errors = wrong + unannotated findings):",
            f"  {'rule':<32} {'findings':>8} {'stated':>6} {'wrong':>5} {'unannotated':>11}",
        ]
        lines += [f"  {c.rule:<32} {c.findings:>8} {c.stated:>6} {c.wrong:>5} {c.unannotated:>11}" for c in result.by_rule()]
    lines += ["", f"overall: {_overall(totals)}"]
    return "\n".join(lines)


@click.command("eval")
@click.option(
    "--gold",
    "gold_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEFAULT_GOLD_DIR,
    show_default="tests/gold of the project",
    help="Directory of the self-written annotated *.yaml texts.",
)
@click.option(
    "--real",
    "real_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also score a set of annotated real texts: a directory with annotations.json and the texts (e.g. ../shared/real-texts).",
)
@click.option("--text", "names", multiple=True, metavar="NAME", help="With --real: score only this text (file name; repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures, misses, wrong links and unannotated findings as JSON.")
@click.option("--verbose", "-v", is_flag=True, help="Gold set: every false positive and negative; real texts: also the links found.")
def eval_command(gold_dir: Path, real_dir: Path | None, names: tuple[str, ...], as_json: bool, verbose: bool) -> None:
    """Score extraction. Without --real: entity and relation precision, recall
    and F1 on the self-written gold set. With --real DIR: each real text is read
    as `tkg ingest` reads it and its findings are matched against the
    annotations (link recall, precision, wrong links, entity recall, per text,
    per kind of text and overall, the missed links, the findings no annotation
    covers, and errors per extraction rule when findings carry one); the gold
    set is reported after it, apart."""
    if names and real_dir is None:
        fail("--text needs --real DIR")
    real = evaluate_real(real_dir, names, progress=not as_json) if real_dir else None
    gold = evaluate(gold_dir)
    if as_json:
        data = {"gold_set": {"directory": str(gold_dir), **gold.as_dict()}}
        if real:
            data["real_texts"] = real.as_dict()
        click.echo(json.dumps(data, indent=2))
        return
    if real:
        click.echo(format_real_report(real, verbose))
        click.echo("")
        click.echo(f"self-written gold set ({gold_dir}; written by the project, not evidence of how it does on the literature):")
    click.echo(format_report(gold, verbose))
