"""The full computation of the entity summaries (kg.views.summaries.Rollup:
one grouping of the finding ends, then unions of sets up the class tree)
equals the study-by-study update an incremental publish makes, applied to
every study from an empty summary; a group's least quote counted again
from the index equals the least of its studies'. (That both equal the entity page's
SPARQL computation over a store is tests/test_incremental.py's.)"""

from __future__ import annotations

import random
import sqlite3

from kg.artifacts import ensure_tables
from kg.views.summaries import _INDEXES, _TABLES, SEP, Rollup, _apply, _contributions, _least_quote

# A class tree with a diamond (D under B and C) and a class with no ends of its own (A).
NARROWER = {
    "A": {"A", "B", "C", "D", "E"},
    "B": {"B", "D"},
    "C": {"C", "D", "E"},
    "D": {"D"},
    "E": {"E"},
}


def _rows(seed: int) -> list[tuple]:
    """Finding ends at B to E: studies with ends at several classes, the same
    finding in two graphs, supporting and other ends, levels and quotes missing or tied."""
    rng = random.Random(seed)
    rows = []
    for n in range(300):
        study = f"study{rng.randrange(40)}"
        finding = f"finding{rng.randrange(120)}"
        g = f"graph{rng.randrange(2)}"
        d = rng.choice(["out", "in"])
        via = rng.choice("BCDE")
        relation = rng.choice(["limitedBy", "mitigatedBy"])
        other = rng.choice(["X", "Y", "Z"])
        support = rng.choice(["SUPPORT", "SUPPORT", "REFUTE"])
        level = rng.choice([None, 1, 2, 3])
        quote = rng.choice([None, "a", "b", "c"])
        rows.append((g, d, via, relation, other, support, study, finding, level, quote))
        if n % 10 == 0:  # the same end at another class
            rows.append((g, d, rng.choice("BCDE"), relation, other, support, study, finding, level, quote))
    return rows


def _reference(rows: list[tuple], narrower: set[str]) -> tuple[dict, dict[str, int]]:
    """An entity's state and its studies' findings, study by study as an incremental publish adds them."""
    state: dict = {"groups": {}, "totals": {}}
    added = _contributions(r for r in rows if r[2] in narrower)
    for study in sorted(added):
        _apply(state, None, added[study], set())
    return state, {study: len(c["findings"]) for study, c in added.items()}


def test_the_rollup_equals_adding_every_study_to_an_empty_summary():
    for seed in range(5):
        rows = _rows(seed)
        rollup = Rollup()
        for row in rows:
            rollup.add(row)
        for entity, narrower in NARROWER.items():
            want_state, want_findings = _reference(rows, narrower)
            assert want_state["groups"] and want_state["totals"]
            state = rollup.state(narrower)
            assert state == want_state, (seed, entity)
            assert rollup.findings(narrower) == want_findings, (seed, entity)
            for group in state["groups"].values():  # the vias' counts come in the order of their names
                assert list(group["vias"]) == sorted(group["vias"])


def test_a_groups_least_quote_is_counted_over_its_classes_from_the_index():
    """What an incremental publish counts again when a group's least quote has gone (_least_quote)."""
    db = sqlite3.connect(":memory:")
    ensure_tables(db, _TABLES)
    for statement in _INDEXES:
        db.execute(statement)
    for seed in range(5):
        rows = _rows(seed)
        db.execute("DELETE FROM e_ends")
        db.executemany("INSERT INTO e_ends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for narrower in NARROWER.values():
            for key in {(d, rel, other) for _g, d, via, rel, other, *_ in rows if via in narrower}:
                least: dict[str, str] = {}  # per study: its least supporting quote in the group
                for _g, d, via, rel, other, support, study, _f, _level, quote in rows:
                    if (d, rel, other) == key and via in narrower and support == "SUPPORT" and quote is not None:
                        least[study] = min(quote, least.get(study, quote))
                want = (min(least.values()), sum(q == min(least.values()) for q in least.values())) if least else (None, 0)
                assert _least_quote(db, SEP.join(key), sorted(narrower)) == want, (seed, key, sorted(narrower))


def test_every_graphs_ends_read_in_parts_equal_the_query_for_named_graphs(built_store):
    """A full publish reads every graph's ends and studies in parts joined in Python
    (the OPTIONALs were slow over every finding); they equal the query an incremental publish runs for its graphs."""
    from kg import KnowledgeGraph
    from kg.artifacts import select
    from kg.views.summaries import _G_STUDIES, _every_study, _rows

    with KnowledgeGraph.open(built_store) as kg:
        graphs = {str(r["g"]) for r in kg.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }").rows}
        found: set = set()
        every = sorted(_rows(kg, None, found), key=repr)
        named = sorted(_rows(kg, graphs, set()), key=repr)
        assert len(every) > 100 and all(row[9] is not None for row in every)  # (every shipped finding has a quote)
        assert every == named
        assert sorted(map(repr, _every_study(kg, found))) == sorted(map(repr, select(kg, _G_STUDIES, graphs)))
