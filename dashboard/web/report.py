"""The daily report's routes: GET /report (printable page) and GET /report.csv (the tables as CSV).

`/report?day=YYYY-MM-DD&lang=zh|en` (day defaults to today in Beijing, lang to the user's language) renders a
self-contained HTML page from templates/report.html: its CSS (templates/report.css, with print rules) inlined,
charts as inline SVG, one script of ours (the print button) and nothing fetched from elsewhere, so it prints (and
saves as PDF from the browser's print dialogue) as it shows.
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
from flask import Blueprint, Response, jsonify, render_template, request
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy.exc import SQLAlchemyError

from dashboard import store
from dashboard.domain import rules as c
from dashboard.domain.beijing import local_date, utc_datetime
from dashboard.i18n import fmt_date, fmt_pct, fmt_time, name, t
from dashboard.live import history
from dashboard.live.schema import AGG_TRAFFIC
from dashboard.report import build as rp
from dashboard.report import render
from dashboard.report import telemetry as report_telemetry
from dashboard.store.engine import session_scope
from dashboard.store.outage import DATABASE
from dashboard.web.auth import LANGUAGES, current_language
from dashboard.web.extensions import db_sessions, redis_client

log = logging.getLogger(__name__)
# The page's template and its CSS live in dashboard/web/templates (report.html inlines report.css); its one script,
# the print button's, in dashboard/web/static (the Content-Security-Policy refuses inline handlers).
bp = Blueprint("report", __name__, template_folder="templates", static_folder="static",
               static_url_path="/report-assets")

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
    except SQLAlchemyError as exc:
        DATABASE.failed("audit of a refusal", exc)
    lang = _lang()
    html = f"<!doctype html><meta charset=utf-8><title>{escape(t('report.title', lang))}</title>" \
           f"<p>{escape(t('page.forbidden', lang))}</p>"
    return Response(html, status=403, mimetype="text/html")


def _build(day: date, now: float) -> rp.DailyReport:
    """Query the day and build its report (SQLAlchemyError propagates to the caller)."""
    start, end = rp.day_bounds(day)
    with session_scope(db_sessions()) as s:
        incidents = store.reports.incidents_reported(s, utc_datetime(start), utc_datetime(end))
        tickets = store.reports.tickets_received(s, utc_datetime(start), utc_datetime(end))
    traffic, readable = traffic_history(redis_client(), start, end)
    if traffic is None:
        # The history holds nothing of the day, or Redis cannot be read (lost, flushed, away): the durable telemetry
        # in SQL has the same minutes.
        traffic = traffic_from_sql(start, end, now)
        readable = readable or traffic is not None
    return rp.build_report(day, incidents, tickets, now, traffic=traffic, traffic_readable=readable)


def traffic_from_sql(start: float, end: float, now: float) -> rp.TrafficPeaks | None:
    """The day's traffic peaks until the current minute from the per-minute telemetry roll-ups in SQL (None when they
    hold no speed then)."""
    until = min(end, now)
    with session_scope(db_sessions()) as s:
        cells = store.telemetry.cells_between(s, start - report_telemetry.LOOKBACK_S, until,
                                              kinds=(c.TRAFFIC_SPEED,))
    return report_telemetry.traffic_from_rollups(cells, start, until, TOP_CORRIDORS)


def traffic_history(r: redis.Redis, start: float, end: float) -> tuple[rp.TrafficPeaks | None, bool]:
    """The day's traffic peaks from the history snapshots (dashboard.live.history), and whether history was readable.

    Without snapshots of the day there is nothing to report from here: None (the caller then asks the telemetry
    roll-ups in SQL, traffic_from_sql, and the page says so when they have nothing either, rather than showing
    made-up figures). The worst corridors are read from the one
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
    traffic_agg = aggs.get(AGG_TRAFFIC)
    corridors = (traffic_agg.get("corridors") if isinstance(traffic_agg, dict) else None) or []
    worst = tuple(
        rp.CorridorIndex(str(cr.get("name_zh", "")), str(cr.get("name_en", "")), float(cr["index"]))
        for cr in corridors[:TOP_CORRIDORS] if isinstance(cr, dict) and cr.get("index") is not None
    )
    return dataclasses.replace(peaks, corridors=worst), True


