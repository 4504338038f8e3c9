"""The admin page's sensors section: the registry searched and paged by the database, a page of 25 with each
sensor's latest reading from Redis (never the 50,000 of a city-wide roll-out)."""

from __future__ import annotations

import logging
from typing import Any

import redis
from dash import Input, Output, State, callback
from dash.exceptions import PreventUpdate

from dashboard import store
from dashboard.domain import paging
from dashboard.live import sensor_readings
from dashboard.services import admin as svc
from dashboard.services.base import Actor
from dashboard.store.engine import session_scope
from dashboard.web.admin_guard import http_refusals, require_admin
from dashboard.web.auth import current_language
from dashboard.web.extensions import db_sessions, redis_client
from dashboard.web.table_callbacks import kept_on_failure, turned_page
from layouts import ids
from layouts.admin.sensors import sensor_count, sensor_table, subdistricts_named
from layouts.inputs import as_str

log = logging.getLogger(__name__)


def sensors_view(actor: Actor, lang: str, query: str, page: int) -> tuple[Any, str, int]:
    """(table, count text, page actually shown) of one page of the sensor registry matching `query`, each sensor
    with its latest reading from Redis."""
    q = paging.clean_query(query)
    with session_scope(db_sessions()) as s:
        svc.check_admin(s, actor, "sensors_view")
        rows, shown = store.sensors.sensors_page(s, q, page, paging.PAGE_SIZE, subdistricts_named(q))
    try:
        latest = sensor_readings.latest(redis_client(), (row["id"] for row in rows))
    except redis.RedisError:
        log.warning("sensor readings unavailable (Redis); the registry page is shown without them")
        latest = {}
    return sensor_table(rows, latest, lang), sensor_count(shown, lang), shown.number


@callback(
    Output(ids.ADMIN_SENSOR_TABLE, "children"),
    Output(ids.ADMIN_SENSOR_COUNT, "children"),
    Output(ids.ADMIN_SENSOR_PAGE, "data"),
    Input(ids.ADMIN_SENSOR_QUERY, "value"),
    Input(ids.ADMIN_SENSOR_PREV, "n_clicks"),
    Input(ids.ADMIN_SENSOR_NEXT, "n_clicks"),
    Input(ids.ADMIN_TABS, "value"),
    State(ids.ADMIN_SENSOR_PAGE, "data"),
)
@http_refusals
def _sensors(query: Any, _prev: Any, _next: Any, tab: str | None, raw_page: Any) -> tuple[Any, ...]:
    actor = require_admin("sensors_view")
    if tab != "sensors":
        raise PreventUpdate  # read only while the section is open
    page = turned_page(raw_page, 1, ids.ADMIN_SENSOR_PREV, ids.ADMIN_SENSOR_NEXT, ids.ADMIN_SENSOR_QUERY)
    with kept_on_failure("admin read"):
        return sensors_view(actor, current_language(), as_str(query, paging.MAX_QUERY_CHARS * 4) or "", page)
