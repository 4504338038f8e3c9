"""The admin page's frame: the top bar with the section switch, the four sections, the confirmation dialog, the
toast, the health poll and the stores."""

from __future__ import annotations

from typing import Final

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.i18n import t
from layouts import ids
from layouts.admin.audit import audit_section
from layouts.admin.health import health_section
from layouts.admin.sensors import sensors_section
from layouts.admin.settings import settings_section
from layouts.admin.users import users_section
from layouts.common import lang_switch, logout_button

TABS: Final = ("users", "settings", "health", "sensors", "audit")


# The health section re-reads Redis and RQ this often while it is open.
HEALTH_MS: Final = 5000


def _topbar(lang: str, user: str) -> html.Header:
    """The top bar: title, the section switch, then links, the user, the language and sign-out."""
    return html.Header(
        [
            html.H1([t("page.admin", lang), html.Small(t("app.title", lang))], className="adm-title"),
            dbc.RadioItems(
                id=ids.ADMIN_TABS,
                options=[{"label": t(f"admin.tab_{tab}", lang), "value": tab} for tab in TABS],
                value=TABS[0],
                inline=True,
                className="adm-tabs btn-group",
                inputClassName="btn-check",
                labelClassName="btn btn-outline-info",
                labelCheckedClassName="active",
                persistence=True,
                persistence_type="session",
            ),
            html.Div(className="adm-spacer"),
            # One group, so that where the bar wraps they move to the next line together, still on the right.
            html.Div([
                html.A([html.I(className="bi bi-display"), " ", t("page.wall", lang)], href="/wall",
                       className="adm-link"),
                html.A([html.I(className="bi bi-kanban"), " ", t("page.dispatch", lang)], href="/dispatch",
                       className="adm-link"),
                html.Span([html.I(className="bi bi-person-circle"), " ", t("admin.signed_in", lang, user=user)],
                          className="adm-user"),
                lang_switch(lang, "/admin"),
                logout_button(lang, "adm-link"),
            ], className="adm-top-end"),
        ],
        className="adm-top",
    )


def confirm_modal(lang: str) -> dbc.Modal:
    """Asks before disabling a user, changing a role or resetting a password."""
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(t("admin.confirm_title", lang))),
            dbc.ModalBody(html.Div(id=ids.ADMIN_CONFIRM_BODY)),
            dbc.ModalFooter([
                dbc.Button(t("admin.confirm_back", lang), id=ids.ADMIN_CONFIRM_CANCEL, color="secondary", n_clicks=0),
                dbc.Button(t("admin.confirm_ok", lang), id=ids.ADMIN_CONFIRM_OK, color="danger", n_clicks=0),
            ]),
        ],
        id=ids.ADMIN_CONFIRM,
        is_open=False,
        centered=True,
        className="adm-modal",
    )


def tab_class(tab: str | None) -> str:
    """The page root's className for the open section (the others are hidden by assets/admin.css)."""
    return f"admin adm-tab-{tab if tab in TABS else TABS[0]}"


def admin_page(lang: str, user: str = "") -> html.Div:
    """The whole page; every section's data arrives with its first callback."""
    return html.Div(
        [
            _topbar(lang, user),
            users_section(lang),
            settings_section(lang),
            health_section(lang),
            sensors_section(lang),
            audit_section(lang),
            confirm_modal(lang),
            dbc.Toast(id=ids.ADMIN_TOAST, is_open=False, dismissable=True, duration=6000, className="adm-toast",
                      header=""),
            dcc.Interval(id=ids.ADMIN_TICK, interval=HEALTH_MS),
            dcc.Store(id=ids.ADMIN_REFRESH, data=0),
            dcc.Store(id=ids.ADMIN_USER_SELECTED, data=None),
            dcc.Store(id=ids.ADMIN_PENDING, data=None),
            dcc.Store(id=ids.ADMIN_SETTINGS_VERSIONS, data={}),
            dcc.Store(id=ids.ADMIN_AUDIT_PAGE, data=0),
        ],
        id=ids.ADMIN,
        className=tab_class(TABS[0]),
        lang="en" if lang == "en" else "zh-CN",
    )
