"""The daily report's routes: GET /report (printable page) and GET /report.csv (the tables as CSV).

`/report?day=YYYY-MM-DD&lang=zh|en` (day defaults to today in Beijing, lang to the user's language) renders a
self-contained HTML page: inline CSS with print rules, charts as inline SVG, no script and nothing fetched
from elsewhere, so it prints (and saves as PDF from the browser's print dialogue) as it shows.
`/report.csv?day=…&lang=…[&table=<key>]` is every table as sections, or one table (keys: report.TABLE_KEYS).

Roles, checked here on the server: leader and admin (the report is the leaders' daily read), and the duty
officer, who already sees the same day's figures live on the wall and writes the shift hand-over from them.
The dispatcher is refused (403, audited): the console is a work queue, and this is the management view that
grades that work. Anonymous requests never get here: the login guard sends them to /login.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import unicodedata
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Final
from urllib.parse import urlencode

import redis
from flask import Blueprint, Response, jsonify, render_template_string, request
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError

from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain.beijing import local_date, utc_datetime
from dashboard.i18n import fmt_date, fmt_pct, fmt_time, name, t
from dashboard.live import history
from dashboard.report import build as rp
from dashboard.store import reports as dal_report
from dashboard.store.engine import session_scope
from dashboard.web.auth import LANGUAGES, current_language
from dashboard.web.extensions import db_sessions, redis_client

log = logging.getLogger(__name__)
bp = Blueprint("report", __name__)

REPORT_ROLES: Final = frozenset({"leader", "admin", "duty"})
SEV_COLOURS: Final = {1: "#d32f2f", 2: "#ef6c00", 3: "#f9a825", 4: "#1e88e5"}
OUTCOME_COLOURS: Final = {"resolved": "#2e7d32", "closed": "#78909c", "cancelled": "#bdbdbd", "open": "#d32f2f"}
BAR_COLOUR: Final = "#1565c0"
# Corridors listed at the day's traffic peak.
TOP_CORRIDORS: Final = 5


# --- request helpers ----------------------------------------------------------------------------------------


def _lang() -> str:
    """?lang= when it names a supported language, else the user's."""
    lang = request.args.get("lang")
    return lang if lang in LANGUAGES else current_language()


def _refusal() -> Response | None:
    """None when the signed-in user may read the report; else 401/403 (a refusal is audited)."""
    if not current_user.is_authenticated:  # the guard answers first; this keeps the route safe on its own
        resp = jsonify(error="authentication required", login="/login")
        resp.status_code = 401
        return resp
    if current_user.role in REPORT_ROLES:
        return None
    try:
        with session_scope(db_sessions()) as s:
            store.audit_log.record(s, str(current_user.username), "report_view", "report", request.args.get("day"),
                                   outcome="refused", detail={"role": str(current_user.role), "path": request.path})
    except SQLAlchemyError:
        log.warning("could not audit a refused report request", exc_info=True)
    lang = _lang()
    html = f"<!doctype html><meta charset=utf-8><title>{escape(t('report.title', lang))}</title>" \
           f"<p>{escape(t('page.forbidden', lang))}</p>"
    return Response(html, status=403, mimetype="text/html")


def _build(day: date, now: float) -> rp.DailyReport:
    """Query the day and build its report (SQLAlchemyError propagates to the caller)."""
    start, end = rp.day_bounds(day)
    with session_scope(db_sessions()) as s:
        incidents = dal_report.incidents_reported(s, utc_datetime(start), utc_datetime(end))
        tickets = dal_report.tickets_received(s, utc_datetime(start), utc_datetime(end))
    traffic, readable = traffic_history(redis_client(), start, end)
    return rp.build_report(day, incidents, tickets, now, traffic=traffic, traffic_readable=readable)


