"""The audit section: filters, the entries newest first (read-only) and the pager."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.i18n import fmt_int, has, name, t
from layouts import ids
from layouts.admin.parts import fmt_dt, panel, table

AUDIT_PAGE_SIZE: Final = 50


# Audit outcomes offered in the filter ("" = any).
OUTCOMES: Final = ("ok", "refused")


DETAIL_MAX: Final = 160


def audit_filters(lang: str) -> html.Div:
    """Actor, action, outcome, target and time range (Beijing time), applied with one button."""
    outcomes = [{"label": t("admin.any_outcome", lang), "value": ""}]
    outcomes += [{"label": t(f"admin.outcome_{o}", lang), "value": o} for o in OUTCOMES]

    def field(label: str, control: Any) -> html.Div:
        return html.Div([html.Label(label, className="adm-label"), control], className="adm-filter")

    return html.Div(
        [
            field(t("admin.actor", lang), dbc.Input(id=ids.ADMIN_AUDIT_ACTOR, type="text", size="sm",
                                                    placeholder=t("admin.actor_ph", lang))),
            field(t("admin.action", lang), dbc.Input(id=ids.ADMIN_AUDIT_ACTION, type="text", size="sm",
                                                     placeholder=t("admin.action_ph", lang))),
            field(t("admin.outcome", lang), dcc.Dropdown(id=ids.ADMIN_AUDIT_OUTCOME, options=outcomes, value="",
                                                         clearable=False, searchable=False)),
            field(t("admin.target", lang), dbc.Input(id=ids.ADMIN_AUDIT_TARGET, type="text", size="sm",
                                                     placeholder=t("admin.target_ph", lang))),
            field(t("admin.since", lang), dbc.Input(id=ids.ADMIN_AUDIT_SINCE, type="datetime-local", size="sm")),
            field(t("admin.until", lang), dbc.Input(id=ids.ADMIN_AUDIT_UNTIL, type="datetime-local", size="sm")),
            dbc.Button([html.I(className="bi bi-funnel"), " ", t("admin.apply", lang)], id=ids.ADMIN_AUDIT_APPLY,
                       color="primary", size="sm", n_clicks=0, className="adm-apply"),
        ],
        className="adm-filters",
    )


def audit_section(lang: str) -> html.Div:
    """Filters, the newest entries first, and the pager."""
    pager = html.Div(
        [
            dbc.Button([html.I(className="bi bi-chevron-left"), " ", t("admin.newer", lang)], id=ids.ADMIN_AUDIT_PREV,
                       color="secondary", size="sm", n_clicks=0),
            html.Span(id=ids.ADMIN_AUDIT_COUNT, className="adm-meta"),
            dbc.Button([t("admin.older", lang), " ", html.I(className="bi bi-chevron-right")],
                       id=ids.ADMIN_AUDIT_NEXT, color="secondary", size="sm", n_clicks=0),
        ],
        className="adm-pager",
    )
    return html.Div(
        panel(t("admin.audit", lang),
               [audit_filters(lang), html.Div(id=ids.ADMIN_AUDIT_TABLE, className="adm-table-wrap adm-audit-wrap"),
                pager],
               "adm-audit-panel", html.Span(t("admin.audit_readonly", lang), className="adm-meta")),
        className="adm-section adm-sec-audit",
    )


def action_text(action: str, lang: str) -> str:
    """An audit entry's action in words ("停用账号", "派遣"); the code itself when no catalogue names it."""
    for key in (f"audit.{action}", f"act.{action}"):
        if has(key):
            return t(key, lang)
    prefix, _, status = action.partition("_")
    if prefix == "incident" and has(f"inc_state.{status}"):  # a source system reported the incident's state
        return t("audit.incident_status", lang, s=name("inc_state", status, lang))
    return action


def _value(v: Any) -> str:
    """One detail value as read: lists joined, nested objects as compact JSON."""
    if isinstance(v, list):
        return "、".join(_value(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, default=str, separators=(",", ":"))
    return str(v)


def detail_text(detail: Any, lang: str = "zh") -> tuple[str, str]:
    """(short, full) of an audit entry's detail: "原因：… · IP：…" with the fields named in `lang` where the
    catalogue names them (the full JSON in the cell's tooltip for whoever needs it exactly)."""
    if detail in (None, {}, []):
        return "", ""
    full = json.dumps(detail, ensure_ascii=False, default=str, separators=(",", ":"))
    if isinstance(detail, dict):
        colon = ": " if lang == "en" else "："
        text = " · ".join(
            f"{t(f'audit.k.{k}', lang) if has(f'audit.k.{k}') else k}{colon}{_value(v)}" for k, v in detail.items()
        )
    else:
        text = _value(detail)
    return (text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"), full


def audit_table(rows: Iterable[Any], lang: str) -> Any:
    """The audit entries, newest first (read-only)."""
    rows = list(rows)
    if not rows:
        return html.Div(t("admin.no_entries", lang), className="adm-empty")
    columns = ("admin.at", "admin.actor", "admin.action", "admin.target", "admin.outcome", "admin.detail")
    body = []
    for e in rows:
        short, full = detail_text(e.detail, lang)
        target = f"{e.target_type}:{e.target_id}" if e.target_type and e.target_id else (e.target_type or e.target_id
                                                                                          or "—")
        body.append(html.Tr([
            html.Td(fmt_dt(e.at, lang), className="adm-numcell"),
            html.Td(e.actor),
            html.Td([action_text(e.action, lang), html.Code(e.action, className="adm-code")], title=e.action),
            html.Td(target),
            html.Td(html.Span(t(f"admin.outcome_{e.outcome}", lang) if e.outcome in OUTCOMES else e.outcome,
                              className=f"badge text-bg-{'success' if e.outcome == 'ok' else 'warning'}")),
            html.Td(short, title=full, className="adm-detail"),
        ], className=f"adm-audit-row adm-outcome-{e.outcome}"))
    return table(columns, body, lang, "adm-audit")


def audit_count(total: int, page: int, lang: str, size: int = AUDIT_PAGE_SIZE) -> str:
    """"第 1 / 3 页，共 120 条" / "Page 1 of 3 · 120 entries"."""
    pages = max(1, -(-total // size))
    return t("admin.audit_count", lang, page=fmt_int(min(page, pages - 1) + 1, lang),
             pages=fmt_int(pages, lang), n=fmt_int(total, lang))
