"""The detail's action bar: the buttons and inline forms that fit the incident's state and the user's role, each
button's pattern-matching id carrying the incident's version and a fresh idempotency key."""

from __future__ import annotations

from typing import Any, Final

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.i18n import name, t
from layouts import ids
from layouts.dispatch.parts import KeyGen, action_label

# Actions shown as plain buttons in the action bar (the others live beside their unit, department or form).
BAR_ACTIONS: Final = (
    lifecycle.ACKNOWLEDGE,
    lifecycle.RESOLVE,
    lifecycle.CLOSE,
    lifecycle.REOPEN,
    lifecycle.ESCALATE,
    lifecycle.CANCEL,
)


# The fields of the detail's forms, by name (pattern-matching ids {"type": DISPATCH_FIELD, "field": name}).
FIELD_SEVERITY: Final = "severity"
FIELD_REASON: Final = "reason"
FIELD_DEPARTMENTS: Final = "departments"


# Actions whose fields are a form beside their button: a field missing or invalid is said beside that form (a
# validation error for the person at the console, not an event of the incident).
FORM_ACTIONS: Final = (lifecycle.CHANGE_SEVERITY, lifecycle.WHISTLE)


# Actions that ask for confirmation first (they end or undo work); lowering the severity does too.
CONFIRM: Final = frozenset(lifecycle.DESTRUCTIVE | {lifecycle.CANCEL, lifecycle.CLOSE})


# Bootstrap colour of each action button: red (danger) only for what ends an incident for good (cancel).
ACTION_COLOUR: Final = {
    lifecycle.ACKNOWLEDGE: "primary",
    lifecycle.DISPATCH: "primary",
    lifecycle.ARRIVE: "info",
    lifecycle.RESOLVE: "success",
    lifecycle.CLOSE: "secondary",
    lifecycle.CANCEL: "danger",
    lifecycle.REOPEN: "warning",
    lifecycle.CHANGE_SEVERITY: "warning",
    lifecycle.WHISTLE: "warning",
    lifecycle.ACKNOWLEDGE_SUMMONS: "info",
    lifecycle.ESCALATE: "warning",
}


# Actions drawn as outlines: escalating to a leader adds attention and undoes nothing, so it must not look like
# the destructive cancel beside it (assets/dispatch.css gives it the escalated flag's colour).
ACTION_OUTLINE: Final = frozenset({lifecycle.ESCALATE})


# Bootstrap icon of each action.
ACTION_ICON: Final = {
    lifecycle.ACKNOWLEDGE: "bi-check2-circle",
    lifecycle.DISPATCH: "bi-send",
    lifecycle.ARRIVE: "bi-geo-alt",
    lifecycle.RESOLVE: "bi-check2-all",
    lifecycle.CLOSE: "bi-archive",
    lifecycle.CANCEL: "bi-x-octagon",
    lifecycle.REOPEN: "bi-arrow-counterclockwise",
    lifecycle.CHANGE_SEVERITY: "bi-arrow-down-up",
    lifecycle.WHISTLE: "bi-megaphone",
    lifecycle.ACKNOWLEDGE_SUMMONS: "bi-person-check",
    lifecycle.ESCALATE: "bi-arrow-up-right-circle",
}


def action_id(action: str, incident: dict[str, Any], key: str, arg: object = "") -> dict[str, Any]:
    """The pattern-matching id of one action button (see the module docstring)."""
    return {
        "type": ids.DISPATCH_ACTION,
        "action": action,
        "arg": "" if arg is None else str(arg),
        "key": key,
        "incident": int(incident["id"]),
        "version": int(incident["version"]),
    }


def field_id(field: str) -> dict[str, str]:
    """The pattern-matching id of one of the detail's form fields."""
    return {"type": ids.DISPATCH_FIELD, "field": field}


def form_error_id(action: str) -> dict[str, str]:
    """The pattern-matching id of the line beside an action's form that says what its last click lacked."""
    return {"type": ids.DISPATCH_FORM_ERROR, "action": action}


