"""Proposals in the dispatcher's console: 未诉先办 early warnings to turn into incidents, and 热线+网格 links between
tickets to confirm or split. Pure builders; callbacks/proposals.py reads the data and takes the actions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from dash import html

from dashboard.domain import lifecycle
from dashboard.i18n import fmt_int, fmt_time, name, t
from layouts import ids, names
from layouts.common import data_attrs

# Proposals the console lists at most (the most urgent first); the rest are counted.
MAX_WARNINGS: Final = 4
MAX_CASES: Final = 4


def proposal_id(kind: str, ref: str, arg: str = "") -> dict[str, str]:
    """The pattern ID of a proposal's button: kind "warning" (ref = warning id) or "link" (ref = link id,
    arg = "confirm" | "split")."""
    return {"type": ids.PROPOSAL_ACTION, "kind": kind, "ref": ref, "arg": arg}


def warning_card(w: Mapping[str, Any], incident_id: int | None, role: str, lang: str) -> html.Div:
    """One early warning: what is expected where, why, and "转为事件" (or the incident it became)."""
    reasons = w.get("reasons_en" if lang == "en" else "reasons_zh") or []
    head = [
        html.Span(t("warn.label", lang), className="prop-badge warn"),
        html.Span(f"{name('hl_cat', w.get('category'), lang)} · {names.subdistrict(w.get('subdistrict'), lang)}",
                  className="prop-title"),
        html.Span(t("prop.score", lang, n=fmt_int(round(float(w.get("score") or 0.0) * 100))), className="prop-score"),
    ]
    if incident_id is not None:
        action: Any = html.Span(t("prop.became", lang, id=incident_id), className="prop-done")
    elif lifecycle.may(role, lifecycle.CREATE):
        action = html.Button(t("prop.to_incident", lang), id=proposal_id("warning", str(w["id"])),
                             className="btn btn-sm btn-warning prop-act", n_clicks=0)
    else:
        action = None
    return html.Div(
        [
            html.Div(head, className="prop-head"),
            html.Ul([html.Li(r) for r in reasons[:3]], className="prop-reasons"),
            html.Div([html.Span(t("prop.since", lang, t=fmt_time(w.get("since"), lang, seconds=False)),
                                className="prop-since"), action], className="prop-foot"),
        ],
        className="prop-card",
        **data_attrs(warning=str(w["id"])),
    )


def warnings_block(warnings: Sequence[Mapping[str, Any]], created: Mapping[str, int], role: str,
                   lang: str) -> list[Any]:
    """The early-warning proposals, most severe first, or nothing when there is none."""
    if not warnings:
        return []
    cards: list[Any] = [warning_card(w, created.get(str(w["id"])), role, lang) for w in warnings[:MAX_WARNINGS]]
    if len(warnings) > MAX_WARNINGS:
        cards.append(html.Div(t("inc.more", lang, n=fmt_int(len(warnings) - MAX_WARNINGS)), className="prop-more"))
    return [html.Div(t("prop.warnings", lang), className="prop-section"), *cards]


def case_card(case: Mapping[str, Any], role: str, lang: str) -> html.Div:
    """One case of linked tickets: what and where, why they were linked, and each link the linker made by itself
    (decision "auto") with "确认" / "拆分" for those who may decide."""
    may = role in ("dispatch", "admin")
    tickets = {tk["link_id"]: tk for tk in case.get("tickets", [])}
    rows: list[Any] = []
    for ln in case.get("links", []):
        tk = tickets.get(ln["id"], {})
        reason = ln.get("reason_en" if lang == "en" else "reason_zh") or ""
        if ln.get("decision") == "auto" and may:
            ref = f"{case['id']}:{ln['id']}"
            acts: Any = html.Span(
                [html.Button(t("prop.confirm", lang), id=proposal_id("link", ref, "confirm"),
                             className="btn btn-sm btn-outline-success prop-act", n_clicks=0),
                 html.Button(t("prop.split", lang), id=proposal_id("link", ref, "split"),
                             className="btn btn-sm btn-outline-light prop-act", n_clicks=0)],
                className="prop-acts",
            )
        else:
            acts = html.Span(t(f"prop.link_{ln.get('decision')}", lang), className="prop-done")
        rows.append(html.Li([html.Span(str(tk.get("summary") or tk.get("ticket_id") or ""), className="prop-ticket"),
                             html.Span(reason, className="prop-why"), acts], className="prop-link"))
    title = f"{name('hl_cat', case.get('category'), lang)} · {names.subdistrict(case.get('subdistrict'), lang)}"
    explanation = (case.get("explanation") or {}).get(lang, "")
    return html.Div(
        [
            html.Div([html.Span(t("prop.case", lang), className="prop-badge case"),
                      html.Span(title, className="prop-title"),
                      html.Span(t("prop.tickets", lang, n=fmt_int(case.get("ticket_count", 0))),
                                className="prop-score")], className="prop-head"),
            html.Div(explanation, className="prop-explain"),
            html.Ul(rows, className="prop-links"),
        ],
        className="prop-card prop-case",
        **data_attrs(case=str(case["id"])),
    )


def cases_block(cases: Sequence[Mapping[str, Any]], role: str, lang: str) -> list[Any]:
    """Cases with links still to decide (two tickets or more), newest first, or nothing."""
    pending = [x for x in cases if x.get("ticket_count", 0) >= 2
               and any(ln.get("decision") == "auto" for ln in x.get("links", []))]
    if not pending:
        return []
    cards: list[Any] = [case_card(x, role, lang) for x in pending[:MAX_CASES]]
    if len(pending) > MAX_CASES:
        cards.append(html.Div(t("inc.more", lang, n=fmt_int(len(pending) - MAX_CASES)), className="prop-more"))
    return [html.Div(t("prop.cases", lang), className="prop-section case"), *cards]


def warning_incident_fields(w: Mapping[str, Any], category: str) -> dict[str, Any]:
    """The incident a dispatcher opens from a warning: where it is, what is expected, and why (in Chinese: data)."""
    place = names.subdistrict(w.get("subdistrict"), "zh")
    reasons = "；".join(w.get("reasons_zh") or [])
    return {
        "category": category,
        "severity": 4,
        "title": f"{place} {name('hl_cat', w.get('category'), 'zh')}（未诉先办）"[:200],
        "description": f"未诉先办预警：{reasons}"[:2000],
        "lon": float(w["lon"]),
        "lat": float(w["lat"]),
    }