def too_many(wait_s: int) -> Response:
    """429 past REPORT_LIMIT_USER: a short page saying how long to wait for the page, JSON for the CSV."""
    lang = _lang()
    reason = t("report.rate_limited", lang, seconds=wait_s)
    if request.path.endswith(".csv"):
        resp = jsonify(error=reason, code="rate_limited", retry_after_s=wait_s)
    else:
        resp = Response(f"<!doctype html><meta charset=utf-8><title>{escape(t('report.title', lang))}</title>"
                        f"<p>{escape(reason)}</p>", mimetype="text/html")
    resp.status_code = 429
    return _no_store(resp)


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
             today=local_date(time.time()).isoformat(), first=rp.FIRST_DAY.isoformat())


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
    except SQLAlchemyError as exc:
        DATABASE.failed("report", exc)
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
    if table is not None and table not in render.TABLE_KEYS:
        resp = jsonify(error=f"unknown table {table[:40]!r}; one of {', '.join(render.TABLE_KEYS)}")
        resp.status_code = 400
        return resp
    try:
        report = _build(day, now)
    except SQLAlchemyError as exc:
        DATABASE.failed("report", exc)
        return _unavailable()
    try:
        text = render.to_csv(report, lang, table)
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
        (render.severity_label(r.severity, lang), [(float(getattr(r, k)), OUTCOME_COLOURS[k]) for k in outcome_keys])
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
        "hotline_subdistricts": ([(render.subdistrict_name(r.key, lang), r.tickets, BAR_COLOUR) for r in subs], None),
        "resolution_subdistricts": ([
            (render.subdistrict_name(r.key, lang), round((r.resolution_rate or 0.0) * 100, 1), "#2e7d32")
            for r in rated
        ], _pct_fmt),
        "sensors": ([
            (render.sensor_label(r.sensor_type, lang), r.incidents, SEV_COLOURS.get(r.most_severe or 4, BAR_COLOUR))
            for r in report.sensors if r.incidents
        ], None),
    }
    for key, (items, fmt) in bars.items():
        out[key] = hbar_chart(t(f"report.chart_{key}", lang), items, fmt, lang)
    if report.traffic is not None:
        out["traffic"] = hourly_chart(t("report.chart_traffic", lang), report.traffic.hourly_max, "#ef6c00")
    return out


# --- the page (templates/report.html, its CSS in templates/report.css) ----------------------------------


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
    tables = {tb.key: tb for tb in render.tables(report, lang)} if report is not None else {}

    def table_url(key: str) -> str:
        """The CSV of one table of the day."""
        return _url("/report.csv", day=day.isoformat(), lang=lang, table=key)

    def mins(seconds: float | None) -> str:
        """"12.5 分钟" / "12.5 min", or "—" without a time."""
        m = render.minutes(seconds)
        return "—" if m is None else t("report.minutes", lang, n=f"{m:,.1f}")

    def big_mins(seconds: float | None) -> Markup:
        """The card's figure in minutes, its unit in small type."""
        # The card's number large and its unit small, so "126.7 分钟" fits a card on a tablet.
        m = render.minutes(seconds)
        if m is None:
            return Markup("—")
        number, _, unit = t("report.minutes", lang, n=f"{m:,.1f}").partition(" ")
        return Markup(f"{escape(number)}<small>{escape(unit)}</small>")

    return render_template(
        "report.html",
        t=t,
        lang=lang,
        report=report,
        total=report.severities[-1] if report is not None else None,
        # Resolved = has a resolution time (resolved, or resolved then closed), as in the times table.
        resolved_total=report.severities[-1].resolution.n if report is not None else 0,
        error=error,
        charts=charts(report, lang) if report is not None else {},
        tables=tables,
        table_url=table_url,
        cell=lambda v: render.cell_text(v, lang),
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
