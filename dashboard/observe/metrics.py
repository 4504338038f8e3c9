"""The product's Prometheus metrics and the small functions the code calls to record them.

Names follow Prometheus' conventions: the `dongcheng_` prefix, the unit in the name (`_seconds`, `_total` for
counters). Every label takes its values from a fixed set (event kinds, reason classes, Flask endpoints, the product's
job functions), never from what a client sends: an unknown value is recorded as "unknown" or "other".

In a process started with PROMETHEUS_MULTIPROC_DIR (gunicorn's workers, the RQ workers and the scheduler) the values
live in that directory, shared with the other processes of the same kind; otherwise in this process's memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from dashboard.domain import rules as c

# No `_created` series: the multi-process mode has none, so a single process should not either.
disable_created_metrics()

UNKNOWN: Final = "unknown"
OTHER: Final = "other"

# Each labelled child once looked up, by metric and label values: `labels()` checks and joins its values at every call,
# a sizeable part of a request of one event at thousands a second. A child stays valid for the process's life.
_CHILDREN: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once per process."""
    key = (metric, *values)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*values)
    return found

# --- the feeds ---------------------------------------------------------------------------------------------------

# Why an event was not stored: refused by validation (or repeated within its batch), seen before, an update of an
# incident or ticket that does not exist, or valid but not storable now (the database or Redis away: resend).
REJECT_REASONS: Final = ("invalid", "duplicate", "unknown_reference", "unavailable")
# Why a whole request was refused before any event was read.
REFUSE_REASONS: Final = ("unauthorized", "unsupported_media_type", "too_large", "malformed", "invalid_body")

INGEST_ACCEPTED: Final = Counter(
    "dongcheng_ingest_events_accepted_total", "Events stored by the ingest (POST /api/v1/events), by kind.", ["kind"])
INGEST_REJECTED: Final = Counter(
    "dongcheng_ingest_events_rejected_total",
    "Events the ingest did not store, by kind (unknown when it is not one) and reason class.", ["kind", "reason"])
INGEST_REFUSED: Final = Counter(
    "dongcheng_ingest_requests_refused_total", "Ingest requests refused whole, before any event, by reason.",
    ["reason"])


def event_kind(kind: Any) -> str:
    """`kind` when it is one of the event kinds, else "unknown" (a label never carries what a client made up)."""
    return kind if isinstance(kind, str) and kind in c.EVENT_KINDS else UNKNOWN


def count_ingest(accepted: Mapping[str, int], rejected: Mapping[tuple[str, str], int]) -> None:
    """Record one request's stored events by kind and its not stored ones by (kind, reason)."""
    for kind, n in accepted.items():
        if n:
            _child(INGEST_ACCEPTED, event_kind(kind)).inc(n)
    for (kind, reason), n in rejected.items():
        if n:
            _child(INGEST_REJECTED, event_kind(kind), reason if reason in REJECT_REASONS else OTHER).inc(n)


def ingest_refused(reason: str) -> None:
    """Record a request refused whole."""
    INGEST_REFUSED.labels(reason=reason if reason in REFUSE_REASONS else OTHER).inc()


# MQTT feeds (`dongcheng mqtt`): its events are counted by the ingest's counters above, as the HTTP ingest's are;
# this counts the messages: stored (acknowledged, every event stored or a duplicate), rejected (acknowledged, some
# event or the whole message refused, the reasons on the error topic), unavailable (not acknowledged: the broker
# delivers it again), ignored (not an event topic: the error topic itself).
MQTT_OUTCOMES: Final = ("stored", "rejected", "unavailable", "ignored")
MQTT_MESSAGES: Final = Counter(
    "dongcheng_mqtt_messages_total", "MQTT messages taken by `dongcheng mqtt`, by outcome.", ["outcome"])


def mqtt_message(outcome: str, n: int = 1) -> None:
    """Record `n` MQTT messages of one outcome (MQTT_OUTCOMES)."""
    _child(MQTT_MESSAGES, outcome if outcome in MQTT_OUTCOMES else OTHER).inc(n)


# --- the tick ----------------------------------------------------------------------------------------------------

TICK_PHASES: Final = ("read", "fold", "sql", "compute", "write", "frames")
_TICK_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

TICK_DURATION: Final = Histogram(
    "dongcheng_tick_duration_seconds", "Duration of a complete tick (the one-second job).", buckets=_TICK_BUCKETS)
TICK_PHASE_DURATION: Final = Histogram(
    "dongcheng_tick_phase_duration_seconds", "Duration of each phase of a complete tick.", ["phase"],
    buckets=_TICK_BUCKETS)
