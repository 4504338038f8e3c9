"""The daily report: figures checked against independent SQL on generated data (SQLite and PostgreSQL), the CSV,
the page in both languages, an empty day, bad days and roles."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import re
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis
from markupsafe import escape
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from dashboard import i18n
from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import local_date, utc_datetime
from dashboard.live import history, keys
from dashboard.report import build as rp
from dashboard.report import render
from dashboard.store.engine import session_scope
from dashboard.store.models import AuditLog, HotlineTicket, Incident, Sensor
from dashboard.store.reports import TicketRow
from dashboard.web.extensions import db_sessions
from tests.helpers import login
from workers.hotline import compute_hotline

# A day long past: every ticket's response window (2 h) and deadline (at most 168 h) is over, so both rate
# denominators are every ticket of the day and the SQL below needs no "now".
DAY = date(2025, 6, 10)
START, END = rp.day_bounds(DAY)
LON, LAT = 116.4170, 39.9240
SUBS = [s.code for s in geo.subdistricts()]
# Registered sensors (the report takes the type from the registry) and one sensor id that is not registered.
SENSORS = {"pole-9:gas": "gas", "pole-9:water_level": "water_level", "pole-4:pm25": "pm25"}
UNREGISTERED = "pole-x:manhole_tilt"


def _dt(ts: float | None) -> datetime | None:
    """Aware UTC datetime of an epoch time (None passes)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _incident(n: int, ts: float, rng: random.Random) -> Incident:
    """One incident with consistent clocks for a random state."""
    state = rng.choice(c.INCIDENT_STATES)
    sev = rng.choice(c.SEVERITIES)
    ack = res = closed = None
    if state != "new" and not (state == "cancelled" and rng.random() < 0.5):
        ack = ts + rng.randint(20, 3600)
    if state in ("resolved", "closed") and not (state == "closed" and rng.random() < 0.2):
        res = (ack or ts) + rng.randint(60, 4 * 3600)
    if state in ("closed", "cancelled"):
        closed = (res or ack or ts) + rng.randint(60, 600)
    category = rng.choice(c.INCIDENT_CATEGORIES)
    source, sensor_id = "test", None
    if rng.random() < 0.25:  # sensor-linked: from the centre's alarm check or from a source system
        sensor_id = rng.choice([*SENSORS, UNREGISTERED])
        source = rng.choice([c.SENSOR_ALARM_SOURCE, "test"])
        if sensor_id == UNREGISTERED:
            category = "utility"  # its rule's category: the report infers manhole_tilt from it
    sub = SUBS[n % len(SUBS)]
    return Incident(
        source=source, external_id=f"e{n}", category=category, severity=sev, title=f"事件 {n}", state=state,
        lon=LON, lat=LAT, subdistrict=sub, cell="r01c01", sensor_id=sensor_id, reported_at=_dt(ts),
        created_at=_dt(ts), updated_at=_dt(ts), deadline_at=_dt(ts + c.INCIDENT_DEADLINE_MIN[sev] * 60),
        acknowledged_at=_dt(ack), resolved_at=_dt(res), closed_at=_dt(closed),
    )


def _ticket(n: int, ts: float, rng: random.Random) -> HotlineTicket:
    """One ticket: responded (sometimes late, once exactly at the limit), resolved and rated at random."""
    category = rng.choice(c.HOTLINE_CATEGORIES)
    responded = resolved = None
    satisfied: bool | None = None
    if rng.random() < 0.85:
        responded = ts + (c.HOTLINE_RESPONSE_H * 3600 if n % 37 == 0 else rng.randint(60, 4 * 3600))
        if rng.random() < 0.7:
            resolved = responded + rng.randint(600, 30 * 3600)
            satisfied = rng.choice([None, True, True, False])
    sub = SUBS[(n * 5) % (len(SUBS) - 3)]  # the last three subdistricts get no ticket: their rows stay empty
    return HotlineTicket(
        source="test", ticket_id=f"t{n}", category=category, summary="诉求", lon=LON, lat=LAT, subdistrict=sub,
        cell="r01c01", status="resolved" if resolved else "responded" if responded else "received",
        received_at=_dt(ts), deadline_at=_dt(ts + c.HOTLINE_DEADLINE_H[category] * 3600),
        responded_at=_dt(responded), resolved_at=_dt(resolved), satisfied=satisfied,
    )