def traffic_history(r: redis.Redis, start: float, end: float) -> tuple[rp.TrafficPeaks | None, bool]:
    """The day's traffic peaks from the history snapshots (dashboard.live.history), and whether history was readable.

    Traffic is telemetry kept in Redis only, so without snapshots of the day there is nothing to report: None,
    and the page says so rather than showing made-up figures. The worst corridors are read from the one
    snapshot of the peak minute (an hourly roll-up holds the hour's last state, not its peak: not used).
    """
    try:
        minutes = history.series(r, "traffic_index", start, end - 1, resolution="minute")
        hours = history.series(r, "traffic_index", start, end - 1, resolution="hour", stat="max")
        peaks = rp.traffic_peaks(minutes, hours, start, end)
        if peaks is None or peaks.peak.hourly:
            return peaks, True
        snap = history.snapshot_at(r, peaks.peak.at, tolerance_s=history.MINUTE_TOLERANCE_S)
    except redis.RedisError:
        log.warning("traffic history unreadable for the daily report", exc_info=True)
        return None, False
    aggs: dict[str, Any] = dict(snap["aggregates"]) if snap is not None else {}
    traffic_agg = aggs.get(c.AGG_TRAFFIC)
    corridors = (traffic_agg.get("corridors") if isinstance(traffic_agg, dict) else None) or []
    worst = tuple(
        rp.CorridorIndex(str(cr.get("name_zh", "")), str(cr.get("name_en", "")), float(cr["index"]))
        for cr in corridors[:TOP_CORRIDORS] if isinstance(cr, dict) and cr.get("index") is not None
    )
    return dataclasses.replace(peaks, corridors=worst), True


def _unavailable() -> Response:
    """503 when the database cannot answer."""
    resp = jsonify(error="database unavailable; retry")
    resp.status_code = 503
    resp.headers["Retry-After"] = "5"
    return resp


def _day_error_text(err: rp.ReportDayError, lang: str) -> str:
    """The localised reason a day was refused."""
    value = (request.args.get("day") or "")[:40]
    return t(f"report.err_{err.code}", lang, value=value,
             today=local_date(time.time()).isoformat())


def _no_store(resp: Response) -> Response:
    """Reports hold operational records: never kept by a shared cache."""
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- routes -------------------------------------------------------------------------------------------------


@bp.get("/report")
def report_page() -> Response:
    """The printable daily report page (400 with a reason for a malformed or future day)."""
    refused = _refusal()
    if refused is not None:
        return refused
    lang = _lang()
    now = time.time()
    try:
        day = rp.parse_day(request.args.get("day"), now)
    except rp.ReportDayError as err:
        html = render_page(None, lang, now, error=_day_error_text(err, lang), role=str(current_user.role))
        return _no_store(Response(html, status=400, mimetype="text/html"))
    try:
        report = _build(day, now)
    except SQLAlchemyError:
        log.exception("daily report query failed")
        return _unavailable()
    html = render_page(report, lang, now, role=str(current_user.role))
    return _no_store(Response(html, mimetype="text/html"))


