"""The wall's frame, pure: what a screen at one state needs to show the current aggregates.

A screen's state is the version of every aggregate it shows plus a small state per section (the signatures of the
KPI cards, say). `refresh` renders only the sections whose aggregate has another version; every other output is
`no_update`, so an unchanged aggregate costs no rendering and no bytes. dashboard/frames/cache.py renders a frame
with it once per change and language and shares the bytes with every screen; callbacks/refresh.py wires the
wall's clientside callback to those outputs (SECTION_OUTPUTS, then ALARM_OUTPUTS).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from dash import Patch, no_update

from dashboard.i18n import fmt_time, fmt_when, t
from dashboard.live.schema import AGGREGATES, Envelope
from layouts import hotline, ids, incidents, kpi, sensors, ticker, traffic
from layouts.inputs import as_dict
from layouts.map import layers as map_layers
from layouts.section import Ctx, Section, unchanged

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
# The alarm banner travels with the sections (dashboard/frames/cache.py renders it from the live incidents).
ALARM_OUTPUTS: Final = (
    (ids.ALARM_STORE, "data"),
    (ids.ALARM_CONTENT, "children"),
    (ids.ALARM_BANNER, "className"),
    (ids.ALARM_MSG, "children"),
)


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
    # The browser sends back what it was given; anything else is as good as nothing shown yet.
    versions: dict[str, int] = {k: v for k, v in as_dict(client.get("v")).items() if type(v) is int}
    states: dict[str, Any] = as_dict(client.get("s"))
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
            # The aggregate's own clock, not the request's: the same change renders the same bytes for every
            # screen (dashboard/frames/cache.py shares them); the browser ticks ages and clocks from there.
            ctx = Ctx(lang, float(env.get("computed_at") or now))
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


# The wall's class while a replay was asked for a time history holds nothing of, so live data shows.
LIVE_IN_REPLAY: Final = "replay-live"


def replay_mode(at: float | None, envs_version: int | None, lang: str, now: float | None = None
                ) -> tuple[str, str, str]:
    """(badge text, badge class, wall class) for live, a replayed minute, or a time history holds nothing of. With
    `now`, a time before today says its day, as on the tablet ("回放 昨日 07:03")."""
    def shown(ts: float) -> str:
        return fmt_time(ts, lang, seconds=False) if now is None else fmt_when(ts, now, lang)

    if at is None:
        return t("tab.live", lang), "wall-mode live", "wall"
    if envs_version is None:
        # The panels show live data: the wall's class tells the freshness badges to say so (assets/wall.js).
        return t("wall.no_snapshot_live", lang, t=shown(at)), "wall-mode missing", f"wall {LIVE_IN_REPLAY}"
    return t("tab.replay", lang, t=shown(-envs_version)), "wall-mode replay", "wall replaying"