def seed_day(sessions: sessionmaker[Session], seed: int = 4) -> None:
    """A day of incidents and tickets with known outcomes, plus records just outside the day (whole seconds)."""
    rng = random.Random(seed)
    edges = [START, END - 1, START - 1, END]  # the first two are in the day, the last two are not
    inc_times = edges + [START + rng.randrange(86_400) for _ in range(90)]
    tk_times = edges + [START + rng.randrange(86_400) for _ in range(260)]
    with session_scope(sessions) as s:
        s.add_all(Sensor(id=sid, type=st, pole_id=sid.split(":")[0], lon=LON, lat=LAT, subdistrict=SUBS[0])
                  for sid, st in SENSORS.items())
        s.add_all(_incident(n, ts, rng) for n, ts in enumerate(inc_times))
        s.add_all(_ticket(n, ts, rng) for n, ts in enumerate(tk_times))


@pytest.fixture
def seeded(app: Any) -> Iterator[sessionmaker[Session]]:
    """The app's database with the generated day."""
    with app.app_context():
        sessions = db_sessions()
    seed_day(sessions)
    yield sessions


def build(sessions: sessionmaker[Session], day: date = DAY, now: float | None = None) -> rp.DailyReport:
    """The report as the route builds it, straight from the data-access functions."""
    from dashboard.store import reports as dal_report

    start, end = rp.day_bounds(day)
    with session_scope(sessions) as s:
        incs = dal_report.incidents_reported(s, utc_datetime(start), utc_datetime(end))
        tks = dal_report.tickets_received(s, utc_datetime(start), utc_datetime(end))
    return rp.build_report(day, incs, tks, time.time() if now is None else now)


# --- independent SQL --------------------------------------------------------------------------------------------


def _in_day(col: Any) -> ColumnElement[bool]:
    """The column's time lies in the Beijing day DAY."""
    return and_(col >= _dt(START), col < _dt(END))


def _count(s: Session, *where: Any) -> int:
    """COUNT(*) of the incidents or tickets matching `where` (the table comes from the columns)."""
    return int(s.scalar(select(func.count()).where(*where)) or 0)


def _seconds(s: Session, a: Any, b: Any) -> Any:
    """SQL for b − a in seconds, per dialect."""
    if s.get_bind().dialect.name == "sqlite":
        return (func.julianday(b) - func.julianday(a)) * 86_400.0
    return func.extract("epoch", b - a)


def _sql_quantiles(s: Session, a: Any, b: Any, *where: Any) -> tuple[int, float | None, float | None]:
    """(n, median, p90) of b − a in seconds: PostgreSQL's percentile_cont, or Python's statistics on SQLite."""
    diff = _seconds(s, a, b)
    cond = [*where, a.is_not(None), b.is_not(None)]
    if s.get_bind().dialect.name == "postgresql":
        n, med, p90 = s.execute(select(
            func.count(), func.percentile_cont(0.5).within_group(diff), func.percentile_cont(0.9).within_group(diff),
        ).where(*cond)).one()
        return int(n), (None if med is None else float(med)), (None if p90 is None else float(p90))
    values = [float(v) for v in s.scalars(select(diff).where(*cond))]
    if len(values) < 2:
        return len(values), (values[0] if values else None), (values[0] if values else None)
    return len(values), statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[8]


