"""Import validation: every bad line reported with its line number and field."""
from __future__ import annotations

import json

import pytest

from matcher.errors import ImportValidationError
from matcher.schema import Need, Profile, parse_records

GOOD_NEED = {"id": "need-001", "institution": "Korle Bu", "country": "GH", "language": "en",
             "description": "stroke care", "preferred_modalities": ["training_courses"]}


def _problems(lines: list[str], model: type = Need) -> list[str]:
    with pytest.raises(ImportValidationError) as exc:
        parse_records(lines, model, source="needs.jsonl")
    return exc.value.problems


def test_valid_need_parses_and_normalises_country() -> None:
    [need] = parse_records([json.dumps({**GOOD_NEED, "country": "gh"})], Need)
    assert need.country == "GH"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"country": "XX"}, "field 'country'"),
        ({"language": "de"}, "field 'language'"),
        ({"description": "   "}, "field 'description'"),
        ({"clinical_areas": ["cardiology", "astrology"]}, "field 'clinical_areas.1'"),
        ({"preferred_modalities": ["telepathy"]}, "field 'preferred_modalities.0'"),
        ({"colour": "blue"}, "field 'colour': unknown field"),
        ({"id": "bad id!"}, "field 'id'"),
    ],
)
def test_bad_field_is_named_with_line_number(change: dict, expected: str) -> None:
    problems = _problems([json.dumps(GOOD_NEED), json.dumps({**GOOD_NEED, "id": "need-002", **change})])
    assert any(p.startswith("needs.jsonl:2: " + expected) for p in problems), problems


def test_missing_field_bad_json_and_duplicate_id_are_all_reported_at_once() -> None:
    lines = [json.dumps(GOOD_NEED), "{not json", json.dumps({k: v for k, v in GOOD_NEED.items() if k != "country"}),
             json.dumps(GOOD_NEED)]
    problems = _problems(lines)
    assert any(p.startswith("needs.jsonl:2: invalid JSON") for p in problems)
    assert any(p.startswith("needs.jsonl:3: field 'country': Field required") for p in problems)
    assert any("needs.jsonl:4: field 'id': duplicate id 'need-001' (first on line 1)" in p for p in problems)


def test_profile_capacity_must_not_be_negative() -> None:
    profile = {"id": "uk-1", "name": "T", "kind": "nhs_trust", "description": "d", "capacity": -1}
    assert any("field 'capacity'" in p for p in _problems([json.dumps(profile)], Profile))
