"""Part I (`--only sensors50k`): the tick with 50,000 registered sensors fed 10,000 events a second, beside the
district's 446, and the map's sensor payload at both sizes.

Each size gets a fresh bundled Redis and a temporary SQLite database holding the simulator's sensors
(simulator/installations.py build_sensors with SIM_SENSORS), every sensor reporting once before the timing starts.
Then every tick folds one second of synthetic telemetry (ops/tick_bench.py: 85 % sensor readings) at `rate` events
a second with the clock one second on, in one process's sensor book, as the one worker holding the tick-worker lease
runs every tick (workers/tick_worker.py). The tick that follows a takeover (a worker whose book is not at the
latest tick reads every reading once) is timed apart: `takeover_ms`. The map payload is what a screen receives
for the sensor layer when it opens: the bins' GeoJSON and their states (layouts/map/layers.py), beside what one
point per sensor would have been.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any, Final

from bench.common import heading, say, summary

SIZES = (446, 50_000)
EVENTS_PER_S = 10_000
TARGET_P99_MS = 300.0


def _payload_bytes(cells: list[list[Any]]) -> int:
    """Bytes of the sensor layer's data and hideout as a screen receives them."""
    from layouts.map.layers import sensors_geojson, sensors_hideout

    body = [sensors_geojson(cells), sensors_hideout(cells, "zh")]
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def _points_bytes(fleet: list[dict[str, Any]]) -> int:
    """What one point per sensor (id, type and unit, and a state each) would have sent."""
    feats = [{"type": "Feature", "id": s["id"], "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
              "properties": {"id": s["id"], "t": s["type"], "u": ""}} for s in fleet]
    states = {s["id"]: 0 for s in fleet}
    return len(json.dumps([{"type": "FeatureCollection", "features": feats}, {"s": states}],
                          separators=(",", ":")).encode())


def run_size(tmp: Path, sensors: int, ticks: int, rate: int) -> dict[str, Any]:
    """Time `ticks` ticks at `rate` events/s with `sensors` registered; the map payload beside."""
    from dashboard import store
    from dashboard.live.aggregates import read_aggregates
    from dashboard.live.connections import make_redis
    from dashboard.live.schema import AGG_SENSORS
    from dashboard.store.engine import make_engine, session_factory
    from dashboard.store.schema import init_db
    from ops.redis_server import start_bundled_redis
    from ops.tick_bench import make_telemetry, seed_durable, xadd_telemetry
    from simulator.installations import build_sensors
    from workers import sensor_sync
    from workers.tick import run_tick

    proc, url = start_bundled_redis(tmp / f"redis-{sensors}")
    engine = make_engine(f"sqlite:///{tmp / f'sensors-{sensors}.db'}")
    try:
        r = make_redis(url)
        init_db(engine)
        sessions = session_factory(engine)
        t0 = time.perf_counter()
        fleet = build_sensors(7, sensors)
        with sessions.begin() as s:
            store.sensors.seed_sensors(s, fleet)
        registry = [{**row, "subdistrict": row["subdistrict"]} for row in fleet]
        say(f"  {sensors:,} sensors registered in {time.perf_counter() - t0:.1f} s")
        now = time.time()
        seed_durable(sessions, now, tickets=600, incidents=60)
        # Every sensor reports once (the catch-up ticks fold them), so the timed ticks see a live district.
        first = make_telemetry(0, now - 5, now - 1, registry)
        for i, row in enumerate(fleet):
            first.append({"event_id": f"w{i}", "source": "bench", "kind": "sensor_reading", "ts": now - 5 + i / sensors,
                          "lon": row["lon"], "lat": row["lat"], "subdistrict": row["subdistrict"], "cell": "",
                          "sensor_id": row["id"], "sensor_type": row["type"], "value": 1.0})
        xadd_telemetry(r, first)
        sensor_sync.reset()
        while run_tick(r, sessions, now)["events"]:
            pass
        for i in range(4):  # a few ticks before the timing starts
            now += 1.0
            xadd_telemetry(r, make_telemetry(rate, now - 1, now, registry, seed=900 + i))
            run_tick(r, sessions, now)
        totals: list[float] = []
        cpu: list[float] = []  # the tick's own CPU time: what a shared, loaded machine inflates least
        phases: list[dict[str, float]] = []
        for i in range(ticks):
            now += 1.0
            xadd_telemetry(r, make_telemetry(rate, now - 1, now, registry, seed=1000 + i))
            cpu0 = time.process_time()
            res = run_tick(r, sessions, now)
            cpu.append((time.process_time() - cpu0) * 1000)
            assert res["status"] == "ok" and res["events"] == rate, res
            totals.append(res["ms"]["total"])
            phases.append(res["ms"])
        env = read_aggregates(r, [AGG_SENSORS])[AGG_SENSORS]
        cells = env["data"]["bins"]["cells"]
        # Another worker takes over (the one before died): it has no book yet and reads the hash whole.
        takeover: list[float] = []
        for i in range(3):
            now += 1.0
            xadd_telemetry(r, make_telemetry(rate, now - 1, now, registry, seed=5000 + i))
            sensor_sync.reset()
            takeover.append(run_tick(r, sessions, now)["ms"]["total"])
        out = {
            "sensors": sensors,
            "events_per_tick": rate,
            "tick_ms": summary(totals),
            "tick_cpu_ms": summary(cpu),
            "phase_ms_p50": {k: summary([p[k] for p in phases])["p50"] for k in phases[0]},
            "takeover_ms": summary(takeover),
            "map_bins": len(cells),
            "map_payload_bytes": _payload_bytes(cells),
            "points_payload_bytes": _points_bytes(fleet),
            "online": env["data"]["online"],
        }
        say(f"  tick with {sensors:,} sensors at {rate:,} events/s: p50 {out['tick_ms']['p50']} ms, "
            f"p99 {out['tick_ms']['p99']} ms (CPU p50 {out['tick_cpu_ms']['p50']}, p99 {out['tick_cpu_ms']['p99']} ms; "
            f"phases p50 {out['phase_ms_p50']}; a takeover's tick p50 {out['takeover_ms']['p50']} ms); "
            f"map {len(cells)} bins, "
            f"{out['map_payload_bytes']:,} bytes (one point per sensor: {out['points_payload_bytes']:,})")
        return out
    finally:
        sensor_sync.reset()
        engine.dispose()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# The smoke run (--quick) runs every step at a tenth of the size, in seconds; its JSON says which sizes it measured.