def test_incident_figures_agree_with_sql(seeded: sessionmaker[Session]) -> None:
    report = build(seeded)
    inc = Incident
    with session_scope(seeded) as s:
        day = _in_day(inc.reported_at)
        assert report.incidents_total == _count(s, day) == 92  # 90 inside plus the two edges inside
        for row in report.severities:
            sev = [] if row.severity is None else [inc.severity == row.severity]
            assert row.total == _count(s, day, *sev)
            assert row.resolved == _count(s, day, *sev, inc.state == "resolved")
            assert row.closed == _count(s, day, *sev, inc.state == "closed")
            assert row.cancelled == _count(s, day, *sev, inc.state == "cancelled")
            assert row.open == _count(s, day, *sev, inc.state.in_(c.INCIDENT_OPEN_STATES))
            assert row.resolved + row.closed + row.cancelled + row.open == row.total
            for got, (a, b) in ((row.response, (inc.reported_at, inc.acknowledged_at)),
                                (row.resolution, (inc.reported_at, inc.resolved_at))):
                n, med, p90 = _sql_quantiles(s, a, b, day, *sev)
                assert got.n == n
                assert got.median_s == pytest.approx(med, abs=0.01)
                assert got.p90_s == pytest.approx(p90, abs=0.01)
        for cat, n in report.incidents_by_category.items():
            assert n == _count(s, day, inc.category == cat)
        assert sum(report.incidents_hourly) == report.incidents_total
        assert report.incidents_hourly[0] >= 1 and report.incidents_hourly[23] >= 1  # the two edges

        linked = [day, inc.sensor_id.is_not(None)]
        assert report.sensor_incidents_total == _count(s, *linked)
        by_type = {r.sensor_type: r for r in report.sensors}
        # The type comes from the registry by a join written here independently, or for the unregistered
        # sensor from its incident's category.
        for st in ("gas", "water_level", "pm25"):
            q = select(func.count(), func.min(inc.severity)).select_from(inc).join(
                Sensor, Sensor.id == inc.sensor_id).where(*linked, Sensor.type == st)
            n, worst = s.execute(q).one()
            assert (by_type[st].incidents, by_type[st].most_severe) == (n, worst)
            assert by_type[st].auto_created == int(s.scalar(
                select(func.count()).select_from(inc).join(Sensor, Sensor.id == inc.sensor_id)
                .where(*linked, Sensor.type == st, inc.source == c.SENSOR_ALARM_SOURCE)) or 0)
            assert by_type[st].open == int(s.scalar(
                select(func.count()).select_from(inc).join(Sensor, Sensor.id == inc.sensor_id)
                .where(*linked, Sensor.type == st, inc.state.in_(c.INCIDENT_OPEN_STATES))) or 0)
        assert by_type["manhole_tilt"].incidents == _count(s, *linked, inc.sensor_id == UNREGISTERED)
        assert by_type["noise"].incidents == by_type["cold_chain_temp"].incidents == 0
    assert report.sensor_incidents_total > 0 and by_type["manhole_tilt"].incidents > 0


def test_hotline_figures_agree_with_sql(seeded: sessionmaker[Session]) -> None:
    report = build(seeded)
    tk = HotlineTicket
    with session_scope(seeded) as s:
        day = _in_day(tk.received_at)
        on_time = and_(tk.responded_at.is_not(None),
                       _seconds(s, tk.received_at, tk.responded_at) <= c.HOTLINE_RESPONSE_H * 3600 + 0.001)

        def expect(*where: Any) -> dict[str, Any]:
            n = _count(s, day, *where)
            resolved = _count(s, day, *where, tk.resolved_at.is_not(None))
            rated = _count(s, day, *where, tk.satisfied.is_not(None))
            happy = _count(s, day, *where, tk.satisfied.is_(True))
            return {
                "tickets": n,
                "response": None if not n else round(_count(s, day, *where, on_time) / n, 4),
                "resolution": None if not n else round(resolved / n, 4),
                "satisfaction": None if not rated else round(happy / rated, 4),
                "unresolved": n - resolved,
            }

        def got(r: rp.HotlineRow) -> dict[str, Any]:
            return {"tickets": r.tickets, "response": r.response_rate, "resolution": r.resolution_rate,
                    "satisfaction": r.satisfaction_rate, "unresolved": r.unresolved}

        assert got(report.hotline) == expect()
        assert report.hotline.tickets == 262
        assert report.hotline.overdue == report.hotline.unresolved  # every deadline of that day has passed
        assert [r.key for r in report.hotline_by_subdistrict] == SUBS
        for r in report.hotline_by_subdistrict:
            assert got(r) == expect(tk.subdistrict == r.key), r.key
        assert [r.tickets for r in report.hotline_by_subdistrict[-3:]] == [0, 0, 0]
        assert [r.key for r in report.hotline_by_category] == list(c.HOTLINE_CATEGORIES)
        for r in report.hotline_by_category:
            assert got(r) == expect(tk.category == r.key), r.key
        assert sum(report.tickets_hourly) == 262
    # The ticket responded exactly at the 2 h limit counts as on time, as on the wall.
    assert report.hotline.response_num > 0 and report.hotline.response_den == 262


