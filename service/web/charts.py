"""The gaps dashboard's charts (server-rendered SVG bars) and its CSV export.

Each chart row is an HTML label and numbers (readable at any width) plus a small SVG with
two bars on a scale shared by the whole chart: open needs, and the remaining capacity that
could meet them. No JavaScript and no plotting library.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from markupsafe import Markup

from service.schemas import AreaGap, CountryGap, GapsPublic
from service.web.i18n import Translator

CSV_COLUMNS = ("dimension", "id", "name", "open_needs", "available_profiles", "remaining_capacity", "shortfall")


def _bars(demand: int, supply: int, scale: int, label: str) -> Markup:
    """Two horizontal bars (demand above, supply below) on a 0..scale axis, as inline SVG."""
    d = 100 * demand / scale if scale else 0.0
    s = 100 * supply / scale if scale else 0.0
    return Markup(
        '<svg class="gapbar" viewBox="0 0 100 14" preserveAspectRatio="none" role="img" aria-label="{label}">'
        '<rect class="demand" x="0" y="1" width="{d:.2f}" height="5.5"/>'
        '<rect class="supply" x="0" y="7.5" width="{s:.2f}" height="5.5"/></svg>'
    ).format(label=label, d=max(d, 0.4 if demand else 0.0), s=max(s, 0.4 if supply else 0.0))


def _rows(gaps: list[AreaGap] | list[CountryGap], names: dict[str, str], t: Translator) -> list[dict[str, Any]]:
    scale = max([max(g.open_needs, g.remaining_capacity) for g in gaps] or [0])
    rows = []
    for g in gaps:
        key = g.area if isinstance(g, AreaGap) else g.country
        label = names.get(key, key)
        rows.append({"id": key, "label": label, "open_needs": g.open_needs, "supply": g.remaining_capacity,
                     "profiles": g.available_profiles, "shortfall": g.shortfall,
                     "svg": _bars(g.open_needs, g.remaining_capacity, scale,
                                  t("gaps.chart_label", label=label, demand=g.open_needs,
                                    supply=g.remaining_capacity))})
    return rows


def gap_charts(gaps: GapsPublic, t: Translator) -> dict[str, list[dict[str, Any]]]:
    """Rows of the two charts, largest shortfall first (the order of GET /gaps)."""
    return {
        "areas": _rows(gaps.by_area, {g.area: t.area(g.area) for g in gaps.by_area}, t),
        "countries": _rows(gaps.by_country, {g.country: t.country(g.country) for g in gaps.by_country}, t),
    }


def gaps_csv(gaps: GapsPublic, t: Translator) -> str:
    """Both tables in one CSV: a row per area and per country, names in the page's language."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for g in gaps.by_area:
        writer.writerow(("area", g.area, t.area(g.area), g.open_needs, g.available_profiles,
                         g.remaining_capacity, g.shortfall))
    for c in gaps.by_country:
        writer.writerow(("country", c.country, t.country(c.country), c.open_needs, c.available_profiles,
                         c.remaining_capacity, c.shortfall))
    return out.getvalue()