QUICK_SIZES: Final = (446, 5_000)
QUICK_EVENTS_PER_S: Final = 1_000


def run_sensors50k(tmp: Path, quick: bool) -> dict[str, Any]:
    """Both sizes side by side."""
    sizes, rate = (QUICK_SIZES, QUICK_EVENTS_PER_S) if quick else (SIZES, EVENTS_PER_S)
    heading(f"Part I: {sizes[-1]:,} sensors at {rate:,} events/s (bench/sensors50k.py)")
    ticks = 4 if quick else 60
    out: dict[str, Any] = {str(n): run_size(tmp, n, ticks, rate) for n in sizes}
    out["sizes"], out["events_per_s"] = list(sizes), rate
    return out


def summary_line(res: dict[str, Any]) -> dict[str, Any]:
    """The figures of part I for the JSON line (`sensors_sizes`: the two sizes measured; a quick run's are smaller)."""
    sizes = res.get("sizes") or list(SIZES)
    small, big = res.get(str(sizes[0])) or {}, res.get(str(sizes[-1])) or {}
    return {
        "sensors_sizes": sizes,
        "tick_50k_sensors_p99_ms": (big.get("tick_ms") or {}).get("p99"),
        "tick_50k_sensors_p50_ms": (big.get("tick_ms") or {}).get("p50"),
        "tick_50k_sensors_cpu_p99_ms": (big.get("tick_cpu_ms") or {}).get("p99"),
        "tick_50k_sensors_cpu_p50_ms": (big.get("tick_cpu_ms") or {}).get("p50"),
        "tick_50k_sensors_takeover_p50_ms": (big.get("takeover_ms") or {}).get("p50"),
        "tick_446_sensors_p99_ms": (small.get("tick_ms") or {}).get("p99"),
        "tick_446_sensors_cpu_p99_ms": (small.get("tick_cpu_ms") or {}).get("p99"),
        "tick_sensors_events_per_s": res.get("events_per_s", EVENTS_PER_S),
        "map_sensor_payload_446_vs_50k_bytes": [small.get("map_payload_bytes"), big.get("map_payload_bytes")],
        "map_sensor_points_payload_50k_bytes": big.get("points_payload_bytes"),
    }
