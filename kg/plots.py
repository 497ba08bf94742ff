"""Plots of the analytics report (matplotlib, Agg backend, no display needed).

Each ``plot_*`` function takes the plain report of :func:`kg.analytics.report`
and returns a matplotlib Figure; :func:`write_plots` saves all three as PNG
and SVG, :func:`render` one of them as bytes (for the web page).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

#: plot name -> (function name, title)
PLOTS: dict[str, str] = {
    "heatmap": "Modality x barrier evidence (supporting studies)",
    "heme-solid": "Hematologic vs solid: barrier categories per modality",
    "centrality": "Barriers shared across modalities (bipartite centrality)",
}

HEME_COLOR = "#c0392b"
SOLID_COLOR = "#2471a3"
OTHER_COLOR = "#b3b6b7"


def _labels(report: dict[str, Any]) -> dict[str, str]:
    names = {m["id"]: m["label"] for m in report["modalities"]}
    for row in report["rankings"]["barriers"] + report["rankings"]["categories"]:
        names[row["id"]] = row["label"]
    return names


def plot_heatmap(report: dict[str, Any]) -> Figure:
    names = _labels(report)
    mods = [m["id"] for m in report["modalities"] if report["matrix"].get(m["id"])]
    ranking = report["rankings"]["barriers"]
    # barriers grouped by category (categories in ranking order), then by label
    cat_order = {row["id"]: i for i, row in enumerate(report["rankings"]["categories"])}
    barriers = sorted(ranking, key=lambda r: (cat_order.get(r["category"], 99), r["label"]))
    values = [[report["matrix"].get(m, {}).get(b["id"], 0) for m in mods] for b in barriers]
    fig, ax = plt.subplots(figsize=(2.2 + 1.5 * max(len(mods), 1), 1.2 + 0.42 * max(len(barriers), 1)))
    image = ax.imshow(values or [[0]], cmap="YlOrRd", aspect="auto", vmin=0)
    ax.set_xticks(range(len(mods)), [names.get(m, m) for m in mods], rotation=30, ha="right")
    ax.set_yticks(
        range(len(barriers)),
        [b["label"] if b["category"] == b["id"] else f"{b['label']}  ({names.get(b['category'], b['category'])})" for b in barriers],
    )
    top = max((v for row in values for v in row), default=0)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=9, color="white" if value > top * 0.6 else "black")
    ax.set_xlabel("modality (products rolled up)")
    ax.set_ylabel("barrier  (barrier category)")
    ax.set_title(PLOTS["heatmap"])
    fig.colorbar(image, ax=ax, label="supporting studies")
    return fig


def plot_heme_solid(report: dict[str, Any]) -> Figure:
    names = _labels(report)
    contrast = report["contrast_categories"]
    mods = [m["id"] for m in report["modalities"] if contrast.get(m["id"])]
    cats = sorted({c for m in mods for c in contrast[m]}, key=lambda c: names.get(c, c).lower())
    fig, axes = plt.subplots(
        1, max(len(mods), 1), figsize=(3.2 * max(len(mods), 1) + 2.5, 1.4 + 0.45 * max(len(cats), 1)), sharey=True, squeeze=False
    )
    width = 0.27
    for ax, modality in zip(axes[0], mods, strict=False):
        cells = contrast[modality]
        ys = range(len(cats))
        for offset, kind, color, text in (
            (-width, "heme", HEME_COLOR, "hematologic"),
            (0, "solid", SOLID_COLOR, "solid"),
            (width, "unspecified", OTHER_COLOR, "unspecified"),
        ):
            ax.barh([y + offset for y in ys], [cells.get(c, {}).get(kind, 0) for c in cats], height=width, color=color, label=text)
        ax.set_title(names.get(modality, modality), fontsize=10)
        ax.set_xlabel("supporting studies")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(cats)), [names.get(c, c) for c in cats])
    axes[0][0].invert_yaxis()  # shared y axis: invert once, first category on top
    axes[0][0].set_ylabel("barrier category")
    fig.suptitle(PLOTS["heme-solid"])
    fig.tight_layout()
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=3, bbox_to_anchor=(0.5, 0.0), title="tumor context", frameon=False)
    return fig


def plot_centrality(report: dict[str, Any]) -> Figure:
    rows = report["rankings"]["barriers"]
    rows = sorted(rows, key=lambda r: (r["degree"], r["betweenness"]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 1.4 + 0.4 * max(len(rows), 1)), sharey=True)
    ys = range(len(rows))
    left.barh(ys, [r["degree"] for r in rows], color=SOLID_COLOR)
    left.set_yticks(ys, [f"{r['label']} ({r['n_modalities']})" for r in rows])
    left.set_xlabel("degree centrality (share of modalities)")
    left.set_xlim(0, 1)
    left.set_ylabel("barrier (number of modalities facing it)")
    right.barh(ys, [r["betweenness"] for r in rows], color=HEME_COLOR)
    right.set_xlabel("betweenness centrality")
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(PLOTS["centrality"])
    fig.tight_layout()
    return fig


_FUNCTIONS = {"heatmap": plot_heatmap, "heme-solid": plot_heme_solid, "centrality": plot_centrality}


def render(report: dict[str, Any], name: str, fmt: str = "svg") -> bytes:
    """One plot as PNG or SVG bytes."""
    if name not in _FUNCTIONS:
        raise KeyError(name)
    fig = _FUNCTIONS[name](report)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=150, metadata={"Date": None} if fmt == "svg" else None)
    finally:
        plt.close(fig)
    return buffer.getvalue()


def write_plots(report: dict[str, Any], outdir: Path) -> list[Path]:
    """Write every plot as ``<name>.png`` and ``<name>.svg`` into ``outdir``."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in _FUNCTIONS:
        for fmt in ("png", "svg"):
            path = outdir / f"{name}.{fmt}"
            path.write_bytes(render(report, name, fmt))
            written.append(path)
    return written
