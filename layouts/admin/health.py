"""The health section: data sources (state, rates, rejections), RQ queues with their failed jobs, and workers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from dash import html

from dashboard.i18n import fmt_age, fmt_int, fmt_num, t
from layouts import ids
from layouts.admin.parts import fmt_dt, panel, table
from layouts.common import data_attrs

STATE_COLOUR: Final = {"live": "success", "quiet": "warning", "silent": "danger", "never": "secondary"}


def health_section(lang: str) -> html.Div:
    """Data sources across the top; queues and workers below."""
    return html.Div(
        [
            panel(t("admin.sources", lang), html.Div(id=ids.ADMIN_SOURCES, className="adm-table-wrap"),
                   "adm-sources-panel", html.Span(id=ids.ADMIN_HEALTH_STAMP, className="adm-meta")),
            panel(t("admin.queues", lang), html.Div(id=ids.ADMIN_QUEUES, className="adm-table-wrap"),
                   "adm-queues-panel"),
            panel(t("admin.workers", lang), html.Div(id=ids.ADMIN_WORKERS, className="adm-table-wrap"),
                   "adm-workers-panel"),
        ],
        className="adm-section adm-sec-health",
    )


def _rejection_text(rej: Mapping[str, Any], lang: str) -> str:
    """One rejected event as a line: when, its position and id, the reason per field."""
    errors = rej.get("errors") or {}
    reasons = "; ".join(f"{k}: {v}" for k, v in errors.items()) if isinstance(errors, dict) else str(errors)
    return f"{fmt_dt(rej.get('at'), lang)} · #{rej.get('index')} {rej.get('event_id') or '—'} · {reasons}"


def sources_view(sources: list[Mapping[str, Any]], lang: str) -> Any:
    """One row per data source: state, last event, events per minute, counters, latest rejections."""
    if not sources:
        return html.Div(t("admin.no_sources", lang), className="adm-empty")
    columns = ("admin.source", "admin.state", "admin.last_event", "admin.per_minute", "admin.accepted",
               "admin.rejected", "admin.rejections")
    rows = []
    for s in sources:
        rejections = s.get("rejections") or []
        latest: Any = html.Span("—", className="adm-dim")
        if rejections:
            latest = html.Details([
                html.Summary(t("admin.latest_rejections", lang, n=len(rejections))),
                html.Ul([html.Li(_rejection_text(rej, lang)) for rej in rejections], className="adm-rejections"),
            ])
        age = s.get("age_s")
        rows.append(html.Tr([
            html.Td(html.Code(s["source"])),
            html.Td(html.Span(t(f"admin.source_{s['state']}", lang),
                              className=f"badge text-bg-{STATE_COLOUR.get(s['state'], 'secondary')}")),
            html.Td([fmt_dt(s.get("last_at"), lang),
                     html.Span(f" · {fmt_age(age, lang)}" if age is not None else "", className="adm-dim")],
                    className="adm-numcell"),
            html.Td(fmt_num(s.get("per_minute"), lang, 1), className="adm-numcell"),
            html.Td(fmt_int(s.get("accepted"), lang), className="adm-numcell"),
            html.Td(fmt_int(s.get("rejected"), lang),
                    className="adm-numcell" + (" adm-bad" if s.get("rejected") else "")),
            html.Td(latest),
        ], **data_attrs(source=str(s["source"]))))
    return table(columns, rows, lang)


COUNT_COLUMNS: Final = ("queued", "started", "failed", "finished", "deferred", "scheduled")


def queues_view(queues: list[Mapping[str, Any]], lang: str) -> Any:
    """One row per RQ queue with its registries' counts; the latest failed jobs under the table."""
    columns = ("admin.queue", *(f"admin.q_{k}" for k in COUNT_COLUMNS))
    rows = [html.Tr([html.Td(html.Code(q["name"]))] + [
        html.Td(fmt_int(q[k], lang), className="adm-numcell" + (" adm-bad" if k == "failed" and q[k] else ""))
        for k in COUNT_COLUMNS], **data_attrs(queue=str(q["name"]))) for q in queues]
    failed = [(q["name"], j) for q in queues for j in q.get("failed_jobs") or []]
    out: list[Any] = [table(columns, rows, lang)]
    if failed:
        out.append(html.H3(t("admin.failed_jobs", lang), className="adm-subtitle"))
        out.append(html.Ul([html.Li([html.Code(qn), f" · {fmt_dt(j.get('ended_at'), lang)} · {j.get('func') or '?'}",
                                     html.Div(j.get("error") or "", className="adm-dim adm-error-line")])
                            for qn, j in failed], className="adm-failed"))
    return out


WORKER_STATES: Final = ("busy", "idle", "started", "suspended")


def workers_view(workers: list[Mapping[str, Any]], lang: str) -> Any:
    """One row per RQ worker: state, queues, current job, heartbeat, jobs done and failed."""
    if not workers:
        return html.Div(t("admin.no_workers", lang), className="adm-empty adm-bad")
    columns = ("admin.worker", "admin.state", "admin.queues_of", "admin.current_job", "admin.heartbeat",
               "admin.successful", "admin.q_failed")
    rows = []
    for w in workers:
        state = str(w.get("state") or "?")
        label = t(f"admin.worker_{state}", lang) if state in WORKER_STATES else state
        colour = "danger" if w.get("late") else "success" if state == "busy" else "info"
        late = " adm-bad" if w.get("late") else ""
        rows.append(html.Tr([
            html.Td(html.Code(w["name"])),
            html.Td(html.Span(label, className=f"badge text-bg-{colour}")),
            html.Td(", ".join(w.get("queues") or []), className="adm-dim"),
            html.Td(html.Code(w.get("current_job") or "—")),
            html.Td(fmt_age(w.get("heartbeat_age_s"), lang), className="adm-numcell" + late),
            html.Td(fmt_int(w.get("successful"), lang), className="adm-numcell"),
            html.Td(fmt_int(w.get("failed"), lang), className="adm-numcell" + (" adm-bad" if w.get("failed") else "")),
        ]))
    return table(columns, rows, lang)


def health_stamp(h: Mapping[str, Any], lang: str, now: float) -> str:
    """Tick heartbeat, schedulers and when this was read."""
    tick = fmt_age(h.get("tick_age_s"), lang) if h.get("tick_age_s") is not None else "—"
    return t("admin.health_stamp", lang, tick=tick, n=len(h.get("schedulers") or []), at=fmt_dt(now, lang))