TICKS: Final = Counter(
    "dongcheng_ticks_total", "Ticks by outcome: ok, skipped (another held the lock) or failed (raised).", ["outcome"])
TICK_EVENTS: Final = Counter("dongcheng_tick_events_total", "Telemetry events folded by the ticks.")
HOTLINE_CHECKS: Final = Counter(
    "dongcheng_hotline_checks_total",
    "Periodic checks of the hotline figures kept from the changes against SQL: equal, or differed (SQL's adopted).",
    ["outcome"])
HOTLINE_REBUILDS: Final = Counter(
    "dongcheng_hotline_rebuilds_total",
    "Rebuilds of the hotline figures from SQL: missing (no state in Redis), new day, check (the check differed).",
    ["reason"])


def observe_tick(result: Mapping[str, Any]) -> None:
    """Record one tick from its result (workers/tick.py: status, events and the phases' milliseconds)."""
    if result.get("status") != "ok":
        TICKS.labels(outcome="skipped").inc()
        return
    TICKS.labels(outcome="ok").inc()
    TICK_EVENTS.inc(int(result.get("events") or 0))
    hotline = result.get("hotline") or {}
    if hotline.get("check"):
        HOTLINE_CHECKS.labels(outcome=str(hotline["check"])).inc()
    if hotline.get("rebuilt"):
        HOTLINE_REBUILDS.labels(reason=str(hotline["rebuilt"])).inc()
    ms = result.get("ms") or {}
    TICK_DURATION.observe(float(ms.get("total", 0.0)) / 1000)
    for phase in TICK_PHASES:
        if phase in ms:
            TICK_PHASE_DURATION.labels(phase=phase).observe(float(ms[phase]) / 1000)


def tick_failed() -> None:
    """Record a tick that raised."""
    TICKS.labels(outcome="failed").inc()


# --- durable telemetry (workers/rollup.py) -------------------------------------------------------------------------

ROLLUP_ENTRIES: Final = Counter(
    "dongcheng_telemetry_rollup_entries_total",
    "Telemetry stream entries read by the roll-up job, by outcome: rolled (into SQL), repeated (rolled before), "
    "skipped (unreadable or not telemetry).", ["outcome"])
ROLLUP_LOST: Final = Counter(
    "dongcheng_telemetry_rollup_lost_entries_total",
    "Telemetry entries trimmed from the stream (or lost with Redis) before the roll-up job read them.")
ROLLUP_GAPS: Final = Counter(
    "dongcheng_telemetry_rollup_gaps_total",
    "Times the roll-up job found the stream trimmed past its cursor, or its cursor gone (Redis lost or flushed).",
    ["cause"])
ROLLUP_OUTCOMES: Final = ("rolled", "repeated", "skipped")
ROLLUP_GAP_CAUSES: Final = ("trimmed", "cursor_lost")


def observe_rollup(result: Mapping[str, Any]) -> None:
    """Record one roll-up run from its result (workers/rollup.py): entries by outcome, what was lost."""
    for outcome in ROLLUP_OUTCOMES:
        n = int(result.get(outcome) or 0)
        if n:
            ROLLUP_ENTRIES.labels(outcome=outcome).inc(n)
    lost = int(result.get("lost") or 0)
    if lost:
        ROLLUP_LOST.inc(lost)
    gap = result.get("gap")
    if gap:
        ROLLUP_GAPS.labels(cause=gap if gap in ROLLUP_GAP_CAUSES else OTHER).inc()


# --- the wall's frames -------------------------------------------------------------------------------------------

FRAMES_RENDERED: Final = Counter(
    "dongcheng_frames_rendered_total",
    "Wall frames rendered, by who rendered them: the tick ahead of announcing a change, or a web process on demand "
    "(a screen at a token the tick was not told of, a language nobody watched, a change the tick did not make).",
    ["by"])
FRAME_RENDERERS: Final = ("tick", "web")


def frame_rendered(by: str) -> None:
    """A frame was rendered by `by` ("tick" or "web")."""
    FRAMES_RENDERED.labels(by=by if by in FRAME_RENDERERS else OTHER).inc()


# --- push --------------------------------------------------------------------------------------------------------

# livesum: the streams of live processes only, summed (a worker that died takes its count with it).
PUSH_STREAMS: Final = Gauge(
    "dongcheng_push_streams_open", "Server-Sent Events streams open now.", multiprocess_mode="livesum")


def push_stream_opened() -> None:
    """A push stream began (the stream route calls this once per stream)."""
    PUSH_STREAMS.inc()


def push_stream_closed() -> None:
    """A push stream ended (once per stream that began)."""
    PUSH_STREAMS.dec()