def test_rates_agree_with_the_wall_for_today() -> None:
    # The wall's hotline aggregate and the report computed from the same rows at the same moment.
    now = datetime(2026, 11, 25, 7, 30, tzinfo=UTC).timestamp()  # 15:30 in Beijing
    day0 = rp.day_bounds(local_date(now))[0]
    rng = random.Random(9)
    rows = []
    for n in range(400):
        received = day0 - 86_400 + rng.randrange(86_400 + int(now - day0))  # yesterday and today so far
        cat = rng.choice(c.HOTLINE_CATEGORIES)
        responded = received + rng.randint(60, 3 * 3600) if rng.random() < 0.8 else None
        responded = responded if responded is None or responded <= now else None
        resolved = responded + rng.randint(60, 6 * 3600) if responded and rng.random() < 0.6 else None
        resolved = resolved if resolved is None or resolved <= now else None
        rows.append(TicketRow(cat, SUBS[n % len(SUBS)], "r01c01", utc_datetime(received),
                                 utc_datetime(received + c.HOTLINE_DEADLINE_H[cat] * 3600 / (8 if n % 3 else 1)),
                                 _dt(responded), _dt(resolved), rng.choice([None, True, False]) if resolved else None))
    wall = compute_hotline(rows, overdue=0, now=now)
    report = rp.build_report(local_date(now), [], rows, now)
    assert report.hotline.tickets == wall["today_total"]
    assert report.hotline.response_rate == wall["response_rate"]
    assert report.hotline.resolution_rate == wall["resolution_rate"]
    assert report.hotline.satisfaction_rate == wall["satisfaction_rate"]
    assert {r.key: r.tickets for r in report.hotline_by_category} == wall["by_category"]
    assert {r.key: r.tickets for r in report.hotline_by_subdistrict} == wall["by_subdistrict"]
    assert list(report.tickets_hourly) == wall["hourly"]
    # Some tickets are still inside their response window or before their deadline: not counted yet.
    assert report.hotline.response_den < report.hotline.tickets
    assert report.hotline.resolution_den < report.hotline.tickets
    assert report.in_progress


# --- pure parts ---------------------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert rp.percentile([], 0.5) is None
    assert rp.percentile([7.0], 0.9) == 7.0
    assert rp.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert rp.percentile(range(1, 11), 0.9) == pytest.approx(9.1)
    xs = [random.Random(1).random() for _ in range(101)]
    assert rp.percentile(xs, 0.9) == pytest.approx(statistics.quantiles(xs, n=10, method="inclusive")[8])


def test_parse_day() -> None:
    now = datetime(2026, 11, 24, 16, 30, tzinfo=UTC).timestamp()  # 00:30 on the 25th in Beijing
    assert rp.parse_day(None, now) == date(2026, 11, 25)
    assert rp.parse_day("", now) == date(2026, 11, 25)
    assert rp.parse_day("2026-11-25", now) == date(2026, 11, 25)
    assert rp.parse_day(" 2024-02-29 ", now) == date(2024, 2, 29)
    for bad, code in (("2026-11-26", "future"), ("2025-02-29", "bad_date"), ("2025-13-01", "bad_date"),
                      ("20251101", "bad_format"), ("2025-1-1", "bad_format"), ("yesterday", "bad_format"),
                      ("2025-06-10T00:00", "bad_format")):
        with pytest.raises(rp.ReportDayError) as err:
            rp.parse_day(bad, now)
        assert err.value.code == code, bad
    start, end = rp.day_bounds(date(2026, 11, 25))
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 11, 24, 16, 0, tzinfo=UTC) and end - start == 86_400


