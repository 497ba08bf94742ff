"""Synthetic study cards for benchmarks and batch tests (seeded, reproducible).

Cards follow the real layout (navigation lines, glued title and subtitle,
disclaimer, Key Takeaway, clinician and lay summaries, "What this means for
you:", glued Study Details, abstract, newsletter boilerplate). Their
vocabulary is drawn from the ontology: products with their modality and
target antigen, tumor types, barriers, toxicities and strategies, in
sentences with coordinated lists and negations like the real ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from .namespaces import BASE, TKG
from .ontology import Ontology, default_ontology

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DESIGNS = [("Randomized controlled trial", 2, "randomized"), ("Non-randomized trial", 3, "single-arm"),
           ("Narrative review", 4, "narrative review"), ("Systematic review", 1, "systematic review")]


def _label(ontology: Ontology, name: str) -> str:
    return ontology.entities[name].label


def _vocabulary(ontology: Ontology) -> dict[str, list[str]]:
    graph = ontology.graph
    products = sorted(str(s)[len(BASE):] for s in graph.subjects(TKG.approvalStatus, None) if graph.value(s, TKG.targetAntigen) is not None)
    def under(category: str) -> list[str]:
        return sorted(n for n, e in ontology.entities.items() if e.category == category and n != category and e.kind == "class")
    return {
        "product": products,
        "solid": [n for n in under("TumorType") if ontology.is_a(n, "SolidTumor") and n != "SolidTumor"],
        "heme": [n for n in under("TumorType") if ontology.is_a(n, "HematologicMalignancy") and n != "HematologicMalignancy"],
        "barrier": [n for n in under("Barrier") if n not in ("SafetyBarrier", "ResistanceMechanism", "AntigenHeterogeneityAndEscape")],
        "toxicity": [n for n in under("Toxicity") if n != "TreatmentRelatedDeath"],
        "strategy": [n for n in under("Strategy") if n != "CombinatorialStrategy"],
    }


def generate_card(rng: random.Random, index: int, ontology: Ontology, vocab: dict[str, list[str]]) -> tuple[str, str]:
    product = rng.choice(vocab["product"])
    antigen = _label(ontology, str(ontology.graph.value(TKG[product], TKG.targetAntigen))[len(BASE):])
    modality = next(m for m in ("CART", "TIL", "TCRT", "TCellEngager") if ontology.is_a(product, m))
    tumor = rng.choice(vocab["solid"] + vocab["heme"])
    b1, b2, b3 = rng.sample(vocab["barrier"], 3)
    t1, t2, t3 = rng.sample(vocab["toxicity"], 3)
    strategy = rng.choice(vocab["strategy"])
    design, level, phrase = rng.choice(DESIGNS)
    name, mod, tum = _label(ontology, product), _label(ontology, modality), _label(ontology, tumor)
    year = rng.randint(2012, 2026)
    title = f"Cohort {index}: {antigen}-directed {mod} in {tum}"
    subtitle = f"{name[0].upper()}{name[1:]} tested against {_label(ontology, b1)}"
    clinician = (
        f"This {phrase} study of {name}, a {antigen}-directed {mod}, enrolled patients with previously treated {tum}. "
        f"{name[0].upper()}{name[1:]} produced durable responses in {tum}. "
        # the therapy is named: the extractor (rightly) links no barrier to a pronoun
        f"The activity of {name} was limited by {_label(ontology, b1)} in {tum}, "
        f"by {_label(ontology, b2)} and {_label(ontology, b3)} in other settings. "
        f"{_label(ontology, t1)[0].upper()}{_label(ontology, t1)[1:]} occurred in many patients, "
        f"and {_label(ontology, t2)} was less frequent. "
        f"No {_label(ontology, t3)} was observed."
    )
    lay = (
        f"Patients with {tum} received a new treatment. Many had side effects that doctors could manage. "
        f"Researchers think {_label(ontology, strategy)} may help against {_label(ontology, b1)}."
    )
    abstract = (
        f"Background: {tum[0].upper()}{tum[1:]} has few options. Methods: patients received {name}. "
        f"Results: responses were frequent; {_label(ontology, t1)} was the main adverse event. "
        f"Conclusion: {_label(ontology, strategy)} could overcome {_label(ontology, b1)}."
    )
    text = "\n".join(
        [
            "Mode",
            "Text Size",
            "Log in / Sign up",
            "",
            f"{title}{subtitle[0].upper()}{subtitle[1:]}",
            "",
            "AI-generated summary of the cited source, checked by automated accuracy review. How we work",
            "",
            "Key Takeaway",
            f"Consider {name} for {tum}, while monitoring for {_label(ontology, t1)}.",
            "",
            clinician,
            "",
            lay,
            "",
            "What this means for you:",
            f"A {mod} may be an option for {tum} at a specialized center.",
            "",
            "Study Details",
            "",
            f"Study type{design}",
            f"EvidenceLevel {level}",
            f"Published{rng.choice(MONTHS)} {year}",
            "View Original Abstract ↓",
            abstract,
            "Free Newsletter",
            "",
            "Clinical research that matters. Delivered to your inbox.",
            "",
            "Join thousands of clinicians and researchers. No spam, unsubscribe anytime.",
            "",
        ]
    )
    return f"synthetic-{index:06d}.txt", text


def generate_cards(n: int, seed: int = 0, ontology: Ontology | None = None, *, start: int = 0) -> Iterator[tuple[str, str]]:
    """(file name, card text) for ``n`` synthetic cards numbered from ``start``
    (the number names the file, and so the study); the same seed gives the same cards."""
    ontology = ontology or default_ontology()
    vocab = _vocabulary(ontology)
    rng = random.Random(seed)
    for index in range(start, start + n):
        yield generate_card(rng, index, ontology, vocab)


def write_cards(directory: Path, n: int, seed: int = 0, *, start: int = 0) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in generate_cards(n, seed, start=start):
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


__all__ = ["generate_cards", "write_cards"]