@bp.get("/report.csv")
def report_csv() -> Response:
    """The report's tables as CSV (UTF-8 with BOM), all as sections or one with ?table=."""
    refused = _refusal()
    if refused is not None:
        return refused
    lang = _lang()
    now = time.time()
    try:
        day = rp.parse_day(request.args.get("day"), now)
    except rp.ReportDayError as err:
        resp = jsonify(error=str(err), code=err.code, reason=_day_error_text(err, lang))
        resp.status_code = 400
        return resp
    table = request.args.get("table") or None
    if table is not None and table not in rp.TABLE_KEYS:
        resp = jsonify(error=f"unknown table {table[:40]!r}; one of {', '.join(rp.TABLE_KEYS)}")
        resp.status_code = 400
        return resp
    try:
        report = _build(day, now)
    except SQLAlchemyError:
        log.exception("daily report query failed")
        return _unavailable()
    try:
        text = rp.to_csv(report, lang, table)
    except KeyError:
        resp = jsonify(error="no traffic history for that day", code="no_traffic")
        resp.status_code = 404
        return resp
    filename = f"dongcheng-report-{day.isoformat()}{'-' + table if table else ''}.csv"
    resp = Response(text.encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _no_store(resp)


# --- charts (inline SVG: no script, no external file, prints sharp) ---------------------------------------


# Chart geometry in viewBox units; the CSS caps the drawn width so the type stays about this size in pixels.
CHART_W: Final = 480
CHART_FONT: Final = 17


def _svg_text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    """One escaped SVG text element."""
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def _text_width(text: str) -> float:
    """Rough drawn width of a label at CHART_FONT: CJK characters are square, Latin ones about half as wide."""
    return sum(CHART_FONT if unicodedata.east_asian_width(ch) in "WF" else CHART_FONT * 0.56 for ch in text)


def _label_width(labels: Sequence[str]) -> float:
    """Room for the longest label, at most 45 % of the chart."""
    return min(max((_text_width(lb) for lb in labels), default=0) + 12, CHART_W * 0.45)


def _svg_open(title: str, height: float) -> list[str]:
    """The opening of a chart: its box and an accessible title."""
    return [f'<svg class="chart" viewBox="0 0 {CHART_W} {height:.0f}" role="img" aria-label="{escape(title)}">',
            f"<title>{escape(title)}</title>"]


def hbar_chart(title: str, items: Sequence[tuple[str, float, str]], fmt: Any = None, lang: str = "zh") -> Markup:
    """Horizontal bars: (label, value, colour) per row, values printed at the bar ends; "none" without rows."""
    if not items:
        return Markup(f'<p class="note">{escape(t("report.none", lang))}</p>')
    fmt = fmt or (lambda v: f"{v:,.0f}")
    row_h, value_w = 30, 60
    label_w = _label_width([lb for lb, _, _ in items])
    top = max(v for _, v, _ in items) or 1
    parts = _svg_open(title, row_h * len(items) + 8)
    for i, (label, value, colour) in enumerate(items):
        y = 4 + i * row_h
        w = (CHART_W - label_w - value_w) * value / top
        parts.append(_svg_text(label_w - 8, y + row_h * 0.68, label, "end"))
        parts.append(f'<rect x="{label_w:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}"/>')
        parts.append(_svg_text(label_w + w + 6, y + row_h * 0.68, fmt(value), cls="v"))
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_chart(title: str, rows: Sequence[tuple[str, Sequence[tuple[float, str]]]]) -> Markup:
    """Horizontal stacked bars: (label, [(value, colour), …]) per row, the total printed at the end."""
    row_h, value_w = 34, 50
    label_w = _label_width([lb for lb, _ in rows])
    top = max((sum(v for v, _ in segs) for _, segs in rows), default=0) or 1
    parts = _svg_open(title, row_h * max(1, len(rows)) + 8)
    for i, (label, segs) in enumerate(rows):
        y = 4 + i * row_h
        x = label_w
        parts.append(_svg_text(label_w - 8, y + row_h * 0.66, label, "end"))
        for value, colour in segs:
            w = (CHART_W - label_w - value_w) * value / top
            if w > 0:
                parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}"/>')
            x += w
        parts.append(_svg_text(x + 6, y + row_h * 0.66, f"{sum(v for v, _ in segs):,.0f}", cls="v"))
    parts.append("</svg>")
    return Markup("".join(parts))


