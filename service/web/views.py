"""View models of match items: evidence highlighted in both texts, area chips, a score bar, practical fit.

A match item (matcher.engine) carries evidence offsets into the texts as written; here
they become <mark> elements, one colour per shared area, the same colour as the area's
chip, so a reader can see which words on each side made the match.
"""
from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from matcher.engine import Analysed, MatchEngine
from matcher.explain import explain_pair
from matcher.rank import total
from matcher.schema import Need, Profile
from service.models import DecisionRow
from service.web.i18n import Translator

TONES = 6  # colours cycled over a card's shared areas (static/app.css .tone-0 ... .tone-5)
BAR_PARTS = (("areas", "part.areas"), ("dense", "part.dense"), ("lexical", "part.lexical"), ("fit", "part.fit"))
FIT_PARTS = ("language", "country", "modality")


def highlight(text: str, spans: list[tuple[int, int, int, str]]) -> Markup:
    """`text` escaped, with each (start, end, tone, title) span in a <mark>; overlapping or bad spans are skipped."""
    out: list[Markup] = []
    pos = 0
    for start, end, tone, title in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < pos or start >= end or end > len(text):
            continue
        out.append(escape(text[pos:start]))
        out.append(Markup('<mark class="tone-{}" title="{}">{}</mark>').format(tone, title, text[start:end]))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def score_bar(parts: dict[str, float], t: Translator) -> dict[str, Any]:
    """Segments of the score on a 0..1 scale (the weights add up to 1): relevance parts, fit, the full-capacity cut."""
    values = {"areas": parts.get("areas", 0.0), "dense": parts.get("dense", 0.0),
              "lexical": parts.get("lexical", 0.0), "fit": sum(parts.get(k, 0.0) for k in FIT_PARTS)}
    segments, x = [], 0.0
    for key, label in BAR_PARTS:
        width = max(0.0, values[key]) * 100
        segments.append({"key": key, "label": t(label), "value": values[key], "x": round(x, 2),
                         "width": round(width, 2)})
        x += width
    penalty = -parts.get("full_capacity", 0.0)
    return {"segments": segments, "penalty": penalty, "penalty_label": t("part.full"),
            "penalty_x": round(max(0.0, x - penalty * 100), 2), "penalty_width": round(penalty * 100, 2),
            "score": total(parts)}


def fit_lines(fit: dict[str, Any], t: Translator) -> list[dict[str, Any]]:
    """Practical fit as short sentences, each marked good (True), lacking (False) or neutral (None)."""
    lines: list[dict[str, Any]] = []
    language = fit.get("language") or {}
    if language.get("need"):
        langs = ", ".join(t.language(code) for code in language.get("profile", []))
        key = "fit.language_yes" if language.get("shared") else "fit.language_no"
        lines.append({"ok": bool(language.get("shared")), "text": t(key, lang=t.language(language["need"]),
                                                                       langs=langs)})
    country = fit.get("country_experience") or {}
    if country.get("country"):
        key = "fit.country_yes" if country.get("experienced") else "fit.country_no"
        lines.append({"ok": bool(country.get("experienced")), "text": t(key, country=t.country(country["country"]))})
    modalities = fit.get("modalities") or {}
    if modalities.get("preferred"):
        shared = modalities.get("shared", [])
        text = (t("fit.modalities", list=", ".join(t.modality(m) for m in shared)) if shared
                else t("fit.modalities_none"))
        lines.append({"ok": bool(shared), "text": text})
    remaining = fit.get("remaining_capacity")
    if remaining is not None:
        lines.append({"ok": not fit.get("full"),
                      "text": t("fit.full") if fit.get("full") else t("fit.capacity", n=remaining)})
    return lines


def decision_view(row: DecisionRow | None) -> dict[str, Any] | None:
    """The latest decision on a pair, for its badge."""
    if row is None:
        return None
    return {"decision": row.decision, "reason": row.reason, "decided_at": row.decided_at}


def card(item: dict[str, Any], t: Translator, *, need: Analysed, profile: Analysed, rank: int,
         decision: DecisionRow | None = None) -> dict[str, Any]:
    """One explained candidate: titles for both sides, chips, both texts highlighted, score bar, fit, decision."""
    chips, need_spans, profile_spans = [], [], []
    for i, shared in enumerate(item.get("shared_areas", [])):
        tone, label = i % TONES, t.area(shared["area"])
        chips.append({"area": shared["area"], "label": label, "tone": tone})
        need_spans += [(e["start"], e["end"], tone, label) for e in shared.get("need_evidence", [])]
        profile_spans += [(e["start"], e["end"], tone, label) for e in shared.get("profile_evidence", [])]
    n_rec = need.record if isinstance(need.record, Need) else None
    p_rec = profile.record if isinstance(profile.record, Profile) else None
    return {
        "rank": rank, "need_id": need.id, "profile_id": profile.id, "score": item["score"],
        "profile_name": p_rec.name if p_rec else profile.id,
        "profile_meta": " · ".join(x for x in (t(f"kind.{p_rec.kind}") if p_rec else "",
                                               p_rec.region if p_rec else "") if x),
        "need_institution": n_rec.institution if n_rec else need.id,
        "need_meta": " · ".join(x for x in (t.country(n_rec.country) if n_rec else "", t.language(need.language))
                                if x),
        "need_lang": need.language,
        "chips": chips,
        "need_html": highlight(need.text, need_spans),
        "profile_html": highlight(profile.text, profile_spans),
        "shared_words": item.get("shared_words", [])[:6],
        "bar": score_bar(item["breakdown"], t),
        "fit": fit_lines(item.get("fit", {}), t),
        "full": bool(item.get("fit", {}).get("full")),
        "decision": decision_view(decision),
    }


def shared_area_ids(need: Analysed, profile: Analysed) -> list[str]:
    """Areas both records show, strongest pair first (the order of a match item's shared_areas)."""
    ns, ps = need.strengths, profile.strengths
    return sorted(set(ns) & set(ps), key=lambda a: (-ns[a] * ps[a], a))


def counterpart_item(engine: MatchEngine, profile_id: str, need_id: str) -> dict[str, Any] | None:
    """The explained match item of one open need for one profile, as `engine.match_profile` would give it.

    Scores the pair the way the profile -> needs ranking does (lexical scores normalised by
    the best need for the profile's terms); tests check it equals the ranked item.
    """
    need, profile = engine.get("need", need_id), engine.get("profile", profile_id)
    if need is None or profile is None:
        return None
    dense = float(need.vector @ profile.vector)
    lexical = engine.lexical("need").scores(profile.terms)
    best = max(lexical.values(), default=0.0)
    features = engine.features(need, profile, dense, lexical.get(need_id, 0.0) / best if best > 0 else 0.0)
    parts = engine.score_parts(features)
    return {"need_id": need_id, "score": total(parts), "breakdown": parts,
            **explain_pair(need, profile, features, engine.remaining_capacity(profile))}
