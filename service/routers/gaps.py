"""Unmet demand: open needs against profiles with remaining capacity, by clinical area and country."""
from __future__ import annotations

from collections import Counter

from fastapi import APIRouter

from matcher.engine import MatchEngine
from matcher.schema import Need, Profile
from service.auth import StaffCaller
from service.deps import RuntimeDep
from service.routers.common import API_PREFIX
from service.schemas import AreaGap, CountryGap, GapsPublic

router = APIRouter(prefix=API_PREFIX, tags=["gaps"])


def compute_gaps(engine: MatchEngine) -> GapsPublic:
    """Demand = open needs per detected area / country; supply = profiles with capacity left per area / country."""
    demand_area: Counter[str] = Counter()
    demand_country: Counter[str] = Counter()
    for need_id in engine.ids("need"):
        need = engine.get("need", need_id)
        if need is None:
            continue
        demand_area.update(need.main_areas)  # passing mentions are not demand
        if isinstance(need.record, Need):
            demand_country[need.record.country] += 1
    profiles_area: Counter[str] = Counter()
    capacity_area: Counter[str] = Counter()
    profiles_country: Counter[str] = Counter()
    capacity_country: Counter[str] = Counter()
    available = 0
    for profile_id in engine.ids("profile"):
        profile = engine.get("profile", profile_id)
        remaining = engine.remaining_capacity(profile) if profile is not None else None
        if profile is None or not remaining:
            continue
        available += 1
        for area in profile.main_areas:
            profiles_area[area] += 1
            capacity_area[area] += remaining
        if isinstance(profile.record, Profile):
            for country in profile.record.countries_of_experience:
                profiles_country[country] += 1
                capacity_country[country] += remaining
    by_area = [AreaGap(area=a, open_needs=demand_area[a], available_profiles=profiles_area[a],
                       remaining_capacity=capacity_area[a], shortfall=max(0, demand_area[a] - capacity_area[a]))
               for a in set(demand_area) | set(profiles_area)]
    by_country = [CountryGap(country=c, open_needs=demand_country[c], available_profiles=profiles_country[c],
                             remaining_capacity=capacity_country[c],
                             shortfall=max(0, demand_country[c] - capacity_country[c]))
                  for c in set(demand_country) | set(profiles_country)]
    by_area.sort(key=lambda g: (-g.shortfall, -g.open_needs, g.area))
    by_country.sort(key=lambda g: (-g.shortfall, -g.open_needs, g.country))
    return GapsPublic(open_needs=len(engine.ids("need")), available_profiles=available,
                      by_area=by_area, by_country=by_country)


@router.get("/gaps", response_model=GapsPublic, summary="Open demand and available supply")
def gaps(caller: StaffCaller, runtime: RuntimeDep) -> GapsPublic:
    """Staff and admins: where open needs outnumber the capacity that could meet them."""
    with runtime.reading() as engine:
        return compute_gaps(engine)
