"""Proposals in the dispatcher's console: 未诉先办 early warnings to turn into incidents, and 热线+网格 links between
tickets to confirm or split. Pure builders; callbacks/proposals.py reads the data and takes the actions.

The proposals are a list of action buttons that holds still while the pointer is in it (layouts/hold.py): the
warnings re-rank every second and a case leaves the list once decided, so without holding, the button under the
pointer could become another card's between two clicks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from dash import html

from dashboard.domain import lifecycle
from dashboard.i18n import fmt_int, fmt_time, name, t
from dashboard.i18n.evidence import ticket_figures
from layouts import ids, names
from layouts.common import data_attrs

# Proposals the console lists at most (the most urgent first); the rest are counted.
MAX_WARNINGS: Final = 4
MAX_CASES: Final = 4


# What the console keeps of each warning card shown, to keep the card in its place once the warning has cleared.
WARNING_FIELDS: Final = ("id", "category", "subdistrict", "score", "since", "reasons_zh", "reasons_en", "evidence")


def proposal_id(kind: str, ref: str, arg: str = "") -> dict[str, str]:
    """The pattern ID of a proposal's button: kind "warning" (ref = warning id) or "link" (ref = link id,
    arg = "confirm" | "split")."""
    return {"type": ids.PROPOSAL_ACTION, "kind": kind, "ref": ref, "arg": arg}


def _evidence(w: Mapping[str, Any], n: int) -> list[Mapping[str, Any]]:
    """The warning's evidence, one a reason and in the same order; empty ones when it does not pair with the
    `n` reasons (a warning of an older detector, or a held card whose store was tampered with)."""
    given = w.get("evidence")
    listed = [e if isinstance(e, Mapping) else {} for e in given] if isinstance(given, list) else []
    return listed if len(listed) == n else [{}] * n


def reason_line(reason: str, evidence: Mapping[str, Any], lang: str) -> html.Li:
    """One reason in plain words; a ticket count keeps its exact figures in a tooltip, marked by an info icon."""
    figures = ticket_figures(evidence, lang)
    if figures is None:
        return html.Li(reason)
    return html.Li([reason, " ", html.I(className="bi bi-info-circle prop-figures")], title=figures)


def shown_score(score: Any) -> int:
    """A warning's score as the card says it, in per cent: never 100 (a warning is a likelihood, not a certainty)."""
    try:
        value = float(score or 0.0)
    except (TypeError, ValueError):
        return 0
    return max(0, min(99, round(value * 100))) if value == value else 0  # (NaN: 0)


def warning_card(w: Mapping[str, Any], incident_id: int | None, role: str, lang: str, gone: bool = False) -> html.Div:
    """One early warning: what is expected where, why, and "转为事件" (or the incident it became); `gone`: the
    warning has cleared since it was shown (a held list keeps its card, greyed, without the button)."""
    reasons = w.get("reasons_en" if lang == "en" else "reasons_zh") or []
    what = f"{name('hl_cat', w.get('category'), lang)} · {names.subdistrict(w.get('subdistrict'), lang)}"
    head = [
        html.Span(t("warn.label", lang), className="prop-badge warn"),
        # The whole title on hover too: a narrow console cuts it, and its end says where.
        html.Span(what, className="prop-title", title=what),
        html.Span(t("prop.score", lang, n=fmt_int(shown_score(w.get("score")))), className="prop-score",
                  title=t("prop.score_tip", lang)),
    ]
    if incident_id is not None:
        action: Any = html.Span(t("prop.became", lang, id=incident_id), className="prop-done")
    elif gone:
        action = html.Span(t("prop.gone", lang), className="prop-done")
    elif lifecycle.may(role, lifecycle.CREATE):
        action = html.Button(t("prop.to_incident", lang), id=proposal_id("warning", str(w["id"])),
                             className="btn btn-sm btn-warning prop-act", n_clicks=0)
    else:
        action = None
    return html.Div(
        [
            html.Div(head, className="prop-head"),
            html.Ul([reason_line(r, e, lang) for r, e in zip(reasons[:3], _evidence(w, len(reasons)), strict=False)],
                    className="prop-reasons"),
            html.Div([html.Span(t("prop.since", lang, t=fmt_time(w.get("since"), lang, seconds=False)),
                                className="prop-since"), action], className="prop-foot"),
        ],
        className="prop-card gone" if gone else "prop-card",
        **data_attrs(warning=str(w["id"])),
    )


