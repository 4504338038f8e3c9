"""The simulated incidents (110/119/120 and the utilities): everyday ones by the hour with the day's rhythm, at
plausible places named like the services name them, crowding at the scenic spots in the first hour they fill up, and
the source's reports that each incident was resolved and then closed."""

from __future__ import annotations

import random
from typing import Any, Final

from dashboard.domain import geo
from dashboard.domain import rules as c
from simulator.days import Days
from simulator.places import facilities, jitter_inside, nearest_name, road_name, short_name
from simulator.telemetry import Telemetry
from simulator.world import (
    CROWD_INCIDENT_LOAD,
    CROWD_INCIDENT_P_PER_LOAD,
    HOUR_MS,
    INCIDENT_CLOSE_MIN,
    INCIDENT_LIFE_H,
    INCIDENT_MIX,
    INCIDENT_RESOLVE_MIN,
    INCIDENT_RHYTHM,
    INCIDENT_TITLES,
    INCIDENT_TITLES_SEVERE,
    LRU,
    SEVERITY_MIX,
    SEVERITY_ZH,
    TAG_INCIDENT,
    TAG_INCIDENT_END,
    Chooser,
    day_index,
    iso_ts,
    local_hour,
    poisson,
    seeded_rng,
)

_INCIDENT_CATEGORY: Final = Chooser(list(INCIDENT_MIX.items()))
_INCIDENT_SEVERITY: Final = {
    cat: Chooser([(sev, float(w)) for sev, w in zip((4, 3, 2, 1), mix, strict=True) if w])
    for cat, mix in SEVERITY_MIX.items()
}


