"""One test per recognition rule of kg.lexicon, each on a sentence written for it
(never a sentence of the real-text set)."""

from __future__ import annotations

import pytest

from kg.abbreviations import best_long_form, find_definitions
from kg.lexicon import Lexicon, lexicon_for, variants
from kg.ontology import default_ontology


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return lexicon_for(default_ontology())


def found(lexicon: Lexicon, text: str, learned=None) -> list[tuple[str, str]]:
    return [(m.text, m.entity) for m in lexicon.find(text, learned)]


def mention(lexicon: Lexicon, text: str, surface: str):
    return next(m for m in lexicon.find(text) if m.text == surface)


# -- Schwartz-Hearst ------------------------------------------------------------------
def test_long_form_alignment_starts_at_a_word():
    assert best_long_form("ICANS", "with immune effector cell-associated neurotoxicity syndrome") == len("with ")
    assert best_long_form("XYZ", "a quite unrelated phrase") is None


def test_both_directions_and_a_glued_suffix():
    text = (
        "Grade 2 hemophagocytic lymphohistiocytosis (HLH) was seen; TLS (tumor lysis syndrome) was not; "
        "cluster of differentiation (CD)22 was lost."
    )
    pairs = {(d.short, d.long, d.suffix) for d in find_definitions(text)}
    assert ("HLH", "hemophagocytic lymphohistiocytosis", "") in pairs
    assert ("TLS", "tumor lysis syndrome", "") in pairs
    assert ("CD", "cluster of differentiation", "22") in pairs


def test_code_name_beside_a_name():
    text = "Patients received obecabtagene autoleucel (XYZ-0042) after bridging."
    (definition,) = [d for d in find_definitions(text) if d.kind == "code"]
    assert definition.short == "XYZ-0042"
    assert definition.long.endswith("obecabtagene autoleucel")


def test_plural_short_form():
    (definition,) = find_definitions("Dual-affinity re-targeting proteins (DARTs) were tested.")
    assert (definition.short, definition.long) == ("DARTs", "Dual-affinity re-targeting proteins")


def test_ordinary_words_with_a_number_are_no_code(lexicon):
    text = "Lifileucel infusion (day 0) followed lymphodepletion; lifileucel (NCT05727904) was given once."
    assert [d.short for d in find_definitions(text) if d.kind == "code"] == []
    assert "day 0" not in lexicon.learn([text])


def test_unbalanced_parenthesis_does_not_lose_the_sentence():
    text = "A stray ( bracket, then tumor lysis syndrome (TLS) occurred."
    assert [d.short for d in find_definitions(text)] == ["TLS"]


# -- abbreviations used in the document -------------------------------------------------
def test_defined_short_form_takes_the_long_forms_entity(lexicon):
    text = "We saw macrophage activation syndrome (MAS) in two patients; MAS resolved."
    assert found(lexicon, text)[-1] == ("MAS", "HLH")


def test_plural_short_form_defines_the_singular(lexicon):
    learned = lexicon.learn(["Macrophage activation syndromes (MASs) were rare."])
    assert learned["MAS"][0] == "HLH"
    assert found(lexicon, "One MAS was fatal.", learned) == [("MAS", "HLH")]


def test_known_short_form_names_an_unknown_british_long_form(lexicon):
    text = "Immune mobilising monoclonal TCRs against cancer (ImmTAC) redirect T cells."
    assert found(lexicon, text)[0] == ("Immune mobilising monoclonal TCRs against cancer", "ImmTAC")


def test_glued_suffix_reads_as_the_compound(lexicon):
    text = "The construct binds cluster of differentiation (CD)22 on blasts."
    assert ("cluster of differentiation (CD)22", "CD22") in found(lexicon, text)


def test_short_form_glued_to_a_compound(lexicon):
    text = "T cell receptor (TCR)-T cell therapy was given to five patients."
    assert found(lexicon, text) == [("T cell receptor (TCR)-T cell therapy", "TCRT")]


def test_code_name_defined_beside_a_product_is_the_product_in_other_texts(lexicon):
    title = "Obecabtagene autoleucel (ZZ-9001) in adults"
    learned = lexicon.learn([title])
    assert learned["ZZ-9001"][0] == "ObecabtageneAutoleucel"
    assert found(lexicon, "ZZ-9001 was infused once.", learned) == [("ZZ-9001", "ObecabtageneAutoleucel")]


def test_trial_name_in_parentheses_is_not_a_product_code(lexicon):
    learned = lexicon.learn(["Results of the pivotal trial of teclistamab (MAJOR-2) were mixed."])
    assert "MAJOR-2" not in learned


def test_a_documents_definition_beats_the_lexicons_acronym(lexicon):
    assert found(lexicon, "Response in MM was durable.") == [("MM", "MultipleMyeloma")]
    text = "Patients with malignant melanoma (MM) were enrolled. Response in MM was durable."
    assert found(lexicon, text)[-1] == ("MM", "Melanoma")


# -- lexicon gaps -------------------------------------------------------------------------
def test_fda_suffix_on_a_known_product(lexicon):
    assert found(lexicon, "Treatment with linvoseltamab-abcd was stopped.") == [("linvoseltamab-abcd", "Linvoseltamab")]


