"""The centre column for one incident: its head and facts, the action bar, the units assigned, the 吹哨报到
summons with their clocks, and the timeline of every action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import html

from dashboard.domain import lifecycle
from dashboard.domain import rules as c
from dashboard.domain.beijing import BEIJING
from dashboard.i18n import name, t
from dashboard.i18n.refusals import refusal_text
from layouts import names
from layouts.common import data_attrs
from layouts.dispatch.actions import action_button, actions_bar
from layouts.dispatch.parts import (
    KeyGen,
    action_label,
    actor_label,
    deadline_clock,
    department_name,
    fmt_when,
    new_key,
    sev_badge,
    source_label,
    state_badge,
    unit_name,
)


def _timeline_text(e: dict[str, Any], lang: str, units: dict[int, str]) -> str:
    """What an entry did beyond its name: the move, the unit, the departments, the severity, the reason."""
    d = e.get("detail") or {}
    parts: list[str] = []
    if d.get("from") and d.get("to") and d["from"] != d["to"]:
        parts.append(f"{name('inc_state', d['from'], lang)} → {name('inc_state', d['to'], lang)}")
    if d.get("unit"):
        parts.append(str(d["unit"]))
    elif e.get("unit_id") in units:
        parts.append(units[e["unit_id"]])
    if d.get("departments"):
        parts.append("、".join(department_name(x, lang) for x in d["departments"]))
    elif d.get("department"):
        parts.append(department_name(d["department"], lang))
    if d.get("from_severity") and d.get("to_severity"):
        parts.append(f"{c.SEVERITY_ROMAN.get(d['from_severity'], '?')} → {c.SEVERITY_ROMAN.get(d['to_severity'], '?')}")
    if d.get("released_units"):
        released = d["released_units"]
        ids_ = released if isinstance(released, list) else [released]
        parts.append(t("dsp.released_units", lang, units="、".join(units.get(i, f"#{i}") for i in ids_)))
    return " · ".join(parts)


def _refusal_note(detail: dict[str, Any], lang: str) -> str | None:
    """Why an action was refused, in `lang` (the service keeps its English reason for the REST API beside the code
    and its params)."""
    code = detail.get("code")
    if not isinstance(code, str) or not code:
        return detail.get("reason")
    params = detail.get("params")
    text = refusal_text(code, lang, params if isinstance(params, dict) else {})
    # Entries older than the params in the record: their English reason in English, the code's text otherwise.
    return str(detail["reason"]) if lang == "en" and detail.get("reason") and not params else text


def timeline_view(d: dict[str, Any], lang: str, now: datetime) -> html.Ol:
    """Every action on the incident, newest first: when, who, what, and the reason or note."""
    units = {u["id"]: u["code"] for u in [*d.get("units_sent", []), *d.get("units", [])]}
    items = []
    for e in reversed(d.get("timeline", [])):
        detail = e.get("detail") or {}
        refused = e.get("outcome") == "refused"
        note = _refusal_note(detail, lang) if refused else (detail.get("reason") or detail.get("note"))
        text = _timeline_text(e, lang, units)
        items.append(
            html.Li(
                [
                    html.Span(fmt_when(e["at"], lang, now), className="dsp-tl-time"),
                    html.Span(actor_label(str(e.get("actor", "")), lang), className="dsp-tl-actor"),
                    html.Span(
                        [action_label(str(e.get("action", "")), lang)]
                        + ([html.Span(t("dsp.refused", lang), className="dsp-tl-refused")] if refused else []),
                        className="dsp-tl-action",
                    ),
                    html.Span(text, className="dsp-tl-text") if text else None,
                    html.Div(str(note), className="dsp-tl-note") if note else None,
                ],
                className="dsp-tl-item refused" if refused else "dsp-tl-item",
            )
        )
    return html.Ol(items, className="dsp-timeline")


def summons_view(d: dict[str, Any], role: str, lang: str, now: datetime, keygen: KeyGen) -> html.Div:
    """吹哨报到: each summoned department with its acknowledgement or its deadline clock (overdue in red)."""
    summons = d.get("summons", [])
    if not summons:
        return html.Div(t("dsp.summons_none", lang), className="dsp-empty")
    may_ack = lifecycle.ACKNOWLEDGE_SUMMONS in lifecycle.allowed_actions(d["state"], role)
    rows = []
    for sm in summons:
        acked = sm.get("acknowledged_at") is not None
        if acked:
            status: Any = html.Span(t("dsp.summons_ack", lang, who=sm.get("acknowledged_by") or "?",
                                      t=fmt_when(sm["acknowledged_at"], lang, now)), className="dsp-ok")
        elif d["state"] not in lifecycle.OPEN_STATES:
            # The incident ended before the department reported: the record says so, no clock runs on.
            status = html.Span(t("dsp.summons_never", lang), className="dsp-clock overdue")
        else:
            status = deadline_clock(sm["deadline_at"], now, lang)
        button = (
            action_button(lifecycle.ACKNOWLEDGE_SUMMONS, d, lang, keygen, arg=sm["department"], size="sm")
            if may_ack and not acked and d["state"] in lifecycle.OPEN_STATES
            else None
        )
        rows.append(
            html.Div(
                [
                    html.Span(sm["department_en"] if lang == "en" else sm["department_zh"], className="dsp-dep"),
                    html.Span(fmt_when(sm["summoned_at"], lang, now), className="dsp-dim"),
                    status,
                    html.Span("⚑", className="dsp-escalated", title=t("dsp.escalated", lang))
                    if sm.get("escalated_at") else None,
                    button,
                ],
                className="dsp-summons-row" + (" overdue" if sm.get("overdue") else "") + (" acked" if acked else ""),
                **data_attrs(department=sm["department"]),
            )
        )
    return html.Div(rows, className="dsp-summons")


def in_dispatch_order(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The units assigned now in the order they were sent (by the timeline), so that a unit sent later joins the end
    of the list instead of pushing the others' buttons down; any unit the timeline does not place goes last."""
    sent_at = {e["unit_id"]: i for i, e in enumerate(d.get("timeline", []))
               if e.get("action") == lifecycle.DISPATCH and e.get("outcome") == "ok" and e.get("unit_id") is not None}
    units = list(d.get("units", []))
    return sorted(units, key=lambda u: sent_at.get(u["id"], len(sent_at)))


