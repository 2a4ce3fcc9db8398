"""Area detection: vocabulary in three languages, abbreviations, lay phrases, offsets."""
from __future__ import annotations

import pytest

from matcher.areas import AreaDetector, load_vocabulary
from matcher.schema import AREA_IDS, LANGUAGES


def test_vocabulary_covers_every_area_in_three_languages_with_twenty_terms() -> None:
    vocab = load_vocabulary()
    for area in AREA_IDS:
        assert set(vocab.names[area]) >= set(LANGUAGES), area
        assert vocab.term_count(area) >= 20, area
        assert all(vocab.terms[area][lang] for lang in LANGUAGES), area


@pytest.mark.parametrize(
    ("text", "area"),
    [
        ("Patients arrive with sudden weakness on one side of the body.", "stroke"),
        ("Nous recevons beaucoup de patients paralysés d'un côté.", "stroke"),
        ("Muitas mães morrem de hemorragia depois do parto.", "maternal_health"),
        ("Our babies born too early die in the first week.", "neonatal_care"),
        ("We cannot offer dialysis to patients whose kidneys are failing.", "kidney_care"),
        ("Les enfants brûlés par les feux de cuisine restent sans soins.", "burns_plastics"),
        ("A nossa unidade de cuidados intensivos não tem ventiladores.", "critical_care"),
    ],
)
def test_detects_area_in_english_french_portuguese_and_lay_phrasing(detector: AreaDetector, text: str,
                                                                      area: str) -> None:
    assert area in detector.detect(text)


@pytest.mark.parametrize(("text", "area"), [("Rising PPH deaths.", "maternal_health"),
                                            ("Un AVC chaque jour.", "stroke"),
                                            ("Many CKD patients.", "kidney_care"),
                                            ("Our NICU is full.", "neonatal_care")])
def test_abbreviations_match_as_whole_words(detector: AreaDetector, text: str, area: str) -> None:
    hits = detector.detect(text)
    assert area in hits
    assert any(e.method == "abbreviation" for e in hits[area].evidence)


def test_abbreviation_is_case_sensitive(detector: AreaDetector) -> None:
    assert "stroke" not in detector.detect("We avoid using the word avc in lower case.")


def test_detection_is_accent_case_and_inflection_tolerant(detector: AreaDetector) -> None:
    plain = detector.detect("hemorragie du post-partum")
    fancy = detector.detect("HÉMORRAGIES DU POST-PARTUM")
    assert "maternal_health" in plain and "maternal_health" in fancy


def test_evidence_offsets_point_at_the_phrase_in_the_original_text(detector: AreaDetector) -> None:
    text = "Depuis l'an dernier, les hémorragies après l'accouchement tuent nos mères."
    for hit in detector.detect(text).values():
        for e in hit.evidence:
            assert text[e.start:e.end] == e.phrase


def test_longest_phrase_wins_over_a_word_inside_it(detector: AreaDetector) -> None:
    hits = detector.detect("We see many cases of neonatal sepsis.")
    assert "neonatal_care" in hits
    assert "critical_care" not in hits


def test_declared_areas_are_always_reported(detector: AreaDetector) -> None:
    hits = detector.detect("General support for our hospital.", declared=["nursing"])
    assert hits["nursing"].strength == 1.0


def test_text_without_clinical_words_has_no_areas(detector: AreaDetector) -> None:
    assert detector.detect("The weather in Accra was warm and the meeting went well.") == {}


def test_unfitted_detector_says_so() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        AreaDetector().detect("stroke")


def test_semantic_layer_finds_an_unlisted_phrasing() -> None:
    from models.encoders import HashingEncoder

    det = AreaDetector(encoder=HashingEncoder(), semantic_threshold=0.5).fit()
    text = "We want training for cataract surgeries in the eye hospital."
    assert "eye_health" in det.detect(text)