def test_near_miss_of_a_long_name(lexicon):
    assert found(lexicon, "after lisocabtagene maraleucle infusion") == [("lisocabtagene maraleucle", "LisocabtageneMaraleucel")]
    assert found(lexicon, "tisagenelcleucel") == [("tisagenelcleucel", "Tisagenlecleucel")]  # two letters swapped


def test_near_miss_needs_a_long_word_and_a_single_edit(lexicon):
    assert found(lexicon, "the modulation of lymph nodes") == []  # "the" is not "tme"
    assert found(lexicon, "tisagenlexxeucel") == []  # two edits


def test_attribute_paraphrases(lexicon):
    assert ("patients’ own T cells", "Autologous") in found(lexicon, "It is made from the patients’ own T cells.")
    assert "Autologous" not in [e for _, e in found(lexicon, "The bispecific redirects the patient's own T cells to tumor cells.")]
    assert ("HLA-presented", "MHCRestricted") in found(lexicon, "The receptor sees HLA-presented peptides.")
    assert ("presented by HLA", "MHCRestricted") in found(lexicon, "It sees peptides presented by HLA molecules.")
    assert ("MHC-unrestricted", "MHCIndependent") in found(lexicon, "Recognition is MHC-unrestricted.")
    assert ("non-MHC-restricted", "MHCIndependent") in found(lexicon, "a non-MHC-restricted receptor")


def test_toxicities_are_recognized(lexicon):
    text = "Parkinsonism, HLH, prolonged cytopenia, hypogammaglobulinaemia and secondary T cell malignancies were reported."
    entities = {e for _, e in found(lexicon, text)}
    assert {"MovementNeurotoxicity", "HLH", "Cytopenia", "BCellAplasia", "SecondaryMalignancy"} <= entities
    # a secondary cancer is a toxicity, not a tumor type the therapy treats
    assert found(lexicon, "secondary haematological malignancies")[0][1] == "SecondaryMalignancy"


def test_comparators_and_support_drugs_are_other_treatments(lexicon):
    mentions = lexicon.find("TIL plus high-dose IL-2 versus pembrolizumab or ipilimumab after cyclophosphamide.")
    roles = {m.entity: m.role for m in mentions}
    assert roles["TIL"] is None
    assert roles["Interleukin2"] == roles["Pembrolizumab"] == roles["Ipilimumab"] == roles["Cyclophosphamide"] == "other-treatment"
    assert all(default_ontology().entities[m.entity].category is None for m in mentions if m.role == "other-treatment")
    arms = lexicon.find("TCR-T cells or investigator’s choice (standard treatment)")
    assert [(m.entity, m.role) for m in arms] == [
        ("TCRT", None),
        ("InvestigatorsChoice", "other-treatment"),
        ("StandardOfCare", "other-treatment"),
    ]


# -- typography -----------------------------------------------------------------------------
def test_dashes_and_non_breaking_hyphens_are_hyphens(lexicon):
    for dash in ("\u2013", "\u2014", "\u2011", "\u2010"):
        assert ("BCMA", "BCMA") in found(lexicon, f"a BCMA{dash}directed CAR")
        assert (f"T{dash}cell engager", "TCellEngager") in found(lexicon, f"a T{dash}cell engager")


def test_suspended_hyphen_mentions_both(lexicon):
    entities = [e for _, e in found(lexicon, "BCMA- or CD19\u2013directed products")]
    assert entities == ["BCMA", "CD19"]


def test_british_spellings(lexicon):
    text = "Haematological malignancies, chronic lymphocytic leukaemia and the tumour microenvironment; paediatric tumour"
    entities = {e for _, e in found(lexicon, text)}
    assert {"HematologicMalignancy", "CLL", "TumorMicroenvironmentBarrier"} <= entities
    assert "oesophageal cancer" in variants("esophageal cancer")
    assert "immune mobilising" in variants("immune mobilizing")


def test_adjective_endings_and_head_nouns(lexicon):
    assert ("hematological neoplasms", "HematologicMalignancy") in found(lexicon, "in hematological neoplasms")
    assert ("solid neoplasm", "SolidTumor") in found(lexicon, "an adult solid neoplasm")


# -- names inside names, coordination, roles ----------------------------------------------------
def test_tumor_name_inside_an_antigen_name_is_not_the_tumor(lexicon):
    entities = [e for _, e in found(lexicon, "a melanoma-associated antigen recognized by T cells")]
    assert "Melanoma" not in entities
    # antigens of a tumor type are not a name: the tumor type stays
    assert ("solid-tumor", "SolidTumor") in found(lexicon, "CAR-T cells directed at solid-tumor antigens")


def test_tumor_named_as_origin_gets_a_role(lexicon):
    mentions = lexicon.find("Patients had DLBCL arising from follicular lymphoma.")
    assert [(m.entity, m.role) for m in mentions] == [("LBCL", None), ("FollicularLymphoma", "origin")]