def units_view(d: dict[str, Any], role: str, lang: str, keygen: KeyGen, now: datetime | None = None) -> html.Div:
    """The units assigned now, in the order they were sent, with an "arrived" button for those not on scene yet;
    then, dimmed, those sent earlier and released (all of them once the incident ended: the record says who was
    there, when they arrived and when they left)."""
    units = in_dispatch_order(d)
    current = {u["id"] for u in units}
    gone = [u for u in d.get("units_sent", []) if u["id"] not in current]
    if not units and not gone:
        return html.Div(t("dsp.units_none", lang), className="dsp-empty")
    may_arrive = lifecycle.ARRIVE in lifecycle.allowed_actions(d["state"], role)
    rows = []
    for u in units:
        rows.append(
            html.Div(
                [
                    html.Span(name("unit_kind", u["kind"], lang), className=f"dsp-kind kind-{u['kind']}"),
                    html.Span(unit_name(u, lang), className="dsp-unit-name", title=unit_name(u, lang)),
                    html.Span(name("unit_status", u["status"], lang), className=f"dsp-unit-status us-{u['status']}"),
                    action_button(lifecycle.ARRIVE, d, lang, keygen, arg=u["id"], size="sm")
                    if may_arrive and u["status"] != "on_scene" else None,
                ],
                className="dsp-unit-row",
                **data_attrs(unit=str(u["code"])),
            )
        )
    when = now or datetime.now(BEIJING)  # only "today or another day" of the times shown depends on it
    for u in gone:
        arrived = u.get("arrived_at")
        text = t("dsp.unit_released", lang, t=fmt_when(u.get("released_at"), lang, when))
        if arrived is not None:
            text = t("dsp.unit_arrived", lang, t=fmt_when(arrived, lang, when)) + " · " + text
        rows.append(
            html.Div(
                [
                    html.Span(name("unit_kind", u["kind"], lang), className=f"dsp-kind kind-{u['kind']}"),
                    html.Span(unit_name(u, lang), className="dsp-unit-name", title=unit_name(u, lang)),
                    html.Span(text, className="dsp-unit-status us-released"),
                ],
                className="dsp-unit-row released",
                **data_attrs(unit=str(u["code"])),
            )
        )
    return html.Div(rows, className="dsp-units")


