"""The wall's one server refresh: one MGET a second, and only what changed goes back to the browser.

The browser keeps, in the VERSIONS store, the version of every aggregate it shows (plus a small state per
section, such as the signatures of the KPI cards). Every tick the server reads all aggregates with one
MGET, renders only the sections whose aggregate has a new version and answers `no_update` for all other
outputs, so an unchanged aggregate costs no rendering and no bytes. The META store is answered every
tick: the `computed_at` of each aggregate and the server's clock, from which the browser renders the
freshness badges. When Redis fails, every panel keeps its last values and META says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Final

import redis
from dash import Input, Output, Patch, State, callback, no_update
from dash.exceptions import PreventUpdate

from dashboard.i18n import fmt_time, norm_lang, t
from dashboard.live import history
from dashboard.live.aggregates import read_aggregates
from dashboard.live.schema import AGG_KPI, AGGREGATES, Envelope
from layouts import hotline, ids, incidents, kpi, sensors, ticker, traffic
from layouts.map import layers as map_layers
from layouts.section import Ctx, Section, unchanged
from layouts.tablet import slider_time

log = logging.getLogger(__name__)

SECTIONS: Final[tuple[Section, ...]] = (
    *kpi.SECTIONS,
    *map_layers.SECTIONS,
    *sensors.SECTIONS,
    *incidents.SECTIONS,
    *traffic.SECTIONS,
    *hotline.SECTIONS,
    *ticker.SECTIONS,
)
SECTION_OUTPUTS: Final = tuple(o for s in SECTIONS for o in s.outputs)
N_SECTION_OUTPUTS: Final = len(SECTION_OUTPUTS)

# While Redis is down the refresh fails every second; say so in the log once per this many seconds.
_LOG_EVERY_S: Final = 30.0


class _OncePer(logging.Filter):
    """Let a logger's warnings through at most once per `seconds` (the logging system keeps the clock)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.last = float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        """True when the last record let through is old enough."""
        if record.levelno < logging.WARNING or record.created - self.last >= self.seconds:
            if record.levelno >= logging.WARNING:
                self.last = record.created
            return True
        return False


_outage_log = logging.getLogger(__name__ + ".outage")
_outage_log.addFilter(_OncePer(_LOG_EVERY_S))


def meta(envs: Mapping[str, Envelope | None], now: float, ok: bool = True) -> dict[str, Any]:
    """{aggregate: computed_at or None, "now": server time, "ok": whether Redis answered}."""
    out: dict[str, Any] = {name: (env["computed_at"] if env else None) for name, env in envs.items()}
    out["now"] = now
    out["ok"] = ok
    return out


def failed_meta(now: float) -> dict[str, Any]:
    """META when the aggregates could not be read: every panel turns stale."""
    return {**dict.fromkeys(AGGREGATES), "now": now, "ok": False}


def refresh(
    envs: Mapping[str, Envelope | None], client: Mapping[str, Any] | None, lang: str, now: float
) -> tuple[list[Any], Any, dict[str, Any]]:
    """Outputs of every section (no_update where unchanged), the new client state (or no_update), META."""
    client = client if isinstance(client, Mapping) else {}
    versions: dict[str, int] = dict(client.get("v") or {})
    states: dict[str, Any] = dict(client.get("s") or {})
    ctx = Ctx(lang, now)
    changed = {
        name
        for name, env in envs.items()
        # != rather than >: a rebuilt Redis starts again at version 1 and must still be shown.
        if env is not None and env.get("version") != versions.get(name)
    }
    values: list[Any] = []
    for sec in SECTIONS:
        env = envs.get(sec.agg)
        if sec.agg not in changed or env is None:
            values += unchanged(len(sec.outputs))
            continue
        try:
            out, state = sec.render(env["data"], ctx, states.get(sec.key))
            if len(out) != len(sec.outputs):
                raise ValueError(f"section {sec.key} returned {len(out)} values for {len(sec.outputs)} outputs")
        except Exception:
            # A malformed aggregate must not take the whole wall down: that section keeps its last values.
            log.exception("rendering %s from aggregate %s v%s failed", sec.key, sec.agg, env.get("version"))
            values += unchanged(len(sec.outputs))
            continue
        # Patches as their JSON form: with only plain data in the response Dash's orjson encoder takes it in
        # one pass (any object it cannot encode sends the whole response through plotly's slow Python walk).
        values += [v.to_plotly_json() if isinstance(v, Patch) else v for v in out]
        states[sec.key] = state
    for name in changed:
        env = envs[name]
        if env is not None:
            versions[name] = env["version"]
    new_client: Any = {"v": versions, "s": states} if changed else no_update
    return values, new_client, meta(envs, now)


