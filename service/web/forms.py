"""Server-side validation of the pages' forms: every problem named by its field, in the page's language.

The checks mirror the API's schemas (same choices, lengths and country codes); the
validated values are then built into the same domain records (matcher.schema.Need,
Profile) the API and the JSONL import use, so the three accept exactly the same data.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from matcher.schema import AREA_IDS, LANGUAGES, MODALITIES, Need, Profile, country_code, describe_validation_error
from service.errors import field_from_message
from service.web.i18n import Translator

PROFILE_KINDS = ("nhs_trust", "university", "royal_college", "charity", "social_enterprise")
NAME_MAX = 300
REGION_MAX = 200
CAPACITY_MAX = 1000


@dataclass
class FormResult:
    """What was typed (to show the form again), the problems per field, and the record when there are none."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    record: Any = None

    @property
    def ok(self) -> bool:
        """No problems."""
        return not self.errors


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def _choices(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _check_text(result: FormResult, name: str, t: Translator, *, required: bool, max_chars: int) -> None:
    value = result.values[name]
    if required and not value:
        result.errors[name] = t("err.required")
    elif len(value) > max_chars:
        result.errors[name] = t("err.too_long", max=max_chars, n=len(value))
    elif "\x00" in value:
        result.errors[name] = t("err.text")


def _check_choices(result: FormResult, name: str, allowed: tuple[str, ...], t: Translator) -> None:
    if any(v not in allowed for v in result.values[name]):
        result.errors[name] = t("err.choice")


def _build(result: FormResult, model: type[Need] | type[Profile], data: dict[str, Any]) -> FormResult:
    """The domain record, or the model's own complaint on its field (a last guard; the checks above come first)."""
    if result.ok:
        try:
            result.record = model.model_validate(data)
        except ValidationError as exc:
            for message in describe_validation_error(exc):
                result.errors.setdefault(field_from_message(message) or "description", message)
    return result


def need_form(form: FormData, t: Translator, *, max_chars: int, need_id: str, institution: str | None,
              detect: Any) -> FormResult:
    """Validate the needs form; `institution` None: the form gives it (admins); `detect` guesses a language."""
    result = FormResult({"description": _text(form, "description"), "language": _text(form, "language"),
                         "country": _text(form, "country").upper(), "modalities": _choices(form, "modalities"),
                         "institution": institution or _text(form, "institution")})
    _check_text(result, "description", t, required=True, max_chars=max_chars)
    _check_text(result, "institution", t, required=True, max_chars=NAME_MAX)
    if result.values["language"] not in ("", *LANGUAGES):
        result.errors["language"] = t("err.choice")
    if not result.values["country"]:
        result.errors["country"] = t("err.required")
    else:
        try:
            country_code(result.values["country"])
        except ValueError:
            result.errors["country"] = t("err.country")
    _check_choices(result, "modalities", MODALITIES, t)
    if not result.ok:
        return result
    v = result.values
    return _build(result, Need, {"id": need_id, "institution": v["institution"], "country": v["country"],
                                 "language": v["language"] or detect(v["description"]),
                                 "description": v["description"], "preferred_modalities": v["modalities"]})


def profile_form(form: FormData, t: Translator, *, max_chars: int, profile_id: str) -> FormResult:
    """Validate the capability profile form."""
    raw_countries = _text(form, "countries")
    result = FormResult({"name": _text(form, "name"), "kind": _text(form, "kind"), "region": _text(form, "region"),
                         "description": _text(form, "description"), "languages": _choices(form, "languages"),
                         "capacity": _text(form, "capacity"), "countries": raw_countries,
                         "modalities": _choices(form, "modalities"), "areas": _choices(form, "areas")})
    _check_text(result, "name", t, required=True, max_chars=NAME_MAX)
    _check_text(result, "region", t, required=False, max_chars=REGION_MAX)
    _check_text(result, "description", t, required=True, max_chars=max_chars)
    if result.values["kind"] not in PROFILE_KINDS:
        result.errors["kind"] = t("err.choice") if result.values["kind"] else t("err.required")
    if not result.values["languages"]:
        result.errors["languages"] = t("err.languages_min")
    _check_choices(result, "languages", LANGUAGES, t)
    _check_choices(result, "modalities", MODALITIES, t)
    _check_choices(result, "areas", AREA_IDS, t)
    capacity = result.values["capacity"]
    if not re.fullmatch(r"\d{1,4}", capacity) or int(capacity) > CAPACITY_MAX:
        result.errors["capacity"] = t("err.number", min=0, max=CAPACITY_MAX)
    codes, bad = [], []
    for code in (c for c in re.split(r"[\s,;]+", raw_countries) if c):
        try:
            codes.append(country_code(code))
        except ValueError:
            bad.append(code)
    if bad:
        result.errors["countries"] = t("err.countries", codes=", ".join(bad[:5]))
    if not result.ok:
        return result
    v = result.values
    return _build(result, Profile, {"id": profile_id, "name": v["name"], "kind": v["kind"], "region": v["region"],
                                    "description": v["description"], "languages": v["languages"],
                                    "capacity": int(capacity), "countries_of_experience": codes,
                                    "modalities": v["modalities"], "clinical_areas": v["areas"]})
