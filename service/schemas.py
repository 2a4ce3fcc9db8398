"""Request and response bodies of the HTTP API: `...Create` / `...Update` / `...Public` families.

Inputs reuse the domain's field types (matcher.schema) so the API and the JSONL import
accept exactly the same values; every text field also refuses NUL characters and lone
surrogates, which no database stores.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from matcher.schema import AreaId, Description, Language, Modality, Name, RecordId, country_code


def _iso_codes(schema: dict[str, Any]) -> None:
    """List the ISO 3166-1 alpha-2 codes in the OpenAPI schema (computed when the schema is built)."""
    import pycountry

    schema["enum"] = sorted(c.alpha_2 for c in pycountry.countries)


Role = Literal["submitter", "partner", "staff", "admin"]
Decision = Literal["accept", "reject", "block"]
CountryCode = Annotated[str, Field(description="ISO 3166-1 alpha-2 code, e.g. GH", json_schema_extra=_iso_codes)]
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
    country: CountryCode
    language: Language | None = Field(default=None, description="en, fr or pt; detected when omitted")
    description: Description
    preferred_modalities: list[Modality] = Field(default_factory=list)
    clinical_areas: list[AreaId] = Field(default_factory=list, max_length=34)
    allow_duplicate: bool = Field(default=False, description="submit even when an open need of the same "
                                  "institution says nearly the same (otherwise 409 with duplicate_of)")

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        return country_code(v)


class NeedUpdate(InputModel):
    """Fields to change on a need; omitted fields keep their value (null is refused)."""

    country: CountryCode | None = None
    language: Language | None = None
    description: Description | None = None
    preferred_modalities: list[Modality] | None = None
    clinical_areas: list[AreaId] | None = Field(default=None, max_length=34)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        return None if v is None else country_code(v)

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the body gives (defaults are not validated): null is refused.
        if value is None:
            raise ValueError("must not be null (omit the field to keep its current value)")
        return value


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
def _english() -> list[Language]:
    return ["en"]


class ProfileUpsert(InputModel):
    """A UK capability profile; the id comes from the URL (a body id must agree with it)."""

    id: RecordId | None = None
    name: Name
    kind: Literal["nhs_trust", "university", "royal_college", "charity", "social_enterprise"]
    country: Literal["GB"] = "GB"
    region: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    description: Description
    languages: list[Language] = Field(default_factory=_english, min_length=1)
    capacity: int = Field(default=1, ge=0, le=1000)
    countries_of_experience: list[CountryCode] = Field(default_factory=list, max_length=250)
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
class ProfileMatch(BaseModel):
    """A UK profile ranked for a need or a statement: score, breakdown, shared areas with evidence, fit.

    Further explanation fields (need_areas, shared_words, best_sentence_pair, features)
    come through as they are (see DESIGN.md, "a match item explains itself").
    """

    model_config = ConfigDict(extra="allow")

    profile_id: str
    score: float
    breakdown: dict[str, float]
    shared_areas: list[dict[str, Any]] = Field(default_factory=list)
    fit: dict[str, Any] = Field(default_factory=dict)


class NeedMatch(BaseModel):
    """An open need ranked for a profile (a counterpart), explained like ProfileMatch."""

    model_config = ConfigDict(extra="allow")

    need_id: str
    score: float
    breakdown: dict[str, float]
    shared_areas: list[dict[str, Any]] = Field(default_factory=list)
    fit: dict[str, Any] = Field(default_factory=dict)


class MatchesPublic(BaseModel):
    """Ranked profiles for a need."""

    need_id: str
    matches: list[ProfileMatch]
    reason: str | None = Field(default=None, description="why the list is empty, when it is")


class CounterpartsPublic(BaseModel):
    """Ranked open needs (counterparts) for a profile."""

    profile_id: str
    matches: list[NeedMatch]
    reason: str | None = None


class TextMatchRequest(InputModel):
    """An ad-hoc needs statement to rank profiles for; it is not stored."""

    text: Description
    top: int = Field(default=10, ge=1, le=100)
    language: Language | None = None


class TextMatchesPublic(BaseModel):
    """Ranked profiles for an ad-hoc statement."""

    matches: list[ProfileMatch]
    reason: str | None = None


# ---- decisions, gaps and keys (staff and admin) ----------------------------------------------
class DecisionCreate(InputModel):
    """A staff decision on a suggested (need, profile) pair."""

    profile_id: RecordId
    decision: Decision = Field(description="accept (uses one unit of capacity), reject, or block: do not pair "
                                           "(a matching round never proposes a rejected or blocked pair)")
    reason: Reason


class DecisionPublic(BaseModel):
    """A recorded decision: what, on which pair, who and when."""

    id: int
    need_id: str
    profile_id: str
    decision: Decision
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


# ---- matching rounds (staff) -------------------------------------------------------------------
class RoundCreate(InputModel):
    """Parameters of a matching round over every open need."""

    per_need: int = Field(default=1, ge=1, le=20, description="partners wanted per need")
    fair: bool = Field(default=False, description="raise the lowest assigned score first, then the total")
    min_score: float = Field(default=0.0, ge=-1000, le=1000, allow_inf_nan=False,
                             description="pairs scoring less are never proposed")


class RoundAccept(InputModel):
    """Pairs of a round to accept; omitted: all of its assignments."""

    pairs: list[tuple[RecordId, RecordId]] | None = Field(
        default=None, max_length=10_000, description="[[need_id, profile_id], ...] from assignments or alternates")


class RoundPair(BaseModel):
    """A proposed (need, profile) pair with its score."""

    need_id: str
    profile_id: str
    score: float


class RoundAlternate(BaseModel):
    """A next-best eligible profile for a need."""

    profile_id: str
    score: float


class RoundPublic(BaseModel):
    """A proposed round: assignments, alternates, unassigned needs with reasons, and its acceptance state."""

    model_config = ConfigDict(extra="allow")

    round_id: int
    status: Literal["optimal", "infeasible", "empty"]
    assignments: list[RoundPair]
    alternates: dict[str, list[RoundAlternate]]
    unassigned: list[dict[str, Any]] = Field(description="needs with fewer partners than asked, with the reason")
    displaced: dict[str, list[dict[str, Any]]]
    objective: float
    min_assigned_score: float | None
    skipped: list[dict[str, Any]] = Field(description="needs that already have their accepted partners")
    scorer: str = Field(description="'weights' (hand-set) or the learned reranker's version")
    params: dict[str, Any]
    state: Literal["proposed", "partially_accepted", "accepted"]
    accepted: list[list[str]]
    created_by: str
    created_at: datetime


class RoundAccepted(BaseModel):
    """What accepting a round recorded."""

    round_id: int
    state: Literal["proposed", "partially_accepted", "accepted"]
    accepted: list[list[str]] = Field(description="every pair of the round accepted so far")
    decisions: list[DecisionPublic] = Field(description="the accept decisions recorded by this call")