def _fact(label: str, value: Any) -> html.Div:
    """One label and value of the detail's facts."""
    return html.Div([html.Dt(label), html.Dd(value)], className="dsp-fact")


def detail_view(d: dict[str, Any], role: str, lang: str, now: datetime, keygen: KeyGen = new_key) -> list[Any]:
    """The centre column for one incident (a get_incident dict)."""
    is_open = d["state"] in lifecycle.OPEN_STATES
    flags: list[Any] = []
    if d.get("overdue"):
        flags.append(html.Span(t("dsp.overdue_flag", lang), className="dsp-flag overdue"))
    if d.get("escalated_at"):
        flags.append(html.Span(t("dsp.escalated", lang), className="dsp-flag escalated"))
    header = html.Div(
        [
            sev_badge(int(d["severity"]), True, lang),
            html.H3([html.Span(f"#{d['id']}", className="dsp-id"), d["title"]], className="dsp-detail-title"),
            state_badge(d["state"], lang),
            *flags,
        ],
        className="dsp-detail-head",
        **data_attrs(incident=str(d["id"]), state=d["state"], version=str(d["version"])),
    )
    facts = [
        _fact(t("dsp.category", lang), name("inc_cat", d["category"], lang)),
        _fact(t("dsp.subdistrict", lang), names.subdistrict(d["subdistrict"], lang) or "—"),
        _fact(t("dsp.reported", lang), fmt_when(d["reported_at"], lang, now)),
        _fact(t("dsp.deadline", lang),
              [fmt_when(d["deadline_at"], lang, now), " ", deadline_clock(d["deadline_at"], now, lang)]
              if is_open else fmt_when(d["deadline_at"], lang, now)),
        _fact(t("dsp.acknowledged", lang), fmt_when(d.get("acknowledged_at"), lang, now)),
        _fact(t("dsp.source", lang), source_label(d["source"], lang) if d.get("source") else "—"),
        _fact(t("dsp.location", lang), f"{d['lon']:.5f}, {d['lat']:.5f}"),
    ]
    if d.get("resolved_at"):
        facts.append(_fact(t("dsp.resolved", lang), fmt_when(d["resolved_at"], lang, now)))
    if d.get("closed_at"):
        facts.append(_fact(t("dsp.closed", lang), fmt_when(d["closed_at"], lang, now)))
    body = [
        header,
        html.P(d["description"], className="dsp-desc") if d.get("description") else None,
        html.Dl(facts, className="dsp-facts"),
        html.H4(t("dsp.actions", lang), className="dsp-sub"),
        actions_bar(d, role, lang, keygen),
        html.Div(
            [
                html.Div(
                    [
                        html.H4(t("dsp.units", lang), className="dsp-sub"),
                        units_view(d, role, lang, keygen, now),
                        html.H4(t("dsp.summons", lang), className="dsp-sub"),
                        summons_view(d, role, lang, now, keygen),
                    ],
                    className="dsp-col",
                ),
                html.Div([html.H4(t("dsp.timeline", lang), className="dsp-sub"), timeline_view(d, lang, now)],
                         className="dsp-col dsp-col-tl"),
            ],
            className="dsp-detail-cols",
        ),
    ]
    return [b for b in body if b is not None]
