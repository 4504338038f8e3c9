"""The daily report in a language: its tables (shared by the printable page and the CSV, so both show the same
figures) and the CSV itself."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from dashboard.domain import geo
from dashboard.domain import rules as c
from dashboard.domain.beijing import to_beijing
from dashboard.i18n import fmt_num, name, severity_name, t

# China has used UTC+8 all year since 1991, so a fixed offset is exact (as in dashboard/domain/beijing.py).
from dashboard.report.build import (
    UNKNOWN_SENSOR_TYPE,
    DailyReport,
    HotlineRow,
    Peak,
    SensorRow,
    TrafficPeaks,
)

# --- tables (shared by the page and the CSV, so both show the same figures) ---------------------------------

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    """One table of the report: a key for ?table=, a title, column headers and rows of raw values."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    # Whether the last row sums the others (set in bold under a rule); a ranking such as the corridors has none.
    total: bool = True


TABLE_KEYS: Final = (
    "incidents_by_severity",
    "incident_times",
    "incidents_by_category",
    "hotline_by_subdistrict",
    "hotline_by_category",
    "sensor_incidents",
    "traffic_peaks",
)


def minutes(seconds: float | None) -> float | None:
    """Seconds as minutes rounded to 0.1 (the unit of the times on the page and in the CSV)."""
    return None if seconds is None else round(seconds / 60, 1)


def percent(ratio: float | None) -> float | None:
    """A ratio as a percentage rounded to 0.1."""
    return None if ratio is None else round(ratio * 100, 1)


def subdistrict_name(code: str, lang: str) -> str:
    """The subdistrict's full name; the code when unknown."""
    s = geo.subdistrict_by_code().get(code)
    if s is None:
        return code
    return s.name_en if lang == "en" else s.name_zh


def severity_label(sev: int | None, lang: str) -> str:
    """"I 特别重大" … or the total row's label."""
    return t("report.total", lang) if sev is None else severity_name(sev, lang)


def _hotline_table(key: str, title: str, first: str, rows: Sequence[HotlineRow], total: HotlineRow,
                   label: Mapping[str, str], lang: str) -> Table:
    """A hotline table: one row per key, then the district."""
    cols = (first, t("report.col_tickets", lang), t("report.col_response_rate", lang),
            t("report.col_resolution_rate", lang), t("report.col_satisfaction_rate", lang),
            t("report.col_unresolved", lang), t("report.col_overdue", lang))

    def line(r: HotlineRow, lbl: str) -> tuple[Cell, ...]:
        return (lbl, r.tickets, percent(r.response_rate), percent(r.resolution_rate),
                percent(r.satisfaction_rate), r.unresolved, r.overdue)

    body = [line(r, label.get(r.key, r.key)) for r in rows]
    return Table(key, title, cols, (*body, line(total, t("report.total", lang))))


def tables(report: DailyReport, lang: str) -> list[Table]:
    """Every table of the report in `lang` (traffic only when there is history)."""
    sev_cols = (t("report.col_severity", lang), t("report.col_total", lang), t("report.outcome_resolved", lang),
                t("report.outcome_closed", lang), t("report.outcome_cancelled", lang),
                t("report.outcome_open", lang))
    out = [
        Table("incidents_by_severity", t("report.tbl_incidents_by_severity", lang), sev_cols, tuple(
            (severity_label(r.severity, lang), r.total, r.resolved, r.closed, r.cancelled, r.open)
            for r in report.severities
        )),
        Table("incident_times", t("report.tbl_incident_times", lang), (
            t("report.col_severity", lang), t("report.col_acknowledged", lang), t("report.col_response_median", lang),
            t("report.col_response_p90", lang), t("report.col_resolved", lang),
            t("report.col_resolution_median", lang), t("report.col_resolution_p90", lang),
        ), tuple(
            (severity_label(r.severity, lang), r.response.n, minutes(r.response.median_s), minutes(r.response.p90_s),
             r.resolution.n, minutes(r.resolution.median_s), minutes(r.resolution.p90_s))
            for r in report.severities
        )),
        Table("incidents_by_category", t("report.tbl_incidents_by_category", lang),
              (t("report.col_category", lang), t("report.col_total", lang)),
              (*((name("inc_cat", k, lang), n) for k, n in report.incidents_by_category.items()),
               (t("report.total", lang), report.incidents_total))),
        _hotline_table("hotline_by_subdistrict", t("report.tbl_hotline_by_subdistrict", lang),
                       t("report.col_subdistrict", lang), report.hotline_by_subdistrict, report.hotline,
                       {r.key: subdistrict_name(r.key, lang) for r in report.hotline_by_subdistrict}, lang),
        _hotline_table("hotline_by_category", t("report.tbl_hotline_by_category", lang),
                       t("report.col_category", lang), report.hotline_by_category, report.hotline,
                       {r.key: name("hl_cat", r.key, lang) for r in report.hotline_by_category}, lang),
        Table("sensor_incidents", t("report.tbl_sensor_incidents", lang), (
            t("report.col_sensor_type", lang), t("report.col_incidents", lang), t("report.col_auto_created", lang),
            t("report.outcome_open", lang), t("report.col_most_severe", lang),
        ), (*(
            (sensor_label(r.sensor_type, lang), r.incidents, r.auto_created, r.open,
             None if r.most_severe is None else c.SEVERITY_ROMAN[r.most_severe])
            for r in report.sensors
        ), (t("report.total", lang), report.sensor_incidents_total, sum(r.auto_created for r in report.sensors),
            sum(r.open for r in report.sensors), _most_severe(report.sensors)))),
    ]
    if report.traffic is not None:
        out.append(_traffic_table(report.traffic, lang))
    return out


