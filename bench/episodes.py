"""未诉先办 and 热线+网格 measured on the simulator's labelled episodes (simulator/episodes.py), offline and fast.

    .venv/bin/python bench/episodes.py [--seed 7] [--start 2026-11-30] [--days 7] [--per-day 6] [--rate 50]

On a fixed seed the simulator's events of the period are generated and fed, at a simulated clock stepping one
minute at a time, through the same pure functions the tick runs: the validator, the telemetry fold, the early
warning's `track` and `compute_warnings` (with the baseline `learn_baseline` makes from the previous four weeks of
tickets, relearned every six simulated hours). No server, no Redis, no SQL. The detector never sees the labels: they
are read only here, afterwards, to score what it said. Then the period's tickets and sensor alarms are linked by
workers/linking's `link_replay` and scored pairwise against the episodes' complaints, with the labels of every
episode whose complaints fall in the period (begun the day before, or in the tail, too).

Each minute only the last seconds of telemetry are generated and folded, one sensor report period and a half second
(about 10.5 s at 50 events/s): every pole reports within them, so the fold state the detector reads at the minute
is the one a live tick folding every event would have (a crowd counter, reporting every 14 s, may be a minute
older). That, and a fast path for the validator's normalisation of the simulator's own telemetry (checked against
the validator on the first minute), is what makes a simulated day take a dozen seconds.

Ends with one line of JSON (keys in bench/README.md).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard.domain import geo  # noqa: E402
from dashboard.domain import rules as c  # noqa: E402
from dashboard.domain.beijing import BEIJING, OFFSET_ISO  # noqa: E402
from dashboard.domain.events import parse_timestamp, validate_event  # noqa: E402
from simulator.episodes import EPISODES_PER_DAY, Episode, episodes_between, explains  # noqa: E402
from simulator.feed import Simulator  # noqa: E402
from workers.early_warning import (  # noqa: E402
    BASELINE_DAYS,
    LOOKBACK_S,
    compute_warnings,
    learn_baseline,
    near_cells,
    track,
)
from workers.linking import link_replay  # noqa: E402
from workers.sensors import value_state  # noqa: E402
from workers.telemetry import fold_into, new_state  # noqa: E402

DEFAULT_START: Final = "2026-11-30"  # a Monday in the heating season
DEFAULT_DAYS: Final = 7.0
# More episodes than the live default (episodes.EPISODES_PER_DAY) so a week holds about ten of each kind.
DEFAULT_PER_DAY: Final = 6.0
# `make bench --quick` replays one day.
QUICK_DAYS: Final = 1.0
STEP_S: Final = 60
# Telemetry generated and folded each minute: a little more than the poles' report period (see the docstring).
WINDOW_MARGIN_S: Final = 0.5
# Minutes of telemetry folded before the period so that every trend has its 30 minutes of samples.
WARMUP_S: Final = 40 * 60
# The detector keeps running this long after the period so the last episodes' complaints arrive.
TAIL_S: Final = 3 * 3600
BASELINE_EVERY_S: Final = 6 * 3600
# A warning belongs to an episode when it appears from this long before the cause to this long after its last
# complaint, names the episode's complaint category, and sits in a neighbouring cell (or the subdistrict).
MATCH_BEFORE_S: Final = 600
MATCH_AFTER_S: Final = 3600
# Targets of the early warning and the linking, printed next to the figures.
TARGET_RECALL: Final = 0.8
TARGET_FALSE_PER_DAY: Final = 3.0
TARGET_LEAD_MIN: Final = 10.0
TARGET_LINK_PRECISION: Final = 0.9
_KINDS_TELEMETRY: Final = frozenset({c.SENSOR_READING, c.CROWD})


# --- the evaluation (pure) ---------------------------------------------------------------------------------------


def matches(w: Mapping[str, Any], ep: Episode, places: Mapping[str, set[str]] | None = None) -> bool:
    """True when warning `w` (with its "first_seen") speaks of episode `ep`: its category, place and time.

    The place: a cell warning in or next to the episode's cell or one of its complaints' cells, a subdistrict
    warning in its subdistrict or one of its complaints'; `places`: episode id -> those cells and subdistricts
    (default: the episode's own)."""
    if w.get("category") != ep.ticket_category:
        return False
    seen = float(w["first_seen"])
    if not ep.start - MATCH_BEFORE_S <= seen <= ep.last_complaint_at + MATCH_AFTER_S:
        return False
    where = (places or {}).get(ep.id) or {ep.cell, ep.subdistrict}
    if w.get("level") == "subdistrict":
        return w.get("subdistrict") in where
    cell = w.get("cell") or ""
    return any(near_cells(cell, x) for x in where)


def episode_places(episodes: Iterable[Episode], tickets: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Episode id -> the cells and subdistricts of its cause and of its complaints (as the validator placed them)."""
    by_id = {t["ticket_id"]: t for t in tickets}
    return {
        e.id: {e.cell, e.subdistrict}
        | {by_id[x][k] for x in e.ticket_ids if x in by_id for k in ("cell", "subdistrict")}
        for e in episodes
    }


def surge_at(ep: Episode) -> float:
    """When the surge has come: the complaint by which half of the episode's wave has arrived."""
    return ep.tickets[max(0, math.ceil(len(ep.tickets) / 2) - 1)].ts


def evaluate_warnings(
    warnings: Iterable[Mapping[str, Any]],
    episodes: Sequence[Episode],
    t0: float,
    t1: float,
    places: Mapping[str, set[str]] | None = None,
    context: Sequence[Episode] = (),
) -> dict[str, Any]:
    """Recall, false warnings and lead times of distinct warnings (each with "first_seen") against episodes.

    recall: share of the episodes (cause begun in [t0, t1)) warned before their first complaint (未诉先办 in the
    strict sense); recall_before_surge: warned before half of their complaints had come; lead: first complaint −
    first matching warning, in minutes (negative when the warning came after the first complaint), over the
    episodes warned before the surge. false: warnings first seen in [t0, t1) matching no episode (`context`: more
    episodes, e.g. begun just before t0, whose warnings are not false either), per day of the period.
    """
    ws = [w for w in warnings]
    every = list({e.id: e for e in [*episodes, *context]}.values())
    per_episode: list[dict[str, Any]] = []
    for ep in episodes:
        times = [float(w["first_seen"]) for w in ws if matches(w, ep, places)]
        first = min(times) if times else None
        per_episode.append(
            {
                "id": ep.id,
                "kind": ep.kind,
                "warned_at": first,
                "before_first": first is not None and first <= ep.first_complaint_at,
                "before_surge": first is not None and first <= surge_at(ep),
                "lead_min": None if first is None else round((ep.first_complaint_at - first) / 60, 1),
            }
        )
    false = [
        w for w in ws if t0 <= float(w["first_seen"]) < t1 and not any(matches(w, e, places) for e in every)
    ]
    days = (t1 - t0) / 86_400

    def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
        leads = [r["lead_min"] for r in rows if r["before_surge"]]
        return {
            "episodes": len(rows),
            "recall": round(sum(r["before_first"] for r in rows) / len(rows), 3) if rows else None,
            "recall_before_surge": round(sum(r["before_surge"] for r in rows) / len(rows), 3) if rows else None,
            "median_lead_min": round(statistics.median(leads), 1) if leads else None,
        }

    out = figures(per_episode)
    kinds = sorted({e.kind for e in episodes})
    out["by_kind"] = {k: figures([r for r in per_episode if r["kind"] == k]) for k in kinds}
    out["warnings"] = sum(1 for w in ws if t0 <= float(w["first_seen"]) < t1)
    out["false"] = len(false)
    out["false_per_day"] = round(len(false) / days, 2) if days > 0 else None
    out["false_by_kind"] = dict(sorted(_count(str(w.get("kind")) for w in false).items()))
    out["per_episode"] = per_episode
    return out


def _count(values: Iterable[str]) -> dict[str, int]:
    """How often each value occurs."""
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def pairwise_link_scores(case_of: Mapping[str, str], groups: Iterable[Iterable[str]], tickets: Iterable[str]) -> dict[
    str, Any
]:
    """Pairwise precision and recall of a linking (ticket id -> case key) against true groups of tickets.

    Over `tickets` (a ticket without a case key is a case of its own): a pair of tickets is a positive when one
    group holds both, and linked when they share a case key. precision = linked positives / linked pairs,
    recall = linked positives / positives; None when there is nothing to divide by.
    """
    ids = list(dict.fromkeys(tickets))
    case = {t: case_of.get(t, f"\0{t}") for t in ids}
    group_of = {t: k for k, g in enumerate(groups) for t in g if t in case}

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    linked = sum(pairs(n) for n in _count(case.values()).values())
    positives = sum(pairs(n) for n in _count(str(k) for k in group_of.values()).values())
    both = sum(pairs(n) for n in _count(f"{case[t]}\0{g}" for t, g in group_of.items()).values())
    return {
        "tickets": len(ids),
        "linked_pairs": linked,
        "true_pairs": positives,
        "precision": round(both / linked, 3) if linked else None,
        "recall": round(both / positives, 3) if positives else None,
    }


# --- the replay --------------------------------------------------------------------------------------------------


@dataclass
class Replay:
    """What a replay of a period saw: warnings (first sighting), tickets, sensor readings at warning or alarm (one
    a minute per sensor), and its cost."""

    t0: float
    t1: float
    warnings: dict[str, dict[str, Any]] = field(default_factory=dict)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    events_folded: int = 0
    seconds: float = 0.0


def _validated(events: Iterable[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """The events as the ingest stores them (normalised by the real validator); invalid ones are dropped."""
    out = []
    for raw in events:
        ev, _ = validate_event(raw, now)
        if ev is not None:
            out.append(ev)
    return out


def _telemetry(events: Iterable[dict[str, Any]], places: dict[tuple[float, float], tuple[str | None, str]]
               ) -> list[dict[str, Any]]:
    """The simulator's sensor and crowd events as the validator normalises them (epoch ts, subdistrict, cell),
    without re-checking them: the same poles report every minute, so their places are looked up once (the
    validator's own result is compared with this on the first minute of every replay)."""
    out = []
    seconds: dict[str, float] = {}
    for raw in events:
        if raw["kind"] not in _KINDS_TELEMETRY:
            continue
        ev = dict(raw)
        stamp = raw["ts"]  # the simulator's own form: YYYY-MM-DDTHH:MM:SS.mmm+08:00
        second = seconds.get(stamp[:19])
        if second is None or stamp[19] != "." or stamp[23:] != OFFSET_ISO:
            ev["ts"] = parse_timestamp(stamp)[0]
            seconds[stamp[:19]] = float(int(ev["ts"]))
        else:
            ev["ts"] = (int(second) * 1000 + int(stamp[20:23])) / 1000  # rounded as datetime.timestamp() rounds
        key = (raw["lon"], raw["lat"])
        place = places.get(key)
        if place is None:
            place = places[key] = (geo.subdistrict_of(*key), geo.grid_cell(*key))
        ev["subdistrict"], ev["cell"] = place
        if raw["kind"] == c.SENSOR_READING:
            ev["value"] = float(raw["value"])
        out.append(ev)
    return out


def replay(seed: int, t0: float, t1: float, per_day: float, rate: float = 50.0) -> Replay:
    """Run the detector over [t0, t1 + TAIL_S) on the simulator's events, one simulated minute at a time."""
    # Millions of short-lived dicts and no cycles: the cyclic collector would rescan the growing heap again and
    # again (as in the tick, workers/tick.py _gc_paused); reference counting frees everything.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _replay(seed, t0, t1, per_day, rate)
    finally:
        if was_enabled:
            gc.enable()


def _replay(seed: int, t0: float, t1: float, per_day: float, rate: float) -> Replay:
    """The replay itself."""
    started = time.perf_counter()
    sim = Simulator(seed, rate, episodes_per_day=per_day)
    end = t1 + TAIL_S
    durable = sim.durable_events(t0 - BASELINE_DAYS * 86_400 - 86_400, end)
    tickets = _validated((e for e in durable if e["kind"] == c.HOTLINE_TICKET), end)
    tickets.sort(key=lambda ev: ev["ts"])
    times = [ev["ts"] for ev in tickets]
    rows = [(ev["cell"], ev["subdistrict"], ev["category"], ev["ts"]) for ev in tickets]
    out = Replay(t0, t1)
    out.tickets = [
        {k: ev[k] for k in ("ticket_id", "category", "lon", "lat", "cell", "subdistrict", "ts")}
        for ev in tickets
        if t0 <= ev["ts"] < end
    ]
    state = new_state()
    places: dict[tuple[float, float], tuple[str | None, str]] = {}
    baseline: dict[str, Any] | None = None
    baseline_at = -math.inf
    window = sim.periods()["sensor"] + WINDOW_MARGIN_S
    t = t0 - WARMUP_S
    while t < end:
        raw = sim.events(t - window, t)
        evs = _telemetry(raw, places)
        if t == t0 - WARMUP_S:
            assert evs == _validated((e for e in raw if e["kind"] in _KINDS_TELEMETRY), t), "fast path ≠ validator"
        fold_into(state, evs)
        out.events_folded += len(evs)
        track(state, t)
        # The sensors at warning or alarm now, one reading a minute each: what linking matches tickets with.
        for sid, rd in state["sensors"].items():
            if rd["ts"] >= t - window and value_state(rd["type"], rd["value"], ts=rd["ts"]) != c.STATE_NORMAL:
                out.alarms.append({"sensor_id": sid, "type": rd["type"], "lon": rd["lon"], "lat": rd["lat"],
                                   "cell": places[(rd["lon"], rd["lat"])][1], "value": rd["value"],
                                   "ts": rd["ts"]})  # fmt: skip
        if t >= t0:
            if t - baseline_at >= BASELINE_EVERY_S:  # the live job relearns every 10 min; it changes slowly
                until = t - LOOKBACK_S  # as early_warning.run_baseline: never from the tickets being judged
                lo = bisect.bisect_left(times, until - BASELINE_DAYS * 86_400)
                baseline = learn_baseline(rows[lo : bisect.bisect_left(times, until)], until)
                baseline_at = t
            lo, hi = bisect.bisect_left(times, t - LOOKBACK_S), bisect.bisect_right(times, t)
            recent = [(cat, sub, cell, ts) for cell, sub, cat, ts in rows[lo:hi]]
            for w in compute_warnings(state, recent, baseline, t)["warnings"]:
                if w["id"] not in out.warnings:
                    out.warnings[w["id"]] = {**w, "first_seen": t}
                out.warnings[w["id"]]["last_seen"] = t
        t += STEP_S
    out.seconds = time.perf_counter() - started
    return out


def link_groups(episodes: Iterable[Episode], tickets: Iterable[Mapping[str, Any]]) -> tuple[list[tuple[str, ...]], int]:
    """The true groups of tickets: each episode's own complaints plus the everyday tickets it caused
    (episodes.explains), and how many of those everyday tickets there were."""
    rows = list(tickets)
    own = {x for e in episodes for x in e.ticket_ids}
    groups, extra = [], 0
    for e in episodes:
        caused = [str(t["ticket_id"]) for t in rows if t["ticket_id"] not in own
                  and explains(e, str(t["category"]), float(t["lon"]), float(t["lat"]), float(t["ts"]))]
        extra += len(caused)
        groups.append((*e.ticket_ids, *caused))
    return groups, extra


def link_figures(rep: Replay, episodes: Sequence[Episode]) -> dict[str, Any]:
    """Pairwise linking precision and recall of workers.linking.link_replay over the replay's tickets.

    `episodes`: every episode whose complaints may be among the tickets (begun before the period or in its tail
    too: their tickets are scored, so their labels must be known). The figures count an everyday call the world
    says an episode caused as the episode's; the `strict_` ones count it as unrelated."""
    started = time.perf_counter()
    case_of = link_replay([dict(t) for t in rep.tickets], [dict(a) for a in rep.alarms], [])
    ids = [str(t["ticket_id"]) for t in rep.tickets]
    groups, caused = link_groups(episodes, rep.tickets)
    scores = pairwise_link_scores(case_of, groups, ids)
    strict = pairwise_link_scores(case_of, [e.ticket_ids for e in episodes], ids)
    return {**scores, "strict_precision": strict["precision"], "strict_recall": strict["recall"],
            "caused_everyday": caused, "seconds": round(time.perf_counter() - started, 2)}


def run_episodes(
    seed: int = 7,
    start: str = DEFAULT_START,
    days: float = DEFAULT_DAYS,
    per_day: float = DEFAULT_PER_DAY,
    rate: float = 50.0,
    say: Any = print,
) -> dict[str, Any]:
    """The whole benchmark: replay, score the warnings and the linking; the figures as a dict."""
    t0 = datetime.fromisoformat(start).replace(tzinfo=BEIJING).timestamp()
    t1 = t0 + days * 86_400
    episodes = episodes_between(seed, t0, t1, per_day)
    say(f"episodes: seed {seed}, {start} for {days:g} days, {per_day:g} a day: {len(episodes)} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(_count(e.kind for e in episodes).items()))})")  # fmt: skip
    rep = replay(seed, t0, t1, per_day, rate)
    say(f"replayed {days:g} simulated days in {rep.seconds:.1f} s: {rep.events_folded:,} telemetry events folded, "
        f"{len(rep.tickets):,} tickets, {len(rep.alarms):,} sensor readings at warning or alarm")  # fmt: skip
    context = episodes_between(seed, t0 - 86_400, t1 + TAIL_S, per_day)
    ev = evaluate_warnings(rep.warnings.values(), episodes, t0, t1, episode_places(context, rep.tickets), context)
    link = link_figures(rep, context)
    for kind, f in ev["by_kind"].items():
        say(f"  {kind:<20} n={f['episodes']:<3} recall {f['recall']} · before the surge {f['recall_before_surge']} · "
            f"median lead {f['median_lead_min']} min")  # fmt: skip
    say(f"early warning: recall {ev['recall']} (target ≥ {TARGET_RECALL}), before the surge "
        f"{ev['recall_before_surge']}; false warnings {ev['false_per_day']}/day (target < {TARGET_FALSE_PER_DAY:g}; "
        f"{ev['false_by_kind']}); median lead {ev['median_lead_min']} min (target ≥ {TARGET_LEAD_MIN:g})")  # fmt: skip
    say(f"linking: pairwise precision {link['precision']} (target ≥ {TARGET_LINK_PRECISION}), recall "
        f"{link['recall']} over {link['tickets']:,} tickets ({link['true_pairs']} true pairs, counting "
        f"{link['caused_everyday']} everyday heating calls from a failed station's estate while it was cold as the "
        f"failure's; counted as unrelated: precision {link['strict_precision']}, recall {link['strict_recall']})")
    return {
        "seed": seed,
        "start": start,
        "days": days,
        "episodes_per_day": per_day,
        "episodes": len(episodes),
        "early_warning": {k: v for k, v in ev.items() if k != "per_episode"},
        "per_episode": ev["per_episode"],
        "linking": link,
        "replay_s": round(rep.seconds, 1),
    }


def summary_line(fig: Mapping[str, Any]) -> dict[str, Any]:
    """The figures bench/run.py puts on its JSON line."""
    ew, link = fig.get("early_warning") or {}, fig.get("linking") or {}
    return {
        "ew_recall": ew.get("recall"),
        "ew_recall_before_surge": ew.get("recall_before_surge"),
        "ew_false_per_day": ew.get("false_per_day"),
        "ew_median_lead_min": ew.get("median_lead_min"),
        "ew_by_kind": ew.get("by_kind"),
        "link_precision": link.get("precision"),
        "link_recall": link.get("recall"),
        "link_strict_precision": link.get("strict_precision"),
        "episodes_n": fig.get("episodes"),
        "episodes_days": fig.get("days"),
        "episodes_seed": fig.get("seed"),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line; ends with one line of JSON."""
    p = argparse.ArgumentParser(prog="bench/episodes.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", default=DEFAULT_START,
                   help="Beijing start, YYYY-MM-DD[THH:MM] (default: a heating-season Monday)")  # fmt: skip
    p.add_argument("--days", type=float, default=DEFAULT_DAYS, help="simulated days (default 7)")
    p.add_argument("--per-day", type=float, default=DEFAULT_PER_DAY,
                   help=f"episodes a day (default {DEFAULT_PER_DAY:g}; the live simulator's {EPISODES_PER_DAY:g})")
    p.add_argument("--rate", type=float, default=50.0, help="simulator events/s (default 50, the live default)")
    args = p.parse_args(argv)
    if args.days <= 0 or args.per_day < 0:
        p.error("--days must be positive and --per-day not negative")
    fig = run_episodes(args.seed, args.start, args.days, args.per_day, args.rate)
    print(json.dumps({**summary_line(fig), "replay_s": fig["replay_s"]}, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
