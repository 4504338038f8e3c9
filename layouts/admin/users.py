"""The users section: the table of users, the selected user's role, password and state, the new-user form, and the
confirmation questions of user operations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.domain import rules as c
from dashboard.i18n import name, t
from layouts import ids
from layouts.admin.parts import fmt_dt, form_row, panel, table
from layouts.common import data_attrs


def _role_options(lang: str) -> list[dict[str, str]]:
    """Every role as a dropdown option in `lang`."""
    return [{"label": name("role", r, lang), "value": r} for r in c.ROLES]


def users_section(lang: str) -> html.Div:
    """The users table on the left; the selected user and the new-user form on the right."""
    edit = html.Div(
        [
            html.Div(t("admin.pick_user", lang), id=ids.ADMIN_USER_TITLE, className="adm-user-title"),
            form_row(t("admin.role", lang), html.Div([
                dcc.Dropdown(id=ids.ADMIN_USER_ROLE, options=_role_options(lang), value=None, clearable=False,
                             searchable=False, disabled=True, className="adm-grow"),
                dbc.Button(t("admin.change_role", lang), id=ids.ADMIN_USER_ROLE_SAVE, color="warning", n_clicks=0,
                           disabled=True),
            ], className="adm-inline")),
            form_row(t("admin.new_password", lang), html.Div([
                dbc.Input(id=ids.ADMIN_USER_PASSWORD, type="password", autoComplete="new-password", maxLength=256,
                          disabled=True, className="adm-grow"),
                dbc.Button(t("admin.reset_password", lang), id=ids.ADMIN_USER_PASSWORD_SAVE, color="warning",
                           n_clicks=0, disabled=True),
            ], className="adm-inline"), t("admin.password_hint", lang, min=8)),
            html.Div([
                dbc.Button([html.I(className="bi bi-person-slash"), " ", t("admin.disable", lang)],
                           id=ids.ADMIN_USER_DISABLE, color="danger", n_clicks=0, disabled=True),
                dbc.Button([html.I(className="bi bi-person-check"), " ", t("admin.enable", lang)],
                           id=ids.ADMIN_USER_ENABLE, color="success", n_clicks=0, disabled=True),
            ], className="adm-buttons"),
            html.P(t("admin.effective_hint", lang), className="adm-hint"),
            html.Div(id=ids.ADMIN_USER_ERROR, className="adm-error", role="alert"),
        ],
        className="adm-form",
    )
    create = html.Div(
        [
            form_row(t("admin.username", lang), dbc.Input(id=ids.ADMIN_NEW_USERNAME, type="text", maxLength=64,
                                                     autoComplete="off"), t("admin.username_hint", lang)),
            form_row(t("admin.display_name", lang), dbc.Input(id=ids.ADMIN_NEW_DISPLAY, type="text", maxLength=128,
                                                         autoComplete="off")),
            form_row(t("admin.role", lang), dcc.Dropdown(id=ids.ADMIN_NEW_ROLE, options=_role_options(lang),
                                                     value="duty", clearable=False, searchable=False)),
            form_row(t("admin.password", lang), dbc.Input(id=ids.ADMIN_NEW_PASSWORD, type="password", maxLength=256,
                                                     autoComplete="new-password"), t("admin.password_hint", lang,
                                                                                     min=8)),
            html.Div(id=ids.ADMIN_NEW_ERROR, className="adm-error", role="alert"),
            html.Div(dbc.Button([html.I(className="bi bi-person-plus"), " ", t("admin.create", lang)],
                                id=ids.ADMIN_NEW_SUBMIT, color="primary", n_clicks=0), className="adm-buttons"),
        ],
        className="adm-form",
    )
    return html.Div(
        [
            panel(t("admin.users", lang), html.Div(id=ids.ADMIN_USERS, className="adm-table-wrap"), "adm-users"),
            html.Div([panel(t("admin.edit_user", lang), edit), panel(t("admin.new_user", lang), create)],
                     className="adm-side"),
        ],
        className="adm-section adm-sec-users",
    )


def users_table(users: Iterable[Mapping[str, Any]], lang: str, selected: int | None, me: str = "") -> html.Table:
    """Every user: name, display name, role, state, created; the selected one marked, disabled ones dimmed."""
    columns = ("admin.username", "admin.display_name", "admin.role", "admin.state", "admin.created")
    rows = []
    for u in users:
        cls = "adm-user-row"
        if u["id"] == selected:
            cls += " selected"
        if not u["active"]:
            cls += " disabled"
        who: list[Any] = [u["username"]]
        if u["username"] == me:
            who.append(html.Span(t("admin.you", lang), className="adm-chip"))
        rows.append(html.Tr(
            [
                html.Td(who),
                html.Td(u["display_name"]),
                html.Td(name("role", u["role"], lang)),
                html.Td(html.Span(t("admin.active" if u["active"] else "admin.disabled", lang),
                                  className=f"badge text-bg-{'success' if u['active'] else 'secondary'}")),
                html.Td(fmt_dt(u.get("created_at"), lang), className="adm-dim adm-numcell"),
            ],
            id={"type": ids.ADMIN_USER_ROW, "index": u["id"]},
            n_clicks=0,
            className=cls,
            **data_attrs(user=str(u["username"])),
        ))
    return table(columns, rows, lang, "adm-clickable")


def user_title(u: Mapping[str, Any] | None, lang: str) -> Any:
    """The edit panel's heading for the selected user."""
    if u is None:
        return t("admin.pick_user", lang)
    state = t("admin.active" if u["active"] else "admin.disabled", lang)
    return [html.Strong(f"{u['display_name']} ({u['username']})"), html.Span(
        f" · {name('role', u['role'], lang)} · {state}", className="adm-dim")]


def confirm_text(op: str, u: Mapping[str, Any], lang: str, role: str | None = None) -> list[Any]:
    """The question of the confirmation dialog for a user operation."""
    who = f"{u['display_name']} ({u['username']})"
    if op == "change_role":
        return [html.P(t("admin.confirm_role", lang, user=who, a=name("role", u["role"], lang),
                         b=name("role", role or "", lang)))]
    return [html.P(t(f"admin.confirm_{op}", lang, user=who))]
