"""`make bench` keeps working: its helpers, and a quick run end to end (figures only, never timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import dataset
from bench.common import RefreshCallback, percentile, split_output
from bench.tickscale import Clock
from dashboard.domain.beijing import DAY_S, day_start
from dashboard.live import keys

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("refresh_p50_ms", "refresh_p99_ms", "aggregate_age_max_s", "events_per_s", "naive_over_precomputed")


@given(hour=st.floats(min_value=0, max_value=23.99), wall=st.floats(min_value=1.6e9, max_value=2.2e9))
def test_part_h_clock_reads_the_chosen_beijing_hour_in_the_past_day(hour: float, wall: float) -> None:
    clock = Clock.at_hour(hour, wall)
    shifted = wall + clock.shift_s
    assert -DAY_S < clock.shift_s <= 0
    assert (shifted - day_start(shifted)) / 3600 == pytest.approx(hour, abs=1e-6)


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 90) == 9.0


def test_refresh_body_is_what_dash_renderer_sends() -> None:
    dep = {
        "output": "..a.children...wall-versions.data...wall-meta.data..",
        "inputs": [{"id": "wall-tick", "property": "n_intervals"}],
        "state": [{"id": "wall-versions", "property": "data"}, {"id": "wall-strings", "property": "data"}],
    }
    assert split_output(dep["output"])[1] == {"id": "wall-versions", "property": "data"}
    cb = RefreshCallback.find([dep, {"output": "other.children"}], ("wall-versions.data", "wall-meta.data"))
    body = cb.body({"wall-versions.data": {"v": {"kpi": 3}}, "wall-strings.data": {"lang": "zh"}}, 7)
    assert body["output"] == dep["output"]
    assert len(body["outputs"]) == 3
    assert body["inputs"] == [{"id": "wall-tick", "property": "n_intervals", "value": 7}]
    assert body["changedPropIds"] == ["wall-tick.n_intervals"]
    assert body["state"][0]["value"] == {"v": {"kpi": 3}}


def test_plan_fills_the_stream_up_to_its_cap() -> None:
    small, big = dataset.Plan.of(10_000), dataset.Plan.of(1_000_000)
    assert small.telemetry + small.tickets + small.incidents == 10_000
    assert big.telemetry == keys.TELEMETRY_STREAM_MAXLEN
    assert big.telemetry + big.tickets + big.incidents == 1_000_000


def test_rows_keep_only_what_has_happened() -> None:
    now = time.time()
    tmpl = {
        "category": "noise", "summary": None, "lon": 116.41, "lat": 39.91, "subdistrict": "110101001",
        "cell": "r1c1", "tod": 0.0,
        "updates": [(600.0, "responded", None), (7200.0, "resolved", None), (7300.0, "closed", True)],
    }  # fmt: skip
    old = dataset.ticket_row(1, tmpl, now - 86_400, now)
    assert old["status"] == "closed" and old["satisfied"] is True and old["resolved_at"] is not None
    recent = dataset.ticket_row(2, tmpl, now - 3600, now)
    assert recent["status"] == "responded" and recent["resolved_at"] is None and recent["satisfied"] is None


def test_quick_run_ends_with_one_json_line() -> None:
    proc = subprocess.run(
        # Parts C and E have runs of their own in the suite (test_episodes runs bench/episodes.py, test_push holds
        # 300 streams opened from another process), and part G ramps servers for minutes: the smoke run leaves them
        # out (their pieces are tested below).
        [sys.executable, "bench/run.py", "--quick", "--seconds", "3", "--warmup", "1", "--skip",
         "episodes,push,ingest"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    figures = json.loads(last)
    for key in REQUIRED:
        assert isinstance(figures[key], int | float), (key, figures)
    assert figures["runner_stopped_clean"] is True, proc.stdout[-3000:]


def test_quick_screens_run_plays_walls_over_frames_and_ends_with_one_json_line() -> None:
    """bench/screens.py --quick: a few walls on the live system through the frames (no baseline release)."""
    proc = subprocess.run(
        [sys.executable, "bench/screens.py", "--quick", "--screens", "4", "--seconds", "4", "--warmup", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(figures["screens_4_refresh_p99_ms"], int | float), figures
    assert isinstance(figures["server_cpu_ms_per_screen_second"], int | float), figures


def test_the_ingest_loads_bodies_are_valid_and_part_g_sums_up_its_ramps() -> None:
    """Part G's pieces without its minutes of load: the load generator's bodies pass the ingest's validation with
    IDs that never repeat, and the JSON line takes the runner's own server's ramps."""
    import orjson

    from bench.ingest import summary_line
    from bench.loadgen import body, now_ts
    from dashboard.domain.events import validate_batch

    ts = now_ts()
    many = validate_batch(orjson.loads(body("p0-1", 7, 100, ts)), time.time(), 1000)
    one = validate_batch(orjson.loads(body("p0-1", 8, 1, ts)), time.time(), 1000)
    assert (len(many[0]), many[1], len(one[0]), one[1]) == (100, [], 1, [])
    ids = {ev["event_id"] for _, ev in many[0] + one[0]}
    assert len(ids) == 101
    ramps = {"batch": {"held_events_per_s": 20000, "lost": 0}, "single": {"held_events_per_s": 900, "lost": 0}}
    line = summary_line({"http": {"app-1": ramps, "default": ramps}, "mqtt": {"held_events_per_s": 3000}})
    assert (line["ingest_capacity_events_per_s"], line["ingest_single_events_per_s"],
            line["mqtt_capacity_events_per_s"], line["ingest_lost_events"]) == (20000, 900, 3000, 0)