def hourly_chart(title: str, values: Sequence[float | None], colour: str = BAR_COLOUR) -> Markup:
    """24 columns, one per Beijing hour; an hour without data (None) is left empty."""
    height, left, bottom, top_pad = 190, 4, 24, 22
    col_w = (CHART_W - 2 * left) / 24
    top = max((v for v in values if v is not None), default=0) or 1
    plot_h = height - bottom - top_pad
    parts = _svg_open(title, height)
    for h, v in enumerate(values):
        x = left + h * col_w
        if v is not None and v > 0:
            bh = plot_h * v / top
            y = top_pad + plot_h - bh
            parts.append(f'<rect x="{x + 1.5:.1f}" y="{y:.1f}" width="{col_w - 3:.1f}" height="{bh:.1f}" '
                         f'fill="{colour}"/>')
            parts.append(_svg_text(x + col_w / 2, y - 4, f"{v:,.0f}" if float(v).is_integer() else f"{v:.1f}",
                                   "middle", "v small"))
        if h % 3 == 0:
            parts.append(_svg_text(x + col_w / 2, height - 5, f"{h:02d}", "middle", "small"))
    parts.append(f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{CHART_W - left}" y2="{top_pad + plot_h}" '
                 'stroke="#9e9e9e"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _pct_fmt(value: float) -> str:
    """A 0–100 value as a percentage."""
    return f"{value:.1f}%"


def charts(report: rp.DailyReport, lang: str) -> dict[str, Markup]:
    """Every chart of the page, keyed by where it goes; bar lists without data say "none"."""
    out: dict[str, Markup] = {}
    outcome_keys = ("resolved", "closed", "cancelled", "open")
    out["severity"] = stacked_chart(t("report.chart_severity", lang), [
        (rp.severity_label(r.severity, lang), [(float(getattr(r, k)), OUTCOME_COLOURS[k]) for k in outcome_keys])
        for r in report.severities[:-1]
    ])
    out["incidents_hourly"] = hourly_chart(t("report.chart_incidents_hourly", lang), report.incidents_hourly,
                                           "#c62828")
    out["tickets_hourly"] = hourly_chart(t("report.chart_tickets_hourly", lang), report.tickets_hourly)
    cats = sorted(((k, n) for k, n in report.incidents_by_category.items() if n), key=lambda kv: -kv[1])
    hl_cats = sorted((r for r in report.hotline_by_category if r.tickets), key=lambda r: -r.tickets)
    subs = sorted((r for r in report.hotline_by_subdistrict if r.tickets), key=lambda r: -r.tickets)
    rated = sorted((r for r in report.hotline_by_subdistrict if r.resolution_rate is not None),
                   key=lambda r: r.resolution_rate or 0.0)
    bars: dict[str, tuple[list[tuple[str, float, str]], Any]] = {
        "incident_categories": ([(name("inc_cat", k, lang), n, "#c62828") for k, n in cats], None),
        "hotline_categories": ([(name("hl_cat", r.key, lang), r.tickets, BAR_COLOUR) for r in hl_cats], None),
        "hotline_subdistricts": ([(rp.subdistrict_name(r.key, lang), r.tickets, BAR_COLOUR) for r in subs], None),
        "resolution_subdistricts": ([
            (rp.subdistrict_name(r.key, lang), round((r.resolution_rate or 0.0) * 100, 1), "#2e7d32")
            for r in rated
        ], _pct_fmt),
        "sensors": ([
            (rp.sensor_label(r.sensor_type, lang), r.incidents, SEV_COLOURS.get(r.most_severe or 4, BAR_COLOUR))
            for r in report.sensors if r.incidents
        ], None),
    }
    for key, (items, fmt) in bars.items():
        out[key] = hbar_chart(t(f"report.chart_{key}", lang), items, fmt, lang)
    if report.traffic is not None:
        out["traffic"] = hourly_chart(t("report.chart_traffic", lang), report.traffic.hourly_max, "#ef6c00")
    return out


# --- the page -----------------------------------------------------------------------------------------------

PAGE_CSS: Final = """
:root { --ink:#1a1a1a; --muted:#5f6368; --line:#d7dce3; --bg:#f5f7fa; --card:#fff; --accent:#1565c0; }
* { box-sizing: border-box; }
html { font-size: 18px; -webkit-text-size-adjust: 100%; }
body.report-page { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.5;
  font-family: "Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "Source Han Sans SC", "Hiragino Sans GB",
  system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
.report { max-width: 1200px; margin: 0 auto; padding: 16px 20px 40px; }
.report-head h1 { font-size: 1.9rem; margin: 0.2em 0 0.1em; }
.report-head .sub { color: var(--muted); font-size: 1.05rem; }
.in-progress { display: inline-block; margin-left: .4em; padding: 0 .5em; border-radius: 4px;
  background: #fff3e0; color: #e65100; font-size: .95rem; }
.tools { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 14px 0 6px; }
.tools form { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.tools input[type=date] { font-size: 1rem; padding: 8px 10px; min-height: 48px; border: 1px solid var(--line);
  border-radius: 6px; }
.btn { display: inline-flex; align-items: center; justify-content: center; min-height: 48px; padding: 8px 16px;
  font-size: 1rem; border-radius: 6px; border: 1px solid var(--accent); color: var(--accent); background: #fff;
  text-decoration: none; cursor: pointer; font-family: inherit; }
.btn.primary { background: var(--accent); color: #fff; }
.print-hint { color: var(--muted); font-size: .9rem; margin: 4px 0 0; }
.notice { padding: 16px 20px; border-radius: 8px; margin: 16px 0; font-size: 1.15rem; }
.notice.empty { background: #e3f2fd; border: 1px solid #90caf9; }
.notice.error { background: #ffebee; border: 1px solid #ef9a9a; color: #b71c1c; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 16px 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .k { color: var(--muted); font-size: .95rem; }
.card .n { font-size: 2.1rem; font-weight: 700; line-height: 1.2; }
.card .s { color: var(--muted); font-size: .85rem; }
section.block { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px;
  margin: 18px 0; }
section.block h2 { font-size: 1.45rem; margin: 0 0 .4em; }
h3 { font-size: 1.1rem; margin: 1em 0 .3em; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.note { color: var(--muted); font-size: .92rem; margin: .3em 0; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-size: 1rem; }
th, td { padding: 8px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
thead th { white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eef2f7; font-weight: 600; }
tbody tr:last-child td { font-weight: 700; border-top: 2px solid #9aa5b1; }
.csv-link { font-size: .9rem; margin-left: .6em; font-weight: 400; }
svg.chart { width: 100%; max-width: 640px; height: auto; display: block; font-size: 17px; fill: var(--ink); }
svg.chart .v { font-weight: 600; }
svg.chart .small { font-size: 13px; }
.card .n small { font-size: 1rem; font-weight: 400; margin-left: .15em; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: .9rem; color: var(--muted); }
.legend i { display: inline-block; width: 14px; height: 14px; border-radius: 3px; margin-right: 5px;
  vertical-align: -2px; }
footer { color: var(--muted); font-size: .9rem; margin-top: 24px; }
@media (max-width: 820px) {
  html { font-size: 17px; }
  .grid2 { grid-template-columns: 1fr; }
  .report { padding: 10px 12px 30px; }
}
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  html { font-size: 11pt; }
  body.report-page { background: #fff; }
  .no-print { display: none !important; }
  .report { max-width: none; padding: 0; }
  section.block, .card { border: 1px solid #bbb; break-inside: avoid; page-break-inside: avoid; }
  section.block { padding: 8px 10px; margin: 10px 0; }
  .grid2 { grid-template-columns: 1fr 1fr; }
  table { font-size: 9.5pt; }
  svg.chart { max-width: 110mm; }
  th, td { padding: 3px 6px; }
  tr { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

PAGE_TEMPLATE: Final = """<!doctype html>
<html lang="{{ 'zh-CN' if lang == 'zh' else 'en' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t('report.title', lang) }}{% if report %} · {{ report.day.isoformat() }}{% endif %}</title>
<style>{{ css }}</style>
</head><body class="report-page">
<main class="report">
<header class="report-head">
  <h1>{{ t('report.title', lang) }}</h1>
  {% if report %}
  <div class="sub">{{ date_text }} · {{ t('report.beijing_time', lang) }} ·
    {{ t('report.as_of', lang) }} {{ as_of_text }}
    {% if report.in_progress %}<span class="in-progress">{{ t('report.in_progress', lang) }}</span>{% endif %}
  </div>
  {% endif %}
  <nav class="tools no-print">
    <form method="get" action="/report">
      <label for="report-day">{{ t('report.pick_day', lang) }}</label>
      <input type="date" id="report-day" name="day" value="{{ day_value }}" max="{{ today }}" required>
      <input type="hidden" name="lang" value="{{ lang }}">
      <button class="btn primary" type="submit">{{ t('report.show', lang) }}</button>
    </form>
    {% if prev_url %}<a class="btn" href="{{ prev_url }}">{{ t('report.prev_day', lang) }}</a>{% endif %}
    {% if next_url %}<a class="btn" href="{{ next_url }}">{{ t('report.next_day', lang) }}</a>{% endif %}
    {% if report %}<a class="btn" id="report-csv" href="{{ csv_url }}">{{ t('report.download_csv', lang) }}</a>
    <button class="btn" type="button" onclick="window.print()">{{ t('report.print', lang) }}</button>{% endif %}
    <a class="btn" href="{{ other_lang_url }}">{{ t('report.other_lang', lang) }}</a>
    <a class="btn" href="{{ home }}">{{ t('report.back', lang) }}</a>
  </nav>
  <p class="print-hint no-print">{{ t('report.pdf_hint', lang) }}</p>
</header>

{% if error %}
<div class="notice error" role="alert" id="report-error">{{ error }}</div>
{% else %}
{% if report.empty %}
<div class="notice empty" role="status" id="report-empty">{{ t('report.no_data', lang) }}</div>
{% endif %}

<div class="cards" id="report-summary">
  <div class="card"><div class="k">{{ t('report.kpi_incidents', lang) }}</div>
    <div class="n">{{ report.incidents_total }}</div>
    <div class="s">{{ t('report.kpi_incidents_sub', lang, open=total.open, resolved=resolved_total) }}</div></div>
  <div class="card"><div class="k">{{ t('report.kpi_response', lang) }}</div>
    <div class="n">{{ big_mins(total.response.median_s) }}</div>
    <div class="s">{{ t('report.kpi_p90', lang, v=mins(total.response.p90_s)) }}</div></div>
  <div class="card"><div class="k">{{ t('report.kpi_resolution', lang) }}</div>
    <div class="n">{{ big_mins(total.resolution.median_s) }}</div>
    <div class="s">{{ t('report.kpi_p90', lang, v=mins(total.resolution.p90_s)) }}</div></div>
  <div class="card"><div class="k">{{ t('report.kpi_tickets', lang) }}</div>
    <div class="n">{{ report.hotline.tickets }}</div>
    <div class="s">{{ t('report.kpi_tickets_sub', lang, n=report.hotline.overdue) }}</div></div>
  <div class="card"><div class="k">{{ t('kpi.response', lang) }}</div>
    <div class="n">{{ pct(report.hotline.response_rate) }}</div>
    <div class="s">{{ report.hotline.response_num }} / {{ report.hotline.response_den }}</div></div>
  <div class="card"><div class="k">{{ t('kpi.resolution', lang) }}</div>
    <div class="n">{{ pct(report.hotline.resolution_rate) }}</div>
    <div class="s">{{ report.hotline.resolution_num }} / {{ report.hotline.resolution_den }}</div></div>
  <div class="card"><div class="k">{{ t('kpi.satisfaction', lang) }}</div>
    <div class="n">{{ pct(report.hotline.satisfaction_rate) }}</div>
    <div class="s">{{ report.hotline.satisfaction_num }} / {{ report.hotline.satisfaction_den }}</div></div>
  <div class="card"><div class="k">{{ t('report.kpi_sensor', lang) }}</div>
    <div class="n">{{ report.sensor_incidents_total }}</div>
    <div class="s">{{ t('report.kpi_sensor_sub', lang) }}</div></div>
</div>

{% if not report.empty %}
<section class="block" id="report-incidents">
  <h2>{{ t('report.sec_incidents', lang) }}</h2>
  <p class="note">{{ t('report.note_incidents', lang) }}</p>
  <div class="grid2">
    <div><h3>{{ t('report.chart_severity', lang) }}</h3>{{ charts.severity }}
      <div class="legend">{% for k, colour in outcomes %}
        <span><i style="background:{{ colour }}"></i>{{ t('report.outcome_' + k, lang) }}</span>
      {% endfor %}</div></div>
    <div><h3>{{ t('report.chart_incidents_hourly', lang) }}</h3>{{ charts.incidents_hourly }}</div>
  </div>
  {{ table('incidents_by_severity') }}
  {{ table('incident_times') }}
  <p class="note">{{ t('report.note_times', lang) }}</p>
  <div class="grid2">
    <div>{{ table('incidents_by_category') }}</div>
    <div><h3>{{ t('report.chart_incident_categories', lang) }}</h3>
      {{ charts.incident_categories }}</div>
  </div>
</section>

<section class="block" id="report-hotline">
  <h2>{{ t('report.sec_hotline', lang) }}</h2>
  <p class="note">{{ t('report.note_rates', lang, h=response_h) }}</p>
  <div class="grid2">
    <div><h3>{{ t('report.chart_tickets_hourly', lang) }}</h3>{{ charts.tickets_hourly }}</div>
    <div><h3>{{ t('report.chart_hotline_categories', lang) }}</h3>
      {{ charts.hotline_categories }}</div>
  </div>
  {{ table('hotline_by_category') }}
  <div class="grid2">
    <div><h3>{{ t('report.chart_hotline_subdistricts', lang) }}</h3>
      {{ charts.hotline_subdistricts }}</div>
    <div><h3>{{ t('report.chart_resolution_subdistricts', lang) }}</h3>
      {{ charts.resolution_subdistricts }}</div>
  </div>
  {{ table('hotline_by_subdistrict') }}
</section>

<section class="block" id="report-sensors">
  <h2>{{ t('report.sec_sensors', lang) }}</h2>
  <p class="note">{{ t('report.note_sensors', lang) }}</p>
  {{ charts.sensors }}
  {{ table('sensor_incidents') }}
</section>

<section class="block" id="report-traffic">
  <h2>{{ t('report.sec_traffic', lang) }}</h2>
  {% if report.traffic %}
  <p class="note">{{ t('report.note_traffic', lang, n=report.traffic.points) }}</p>
  {{ charts.traffic }}
  {{ table('traffic_peaks') }}
  {% else %}
  <p class="notice empty" id="report-no-traffic">{{ t('report.no_traffic' if report.traffic_readable
    else 'report.traffic_unavailable', lang) }}</p>
  {% endif %}
</section>
{% endif %}{# an empty day: the notice and the zero cards say it all; the CSV still has the zero tables #}
{% endif %}

<footer>
  <p>{{ t('report.footer', lang) }}</p>
  <p>{{ t('report.generated', lang, at=generated) }}</p>
</footer>
</main></body></html>"""

TABLE_TEMPLATE: Final = """<h3 id="tbl-{{ tb.key }}">{{ tb.title }}
<a class="csv-link no-print" href="{{ url }}">CSV</a></h3>
<div class="table-wrap"><table data-table="{{ tb.key }}"><thead><tr>
{% for col in tb.columns %}<th scope="col">{{ col }}</th>{% endfor %}</tr></thead><tbody>
{% for row in tb.rows %}<tr>{% for v in row %}<td>{{ cell(v) }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div>"""


def _url(path: str, **params: str) -> str:
    """A local URL with its query."""
    return f"{path}?{urlencode(params)}"


def render_page(report: rp.DailyReport | None, lang: str, now: float, error: str | None = None,
                role: str = "") -> str:
    """The HTML of the report page (or of the day-picking page with an error when `report` is None)."""
    today = local_date(now)
    day = report.day if report is not None else today
    prev_url = next_url = csv_url = None
    if report is not None:
        prev_url = _url("/report", day=(day - timedelta(days=1)).isoformat(), lang=lang)
        if day < today:
            next_url = _url("/report", day=(day + timedelta(days=1)).isoformat(), lang=lang)
        csv_url = _url("/report.csv", day=day.isoformat(), lang=lang)
    other = "en" if lang == "zh" else "zh"
    other_lang_url = _url("/report", day=day.isoformat(), lang=other)
    by_key = {tb.key: tb for tb in rp.tables(report, lang)} if report is not None else {}

    def table(key: str) -> Markup:
        tb = by_key.get(key)
        if tb is None:
            return Markup("")
        url = _url("/report.csv", day=day.isoformat(), lang=lang, table=key)
        return Markup(render_template_string(TABLE_TEMPLATE, tb=tb, url=url,
                                             cell=lambda v: rp.cell_text(v, lang)))

    def mins(seconds: float | None) -> str:
        m = rp.minutes(seconds)
        return "—" if m is None else t("report.minutes", lang, n=f"{m:,.1f}")

    def big_mins(seconds: float | None) -> Markup:
        # The card's number large and its unit small, so "126.7 分钟" fits a card on a tablet.
        m = rp.minutes(seconds)
        if m is None:
            return Markup("—")
        number, _, unit = t("report.minutes", lang, n=f"{m:,.1f}").partition(" ")
        return Markup(f"{escape(number)}<small>{escape(unit)}</small>")

    return render_template_string(
        PAGE_TEMPLATE,
        t=t,
        lang=lang,
        css=Markup(PAGE_CSS),
        report=report,
        total=report.severities[-1] if report is not None else None,
        # Resolved = has a resolution time (resolved, or resolved then closed), as in the times table.
        resolved_total=report.severities[-1].resolution.n if report is not None else 0,
        error=error,
        charts=charts(report, lang) if report is not None else {},
        table=table,
        mins=mins,
        big_mins=big_mins,
        pct=lambda r: fmt_pct(r, lang),
        outcomes=list(OUTCOME_COLOURS.items()),
        response_h=c.HOTLINE_RESPONSE_H,
        date_text=fmt_date(rp.day_bounds(day)[0] + 1, lang),
        as_of_text=f"{fmt_date(now, lang)} {fmt_time(now, lang, seconds=False)}",
        day_value=day.isoformat(),
        today=today.isoformat(),
        prev_url=prev_url,
        next_url=next_url,
        csv_url=csv_url,
        other_lang_url=other_lang_url,
        home=c.ROLE_HOME.get(role, "/wall"),
        generated=f"{fmt_date(now, lang)} {fmt_time(now, lang)}",
    )