# A pushed frame is a wall's refresh: its server time is what a refresh request's was (milliseconds matter).
PUSH_FRAME_DURATION: Final = Histogram(
    "dongcheng_push_frame_duration_seconds",
    "Server time of a wall's refresh on the push stream: from the change reaching this process to its frame handed to "
    "every stream of its group (read from the cache, or rendered once).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5))
PUSH_FRAME_PHASE_DURATION: Final = Histogram(
    "dongcheng_push_frame_phase_duration_seconds",
    "The parts of a pushed frame's server time: waiting for the sender (wait), reading the aggregates' heads (heads), "
    "the frame from the cache or rendered once (frame), handing it to the group's streams (hand).", ["phase"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5))
PUSH_FRAME_PHASES: Final = ("wait", "heads", "frame", "hand")
PUSH_FRAMES_HANDED: Final = Counter(
    "dongcheng_push_frames_handed_total", "Frames handed to wall streams (one per stream and change).")


def push_frame_sent(seconds: float, streams: int, phases: dict[str, float] | None = None) -> None:
    """One group's frame was handed to its `streams` streams `seconds` after the change reached the process (with
    the seconds of each of PUSH_FRAME_PHASES when known)."""
    PUSH_FRAME_DURATION.observe(seconds)
    PUSH_FRAMES_HANDED.inc(streams)
    for phase, took in (phases or {}).items():
        if phase in PUSH_FRAME_PHASES:
            PUSH_FRAME_PHASE_DURATION.labels(phase=phase).observe(took)


# --- HTTP ----------------------------------------------------------------------------------------------------------

HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS: Final = Counter(
    "dongcheng_http_requests_total", "HTTP requests answered, by route (the Flask endpoint), method and status.",
    ["endpoint", "method", "status"])
HTTP_DURATION: Final = Histogram(
    "dongcheng_http_request_duration_seconds",
    "Time to answer an HTTP request (to the response's start for a stream), by route and method.",
    ["endpoint", "method"], buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Record one answered request; `endpoint` must come from a fixed set (the app's routes)."""
    method = method if method in HTTP_METHODS else OTHER
    _child(HTTP_REQUESTS, endpoint, method, str(status)).inc()
    _child(HTTP_DURATION, endpoint, method).observe(seconds)


# --- RQ jobs -----------------------------------------------------------------------------------------------------

# The product's own job functions live under these packages; anything else enqueued is "other".
JOB_PACKAGES: Final = ("workers.", "simulator.")

JOBS: Final = Counter(
    "dongcheng_rq_jobs_total", "Jobs run by the RQ workers, by function and outcome (success, failure).",
    ["function", "outcome"])
JOB_DURATION: Final = Histogram(
    "dongcheng_rq_job_duration_seconds", "Time the RQ workers took to run a job, by function.", ["function"],
    buckets=_TICK_BUCKETS)
SCHEDULER_ENQUEUED: Final = Counter(
    "dongcheng_scheduler_enqueued_jobs_total", "Jobs the cron scheduler enqueued, by function.", ["function"])


def job_function(name: str | None) -> str:
    """A job's function name as a label: the product's own, else "other"."""
    if name and name.startswith(JOB_PACKAGES) and len(name) <= 120:
        return name
    return OTHER


def observe_job(function: str | None, ok: bool, seconds: float) -> None:
    """Record one job run by a worker."""
    label = job_function(function)
    JOBS.labels(function=label, outcome="success" if ok else "failure").inc()
    JOB_DURATION.labels(function=label).observe(seconds)


def count_enqueued(functions: Iterable[str]) -> None:
    """Record the jobs one round of the scheduler enqueued."""
    for name in functions:
        SCHEDULER_ENQUEUED.labels(function=job_function(name)).inc()


# --- the scheduler lease -----------------------------------------------------------------------------------------

# livesum: on a host's exporter, how many of the host's live scheduler processes lead (0 or 1).
SCHEDULER_LEADER: Final = Gauge(
    "dongcheng_scheduler_leader", "1 while this scheduler process holds the scheduler lease (and so enqueues), else 0.",
    multiprocess_mode="livesum")
SCHEDULER_TAKEOVERS: Final = Counter(
    "dongcheng_scheduler_takeovers_total",
    "Times a scheduler process acquired the scheduler lease and became the leader.")


def scheduler_leadership_changed(leads: bool) -> None:
    """Record that this scheduler process has just become the leader (a takeover) or stopped being it."""
    SCHEDULER_LEADER.set(1 if leads else 0)
    if leads:
        SCHEDULER_TAKEOVERS.inc()