class Incidents:
    """The incidents of one seed's world, by epoch hour, cached: their ends are looked up for hours after."""

    def __init__(self, seed: int, source: str, days: Days, telemetry: Telemetry, incidents_per_s: float) -> None:
        """The incidents of the world of `seed`, `incidents_per_s` a second on average; traffic accidents happen by
        the telemetry's speed detectors and crowding at its crowd counters."""
        self.seed = seed
        self.source = source
        self.days = days
        self.telemetry = telemetry
        self.incidents_per_s = incidents_per_s
        self._incidents: LRU[int, list[tuple[int, dict[str, Any]]]] = LRU(INCIDENT_LIFE_H + 4)

    def _place_for(self, rng: random.Random, category: str) -> tuple[float, float, str]:
        """A plausible spot and its name for an incident of `category`."""
        if category == "traffic_accident" and self.telemetry.detectors:
            # On one of the corridors, named like the traffic police do: road and the nearest landmark.
            cid, lon, lat, *_ = rng.choice(self.telemetry.detectors)
            pt = jitter_inside(rng, lon, lat, None, 0.0002, 0.0002) or (lon, lat)
            return pt[0], pt[1], f"{road_name(cid, pt[1])}{nearest_name(*pt)}段"
        if category in ("medical", "public_security") and rng.random() < 0.5:
            p = rng.choice(geo.places_of_type("scenic", "business_district", "transport_hub", "hospital"))
            near = jitter_inside(rng, p.lon, p.lat, None, 0.0004, 0.0003)
            if near is not None:
                return near[0], near[1], short_name(p.name_zh)
        f = rng.choice(facilities())
        spot = jitter_inside(rng, f.lon, f.lat, None, 0.0004, 0.0003) or (f.lon, f.lat)
        return spot[0], spot[1], nearest_name(*spot)

    def _incident(
        self,
        ms: int,
        key: str,
        category: str,
        severity: int,
        lon: float,
        lat: float,
        place: str,
        label: str,
        sensor_id: str | None = None,
    ) -> dict[str, Any]:
        """One incident event."""
        roman = c.SEVERITY_ROMAN[severity]
        ev: dict[str, Any] = {
            "event_id": f"inc-{key}",
            "source": self.source,
            "kind": "incident",
            "ts": iso_ts(ms),
            "category": category,
            "severity": severity,
            "title": f"{place} {label}",
            "description": f"{SEVERITY_ZH[severity]}（{roman}级）{label}，地点：{place}附近，请相关单位尽快处置。",
            "lon": round(lon, 6),
            "lat": round(lat, 6),
        }
        if sensor_id is not None:
            ev["sensor_id"] = sensor_id
            ev["description"] = f"传感器 {sensor_id} 报警：{ev['description']}"
        return ev

    def _incident_events(self, hour: int) -> list[tuple[int, dict[str, Any]]]:
        """Incidents of an epoch hour: everyday ones, plus crowding at the scenic spots."""
        rng = seeded_rng(self.seed, TAG_INCIDENT, hour)
        t = hour * 3600.0
        d = day_index(t)
        day = self.days.day(d)
        h = int(local_hour(t))
        stamp = f"{self.seed}-{day.ymd}{h:02d}"
        lo_ms = hour * HOUR_MS
        out: list[tuple[int, dict[str, Any]]] = []
        mean = sum(INCIDENT_RHYTHM) / 24
        for j in range(poisson(rng, self.incidents_per_s * 3600 * INCIDENT_RHYTHM[h] / mean)):
            ms = lo_ms + rng.randrange(HOUR_MS)
            cat = _INCIDENT_CATEGORY(rng)
            sev = _INCIDENT_SEVERITY[cat](rng)
            lon, lat, place = self._place_for(rng, cat)
            label = rng.choice(INCIDENT_TITLES_SEVERE[cat] if sev <= 2 else INCIDENT_TITLES[cat])
            out.append((ms, self._incident(ms, f"{stamp}-{j:03d}", cat, sev, lon, lat, place, label)))

        # Sensor alarms (gas leaks, displaced manhole covers, waterlogging at the gauges) are not posted as
        # incidents: the command centre opens those itself from the readings (workers/sensor_incidents.py).

        # Crowding at a scenic spot: at most once a day, in the first hour it gets nearly full.
        day_begin = day.start_ms / 1000
        crowd = self.telemetry.crowd_fraction
        for k, spot in enumerate(self.telemetry.spot_rows):
            load = crowd(k, t + 1800)
            if load <= CROWD_INCIDENT_LOAD:
                continue
            if any(crowd(k, x + 1800) > CROWD_INCIDENT_LOAD for x in range(int(day_begin), int(t), 3600)):
                continue
            peak = max(crowd(k, day_begin + x * 3600 + 1800) for x in range(24))
            spot_rng = seeded_rng(self.seed, TAG_INCIDENT, d, k + 1)
            if spot_rng.random() < (peak - CROWD_INCIDENT_LOAD) * CROWD_INCIDENT_P_PER_LOAD:
                ms = lo_ms + spot_rng.randrange(HOUR_MS)
                sev = 3 if peak > 0.97 else 4
                key = f"{stamp}-{spot[0]}"
                out.append((ms, self._incident(ms, key, "crowd", sev, spot[1], spot[2], spot[7], "人员聚集拥挤")))
        return out

    def of_hour(self, hour: int) -> list[tuple[int, dict[str, Any]]]:
        """The incidents of an epoch hour, cached: their ends are looked up for several hours after."""
        return self._incidents.get_or(hour, lambda: self._incident_events(hour))

    def ends(self, hour: int, first: int | None) -> list[tuple[int, dict[str, Any]]]:
        """The source's reports, falling in `hour`, that its earlier incidents were resolved and then closed."""
        lo_ms, hi_ms = hour * HOUR_MS, (hour + 1) * HOUR_MS
        out: list[tuple[int, dict[str, Any]]] = []
        for src_hour in range(hour - INCIDENT_LIFE_H, hour + 1):
            for ms, inc in self.of_hour(src_hour):
                if first is not None and ms < first:
                    continue  # never posted, so never ended
                rng = random.Random(f"{self.seed}:{TAG_INCIDENT_END}:{inc['event_id']}")
                lo, hi = INCIDENT_RESOLVE_MIN[inc["severity"]]
                resolved = ms + int(rng.uniform(lo, hi) * 60_000)
                closed = resolved + int(rng.uniform(*INCIDENT_CLOSE_MIN) * 60_000)
                for at, status in ((resolved, "resolved"), (closed, "closed")):
                    if lo_ms <= at < hi_ms:
                        out.append(
                            (
                                at,
                                {
                                    "event_id": f"ie-{inc['event_id']}-{status}",
                                    "source": self.source,
                                    "kind": "incident_update",
                                    "ts": iso_ts(at),
                                    "incident_id": inc["event_id"],
                                    "status": status,
                                },
                            )
                        )
        return out

