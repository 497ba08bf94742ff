"""``tkg analyze``: rankings, heme vs solid contrast and gap report (kg.analytics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..graph import KnowledgeGraph
from .common import remote_options, store_option

SECTIONS = ("rankings", "contrast", "gaps")


def table(headers: list[str], rows: list[list[Any]], width: int = 48) -> str:
    cells = [[str(c) if c is not None else "" for c in row] for row in rows]
    widths = [min(width, max([len(h)] + [len(r[i]) for r in cells])) for i, h in enumerate(headers)]

    def fit(cell: str, w: int) -> str:
        return cell if len(cell) <= w else cell[: w - 1] + "…"

    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(fit(c, w).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines)


def format_rankings(report: dict[str, Any]) -> str:
    r = report["rankings"]
    out = ["== Rankings: barriers shared by modalities (products roll up to their modality) =="]
    for key, title in (("categories", "barrier categories"), ("barriers", "barriers")):
        out.append(f"\n-- {title} --")
        out.append(
            table(
                ["barrier", "category", "#mod", "modalities", "studies", "degree", "betweenness"],
                [
                    [
                        x["label"],
                        x["category"],
                        x["n_modalities"],
                        ", ".join(x["modalities"]),
                        x["studies"],
                        f"{x['degree']:.2f}",
                        f"{x['betweenness']:.3f}",
                    ]
                    for x in r[key]
                ],
            )
        )
    for key, title in (("overlap_categories", "barrier categories"), ("overlap", "barriers")):
        out.append(f"\n-- overlap between modalities (Jaccard over {title}) --")
        out.append(
            table(
                ["modality A", "modality B", "jaccard", "shared"],
                [[x["a"], x["b"], f"{x['jaccard']:.2f}", ", ".join(x["shared"])] for x in r[key]],
                width=80,
            )
        )
    return "\n".join(out)


def format_contrast(report: dict[str, Any]) -> str:
    out = [
        "== Hematologic vs solid: studies per barrier and toxicity ==",
        "(heme/solid: the finding's tumor context; without one, its therapy's only tumor kind ('inferred'), else 'unspec.')",
    ]
    for modality, entry in report["contrast"].items():
        for section in ("barriers", "toxicities"):
            out.append(f"\n-- {entry['label']} ({modality}): {section} --")
            out.append(
                table(
                    [section[:-1] if section == "barriers" else "toxicity", "heme", "solid", "unspec.", "inferred"],
                    [[x["label"], x["heme"], x["solid"], x["unspecified"], x["inferred"]] for x in entry[section]],
                )
            )
    return "\n".join(out)


def _edge_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[x["subject_label"], x["relation"], x["object_label"], ", ".join(x["studies"]), ", ".join(x["refuted_by"])] for x in rows]


def format_gaps(report: dict[str, Any]) -> str:
    g = report["gaps"]
    out = ["== Gaps and contradictions =="]
    out.append(f"\nsupported assertions resting on a single study: {len(g['single_study'])}")
    titles = {
        "contradictions": "assertions with both SUPPORT and REFUTE evidence",
        "refuted_only": "assertions with REFUTE evidence only",
        "reviews_only": "assertions resting on reviews only",
        "preclinical_only": "assertions resting on preclinical studies only",
    }
    for key, title in titles.items():
        out.append(f"\n-- {title} ({len(g[key])}) --")
        out.append(table(["subject", "relation", "object", "supported by", "refuted by"], _edge_rows(g[key])))
    out.append(f"\n-- modality x barrier-category cells no strategy covers ({len(g['uncovered'])}) --")
    out.append(
        table(
            ["modality", "barrier category", "studies", "status", "strategies for the category"],
            [[x["modality_label"], x["category_label"], x["studies"], x["status"], ", ".join(x["strategies"])] for x in g["uncovered"]],
            width=60,
        )
    )
    out.append(f"\n-- single-study assertions ({len(g['single_study'])}) --")
    out.append(table(["subject", "relation", "object", "study"], [r[:4] for r in _edge_rows(g["single_study"])]))
    return "\n".join(out)


FORMATTERS = {"rankings": format_rankings, "contrast": format_contrast, "gaps": format_gaps}


@click.command()
@store_option
@remote_options
@click.option("--section", type=click.Choice(SECTIONS), multiple=True, help="Only these sections (repeatable; default all).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
@click.option(
    "--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path), help="Also write the plots (PNG and SVG) into this directory."
)
def analyze(store: str, section: tuple[str, ...], as_json: bool, plot_dir: Path | None) -> None:
    """Graph analytics: barriers shared by modalities (centrality, Jaccard
    overlap), the hematologic vs solid contrast, and the gap and
    contradiction report. --plot writes the modality x barrier heatmap, the
    heme vs solid barrier profile and the centrality ranking."""
    from ..analytics import analyze as run

    with KnowledgeGraph.open(store) as kg:
        report = run(kg)
    chosen = section or SECTIONS
    if as_json:
        keys = {"rankings": ["modalities", "rankings", "matrix"], "contrast": ["contrast", "contrast_categories"], "gaps": ["gaps"]}
        data = {"counts": report["counts"]}
        for name in chosen:
            data.update({k: report[k] for k in keys[name]})
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    else:
        click.echo("\n\n".join(FORMATTERS[name](report) for name in chosen))
    if plot_dir is not None:
        from ..plots import write_plots

        for path in write_plots(report, plot_dir):
            click.echo(f"wrote {path}", err=True)