def test_traffic_peaks_from_minutes_and_hourly_rollups() -> None:
    day = date(2026, 11, 24)
    start, end = rp.day_bounds(day)
    at = lambda h, m=0: start + h * 3600 + m * 60  # noqa: E731
    minutes = [(at(8, 10), 6.2), (at(8, 40), 7.4), (at(9, 5), 7.4), (at(18, 15), 6.9), (at(12), None),
               (start - 60, 9.9), (end, 9.9)]  # the last two are outside the day
    hours = [(at(3), 2.0), (at(8), 1.0)]  # 03:00 has no minute left: used; 08:00 has minutes: ignored
    tr = rp.traffic_peaks(minutes, hours, start, end)
    assert tr is not None and tr.points == 5
    assert (tr.peak.index, tr.peak.at, tr.peak.hourly) == (7.4, at(8, 40), False)  # the earliest of equal peaks
    assert tr.morning == tr.peak and tr.evening is not None and tr.evening.index == 6.9
    assert tr.hourly_max[3] == 2.0 and tr.hourly_max[8] == 7.4 and tr.hourly_max[12] is None
    assert rp.traffic_peaks([], [], start, end) is None
    only_hours = rp.traffic_peaks([], [(at(17), 5.5)], start, end)
    assert only_hours is not None and only_hours.peak.hourly and render.peak_time(only_hours.peak) == "17:00–18:00"


# --- HTTP: page, CSV, empty day, bad days, roles ----------------------------------------------------------------


def _sections(text: str) -> dict[str, list[list[str]]]:
    """The all-tables CSV as {section title: [header, rows…]} (sections end at an empty line)."""
    out: dict[str, list[list[str]]] = {}
    rows = list(csv.reader(io.StringIO(text)))
    i = 0
    while i < len(rows) and rows[i]:
        i += 1  # the heading block
    i += 1
    while i < len(rows):
        title = rows[i][0]
        j = i + 1
        while j < len(rows) and rows[j]:
            j += 1
        out[title] = rows[i + 1:j]
        i = j + 1
    return out


def _as_csv(row: tuple[render.Cell, ...]) -> list[str]:
    """A table row as the csv module writes it."""
    return ["" if v is None else str(v) for v in row]


def test_csv_parses_and_matches_the_report(client: Any, seeded: sessionmaker[Session]) -> None:
    login(client, "leader")
    resp = client.get(f"/report.csv?day={DAY.isoformat()}&lang=zh")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/csv") and "charset=utf-8" in resp.headers["Content-Type"]
    assert f'filename="dongcheng-report-{DAY.isoformat()}.csv"' in resp.headers["Content-Disposition"]
    raw = resp.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel then reads the Chinese as UTF-8
    text = raw.decode("utf-8-sig")
    report = build(seeded)
    sections = _sections(text)
    tables = render.tables(report, "zh")
    assert [tb.title for tb in tables] == list(sections)
    for tb in tables:
        assert sections[tb.title][0] == list(tb.columns)
        assert sections[tb.title][1:] == [_as_csv(row) for row in tb.rows], tb.key
    # And straight against the records: the totals.
    sev = {row[0]: row for row in sections[i18n.t("report.tbl_incidents_by_severity", "zh")][1:]}
    assert sev["合计"][1] == str(report.incidents_total) == "92"
    hot = sections[i18n.t("report.tbl_hotline_by_subdistrict", "zh")]
    assert hot[-1][:2] == ["合计", "262"]
    assert hot[1][0] == "东华门街道"
    assert i18n.t("report.no_traffic", "zh") in text  # clean Redis: no history snapshots

    one = client.get(f"/report.csv?day={DAY.isoformat()}&lang=en&table=hotline_by_category")
    assert one.status_code == 200 and "hotline_by_category" in one.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(one.get_data().decode("utf-8-sig"))))
    assert [r["Category"] for r in rows] == [i18n.name("hl_cat", k, "en") for k in c.HOTLINE_CATEGORIES] + ["Total"]
    by_cat = {r.key: r for r in report.hotline_by_category}
    for r, k in zip(rows, c.HOTLINE_CATEGORIES, strict=False):
        assert int(r["Tickets"]) == by_cat[k].tickets
        rate = by_cat[k].resolution_rate
        assert r["Resolution rate (%)"] == ("" if rate is None else str(round(rate * 100, 1)))
    assert client.get(f"/report.csv?day={DAY.isoformat()}&table=nope").status_code == 400
    assert client.get(f"/report.csv?day={DAY.isoformat()}&table=traffic_peaks").status_code == 404


