"""Crowd aggregate: visitors at the scenic spots and business districts against their capacity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain.crowd import crowd_level
from dashboard.domain.events import Event
from dashboard.live.schema import CrowdData, SpotStatus
from workers.latest import keep_latest


def fold_spot(state: dict[str, Any], ev: Event) -> None:
    """Fold one crowd event into the state (in place); an older count never replaces a newer one."""
    keep_latest(state["spots"], ev["spot_id"], ev, ("count", "capacity", "ts", "lon", "lat"))


# The places the KPI "最热景区" chooses from (geo.Place.type).
SCENIC: Final = "scenic"


def compute_crowd(state: Mapping[str, Any]) -> CrowdData:
    """The `crowd` aggregate: spots busiest first (by share of capacity) and the busiest scenic spot (the KPI
    "最热景区": a business district or a food street is watched for crowds too, but it is not a 景区)."""
    places = geo.place_by_id()
    spots: list[SpotStatus] = []
    for spot_id, o in state["spots"].items():
        place = places.get(spot_id)
        capacity = int(o["capacity"])
        ratio = round(o["count"] / capacity, 3) if capacity else 0.0
        spots.append(
            SpotStatus(
                id=spot_id,
                name_zh=place.name_zh if place else spot_id,
                name_en=place.name_en if place else spot_id,
                lon=place.lon if place else o["lon"],
                lat=place.lat if place else o["lat"],
                count=int(o["count"]),
                capacity=capacity,
                ratio=ratio,
                level=crowd_level(ratio),
                updated_at=o["ts"],
            )
        )
    spots.sort(key=lambda s: (-s["ratio"], s["id"]))
    data = CrowdData(spots=spots)
    scenic = [s for s in spots if (p := places.get(s["id"])) is not None and p.type == SCENIC]
    if scenic:
        data["busiest"] = scenic[0]
    return data
