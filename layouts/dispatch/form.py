"""The new-incident form: it takes the console's centre column while open, the map beside it picks the place."""

from __future__ import annotations

from typing import Any, Final

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.domain import rules as c
from dashboard.i18n import name, t
from layouts import ids
from layouts.inputs import as_token

# The form's className while open; closed it adds "hidden" (callbacks/dispatch_form.py switches it).
CREATE_CLASS: Final = "dsp-panel dsp-create"
CREATE_CLASS_HIDDEN: Final = f"{CREATE_CLASS} hidden"


def form_is_open(form_class: Any) -> bool:
    """Whether the new-incident form is open, from its className (anything that is not a class list: closed)."""
    return "hidden" not in (as_token(form_class, 1024) or "hidden").split()


def create_form(lang: str) -> html.Section:
    """The new-incident form; it takes the centre column while open, so the map stays clickable beside it."""
    cats = [{"label": name("inc_cat", k, lang), "value": k} for k in c.INCIDENT_CATEGORIES]
    sevs = [{"label": name("sev", s, lang), "value": s} for s in c.SEVERITIES]

    def row(label: str, control: Any) -> html.Div:
        return html.Div([html.Label(label, className="dsp-form-label"), control], className="dsp-form-row")

    body = html.Div(
        [
            html.P([html.I(className="bi bi-crosshair"), " ", t("dsp.create_hint", lang)], className="dsp-form-hint"),
            row(t("dsp.category", lang), dcc.Dropdown(id=ids.DISPATCH_CREATE_CATEGORY, options=cats,
                                                      value=None, clearable=False)),
            row(t("dsp.severity", lang), dcc.Dropdown(id=ids.DISPATCH_CREATE_SEVERITY, options=sevs, value=4,
                                                      clearable=False, searchable=False)),
            row(t("dsp.title", lang), dbc.Input(id=ids.DISPATCH_CREATE_TITLE, type="text", maxLength=200)),
            row(t("dsp.description", lang), dbc.Textarea(id=ids.DISPATCH_CREATE_DESCRIPTION, maxLength=2000,
                                                         rows=2)),
            html.Div(
                [
                    row(t("dsp.lon", lang), dbc.Input(id=ids.DISPATCH_CREATE_LON, type="number", step="any")),
                    row(t("dsp.lat", lang), dbc.Input(id=ids.DISPATCH_CREATE_LAT, type="number", step="any")),
                ],
                className="dsp-form-pair",
            ),
            html.Div(id=ids.DISPATCH_CREATE_ERROR, className="dsp-form-error", role="alert"),
            html.Div(
                [
                    dbc.Button([html.I(className="bi bi-plus-lg"), " ", t("dsp.create_submit", lang)],
                               id=ids.DISPATCH_CREATE_SUBMIT, color="primary", n_clicks=0),
                    dbc.Button(t("dsp.create_close", lang), id=ids.DISPATCH_CREATE_CLOSE, color="secondary",
                               n_clicks=0),
                ],
                className="dsp-form-buttons",
            ),
        ],
        className="dsp-form",
    )
    return html.Section(
        [html.Header(html.H2(t("dsp.create_title", lang), className="dsp-panel-title"),
                     className="dsp-panel-header"),
         html.Div(body, className="dsp-panel-body")],
        id=ids.DISPATCH_CREATE,
        className=CREATE_CLASS_HIDDEN,
    )