def _table_cells(html: str, key: str) -> list[list[str]]:
    """The body cells of one table of the page."""
    m = re.search(rf'<table data-table="{key}">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert m, key
    return [re.findall(r"<td>(.*?)</td>", tr, re.S) for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", m.group(1), re.S)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_renders_in_both_languages(client: Any, seeded: sessionmaker[Session], lang: str) -> None:
    login(client, "leader")
    resp = client.get(f"/report?day={DAY.isoformat()}&lang={lang}")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert resp.headers["Cache-Control"] == "no-store"
    html = resp.get_data(as_text=True)
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in html
    assert i18n.t("report.title", lang) in html
    assert i18n.fmt_date(START + 1, lang) in html
    for key in ("report.sec_incidents", "report.sec_hotline", "report.sec_sensors", "report.sec_traffic",
                "report.note_sensors", "report.no_traffic", "report.pdf_hint"):
        assert str(escape(i18n.t(key, lang, h=c.HOTLINE_RESPONSE_H))) in html, key
    # No catalogue key left untranslated, nothing fetched from elsewhere, charts drawn inline.
    assert not [k for k in i18n.catalogue("zh") if k.startswith("report.") and k in html.replace("/report.csv", "")]
    assert "http://" not in html and "https://" not in html
    # One script, ours, from a file (the print button): the Content-Security-Policy refuses inline ones.
    assert html.count("<script") == 1 and '<script src="/report-assets/report.js"></script>' in html
    assert "onclick" not in html
    assert html.count("<svg") >= 6 and "@media print" in html
    assert i18n.t("report.no_data", lang) not in html
    report = build(seeded)
    for tb in render.tables(report, lang):
        cells = _table_cells(html, tb.key)
        assert cells == [[str(escape(render.cell_text(v, lang))) for v in row] for row in tb.rows], tb.key
        # Only a sum is set as one: the bold total row closes the tables that have one, and no ranking.
        table = re.search(rf'<table data-table="{tb.key}">(.*?)</table>', html, re.S)
        assert table is not None
        assert table.group(1).count('<tr class="total">') == (1 if tb.total else 0), tb.key
    # The traffic peaks rank corridors: no sum, no total row.
    with_traffic = dataclasses.replace(report, traffic=rp.traffic_peaks([(START + 3600, 5.0)], [], START, END))
    assert [tb.total for tb in render.tables(with_traffic, lang) if tb.key == "traffic_peaks"] == [False]
    assert f'href="/report.csv?day={DAY.isoformat()}&amp;lang={lang}"' in html


def test_a_day_without_data_says_so(client: Any, seeded: sessionmaker[Session]) -> None:
    login(client, "admin")
    empty = DAY - timedelta(days=30)
    html = client.get(f"/report?day={empty.isoformat()}&lang=zh").get_data(as_text=True)
    assert 'id="report-empty"' in html and i18n.t("report.no_data", "zh") in html
    text = client.get(f"/report.csv?day={empty.isoformat()}&lang=en").get_data().decode("utf-8-sig")
    assert i18n.t("report.no_data", "en") in text
    report = build(seeded, empty)
    assert report.empty and report.incidents_total == 0 and report.hotline.tickets == 0
    assert report.hotline.response_rate is None and report.severities[-1].response.median_s is None


def test_today_is_the_default_and_is_marked_in_progress(client: Any, seeded: sessionmaker[Session]) -> None:
    login(client, "leader")
    html = client.get("/report?lang=en").get_data(as_text=True)
    today = local_date(time.time())
    assert f'value="{today.isoformat()}"' in html and i18n.t("report.in_progress", "en") in html
    assert "Next day" not in html  # nothing after today


@pytest.mark.parametrize("day,code", [("2025-13-01", "bad_date"), ("10/06/2025", "bad_format"),
                                      ("2025-6-10", "bad_format"), ("<b>x</b>", "bad_format")])
def test_a_bad_day_is_400_with_a_reason(client: Any, app: Any, day: str, code: str) -> None:
    login(client, "leader")
    resp = client.get("/report", query_string={"day": day, "lang": "en"})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'id="report-error"' in html and "<b>x</b>" not in html  # the value is shown escaped
    today = local_date(time.time()).isoformat()
    assert str(escape(i18n.t(f"report.err_{code}", "en", value=day, today=today))) in html
    resp = client.get("/report.csv", query_string={"day": day})
    assert resp.status_code == 400 and resp.get_json()["code"] == code and resp.get_json()["error"]


def test_a_future_day_is_400(client: Any, app: Any) -> None:
    login(client, "leader")
    tomorrow = local_date(time.time()) + timedelta(days=1)
    resp = client.get(f"/report?day={tomorrow.isoformat()}&lang=zh")
    assert resp.status_code == 400 and "未来" in resp.get_data(as_text=True)
    assert client.get(f"/report.csv?day={tomorrow.isoformat()}").get_json()["code"] == "future"


def test_roles(app: Any) -> None:
    # leader and admin read the report; so does the duty officer (the wall already shows them the same
    # figures live, and they write the hand-over); the dispatcher is refused, and the refusal is audited.
    for role, status in (("leader", 200), ("admin", 200), ("duty", 200), ("dispatch", 403)):
        client = app.test_client()
        login(client, role)
        for path in (f"/report?day={DAY.isoformat()}", f"/report.csv?day={DAY.isoformat()}"):
            assert client.get(path).status_code == status, (role, path)
    with app.app_context(), session_scope(db_sessions()) as s:
        refused = s.scalars(select(AuditLog).where(AuditLog.action == "report_view")).all()
        assert [(a.actor, a.outcome) for a in refused] == [("dispatch", "refused")] * 2
    anonymous = app.test_client()
    resp = anonymous.get(f"/report?day={DAY.isoformat()}")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=/report")
    assert anonymous.get("/report.csv").status_code == 302
    assert anonymous.post("/report").status_code == 401  # non-GET: the guard's 401 JSON


def test_traffic_peaks_from_the_history_store(client: Any, app: Any, seeded: sessionmaker[Session]) -> None:
    # Figures written in the history store's own per-minute series format: the report reads them back.
    r: redis.Redis = app.extensions["dc_redis"]
    base = {name: None for name in history.FIGURES}
    for minute, index in ((8 * 60 + 30, 7.8), (8 * 60 + 31, 8.1), (18 * 60, 6.4), (23 * 60 + 59, 2.0)):
        ts = int(START) + minute * 60
        r.zadd(keys.HISTORY_SERIES_MINUTE, {history.encode_minute_figures(ts, {**base, "traffic_index": index}): ts})
    login(client, "leader")
    html = client.get(f"/report?day={DAY.isoformat()}&lang=zh").get_data(as_text=True)
    assert 'id="report-no-traffic"' not in html
    cells = _table_cells(html, "traffic_peaks")
    assert cells[0] == [i18n.t("report.traffic_day_peak", "zh"), "8.1", "08:31"]
    assert cells[1][1:] == ["8.1", "08:31"] and cells[2][1:] == ["6.4", "18:00"]
    text = client.get(f"/report.csv?day={DAY.isoformat()}&table=traffic_peaks").get_data().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1] == [i18n.t("report.traffic_day_peak", "zh"), "8.1", "08:31"]
