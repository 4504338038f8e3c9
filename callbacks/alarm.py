"""The alarm takeover: which incidents alarm, the banner, and acknowledging from the wall.

An alarm is an open incident of severity I or II still in state "new" (a critical sensor alarm is one too:
workers/sensor_incidents.py opens a severity I/II incident for it, linked to the sensor). The wall's banner follows the
`incidents` aggregate: the server callback runs when the wall's VERSIONS store changes (some aggregate has a
new version, see callbacks/refresh.py), reads that one key with one MGET and answers `no_update` unless the set
of alarms changed. Once an incident is acknowledged its state changes, the next aggregate drops it, and the
banner goes away on every wall. Sound, fly-to and the pulse are clientside (assets/alarm.js).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

import redis
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard.i18n import norm_lang, t
from dashboard.i18n.refusals import refusal_text
from dashboard.live.aggregates import read_aggregates
from dashboard.live.publish import notify_change
from dashboard.live.schema import AGG_INCIDENTS
from dashboard.services.base import Actor, Refused
from dashboard.services.incidents import ActionRequest, perform_action
from dashboard.store.engine import session_scope
from dashboard.store.outage import DATABASE
from dashboard.web.extensions import db_sessions, redis_client
from layouts import ids
from layouts.alarm import banner_class, banner_content

log = logging.getLogger(__name__)

ALARM_MAX_SEVERITY: Final = 2  # I and II
ALARM_STATE: Final = "new"
FIELDS: Final = ("id", "title", "severity", "subdistrict", "lon", "lat", "created_at", "sensor_id")


def select_alarms(items: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The items that alarm (severity <= 2 and state "new"), most severe first, then newest first."""
    out: list[tuple[int, float, dict[str, Any]]] = []
    for it in items or ():
        try:
            sev = int(it["severity"])
        except (KeyError, TypeError, ValueError):
            continue
        if sev <= ALARM_MAX_SEVERITY and it.get("state") == ALARM_STATE and it.get("id") is not None:
            alarm: dict[str, Any] = {k: it.get(k) for k in FIELDS}
            alarm["severity"] = sev
            out.append((sev, -float(it.get("created_at") or 0.0), alarm))
    out.sort(key=lambda x: (x[0], x[1]))
    return [a for _, _, a in out]


def signature(alarms: list[dict[str, Any]]) -> str:
    """Which alarms, in which order: the banner is re-sent only when this changes."""
    return ",".join(f"{a['id']}:{a['severity']}" for a in alarms)


def incidents_version(versions: Any) -> int | None:
    """The version of the incidents aggregate the wall has (from its VERSIONS store), if it has one."""
    v = versions.get("v") if isinstance(versions, Mapping) else None
    got = v.get(AGG_INCIDENTS) if isinstance(v, Mapping) else None
    return got if isinstance(got, int) else None


def alarm_update(
    r: redis.Redis, shown: Mapping[str, Any] | None, lang: str, version: int | None = None
) -> tuple[Any, Any, Any, Any]:
    """(store, banner children, banner class, message) from one MGET of the incidents aggregate; all
    `no_update` when the alarms did not change or Redis did not answer (the banner keeps what it shows).

    `version` is the incidents aggregate's version the wall has: when the store has seen it already (another
    aggregate changed), Redis is not asked at all.
    """
    shown = shown if isinstance(shown, Mapping) else None
    if version is not None and shown is not None and shown.get("v") == version:
        return no_update, no_update, no_update, no_update
    try:
        env = read_aggregates(r, [AGG_INCIDENTS]).get(AGG_INCIDENTS)
    except (redis.RedisError, OSError) as exc:
        log.warning("alarm banner: cannot read the incidents aggregate (%s)", exc)
        return no_update, no_update, no_update, no_update
    if env is None:
        return no_update, no_update, no_update, no_update
    alarms = select_alarms((env.get("data") or {}).get("items"))
    sig = signature(alarms)
    store = {"sig": sig, "v": env.get("version"), "alarms": alarms}
    if shown is not None and shown.get("sig") == sig:
        # Same alarms: only remember the version (the browser's clientside callback ignores an unchanged sig).
        return store, no_update, no_update, no_update
    return store, banner_content(alarms, lang), banner_class(alarms), ""


def acknowledge(incident_id: int, lang: str) -> str:
    """Acknowledge an incident as the signed-in user through the service, then notify; the message to show."""
    if not current_user or not current_user.is_authenticated:
        return f"{t('alarm.refused', lang)}: 401"
    actor = Actor(int(current_user.id), str(current_user.username), str(current_user.role))
    key = f"wall-ack:{incident_id}:{actor.id}"
    try:
        with session_scope(db_sessions()) as s:
            perform_action(s, incident_id, ActionRequest("acknowledge"), actor, idempotency_key=key)
    except Refused as exc:
        return t("refusal.labelled", lang, label=t("alarm.refused", lang), text=refusal_text(exc, lang))
    except SQLAlchemyError as exc:
        DATABASE.failed("wall acknowledgement", exc)
        return t("alarm.db_failed", lang)
    try:
        notify_change(redis_client(), incident_id, "acknowledge")
    except redis.RedisError as exc:
        log.warning("push after the wall acknowledged incident %s failed: %s", incident_id, exc)
    return t("alarm.done", lang, id=incident_id)


def _lang(strings: Mapping[str, Any] | None) -> str:
    return norm_lang((strings or {}).get("lang") if isinstance(strings, Mapping) else None)


@callback(
    Output(ids.ALARM_STORE, "data"),
    Output(ids.ALARM_CONTENT, "children"),
    Output(ids.ALARM_BANNER, "className"),
    Output(ids.ALARM_MSG, "children"),
    Input(ids.VERSIONS, "data"),
    State(ids.ALARM_STORE, "data"),
    State(ids.STRINGS, "data"),
)
def _alarm_update(versions: Any, shown: dict[str, Any] | None, strings: dict[str, Any] | None) -> tuple[Any, ...]:
    """Thin wrapper: a new aggregate version → alarm_update."""
    return alarm_update(redis_client(), shown, _lang(strings), incidents_version(versions))


@callback(
    Output(ids.ALARM_MSG, "children", allow_duplicate=True),
    Input(ids.ALARM_ACK, "n_clicks"),
    State(ids.ALARM_STORE, "data"),
    State(ids.STRINGS, "data"),
    prevent_initial_call=True,
)
def _alarm_ack(n_clicks: int | None, shown: dict[str, Any] | None, strings: dict[str, Any] | None) -> str:
    """The acknowledge button: the most urgent alarm on this wall."""
    alarms = (shown or {}).get("alarms") or []
    if not n_clicks or not alarms:
        raise PreventUpdate
    return acknowledge(int(alarms[0]["id"]), _lang(strings))


clientside_callback(
    ClientsideFunction(namespace="dcAlarm", function_name="update"),
    Output(ids.ALARM_JS, "data"),
    Input(ids.ALARM_STORE, "data"),
)
