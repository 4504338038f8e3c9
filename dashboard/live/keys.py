"""Every Redis key the system uses, with the bounds and lifetimes of what is stored under them.

Aggregates are JSON strings under ``agg:<name>``; their names and shapes are in dashboard.live.schema. Workers
write them, callbacks only read them.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "dc:"

# Raw telemetry (sensor readings, traffic speeds, parking, crowds): one bounded stream.
TELEMETRY_STREAM: Final = PREFIX + "stream:telemetry"
TELEMETRY_STREAM_MAXLEN: Final = 200_000
# How many entries were ever added to the telemetry stream (the ingest adds to it in the step that appends them), so
# that the roll-up job can count the entries trimmed before it read them (workers/rollup.py). Redis 7 keeps such a
# counter itself (XINFO's entries-added); this one works on the bundled Redis 6.2 too.
TELEMETRY_ADDED: Final = PREFIX + "stream:telemetry:added"
# The roll-up job's place in the telemetry stream (hash: "id" the last entry read, "ord" its position among all the
# entries ever added, when known), and the lock held while it runs so that two runs never read the same entries.
ROLLUP_CURSOR: Final = PREFIX + "state:rollup"
ROLLUP_LOCK: Final = PREFIX + "lock:rollup"
ROLLUP_LOCK_TTL_MS: Final = 60_000
# Set (with a TTL) when the roll-up job last kept the tables: made the day partitions ahead, dropped the old ones.
ROLLUP_MAINTAINED: Final = PREFIX + "state:rollup-maintained"
ROLLUP_MAINTAIN_EVERY_S: Final = 3600
# Durable events (incidents, hotline tickets) are in SQL; this stream only tells the ticker they arrived.
DURABLE_STREAM: Final = PREFIX + "stream:durable"
DURABLE_STREAM_MAXLEN: Final = 10_000
# Fold state of the telemetry aggregator: JSON with the stream cursor and per-entity latest values.
TELEMETRY_STATE: Final = PREFIX + "state:telemetry"
# The hotline aggregate kept from the changes (workers/hotline_sync.py): a JSON document (day, time, cursor of the
# tickets' updated_at, counters, overdue tickets by cell), the records of today's and yesterday's tickets (hash: ticket
# id -> JSON), the instants at which a ticket's part changes by time (zset: ticket id -> instant), every unresolved
# ticket (zset: "<id>|<cell>" -> deadline), the cases' ticket counts (hash: case id -> JSON [two days, today]) and the
# tickets of the early warning's last hours (zset: "<id>|<category>|<subdistrict>|<cell>" -> received).
HOTLINE_STATE: Final = PREFIX + "state:hotline"
HOTLINE_LEDGER: Final = PREFIX + "hotline:ledger"
HOTLINE_WAKE: Final = PREFIX + "hotline:wake"
HOTLINE_UNRESOLVED: Final = PREFIX + "hotline:unresolved"
HOTLINE_CASES: Final = PREFIX + "hotline:cases"
HOTLINE_RECENT: Final = PREFIX + "hotline:recent"
# (ticket id, stamp of its last change) pairs read within the cursor's lag, scored by when they were read.
HOTLINE_SEEN: Final = PREFIX + "hotline:seen"
HOTLINE_KEYS: Final = (
    HOTLINE_STATE, HOTLINE_LEDGER, HOTLINE_WAKE, HOTLINE_UNRESOLVED, HOTLINE_CASES, HOTLINE_RECENT, HOTLINE_SEEN,
)
# The sensors' latest readings, kept apart from the fold state (50,000 of them would make it megabytes, read and
# written every tick): a hash id -> reading that a tick writes only for the sensors it changed; a worker whose book
# (workers/sensor_sync.py) is not at the latest tick reads it whole.
SENSOR_READINGS: Final = PREFIX + "state:sensors"
# Held while a tick runs, so that two workers never fold the same events twice.
TICK_LOCK: Final = PREFIX + "lock:tick"
TICK_LOCK_TTL_MS: Final = 3_000
# The scheduler lease (dashboard/live/lease.py): every host runs a scheduler, and only the one whose token this key
# holds enqueues anything. Its value is the holder's record (JSON: host, pid, nonce), so anyone can read who leads;
# it lives Config.scheduler_lease_ttl_s unless its holder renews it.
SCHEDULER_LEASE: Final = PREFIX + "lease:scheduler"
# The tick-worker lease (workers/tick_worker.py): of the workers on the tick queue, only the one whose token this key
# holds listens on it, so that one process keeps the sensors' book instead of each catching up on the others' ticks.
TICK_WORKER_LEASE: Final = PREFIX + "lease:tick-worker"
# The workers of the tick queue that serve its other queues meanwhile (a zset: worker name -> when it last said so),
# so that the tick worker leaves those queues to them (workers/tick_worker.py).
TICK_WORKER_OTHERS: Final = PREFIX + "tick-worker:others"
# Pub/sub channel announcing "aggregate <name> has a new version". Channels are shared by every logical
# database of a server, so the name carries the database number: two deployments (or a deployment and the
# test-suite) on one server never hear each other.
UPDATES_CHANNEL: Final = PREFIX + "updates"
# Set while an immediate tick (dashboard.live.publish.request_tick) is queued and not yet started: changes committed
# meanwhile need no tick of their own (the job clears it before it reads anything, so it sees them). Expires with
# the job's ttl.
PROMPT_TICK_PENDING: Final = PREFIX + "tick:prompt"
# Heartbeat of the tick: epoch seconds of the last completed tick.
LAST_TICK: Final = PREFIX + "tick:last"
# Set by the tick while it cannot read the database: epoch seconds of the first tick that failed (kept by SET NX). The
# screens say the database is unavailable while it exists; it expires DB_DOWN_TTL_S after the last failing tick, so a
# tick that stopped altogether never leaves the notice behind.
DB_DOWN_SINCE: Final = PREFIX + "health:db-down-since"
DB_DOWN_TTL_S: Final = 30
# 未诉先办: the seasonal ticket baseline learned from the last weeks of SQL (workers/early_warning/job.py), JSON.
WARNINGS_BASELINE: Final = PREFIX + "state:warnings-baseline"
# Ingest counters per source, for the health page.
INGEST_STATS: Final = PREFIX + "ingest:stats"
# RQ queue names.
QUEUE_TICK: Final = "dc-tick"
QUEUE_DEFAULT: Final = "dc-default"


def updates_channel(db: int) -> str:
    """The pub/sub channel of aggregate updates for Redis database `db`."""
    return f"{UPDATES_CHANNEL}:{db}"


# Pub/sub channel of incident changes: one JSON message after each incident action (push to open screens).
INCIDENTS_CHANNEL: Final = PREFIX + "incidents"


def incidents_channel(db: int) -> str:
    """The pub/sub channel of incident changes for Redis database `db` (`dc:incidents:<db>`)."""
    return f"{INCIDENTS_CHANNEL}:{db}"


# Pub/sub channel of changes to a user's access (a session ended, the user disabled or changed, a token revoked): the
# user's id, so that their open push streams check their caller again at once (dashboard/web/api/stream.py).
ACCESS_CHANNEL: Final = PREFIX + "access"


def access_channel(db: int) -> str:
    """The pub/sub channel of access changes for Redis database `db` (`dc:access:<db>`)."""
    return f"{ACCESS_CHANNEL}:{db}"


def agg_key(name: str) -> str:
    """Redis key of the precomputed aggregate `name`."""
    return f"{PREFIX}agg:{name}"


def dedupe_key(source: str, event_id: str) -> str:
    """Key remembering that (source, event_id) was accepted (telemetry only; SQL dedupes the rest)."""
    return f"{PREFIX}seen:{source}:{event_id}"


# History of the aggregates (workers/history.py writes, dashboard/live/history.py reads). A snapshot a minute kept
# 25 h: the slider's 24 h plus an hour, so that "the same minute yesterday" (the KPI cards' comparison) is still at
# minute resolution; hourly roll-ups kept 30 days.
HISTORY_MINUTE_S: Final = 60
HISTORY_HOUR_S: Final = 3600
HISTORY_MINUTE_KEEP_S: Final = 25 * 3600
HISTORY_HOUR_KEEP_S: Final = 30 * 86_400
# A completed hour is rolled up this long after it ends, when its last minute's snapshot is surely written.
HISTORY_ROLLUP_DELAY_S: Final = 30
# Snapshot keys also expire by themselves this long after their retention: a backstop should the job stop.
HISTORY_TTL_SLACK_S: Final = 3600
# Their keys: workers/history.py writes, dashboard/live/history.py reads (format and sizes in
# its docstring). Snapshots are zlib-compressed JSON, one key each with a TTL; a sorted set per resolution indexes
# them by the time of their state, and a second one holds each snapshot's small figures, so that trend charts
# never open a snapshot.
HISTORY_MINUTES: Final = PREFIX + "history:minutes"  # zset: member = score = minute (epoch s)
HISTORY_HOURS: Final = PREFIX + "history:hours"  # zset: member = hour start, score = time of its state
HISTORY_SERIES_MINUTE: Final = PREFIX + "history:series:minute"  # zset: JSON [minute, figures…], score = minute
HISTORY_SERIES_HOUR: Final = PREFIX + "history:series:hour"  # zset: JSON {"h", "ts", "n", stats}, score = hour


def history_minute_key(minute: int) -> str:
    """Key of the snapshot of `minute` (epoch seconds, a multiple of 60)."""
    return f"{PREFIX}history:m:{int(minute)}"


def history_hour_key(hour: int) -> str:
    """Key of the hourly roll-up of the hour starting at `hour` (epoch seconds, a multiple of 3600)."""
    return f"{PREFIX}history:h:{int(hour)}"


# --- health of data sources (written by dashboard/services/ingest.py, read by dashboard/live/health.py) ------
# Epoch seconds of the latest request that brought an accepted event, per source (hash: source -> epoch).
# Apart from INGEST_STATS, whose fields are all integer counters.
INGEST_LAST: Final = PREFIX + "ingest:last"
# Events accepted per source in one UTC minute (hash: source -> count), kept a few minutes: events per minute.
INGEST_MINUTE_TTL_S: Final = 180
# The latest rejected events of a source with their reasons (list of JSON, newest first, bounded).
INGEST_REJECTS_KEEP: Final = 20


def ingest_minute_key(minute: int) -> str:
    """Key of the per-source accepted counts of minute `minute` (epoch seconds // 60)."""
    return f"{PREFIX}ingest:minute:{minute}"


def ingest_rejects_key(source: str) -> str:
    """Key of the latest rejected events of `source` (unnamed or invalid sources: "unknown")."""
    return f"{PREFIX}ingest:rejects:{source}"


# --- cases (热线+网格: workers/linking/) -------------------------------------------------------------------
# Held while a linking run works, so that two runs never consider the same ticket at once.
CASE_LINK_LOCK: Final = PREFIX + "lock:linking"
CASE_LINK_LOCK_TTL_MS: Final = 30_000
# Sensors seen at a cause level by recent linking runs (hash: sensor id -> JSON list of spans), kept for the
# rules' window so that an alarm that ended shortly before a ticket still explains it. Rebuildable: it only
# remembers what the `sensors` aggregate showed.
CASE_ALARMS: Final = PREFIX + "cases:alarms"


# --- browser sessions (dashboard/live/sessions.py) and sign-in throttling (dashboard/web/throttle.py) ------
# One hash per signed-in browser session (uid, created, seen, state), expiring a while after its idle limit;
# logout and expiry leave a tombstone (state "ended") that outlives every idle limit (lifetimes in
# dashboard/live/sessions.py).
SESSION_PREFIX: Final = PREFIX + "session:"
# The epoch of the session records: a random value written once, so that a Redis that lost its data (flushed,
# restarted without persistence) is told apart from a session that ended ("token|created epoch seconds").
SESSION_EPOCH: Final = PREFIX + "session-epoch"
# Flask-Limiter's counters of failed sign-ins and of their audit entries, all under this prefix.
LIMITER_PREFIX: Final = PREFIX + "limit"


def session_key(sid: str) -> str:
    """Key of the server-side record of browser session `sid`."""
    return f"{SESSION_PREFIX}{sid}"


def user_sessions_key(uid: int) -> str:
    """Key of the set of session ids a user signed in with (to end them all at once)."""
    return f"{PREFIX}user-sessions:{int(uid)}"


# The wall's frames (dashboard/frames/cache.py): the outputs that take a screen from one state to the current
# aggregates, rendered once per change and language and read by every screen. Short-lived: a frame is only useful
# while the aggregates it leads to are current; a state (what a screen shows, by its token) lives as long as a
# screen may go without refreshing before it is sent everything again.
FRAME_PREFIX: Final = PREFIX + "frame:"
FRAME_TTL_S: Final = 30
FRAME_STATE_TTL_S: Final = 900
# Held by the one process rendering a frame (SET NX), so that the screens asking at once cost one render.
FRAME_LOCK_TTL_MS: Final = 5_000


def frame_key(digest: str) -> str:
    """Key of a rendered frame (its digest names the language, the screen's state and the aggregates' versions)."""
    return f"{FRAME_PREFIX}out:{digest}"


# The tokens screens hold, per language (a sorted set: token -> when a web process last said screens hold it), kept
# by the web's push senders: the tick makes the next frame from each of them before it announces a change
# (dashboard/frames/ahead.py). A token not said again for FRAME_HELD_FRESH_S is no longer held; at most
# FRAME_AHEAD_MAX, the most recently said, are made ahead (usually one: screens in step share their token).
FRAME_HELD_FRESH_S: Final = 10.0
FRAME_HELD_TTL_S: Final = 60
FRAME_AHEAD_MAX: Final = 4


def frame_held_key(lang: str) -> str:
    """Key of the sorted set of the tokens screens in `lang` hold."""
    return f"{FRAME_PREFIX}held:{lang}"


def frame_lock_key(digest: str) -> str:
    """Key held while the frame `digest` is being rendered."""
    return f"{FRAME_PREFIX}lock:{digest}"


def frame_state_key(token: str) -> str:
    """Key of the state a screen reaches with a frame (the versions and section states behind its token)."""
    return f"{FRAME_PREFIX}state:{token}"
