"""Callbacks of the console's new-incident form: open and close it, pick its place on the map, create the incident.

While the form is open it takes the console: the detail and the suggested units of the incident selected before
are taken off the screen (callbacks/dispatch.py: detail_update), a click left for that incident is refused, and a
click on a queue row keeps the selection and says why (callbacks/dispatch.py: select_row).
"""

from __future__ import annotations

import uuid
from typing import Any

from dash import Input, Output, State, callback, ctx, no_update
from dash.exceptions import PreventUpdate
from sqlalchemy.exc import SQLAlchemyError

from callbacks.dispatch import (
    NO_TOAST,
    TOAST_OUTPUTS,
    Feedback,
    clean_text,
    current_actor,
    db_failed_feedback,
    notify,
    refusal_feedback,
    scoped_key,
    toast,
)
from dashboard.domain import lifecycle
from dashboard.domain.tiles import stored_point
from dashboard.i18n import t
from dashboard.i18n.refusals import errors_text
from dashboard.services.base import Actor, Refused
from dashboard.services.incidents import create_incident
from dashboard.store.engine import session_scope
from dashboard.web.auth import current_language
from dashboard.web.extensions import current_config, db_sessions
from layouts import ids
from layouts.dispatch.form import CREATE_CLASS, CREATE_CLASS_HIDDEN, form_is_open
from layouts.dispatch.map import pick_geojson
from layouts.inputs import as_count, as_dict, as_float, as_int, as_str, as_token, bump, click_point


def run_create(form: dict[str, Any], key: str, actor: Actor, lang: str) -> Feedback:
    """Create an incident by hand through the service (validated like an ingested one), then notify."""
    missing = [label for f, label in (("category", "dsp.category"), ("title", "dsp.title"), ("lon", "dsp.lon"),
                                       ("lat", "dsp.lat")) if form.get(f) in (None, "")]
    if missing:
        return Feedback("refused", t("dsp.missing", lang, fields="、".join(t(m, lang) for m in missing)), 422)
    try:
        fields: dict[str, Any] = {
            "category": form["category"],
            "severity": int(form.get("severity") or 4),
            "title": str(form["title"]).strip(),
            "lon": float(form["lon"]),
            "lat": float(form["lat"]),
        }
    except (TypeError, ValueError):
        return Feedback("refused", t("dsp.missing", lang, fields=f"{t('dsp.lon', lang)}、{t('dsp.lat', lang)}"), 422)
    if clean_text(form.get("description")):
        fields["description"] = clean_text(form.get("description"))
    try:
        with session_scope(db_sessions()) as s:
            result = create_incident(s, fields, actor, scoped_key(actor, key))
    except Refused as exc:
        return refusal_feedback(exc, lang, None)
    except SQLAlchemyError as exc:
        return db_failed_feedback(exc, lang)
    incident_id = int(result.incident["id"])
    if not result.replayed:
        notify(incident_id, lifecycle.CREATE)
    return Feedback("ok", t("dsp.created", lang, id=incident_id), 201, incident_id)


@callback(
    Output(ids.DISPATCH_CREATE, "className"),
    Output(ids.DISPATCH_CREATE_KEY, "data"),
    Output(ids.DISPATCH_CREATE_ERROR, "children"),
    Output(ids.DISPATCH_MAP_PICK, "data", allow_duplicate=True),
    Input(ids.DISPATCH_NEW_BUTTON, "n_clicks"),
    Input(ids.DISPATCH_CREATE_CLOSE, "n_clicks"),
    prevent_initial_call=True,
)
def _toggle_create(_new: Any, _close: Any) -> tuple[Any, ...]:
    if ctx.triggered_id == ids.DISPATCH_NEW_BUTTON:
        # One idempotency key per opened form: a double-click on "create" makes one incident.
        return CREATE_CLASS, uuid.uuid4().hex, "", no_update
    return CREATE_CLASS_HIDDEN, None, "", pick_geojson(None, None)


@callback(
    Output(ids.DISPATCH_CREATE_LON, "value"),
    Output(ids.DISPATCH_CREATE_LAT, "value"),
    Input(ids.DISPATCH_MAP, "clickData"),
    State(ids.DISPATCH_CREATE, "className"),
    prevent_initial_call=True,
)
def _pick(raw_click: Any, form_class: Any) -> tuple[float, float]:
    click = as_dict(raw_click)
    if not click or not form_is_open(form_class):
        raise PreventUpdate
    point = click_point(click)
    if point is None:
        raise PreventUpdate
    lon, lat = stored_point(current_config().tiles, *point)  # the stored point under the click on the tiles
    return round(lon, 6), round(lat, 6)


@callback(
    Output(ids.DISPATCH_MAP_PICK, "data"),
    Input(ids.DISPATCH_CREATE_LON, "value"),
    Input(ids.DISPATCH_CREATE_LAT, "value"),
    prevent_initial_call=True,
)
def _show_pick(lon: Any, lat: Any) -> dict[str, Any]:
    x, y = as_float(lon), as_float(lat)
    return pick_geojson(x, y) if x is not None and y is not None else pick_geojson(None, None)


@callback(
    *TOAST_OUTPUTS,
    Output(ids.DISPATCH_SELECTED, "data", allow_duplicate=True),
    Output(ids.DISPATCH_CREATE, "className", allow_duplicate=True),
    Output(ids.DISPATCH_CREATE_ERROR, "children", allow_duplicate=True),
    Output(ids.DISPATCH_REFRESH, "data", allow_duplicate=True),
    Input(ids.DISPATCH_CREATE_SUBMIT, "n_clicks"),
    State(ids.DISPATCH_CREATE_CATEGORY, "value"),
    State(ids.DISPATCH_CREATE_SEVERITY, "value"),
    State(ids.DISPATCH_CREATE_TITLE, "value"),
    State(ids.DISPATCH_CREATE_DESCRIPTION, "value"),
    State(ids.DISPATCH_CREATE_LON, "value"),
    State(ids.DISPATCH_CREATE_LAT, "value"),
    State(ids.DISPATCH_CREATE_KEY, "data"),
    State(ids.DISPATCH_REFRESH, "data"),
    prevent_initial_call=True,
)
def _create(n: Any, category: Any, severity: Any, title: Any, description: Any, lon: Any, lat: Any,
            key: Any, refresh: Any) -> tuple[Any, ...]:
    if not as_count(n):
        raise PreventUpdate
    lang = current_language()
    # What cannot be the field's value is missing (said so beside the form), as an empty field is.
    form = {"category": as_token(category), "severity": as_int(severity), "title": clean_text(as_str(title)),
            "description": as_str(description), "lon": as_float(lon), "lat": as_float(lat)}
    fb = run_create(form, as_token(key) or uuid.uuid4().hex, current_actor(), lang)
    if not fb.ok:
        errors = errors_text(fb.errors, lang)
        return (*NO_TOAST, no_update, no_update, fb.message + (t("refusal.aside", lang, text=errors) if errors else ""),
                no_update)
    return (*toast(fb, lang), fb.incident_id, CREATE_CLASS_HIDDEN, "", bump(refresh))
