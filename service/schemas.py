"""Request and response bodies of the HTTP API: `...Create` / `...Update` / `...Public` families.

Inputs reuse the domain's field types (matcher.schema) so the API and the JSONL import
accept exactly the same values; every text field also refuses NUL characters and lone
surrogates, which no database stores.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from matcher.schema import AreaId, Description, Language, Modality, Name, RecordId, country_code

Role = Literal["submitter", "partner", "staff", "admin"]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
T = TypeVar("T")


def _check_text(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    elif isinstance(value, list):
        for item in value:
            _check_text(item)
    return value


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused, text must be storable."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return _check_text(value)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# ---- needs ---------------------------------------------------------------------------------
class NeedCreate(InputModel):
    """A new needs statement. `institution` is taken from a submitter's key (admins must give it)."""

    institution: Name | None = None
    country: str = Field(description="ISO 3166-1 alpha-2 code, e.g. GH")
    language: Language | None = Field(default=None, description="en, fr or pt; detected when omitted")
    description: Description
    preferred_modalities: list[Modality] = Field(default_factory=list)
    clinical_areas: list[AreaId] = Field(default_factory=list, max_length=34)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        return country_code(v)


class NeedUpdate(InputModel):
    """Fields to change on a need; omitted fields keep their value (null is refused)."""

    country: str | None = None
    language: Language | None = None
    description: Description | None = None
    preferred_modalities: list[Modality] | None = None
    clinical_areas: list[AreaId] | None = Field(default=None, max_length=34)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        return None if v is None else country_code(v)

    @model_validator(mode="after")
    def _no_nulls(self) -> NeedUpdate:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"field '{name}': must not be null (omit it to keep the current value)")
        return self


class NeedPublic(BaseModel):
    """A need as the API returns it; a withdrawn need has no description."""

    id: str
    institution: str
    country: str
    language: str
    description: str | None
    preferred_modalities: list[str]
    clinical_areas: list[str] = Field(description="areas declared by the author")
    detected_areas: list[str] = Field(description="areas found in the text")
    status: Literal["open", "withdrawn"]
    created_at: datetime
    updated_at: datetime


# ---- profiles ------------------------------------------------------------------------------
class ProfileUpsert(InputModel):
    """A UK capability profile; the id comes from the URL (a body id must agree with it)."""

    id: RecordId | None = None
    name: Name
    kind: Literal["nhs_trust", "university", "royal_college", "charity", "social_enterprise"]
    country: Literal["GB"] = "GB"
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    description: Description
    languages: list[Language] = Field(default_factory=lambda: ["en"], min_length=1)
    capacity: int = Field(default=1, ge=0, le=1000)
    countries_of_experience: list[str] = Field(default_factory=list, max_length=250)
    modalities: list[Modality] = Field(default_factory=list)
    clinical_areas: list[AreaId] = Field(default_factory=list, max_length=34)

    @field_validator("countries_of_experience")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        return [country_code(c) for c in v]


class ProfilePublic(BaseModel):
    """A profile as the API returns it, with what the engine found and capacity left."""

    id: str
    name: str
    kind: str
    country: str
    region: str
    description: str
    languages: list[str]
    capacity: int
    remaining_capacity: int
    countries_of_experience: list[str]
    modalities: list[str]
    clinical_areas: list[str]
    detected_areas: list[str]
    created_at: datetime
    updated_at: datetime


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total the caller may see."""

    items: list[T]
    total: int
    limit: int
    offset: int


# ---- matching ------------------------------------------------------------------------------
class MatchItem(BaseModel):
    """A ranked, explained candidate (see DESIGN.md): score, breakdown, shared areas, fit."""

    model_config = ConfigDict(extra="allow")

    profile_id: str | None = None
    need_id: str | None = None
    score: float
    breakdown: dict[str, float]
    shared_areas: list[dict[str, Any]] = Field(default_factory=list)
    fit: dict[str, Any] = Field(default_factory=dict)


class MatchesPublic(BaseModel):
    """Ranked profiles for a need."""

    need_id: str
    matches: list[MatchItem]
    reason: str | None = Field(default=None, description="why the list is empty, when it is")


class CounterpartsPublic(BaseModel):
    """Ranked open needs (counterparts) for a profile."""

    profile_id: str
    matches: list[MatchItem]
    reason: str | None = None


class TextMatchRequest(InputModel):
    """An ad-hoc needs statement to rank profiles for; it is not stored."""

    text: Description
    top: int = Field(default=10, ge=1, le=100)
    language: Language | None = None


class TextMatchesPublic(BaseModel):
    """Ranked profiles for an ad-hoc statement."""

    matches: list[MatchItem]
    reason: str | None = None


# ---- decisions, gaps and keys (staff and admin) ----------------------------------------------
class DecisionCreate(InputModel):
    """A staff decision on a suggested (need, profile) pair."""

    profile_id: RecordId
    decision: Literal["accept", "reject"]
    reason: Reason


class DecisionPublic(BaseModel):
    """A recorded decision: what, on which pair, who and when."""

    id: int
    need_id: str
    profile_id: str
    decision: Literal["accept", "reject"]
    reason: str
    decided_by: str
    decided_at: datetime


class DecisionsPublic(BaseModel):
    """Every decision on a need, oldest first."""

    need_id: str
    decisions: list[DecisionPublic]


class AreaGap(BaseModel):
    """Open demand and available supply in one clinical area."""

    area: str
    open_needs: int
    available_profiles: int = Field(description="profiles with remaining capacity showing this area")
    remaining_capacity: int
    shortfall: int = Field(description="open needs beyond the remaining capacity (0 when covered)")


class CountryGap(BaseModel):
    """Open demand from one country and the supply that knows it."""

    country: str
    open_needs: int
    available_profiles: int = Field(description="profiles with remaining capacity and experience of the country")
    remaining_capacity: int
    shortfall: int


class GapsPublic(BaseModel):
    """Unmet demand by clinical area and by country, largest shortfall first."""

    open_needs: int
    available_profiles: int
    by_area: list[AreaGap]
    by_country: list[CountryGap]


class KeyCreate(InputModel):
    """A new API key: submitters need an institution, partners a profile id."""

    role: Role
    institution: Name | None = None
    profile_id: RecordId | None = None


class KeyPublic(BaseModel):
    """An API key without its secret."""

    id: str
    role: Role
    institution: str | None
    profile_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    """A new key: the secret is shown once and never again."""

    key: str
