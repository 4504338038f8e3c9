"""`make bench`: aggregate age and wall-refresh latency under 1,000 events/s, and refresh cost vs stored data.

    .venv/bin/python bench/run.py [--seconds N] [--warmup S] [--quick] [--only live|scale|episodes|validator|…]
    .venv/bin/python bench/run.py --only tickscale [--tick-10m]

Prints figures as it goes and ends with exactly one line of JSON (see bench/README.md for its keys).
Timings are measured side by side in one run on a shared machine: read them as figures and ratios, not as
pass/fail thresholds; the targets are printed next to them for reference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Targets, printed next to the figures.
TARGET_AGE_S = 2.0
TARGET_REFRESH_P99_MS = 20.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line."""
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=None, help="live measuring window (default 60; --quick 8)")
    p.add_argument("--replay-wait", type=float, default=None,
                   help="part A: wait at most this long for the simulator's replay of the day's tickets to be sent "
                        "before warming up (default 240; --quick 0)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of warm-up before measuring (default 10)")
    p.add_argument("--quick", action="store_true", help="smoke run: short live window, 10k → 100k stored events")
    p.add_argument("--only", choices=("live", "scale", "episodes", "validator", "push", "screens", "ingest",
                                       "tickscale", "sensors50k", "cluster"),
                   help="run only part A (live), part B (scale), part C (episodes: early warning and linking), "
                        "part D (validator: the event models against the hand-written validator), part E "
                        "(push: streams held by one host, bench/push.py) or part F (screens: 200 walls, the frames "
                        "beside the baseline release; not in --quick, see bench/screens.py), part G (ingest: the "
                        "feeds' capacity over HTTP and MQTT, bench/ingest.py), part H (tickscale: the steady tick "
                        "at 10,000 and 1,000,000 stored events side by side, bench/tickscale.py), part I "
                        "(sensors50k: the tick with 50,000 sensors at 10,000 events/s, bench/sensors50k.py); "
                        "cluster: the failover benchmark of `make bench-cluster` alone (bench/cluster.py, its own "
                        "JSON line)")
    p.add_argument("--tick-10m", action="store_true",
                   help="part H also at 10,000,000 stored events on PostgreSQL, loaded with COPY (minutes, ~5 GB; "
                        "BENCH_PG_URL names the server, default postgresql://postgres@127.0.0.1:5432/test)")
    p.add_argument("--tick-hour", type=float, default=23.0,
                   help="the Beijing hour part H's ticks run at (default 23: the day's tickets nearly all in; the "
                        "wall clock is shifted, so the figure does not depend on when the benchmark runs)")
    p.add_argument("--screens", type=int, default=200, help="walls played in part F (default 200)")
    p.add_argument("--skip", default="", help="parts to leave out, comma-separated (live, scale, episodes, validator, "
                                              "push, screens, ingest, tickscale, sensors50k): a smoke run of what "
                                              "other tests already run")
    p.add_argument("--ingest-servers", default="gunicorn,default",
                   help="the feeds' servers part G measures side by side (bench/ingest.py KNOWN_CANDIDATES; default: "
                        "the fast path under gunicorn as before, the runner's own under granian; also app-1, the app "
                        "in one process as before the fast path, and fast-1, the fast path in one gunicorn process)")
    p.add_argument("--rate", type=float, default=1000.0,
                   help="simulator events/s in part A (default 1000, the issue's figure; 0 = simulator off)")
    p.add_argument("--web-workers", type=int, default=None,
                   help="WEB_WORKERS for the runner in part A (default: the runner's own default)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    args = p.parse_args(argv)
    if args.replay_wait is None:
        args.replay_wait = 0.0 if args.quick else 240.0
    if args.seconds is None:
        args.seconds = 8.0 if args.quick else 60.0
    if args.warmup is None:
        args.warmup = 3.0 if args.quick else 10.0
    if args.seconds <= 0 or args.warmup < 0:
        p.error("--seconds must be positive and --warmup not negative")
    return args


def _get(d: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def skipped(args: argparse.Namespace) -> set[str]:
    """The parts --skip names."""
    return {part.strip() for part in str(args.skip or "").split(",") if part.strip()}


def wanted(args: argparse.Namespace, part: str) -> bool:
    """Whether `part` runs: --only names it or names none, and --skip does not name it."""
    return args.only in (None, part) and part not in skipped(args)


def result_line(
    live: dict[str, Any] | None,
    scale: dict[str, Any] | None,
    args: argparse.Namespace,
    episodes: dict[str, Any] | None = None,
    validator: dict[str, Any] | None = None,
    push: dict[str, Any] | None = None,
    screens: dict[str, Any] | None = None,
    ingest: dict[str, Any] | None = None,
    tickscale: dict[str, Any] | None = None,
    sensors50k: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The final JSON object."""
    # Imported here: the app's modules read INSTANCE_DIR at import, which main() sets first.
    from bench.episodes import summary_line as episodes_summary
    from bench.ingest import summary_line as ingest_summary
    from bench.push import summary_line as push_summary
    from bench.screens import summary_line as screens_summary
    from bench.sensors50k import summary_line as sensors50k_summary
    from bench.tickscale import summary_line as tickscale_summary

    live = live or {}
    sm = (scale or {}).get("summary", {})
    out: dict[str, Any] = {
        # Part A, live at 1,000 events/s.
        "refresh_p50_ms": _get(live, "refresh_http_mix_ms", "p50"),
        "refresh_p99_ms": _get(live, "refresh_http_mix_ms", "p99"),
        "refresh_measure": "HTTP round trip on loopback of GET /api/v1/frame, live system at 1,000 ev/s, "
        "fresh and up-to-date clients mixed 1:4",
        "aggregate_age_max_s": _get(live, "aggregate_age_s", "max"),
        "aggregate_age_p50_s": _get(live, "aggregate_age_s", "p50"),
        "aggregate_age_p99_s": _get(live, "aggregate_age_s", "p99"),
        "events_per_s": live.get("events_per_s"),
        "refresh_server_p50_ms": _get(live, "refresh_server_mix_ms", "p50"),
        "refresh_server_p99_ms": _get(live, "refresh_server_mix_ms", "p99"),
        "refresh_inproc_p50_ms": _get(live, "refresh_inproc_mix_ms", "p50"),
        "refresh_inproc_p99_ms": _get(live, "refresh_inproc_mix_ms", "p99"),
        # The same without the screens just opened (one request in five here): what a wall does every second.
        "refresh_server_uptodate_p99_ms": _get(live, "refresh_server_uptodate_ms", "p99"),
        "refresh_inproc_uptodate_p99_ms": _get(live, "refresh_inproc_uptodate_ms", "p99"),
        "refresh_http_fresh_p99_ms": _get(live, "refresh_http_fresh_ms", "p99"),
        "refresh_http_uptodate_p99_ms": _get(live, "refresh_http_uptodate_ms", "p99"),
        "tick_p50_ms": _get(live, "ticks", "tick_ms", "p50"),
        "tick_p99_ms": _get(live, "ticks", "tick_ms", "p99"),
        "tick_gap_max_ms": _get(live, "ticks", "start_gap_ms", "max"),
        "runner_stopped_clean": _get(live, "stop", "clean"),
        "refresh_shares_worker_with_ingest": live.get("refresh_shares_worker_with_ingest"),
        "cpu_machine_busy_percent": _get(live, "cpu", "machine_busy_percent"),
        "cpu_ours_percent": _get(live, "cpu", "ours_percent"),
        # Issue 3: an incident action as another open screen sees it (bench/action.py).
        "action_to_screen_p95_ms": _get(live, "actions", "p95_ms"),
        "action_to_screen_p50_ms": _get(live, "actions", "p50_ms"),
        "action_to_screen_max_ms": _get(live, "actions", "max_ms"),
        # Part B, stored events.
        "stored_sizes": sm.get("sizes"),
        "refresh_10k_vs_1m_p50_ms": sm.get("refresh_core_fresh_p50_ms"),
        "refresh_uptodate_10k_vs_1m_p50_ms": sm.get("refresh_core_uptodate_p50_ms"),
        "dispatch_10k_vs_1m_p50_ms": sm.get("refresh_dispatch_fresh_p50_ms"),
        "naive_10k_vs_1m_p50_ms": sm.get("naive_p50_ms"),
        "naive_over_precomputed": sm.get("naive_over_precomputed"),
        "tick_10k_vs_1m_p50_ms": sm.get("tick_steady_p50_ms"),
        # Part C: early warning and linking on the labelled episodes (bench/episodes.py).
        **episodes_summary(episodes or {}),
        # Part D: the event models against the hand-written validator they replaced (bench/validator.py).
        **(validator or {}),
        # Part E: push streams held by one host, opened from another process (bench/push.py).
        **push_summary(push or {}),
        # Part F: many screens, the frames beside the baseline release's Dash refresh (bench/screens.py).
        **(screens_summary(screens) if screens else {}),
        # Part G: the feeds' capacity over HTTP and MQTT (bench/ingest.py).
        **ingest_summary(ingest or {}),
        # Part H: the steady tick at 10k and 1M stored events side by side (and 10M on PostgreSQL): its figures replace
        # part B's tick_10k_vs_1m_p50_ms, measured there one size after the other.
        **tickscale_summary(tickscale or {}),
        # Part I: 50,000 sensors at 10,000 events/s, and the map's sensor payload (bench/sensors50k.py).
        **(sensors50k_summary(sensors50k) if sensors50k else {}),
        "sim_rate": args.rate,
        "quick": bool(args.quick),
        "seconds": args.seconds,
    }
    return out


def main(argv: list[str] | None = None) -> int:
    """Run part A then part B; print the JSON line last."""
    args = parse_args(argv)
    if args.only == "cluster":
        from bench.cluster import main as cluster_main

        return cluster_main(["--screens", str(args.screens), "--rate", f"{args.rate:g}"])
    tmp = Path(tempfile.mkdtemp(prefix="dc-bench-"))
    # The app factory reads INSTANCE_DIR at import: keep everything of this run out of the repository's instance/.
    os.environ["INSTANCE_DIR"] = str(tmp / "instance")
    from bench.common import heading, say, warn

    say(f"Dongcheng command centre benchmark · temporary files in {tmp} · {os.cpu_count()} CPUs · "
        f"{'quick' if args.quick else 'full'} run")
    t0 = time.monotonic()
    live = scale = episodes = validator = push = screens = ingest = tickscale = sensors50k = None
    failed = False
    try:
        if wanted(args, "live"):
            from bench.action import N_ACTIONS, N_ACTIONS_QUICK, actions_on
            from bench.live import run_live

            # Action to screen on the same live system, after part A's window, before it stops.
            n_actions = N_ACTIONS_QUICK if args.quick else N_ACTIONS
            live = run_live(tmp, args.seconds, args.warmup, args.rate, args.web_workers,
                            after=lambda system: actions_on(system, n_actions), replay_wait_s=args.replay_wait)
        if wanted(args, "scale"):
            from bench.scale import run_scale

            scale = run_scale(tmp, args.quick)
        if wanted(args, "episodes"):
            from bench.episodes import QUICK_DAYS, run_episodes

            heading("Part C: early warning and linking on labelled episodes (bench/episodes.py)")
            episodes = run_episodes(days=QUICK_DAYS if args.quick else 7.0, say=say)
        if wanted(args, "validator"):
            from bench.validator import measure

            heading("Part D: the event validator, typed models against the hand-written one (bench/validator.py)")
            validator = measure(10_000 if args.quick else 100_000, 2 if args.quick else 7, 0.1, 7, say=say)
        if wanted(args, "push"):
            from bench.push import CANDIDATES, run_push

            # The full run measures the candidates side by side; the quick one only what the product runs.
            push = run_push(tmp / "push", args.quick, candidates=("gevent",) if args.quick else CANDIDATES)
        if args.only == "tickscale" or (args.only is None and not args.quick and "tickscale" not in skipped(args)):
            from bench.tickscale import run_tickscale

            tickscale = run_tickscale(tmp, args.quick, args.tick_10m, args.tick_hour)
        if args.only == "screens" or (args.only is None and not args.quick and "screens" not in skipped(args)):
            from bench.screens import print_side_by_side, run_screens

            screens = run_screens(tmp, args.screens, args.seconds, args.warmup, args.rate)
            heading("Part F: many screens, side by side")
            print_side_by_side(screens)
        if wanted(args, "ingest"):
            from bench.ingest import run_ingest

            candidates = tuple(c.strip() for c in args.ingest_servers.split(",") if c.strip())
            ingest = run_ingest(tmp / "ingest", args.quick, candidates=candidates)
        if wanted(args, "sensors50k"):
            from bench.sensors50k import run_sensors50k

            sensors50k = run_sensors50k(tmp, args.quick)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        warn(f"benchmark failed: {type(exc).__name__}: {exc}")
        failed = True
    finally:
        if args.keep:
            say(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)

    line = result_line(live, scale, args, episodes, validator, push, screens, ingest, tickscale, sensors50k)
    line["failed"] = failed
    heading("Summary")
    if live:

        def verdict(value: float | None, target: float) -> str:
            return "met" if value is not None and value < target else "MISSED"

        age, p99, server = line["aggregate_age_max_s"], line["refresh_p99_ms"], line["refresh_server_p99_ms"]
        say(f"aggregate age max {age} s (target < {TARGET_AGE_S:g} s: {verdict(age, TARGET_AGE_S)})")
        say(f"refresh p99 {p99} ms HTTP round trip, {server} ms server time (target < {TARGET_REFRESH_P99_MS:g} ms "
            f"at the server: {verdict(server, TARGET_REFRESH_P99_MS)}; "
            f"round trip {verdict(p99, TARGET_REFRESH_P99_MS)})")
        if line.get("refresh_shares_worker_with_ingest"):
            say("note: the wall's connection shared its gunicorn worker with the simulator's ingest in this run")
        say(f"events accepted {line['events_per_s']} /s; runner stopped cleanly: {line['runner_stopped_clean']}")
    if scale:
        say(f"refresh p50 at {line['stored_sizes']}: {line['refresh_10k_vs_1m_p50_ms']} ms; naive "
            f"{line['naive_10k_vs_1m_p50_ms']} ms; naive/precomputed {line['naive_over_precomputed']}×")
    if tickscale:
        say(f"steady tick p50 at {tickscale['sizes']} stored events side by side: {line['tick_10k_vs_1m_p50_ms']} ms "
            f"(ratio {line['tick_10k_vs_1m_ratio']}, target ≤ 1.2); at 10M on PostgreSQL: "
            f"{line.get('tick_10m_p50_ms')} ms")
    if episodes:
        say(f"early warning over {line['episodes_days']:g} simulated days, {line['episodes_n']} episodes: recall "
            f"{line['ew_recall']} before the first complaint ({line['ew_recall_before_surge']} before the surge), "
            f"{line['ew_false_per_day']} false warnings a day, median lead {line['ew_median_lead_min']} min; "
            f"linking precision {line['link_precision']} (strict {line['link_strict_precision']}), "
            f"recall {line['link_recall']}")
    if validator:
        say(f"event validator on {line['validator_events']:,} events: models {line['validator_models_ev_per_s']:,} "
            f"ev/s, hand-written {line['validator_reference_ev_per_s']:,} ev/s, ratio {line['validator_ratio']}")
    if push:
        say(f"push: {line['push_streams_held']} of {line['push_streams_asked']} streams held (each a heartbeat and the "
            f"change; before: {line['push_streams_held_before']}); the change to all of them p50 "
            f"{line['push_change_p50_ms']} ms, p95 {line['push_change_p95_ms']} ms, "
            f"max {line['push_change_max_ms']} ms")
    if ingest:
        say(f"ingest held {line['ingest_capacity_events_per_s']} events/s in batches of 100 and "
            f"{line['ingest_single_events_per_s']} one event per request (by server: "
            f"{line['ingest_by_server']}); MQTT {line.get('mqtt_capacity_events_per_s')} one per message; "
            f"events lost {line['ingest_lost_events']}")
    if sensors50k:
        say(f"tick with 50,000 sensors at 10,000 events/s: p99 {line['tick_50k_sensors_p99_ms']} ms (target < 300; 446 "
            f"sensors: {line['tick_446_sensors_p99_ms']} ms); map sensor payload 446 vs 50,000 sensors "
            f"{line['map_sensor_payload_446_vs_50k_bytes']} bytes (one point per sensor: "
            f"{line['map_sensor_points_payload_50k_bytes']})")
    say(f"total run time {time.monotonic() - t0:.0f} s")
    print(json.dumps(line, ensure_ascii=False, separators=(", ", ": ")), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
