"""Parking aggregate: occupancy of the car parks near hospitals, schools and stations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dashboard.domain import geo
from dashboard.domain.events import Event
from dashboard.live.schema import LotStatus, ParkingData
from workers.latest import keep_latest


def fold_lot(state: dict[str, Any], ev: Event) -> None:
    """Fold one parking event into the state (in place); an older report never replaces a newer one."""
    keep_latest(state["lots"], ev["lot_id"], ev, ("occupied", "capacity", "ts", "lon", "lat"))


def compute_parking(state: Mapping[str, Any]) -> ParkingData:
    """The `parking` aggregate: every reporting lot, fullest first, with district totals."""
    places = geo.place_by_id()
    lots: list[LotStatus] = []
    for lot_id, o in state["lots"].items():
        place = places.get(lot_id)
        capacity = int(o["capacity"])
        lots.append(
            LotStatus(
                id=lot_id,
                name_zh=place.name_zh if place else lot_id,
                name_en=place.name_en if place else lot_id,
                lon=place.lon if place else o["lon"],
                lat=place.lat if place else o["lat"],
                occupied=int(o["occupied"]),
                capacity=capacity,
                ratio=round(o["occupied"] / capacity, 3) if capacity else 0.0,
                updated_at=o["ts"],
            )
        )
    lots.sort(key=lambda lot: (-lot["ratio"], lot["id"]))
    return ParkingData(
        lots=lots,
        total_occupied=sum(lot["occupied"] for lot in lots),
        total_capacity=sum(lot["capacity"] for lot in lots),
    )
