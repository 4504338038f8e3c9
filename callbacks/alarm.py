"""The alarm takeover: which incidents alarm, the banner, and acknowledging from the wall.

An alarm is an open incident of severity I or II still in state "new" (a critical sensor alarm is one too:
workers/sensor_incidents.py opens a severity I/II incident for it, linked to the sensor). The wall's banner follows the
`incidents` aggregate and travels in the wall's frame (dashboard/frames/cache.py `alarm_part`): looked at only when
that aggregate has a new version, re-sent only when the set of alarms changed, rendered once for every screen. Once an
incident is acknowledged its state changes, the next aggregate drops it, and the banner goes away on every wall.
Sound, fly-to and the pulse are clientside (assets/alarm.js).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback
from dash.exceptions import PreventUpdate
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from dashboard.i18n import norm_lang, t
from dashboard.i18n.refusals import refusal_text
from dashboard.live.publish import notify_change
from dashboard.services.base import Actor, Refused
from dashboard.services.incidents import ActionRequest, perform_action
from dashboard.store.engine import session_scope
from dashboard.store.outage import DATABASE
from dashboard.web.extensions import db_sessions, redis_client
from layouts import ids
from layouts.inputs import as_count, as_dict, as_id, as_list, lang_of

log = logging.getLogger(__name__)

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


def _lang(strings: Any) -> str:
    return norm_lang(lang_of(strings))


@callback(
    Output(ids.ALARM_MSG, "children", allow_duplicate=True),
    Input(ids.ALARM_ACK, "n_clicks"),
    State(ids.ALARM_STORE, "data"),
    State(ids.STRINGS, "data"),
    prevent_initial_call=True,
)
def _alarm_ack(n_clicks: Any, shown: Any, strings: Any) -> str:
    """The acknowledge button: the most urgent alarm on this wall."""
    alarms = as_list(as_dict(shown).get("alarms"))
    incident_id = as_id(as_dict(alarms[0]).get("id")) if alarms else None
    if not as_count(n_clicks) or incident_id is None:
        raise PreventUpdate
    return acknowledge(incident_id, _lang(strings))


clientside_callback(
    ClientsideFunction(namespace="dcAlarm", function_name="update"),
    Output(ids.ALARM_JS, "data"),
    Input(ids.ALARM_STORE, "data"),
)