def replay_envelopes(
    live: Mapping[str, Envelope | None], snap: Mapping[str, Any] | None
) -> dict[str, Envelope | None]:
    """The envelopes to show for a history snapshot: its aggregates under a negative version (the minute), so
    that entering, moving and leaving the replay each re-render exactly the panels that differ; what a snapshot
    does not keep (the ticker, a log of events) stays live. Without a snapshot, the live envelopes."""
    if not snap:
        return dict(live)
    out: dict[str, Envelope | None] = dict(live)
    version = -int(snap["ts"])
    for name, data in (snap.get("aggregates") or {}).items():
        if name in out:
            at = float((snap.get("computed_at") or {}).get(name, snap["ts"]))
            out[name] = Envelope(name=name, version=version, computed_at=at, data=data)
    return out


def read_and_refresh(
    r: redis.Redis, client: Mapping[str, Any] | None, lang: str, now: float | None = None, at: float | None = None
) -> tuple[list[Any], Any, dict[str, Any]]:
    """One MGET of every aggregate (and, when `at` is given, the history snapshot of then), then `refresh`;
    a Redis failure marks everything stale, never raises."""
    now = time.time() if now is None else now
    try:
        envs = read_aggregates(r, AGGREGATES)
        if at is not None:
            envs = replay_envelopes(envs, history.snapshot_at(r, at, tolerance_s=history.HOUR_TOLERANCE_S))
    except (redis.RedisError, OSError) as exc:
        _outage_log.warning("wall refresh: cannot read aggregates from Redis (%s); panels marked stale", exc)
        return unchanged(N_SECTION_OUTPUTS), no_update, failed_meta(now)
    return refresh(envs, client, lang, now)


def replay_mode(at: float | None, envs_version: int | None, lang: str) -> tuple[str, str, str]:
    """(badge text, badge class, wall class) for live, a replayed minute, or a time history holds nothing of."""
    if at is None:
        return t("tab.live", lang), "wall-mode live", "wall"
    if envs_version is None:
        return t("wall.no_snapshot_live", lang, t=fmt_time(at, lang, seconds=False)), "wall-mode missing", "wall"
    return t("tab.replay", lang, t=fmt_time(-envs_version, lang, seconds=False)), "wall-mode replay", "wall replaying"


def _redis() -> redis.Redis:
    """The app's Redis client (looked up per call so tests can swap it)."""
    from dashboard.web.extensions import redis_client

    return redis_client()


@callback(
    [Output(cid, prop) for cid, prop in SECTION_OUTPUTS]
    + [Output(ids.VERSIONS, "data"), Output(ids.META, "data"), Output(ids.WALL_MODE, "children"),
       Output(ids.WALL_MODE, "className"), Output(ids.WALL, "className")],
    Input(ids.TICK, "n_intervals"),
    Input(ids.PUSH, "data"),
    Input(ids.WALL_SLIDER, "value"),
    State(ids.VERSIONS, "data"),
    State(ids.STRINGS, "data"),
)
def _refresh(
    _n: int | None, _push: dict[str, Any] | None, offset: Any, client: dict[str, Any] | None,
    strings: dict[str, Any] | None,
) -> list[Any]:
    """Thin wrapper: the interval, a pushed change or the replay slider → read_and_refresh."""
    lang = norm_lang((strings or {}).get("lang"))
    now = time.time()
    at = slider_time(offset, now)
    values, new_client, meta_ = read_and_refresh(_redis(), client, lang, now, at)
    shown = new_client if isinstance(new_client, Mapping) else client if isinstance(client, Mapping) else {}
    version = (shown.get("v") or {}).get(AGG_KPI)
    replayed = version if isinstance(version, int) and version < 0 else None
    return [*values, new_client, meta_, *replay_mode(at, replayed, lang)]


@callback(Output(ids.WALL_SLIDER, "value"), Input(ids.WALL_LIVE, "n_clicks"), prevent_initial_call=True)
def _wall_live(n: int | None) -> int:
    """"现在" (or assets/wall.js after five untouched minutes) returns the wall to live."""
    if not n:
        raise PreventUpdate
    return 0