def form_error(action: str) -> html.Div:
    """The line beside an action's form for what its last click lacked (empty, and so invisible, until then)."""
    return html.Div(id=form_error_id(action), className="dsp-field-error", role="alert")


def action_button(action: str, incident: dict[str, Any], lang: str, keygen: KeyGen, arg: object = "",
                  label: str | None = None, size: str | None = None) -> dbc.Button:
    """One action button, coloured and iconed by action, with a fresh idempotency key in its id."""
    return dbc.Button(
        [html.I(className=f"bi {ACTION_ICON.get(action, 'bi-lightning')}"), " ", label or action_label(action, lang)],
        id=action_id(action, incident, keygen(), arg),
        color=ACTION_COLOUR.get(action, "secondary"),
        outline=action in ACTION_OUTLINE,
        size=size,
        n_clicks=0,
        className=f"dsp-act dsp-act-{action}",
    )


def _persist(incident: dict[str, Any]) -> dict[str, Any]:
    """Form fields keep what was typed across re-renders of the same incident version (not to another one)."""
    return {"persistence": f"{incident['id']}-{incident['version']}", "persistence_type": "memory"}


def actions_bar(d: dict[str, Any], role: str, lang: str, keygen: KeyGen) -> html.Div:
    """The buttons that fit the incident's state and the user's role (lifecycle.allowed_actions)."""
    allowed = lifecycle.allowed_actions(d["state"], role, escalated=bool(d.get("escalated_at")))
    buttons = [action_button(a, d, lang, keygen) for a in BAR_ACTIONS if a in allowed]
    forms: list[Any] = []
    if lifecycle.CHANGE_SEVERITY in allowed:
        options = [{"label": name("sev", s, lang), "value": s} for s in c.SEVERITIES if s != d["severity"]]
        forms.append(
            html.Div(
                [
                    dcc.Dropdown(id=field_id(FIELD_SEVERITY), options=options, value=None, clearable=False,
                                 searchable=False, placeholder=t("dsp.new_severity", lang), className="dsp-sev-pick",
                                 **_persist(d)),
                    dbc.Input(id=field_id(FIELD_REASON), placeholder=t("dsp.reason_required", lang), maxLength=2000,
                              className="dsp-reason", **_persist(d)),
                    action_button(lifecycle.CHANGE_SEVERITY, d, lang, keygen, arg=d["severity"]),
                    form_error(lifecycle.CHANGE_SEVERITY),
                ],
                className="dsp-form-inline",
            )
        )
    if lifecycle.WHISTLE in allowed:
        summoned = {s["department"] for s in d.get("summons", [])}
        options = [
            {"label": (c.DEPARTMENT_NAMES[dep][1] if lang == "en" else c.DEPARTMENT_NAMES[dep][0]), "value": dep}
            for dep in c.DEPARTMENTS
            if dep not in summoned
        ]
        if options:
            forms.append(
                html.Div(
                    [
                        html.Span(t("dsp.departments", lang), className="dsp-form-label"),
                        dbc.Checklist(id=field_id(FIELD_DEPARTMENTS), options=options, value=[], inline=True,
                                      className="dsp-deps", **_persist(d)),
                        action_button(lifecycle.WHISTLE, d, lang, keygen),
                        form_error(lifecycle.WHISTLE),
                    ],
                    className="dsp-form-inline dsp-whistle",
                )
            )
    hint: list[Any] = []
    if lifecycle.DISPATCH in allowed:
        hint = [html.Div([html.I(className="bi bi-arrow-right-circle"), " ", t("dsp.suggest", lang), " →"],
                         className="dsp-hint")]
    if not buttons and not forms and not hint:
        return html.Div(t("dsp.no_actions", lang), className="dsp-empty dsp-actions")
    return html.Div([html.Div([*buttons, *hint], className="dsp-buttons"), *forms], className="dsp-actions")
