"""`dongcheng bench-tick`: the tick timed on synthetic normalised telemetry, an empty Redis database and a
throw-away SQLite database; the synthetic telemetry also feeds the tests."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import redis
from sqlalchemy.orm import Session, sessionmaker

from dashboard import store
from dashboard.config import Config
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.events import Event
from dashboard.live import keys

# A spare logical database for the benchmark, away from the app's 0.
BENCH_REDIS_DB = 14

# Share of telemetry by kind in the benchmark mix (sensor readings dominate, as on the real network).
_MIX: Final = ((c.SENSOR_READING, 0.85), (c.TRAFFIC_SPEED, 0.05), (c.PARKING, 0.05), (c.CROWD, 0.05))
_TYPICAL: Final = {
    "pm25": (35.0, 30.0),
    "noise": (58.0, 8.0),
    "water_level": (2.0, 5.0),
    "manhole_tilt": (1.0, 2.0),
    "gas": (2.0, 3.0),
    "cold_chain_temp": (-18.0, 3.0),
    "heat_supply_temp": (55.0, 4.0),
}


def _located(rng: random.Random, lon: float, lat: float, spread: float = 0.004) -> dict[str, Any]:
    """A point near (lon, lat) inside the district with its subdistrict and grid cell."""
    for _ in range(50):
        x, y = lon + rng.uniform(-spread, spread), lat + rng.uniform(-spread, spread)
        sub = geo.subdistrict_of(x, y)
        if sub:
            return {"lon": round(x, 6), "lat": round(y, 6), "subdistrict": sub, "cell": geo.grid_cell(x, y)}
    sub = geo.subdistrict_of(lon, lat) or geo.subdistricts()[0].code
    return {"lon": lon, "lat": lat, "subdistrict": sub, "cell": geo.grid_cell(lon, lat)}


def make_registry(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """`n` sensors spread over the subdistricts, types round-robin (rows for store.sensors.seed_sensors)."""
    rng = random.Random(seed)
    subs = geo.subdistricts()
    types = list(c.SENSOR_TYPES)
    out = []
    for i in range(n):
        sub = subs[i % len(subs)]
        loc = _located(rng, sub.label[0], sub.label[1])
        out.append(
            {
                "id": f"S{i:05d}",
                "type": types[i % len(types)],
                "pole_id": f"P{i // 3:05d}",
                "lon": loc["lon"],
                "lat": loc["lat"],
                "subdistrict": loc["subdistrict"],
            }
        )
    return out


def make_telemetry(n: int, start: float, end: float, registry: Sequence[dict[str, Any]], seed: int = 2) -> list[Event]:
    """`n` normalised telemetry events stamped evenly between `start` and `end`."""
    rng = random.Random(seed)
    corridors = [cor.id for cor in geo.corridors()]
    lots = geo.places_of_type("hospital", "school", "transport_hub")
    spots = geo.places_of_type("scenic")
    kinds = [k for k, _ in _MIX]
    weights = [w for _, w in _MIX]
    out: list[Event] = []
    for i in range(n):
        ts = start + (end - start) * i / max(1, n - 1)
        kind = rng.choices(kinds, weights)[0]
        ev: Event = {"event_id": f"b{seed}-{i}", "source": "bench", "kind": kind, "ts": round(ts, 3)}
        if kind == c.SENSOR_READING:
            s = registry[rng.randrange(len(registry))]
            mean, sd = _TYPICAL[s["type"]]
            spec = c.SENSOR_TYPES[s["type"]]
            value = min(float(spec["max"]), max(float(spec["min"]), rng.gauss(mean, sd)))
            ev.update(lon=s["lon"], lat=s["lat"], subdistrict=s["subdistrict"], cell=geo.grid_cell(s["lon"], s["lat"]))
            ev.update(sensor_id=s["id"], sensor_type=s["type"], value=round(value, 2))
        elif kind == c.TRAFFIC_SPEED:
            cid = rng.choice(corridors)
            lon, lat = geo.corridor_by_id()[cid].coords[0]
            ev.update(
                lon=lon, lat=lat, subdistrict="", cell="", corridor_id=cid, speed_kmh=round(rng.uniform(8, 65), 1)
            )
        else:
            place = rng.choice(lots if kind == c.PARKING else spots)
            cap = 400 if kind == c.PARKING else 20_000
            ev.update(
                lon=place.lon, lat=place.lat, subdistrict=place.subdistrict, cell=geo.grid_cell(place.lon, place.lat)
            )
            if kind == c.PARKING:
                ev.update(lot_id=place.id, capacity=cap, occupied=rng.randrange(cap + 1))
            else:
                ev.update(spot_id=place.id, capacity=cap, count=rng.randrange(cap + cap // 5))
        out.append(ev)
    return out


def xadd_telemetry(r: redis.Redis, events: Sequence[Event], batch: int = 1000) -> None:
    """Append events to the telemetry stream the way the ingest does (one field `e`, bounded length)."""
    for i in range(0, len(events), batch):
        pipe = r.pipeline(transaction=False)
        for ev in events[i : i + batch]:
            pipe.xadd(
                keys.TELEMETRY_STREAM,
                {"e": json.dumps(ev, separators=(",", ":"))},
                maxlen=keys.TELEMETRY_STREAM_MAXLEN,
                approximate=True,
            )
        pipe.execute()


def seed_durable(sessions: sessionmaker[Session], now: float, tickets: int, incidents: int, seed: int = 3) -> None:
    """Store hotline tickets (with some responses) and incidents through store.durable.store_durable."""
    rng = random.Random(seed)
    events: list[Event] = []
    subs = geo.subdistricts()
    for i in range(tickets):
        sub = subs[i % len(subs)]
        loc = _located(rng, sub.label[0], sub.label[1])
        ts = now - rng.uniform(0, 30 * 3600)
        events.append(
            {
                "event_id": f"t{i}",
                "source": "bench",
                "kind": c.HOTLINE_TICKET,
                "ts": ts,
                "ticket_id": f"T{i}",
                "category": rng.choice(c.HOTLINE_CATEGORIES),
                "summary": None,
                **loc,
            }
        )
        if rng.random() < 0.7:
            events.append(
                {
                    "event_id": f"u{i}",
                    "source": "bench",
                    "kind": c.HOTLINE_UPDATE,
                    "ts": min(now, ts + rng.uniform(60, 4 * 3600)),
                    "ticket_id": f"T{i}",
                    "status": rng.choice(("responded", "resolved", "closed")),
                    "satisfied": rng.random() < 0.85,
                }
            )
    for i in range(incidents):
        sub = subs[i % len(subs)]
        loc = _located(rng, sub.label[0], sub.label[1])
        events.append(
            {
                "event_id": f"i{i}",
                "source": "bench",
                "kind": c.INCIDENT,
                "ts": now - rng.uniform(0, 6 * 3600),
                "category": rng.choice(c.INCIDENT_CATEGORIES),
                "severity": rng.choice(c.SEVERITIES),
                "title": f"bench incident {i}",
                "description": None,
                **loc,
            }
        )
    with sessions.begin() as session:
        store.durable.store_durable(session, events)


def bench_ticks(
    r: redis.Redis, sessions: sessionmaker[Session], events_per_tick: int = 1000, ticks: int = 20, sensors: int = 400
) -> dict[str, Any]:
    """Time run_tick with `events_per_tick` new events per tick (registry and durable rows seeded first)."""
    from workers.tick import run_tick

    registry = make_registry(sensors)
    with sessions.begin() as s:
        store.sensors.seed_sensors(s, registry)
    now = time.time()
    seed_durable(sessions, now, tickets=600, incidents=60)
    run_tick(r, sessions, now)  # warm-up: imports, first connection, statement cache
    totals: list[float] = []
    phases: list[dict[str, float]] = []
    for i in range(ticks):
        now = time.time()
        xadd_telemetry(r, make_telemetry(events_per_tick, now - 1, now, registry, seed=100 + i))
        res = run_tick(r, sessions, now)
        assert res["status"] == "ok" and res["events"] == events_per_tick, res
        totals.append(res["ms"]["total"])
        phases.append(res["ms"])
    totals.sort()
    return {
        "events_per_tick": events_per_tick,
        "ticks": ticks,
        "tick_ms_p50": round(statistics.median(totals), 1),
        "tick_ms_max": round(totals[-1], 1),
        "phase_ms_median": {k: round(statistics.median(p[k] for p in phases), 1) for k in phases[0]},
    }


def bench_tick_command(args: argparse.Namespace) -> int:
    """`dongcheng bench-tick`: time ticks on an empty Redis database and a throw-away SQLite database."""
    from dashboard.live.connections import make_redis
    from dashboard.store.engine import make_engine, session_factory
    from dashboard.store.schema import init_db

    base = Config.from_env().redis_url.rsplit("/", 1)[0]
    r = make_redis(args.redis_url or f"{base}/{BENCH_REDIS_DB}")
    if r.dbsize():
        print("refusing to benchmark on a non-empty Redis database; pass --redis-url of an empty one", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        init_db(engine)
        try:
            print(json.dumps(bench_ticks(r, session_factory(engine), args.events, args.ticks, args.sensors)))
        finally:
            engine.dispose()
            r.flushdb()  # it was empty when we started
    return 0