def _more(n: int | None, lang: str) -> list[Any]:
    """The "还有 n 条" line under a list (none for None; an empty line of the same height for 0, where a held list
    had one)."""
    if n is None:
        return []
    return [html.Div(t("inc.more", lang, n=fmt_int(n)) if n > 0 else "\u00a0", className="prop-more")]


def warnings_block(warnings: Sequence[Mapping[str, Any]], created: Mapping[str, int], role: str,
                   lang: str, held: Mapping[str, Any] | None = None) -> list[Any]:
    """The early-warning proposals, most severe first, or nothing when there is none; `held` (what
    remember_proposals kept): the same cards in the same places, a cleared warning greyed, none added."""
    if held is None:
        shown = list(warnings[:MAX_WARNINGS])
        gone: set[str] = set()
        more = len(warnings) - MAX_WARNINGS if len(warnings) > MAX_WARNINGS else None
    else:
        fresh = {str(w["id"]): w for w in warnings}
        shown = [fresh.get(str(w.get("id")), w) for w in held.get("warnings") or []]
        gone = {str(w["id"]) for w in shown if str(w["id"]) not in fresh}
        more = max(0, len(warnings) - len(shown) + len(gone)) if held.get("more_warnings") else None
    if not shown:
        return []
    cards: list[Any] = [warning_card(w, created.get(str(w["id"])), role, lang, str(w["id"]) in gone) for w in shown]
    return [html.Div(t("prop.warnings", lang), className="prop-section"), *cards, *_more(more, lang)]


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


def pending_cases(cases: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Cases with links still to decide (two tickets or more), in the order given (newest first)."""
    return [x for x in cases if x.get("ticket_count", 0) >= 2
            and any(ln.get("decision") == "auto" for ln in x.get("links", []))]


def case_gone_card(case_id: int, lang: str) -> html.Div:
    """The place of a case no longer open, kept in a held list."""
    return html.Div(t("prop.case_gone", lang), className="prop-card prop-case gone", **data_attrs(case=str(case_id)))


def cases_block(cases: Sequence[Mapping[str, Any]], role: str, lang: str,
                held: Mapping[str, Any] | None = None) -> list[Any]:
    """Cases with links still to decide (two tickets or more), newest first, or nothing; `held` (what
    remember_proposals kept): the same cases in the same places, decided ones with their decisions, none added."""
    pending = pending_cases(cases)
    if held is None:
        cards: list[Any] = [case_card(x, role, lang) for x in pending[:MAX_CASES]]
        more = len(pending) - MAX_CASES if len(pending) > MAX_CASES else None
    else:
        by_id = {x["id"]: x for x in cases}
        kept = [int(i) for i in held.get("cases") or []]
        cards = [case_card(by_id[i], role, lang) if i in by_id else case_gone_card(i, lang) for i in kept]
        still = sum(1 for x in pending if x["id"] in kept)
        more = max(0, len(pending) - still) if held.get("more_cases") else None
    if not cards:
        return []
    return [html.Div(t("prop.cases", lang), className="prop-section case"), *cards, *_more(more, lang)]


def remember_proposals(warnings: Sequence[Mapping[str, Any]], cases: Sequence[Mapping[str, Any]],
                       held: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the proposals show now (the console keeps it, to hold the list while the pointer is in it)."""
    if held is not None:
        return dict(held)
    pending = pending_cases(cases)
    return {"warnings": [{k: w.get(k) for k in WARNING_FIELDS} for w in warnings[:MAX_WARNINGS]],
            "more_warnings": len(warnings) > MAX_WARNINGS,
            "cases": [int(x["id"]) for x in pending[:MAX_CASES]],
            "more_cases": len(pending) > MAX_CASES}


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