def test_nominalized_strategy_and_its_object(lexicon):
    text = "Remodeling rests on modulation of the tumoral microenvironment."
    assert found(lexicon, text) == [("modulation", "TMEModulatingAgent"), ("tumoral microenvironment", "TumorMicroenvironmentBarrier")]
    assert found(lexicon, "loss of antigen presentation") == [("loss of antigen presentation", "MHCLoss")]


def test_shared_modifier_in_a_coordination(lexicon):
    entities = [e for _, e in found(lexicon, "hypoxia, antigen escape and heterogeneity limit them")]
    assert entities == ["MetabolicInsulation", "AntigenEscape", "AntigenHeterogeneity"]


def test_combinations_and_the_making_of_a_cell_product(lexicon):
    text = "Combining TIL with other immunotherapies helped, but TIL expansion and production stay slow."
    assert found(lexicon, text) == [
        ("Combining", "CombinatorialStrategy"),
        ("TIL", "TIL"),
        ("TIL", "TIL"),
        ("expansion and production", "ManufacturingLogistics"),
    ]
    assert found(lexicon, "Glofitamab in combination with chemotherapy") == [
        ("Glofitamab", "Glofitamab"),
        ("in combination", "CombinatorialStrategy"),
    ]
    assert "CombinatorialStrategy" not in [e for _, e in found(lexicon, "Combined with the advantages of many methods, TIL works")]


def test_inverted_headings_of_registries(lexicon):
    text = "Conditions: Lymphoma, Large B-Cell, Diffuse; Leukemia, Lymphocytic, Chronic, B-Cell"
    assert found(lexicon, text) == [("Lymphoma, Large B-Cell, Diffuse", "LBCL"), ("Leukemia, Lymphocytic, Chronic", "CLL")]
    assert [e for _, e in found(lexicon, "Melanoma, lung cancer and myeloma")] == ["Melanoma", "MultipleMyeloma"]


def test_glued_target_pairs(lexicon):
    assert [e for _, e in found(lexicon, "a DLL3xCD3 bispecific")] == ["DLL3", "TCellEngager"]
    mentions = lexicon.find("the GPRC5D×CD3 antibody")
    assert [(m.entity, m.role) for m in mentions] == [("GPRC5D", None), ("CD3", "engager-arm")]


def test_tumor_head_nouns_interchange(lexicon):
    assert found(lexicon, "head and neck squamous cell cancer") == [("head and neck squamous cell cancer", "HeadAndNeckCancer")]
    assert found(lexicon, "gastric carcinoma") == [("gastric carcinoma", "GastricCancer")]


def test_cd3_is_the_engager_arm(lexicon):
    for text in ("a DLL3-directed CD3 T-cell engager", "a GPRC5D x CD3 antibody", "an anti-CD3 scFv", "CD3-binding arm"):
        (cd3,) = [m for m in lexicon.find(text) if m.entity == "CD3"]
        assert cd3.role == "engager-arm", text
    assert [m.entity for m in lexicon.find("a CD3 bispecific")] == ["TCellEngager"]
    (cd3,) = lexicon.find("CD3 counts fell")
    assert cd3.role == "t-cell-marker"


def test_mention_records_how_it_was_found(lexicon):
    m = mention(lexicon, "Grade 3 CRS occurred.", "CRS")
    assert (m.source, m.matched) == ("acronym", "CRS")
    m = mention(lexicon, "cytokine release syndromes were common", "cytokine release syndromes")
    assert (m.source, m.matched) == ("lexicon", "cytokine release syndromes")


def test_tcr_construct_is_tcr_t(lexicon):
    assert found(lexicon, "MAGE-A4 specific TCR lentiviral vector transduced autologous T cells")[-1][1] == "TCRT"
    assert found(lexicon, "Intervention: PRAME Reactive TCR Vector Transduced Autologous PBL")[-1][1] == "TCRT"
    assert "TCRT" not in [e for _, e in found(lexicon, "TCR signals are transduced to the nucleus")]


# -- unknown products ----------------------------------------------------------------------------
def test_unknown_therapy_like_names_are_candidates(lexicon):
    text = "Zorpocabtagene autoleucel, CD70 CAR-T cells, XB-2207 and glofitamab were compared with pembrolizumab; see trial ALPHA-1."
    candidates = {(c.text, c.kind) for c in lexicon.candidates(text)}
    assert ("Zorpocabtagene autoleucel", "product-name") in candidates
    assert ("CD19 CAR-T", "car-construct") not in {(c.text, c.kind) for c in lexicon.candidates("CD19 CAR-T cells were given")}
    assert ("CD70 CAR-T", "car-construct") in candidates
    assert ("XB-2207", "code-name") in candidates
    assert not any(t in ("glofitamab", "pembrolizumab", "ALPHA-1") for t, _ in candidates)


def test_step_up_dosing_in_its_other_wordings():
    from kg.lexicon import lexicon_for
    from kg.ontology import default_ontology

    lexicon = lexicon_for(default_ontology())
    for text in ("a 3-step up dosage schedule", "after a step-up dose of 0.16 mg", "with step-up dosing"):
        assert [m.entity for m in lexicon.find(text)] == ["ToxicityManagement"], text
