"""The district's geography as the screens use it: what is near a point."""

from __future__ import annotations

from dashboard.domain import geo


def test_the_nearest_hospital_and_road_of_a_point_in_dongsi() -> None:
    hospital = geo.nearest_place(116.4170, 39.9240, "hospital")
    assert hospital is not None
    place, km = hospital
    assert place.type == "hospital" and 0 < km < 3
    assert all(geo.distance_km(116.4170, 39.9240, p.lon, p.lat) >= km for p in geo.places_of_type("hospital"))
    road = geo.nearest_corridor(116.4170, 39.9240)
    assert road is not None and road[1] >= 0
    # A point on a corridor's own vertex is on it.
    cor = geo.corridors()[0]
    on = geo.nearest_corridor(*cor.coords[0])
    assert on is not None and on[1] < 0.01
    assert geo.nearest_place(116.41, 39.92, "no-such-type") is None