def _most_severe(rows: Sequence[SensorRow]) -> str | None:
    """Roman numeral of the most severe sensor-linked incident, None without any."""
    worst = min((r.most_severe for r in rows if r.most_severe is not None), default=None)
    return None if worst is None else c.SEVERITY_ROMAN[worst]


def sensor_label(sensor_type: str, lang: str) -> str:
    """Display name of a sensor type (unknown ones say so)."""
    if sensor_type == UNKNOWN_SENSOR_TYPE:
        return t("report.sensor_unknown", lang)
    return name("sensor", sensor_type, lang)


def clock(ts: float) -> str:
    """Beijing wall-clock time "HH:MM"."""
    return to_beijing(ts).strftime("%H:%M")


def peak_time(pk: Peak) -> str:
    """"09:41", or "09:00–10:00" for a peak known only to the hour."""
    return f"{clock(pk.at)}–{clock(pk.at + 3600)}" if pk.hourly else clock(pk.at)


def _traffic_table(tr: TrafficPeaks, lang: str) -> Table:
    """Peaks of the district index (whole day, morning and evening rush), then the worst corridors at the peak."""
    rows: list[tuple[Cell, ...]] = [(t("report.traffic_day_peak", lang), round(tr.peak.index, 1), peak_time(tr.peak))]
    for label, pk in (("report.traffic_morning", tr.morning), ("report.traffic_evening", tr.evening)):
        rows.append((t(label, lang), None if pk is None else round(pk.index, 1), None if pk is None else peak_time(pk)))
    rows += [(t("report.traffic_corridor", lang, name=cr.name_en if lang == "en" else cr.name_zh),
              round(cr.index, 1), peak_time(tr.peak)) for cr in tr.corridors]
    return Table("traffic_peaks", t("report.tbl_traffic_peaks", lang),
                 (t("report.col_window", lang), t("report.col_peak_index", lang), t("report.col_peak_time", lang)),
                 tuple(rows), total=False)


def cell_text(value: Cell, lang: str) -> str:
    """A table cell for the page: numbers grouped, decimals to 0.1, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return fmt_num(value, lang, 1)
    return value


# --- CSV ----------------------------------------------------------------------------------------------------


def _csv_value(value: Cell) -> str | int | float:
    """A CSV cell: numbers as they are (Excel reads them as numbers), None as empty."""
    return "" if value is None else value


def to_csv(report: DailyReport, lang: str, table: str | None = None) -> str:
    """The report as CSV text, starting with a BOM so that Excel reads the Chinese as UTF-8.

    With `table`, that table alone (one header row, then rows; KeyError when the report has no such table);
    without, a heading block and every table as a section: its title on a line, its header and rows, then an
    empty line.
    """
    chosen = [tb for tb in tables(report, lang) if table is None or tb.key == table]
    if not chosen:
        raise KeyError(table)  # e.g. traffic_peaks for a day without traffic history
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf, lineterminator="\r\n")
    if table is None:
        w.writerow([t("report.title", lang), report.day.isoformat()])
        as_of = to_beijing(report.as_of).isoformat("T", "seconds")
        w.writerow([t("report.as_of", lang), as_of])
        if report.empty:
            w.writerow([t("report.no_data", lang)])
        for note in ("report.note_incidents", "report.note_times", "report.note_rates", "report.note_sensors"):
            w.writerow([t(note, lang, h=c.HOTLINE_RESPONSE_H)])
        if report.traffic is None:
            w.writerow([t("report.no_traffic" if report.traffic_readable else "report.traffic_unavailable", lang)])
        w.writerow([])
    for tb in chosen:
        if table is None:
            w.writerow([tb.title])
        w.writerow(tb.columns)
        w.writerows([_csv_value(v) for v in row] for row in tb.rows)
        if table is None:
            w.writerow([])
    return buf.getvalue()
