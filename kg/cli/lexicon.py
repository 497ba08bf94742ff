"""`tkg lexicon`: look at the vocabulary the recognizer works from.

``tkg lexicon candidates`` lists therapy-like names the lexicon does not know
(INN-like product names ending in -leucel, -cel, -tamab or -mab, CAR
constructs such as "CD70 CAR-T", code names such as "XB-2207"), with counts
and example sentences, so that a curator can add them to
``ontology/products.ttl``. Candidates are not stored: they are computed from
the text blocks of the studies in the store (or from the files given), with
the lexicon of the current ontology, so a name disappears from the list as
soon as the ontology knows it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import remote_options, store_option

_TEXTS_QUERY = """
PREFIX tkg: <https://w3id.org/tcell-kg/>
PREFIX dcterms: <http://purl.org/dc/terms/>
SELECT ?study ?text WHERE {
  GRAPH ?g {
    { ?study a ?type ; tkg:hasTextBlock ?block . ?block tkg:content ?text }
    UNION
    { ?study tkg:hasTextBlock ?any ; dcterms:title ?text }
  }
}
"""


def _store_documents(store: str) -> list[tuple[str, list[str]]]:
    from ..graph import KnowledgeGraph

    documents: dict[str, list[str]] = {}
    with KnowledgeGraph.open(store) as kg:
        for row in kg.store.query(_TEXTS_QUERY):
            texts = documents.setdefault(str(row["study"]).rsplit("/", 1)[-1], [])
            if str(row["text"]) not in texts:
                texts.append(str(row["text"]))
    return sorted(documents.items())


def _file_documents(files: tuple[Path, ...]) -> list[tuple[str, list[str]]]:
    from ..readers import detect_format, read_file

    documents = []
    for path in files:
        for record in read_file(path, detect_format(path)):
            texts = [t for t in (record.title, record.subtitle or "", *(b.text for b in record.texts)) if t]
            documents.append((path.name, texts))
    return documents


@click.group("lexicon")
def lexicon() -> None:
    """Look at the vocabulary that entity recognition works from."""


@lexicon.command("candidates")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@store_option
@remote_options
@click.option(
    "--min-studies", type=click.IntRange(min=1), default=1, show_default=True, help="Only names found in at least this many studies."
)
@click.option("--examples", type=click.IntRange(min=0), default=2, show_default=True, help="Example sentences per name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def candidates(files: tuple[Path, ...], store: str, min_studies: int, examples: int, as_json: bool) -> None:
    """List therapy-like names the lexicon does not know, with counts and example sentences.

    Reads the text blocks of every study in the store (the published release),
    or the FILES given (cards, PubMed XML, ClinicalTrials.gov JSON) without a
    store. Names: -leucel / -cel / -tamab / -mab products, CAR constructs
    ("CD70 CAR-T"), code names ("XB-2207"); a name the ontology knows, trial
    names ("ZUMA-1") and registry numbers are left out. Nothing is written: add
    a real product to ontology/products.ttl and it leaves this list.
    """
    from ..lexicon import collect_candidates, lexicon_for
    from ..ontology import default_ontology

    documents = _file_documents(files) if files else _store_documents(store)
    found = [c for c in collect_candidates(lexicon_for(default_ontology()), documents, examples) if len(c.studies) >= min_studies]
    if as_json:
        rows = [
            {
                "name": c.text,
                "kind": c.kind,
                "count": c.count,
                "studies": len(c.studies),
                "examples": [{"study": s, "sentence": t} for s, t in c.examples],
            }
            for c in found
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    click.echo(f"{len(found)} candidate names in {len(documents)} studies")
    for c in found:
        click.echo(f"\n{c.text}  [{c.kind}]  {c.count} mentions in {len(c.studies)} studies")
        for study, sentence in c.examples:
            click.echo(f"  {study}: {sentence[:300]}")
