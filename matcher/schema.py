"""Records partnermatch works on (needs and profiles) and the import format.

The area ids, modalities and field names are a public contract (see DESIGN.md).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from matcher.errors import ImportValidationError

AREA_IDS: tuple[str, ...] = (
    "stroke", "cardiology", "emergency_care", "trauma_orthopaedics", "surgery", "anaesthesia",
    "critical_care", "maternal_health", "neonatal_care", "paediatrics", "mental_health",
    "infectious_diseases", "oncology", "palliative_care", "kidney_care", "diabetes_endocrine",
    "eye_health", "ent_hearing", "dermatology", "radiology_imaging", "laboratory_pathology",
    "pharmacy_medicines", "rehabilitation", "neurology", "burns_plastics", "oral_health",
    "infection_prevention", "patient_safety_quality", "health_informatics",
    "biomedical_engineering", "leadership_management", "nursing", "primary_care", "public_health",
)
MODALITIES: tuple[str, ...] = (
    "online_mentorship", "training_courses", "protocol_development",
    "curricula_development", "exchange_visits", "quality_improvement",
)
LANGUAGES: tuple[str, ...] = ("en", "fr", "pt")
MAX_DESCRIPTION_CHARS = 20_000

AreaId = Literal[
    "stroke", "cardiology", "emergency_care", "trauma_orthopaedics", "surgery", "anaesthesia",
    "critical_care", "maternal_health", "neonatal_care", "paediatrics", "mental_health",
    "infectious_diseases", "oncology", "palliative_care", "kidney_care", "diabetes_endocrine",
    "eye_health", "ent_hearing", "dermatology", "radiology_imaging", "laboratory_pathology",
    "pharmacy_medicines", "rehabilitation", "neurology", "burns_plastics", "oral_health",
    "infection_prevention", "patient_safety_quality", "health_informatics",
    "biomedical_engineering", "leadership_management", "nursing", "primary_care", "public_health",
]
Modality = Literal[
    "online_mentorship", "training_courses", "protocol_development",
    "curricula_development", "exchange_visits", "quality_improvement",
]
Language = Literal["en", "fr", "pt"]
RecordId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DESCRIPTION_CHARS)
]


def country_code(value: str) -> str:
    """Return `value` upper-cased if it is an ISO 3166-1 alpha-2 code, else raise ValueError."""
    import pycountry

    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. 'GH', 'SN')")
    return code


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RecordId
    description: Description
    clinical_areas: list[AreaId] = Field(default_factory=list, max_length=34)

    @field_validator("clinical_areas")
    @classmethod
    def _dedupe_areas(cls, v: list[str]) -> list[str]:
        return _unique(v)


class Profile(_Record):
    """A UK institution's capability profile."""

    name: Name
    kind: Literal["nhs_trust", "university", "royal_college", "charity", "social_enterprise"]
    country: Literal["GB"] = "GB"
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    languages: list[Language] = Field(default_factory=lambda: list[Language](["en"]), min_length=1)
    capacity: int = Field(default=1, ge=0, le=1000)
    countries_of_experience: list[str] = Field(default_factory=list, max_length=250)
    modalities: list[Modality] = Field(default_factory=list)

    @field_validator("countries_of_experience")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        return _unique([country_code(c) for c in v])

    @field_validator("languages", "modalities")
    @classmethod
    def _dedupe(cls, v: list[str]) -> list[str]:
        return _unique(v)


class Need(_Record):
    """An LMIC institution's needs statement."""

    institution: Name
    country: str
    language: Language
    preferred_modalities: list[Modality] = Field(default_factory=list)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        return country_code(v)

    @field_validator("preferred_modalities")
    @classmethod
    def _dedupe(cls, v: list[str]) -> list[str]:
        return _unique(v)


R = TypeVar("R", Profile, Need)


def describe_validation_error(exc: ValidationError) -> list[str]:
    """Turn a pydantic error into messages of the form 'field: problem (got value)'."""
    messages = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "record"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "literal_error":
            msg = f"{msg}, got {err.get('input')!r}"
        messages.append(f"field '{field}': {msg}")
    return messages


def parse_records(lines: Iterable[str], model: type[R], source: str = "<input>") -> list[R]:
    """Validate JSON Lines into records; raise ImportValidationError listing every bad line."""
    records: list[R] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{source}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{source}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            continue
        try:
            record = model.model_validate(obj)
        except ValidationError as exc:
            problems.extend(f"{source}:{lineno}: {m}" for m in describe_validation_error(exc))
            continue
        if record.id in seen:
            problems.append(
                f"{source}:{lineno}: field 'id': duplicate id {record.id!r} (first on line {seen[record.id]})"
            )
            continue
        seen[record.id] = lineno
        records.append(record)
    if problems:
        raise ImportValidationError(problems)
    return records


def read_jsonl(path: Path, model: type[R]) -> list[R]:
    """Read and validate a JSON Lines file of profiles or needs."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportValidationError([f"{path}: cannot read file ({exc})"]) from exc
    return parse_records(text.splitlines(), model, source=str(path))


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield raw JSON objects from a trusted JSON Lines file (demo data, tests)."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
